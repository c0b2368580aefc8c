"""Theory figures, from results/theory-curves/default (written by ``elasticity reproduce``)."""

import numpy as np

from figures import style
from figures.results import command, one


def build(root, out) -> list[dict]:
    doc = one(root, "theory-curves", "default")
    m, cmd = doc["metrics"], command(doc)
    return [
        _gamma_vs_l(m, out, cmd),
        _ratio_vs_k(m, out, cmd),
        _sign_plane(m, out, cmd),
        _closed_forms(m, out, cmd),
    ]


def _gamma_vs_l(m, out, cmd):
    fig, ax = style.new(2, width=9)
    curves = m["gamma_vs_l"]
    for i, c in enumerate(curves):
        for j, name in enumerate(("gamma_1", "gamma_2")):
            ax[0, j].plot(
                c["l"], c[name], "o-", ms=3, color=style.shade(i, len(curves)), label=f"k = {c['k']:g}"
            )
    for j, name in enumerate(("gamma_1", "gamma_2")):
        ax[0, j].set(
            xlabel="l = |D_3| / |D_2|",
            ylabel=f"{name} (ratio form, dimensionless)",
            title=f"{name} against l (alpha = {curves[0]['alpha']:g})",
        )
        ax[0, j].legend()
    caption = (
        "Exact normalized compression rates gamma_1 (pre-training data) and gamma_2 (alignment "
        "data) as the perturbation set grows, Pareto alpha = 2, for three k."
    )
    return style.save(fig, out, "theory_gamma_vs_l", caption, cmd)


def _ratio_vs_k(m, out, cmd):
    fig, ax = style.new()
    rows = m["ratio_vs_k"]
    for i, r in enumerate(rows):
        ax[0, 0].loglog(
            r["k"],
            np.abs(r["ratio"]),
            "o-",
            ms=3,
            color=style.shade(i, len(rows)),
            label=f"alpha = {r['alpha']:g}",
        )
    k = np.asarray(rows[0]["k"])
    ax[0, 0].loglog(k, k / k[0] * abs(rows[1]["ratio"][0]), "k--", lw=1, label="paper: Theta(k) (slope 1)")
    ax[0, 0].set(
        xlabel="k = |D_1| / |D_2|",
        ylabel="|dgamma_2/dl| / |dgamma_1/dl| at l = 0",
        title="Ratio of the rates' l-derivatives against k",
    )
    ax[0, 0].legend()
    caption = (
        "The paper's Theorem 2.6 (ratio form) says the ratio of the derivatives grows like k; the "
        "exact values fall or level off instead (docs/errata.md, claim 33)."
    )
    return style.save(fig, out, "theory_ratio_vs_k", caption, cmd)


def _sign_plane(m, out, cmd):
    s = m["sign_dgamma_2_dl"]
    fig, ax = style.new()
    mesh = ax[0, 0].pcolormesh(
        s["k"], s["alpha"], np.asarray(s["sign"]), cmap="coolwarm_r", vmin=-1, vmax=1, shading="nearest"
    )
    ax[0, 0].set_xscale("log")
    ax[0, 0].axhline(s["alpha_star"], color="k", ls="--", lw=1, label=f"alpha* = {s['alpha_star']:.4f}")
    ax[0, 0].set(xlabel="k", ylabel="alpha (Pareto tail index)", title="Sign of dgamma_2/dl at l = 0")
    fig.colorbar(mesh, ax=ax[0, 0], ticks=[-1, 0, 1], label="sign (+1: positive, as the paper claims)")
    ax[0, 0].legend(loc="lower left")
    caption = (
        "Where the paper's claim dgamma_2/dl > 0 (eq. 35) holds (blue) and fails (red), exactly; it "
        "fails for alpha above alpha* (the k -> infinity boundary)."
    )
    return style.save(fig, out, "theory_sign_plane", caption, cmd)


def _closed_forms(m, out, cmd):
    c = m["closed_forms"]
    fig, ax = style.new(2, width=9)
    ax[0, 0].semilogy(c["alpha"], np.abs(c["S_1_exact_k_inf"]), "k-", label="S_1 exact, k -> inf")
    ax[0, 0].semilogy(c["alpha"], np.abs(c["S_1_printed_eq77"]), "o", ms=4, label="S_1 printed (77)")
    ax[0, 0].semilogy(c["alpha"], np.abs(c["S_2_exact_k_inf"]), "b-", label="S_2 exact, k -> inf")
    ax[0, 0].semilogy(c["alpha"], np.abs(c["S_2_printed_eq81"]), "s", ms=4, label="S_2 printed (81)")
    ax[0, 0].set(xlabel="alpha", ylabel="|S_j| (paper units)", title="Limits: printed vs exact")
    ax[0, 0].legend()
    slopes = c["slopes_alpha_2"]
    k = [r["k"] for r in slopes]
    for key, label, marker in (
        ("dS_1_dl_exact", "dS_1/dl exact", "-"),
        ("dS_1_dl_printed_eq88", "(88) printed", "o"),
        ("dH_dl_exact", "dH/dl exact", "--"),
        ("dH_dl_printed_eq95", "(95) printed", "s"),
    ):
        ax[0, 1].loglog(k, np.abs([r[key] for r in slopes]), marker, ms=4, label=label)
    ax[0, 1].set(xlabel="k", ylabel="|slope| at l = 0 (paper units)", title="Slopes at alpha = 2")
    ax[0, 1].legend()
    caption = (
        "The paper's closed forms against the exact values: the k -> infinity limits (77), (81) agree; "
        "the slopes (88) and (95) do not (sign, factor and order in k; docs/errata.md)."
    )
    return style.save(fig, out, "theory_closed_forms", caption, cmd)
