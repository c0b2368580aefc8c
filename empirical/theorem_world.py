"""Pareto-mass worlds and the theory's predictions from their realised masses (pure numpy).

A world is three distributions p_1 (pre-training), p_2 (alignment), p_3 (perturbation) over
the M = V^L leaves of a token response tree (sequences of L tokens over V content tokens, one
prompt), leaf order lexicographic over token ids (leaf index = sum_t token_t V^(L-1-t)).

- ``iid`` (Assumption C.15): each p_j is M independent Pareto(alpha) draws, normalised.
- ``cascade``: each node's V children get independent Pareto(alpha) weights, normalised, and a
  leaf's mass is the product along its path (a multiplicative cascade), so that pruning the
  tree at depth d loses a graded amount.

Units: natural logs. N_j = sum_i p_j,i (-log q_i) - log M (the theory's cross-entropy minus
log M, Lemma C.13), H = (k N_1 + N_2 + l N_3)/(k + 1 + l), gamma_j = N_j / H (Definition C.16,
ratio form). Every slope is a derivative in l at l = 0.

Predictions, with nothing fitted to slopes:
(a) the infinite-capacity optimum q*(l) = (k p_1 + p_2 + l p_3)/(k + 1 + l), whose slopes are
    s_j = -sum_i p_j,i (p_3,i - q*_i) / ((k + 1) q*_i);
(b) the optimal compressor of the tree pruned at depth d (prefix masses of q* kept to depth d,
    uniform below): the same formula over the V^d prefixes; d fractional, interpolated between
    integer depths from a model's excess code length KL(q* || model) at l = 0;
(c) the sign boundary k* of dgamma_2/dl at l = 0 from the realised masses.
"""

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from theory import pareto

FAMILIES = ("iid", "cascade")
SLOPE_NAMES = ("N_1", "N_2", "N_3")
# k-scan of the realised sign boundary: the same range as theory.boundary.k_star's scan.
K_SCAN_MIN, K_SCAN_MAX, K_SCAN_POINTS = 1e-2, 1e12, 400


@dataclass(frozen=True)
class World:
    family: str
    alpha: float
    V: int
    L: int
    seed: int
    masses: np.ndarray  # (3, M): p_1, p_2, p_3, each summing to 1, lexicographic leaf order

    @property
    def leaves(self) -> int:
        return self.V ** self.L


def check_world_shape(V: int, L: int) -> None:
    if not (isinstance(V, int) and V >= 2):
        raise ValueError(f"V must be an integer >= 2 (content tokens), got {V!r}")
    if not (isinstance(L, int) and L >= 1):
        raise ValueError(f"L must be an integer >= 1 (response length), got {L!r}")


def make_world(family: str, alpha: float, V: int, L: int, seed: int) -> World:
    """Draw the three mass vectors of one world from ``seed`` (independent streams per j)."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    check_world_shape(V, L)
    streams = np.random.SeedSequence([int(seed), V, L]).spawn(3)
    draw = _iid if family == "iid" else _cascade
    masses = np.stack([draw(alpha, V, L, np.random.default_rng(s)) for s in streams])
    return World(family, float(alpha), V, L, int(seed), masses)


def _iid(alpha: float, V: int, L: int, rng: np.random.Generator) -> np.ndarray:
    x = pareto.sample(alpha, V ** L, rng)
    return x / x.sum()


def _cascade(alpha: float, V: int, L: int, rng: np.random.Generator) -> np.ndarray:
    mass = np.ones(1)
    for _ in range(L):  # level by level: children of each node, normalised, times the parent
        w = pareto.sample(alpha, (mass.size, V), rng)
        mass = (mass[:, None] * (w / w.sum(axis=1, keepdims=True))).reshape(-1)
    return mass / mass.sum()


# --- cross-entropies, rates and their slopes ---------------------------------------------------

def cross_entropies_nats(masses: np.ndarray, log_q: np.ndarray) -> np.ndarray:
    """(N_1, N_2, N_3): sum_i p_j,i (-log q_i) - log M, nats."""
    return -(masses @ log_q) - math.log(masses.shape[1])


def mixture(masses: np.ndarray, k: float, l: float = 0.0) -> np.ndarray:
    """q*(l) = (k p_1 + p_2 + l p_3)/(k + 1 + l), the optimum of k N_1 + N_2 + l N_3."""
    return (k * masses[0] + masses[1] + l * masses[2]) / (k + 1.0 + l)


def mixture_slopes(masses: np.ndarray, k: float) -> np.ndarray:
    """dN_j/dl at l = 0 of the optimum: -sum_i p_j,i (p_3,i - q*_i)/((k + 1) q*_i)."""
    q = mixture(masses, k)
    return -(masses @ ((masses[2] - q) / q)) / (k + 1.0)


def gamma_slopes(N: np.ndarray, slopes: np.ndarray, k: float) -> dict:
    """gamma_j = N_j/H and dgamma_j/dl at l = 0 for any (not only stationary) N and slopes.

    H(l) = (k N_1 + N_2 + l N_3)/(k + 1 + l), so dH/dl = (k s_1 + s_2 + N_3 - H)/(k + 1)."""
    H = (k * N[0] + N[1]) / (k + 1.0)
    dH = (k * slopes[0] + slopes[1] + N[2] - H) / (k + 1.0)
    gamma = N / H
    dgamma = (slopes * H - N * dH) / H**2
    return {"H": float(H), "dH_dl": float(dH), "gamma": gamma, "dgamma_dl": dgamma}


def optimal_prediction(masses: np.ndarray, k: float) -> dict:
    """Prediction (a): N, slopes and dgamma_2/dl of the infinite-capacity optimum at l = 0."""
    N = cross_entropies_nats(masses, np.log(mixture(masses, k)))
    s = mixture_slopes(masses, k)
    return {"N": N, "slopes": s, "dgamma2_dl": float(gamma_slopes(N, s, k)["dgamma_dl"][1])}


# --- the pruned tree ---------------------------------------------------------------------------

def prefix_masses(masses: np.ndarray, V: int, depth: int) -> np.ndarray:
    """Masses of the V^depth prefixes (leaf order is lexicographic, so a prefix is a block)."""
    return masses.reshape(masses.shape[0], V ** depth, -1).sum(axis=2)


def pruned_log_q(masses: np.ndarray, k: float, V: int, L: int, depth: int) -> np.ndarray:
    """log q_d over the M leaves: prefix mass of q* to depth d, uniform over the V^(L-d) below."""
    Q = mixture(prefix_masses(masses, V, depth), k)
    return np.repeat(np.log(Q) - (L - depth) * math.log(V), V ** (L - depth))


def pruned_prediction(masses: np.ndarray, k: float, V: int, L: int, depth: int) -> dict:
    """N_j, slopes and excess KL(q* || q_d) of the depth-d pruned optimum at l = 0.

    Pruning is linear in the mixture, so q_d(l) is the prefix-level mixture of the prefix
    masses and its slopes are the mixture formula applied to the V^d prefix masses."""
    P = prefix_masses(masses, V, depth)
    N = -(P @ np.log(mixture(P, k))) - depth * math.log(V)
    s = mixture_slopes(P, k)
    q_star = mixture(masses, k)
    excess = float(q_star @ (np.log(q_star) - pruned_log_q(masses, k, V, L, depth)))
    return {"N": N, "slopes": s, "excess": max(excess, 0.0)}


def fitted_depth(excess_nats: float, excess_by_depth: np.ndarray) -> float:
    """The fractional depth whose pruned optimum has the model's excess code length.

    ``excess_by_depth[d]`` for d = 0..L (non-increasing, 0 at L); linear interpolation between
    the two integer depths that bracket the model's excess; clipped to [0, L] (a model worse
    than uniform has depth 0, one at the optimum depth L)."""
    e = np.asarray(excess_by_depth, dtype=float)
    if excess_nats >= e[0]:
        return 0.0
    for d in range(1, e.size):
        if excess_nats >= e[d]:
            span = e[d - 1] - e[d]
            return float(d - (excess_nats - e[d]) / span) if span > 0 else float(d)
    return float(e.size - 1)


def interpolated_pruned(masses: np.ndarray, k: float, V: int, L: int, excess_nats: float) -> dict:
    """Prediction (b) for a model with this excess: depth fitted, then N and slopes interpolated
    linearly between the integer depths that bracket it (same weights), dgamma_2/dl from them."""
    table = [pruned_prediction(masses, k, V, L, d) for d in range(L + 1)]
    depth = fitted_depth(excess_nats, np.array([t["excess"] for t in table]))
    low = min(int(math.floor(depth)), L - 1)
    w = depth - low
    N = (1 - w) * table[low]["N"] + w * table[low + 1]["N"]
    s = (1 - w) * table[low]["slopes"] + w * table[low + 1]["slopes"]
    # at depth 0 (the uniform law) H = 0 and gamma is undefined: reported as None
    dgamma2 = float(gamma_slopes(N, s, k)["dgamma_dl"][1]) if depth > 0 else None
    return {"depth": depth, "N": N, "slopes": s, "dgamma2_dl": dgamma2,
            "excess_by_depth": [t["excess"] for t in table]}


# --- the realised sign boundary ----------------------------------------------------------------

def realised_k_star(masses: np.ndarray) -> float | None:
    """The smallest k where the optimum's dgamma_2/dl at l = 0 changes sign, from these masses
    (None where it keeps one sign on [1e-2, 1e12])."""
    def sign_fn(log_k: float) -> float:
        return optimal_prediction(masses, math.exp(log_k))["dgamma2_dl"]

    grid = np.linspace(math.log(K_SCAN_MIN), math.log(K_SCAN_MAX), K_SCAN_POINTS)
    values = [sign_fn(x) for x in grid]
    for i in range(1, grid.size):
        if values[i - 1] * values[i] < 0:
            return float(math.exp(brentq(sign_fn, grid[i - 1], grid[i], xtol=1e-12)))
    return None
