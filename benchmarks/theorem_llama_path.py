"""Where a capacity-bound Llama goes when the theorem experiment's solver cannot make it stationary.

One cell of the ``llama-micro`` preset (hidden width, world seed, k as given): Adam to the preset's
plateau, then a trust-region Newton method with the exact Hessian (eigendecomposition; the
trust-region subproblem solved exactly in the eigenbasis, the shift found by bisection; the
symmetry directions, eigenvalues below 1e-12 of the largest, left out; a step is accepted when
actual / predicted decrease exceeds 1e-4, or, below the loss's rounding, when the gradient falls).
Every ``--every`` steps it prints the loss J/(k+1), the excess KL(q* || model), |grad|, the norm of
the weights, the Hessian's largest eigenvalue and its count of negative ones, and the smallest
root-mean-square of any RMSNorm input over every prefix and position (the normalisation
x / sqrt(mean x^2 + eps) bends on the scale sqrt(eps) = 1e-3 around x = 0).

    PYTHONPATH=. python benchmarks/theorem_llama_path.py --hidden 2 --world 0 --k 10 --steps 300

docs/experiments.md ("The theorem experiment", llama-micro) quotes its output.
"""

import argparse
import time

import numpy as np
import torch
from torch.func import grad

from empirical import llama_fn
from empirical import theorem as th
from empirical import theorem_solver as ts
from empirical import theorem_world as tw
from harness import presets

NULL_REL = 1e-12  # symmetry directions: |eigenvalue| below this fraction of the largest


def smallest_norm_input(fn):
    """fn() evaluated with every RMSNorm input's smallest row rms recorded; returns (value, that rms)."""
    seen, original = [], llama_fn._rms_norm

    def recording(x, weight, eps):
        seen.append(float(x.detach().pow(2).mean(-1).sqrt().min()))
        return original(x, weight, eps)

    llama_fn._rms_norm = recording
    try:
        value = fn()
    finally:
        llama_fn._rms_norm = original
    return value, min(seen)


def subproblem(g, lam, U, delta):
    """argmin g.p + p.H p / 2 over |p| <= delta, H = U diag(lam) U^T (symmetry directions dropped)."""
    keep = lam.abs() > NULL_REL * lam.abs().max()
    gt = torch.where(keep, U.T @ g, torch.zeros_like(g))
    lam = torch.where(keep, lam, torch.ones_like(lam))

    def step(mu):
        return -U @ (gt / (lam + mu))

    low = max(0.0, -float(lam.min()))
    if low == 0.0 and float(step(0.0).norm()) <= delta:
        return step(0.0)
    high = low + 1.0
    while float(step(high).norm()) > delta:
        high = low + 2 * (high - low)
    a = low
    for _ in range(200):
        mid = 0.5 * (a + high)
        if mid in (a, high):
            break
        a, high = (mid, high) if float(step(mid).norm()) > delta else (a, mid)
    return step(high)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, default=2)
    ap.add_argument("--world", type=int, default=0)
    ap.add_argument("--k", type=float, default=10.0)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--every", type=int, default=25)
    args = ap.parse_args()
    torch.set_num_threads(1)
    c = presets.THEOREM["llama-micro"]
    world = tw.make_world(c.family, c.alphas[0], c.V, c.L, args.world)
    masses = torch.tensor(world.masses)
    model = th.build(c, args.hidden)
    loss = ts.objective(model.log_q, masses, args.k, 0.0)
    q_star = tw.mixture(world.masses, args.k)
    began = time.perf_counter()
    theta, adam_steps = ts.adam(loss, model.theta0, th.settings(c))
    print(f"hidden {args.hidden} ({model.params} parameters), world {args.world}, k {args.k:g}: Adam {adam_steps} "
          f"steps, {time.perf_counter() - began:.1f} s")
    print("step  loss J/(k+1)      excess      |grad|    |theta|  lam_max   negative  min rms  radius")
    g_fn, h_fn = grad(loss), ts.hessian(loss)
    delta = 1.0
    for step in range(args.steps + 1):
        g, f0 = g_fn(theta), float(loss(theta))
        lam, U = torch.linalg.eigh(h_fn(theta))
        if step % args.every == 0 or step == args.steps:
            log_q, rms = smallest_norm_input(lambda t=theta: model.log_q(t).detach().numpy())
            excess = float(q_star @ (np.log(q_star) - log_q))
            negative = int((lam < -NULL_REL * lam.abs().max()).sum())
            print(f"{step:4d}  {f0:.12f}  {excess:.4e}  {float(g.norm()):.2e}  {float(theta.norm()):7.3f}  "
                  f"{float(lam.max()):.2e}  {negative:8d}  {rms:.2e}  {delta:.1e}", flush=True)
        if float(g.norm()) <= c.grad_tol:
            print(f"converged at step {step}")
            break
        p = subproblem(g, lam, U, delta)
        predicted = -(float(g @ p) + 0.5 * float(p @ (U @ (lam * (U.T @ p)))))
        theta, delta = ts.trust_region_step(theta, p, predicted, f0, float(g.norm()), delta, loss, g_fn)
    print(f"{time.perf_counter() - began:.1f} s in all")


if __name__ == "__main__":
    main()
