"""Simulation figures: Monte Carlo against exact, error against M, Huffman against entropy.
Each plot function returns (name, figure, caption) and the result that made it."""

from collections import Counter

import numpy as np

from figures import style
from figures.results import ResultError, every, one

NAMES = {"gamma_1": r"$\gamma_1$", "gamma_2": r"$\gamma_2$", "dgamma_1_dl": r"$d\gamma_1/dl$",
         "dgamma_2_dl": r"$d\gamma_2/dl$"}


def mc_vs_exact(root) -> tuple[dict, list[tuple]]:
    """One run family only: the (alpha, k, M, replicates, seed) with the most l values. Drawn as
    Monte Carlo minus exact, so that "the exact value lies in the interval" reads as "the bar
    crosses 0" at any scale."""
    docs = [doc for _, doc in every(root, "sim-check")]
    family = lambda d: tuple(d["config"][k] for k in ("alpha", "k", "depth", "replicates", "seed"))  # noqa: E731
    chosen, _ = Counter(family(d) for d in docs).most_common(1)[0]
    runs = sorted((d for d in docs if family(d) == chosen), key=lambda d: d["metrics"]["l"])
    fig, ax = style.new(2, width=9.5, height=3.9)
    l = [d["metrics"]["l"] for d in runs]
    inside = 0
    for j, name in enumerate(("gamma_1", "gamma_2")):
        exact = np.array([d["metrics"]["exact"][name] for d in runs])
        mean = np.array([d["metrics"][name]["mean"] for d in runs]) - exact
        ci = np.array([d["metrics"][name]["ci95"] for d in runs]) - exact[:, None]
        inside += int(((ci[:, 0] <= 0) & (ci[:, 1] >= 0)).sum())
        ax[0, j].errorbar(l, mean, yerr=[mean - ci[:, 0], ci[:, 1] - mean], fmt="o", capsize=3,
                          label="Monte Carlo mean - exact, 95% interval" if j == 0 else None)
        ax[0, j].axhline(0, color="k", lw=1, label=r"exact ($M \to \infty$)" if j == 0 else None)
        ax[0, j].set(xlabel=r"$l$", ylabel=rf"{NAMES[name]}: finite $M$ $-$ exact",
                     title=rf"{NAMES[name]}: the bar crosses 0 where they agree")
    style.question(fig, "Do finite token trees reproduce the exact rates?")
    style.legend_outside(fig, ax[0, 0])
    alpha, k, depth, replicates, seed = chosen
    caption = (f"Theorem 2.6 on finite trees: alpha = {alpha:g}, k = {k:g}, M = 2^{depth - 1} leaves, "
               f"{replicates} replicates per point (seed {seed}), drawn as the Monte Carlo mean minus the exact "
               f"infinite-M value with its 95% interval; {inside} of {2 * len(runs)} intervals contain the exact "
               f"value. One run per l, all with the same M, replicates and seed.")
    return runs[0], [("sim_mc_vs_exact", fig, caption)]


def error_vs_m(root) -> tuple[dict, list[tuple]]:
    _, doc = every(root, "sim-convergence")[-1]
    m = doc["metrics"]
    fig, ax = style.new(width=6.4, height=4.2)
    leaves = np.asarray(m["leaves"], float)
    se = m.get("rms_error_se", {})
    for i, (name, err) in enumerate(m["rms_error"].items()):
        color = style.shade(i, len(m["rms_error"]))
        bars = 1.96 * np.asarray(se[name]) if name in se else None
        ax[0, 0].errorbar(leaves, err, yerr=bars, fmt="o-", ms=3, capsize=2, color=color,
                          label=f"{NAMES.get(name, name)}: slope {m['slope'][name]:.2f}")
    first = m["rms_error"]["gamma_1"][0]
    ax[0, 0].plot(leaves, first * (leaves / leaves[0]) ** -0.5, "k--", lw=1, label=r"$M^{-1/2}$ (Lemma C.13)")
    ax[0, 0].set_xscale("log", base=2)
    ax[0, 0].set_yscale("log")
    ax[0, 0].set(xlabel=r"$M$ (leaves per dataset)", ylabel="RMS error against exact",
                 title=r"Does the finite-tree error shrink like $M^{-1/2}$?")
    style.legend_outside(fig, ax[0, 0])
    cfg = doc["config"]
    bias = m.get("bias", {})
    share = {n: abs(bias[n][-1]) / m["rms_error"][n][-1] for n in bias if m["rms_error"][n][-1] > 0}
    flatter = [n for n, slope in m["slope"].items() if slope > -0.4]
    caption = (f"Root-mean-square error of the finite-tree rates against the exact values, alpha = {cfg['alpha']:g}, "
               f"k = {cfg['k']:g}, l = {cfg['l']:g}, {cfg['replicates']} draws at each of {len(leaves)} values of M "
               f"(seed {cfg['seed']}); bars: 95% (delta method). "
               + (f"Slopes flatter than -0.4 ({', '.join(flatter)}) are not the M^-1/2 of Lemma C.13. "
                  if flatter else "Every slope is near the M^-1/2 of Lemma C.13. ")
               + (f"At the largest M the mean error (bias) is {', '.join(f'{n} {v:.0%}' for n, v in share.items())} "
                  f"of the RMS error: " if share else "")
               + (("a bias that shrinks more slowly than the spread sets the rate there. "
                   if max(share.values()) > 0.5 else
                   "the error is spread, not bias; heavy-tailed sums approach their limit more slowly than "
                   "M^-1/2 at these depths (docs/simulation.md), and the bars at the largest M are wide. ")
                  if flatter and share else "")
               + (f"With {len(leaves)} values of M a slope is a rough estimate." if len(leaves) < 6 else ""))
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
                 title="Is every Huffman code within one bit of the entropy?")
    style.legend_outside(fig, ax[0, 0])
    inside = int(np.sum((length >= h - 1e-9) & (length < h + 1)))  # 1e-9: the entropy's rounding, in bits
    caption = (f"Expected Huffman length of {len(laws)} random laws (Dirichlet, 2 to 4096 symbols): {inside} of "
               f"{len(laws)} lie in H <= L < H + 1.")
    return doc, [("sim_huffman_band", fig, caption)]
