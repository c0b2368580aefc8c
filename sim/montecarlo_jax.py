"""The finite-tree Monte Carlo of Theorem 2.6 with JAX: the same draw and the same exact
finite-tree quantities as ``sim.montecarlo`` (its docstring has the formulas), for many
replicates at once, on a GPU when JAX has one.

Randomness is a JAX key (``jax.random.PRNGKey(seed)``; replicate i draws from
``fold_in(key, i)``, so the numbers do not depend on the chunk size), and the draws differ from
the numpy path's: the two agree in distribution, not draw by draw (tests/test_montecarlo_jax.py:
the exact values lie inside both intervals and the two means agree within their errors).
Replicates go through in chunks that keep about 2^24 leaf masses in memory at once. float64,
enabled inside ``check`` only.
"""

import math

import numpy as np

from sim import montecarlo

MASSES_AT_ONCE = 2**24  # leaf masses of one chunk of replicates (3 datasets x M leaves each): 128 MiB


def _quantities(x, k, l):
    """The finite-tree quantities of a chunk of draws x: (chunk, 3, M) masses -> dict of (chunk,)."""
    import jax.numpy as jnp

    m = x.shape[-1]
    T = k + 1.0 + l
    p = x / x.sum(axis=-1, keepdims=True)
    mix = (k * p[:, 0] + p[:, 1] + l * p[:, 2]) / T
    log_mix = jnp.log(mix)
    log_m = math.log(m)
    ce = -jnp.einsum("cjm,cm->cj", p, log_mix)  # cross-entropies CE_j (nats)
    h_full = -jnp.sum(mix * log_mix, axis=-1)
    n = ce - log_m
    h = h_full - log_m
    dn = (1.0 - jnp.einsum("cjm,cm->cj", p[:, :2], p[:, 2] / mix)) / T
    dh = (ce[:, 2] - h_full) / T
    return {"gamma_1": n[:, 0] / h, "gamma_2": n[:, 1] / h,
            "dgamma_1_dl": (dn[:, 0] * h - n[:, 0] * dh) / h**2,
            "dgamma_2_dl": (dn[:, 1] * h - n[:, 1] * dh) / h**2}


def check(alpha, k, l, depth: int, replicates: int, seed: int = 0, progress=None) -> dict:
    """``sim.montecarlo.check`` with JAX draws (seeded by ``seed``): means and 95% t-intervals
    of gamma_1, gamma_2 and their l-slopes, the exact values and whether each lies inside."""
    import jax


    alpha, k, l, depth, replicates = montecarlo.check_inputs(alpha, k, l, depth, replicates)
    m = 2 ** (depth - 1)
    chunk = max(1, min(replicates, MASSES_AT_ONCE // (3 * m)))
    scale = (alpha - 1.0) / alpha
    draws = {name: [] for name in montecarlo.REPORTED}
    with jax.enable_x64(True):
        def draw(key):  # one replicate's 3 x M masses, from its own key
            return scale * jax.random.pareto(key, alpha, (3, m), dtype=jax.numpy.float64)

        step = jax.jit(lambda keys: _quantities(jax.vmap(draw)(keys), k, l))
        base = jax.random.PRNGKey(seed)
        done = 0
        while done < replicates:
            n = min(chunk, replicates - done)
            keys = jax.vmap(lambda i: jax.random.fold_in(base, i))(jax.numpy.arange(done, done + n))
            got = step(keys)
            for name in montecarlo.REPORTED:
                draws[name].append(np.asarray(got[name]))
            done += n
            if progress is not None:
                progress(done, replicates)
    out = montecarlo.summarize({name: np.concatenate(d) for name, d in draws.items()}, alpha, k, l, depth)
    return {**out, "backend": f"jax ({jax.default_backend()})"}
