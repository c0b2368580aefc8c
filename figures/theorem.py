"""Figures of the theorem experiment, from its result file: observed against predicted slopes
(log-log, by capacity, one panel per alpha), the sign of dgamma_2/dl against k*(alpha) with the
observed cells on it, and the excess code length and fitted depth against the parameter count.
Each plot function returns (name, figure, caption); saving is the caller's."""

import numpy as np

from figures import style


def plots(run_id: str, doc: dict) -> list[tuple]:
    return [_slopes(run_id, doc), _sign_map(run_id, doc), _capacity(run_id, doc)]


def _converged(doc: dict) -> list[dict]:
    return [c for c in doc["cells"] if c["converged"]]


def _alphas(doc: dict) -> list[float]:
    return sorted({c["alpha"] for c in doc["cells"]})


def _slopes(run_id: str, doc: dict):
    """|s_2| observed (x) against prediction (a) and (b) (y), one panel per alpha; colour = params."""
    alphas = _alphas(doc)
    bridge = [c for c in doc["cells"] if c.get("bridge_included")]  # results made before the bridge arm: none
    panels = len(alphas) + bool(bridge)
    fig, ax = style.new(panels, width=4.2 * panels, height=3.8)
    params = sorted({c["params"] for c in doc["cells"]})
    for j, alpha in enumerate(alphas):
        a = ax[0, j]
        rows = [c for c in _converged(doc) if c["alpha"] == alpha]
        for i, p in enumerate(params):
            mine = [c for c in rows if c["params"] == p]
            obs = [abs(c["slopes_observed"]["N_2"]) for c in mine]
            color = style.shade(i, len(params))
            a.scatter(obs, [abs(c["slopes_optimal"]["N_2"]) for c in mine], marker="o", s=18, color=color,
                      facecolors="none", label=f"(a) optimum, {p} params")
            a.scatter(obs, [abs(c["slopes_pruned"]["N_2"]) for c in mine], marker="x", s=18, color=color,
                      label=f"(b) pruned tree, {p} params")
        _diagonal(a, rows)
        a.set(xscale="log", yscale="log", xlabel=r"observed $|dN_2/dl|$ at $l=0$ (nats)",
              ylabel=r"predicted $|dN_2/dl|$ (nats)", title=rf"$\alpha$ = {alpha:g}")
    if bridge:
        _bridge_panel(ax[0, -1], bridge, params)
    style.legend_outside(fig, ax[0, len(alphas) - 1])
    style.question(fig, "Do the predicted slopes match the trained models' where capacity binds?")
    e = doc["endpoints"]["slope_error"]
    caption = (f"Theorem ({run_id}): the alignment slope dN_2/dl at l = 0 of each converged model against "
               f"the infinite-capacity optimum's (a, circles) and the depth-fitted pruned tree's (b, crosses); "
               f"colour: parameter count; on the diagonal the prediction is exact. Unconverged cells are not drawn "
               f"({doc['metrics']['total'] - doc['metrics']['converged']} of {doc['metrics']['total']}). "
               + _endpoint_i(e))
    if bridge:
        b = doc["endpoints"]["bridge"]
        caption += (f" Last panel, the bridge arm: the slopes of the model pre-trained on p_1 and aligned by "
                    f"gradient descent until its N_2 equals the joint model's (y; derivative through the alignment "
                    f"in the weight l of p_3 in the alignment data) against the jointly trained model's (x), s_2 "
                    f"(dots) and s_1 (triangles), {len(bridge)} cells; verdict {b['verdict']}.")
    return f"theorem_slopes_{run_id}", fig, caption


def _endpoint_i(e: dict) -> str:
    """Endpoint (i) in words, from the result (the interval is over world seeds)."""
    if e.get("mean") is None:
        return f"Endpoint (i), log(s_2 of (b) / s_2 observed): {e['verdict']}."
    interval = "" if e.get("ci95") is None else f" [{e['ci95'][0]:+.3f}, {e['ci95'][1]:+.3f}]"
    return (f"Endpoint (i), log(s_2 of (b) / s_2 observed) over the capacity-bound cells: {e['mean']:+.3f}{interval} "
            f"over {e['n']} world seeds against a margin of +-{e.get('margin', 0):g}: {e['verdict']}.")


def _bridge_panel(a, rows: list[dict], params: list[int]) -> None:
    """|s_j| of the sequentially aligned model against the joint one's at matched N_2, j = 1, 2."""
    values = []
    for i, p in enumerate(params):
        mine = [c for c in rows if c["params"] == p]
        for name, marker in (("N_2", "o"), ("N_1", "^")):
            x = [abs(c["slopes_observed"][name]) for c in mine]
            y = [abs(c["bridge_slopes"][name]) for c in mine]
            a.scatter(x, y, marker=marker, s=18, color=style.shade(i, len(params)))
            values += [v for v in x + y if v > 0]
    if values:
        lo, hi = min(values) / 1.5, max(values) * 1.5
        a.plot([lo, hi], [lo, hi], color="k", lw=0.8)
    a.set(xscale="log", yscale="log", xlabel=r"joint model $|dN_j/dl|$ (nats)",
          ylabel=r"sequentially aligned $|dN_j/dl|$ (nats)", title=r"bridge: $s_2$ (dots), $s_1$ (triangles)")


def _diagonal(ax, rows: list[dict]) -> None:
    values = [abs(c[key]["N_2"]) for c in rows for key in ("slopes_observed", "slopes_optimal", "slopes_pruned")]
    values = [v for v in values if v > 0]
    if values:
        lo, hi = min(values) / 1.5, max(values) * 1.5
        ax.plot([lo, hi], [lo, hi], color="k", lw=0.8)


def _sign_map(run_id: str, doc: dict):
    """Observed cells at (k, alpha), blue where dgamma_2/dl > 0, red where < 0, ringed where the
    sign differs from the infinite-capacity optimum's; k*(alpha) of the theory and of each world's
    realised masses, as marks at their alpha (the theory's boundary between two alphas is not a line)."""
    fig, ax = style.new(1, width=6.4, height=4.2)
    a = ax[0, 0]
    disagree = 0
    seeds = sorted({c["world_seed"] for c in doc["cells"]})
    for c in _converged(doc):
        positive = c["dgamma2_dl_observed"] > 0
        jitter = 0.06 * (seeds.index(c["world_seed"]) - (len(seeds) - 1) / 2)  # world seeds centred on alpha
        size = 12 + 4 * np.log(c["params"])
        a.scatter(c["k"], c["alpha"] + jitter, s=size, marker="o", color="tab:blue" if positive else "tab:red",
                  alpha=0.7)
        if positive != (c["dgamma2_dl_optimal"] > 0):
            disagree += 1
            a.scatter(c["k"], c["alpha"] + jitter, s=size * 3.2, marker="o", facecolors="none", edgecolors="k",
                      lw=1.0, label="sign differs from the optimum's" if disagree == 1 else None)
    theory = sorted({(w["alpha"], w["k_star_theory"]) for w in doc["metrics"]["worlds"]
                     if w["k_star_theory"] is not None})
    if theory:
        a.scatter([t[1] for t in theory], [t[0] for t in theory], marker="|", s=400, color="k", lw=2,
                  label=r"$k^*(\alpha)$, theory (M $\to \infty$)")
    realised = [(w["k_star_realised"], w["alpha"]) for w in doc["metrics"]["worlds"] if w["k_star_realised"]]
    if realised:
        a.scatter(*zip(*realised, strict=True), marker="|", s=200, color="grey", label=r"$k^*$ of a world's masses")
    a.scatter([], [], color="tab:blue", label=r"observed $d\gamma_2/dl > 0$")
    a.scatter([], [], color="tab:red", label=r"observed $d\gamma_2/dl < 0$")
    alphas = _alphas(doc)
    a.set_yticks(alphas, [f"{x:g}" for x in alphas])
    a.set_ylim(min(alphas) - 0.06 * len(seeds) - 0.1, max(alphas) + 0.06 * len(seeds) + 0.1)
    a.set(xscale="log", xlabel="k (dimensionless)", ylabel=r"$\alpha$ (world seeds offset vertically)",
          title=r"each converged cell's sign of $d\gamma_2/dl$ at $l = 0$")
    style.question(fig, "Does the sign of dγ₂/dl flip where k* says, in trained models?")
    style.legend_outside(fig, a)
    s = doc["endpoints"]["sign"]
    caption = (f"Theorem ({run_id}): the sign of dgamma_2/dl at l = 0 in each converged cell (marker size grows "
               f"with the parameter count; ringed: {disagree} cells whose sign differs from the infinite-capacity "
               f"optimum's) against k*(alpha) of the theory and of each world's realised masses. Endpoint (ii), over "
               f"the cells at least {doc['config'].get('k_star_factor', 3):g}x from a realised k*: "
               f"{s['agree']}/{s['cells']} cells agree with the optimum's sign; verdict {s['verdict']}.")
    return f"theorem_sign_{run_id}", fig, caption


def _capacity(run_id: str, doc: dict):
    """Excess KL(q* || model) at l = 0 and the fitted depth against the parameter count."""
    fig, ax = style.new(2, width=10.0, height=3.6)
    cells = doc["cells"]
    L = doc["metrics"]["worlds"][0]["L"]
    for c in cells:
        color = "tab:blue" if c["converged"] else "tab:red"
        ax[0, 0].scatter(c["params"], max(c["excess_l0"], 1e-17), s=14, color=color, alpha=0.6)
        ax[0, 1].scatter(c["params"], c["depth_fitted"], s=14, color=color, alpha=0.6)
    ax[0, 0].set(yscale="log", xlabel="parameters of the model", ylabel=r"KL($q^*$ || model) at $l=0$ (nats)",
                 title="excess code length (floored at 1e-17)")
    ax[0, 1].set(xlabel="parameters of the model", ylabel="fitted depth d (levels of the tree)",
                 ylim=(-0.1, L + 0.1), title="depth of the pruned tree with the same excess")
    params = sorted({c["params"] for c in cells})
    for a in ax[0]:  # a linear axis labelled at the model sizes: close sizes (1110, 1332) do not collide
        pad = 0.08 * (max(params) - min(params) or max(params))
        a.set_xlim(min(params) - pad, max(params) + pad)
        a.set_xticks(params, [f"{p:g}" for p in params])
    keys = [("tab:blue", "converged")] + ([("tab:red", "not converged")] if any(not c["converged"] for c in cells)
                                           else [])
    style.question(fig, "How far does each model's capacity keep it from the optimum?")
    style.legend_outside(fig, list(ax[0]), keys=style.colour_keys(*keys))
    caption = (f"Theorem ({run_id}): each cell's excess code length over the optimum and the fractional depth "
               f"of the pruned tree with that excess, against the model's parameter count (blue: converged, red: "
               f"not). With iid leaf masses the pruned tree's excess is nearly flat in d, so depth lands near "
               f"L - 1 .. L whatever the model.")
    return f"theorem_capacity_{run_id}", fig, caption
