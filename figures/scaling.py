"""Figures of the scaling experiment, from its result file: each effect against parameters (one
series per amount of pre-training data) and against examples (one series per width), every seed
a dot beside the mean and 95% interval, with the slope margin drawn as a wedge around a flat line;
and the per-seed slopes with their intervals against the margin. Each plot function returns
(name, figure, caption); saving is the caller's."""

import numpy as np

from figures import style

EFFECTS = {"counterfactual": "drop(low f) - drop(high f), logit",
           "rebound": "share of the alignment gain undone"}
AXIS = {"params": ("params", "n_pre", "parameters", "pre-training examples"),
        "examples": ("n_pre", "params", "pre-training examples (fresh, each seen once)", "parameters")}


def plots(run_id: str, doc: dict) -> list[tuple]:
    return [_against(run_id, doc, "params"), _against(run_id, doc, "examples"), _slopes(run_id, doc)]


def _per_seed(doc: dict, effect: str, params: int, n_pre: int) -> list[float]:
    return [r["value"] for r in doc["per_seed"]
            if r["quantity"] == effect and r["params"] == params and r["n_pre"] == n_pre]


def _against(run_id: str, doc: dict, term: str):
    """Each effect (a panel) against one axis of the grid, a series per value of the other."""
    key, other, xlabel, series_label = AXIS[term]
    cells = doc["metrics"]["cells"]
    fig, ax = style.new(2, width=11.0, height=4.0)
    series = sorted({c[other] for c in cells})
    for j, effect in enumerate(EFFECTS):
        a = ax[0, j]
        for i, value in enumerate(series):
            mine = sorted((c for c in cells if c[other] == value), key=lambda c: c[key])
            color, nudge = style.shade(i, len(series)), 1.04 ** (i - (len(series) - 1) / 2)
            x = [c[key] * nudge for c in mine]
            for c, xi in zip(mine, x, strict=True):
                values = _per_seed(doc, effect, c["params"], c["n_pre"])
                a.plot([xi] * len(values), values, "o", ms=3, alpha=0.5, color=color, mec="none")
            means = [c[effect]["mean"] for c in mine]
            err = np.array([[m - c[effect]["ci95"][0], c[effect]["ci95"][1] - m] if c[effect]["ci95"] else [0, 0]
                            for c, m in zip(mine, means, strict=True)]).T
            a.errorbar(x, means, yerr=err, fmt="o-", ms=4, capsize=3, color=color,
                       label=f"{series_label} = {value:,}")
        _margin_wedge(a, doc, effect, term, cells, key)
        e = doc["endpoints"][effect][term]
        style.log_ticks(a, sorted({c[key] for c in cells}))  # labelled at the grid's own values
        a.set(xlabel=xlabel, ylabel=EFFECTS[effect],
              title=f"{effect}: {e['verdict']} ({e['mean']:+.3f} per decade)")
        a.axhline(0, color="k", lw=0.6)
    question = {"params": "Does elasticity grow with model size?",
                "examples": "Does elasticity grow with the amount of pre-training data?"}[term]
    style.question(fig, question)
    style.legend_outside(fig, list(ax[0]))
    n = len(doc["seeds"])
    caption = (f"Scaling ({run_id}, {n} seeds): each effect against {xlabel}, per cell the mean and 95% interval "
               f"over seeds (each seed a dot), one series per {series_label}. The grey wedge is the declared margin "
               f"on the slope around a flat line through the grid's mean: a slope inside it is 'flat within "
               f"margin'. Verdicts (95% interval of the per-seed least-squares slope): counterfactual "
               f"{doc['endpoints']['counterfactual'][term]['verdict']}, rebound "
               f"{doc['endpoints']['rebound'][term]['verdict']}; positive control "
               f"{'detected in every cell' if doc['positive_control']['detected'] else 'not detected'}.")
    return f"scaling_{term}_{run_id}", fig, caption


def _margin_wedge(ax, doc, effect: str, term: str, cells: list[dict], key: str) -> None:
    """Lines of slope +-margin per decade through the grid's mean effect at the axis' log-centre."""
    margin = doc["endpoints"][effect][term]["margin"]
    logs = np.log10([c[key] for c in cells])
    centre, mean = float(logs.mean()), float(np.mean([c[effect]["mean"] for c in cells]))
    xs = np.linspace(logs.min() - 0.1, logs.max() + 0.1, 20)
    ax.fill_between(10 ** xs, mean - margin * np.abs(xs - centre), mean + margin * np.abs(xs - centre),
                    color="0.5", alpha=0.15, lw=0, label=f"margin on the slope (+-{margin:g} per decade)")


def _slopes(run_id: str, doc: dict):
    """Per effect, the three coefficients: each seed's, the mean with its 95% interval, the margin."""
    fig, ax = style.new(2, width=11.0, height=3.8)
    for j, effect in enumerate(EFFECTS):
        a = ax[0, j]
        terms = doc["endpoints"][effect]
        for i, e in enumerate(terms.values()):
            values = list(e["per_seed"].values())
            a.plot(values, [i + 0.2] * len(values), "o", ms=3, alpha=0.4, color=style.shade(i, 3), mec="none")
            if e["ci95"] is not None:
                a.errorbar([e["mean"]], [i], xerr=[[e["mean"] - e["ci95"][0]], [e["ci95"][1] - e["mean"]]], fmt="D",
                           ms=5, capsize=4, color="k")
        margin = next(iter(terms.values()))["margin"]
        a.fill_betweenx([-0.5, len(terms) - 0.5], -margin, margin, color="#f4a582", alpha=0.3, lw=0,
                        label=f"margin +-{margin:g}")  # a collection: the legend points at something drawn
        a.axvline(0, color="k", lw=0.6)
        a.set_yticks(range(len(terms)), [f"{t}\n{e['verdict']}" for t, e in terms.items()])
        a.set(xlabel=f"slope per seed ({next(iter(terms.values()))['units']})", title=effect)
    style.question(fig, "Do the effects grow, stay flat or shrink across the grid?")
    style.legend_outside(fig, list(ax[0]))
    caption = (f"Scaling slopes ({run_id}, {len(doc['seeds'])} seeds): per effect, each seed's least-squares "
               f"coefficient on log10 parameters, log10 examples and their product (dots), their mean and 95% "
               f"interval (diamond), and the declared margin (band); the verdict under each term.")
    return f"scaling_slopes_{run_id}", fig, caption
