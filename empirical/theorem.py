"""The theorem experiment: finite models trained to stationarity on the exact objective
k N_1 + N_2 + l N_3 over a Pareto-mass world, their slopes dN_j/dl at l = 0 (implicit
derivative, cross-checked by finite differences), and the theory's predictions from the
realised masses (``empirical.theorem_world``). docs/experiments.md, "The theorem experiment".

A cell is (alpha, world_seed, k, capacity). The model's log q over all M = V^L leaves is exact:
the V^(L-1) distinct prefixes are fed once, and the last position's softmax covers the V final
tokens (a leaf's log-probability is the sum of its tokens' log-softmaxes, restricted to the V
content tokens, so q sums to 1 over the leaves).
"""

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from empirical import statistics
from empirical import theorem_bridge as bridge
from empirical import theorem_solver as solver
from empirical import theorem_world as tw
from harness.configs import TheoremConfig

SLOPES = tw.SLOPE_NAMES


@dataclass(frozen=True)
class Model:
    log_q: object  # flat float64 theta -> (M,) log-probabilities of the leaves, lexicographic
    theta0: torch.Tensor  # initial parameters
    params: int


# --- models ------------------------------------------------------------------------------------

def loglinear_model(V: int, L: int, rank: int, seed: int, scale: float) -> Model:
    """Logits Z = A B^T over (prefix, last token), A: V^(L-1) x r, B: V x r, one softmax over
    all M leaves. Rank V is full (it holds every distribution); GL(r) is its symmetry group."""
    n_pre = V ** (L - 1)
    split = n_pre * rank

    def log_q(theta: torch.Tensor) -> torch.Tensor:
        A, B = theta[:split].reshape(n_pre, rank), theta[split:].reshape(V, rank)
        return torch.log_softmax((A @ B.T).reshape(-1), dim=0)

    g = torch.Generator().manual_seed(seed)
    theta0 = scale * torch.randn(split + V * rank, generator=g, dtype=torch.float64)
    return Model(log_q, theta0, theta0.numel())


def prefix_ids(V: int, L: int, bos: int) -> torch.Tensor:
    """[V^(L-1), L]: BOS then each prefix of L - 1 content tokens, lexicographic."""
    grids = torch.cartesian_prod(*[torch.arange(V)] * (L - 1)) if L > 2 else torch.arange(V)[:, None]
    grids = grids.reshape(V ** (L - 1), L - 1)
    return torch.cat([torch.full((grids.shape[0], 1), bos), grids], dim=1)


def llama_model(V: int, L: int, hidden: int, layers: int, heads: int, seed: int) -> Model:
    """The project's Llama (HF initialisation, tied embeddings, intermediate 2 x hidden) as a
    function of one flat float64 vector, through ``empirical.llama_fn``."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from transformers import LlamaConfig, LlamaForCausalLM

    from empirical import llama_fn

    cfg = LlamaConfig(vocab_size=V + 1, hidden_size=hidden, intermediate_size=2 * hidden,
                      num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
                      max_position_embeddings=L, tie_word_embeddings=True, bos_token_id=V, eos_token_id=V,
                      pad_token_id=None)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        tree = llama_fn.params_from_hf(LlamaForCausalLM(cfg).double())
    shape = llama_fn.LlamaShape.from_hf_config(cfg)
    names = list(tree)
    shapes = [tree[n].shape for n in names]
    sizes = [tree[n].numel() for n in names]
    ids = prefix_ids(V, L, bos=V)
    tokens = ids[:, 1:]

    def log_q(theta: torch.Tensor) -> torch.Tensor:
        params = {n: p.reshape(s) for n, p, s in zip(names, torch.split(theta, sizes), shapes, strict=True)}
        with sdpa_kernel(SDPBackend.MATH):  # the fused CPU kernel has no forward-mode AD (the Hessian needs it)
            logits = llama_fn.forward_logits(params, ids, shape)
        logp = torch.log_softmax(logits[..., :V], dim=-1)
        path = logp[:, :-1].gather(2, tokens[..., None])[..., 0].sum(dim=1)  # the prefix's own tokens
        return (path[:, None] + logp[:, -1]).reshape(-1)

    theta0 = torch.cat([tree[n].reshape(-1) for n in names])
    return Model(log_q, theta0, theta0.numel())


def build(c: TheoremConfig, capacity: int) -> Model:
    if c.model == "loglinear":
        return loglinear_model(c.V, c.L, capacity, c.init_seed, c.init_scale)
    return llama_model(c.V, c.L, capacity, c.llama_layers, c.llama_heads, c.init_seed)


# --- cells -------------------------------------------------------------------------------------

def cell_key(alpha: float, seed: int, k: float, capacity: int) -> str:
    return f"a{alpha:g}-w{seed}-k{k:g}-c{capacity}".replace("+", "")


def grid(c: TheoremConfig) -> list[tuple[float, int, float, int]]:
    return [(a, s, k, cap) for a in c.alphas for s in c.world_seeds for k in c.ks for cap in c.capacities]


def fd_cells(c: TheoremConfig) -> set[str]:
    """The cells that get a finite-difference check, declared before the run: the first
    ``fd_cells`` of the grid ordered by capacity first (the smallest, most capacity-bound)."""
    ordered = sorted(grid(c), key=lambda g: (g[3], g[0], g[1], g[2]))
    return {cell_key(*g) for g in ordered[:c.fd_cells]}


def settings(c: TheoremConfig) -> solver.SolverSettings:
    return solver.SolverSettings(adam_steps=c.adam_steps, adam_lr=c.adam_lr, plateau_rel=c.plateau_rel,
                                 newton_steps=c.newton_steps, grad_tol=c.grad_tol, null_rel=c.null_rel,
                                 linear=c.linear, cg_rel_tol=c.cg_rel_tol)


def slope_dict(values) -> dict:
    return {name: float(v) for name, v in zip(SLOPES, values, strict=True)}


def run_cell(c: TheoremConfig, alpha: float, seed: int, k: float, capacity: int, with_fd: bool) -> dict:
    """Train one model to stationarity at l = 0; its slopes, the predictions, the diagnostics."""
    world = tw.make_world(c.family, alpha, c.V, c.L, seed)
    masses = torch.tensor(world.masses)
    model = build(c, capacity)
    s = settings(c)
    sol = solver.solve(model.log_q, model.theta0, masses, k, 0.0, s)
    N = solver.cross_entropies(model.log_q, sol.theta, masses)
    spectrum = {}
    slopes = solver.implicit_slopes(model.log_q, sol.theta, masses, k, c.null_rel, spectrum, c.linear, c.cg_rel_tol)
    excess = excess_nats(world.masses, k, model.log_q(sol.theta).detach().numpy())
    record = {"alpha": alpha, "k": k, "world_seed": seed, "capacity": capacity, "params": model.params,
              "converged": sol.converged, "grad_norm": sol.grad_norm, "excess_l0": excess,
              "N": slope_dict(N), "slopes_observed": slope_dict(slopes),
              "dgamma2_dl_observed": float(tw.gamma_slopes(N, slopes, k)["dgamma_dl"][1]),
              "residual": abs(k * slopes[0] + slopes[1]) / abs(slopes[1]),
              "adam_steps": sol.adam_steps, "newton_steps": sol.newton_steps, "train_s": sol.seconds,
              "hessian_null_dims": spectrum["null_dims"], "hessian_max_dropped_rel": spectrum["max_dropped_rel"],
              "hessian_min_kept_rel": spectrum["min_kept_rel"],
              # linear=cg: whether the slopes' conjugate gradients reached cg_rel_tol (None with eigh)
              "slopes_cg_converged": spectrum.get("cg_converged")}
    record |= predictions(world, k, excess)
    record |= fd_record(model, sol, masses, k, c, s) if with_fd else {"slopes_fd": None, "fd_converged": None}
    record |= bridge_record(c, s, (alpha, seed, capacity), model, masses, k, sol, N)
    return record


# the pre-trained models of this process by (config, alpha, world seed, capacity), shared by the cells
# that differ only in k (a few parameter vectors of at most a few thousand floats each)
_PRETRAINED: dict = {}


def bridge_record(c: TheoremConfig, s: solver.SolverSettings, where: tuple, model: Model, masses: torch.Tensor,
                  k: float, joint: solver.Solution, N: np.ndarray) -> dict:
    """The bridge arm at this cell (``empirical.theorem_bridge``): pre-trained on p_1, aligned by
    gradient descent on p_2 until N_2 equals the joint model's, slopes through the alignment.
    ``bridge_included``: the joint and pre-trained models converged, N_2 was matched with N_2
    falling at every step; only such cells enter the bridge comparison."""
    empty = {"bridge_pretrain_converged": None, "bridge_pretrain_grad_norm": None, "bridge_steps": None,
             "bridge_fraction": None, "bridge_matched": False, "bridge_monotone": None, "bridge_start_N_2": None,
             "bridge_N": None, "bridge_slopes": None, "bridge_dgamma2_dl": None, "bridge_included": False,
             "bridge_s": 0.0}
    if c.bridge_max_steps == 0 or not joint.converged:
        return empty
    began = time.perf_counter()
    key = (c, *where)
    if key not in _PRETRAINED:
        _PRETRAINED[key] = bridge.pretrain(model.log_q, model.theta0, masses, s)
    b = bridge.run(model.log_q, model.theta0, masses, float(N[1]), c.bridge_lr, c.bridge_max_steps, s,
                   pretrained=_PRETRAINED[key])
    slopes = b["slopes"]
    return {"bridge_pretrain_converged": b["pretrain_converged"], "bridge_pretrain_grad_norm": b["pretrain_grad_norm"],
            "bridge_steps": b["steps"], "bridge_fraction": b["fraction"], "bridge_matched": b["matched"],
            "bridge_monotone": b["monotone"], "bridge_start_N_2": b["start_N_2"], "bridge_N": slope_dict(b["N"]),
            "bridge_slopes": None if slopes is None else slope_dict(slopes),
            "bridge_dgamma2_dl": None if slopes is None else float(tw.gamma_slopes(b["N"], slopes, k)["dgamma_dl"][1]),
            "bridge_included": bool(b["pretrain_converged"] and b["matched"] and b["monotone"]),
            "bridge_s": time.perf_counter() - began}


def excess_nats(masses: np.ndarray, k: float, log_q: np.ndarray) -> float:
    """KL(q* || model) at l = 0, nats: the model's excess code length over the optimum."""
    q = tw.mixture(masses, k)
    return float(q @ (np.log(q) - log_q))


def predictions(world: tw.World, k: float, excess: float) -> dict:
    opt = tw.optimal_prediction(world.masses, k)
    pruned = tw.interpolated_pruned(world.masses, k, world.V, world.L, max(excess, 0.0))
    return {"slopes_optimal": slope_dict(opt["slopes"]), "dgamma2_dl_optimal": opt["dgamma2_dl"],
            "N_optimal": slope_dict(opt["N"]), "depth_fitted": pruned["depth"],
            "slopes_pruned": slope_dict(pruned["slopes"]), "dgamma2_dl_pruned": pruned["dgamma2_dl"],
            "excess_by_depth": pruned["excess_by_depth"]}


def fd_record(model: Model, sol, masses, k: float, c: TheoremConfig, s) -> dict:
    began = time.perf_counter()
    fd, ok = solver.finite_difference_slopes(model.log_q, sol, masses, k, c.fd_step_l, s)
    return {"slopes_fd": slope_dict(fd), "fd_converged": ok, "fd_s": time.perf_counter() - began}


# --- the protocol ------------------------------------------------------------------------------

class Theorem:
    experiment = "theorem"
    device = "cpu"
    cells_across_ranks = True  # no cell trains data-parallel: torchrun ranks split the cells (harness.engine)

    def __init__(self, config: TheoremConfig):
        self.config = config
        self._cells = {cell_key(*g): g for g in grid(config)}
        self._fd = fd_cells(config)

    def cells(self) -> list[str]:
        return list(self._cells)

    def prepare(self, folder: Path) -> None:
        """Nothing to read: the worlds are generated."""

    def record_fields(self, key: str) -> tuple:
        return RECORD_FIELDS

    def run_cell(self, key: str, folder: Path) -> dict:
        return run_cell(self.config, *self._cells[key], with_fd=key in self._fd)

    def summarize(self, records: dict[str, dict], folder: Path):
        return summarize(self.config, [records[k] for k in self._cells])


RECORD_FIELDS = (
    ("alpha", "number"), ("k", "number"), ("world_seed", "int"), ("params", "int"), ("converged", "bool"),
    ("grad_norm", "number"), ("excess_l0", "number"), ("depth_fitted", "number"),
    *((f"{d}.{n}", "number") for d in ("N", "slopes_observed", "slopes_optimal", "slopes_pruned") for n in SLOPES),
    ("dgamma2_dl_observed", "number"), ("dgamma2_dl_optimal", "number"), ("dgamma2_dl_pruned", "number?"),
    ("residual", "number"), ("bridge_matched", "bool"), ("bridge_included", "bool"))


# --- summary and endpoints ---------------------------------------------------------------------

def summarize(c: TheoremConfig, cells: list[dict]) -> tuple[dict, dict]:
    worlds = [world_record(c, a, s) for a in c.alphas for s in c.world_seeds]
    k_star = {(w["alpha"], w["world_seed"]): w["k_star_realised"] for w in worlds}
    converged = [r for r in cells if r["converged"]]
    metrics = {"worlds": worlds, "converged": len(converged), "total": len(cells),
               "excess_range": [min(r["excess_l0"] for r in cells), max(r["excess_l0"] for r in cells)],
               "match_optimal": match_optimal(c, converged),
               "sign_vs_pruned": sign_vs_pruned(converged),
               "fd_check": fd_check(cells)}
    endpoints = {"slope_error": endpoint_slope_error(c, converged),
                 "sign": endpoint_sign(c, converged, k_star),
                 "capacity_trend": endpoint_capacity_trend(c, converged)}
    if c.bridge_max_steps:
        metrics["bridge"] = bridge_metrics(cells)
        endpoints["bridge"] = endpoint_bridge(c, cells)
    return metrics, {"cells": cells, "endpoints": endpoints, "declared": declared(c)}


def declared(c: TheoremConfig) -> dict:
    """The endpoints as declared in the config before the run."""
    return {"slope_error": f"signed log-ratio error log(s2_pruned / s2_observed), mean over the capacity-bound "
                          f"cells (excess >= {c.match_excess_nats:g} nats) per world seed, 95% t-interval over "
                          f"seeds, margin {c.margin_log_ratio:g}",
            "sign": f"sign of dgamma2/dl observed vs the optimum's (realised masses), every converged cell "
                    f"with k at least {c.k_star_factor:g}x from its world's realised k*",
            "capacity_trend": f"slope of (k+1) s2 against log params, observed vs predicted (b): log-ratio per "
                              f"world seed, 95% t-interval over seeds, margin {c.margin_log_ratio:g}"} | ({
            "bridge": f"bridge arm (pre-trained on p_1 to stationarity, aligned by gradient descent on p_2, lr "
                      f"{c.bridge_lr:g}, until N_2 equals the joint model's): log(s_j bridge / s_j joint) for j = 1 "
                      f"and 2, mean per world seed over the included cells, 95% t-interval over seeds, margin "
                      f"{c.margin_log_ratio:g}; supports if both lie inside, contradicts if either lies wholly "
                      f"outside or any cell has the opposite sign"} if c.bridge_max_steps else {})


def world_record(c: TheoremConfig, alpha: float, seed: int) -> dict:
    from theory.boundary import k_star

    w = tw.make_world(c.family, alpha, c.V, c.L, seed)
    return {"alpha": alpha, "world_seed": seed, "V": c.V, "L": c.L, "family": c.family,
            "masses": [m.tolist() for m in w.masses], "k_star_realised": tw.realised_k_star(w.masses),
            "k_star_theory": k_star(alpha)}


def match_optimal(c: TheoremConfig, converged: list[dict]) -> dict:
    """Converged cells with excess below match_excess_nats against prediction (a): relative
    errors on s_1 and s_2, and whether each is within match_rel."""
    rows = []
    for r in converged:
        if r["excess_l0"] < c.match_excess_nats:
            err = [abs(r["slopes_observed"][n] / r["slopes_optimal"][n] - 1) for n in ("N_1", "N_2")]
            rows.append({"alpha": r["alpha"], "k": r["k"], "world_seed": r["world_seed"], "params": r["params"],
                         "rel_error_s1": err[0], "rel_error_s2": err[1], "within": max(err) <= c.match_rel})
    return {"cells": rows, "all_within": bool(rows) and all(x["within"] for x in rows),
            "largest_params": max((r["params"] for r in converged), default=None)}


def sign_vs_pruned(converged: list[dict]) -> dict:
    """Exploratory (not a declared endpoint): how often the sign of dgamma_2/dl observed agrees
    with the depth-fitted pruned tree's (b), beside how often it agrees with the optimum's (a)."""
    rows = [r for r in converged if r["dgamma2_dl_pruned"] is not None]
    return {"cells": len(rows),
            "agree_pruned": sum((r["dgamma2_dl_observed"] > 0) == (r["dgamma2_dl_pruned"] > 0) for r in rows),
            "agree_optimal": sum((r["dgamma2_dl_observed"] > 0) == (r["dgamma2_dl_optimal"] > 0) for r in rows)}


def fd_check(cells: list[dict]) -> list[dict]:
    return [{"alpha": r["alpha"], "k": r["k"], "world_seed": r["world_seed"], "params": r["params"],
             "fd_converged": r["fd_converged"],
             "rel_diff": {n: abs(r["slopes_observed"][n] - r["slopes_fd"][n]) / abs(r["slopes_fd"][n])
                          for n in SLOPES}}
            for r in cells if r.get("slopes_fd")]


def _interval_verdict(per_seed: list[float], margin: float) -> dict:
    """Mean over seeds and its 95% t-interval: supports if inside (-margin, margin), contradicts
    if wholly outside it, else not resolved (one seed gives no interval: not resolved)."""
    if not per_seed:
        return {"verdict": "not resolved", "note": "no converged cells", "mean": None, "ci95": None, "n": 0,
                "margin": margin}
    est = statistics.mean_ci(per_seed)
    ci = est["ci95"]
    if ci is None:
        verdict = "not resolved"
    elif -margin < ci[0] and ci[1] < margin:
        verdict = "supports"
    elif ci[0] > margin or ci[1] < -margin:
        verdict = "contradicts"
    else:
        verdict = "not resolved"
    return {"verdict": verdict, "mean": est["mean"], "ci95": ci, "n": est["n"], "margin": margin}


def _log_ratio_endpoint(ratios, margin: float, opposite_key: str) -> dict:
    """log(ratio) averaged per world seed, then the interval over seeds (``_interval_verdict``);
    ``ratios``: (world seed, ratio) pairs. A ratio <= 0 (opposite signs) is counted apart (under
    ``opposite_key``) and makes the verdict "contradicts"."""
    per_seed, opposite = {}, 0
    for seed, ratio in ratios:
        if ratio <= 0:
            opposite += 1
            continue
        per_seed.setdefault(seed, []).append(math.log(ratio))
    out = _interval_verdict([float(np.mean(v)) for v in per_seed.values()], margin)
    if opposite:
        out["verdict"] = "contradicts"
    return out | {opposite_key: opposite}


def endpoint_slope_error(c: TheoremConfig, converged: list[dict]) -> dict:
    """(i) log(s2_pruned / s2_observed) averaged per world seed over the capacity-bound cells
    (excess >= match_excess_nats: at the optimum (b) equals (a), checked by ``match_optimal``,
    and its zero error would dilute the mean); opposite signs counted apart."""
    return _log_ratio_endpoint(((r["world_seed"], r["slopes_pruned"]["N_2"] / r["slopes_observed"]["N_2"])
                                for r in converged if r["excess_l0"] >= c.match_excess_nats), c.margin_log_ratio,
                               "opposite_sign_cells")


def endpoint_sign(c: TheoremConfig, converged: list[dict], k_star: dict) -> dict:
    """(ii) sign of dgamma2/dl observed vs the optimum's, cells at least k_star_factor from k*."""
    below = above = agree = 0
    for r in converged:
        ks = k_star[(r["alpha"], r["world_seed"])]
        if ks is not None and 1 / c.k_star_factor < r["k"] / ks < c.k_star_factor:
            continue
        side_above = ks is not None and r["k"] > ks
        above, below = above + side_above, below + (not side_above)
        agree += (r["dgamma2_dl_observed"] > 0) == (r["dgamma2_dl_optimal"] > 0)
    n = above + below
    verdict = ("contradicts" if agree < n else "supports" if above and below else "not resolved")
    return {"verdict": verdict, "agree": agree, "cells": n, "below_k_star": below, "above_k_star": above}


def endpoint_capacity_trend(c: TheoremConfig, converged: list[dict]) -> dict:
    """(iii) per (alpha, seed, k), the least-squares slope of (k+1) s_2 on log params, observed
    and predicted (b); log of their ratio averaged per world seed."""
    groups = {}
    for r in converged:
        groups.setdefault((r["alpha"], r["world_seed"], r["k"]), []).append(r)
    ratios = []
    for (_, seed, k), rows in groups.items():
        if len({r["params"] for r in rows}) < 2:
            continue
        x = [math.log(r["params"]) for r in rows]
        obs = statistics.slope(x, [(k + 1) * r["slopes_observed"]["N_2"] for r in rows])
        pred = statistics.slope(x, [(k + 1) * r["slopes_pruned"]["N_2"] for r in rows])
        ratios.append((seed, obs / pred))
    return _log_ratio_endpoint(ratios, c.margin_log_ratio, "opposite_sign_groups")


# --- the bridge arm ----------------------------------------------------------------------------

def bridge_metrics(cells: list[dict]) -> dict:
    """How many cells the bridge comparison holds and why the others are out; per capacity the
    range of s_j bridge / s_j joint and the alignment steps taken."""
    included = [r for r in cells if r["bridge_included"]]
    by_params = {}
    for r in included:
        by_params.setdefault(r["params"], []).append(r)
    return {"included": len(included), "total": len(cells),
            "joint_unconverged": sum(not r["converged"] for r in cells),
            "pretrain_unconverged": sum(r["bridge_pretrain_converged"] is False for r in cells),
            "unmatched": sum(r["converged"] and not r["bridge_matched"] for r in cells),
            "non_monotone": sum(r["bridge_monotone"] is False for r in cells),
            "dgamma2_sign_agree": sum((r["bridge_dgamma2_dl"] > 0) == (r["dgamma2_dl_observed"] > 0)
                                      for r in included),
            "by_params": [{"params": p, "cells": len(rows),
                           "steps": [min(r["bridge_steps"] for r in rows), max(r["bridge_steps"] for r in rows)],
                           **{f"ratio_{n}": _ratio_range(rows, n) for n in ("N_1", "N_2")}}
                          for p, rows in sorted(by_params.items())]}


def _ratio_range(rows: list[dict], name: str) -> list[float]:
    ratios = [r["bridge_slopes"][name] / r["slopes_observed"][name] for r in rows]
    return [min(ratios), max(ratios)]


def endpoint_bridge(c: TheoremConfig, cells: list[dict]) -> dict:
    """log(s_j bridge / s_j joint) at matched N_2, j = 1 and 2: per world seed the mean over the
    included cells, then the interval over seeds (``_interval_verdict``); a cell where the two
    have opposite signs is counted apart and makes the verdict "contradicts"."""
    included = [r for r in cells if r["bridge_included"]]
    out, verdicts = {"cells": len(included)}, []
    for name in ("N_1", "N_2"):
        out[name] = _log_ratio_endpoint(((r["world_seed"], r["bridge_slopes"][name] / r["slopes_observed"][name])
                                         for r in included), c.margin_log_ratio, "opposite_sign_cells")
        verdicts.append(out[name]["verdict"])
    out["verdict"] = ("contradicts" if "contradicts" in verdicts else
                      "supports" if verdicts == ["supports", "supports"] else "not resolved")
    out["dgamma2_sign_agree"] = sum((r["bridge_dgamma2_dl"] > 0) == (r["dgamma2_dl_observed"] > 0) for r in included)
    return out
