"""The exact theory on whole grids with JAX: float64, jit-compiled, derivatives in every
parameter by automatic differentiation.

    evaluate(alpha, k, l)  ->  dict of arrays (broadcast shape), the keys of
    ``elasticity theory --json`` (the l-derivatives analytic, as there) plus, by automatic
    differentiation, d<q>_dalpha, d<q>_dk and d<q>_dl_autodiff for every q in N_1, N_2, N_3,
    H, gamma_1, gamma_2, gamma_3.

Method: the same reduction as ``theory.exact`` (Frullani for log R, Laplace for 1/R), the
same Pareto and log-time double-exponential rules, so the two paths agree to the interpolation
error below. What is shared: the Pareto expectations Phi(s) = E[exp(-s W)] and
Psi(s) = E[W exp(-s W)] depend on (alpha, s) only, so for each distinct alpha of a batch they
are tabulated once on a grid in x = log s (quintic Hermite, with the derivatives the rule gives
exactly: dPhi/dx = -s Psi, d2Phi/dx2 = -s Psi + s^2 E[W^2 exp(-sW)], and likewise for Psi),
and every (k, l) of that alpha interpolates them at s = b_i t. The grid (``SEGMENTS``): spacing
0.5 below x = -40, 0.05 below x = -12, 0.01 up to x = 4 (s = 54, beyond every node); below
x = -700 (s < 1e-304) Phi = 1 - mu s and Psi = mu.

x64 is enabled inside these functions only (``jax.enable_x64``): a user's global JAX settings
are left alone. The numpy path (``theory.exact``) stays the reference this one is tested
against (tests/test_batch.py).
"""

import math

import numpy as np

from theory import quadrature
from theory.exact import T_STEP, W_STEP, check_point

QUANTITIES = ("N_1", "N_2", "N_3", "H", "gamma_1", "gamma_2", "gamma_3")
# The grid in x = log s: (start, step) of each segment, then the end. Quintic Hermite error
# ~ h^6 f^(6) / 46080; where s < e^-40 the functions are 1 - mu s (+ s^alpha) and mu - c s^(alpha-1)
# to float64 (the discrete rule's far nodes add small, smooth steps: 0.1 keeps them), further up
# they bend ever faster (Phi ~ exp(-s) near s ~ 10). The first segment starts where a batch's
# smallest s does (rounded down to a multiple of 10; never below X_FLOOR).
SEGMENTS = ((-700.0, 0.1), (-40.0, 0.025), (-12.0, 0.01))
X_MAX, X_FLOOR = 4.0, -700.0
CHUNK = 1024  # points evaluated at once: bounds memory (about 0.5 GB with derivatives)


class Grid:
    """The interpolation grid of one batch: its points and, per segment, start, step and first index."""

    def __init__(self, x_min: float):
        start = max(X_FLOOR, min(math.floor(x_min / 10.0) * 10.0, SEGMENTS[1][0] - 10.0))
        self.segments = ((start, SEGMENTS[0][1]), *SEGMENTS[1:])
        ends = [s for s, _ in self.segments[1:]] + [X_MAX + 0.005]
        parts = [np.arange(a, b, h) for (a, h), b in zip(self.segments, ends, strict=True)]
        self.x = np.concatenate(parts)
        self.starts = np.array([a for a, _ in self.segments])
        self.steps = np.array([h for _, h in self.segments])
        self.first = np.concatenate([[0], np.cumsum([p.size for p in parts[:-1]])])


def _pareto_grid(alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log u of the union of the alphas' Pareto rules and the weights (one row per alpha, zero
    outside its own rule): the rule of theory.quadrature, padded."""
    step = W_STEP
    ranges = np.array([quadrature.pareto_index(a, step) for a in alphas])
    index = np.arange(ranges[:, 0].min(), ranges[:, 1].max() + 1)
    z = math.pi * np.sinh(step * index)
    log_u = -np.logaddexp(0.0, -z)
    log_weight = np.log(step * math.pi * np.cosh(step * index)) + log_u - np.logaddexp(0.0, z)
    weights = np.where(index[None, :] >= ranges[:, :1], np.exp(log_weight - log_weight.max()), 0.0)
    return log_u, weights / weights.sum(axis=1, keepdims=True)


def _time_grid(alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The union of the alphas' log-time rules (theory.quadrature.log_time_rule): tau and the
    per-alpha weights (T_STEP inside its own range, 0 outside)."""
    ranges = np.array([quadrature.log_time_index(a, T_STEP) for a in alphas])
    index = np.arange(ranges[:, 0].min(), ranges[:, 1].max() + 1)
    dtau = np.where((index[None, :] >= ranges[:, :1]) & (index[None, :] <= ranges[:, 1:]), T_STEP, 0.0)
    return T_STEP * index, dtau


def _jax():
    import jax
    import jax.numpy as jnp

    return jax, jnp


def _table(alpha, log_u, weights, grid: Grid):
    """For one alpha: the rule's mean and, on the x grid, for f_j(s) = E[W^j exp(-s W)], j = 0,
    1, 2 (Phi, Psi, Chi): log f_j and its first two x-derivatives (9 rows). With
    m_j = E[(s W)^j exp(-s W)] = s^j f_j and dm_j/dx = j m_j - m_(j+1):
    (log f_j)_x = -m_(j+1)/m_j and (log f_j)_xx = -(m_(j+1) - m_(j+2))/m_j - (m_(j+1)/m_j)^2."""
    jax, jnp = _jax()
    log_w = -log_u / alpha  # nodes w = u^(-1/alpha) >= 1
    x = jnp.asarray(grid.x)[:, None]
    log_v = jnp.log(jnp.where(weights > 0, weights, 1.0))
    on = weights > 0
    sw = jnp.exp(x + log_w[None, :])  # s w, per (grid point, node)

    def log_moment(j):  # log m_j, in log space throughout: m_j underflows for tiny s (s^j E[W^j])
        terms = jnp.where(on[None, :], log_v[None, :] + j * (x + log_w[None, :]) - sw, -jnp.inf)
        return jax.scipy.special.logsumexp(terms, axis=1)

    L = [log_moment(j) for j in range(5)]
    rows = []
    for j in range(3):
        ratio = jnp.exp(L[j + 1] - L[j])  # m_(j+1) / m_j
        rows += [L[j] - j * x[:, 0], -ratio, -ratio + jnp.exp(L[j + 2] - L[j]) - ratio * ratio]
    mean = jnp.sum(jnp.where(on, weights * jnp.exp(log_w), 0.0))
    second = jnp.sum(jnp.where(on, weights * jnp.exp(2 * log_w), 0.0))
    return jnp.stack([mean, second]), jnp.stack(rows)


def _cell(x, grid: Grid):
    """(index i of the grid cell holding x, its width h, the position u in [0, 1] within it),
    by arithmetic on the segments (no search)."""
    _, jnp = _jax()
    seg = jnp.clip(jnp.sum(x[..., None] >= jnp.asarray(grid.starts[1:]), axis=-1), 0, len(grid.segments) - 1)
    start, h = jnp.asarray(grid.starts)[seg], jnp.asarray(grid.steps)[seg]
    offset = jnp.floor((x - start) / h)
    i = jnp.clip(jnp.asarray(grid.first)[seg] + offset.astype(jnp.int64), 0, grid.x.size - 2)
    u = jnp.clip((x - jnp.asarray(grid.x)[i]) / h, 0.0, 1.0)
    return i, h, u


def _interpolate(tables, row, limits, s, grid: Grid):
    """(Phi(s), Psi(s), Chi(s)) of alpha number ``row``: their logarithms by quintic Hermite in
    x = log s, gathering only the table entries needed; below the grid (s < 1e-304, and s = 0)
    Phi = 1 - mean s, Psi = mean and Chi = E[W^2] (of the rule), exact to float64 there and with
    the right first derivative of Phi in s for autodiff."""
    _, jnp = _jax()
    x = jnp.log(jnp.maximum(s, 1e-320))
    i, h, u = _cell(x, grid)
    u2, u3 = u * u, u * u * u
    u4, u5 = u3 * u, u3 * u2
    basis = (1 - 10 * u3 + 15 * u4 - 6 * u5, u - 6 * u3 + 8 * u4 - 3 * u5, (u2 - 3 * u3 + 3 * u4 - u5) / 2,
             10 * u3 - 15 * u4 + 6 * u5, -4 * u3 + 7 * u4 - 3 * u5, (u3 - 2 * u4 + u5) / 2)

    def value(first):  # rows first, first + 1, first + 2: log f, (log f)_x, (log f)_xx
        lo = [tables[row, first + r, i] for r in range(3)]  # only the entries needed: no row copies
        hi = [tables[row, first + r, i + 1] for r in range(3)]
        return jnp.exp(lo[0] * basis[0] + h * lo[1] * basis[1] + h * h * lo[2] * basis[2]
                       + hi[0] * basis[3] + h * hi[1] * basis[4] + h * h * hi[2] * basis[5])

    tiny = x < grid.x[0]
    mean, second = limits[row, 0], limits[row, 1]
    return (jnp.where(tiny, 1.0 - mean * s, value(0)), jnp.where(tiny, mean, value(3)),
            jnp.where(tiny, second, value(6)))


def _point(alpha, row, k, l, limits, tables, tau, dtau, grid: Grid):
    """Every quantity of Theorem C.17 at one point, from its alpha's table (number ``row``).

    The l-derivatives use the cancellation-free form: since C E[W_3] = 1 and
    R = (k W_1 + W_2 + l W_3)/T, 1 = (C/T)(k A_1 + A_2 + l B) with A_j = E[W_j W_3/R] and
    B = E[W_3^2/R], so dN_1/dl = (1 - C A_1)/T = (C/T^2)(A_2 - A_1 + l(B - A_1)) and
    dN_2/dl = (C/T^2)(k(A_1 - A_2) + l(B - A_2)): no difference of nearly equal numbers when k
    is large (theory.exact computes 1 - C A_1, good to ~1e-16 k alpha^2 relative)."""
    _, jnp = _jax()
    C = (alpha - 1.0) / alpha
    T = k + 1.0 + l
    t = jnp.exp(tau)
    mean = limits[row, 0]
    values = [_interpolate(tables, row, limits, b * t, grid) for b in (k / T, 1.0 / T, l / T)]
    phi, psi = [v[0] for v in values], [v[1] for v in values]
    chi3 = values[2][2]
    e_log = [jnp.sum(dtau * (mean * jnp.exp(-t) - psi[j] * phi[(j + 1) % 3] * phi[(j + 2) % 3])) for j in range(3)]
    A = [jnp.sum(dtau * t * psi[j] * psi[2] * phi[1 - j]) for j in range(2)]
    B = jnp.sum(dtau * t * jnp.where(l > 0, chi3, 0.0) * phi[0] * phi[1])  # l B = 0 at l = 0 (B may be huge)
    N = [-jnp.log(C) - C * e for e in e_log]
    dN = [C / T**2 * (A[1] - A[0] + l * (B - A[0])), C / T**2 * (k * (A[0] - A[1]) + l * (B - A[1]))]
    H = (k * N[0] + N[1] + l * N[2]) / T
    dH = (N[2] - H) / T
    return {"N_1": N[0], "N_2": N[1], "N_3": N[2], "H": H, "gamma_1": N[0] / H, "gamma_2": N[1] / H,
            "gamma_3": N[2] / H, "dN_1_dl": dN[0], "dN_2_dl": dN[1], "dH_dl": dH,
            "dgamma_1_dl": (dN[0] * H - N[0] * dH) / H**2, "dgamma_2_dl": (dN[1] * H - N[1] * dH) / H**2}


_COMPILED = {}


def _functions(n_w: int, n_t: int, grid: Grid, derivatives: bool):
    """(tables(alphas, log_u, weights), points(...)): jit-compiled for these sizes (cached)."""
    key = (n_w, n_t, grid.x[0], derivatives)
    if key in _COMPILED:
        return _COMPILED[key]
    jax, jnp = _jax()

    def tables(alphas_u, log_u, weights):
        def all_tables(a):  # one alpha at a time: memory of one table
            return jax.lax.map(lambda aw: _table(aw[0], log_u, aw[1], grid), (a, weights))
        if not derivatives:
            return all_tables(alphas_u), None
        return jax.jvp(all_tables, (alphas_u,), (jnp.ones_like(alphas_u),))

    def one(alpha, row, k, l, lim_tab, dlim_tab, tau, dtau):
        def f(a, kk, ll, limits, tabs):
            return _point(a, row, kk, ll, limits, tabs, tau, dtau, grid)
        limits, tabs = lim_tab
        out = f(alpha, k, l, limits, tabs)
        if not derivatives:
            return out
        zero = (jnp.zeros_like(limits), jnp.zeros_like(tabs))
        for name, tangent in (("alpha", (1.0, 0.0, 0.0, *dlim_tab)), ("k", (0.0, 1.0, 0.0, *zero)),
                              ("l", (0.0, 0.0, 1.0, *zero))):
            _, d = jax.jvp(f, (alpha, k, l, limits, tabs), tuple(jnp.asarray(x) if not isinstance(x, float)
                                                                 else jnp.float64(x) for x in tangent))
            suffix = "_autodiff" if name == "l" else ""  # the analytic dN_j_dl, dH_dl keep their names
            out |= {f"d{q}_d{name}{suffix}": d[q] for q in QUANTITIES}
        return out

    points = jax.vmap(one, in_axes=(0, 0, 0, 0, None, None, None, 0))
    _COMPILED[key] = (jax.jit(tables), jax.jit(points))
    return _COMPILED[key]


def evaluate(alpha, k, l=0.0, derivatives: bool = True) -> dict[str, np.ndarray]:
    """Every quantity (and, with ``derivatives``, its derivatives in alpha, k and l) at
    broadcast (alpha, k, l), as numpy arrays of the broadcast shape. Each point is checked as
    ``theory.exact.exact`` checks it (1.1 <= alpha <= 100, 0 < k <= 1e12, 0 <= l <= 1e12).
    Points go through in chunks of CHUNK (memory stays bounded whatever the grid's size)."""
    a, kk, ll = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (alpha, k, l)))
    shape = a.shape
    a, kk, ll = a.ravel(), kk.ravel(), ll.ravel()
    if a.size == 0:
        raise ValueError("evaluate needs at least one point")
    for point in {(float(x), float(y), float(z)) for x, y, z in zip(a, kk, ll, strict=True)}:
        check_point(*point)
    alphas_u, index = np.unique(a, return_inverse=True)
    log_u, weights = _pareto_grid(alphas_u)
    tau, dtau = _time_grid(alphas_u)
    b_min = np.min(np.minimum(np.minimum(kk, 1.0), np.where(ll > 0, ll, np.inf)) / (kk + 1.0 + ll))
    grid = Grid(math.log(b_min) + tau[np.argmax((dtau > 0).any(axis=0))])  # the smallest s = b t queried
    jax, jnp = _jax()
    with jax.enable_x64(True):
        tables, points = _functions(log_u.size, tau.size, grid, derivatives)
        lim_tab, dlim_tab = tables(alphas_u, log_u, weights)
        chunks = []
        for start in range(0, a.size, CHUNK):
            take = np.arange(start, start + CHUNK).clip(max=a.size - 1)  # the last chunk padded
            got = points(alphas_u[index[take]], index[take], kk[take], ll[take], lim_tab, dlim_tab, tau,
                         dtau[index[take]])
            chunks.append({name: np.asarray(v)[: min(CHUNK, a.size - start)] for name, v in got.items()})
    out = {name: np.concatenate([c[name] for c in chunks]).reshape(shape) for name in chunks[0]}
    return {"alpha": a.reshape(shape), "k": kk.reshape(shape), "l": ll.reshape(shape), **out}
