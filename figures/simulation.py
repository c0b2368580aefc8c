"""Simulation figures: Monte Carlo against exact, error against M, Huffman against entropy.
Each plot function returns (name, figure, caption) and the result that made it."""

from collections import Counter

import numpy as np

from figures import style
from figures.results import ResultError, every, one


def mc_vs_exact(root) -> tuple[dict, list[tuple]]:
    """One run family only: the (alpha, k, M, replicates, seed) with the most l values."""
    docs = [doc for _, doc in every(root, "sim-check")]
    family = lambda d: tuple(d["config"][k] for k in ("alpha", "k", "depth", "replicates", "seed"))  # noqa: E731
    chosen, _ = Counter(family(d) for d in docs).most_common(1)[0]
    runs = sorted((d for d in docs if family(d) == chosen), key=lambda d: d["metrics"]["l"])
    fig, ax = style.new(2, width=9.5, height=3.9)
    l = [d["metrics"]["l"] for d in runs]
    for j, name in enumerate(("gamma_1", "gamma_2")):
        mean = np.array([d["metrics"][name]["mean"] for d in runs])
        ci = np.array([d["metrics"][name]["ci95"] for d in runs])
        ax[0, j].errorbar(l, mean, yerr=[mean - ci[:, 0], ci[:, 1] - mean], fmt="o", capsize=3,
                          label="Monte Carlo mean, 95% interval")
        ax[0, j].plot(l, [d["metrics"]["exact"][name] for d in runs], "kx-", ms=6, label=r"exact ($M \to \infty$)")
        ax[0, j].ticklabel_format(axis="y", useOffset=False)
        ax[0, j].set(xlabel=r"$l$", ylabel=rf"$\gamma_{j + 1}$ (dimensionless)",
                     title=rf"$\gamma_{j + 1}$: finite trees against exact")
    style.legend_outside(fig, ax[0, 0])
    alpha, k, depth, replicates, seed = chosen
    caption = (f"Theorem 2.6 on finite trees: alpha = {alpha:g}, k = {k:g}, M = 2^{depth - 1} leaves, "
               f"{replicates} replicates per point (seed {seed}), against the exact infinite-M values; one run "
               f"per l, all with the same M, replicates and seed.")
    return runs[0], [("sim_mc_vs_exact", fig, caption)]


def error_vs_m(root) -> tuple[dict, list[tuple]]:
    _, doc = every(root, "sim-convergence")[-1]
    m = doc["metrics"]
    fig, ax = style.new(width=6.4, height=4.2)
    leaves = np.asarray(m["leaves"], float)
    for i, (name, err) in enumerate(m["rms_error"].items()):
        ax[0, 0].loglog(leaves, err, "o-", ms=3, color=style.shade(i, len(m["rms_error"])),
                        label=f"{name} (slope {m['slope'][name]:.2f})")
    first = m["rms_error"]["gamma_1"][0]
    ax[0, 0].loglog(leaves, first * (leaves / leaves[0]) ** -0.5, "k--", lw=1, label=r"$M^{-1/2}$ (Lemma C.13)")
    ax[0, 0].set(xlabel=r"$M$ (leaves)", ylabel="RMS error against exact", title=r"convergence in $M$")
    style.legend_outside(fig, ax[0, 0])
    cfg = doc["config"]
    caption = (f"Root-mean-square error of the finite-tree rates against the exact values, alpha = {cfg['alpha']:g}, "
               f"k = {cfg['k']:g}, l = {cfg['l']:g}, {cfg['replicates']} draws per M (seed {cfg['seed']}).")
    return doc, [("sim_error_vs_m", fig, caption)]


def huffman(root) -> tuple[dict, list[tuple]]:
    doc = one(root, "huffman", "band")
    laws = doc["metrics"]["laws"]
    if not laws:
        raise ResultError("huffman/band holds no laws")
    h = np.array([r["entropy_bits"] for r in laws])
    length = np.array([r["length_bits"] for r in laws])
    fig, ax = style.new(width=6.4, height=4.2)
    grid = np.linspace(0, h.max() * 1.05, 50)
    ax[0, 0].fill_between(grid, grid, grid + 1, alpha=0.2, label=r"$H \leq L < H + 1$")
    ax[0, 0].plot(h, length, "o", ms=4, label="Huffman expected length")
    ax[0, 0].set(xlabel=r"entropy $H$ (bits)", ylabel=r"expected code length $L$ (bits)",
                 title="Huffman codes against entropy")
    style.legend_outside(fig, ax[0, 0])
    caption = f"Expected Huffman length of {len(laws)} random laws (Dirichlet, 2 to 4096 symbols)."
    return doc, [("sim_huffman_band", fig, caption)]
