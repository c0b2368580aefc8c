"""Test configuration: strict hypothesis profiles, offline, Agg, one torch thread. (JAX's x64 is
not switched on here: theory.batch must enable it itself, locally.)"""

import os

# Set before anything imports jax / matplotlib / transformers.
os.environ.setdefault("MPLBACKEND", "Agg")
for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(var, "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from hypothesis import HealthCheck, settings  # noqa: E402

# deadline=None: the first call of a compiled kernel (numba/jax) is slow by design.
settings.register_profile("default", deadline=None, max_examples=40,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", deadline=None, max_examples=500,
                          suppress_health_check=[HealthCheck.too_slow])
# CI runs the same examples every time (a red CI must be reproducible); local runs explore.
settings.register_profile("ci", deadline=None, max_examples=40, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default"))
