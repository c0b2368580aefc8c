"""Simulation figures: Monte Carlo against exact, error against M, Huffman against entropy."""

import numpy as np

from figures import style
from figures.results import ResultError, command, every, one


def mc_vs_exact(root, out) -> list[dict]:
    runs = [doc for _, doc in every(root, "sim-check")]
    point = (runs[0]["metrics"]["alpha"], runs[0]["metrics"]["k"])
    runs = sorted(
        (d for d in runs if (d["metrics"]["alpha"], d["metrics"]["k"]) == point),
        key=lambda d: d["metrics"]["l"],
    )
    fig, ax = style.new(2, width=9)
    for j, name in enumerate(("gamma_1", "gamma_2")):
        l = [d["metrics"]["l"] for d in runs]
        mean = np.array([d["metrics"][name]["mean"] for d in runs])
        ci = np.array([d["metrics"][name]["ci95"] for d in runs])
        ax[0, j].errorbar(
            l,
            mean,
            yerr=[mean - ci[:, 0], ci[:, 1] - mean],
            fmt="o",
            capsize=3,
            label="Monte Carlo mean, 95% interval",
        )
        ax[0, j].plot(l, [d["metrics"]["exact"][name] for d in runs], "k-", label="exact (M -> infinity)")
        ax[0, j].set(xlabel="l", ylabel=f"{name} (dimensionless)", title=f"{name}: finite trees vs exact")
        ax[0, j].legend()
    m = runs[0]["metrics"]
    caption = (
        f"Theorem 2.6 on finite trees: alpha = {point[0]:g}, k = {point[1]:g}, M = {m['leaves']} leaves, "
        f"{m['replicates']} replicates per point, against the exact infinite-M values."
    )
    return [style.save(fig, out, "sim_mc_vs_exact", caption, command(runs[0]))]


def error_vs_m(root, out) -> list[dict]:
    run_id, doc = every(root, "sim-convergence")[-1]
    m = doc["metrics"]
    fig, ax = style.new()
    leaves = np.asarray(m["leaves"], float)
    for i, (name, err) in enumerate(m["rms_error"].items()):
        ax[0, 0].loglog(
            leaves,
            err,
            "o-",
            ms=3,
            color=style.shade(i, len(m["rms_error"])),
            label=f"{name} (slope {m['slope'][name]:.2f})",
        )
    first = m["rms_error"]["gamma_1"][0]
    ax[0, 0].loglog(leaves, first * (leaves / leaves[0]) ** -0.5, "k--", lw=1, label="M^(-1/2) (Lemma C.13)")
    ax[0, 0].set(xlabel="M (leaves)", ylabel="RMS error against exact", title="Convergence in M")
    ax[0, 0].legend()
    cfg = doc["config"]
    caption = (
        f"Root-mean-square error of the finite-tree rates against the exact values, alpha = "
        f"{cfg['alpha']:g}, k = {cfg['k']:g}, l = {cfg['l']:g}, {cfg['replicates']} draws per M."
    )
    return [style.save(fig, out, "sim_error_vs_m", caption, command(doc))]


def huffman(root, out) -> list[dict]:
    doc = one(root, "huffman", "band")
    laws = doc["metrics"]["laws"]
    if not laws:
        raise ResultError("huffman/band holds no laws")
    h = np.array([r["entropy_bits"] for r in laws])
    length = np.array([r["length_bits"] for r in laws])
    fig, ax = style.new()
    grid = np.linspace(0, h.max() * 1.05, 50)
    ax[0, 0].fill_between(grid, grid, grid + 1, alpha=0.2, label="H <= L < H + 1")
    ax[0, 0].plot(h, length, "o", ms=4, label="Huffman expected length")
    ax[0, 0].set(
        xlabel="entropy H (bits)",
        ylabel="expected code length L (bits)",
        title="Huffman codes against entropy",
    )
    ax[0, 0].legend()
    caption = f"Expected Huffman length of {len(laws)} random laws (Dirichlet, 2 to 4096 symbols)."
    return [style.save(fig, out, "sim_huffman_band", caption, command(doc))]
