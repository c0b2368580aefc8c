"""The theorem experiment's bridge arm: the same worlds aligned sequentially, as the paper's
pipeline does, and the slopes of such a model compared with the jointly trained one's at matched
alignment loss N_2. docs/experiments.md, "The theorem experiment", "The bridge arm".

Pipeline (float64, exact enumerated losses, no weight decay, no sampling):
1. pre-training: minimise N_1 (the law p_1 alone) to stationarity with the joint arm's solver
   (Adam to a plateau, Newton to |grad| <= grad_tol), from the same initial parameters;
2. alignment: full-batch gradient descent on N_2 with a declared learning rate eta, stopped where
   N_2 first reaches the jointly trained model's N_2 at the same (world, k, capacity): T - 1
   whole steps and a last step of fraction f in (0, 1] of eta, found by root-finding, so the two
   models have the same N_2 (to the root-finder's tolerance). The schedule (T, f) is fixed from
   this run and is the declared stopping point of every perturbed run below.

What "slope" means here. The jointly trained model sits at a stationary point of
k N_1 + N_2 + l N_3, and its slope is the implicit derivative dN_j/dl. A sequentially aligned
model is not stationary (it was stopped), so that derivative is not defined for it. What is
defined, with the same l: the alignment data contaminated by l units of p_3 per unit of p_2, i.e.
stage 2 minimising N_2 + l N_3 for the same schedule (T, f) from the same pre-trained point, and

    s_j^bridge = d/dl N_j(theta_T(l)) at l = 0,

the derivative through the whole alignment trajectory (forward-mode: the tangent
u_t = dtheta_t/dl obeys u_0 = 0, u_{t+1} = u_t - eta_t (Hess N_2(theta_t) u_t + grad N_3(theta_t)),
one Hessian-vector product per step). l has the theorem's meaning (|D_3| / |D_2| in the stage that
trains D_2), and where alignment runs to convergence (T -> infinity) s^bridge tends to the implicit
slope of N_2 + l N_3 at its own stationary point: for a model that holds every law that is the
mixture's formula at k = 0, s_j = -sum_i p_j,i (p_3,i - p_2,i) / p_2,i (tested).
"""

import math
import warnings

import numpy as np
import torch
from scipy.optimize import brentq
from torch.func import grad, jvp

from empirical import theorem_solver as solver

# brentq's tolerance on the last step's fraction: N_2 then matches the target to about
# |dN_2/df| * 1e-14, i.e. to rounding for any step that moves N_2 by O(1) nats.
FRACTION_XTOL = 1e-14


def cross_entropy(log_q, w: torch.Tensor):
    """theta -> -(w . log q_theta): N_j + log M for a data law w."""
    return lambda theta: -(w @ log_q(theta))


def pretrain(log_q, theta0: torch.Tensor, masses: torch.Tensor, s: solver.SolverSettings) -> solver.Solution:
    """Stage 1: N_1 alone to stationarity."""
    return solver.minimise(log_q, theta0, masses[0], s)


def align(log_q, theta: torch.Tensor, masses: torch.Tensor, lr: float, max_steps: int, target_n2: float) -> dict:
    """Stage 2: gradient descent on N_2 until it first reaches ``target_n2`` (N_2 as defined by
    ``solver.cross_entropies``, minus log M).

    Returns the schedule {steps: T whole-or-partial steps, fraction: f of the last, matched, monotone
    (N_2 fell at every step: eta is within the stable range), theta (the stopping point)}. With the
    target at or above the starting N_2 nothing is trained (T = 0, matched false)."""
    log_m = math.log(masses.shape[1])
    n2 = cross_entropy(log_q, masses[1])
    g2 = grad(n2)
    target = target_n2 + log_m
    with torch.no_grad():
        value = float(n2(theta))
    out = {"steps": 0, "fraction": 0.0, "matched": False, "monotone": True, "theta": theta, "start_n2": value - log_m}
    if value <= target:
        return out
    for step in range(1, max_steps + 1):
        g = g2(theta)
        nxt = theta - lr * g
        with torch.no_grad():
            new = float(n2(nxt))
        if new > value:
            out["monotone"] = False
        if new <= target:
            def gap(f: float, theta=theta, g=g) -> float:
                with torch.no_grad():
                    return float(n2(theta - f * lr * g)) - target

            f = 1.0 if new == target else brentq(gap, 0.0, 1.0, xtol=FRACTION_XTOL)
            return out | {"steps": step, "fraction": float(f), "matched": True, "theta": theta - f * lr * g}
        theta, value = nxt, new
    return out | {"steps": max_steps, "fraction": 1.0, "theta": theta}


def trajectory_slopes(log_q, theta0: torch.Tensor, masses: torch.Tensor, lr: float, steps: int,
                      fraction: float) -> np.ndarray:
    """s_j = d/dl N_j(theta_T(l)) at l = 0, theta_T(l) being the schedule (``steps`` steps of
    learning rate lr, the last scaled by ``fraction``) of gradient descent on N_2 + l N_3 from
    theta0, by forward-mode differentiation through every step."""
    p2, p3 = masses[1], masses[2]

    def step(theta, l, eta):
        return theta - eta * grad(lambda t: -((p2 + l * p3) @ log_q(t)))(theta)

    theta, u = theta0, torch.zeros_like(theta0)
    zero, one = torch.zeros((), dtype=theta0.dtype), torch.ones((), dtype=theta0.dtype)
    with warnings.catch_warnings():  # torch's forward-mode AD scripts a helper on first use (its own deprecation)
        warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=DeprecationWarning)
        for t in range(1, steps + 1):
            eta = lr * (fraction if t == steps else 1.0)
            theta, u = jvp(lambda th, lv, eta=eta: step(th, lv, eta), (theta, zero), (u, one))
    return np.array([float(grad(cross_entropy(log_q, masses[j]))(theta) @ u) for j in range(3)])


def run(log_q, theta0: torch.Tensor, masses: torch.Tensor, target_n2: float, lr: float, max_steps: int,
        s: solver.SolverSettings, pretrained: solver.Solution | None = None) -> dict:
    """The bridge arm for one cell: pre-train (or reuse ``pretrained``), align to ``target_n2``,
    differentiate through the alignment. Returns the record's ``bridge_*`` numbers (slopes None
    where the schedule did not reach the target)."""
    pre = pretrained if pretrained is not None else pretrain(log_q, theta0, masses, s)
    sched = align(log_q, pre.theta, masses, lr, max_steps, target_n2)
    N = solver.cross_entropies(log_q, sched["theta"], masses)
    slopes = (trajectory_slopes(log_q, pre.theta, masses, lr, sched["steps"], sched["fraction"])
              if sched["matched"] else None)
    return {"pretrain_converged": pre.converged, "pretrain_grad_norm": pre.grad_norm,
            "steps": sched["steps"], "fraction": sched["fraction"], "matched": sched["matched"],
            "monotone": sched["monotone"], "start_N_2": sched["start_n2"], "N": N, "slopes": slopes}
