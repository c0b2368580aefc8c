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
    caption = (f"Theorem ({run_id}): the alignment slope dN_2/dl at l = 0 of each converged model against "
               f"the infinite-capacity optimum's (a, circles) and the depth-fitted pruned tree's (b, crosses); "
               f"colour: parameter count; on the diagonal the prediction is exact. Unconverged cells are not drawn "
               f"({doc['metrics']['total'] - doc['metrics']['converged']} of {doc['metrics']['total']}).")
    if bridge:
        b = doc["endpoints"]["bridge"]
        caption += (f" Last panel, the bridge arm: the slopes of the model pre-trained on p_1 and aligned by "
                    f"gradient descent until its N_2 equals the joint model's (y; derivative through the alignment "
                    f"in the weight l of p_3 in the alignment data) against the jointly trained model's (x), s_2 "
                    f"(dots) and s_1 (triangles), {len(bridge)} cells; verdict {b['verdict']}.")
    return f"theorem_slopes_{run_id}", fig, caption


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
    """Observed cells at (k, alpha), filled where dgamma_2/dl > 0; k*(alpha) of the theory and of
    each world's realised masses."""
    fig, ax = style.new(1, width=6.4, height=4.0)
    a = ax[0, 0]
    for c in _converged(doc):
        positive = c["dgamma2_dl_observed"] > 0
        jitter = 0.05 * (c["world_seed"] % 5 - 2)
        a.scatter(c["k"], c["alpha"] + jitter, s=12 + 4 * np.log(c["params"]), marker="o",
                  color="tab:blue" if positive else "tab:red", alpha=0.7)
    theory = sorted({(w["alpha"], w["k_star_theory"]) for w in doc["metrics"]["worlds"]
                     if w["k_star_theory"] is not None})
    if theory:
        a.plot([t[1] for t in theory], [t[0] for t in theory], "k-", marker="|", ms=14,
               label=r"$k^*(\alpha)$, theory (M $\to \infty$)")
    realised = [(w["k_star_realised"], w["alpha"]) for w in doc["metrics"]["worlds"] if w["k_star_realised"]]
    if realised:
        a.scatter(*zip(*realised, strict=True), marker="|", s=200, color="grey", label=r"$k^*$ of a world's masses")
    a.scatter([], [], color="tab:blue", label=r"observed $d\gamma_2/dl > 0$")
    a.scatter([], [], color="tab:red", label=r"observed $d\gamma_2/dl < 0$")
    a.set(xscale="log", xlabel="k", ylabel=r"$\alpha$ (seeds offset vertically)",
          title=r"sign of $d\gamma_2/dl$ at $l = 0$")
    style.legend_outside(fig, a)
    s = doc["endpoints"]["sign"]
    caption = (f"Theorem ({run_id}): the sign of dgamma_2/dl at l = 0 in each converged cell (marker size grows "
               f"with the parameter count) against k*(alpha) of the theory and of each world's realised masses. "
               f"Endpoint (ii): {s['agree']}/{s['cells']} cells agree with the optimum's sign; verdict {s['verdict']}.")
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
    ax[0, 0].set(yscale="log", xlabel="parameters", ylabel=r"KL($q^*$ || model) at $l=0$ (nats)",
                 title="excess code length (floored at 1e-17)")
    ax[0, 1].set(xlabel="parameters", ylabel="fitted depth d", ylim=(-0.1, L + 0.1),
                 title="depth of the pruned tree with the same excess")
    params = sorted({c["params"] for c in cells})
    for a in ax[0]:
        style.log_ticks(a, params)  # labelled at the model sizes themselves
    style.legend_outside(fig, list(ax[0]), keys=style.colour_keys(("tab:blue", "converged"),
                                                                  ("tab:red", "not converged")))
    caption = (f"Theorem ({run_id}): each cell's excess code length over the optimum and the fractional depth "
               f"of the pruned tree with that excess, against the model's parameter count (blue: converged, red: "
               f"not). With iid leaf masses the pruned tree's excess is nearly flat in d, so depth lands near "
               f"L - 1 .. L whatever the model.")
    return f"theorem_capacity_{run_id}", fig, caption
