"""Training to stationarity on an exact enumerated objective, and implicit slopes (torch, float64).

The objective is J(theta; k, l) = k N_1 + N_2 + l N_3 (no weight decay, no sampling), minimised
in its normalised form J / (k + 1 + l) = -(q*(l) . log q_theta) - log M, whose gradient is O(1)
whatever k is. A model is a function ``log_q(theta) -> (M,)`` of one flat float64 vector.

Newton with an eigenvalue pseudo-inverse: a network has symmetry directions (rescalings,
rotations of a factorisation) along which the loss is exactly flat; its Hessian has exact zero
eigenvalues there, which carry no response and must be kept out of the solve. Directions that
are merely soft (small positive eigenvalues) carry real response to l and must not be damped
(a damping of 1e-6 moved capacity-bound slopes by up to 30% in the prototype). So the solve
keeps every eigenvalue above ``null_rel`` times the largest in magnitude, inverted exactly, and
drops the rest; negative eigenvalues (away from a minimum) are inverted in magnitude
(saddle-free Newton) with a backtracking line search.
"""

import math
import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch.func import grad, jvp, vmap

HESSIAN_CHUNK = 32  # basis vectors per batched Hessian-vector product (measured fastest of 16/64/256 at P = 720)


@dataclass(frozen=True, kw_only=True)
class SolverSettings:
    adam_steps: int  # most Adam steps before Newton
    adam_lr: float  # Adam learning rate
    plateau_rel: float  # Adam stops when the loss improves less than this (relative) over a window
    newton_steps: int  # most Newton steps
    grad_tol: float  # converged: |grad of J/(k+1+l)| (Euclidean) below this
    null_rel: float  # eigenvalues below this fraction of the largest |eigenvalue| are symmetry directions
    linear: str = "eigh"  # "eigh": dense Hessian and its eigendecomposition; "cg": Hessian-vector products only
    cg_rel_tol: float = 1e-11  # "cg": the implicit slopes' conjugate gradients stop at this relative residual


@dataclass
class Solution:
    theta: torch.Tensor
    grad_norm: float
    converged: bool
    adam_steps: int
    newton_steps: int
    null_dims: int  # eigenvalues excluded as symmetry directions at the last Hessian
    min_kept_eig: float  # smallest |eigenvalue| kept at the last Hessian
    seconds: float


def weights(masses: torch.Tensor, k: float, l: float) -> torch.Tensor:
    """q*(l): the objective's normalised data weights."""
    return (k * masses[0] + masses[1] + l * masses[2]) / (k + 1.0 + l)


def objective(log_q, masses: torch.Tensor, k: float, l: float):
    """theta -> J(theta; k, l)/(k + 1 + l) (nats, up to the constant -log M)."""
    w = weights(masses, k, l)
    return lambda theta: -(w @ log_q(theta))


def adam(loss, theta: torch.Tensor, s: SolverSettings, window: int = 100) -> tuple[torch.Tensor, int]:
    """Adam until the loss stops improving by plateau_rel over ``window`` steps."""
    theta = theta.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([theta], lr=s.adam_lr)
    best = math.inf
    for step in range(1, s.adam_steps + 1):
        opt.zero_grad()
        value = loss(theta)
        value.backward()
        opt.step()
        if step % window == 0:
            v = float(value.detach())
            if best - v < s.plateau_rel * max(abs(v), 1.0):
                break
            best = min(best, v)
    return theta.detach(), step


def hessian(loss):
    """theta -> the dense Hessian, as forward-over-reverse products with the unit vectors in chunks
    (torch.func.hessian vmaps over all P at once: 4x slower at P = 720, measured)."""
    g = grad(loss)

    def dense(theta: torch.Tensor) -> torch.Tensor:
        basis = torch.eye(theta.numel(), dtype=theta.dtype)
        hvp = vmap(lambda v: jvp(g, (theta,), (v,))[1])
        with warnings.catch_warnings():  # torch's forward-mode AD scripts a helper on first use (its own deprecation)
            warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=DeprecationWarning)
            h = torch.cat([hvp(basis[i:i + HESSIAN_CHUNK]) for i in range(0, theta.numel(), HESSIAN_CHUNK)])
        return (h + h.T) / 2  # symmetric to rounding; eigh reads one triangle

    return dense


def pseudo_inverse(h: torch.Tensor, null_rel: float) -> tuple[torch.Tensor, torch.Tensor, int, float]:
    """(U, 1/|lambda| on kept directions, dims dropped, smallest kept |lambda|) of symmetric h."""
    lam, U = torch.linalg.eigh(h)
    mag = lam.abs()
    keep = mag > null_rel * float(mag.max())
    inv = torch.where(keep, 1.0 / torch.where(keep, mag, torch.ones_like(mag)), torch.zeros_like(mag))
    return U, inv, int((~keep).sum()), float(mag[keep].min())


def apply_pinv(U: torch.Tensor, inv: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return U @ (inv * (U.T @ v))


def newton(loss, theta: torch.Tensor, s: SolverSettings) -> tuple[torch.Tensor, float, int, int, float]:
    """Saddle-free Newton with Levenberg-Marquardt damping of the path until |grad| <= grad_tol.

    The damping mu only shapes the path: it shrinks tenfold after each accepted step and grows
    tenfold after a rejected one (one Hessian and eigendecomposition serves every try), so near
    the minimum the steps are undamped Newton steps and converge quadratically. The slopes are
    computed afterwards, without damping (``implicit_slopes``)."""
    if s.linear == "cg":
        return newton_cg(loss, theta, s)
    g_fn, h_fn = grad(loss), hessian(loss)
    null_dims, min_kept, mu_rel = 0, float("nan"), 1e-3
    for step in range(s.newton_steps + 1):
        g = g_fn(theta)
        g_norm = float(g.norm())
        if g_norm <= s.grad_tol or step == s.newton_steps:
            return theta, g_norm, step, null_dims, min_kept
        lam, U = torch.linalg.eigh(h_fn(theta))
        null_dims, min_kept, keep = _kept(lam, s.null_rel)
        theta, mu_rel = _damped_step(loss, g_fn, theta, g, lam, U, keep, mu_rel)
        if mu_rel > 1e12:  # every damping rejected: no step improves on this point in float64
            return theta, g_norm, step, null_dims, min_kept
    return theta, g_norm, step, null_dims, min_kept


def _kept(lam: torch.Tensor, null_rel: float) -> tuple[int, float, torch.Tensor]:
    mag = lam.abs()
    keep = mag > null_rel * float(mag.max())
    return int((~keep).sum()), float(mag[keep].min()), keep


def _damped_step(loss, g_fn, theta, g, lam, U, keep, mu_rel: float, tries: int = 30):
    """The first damping mu = mu_rel * max|lambda| (x10 per rejection) whose step is accepted;
    returns (theta, next mu_rel). A step is accepted when it lowers the loss (Armijo, c = 1e-4)
    or, where the predicted decrease is below the loss's rounding (64 ulp), when it lowers the
    gradient's norm (near the minimum the loss cannot tell steps apart; the gradient can).
    With none accepted, theta is returned unchanged and the gradient decides convergence."""
    f0, scale = float(loss(theta)), float(lam.abs().max())
    rounding = 64 * torch.finfo(theta.dtype).eps * max(abs(f0), 1.0)
    g_norm = float(g.norm())
    coeff = torch.where(keep, U.T @ g, torch.zeros_like(g))
    for _ in range(tries):
        direction = -U @ (coeff / (lam.abs() + mu_rel * scale))
        candidate, decrease = theta + direction, -float(g @ direction)
        if decrease < rounding:
            accepted = float(g_fn(candidate).norm()) < g_norm
        else:
            accepted = float(loss(candidate)) <= f0 - 1e-4 * decrease
        if accepted:
            return candidate, max(mu_rel / 10, 1e-16)
        mu_rel *= 10
    return theta, mu_rel


def hvp(loss):
    """(theta, v) -> Hess(loss)(theta) v, one forward-over-reverse product."""
    g = grad(loss)

    def product(theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        with warnings.catch_warnings():  # torch's forward-mode AD scripts a helper on first use (its own deprecation)
            warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=DeprecationWarning)
            return jvp(g, (theta,), (v,))[1]

    return product


def _to_boundary(z: torch.Tensor, d: torch.Tensor, delta: float) -> torch.Tensor:
    """z + tau d with tau >= 0 and |z + tau d| = delta."""
    a, b, c = float(d @ d), 2 * float(z @ d), float(z @ z) - delta**2
    return z + (-b + math.sqrt(max(b * b - 4 * a * c, 0.0))) / (2 * a) * d


def trust_region_step(theta, p, predicted: float, f0: float, g_norm: float, delta: float, loss, g_fn):
    """Accept or reject the step ``p`` by the ratio of actual to ``predicted`` decrease, and resize
    the radius ``delta`` (the standard 1/4, 3/4 rule); returns (theta, delta). A predicted decrease
    below float64 resolution is judged by the gradient's norm instead (both losses round alike)."""
    if predicted < 64 * torch.finfo(theta.dtype).eps * max(abs(f0), 1.0):
        ratio = 1.0 if float(g_fn(theta + p).norm()) < g_norm else -1.0
    else:
        ratio = (f0 - float(loss(theta + p))) / predicted
    if ratio < 0.25:
        delta = 0.25 * float(p.norm())
    elif ratio > 0.75 and float(p.norm()) > 0.99 * delta:
        delta *= 2
    return (theta + p if ratio > 1e-4 else theta), delta


def steihaug(h_v, g: torch.Tensor, delta: float, rel_tol: float, max_iter: int) -> tuple[torch.Tensor, int]:
    """Steihaug's truncated conjugate gradients for min g.p + p.H p / 2 over |p| <= delta, from p = 0:
    stops at the boundary, at negative curvature (then along it to the boundary), or at
    |H p + g| <= rel_tol |g|. Started at 0 with g orthogonal to H's null space (a loss invariant under
    a symmetry has its gradient orthogonal to the symmetry's directions), the iterates stay in the
    range of H: the symmetry directions are left out without being found. Returns (p, iterations)."""
    z, r = torch.zeros_like(g), g.clone()
    d, rr = -r, float(r @ r)
    stop = (rel_tol * float(g.norm())) ** 2
    for it in range(1, max_iter + 1):
        hd = h_v(d)
        curvature = float(d @ hd)
        if curvature <= 0:
            return _to_boundary(z, d, delta), it
        a = rr / curvature
        if float((z + a * d).norm()) >= delta:
            return _to_boundary(z, d, delta), it
        z, r = z + a * d, r + a * hd
        rr_new = float(r @ r)
        if rr_new <= stop:
            return z, it
        d, rr = -r + (rr_new / rr) * d, rr_new
    return z, max_iter


def newton_cg(loss, theta: torch.Tensor, s: SolverSettings) -> tuple[torch.Tensor, float, int, int, float]:
    """A trust-region Newton method on Hessian-vector products (``steihaug`` for each step; the
    inner tolerance min(0.5, sqrt|g|) |g| makes the steps superlinear near the minimum). A step is
    accepted when actual / predicted decrease exceeds 1e-4 or, where the predicted decrease is
    below the loss's rounding (64 ulp), when it lowers the gradient's norm. The Hessian is never
    formed: no symmetry count or smallest eigenvalue is reported (-1 and nan)."""
    g_fn, h_v = grad(loss), hvp(loss)
    delta, max_iter = 1.0, 10 * theta.numel()
    for step in range(s.newton_steps + 1):
        g = g_fn(theta)
        g_norm = float(g.norm())
        if g_norm <= s.grad_tol or step == s.newton_steps:
            return theta, g_norm, step, -1, float("nan")
        p, _ = steihaug(lambda v, t=theta: h_v(t, v), g, delta, min(0.5, math.sqrt(g_norm)), max_iter)
        predicted = -(float(g @ p) + 0.5 * float(p @ h_v(theta, p)))
        theta, delta = trust_region_step(theta, p, predicted, float(loss(theta)), g_norm, delta, loss, g_fn)
        if delta < 1e-300:  # no step improves on this point in float64
            break
    return theta, float(g_fn(theta).norm()), step, -1, float("nan")


def conjugate_gradients(h_v, b: torch.Tensor, rel_tol: float, max_iter: int) -> tuple[torch.Tensor, bool]:
    """x with H x = b by conjugate gradients from 0 (positive semi-definite H, b in its range: the
    minimum-norm solution, i.e. the pseudo-inverse's). Returns (x, converged without negative or
    zero curvature)."""
    x, r = torch.zeros_like(b), b.clone()
    d, rr = r.clone(), float(r @ r)
    stop = (rel_tol * float(b.norm())) ** 2
    for _ in range(max_iter):
        hd = h_v(d)
        curvature = float(d @ hd)
        if curvature <= 0:
            return x, False
        a = rr / curvature
        x, r = x + a * d, r - a * hd
        rr_new = float(r @ r)
        if rr_new <= stop:
            return x, True
        d, rr = r + (rr_new / rr) * d, rr_new
    return x, False


def solve(log_q, theta0: torch.Tensor, masses: torch.Tensor, k: float, l: float,
          s: SolverSettings, warm: bool = False) -> Solution:
    """Adam to a plateau (skipped when ``warm``: continuation from a nearby stationary point),
    then Newton to |grad| <= grad_tol."""
    return minimise(log_q, theta0, weights(masses, k, l), s, warm)


def minimise(log_q, theta0: torch.Tensor, w: torch.Tensor, s: SolverSettings, warm: bool = False) -> Solution:
    """``solve`` for any data law w over the leaves: the loss is -(w . log q_theta)."""
    began = time.perf_counter()
    loss = lambda theta: -(w @ log_q(theta))  # noqa: E731
    theta, adam_steps = (theta0.detach(), 0) if warm else adam(loss, theta0, s)
    theta, g_norm, n_steps, null_dims, min_kept = newton(loss, theta, s)
    return Solution(theta.detach(), g_norm, g_norm <= s.grad_tol, adam_steps, n_steps, null_dims,
                    min_kept, time.perf_counter() - began)


def cross_entropies(log_q, theta: torch.Tensor, masses: torch.Tensor) -> np.ndarray:
    """(N_1, N_2, N_3) in nats (minus log M)."""
    with torch.no_grad():
        return (-(masses @ log_q(theta)) - math.log(masses.shape[1])).numpy()


def implicit_slopes(log_q, theta: torch.Tensor, masses: torch.Tensor, k: float,
                    null_rel: float, spectrum: dict | None = None, linear: str = "eigh",
                    cg_rel_tol: float = 1e-11) -> np.ndarray:
    """dN_j/dl at l = 0 by the implicit function theorem at a stationary point of J(.; k, 0):
    dtheta/dl = -Hess_J^+ grad N_3, with Hess_J = (k + 1) Hess(J/(k+1)); s_j = grad N_j . dtheta/dl.

    ``spectrum`` (a dict), if given, receives the Hessian's split at this point: directions
    dropped as symmetries, the largest dropped and the smallest kept |eigenvalue| relative to
    the largest (a wide gap between them says the split is not a matter of the threshold)."""
    if linear == "cg":
        return _cg_slopes(log_q, theta, masses, k, cg_rel_tol, spectrum)
    h = hessian(objective(log_q, masses, k, 0.0))(theta) * (k + 1.0)
    lam = torch.linalg.eigvalsh(h).abs() if spectrum is not None else None
    U, inv, _, _ = pseudo_inverse(h, null_rel)
    grads = [grad(lambda t, j=j: -(masses[j] @ log_q(t)))(theta) for j in range(3)]
    dtheta = -apply_pinv(U, inv, grads[2])
    if spectrum is not None:
        rel = lam / lam.max()
        dropped, kept = rel[rel <= null_rel], rel[rel > null_rel]
        spectrum |= {"null_dims": int(dropped.numel()),
                     "max_dropped_rel": float(dropped.max()) if dropped.numel() else 0.0,
                     "min_kept_rel": float(kept.min())}
    return np.array([float(g @ dtheta) for g in grads])


def _cg_slopes(log_q, theta, masses, k, rel_tol, spectrum) -> np.ndarray:
    """``implicit_slopes`` by conjugate gradients on Hessian-vector products: the same dtheta/dl
    at a minimum (positive semi-definite Hessian, grad N_3 orthogonal to its null space); no
    spectrum (None in ``spectrum``), and ``spectrum['cg_converged']``."""
    h_v = hvp(objective(log_q, masses, k, 0.0))
    grads = [grad(lambda t, j=j: -(masses[j] @ log_q(t)))(theta) for j in range(3)]
    x, ok = conjugate_gradients(lambda v: h_v(theta, v), grads[2], rel_tol, 10 * theta.numel())
    dtheta = -x / (k + 1.0)
    if spectrum is not None:
        spectrum |= {"null_dims": None, "max_dropped_rel": None, "min_kept_rel": None, "cg_converged": ok}
    return np.array([float(g @ dtheta) for g in grads])


def finite_difference_slopes(log_q, solution: Solution, masses: torch.Tensor, k: float, step_l: float,
                             s: SolverSettings) -> tuple[np.ndarray, bool]:
    """dN_j/dl at 0 from the stationary points at l = h and 2h, each warm-started from the one
    before (continuation), second order: (-3 N(0) + 4 N(h) - N(2h)) / (2h).
    Returns (slopes, every continuation point converged)."""
    points, theta, ok = [cross_entropies(log_q, solution.theta, masses)], solution.theta, True
    for l in (step_l, 2 * step_l):
        sol = solve(log_q, theta, masses, k, l, s, warm=True)
        points.append(cross_entropies(log_q, sol.theta, masses))
        theta, ok = sol.theta, ok and sol.converged
    n0, n1, n2 = points
    return (-3 * n0 + 4 * n1 - n2) / (2 * step_l), ok
