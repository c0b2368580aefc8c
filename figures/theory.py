"""Theory figures, from results/theory-curves/default (written by ``elasticity reproduce``).
Each plot function returns (name, figure, caption)."""

import numpy as np
from matplotlib.colors import ListedColormap

from figures import style
from figures.results import one


def plots(root) -> tuple[dict, list[tuple]]:
    """(the result document, its figures)."""
    doc = one(root, "theory-curves", "default")
    m = doc["metrics"]
    return doc, [_gamma_vs_l(m), _ratio_vs_k(m), _sign_plane(m), _closed_forms(m)]


PAPER_SAYS = {"gamma_1": "(34) says it rises", "gamma_2": "(35) says it rises"}  # both claims: d gamma_j / dl > 0


def direction(values) -> str:
    """How a curve moves as l grows, from its own points: "rises", "falls", "is flat" or
    "changes direction"."""
    steps = np.diff(np.asarray(values, float))
    if (steps > 0).all():
        return "rises"
    if (steps < 0).all():
        return "falls"
    return "is flat" if (steps == 0).all() else "changes direction"


def directions(curves: list[dict], name: str) -> str:
    """The direction of ``name`` along l at every k, grouped: "rises at every k" or "rises at
    k = 10, 100; falls at k = 1000"."""
    by: dict[str, list[str]] = {}
    for c in curves:
        by.setdefault(direction(c[name]), []).append(f"{c['k']:g}")
    if len(by) == 1:
        return f"{next(iter(by))} with l at every k"
    return "; ".join(f"{way} at k = {', '.join(ks)}" for way, ks in by.items())


def _gamma_vs_l(m):
    fig, ax = style.new(2, width=9.5, height=3.8)
    curves = m["gamma_vs_l"]
    for i, c in enumerate(curves):  # the change from l = 0: the l-dependence, on one scale for every k
        for j, name in enumerate(("gamma_1", "gamma_2")):
            start = c[name][0]
            ax[0, j].plot(c["l"], np.asarray(c[name]) - start, "o-", ms=3, color=style.shade(i, len(curves)),
                          label=f"$k$ = {c['k']:g}" if j == 0 else None)
    said = {name: directions(curves, name) for name in ("gamma_1", "gamma_2")}
    for j, what in enumerate(("pre-training data", "alignment data")):
        ax[0, j].axhline(0, color="grey", lw=0.6)
        ax[0, j].set(xlabel=r"$l = |D_3| / |D_2|$", ylabel=rf"$\gamma_{j + 1}(l) - \gamma_{j + 1}(0)$ (dimensionless)",
                     title=rf"Does $\gamma_{j + 1}$ ({what}) rise with $l$?" + "\n" + said[f"gamma_{j + 1}"])
    style.legend_outside(fig, ax[0, 0])
    at_zero = "; ".join(f"k = {c['k']:g}: gamma_1(0) = {c['gamma_1'][0]:.4g}, gamma_2(0) = {c['gamma_2'][0]:.4g}"
                        for c in curves)
    caption = (f"Exact normalized compression rates gamma_1 (pre-training data) and gamma_2 (alignment data) "
               f"as the perturbation set grows, Pareto alpha = {curves[0]['alpha']:g}, {len(curves)} values of k, "
               f"drawn as the change from l = 0 (the paper's claims are about its sign). Here gamma_1 "
               f"{said['gamma_1']} "
               f"(the paper's {PAPER_SAYS['gamma_1']}); gamma_2 {said['gamma_2']} (the paper's "
               f"{PAPER_SAYS['gamma_2']}). Values at l = 0: {at_zero}. gamma_j = N_j/H (ratio form, dimensionless) "
               f"is a ratio of two differences from log M, negative where the dataset's cross-entropy is below log M "
               f"while the mixture's entropy is above it, not a negative code length.")
    return "theory_gamma_vs_l", fig, caption


def growth(k, ratio) -> str:
    """How a ratio moves with k, from its own points: where it changes sign, else its log-log slope
    over the last two k (about 1: grows like k; near 0: levels off)."""
    r, k = np.asarray(ratio, float), np.asarray(k, float)
    flips = np.nonzero(np.sign(r[1:]) != np.sign(r[:-1]))[0]
    if flips.size:
        return f"changes sign between k = {k[flips[0]]:.3g} and {k[flips[0] + 1]:.3g}"
    slope = float(np.log(abs(r[-1] / r[-2])) / np.log(k[-1] / k[-2]))
    way = "grows like k" if slope > 0.5 else "levels off" if abs(slope) <= 0.5 else "falls"
    return f"{way} (log-log slope {0.0 if round(slope, 2) == 0 else slope:.2f} at the largest k)"  # no "-0.00"


def _ratio_vs_k(m):
    fig, ax = style.new(width=6.4, height=4.2)
    rows = m["ratio_vs_k"]
    for i, r in enumerate(rows):
        ax[0, 0].plot(r["k"], r["ratio"], "o-", ms=3, color=style.shade(i, len(rows)),
                      label=rf"$\alpha$ = {r['alpha']:g}")
    k = np.asarray(rows[0]["k"])
    ax[0, 0].plot(k, k / k[0] * rows[1]["ratio"][0], "k--", lw=1, label=r"paper: $\Theta(k)$ (slope 1)")
    ax[0, 0].set_xscale("log")
    ax[0, 0].set_yscale("symlog", linthresh=1e-3)  # the ratio changes sign: its sign stays visible
    ax[0, 0].axhline(0, color="grey", lw=0.6)
    ax[0, 0].set(xlabel=r"$k = |D_1| / |D_2|$", ylabel=r"$(d\gamma_2/dl) / (d\gamma_1/dl)$ at $l = 0$ (dimensionless)",
                 title="Does the ratio of the rates' l-derivatives grow like k?")
    style.legend_outside(fig, ax[0, 0])
    said = "; ".join(f"alpha = {r['alpha']:g}: {growth(r['k'], r['ratio'])}" for r in rows)
    caption = (f"The paper's Theorem 2.6 (ratio form) says the ratio of the derivatives grows like k (log-log slope "
               f"1). The exact values, per alpha: {said} (symmetric-log axis; docs/errata.md, claim 33).")
    return "theory_ratio_vs_k", fig, caption


def _sign_plane(m):
    s = m["sign_dgamma_2_dl"]
    fig, ax = style.new(width=6.4, height=4.4)
    two = ListedColormap(["#d6604d", "#4393c3"])  # a two-valued sign gets two colours, not a colour bar
    ax[0, 0].pcolormesh(s["k"], s["alpha"], np.asarray(s["sign"]) > 0, cmap=two, vmin=0, vmax=1, shading="nearest")
    ax[0, 0].set_xscale("log")
    ax[0, 0].axhline(s["alpha_star"], color="k", ls="--", lw=1,
                     label=rf"$\alpha^*$ = {s['alpha_star']:.4f} ($k \to \infty$)")
    edge = [r for r in s.get("boundary", []) if r["k_star"] is not None]
    if edge:
        ax[0, 0].plot([r["k_star"] for r in edge], [r["alpha"] for r in edge], "k-", lw=1.5,
                      label=r"boundary $k^*(\alpha)$ (exact root)")
    ax[0, 0].set(xlabel=r"$k$ (dimensionless)", ylabel=r"$\alpha$ (Pareto tail index)",
                 title=r"Where does the paper's claim $d\gamma_2/dl > 0$ hold (at $l = 0$)?")
    style.legend_outside(fig, ax[0, 0], style.colour_keys(("#4393c3", r"$d\gamma_2/dl > 0$ (the paper's claim holds)"),
                                                          ("#d6604d", r"$d\gamma_2/dl < 0$ (it fails)")))
    fails = float(np.mean(np.asarray(s["sign"]) < 0))
    caption = (f"Where the paper's claim dgamma_2/dl > 0 (eq. 35) holds (blue) and fails (red), exactly, on a dense "
               f"(alpha, k) map (theory.batch; it fails at {fails:.0%} of the map), with the boundary k*(alpha) "
               f"found by root-finding (theory.boundary). {_boundary_words(edge, s['alpha_star'])}")
    return "theory_sign_plane", fig, caption


def _boundary_words(edge: list[dict], alpha_star: float) -> str:
    """What the boundary rows say: k* nearest alpha*, and its smallest value (read, not assumed)."""
    if not edge:
        return "No boundary root was found on this grid."
    near = min(edge, key=lambda r: r["alpha"])
    low = min(edge, key=lambda r: r["k_star"])
    rising = near["k_star"] == max(r["k_star"] for r in edge)
    return (f"Above alpha* = {alpha_star:.4f} the claim fails beyond k*(alpha): k* = {near['k_star']:.4g} at alpha = "
            f"{near['alpha']:.3g}" + (" (its largest value: k* grows as alpha falls towards alpha*)" if rising else "")
            + f", smallest k* = {low['k_star']:.4g} at alpha = {low['alpha']:.3g}.")


def _closed_forms(m):
    c = m["closed_forms"]
    fig, ax = style.new(2, width=9.5, height=3.9)
    ax[0, 0].semilogy(c["alpha"], np.abs(c["S_1_exact_k_inf"]), "k-", label=r"$|S_1|$ exact, $k \to \infty$")
    ax[0, 0].semilogy(c["alpha"], np.abs(c["S_1_printed_eq77"]), "o", ms=4, label=r"$|S_1|$ printed (77)")
    ax[0, 0].semilogy(c["alpha"], np.abs(c["S_2_exact_k_inf"]), "b-", label=r"$|S_2|$ exact, $k \to \infty$")
    ax[0, 0].semilogy(c["alpha"], np.abs(c["S_2_printed_eq81"]), "s", ms=4, label=r"$|S_2|$ printed (81)")
    ax[0, 0].set(xlabel=r"$\alpha$", ylabel=r"$|S_j| = |N_j| / (\alpha^3 c^{3\alpha})$",
                 title="limits: printed against exact")
    slopes = c["slopes_alpha_2"]
    k = [r["k"] for r in slopes]
    for i, (key, label, marker) in enumerate((("dS_1_dl_exact", r"$dS_1/dl$ exact", "o-"),
                                              ("dS_1_dl_printed_eq88", "(88) printed", "s"),
                                              ("dH_dl_exact", r"$dH/dl$ exact", "^--"),
                                              ("dH_dl_printed_eq95", "(95) printed", "D"))):
        values = np.array([r[key] for r in slopes])
        color = style.shade(i, 4)
        ax[0, 1].plot(k, np.abs(values), marker, ms=4, color=color, mfc="none", label=label)
        positive = values > 0  # filled markers: positive values; open: negative (a sign is not hidden by |.|)
        ax[0, 1].plot(np.asarray(k)[positive], np.abs(values)[positive], marker[0], ms=4, color=color)
    ax[0, 1].set_xscale("log")
    ax[0, 1].set_yscale("log")
    ax[0, 1].set(xlabel=r"$k$", ylabel=r"|slope| at $l = 0$, scaled by $1/(\alpha^3 c^{3\alpha})$",
                 title=r"slopes at $\alpha = 2$ (filled: > 0, open: < 0)")
    handles = [h for a in ax[0] for h in a.get_legend_handles_labels()[0]]
    labels = [lab for a in ax[0] for lab in a.get_legend_handles_labels()[1]]
    fig.legend(handles, labels, loc="outside lower center", ncols=4)
    style.question(fig, "Do the paper's closed forms match the exact values?")
    caption = (f"The paper's closed forms against the exact values. {_agreement(c)} (docs/errata.md). "
               "The paper's units: "
               "S_j = -N_j / Z and H_p = -H / Z with Z = alpha^3 c^(3 alpha), c the Pareto scale (alpha - 1)/alpha "
               "(theory.paper.to_paper_units); N_j and H in nats.")
    return "theory_closed_forms", fig, caption


def _agreement(c: dict) -> str:
    """Per closed form, how far it is from the exact value, measured: the largest relative error of
    each k -> infinity limit over alpha; for each slope, at how many k it has the exact sign."""
    parts = []
    limits = (("S_1_printed_eq77", "S_1_exact_k_inf", "77"), ("S_2_printed_eq81", "S_2_exact_k_inf", "81"))
    for printed, exact, eq in limits:
        a, b = np.asarray(c[printed], float), np.asarray(c[exact], float)
        parts.append(f"({eq}) is within a relative {np.max(np.abs(a - b) / np.abs(b)):.1e} of the exact limit")
    slopes = c["slopes_alpha_2"]
    for printed, exact, eq in (("dS_1_dl_printed_eq88", "dS_1_dl_exact", "88"),
                               ("dH_dl_printed_eq95", "dH_dl_exact", "95")):
        same = sum(np.sign(r[printed]) == np.sign(r[exact]) for r in slopes)
        ratio = [r[printed] / r[exact] for r in slopes if r[exact] != 0]
        spread = f" (printed/exact from {min(ratio):.3g} to {max(ratio):.3g})" if ratio else ""
        parts.append(f"({eq}) has the exact sign at {same} of {len(slopes)} k{spread}")
    return "; ".join(parts)


def map_plots(run_id: str, doc: dict, arrays: dict) -> list[tuple]:
    """A saved ``elasticity theory map``: the sign of dgamma_2/dl with the boundary k*(alpha),
    and gamma_2 itself, over the alpha x k grid."""
    m = doc["metrics"]
    alpha, k = np.asarray(m["alpha"]), np.asarray(m["k"])
    fig, ax = style.new(2, width=11, height=4.4)
    two = ListedColormap(["#d6604d", "#4393c3"])
    ax[0, 0].pcolormesh(k, alpha, arrays["dgamma_2_dl"] > 0, cmap=two, vmin=0, vmax=1, shading="nearest")
    edge = [r for r in m["boundary"] if r["k_star"] is not None]
    if edge:
        ax[0, 0].plot([r["k_star"] for r in edge], [r["alpha"] for r in edge], "ko-", ms=3, lw=1,
                      label=r"$k^*(\alpha)$, root of $d\gamma_2/dl$")
    mesh = ax[0, 1].pcolormesh(k, alpha, arrays["gamma_2"], cmap="viridis", shading="nearest")
    fig.colorbar(mesh, ax=ax[0, 1], label=r"$\gamma_2$ (ratio form)")
    for a in ax[0]:
        a.set_xscale("log" if k.min() > 0 and k.max() / k.min() > 50 else "linear")
        a.set(xlabel=r"$k$", ylabel=r"$\alpha$")
    ax[0, 0].set_title(rf"sign of $d\gamma_2/dl$ at $l$ = {m['l']:g}")
    ax[0, 1].set_title(r"$\gamma_2$ (ratio form, dimensionless)")
    style.question(fig, r"Where on this grid does the paper's claim $d\gamma_2/dl > 0$ hold?")
    style.legend_outside(fig, ax[0, 0], style.colour_keys(("#4393c3", r"$d\gamma_2/dl > 0$"),
                                                          ("#d6604d", r"$d\gamma_2/dl < 0$")))
    caption = (f"Theory map {run_id}: {m['points']} points ({len(alpha)} alpha x {len(k)} k, l = {m['l']:g}) from "
               f"theory.batch; left, where the paper's claim (35) dgamma_2/dl > 0 holds (blue) and fails (red), "
               f"with the exact boundary k*(alpha); right, gamma_2. The claim fails at "
               f"{float(np.mean(arrays['dgamma_2_dl'] < 0)):.0%} of the grid.")
    return [(f"theory_map_{run_id}", fig, caption)]
