"""How far rounding alone moves the rebound's micro cells, against how far the ensemble trainer
moves them (the measurement behind tests/test_rebound.py's two-trainer tolerances).

    .venv/bin/python tools/rounding_spread.py [--nudges 8]

For each setting the test runs (SFT and DPO trajectories, SFT fixed steps; micro, seeds 0 and 1),
the loop is run once as is, then once per nudge with every initial weight multiplied by
1 +- 1.2e-7 (about float32's ulp, signs drawn from the nudge's seed), and the ensemble once. Each
arm's largest difference from the plain loop over every number of its cells (relative above 1)
is printed: the ensemble's next to the nudges'.
"""

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import torch  # noqa: E402
from test_rebound import MICRO, _run, _worst_by_arm  # noqa: E402

from empirical import models  # noqa: E402
from harness import overrides, store  # noqa: E402

SETTINGS = (("sft", "trajectory"), ("dpo", "trajectory"), ("sft", "fixed-steps"))


def nudged_build(build, seed: int):
    """``build`` with every initial weight multiplied by 1 +- 1.2e-7, the signs drawn from ``seed``."""
    def build_nudged(*args, **kwargs):
        model = build(*args, **kwargs)
        signs = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(1 + 1.2e-7 * torch.randn(p.shape, generator=signs).sign())
        return model
    return build_nudged


def _cells(config, root, run_id: str, build) -> list:
    models.build_model = build
    doc = store.read_result(_run(config, root, run_id).path, experiment="rebound")
    return sorted(doc["cells"], key=lambda c: (c["arm"], c["seed"], c["q1"], c["q"]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nudges", type=int, default=8, help="loop runs with nudged initial weights per setting")
    args = parser.parse_args(argv)
    if args.nudges < 0:
        parser.error(f"--nudges must be >= 0, got {args.nudges}")
    plain = models.build_model
    show = lambda worst: ", ".join(f"{arm} {v:.1e}" for arm, v in sorted(worst.items()))  # noqa: E731
    try:
        for variant, mode in SETTINGS:
            base = overrides.with_overrides(MICRO, ["seeds=0,1", f"variant={variant}", f"q2_mode={mode}"])
            with tempfile.TemporaryDirectory() as root:
                loop = _cells(overrides.with_overrides(base, ["trainer=loop"]), root, "loop", plain)
                ensemble = _cells(overrides.with_overrides(base, ["trainer=ensemble"]), root, "ensemble", plain)
                print(f"{variant} {mode}: ensemble {show(_worst_by_arm(loop, ensemble))}", flush=True)
                for seed in range(args.nudges):
                    nudged = _cells(overrides.with_overrides(base, ["trainer=loop"]), root, f"nudge{seed}",
                                    nudged_build(plain, seed))
                    print(f"  nudge {seed}: {show(_worst_by_arm(loop, nudged))}", flush=True)
    finally:
        models.build_model = plain
    return 0


if __name__ == "__main__":
    sys.exit(main())
