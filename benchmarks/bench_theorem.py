"""The theorem experiment's step: time of one objective + gradient, one dense Hessian and its
eigendecomposition, for the log-linear and the Llama models at M = 1296 leaves, beside the CPU's
measured float64 matmul rate (one thread), and the fraction of it each step reaches.

FLOPs are counted from the shapes (a matmul m x n x p: 2 m n p; a backward pass: twice the
forward; a Hessian by P forward-over-reverse products: about 4 forward passes each; eigh of
P x P: about 9 P^3). Run: PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/bench_theorem.py"""

import time

import torch

from empirical import theorem as th
from empirical import theorem_solver as ts
from empirical import theorem_world as tw


def best_of(fn, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def matmul_rate(n: int = 512) -> float:
    a, b = torch.randn(n, n, dtype=torch.float64), torch.randn(n, n, dtype=torch.float64)
    return 2 * n**3 / best_of(lambda: a @ b)


def forward_flops(name: str, V: int, L: int, capacity: int) -> float:
    n_pre = V ** (L - 1)
    if name == "loglinear":
        return 2 * n_pre * capacity * V + 5 * V ** L
    h, tokens = capacity, n_pre * L  # one layer: q,k,v,o (4 h^2), MLP (3 x 2 h^2), head (h (V+1))
    return 2 * tokens * (4 * h * h + 6 * h * h + h * (V + 1)) + 4 * n_pre * L * L * h


def main() -> None:
    torch.set_num_threads(1)
    V, L = 6, 4
    world = tw.make_world("iid", 4.0, V, L, 0)
    masses = torch.tensor(world.masses)
    peak = matmul_rate()
    print(f"float64 matmul 512^3, one thread: {peak / 1e9:.2f} GFLOP/s")
    for name, capacity in (("loglinear", 2), ("loglinear", 6), ("llama", 8), ("llama", 16)):
        model = (th.loglinear_model(V, L, capacity, 0, 0.1) if name == "loglinear"
                 else th.llama_model(V, L, capacity, 1, 1, 0))
        loss = ts.objective(model.log_q, masses, 10.0, 0.0)
        grad = torch.func.grad(loss)
        P, fwd = model.params, forward_flops(name, V, L, capacity)
        theta0 = model.theta0
        t_grad = best_of(lambda g=grad, t=theta0: g(t))
        t_hess = best_of(lambda f=loss, t=theta0: ts.hessian(f)(t), repeats=1)
        hess = ts.hessian(loss)(theta0)
        t_eigh = best_of(lambda m=hess: torch.linalg.eigh(m), repeats=2)
        rate = 3 * fwd / t_grad
        print(f"{name:9s} capacity {capacity:3d}: P = {P:5d}; gradient {t_grad * 1e3:7.2f} ms "
              f"({rate / 1e9:.3f} GFLOP/s, {rate / peak:.1%} of matmul); Hessian {t_hess:6.2f} s "
              f"({4 * P * fwd / t_hess / peak:.1%}); eigh {t_eigh:5.2f} s ({9 * P**3 / t_eigh / peak:.0%})")


if __name__ == "__main__":
    main()
