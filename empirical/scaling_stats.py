"""The scaling experiment's endpoints (docs/experiments.md, "Scaling"): per seed, each cell's
counterfactual effect and rebound on the declared window; per seed, the least-squares fit of each
effect over the grid on

    1, x, y, x y     with x = log10 parameters - its grid mean, y = log10 examples - its grid mean

(centred on the grid, so the x and y coefficients are the slopes at the grid's centre, in effect
units per decade); a 95% t-interval over seeds for each coefficient; a verdict against the
declared margin on the slope (``statistics.equivalence``: the 90% interval inside +-margin), read
only where the positive control was detected in every cell.
"""

import numpy as np

from empirical import statistics
from harness.configs import ScalingConfig

EFFECTS = ("counterfactual", "rebound")
TERMS = ("params", "examples", "interaction")
VERDICTS = ("grows", "shrinks", "flat within margin", "grows, inside the margin", "shrinks, inside the margin",
            "not resolved")
UNITS = {"counterfactual": "logit per decade", "rebound": "share of the alignment gain per decade"}


def drop(member: dict, q: int) -> float:
    """logit s(aligned) - logit s(Q2 = q): the counterfactual experiment's drop in logit units."""
    by_q = {p["q"]: p["score"] for p in member["points"]}
    return statistics.logit(by_q[0]) - statistics.logit(by_q[q])


def per_seed_effects(c: ScalingConfig, record: dict) -> dict[int, dict[str, float]]:
    """Per seed of one cell: the counterfactual effect and the rebound on the declared window,
    the quantities the positive control reads (the low arm's alignment gain and its drop) and the
    excess code length of pre-training (nats per token over the law's entropy, both arms' mean)."""
    by = {(m["seed"], m["arm"]): m for m in record["members"]}
    out = {}
    for s in c.seeds:
        low, high = by[(s, "f_low")], by[(s, "f_high")]
        d_low = float(np.mean([drop(low, q) for q in c.window]))
        d_high = float(np.mean([drop(high, q) for q in c.window]))
        gain = statistics.logit(low["aligned_score"]) - statistics.logit(low["pretrained"]["score"])
        out[s] = {"counterfactual": d_low - d_high, "rebound": d_low / gain, "align_gain": gain, "drop_low": d_low,
                  "excess_pre": float(np.mean([m["pretrained"]["excess_nats_per_token"] for m in (low, high)]))}
    return out


def design(params, examples) -> np.ndarray:
    """The fit's columns for cells at (params, examples): 1, x, y, x y, centred on the grid."""
    x = np.log10(np.asarray(params, float))
    y = np.log10(np.asarray(examples, float))
    x, y = x - x.mean(), y - y.mean()
    return np.column_stack([np.ones_like(x), x, y, x * y])


def fit(params, examples, values) -> dict[str, float]:
    """Least-squares coefficients of ``values`` over the cells: the slope against log10 params,
    against log10 examples, and their interaction (per decade squared)."""
    x = design(params, examples)
    if np.linalg.matrix_rank(x) < x.shape[1]:
        raise ValueError("the grid needs at least two sizes and two amounts (a 2 x 2 grid or larger) for the fit")
    coef, *_ = np.linalg.lstsq(x, np.asarray(values, float), rcond=None)
    return dict(zip(TERMS, map(float, coef[1:]), strict=True))


def slope_verdict(stat: dict, margin: float, control_detected: bool) -> tuple[str, dict]:
    """(verdict, equivalence record) of one slope: grows / shrinks (95% interval above / below 0),
    "flat within margin" (the 90% interval inside +-margin, and only with the control detected),
    "grows / shrinks, inside the margin" (significant, yet inside the margin: small, not absent),
    else not resolved."""
    equivalence = statistics.equivalence(stat, margin)
    base = statistics.verdict(stat["ci95"], equivalence)
    sign = "grows" if stat["mean"] > 0 else "shrinks"
    verdict = {"elasticity": "grows", "opposite": "shrinks", "equivalent": "flat within margin",
               "significant, inside the margin": f"{sign}, inside the margin", "not resolved": "not resolved"}[base]
    if verdict == "flat within margin" and not control_detected:
        verdict = "not resolved"  # a grid where the instrument was not seen working cannot say "flat"
    return verdict, equivalence


def supports(stat: dict, equivalence: dict, margin: float) -> str:
    """What the intervals support and exclude, in words."""
    ci, ci90 = stat["ci95"], equivalence["ci90"]
    if ci is None:
        return "one seed: no interval"
    parts = [f"95% interval [{ci[0]:+.3g}, {ci[1]:+.3g}] excludes slopes below {ci[0]:+.3g} and above {ci[1]:+.3g}"]
    if ci90[0] > -margin:
        parts.append(f"a shrinking slope as large as the margin (-{margin:g}) is excluded")
    if ci90[1] < margin:
        parts.append(f"a growing slope as large as the margin (+{margin:g}) is excluded")
    if ci[0] > 0 or ci[1] < 0:
        parts.append("a slope of 0 is excluded")
    return "; ".join(parts)


def endpoints(c: ScalingConfig, cells: list[dict], effects: list[dict], control: bool) -> dict:
    """Per effect and term: the per-seed coefficients, their interval and the verdict."""
    params = [cell["params"] for cell in cells]
    examples = [cell["n_pre"] for cell in cells]
    margins = {"counterfactual": c.margin_counterfactual, "rebound": c.margin_rebound}
    out = {}
    for effect in EFFECTS:
        coefs = {s: fit(params, examples, [e[s][effect] for e in effects]) for s in c.seeds}
        out[effect] = {}
        for term in TERMS:
            stat = statistics.mean_ci([coefs[s][term] for s in c.seeds])
            verdict, eq = slope_verdict(stat, margins[effect], control)
            out[effect][term] = {
                "mean": stat["mean"], "ci95": stat["ci95"], "ci90": eq["ci90"], "n": stat["n"], "sd": stat["sd"],
                "verdict": verdict, "margin": margins[effect], "units": UNITS[effect] + (" squared" if term ==
                                                                                          "interaction" else ""),
                "p_tost": eq["p_tost"], "p_one_sided": eq["p_one_sided"],
                "minimal_detectable_slope": statistics.minimal_detectable_effect(stat["sd"], stat["n"]),
                "supports": supports(stat, eq, margins[effect]),
                "per_seed": {str(s): coefs[s][term] for s in c.seeds}}
    return out


def detected(values: list[float]) -> bool:
    """Whether the 95% interval of the mean of ``values`` lies above 0."""
    stat = statistics.mean_ci(values)
    return stat["ci95"] is not None and stat["ci95"][0] > 0


def cell_table(c: ScalingConfig, cells: list[dict], effects: list[dict]) -> list[dict]:
    """Per cell: every effect's mean and interval over seeds, and the positive control: the
    alignment raised the low arm's score and the perturbation lowered it in the window (each a 95%
    interval above 0)."""
    rows = []
    for cell, by_seed in zip(cells, effects, strict=True):
        values = {k: [by_seed[s][k] for s in c.seeds] for k in next(iter(by_seed.values()))}
        stats_ = {k: statistics.mean_ci(v) for k, v in values.items()}
        scores = {arm: statistics.mean_ci([m["pretrained"]["score"] for m in cell["members"] if m["arm"] == arm])
                  for arm in ("f_low", "f_high")}
        rows.append({"hidden": cell["hidden"], "params": cell["params"], "n_pre": cell["n_pre"],
                     **{k: {"mean": s["mean"], "ci95": s["ci95"]} for k, s in stats_.items()},
                     "pretrained_score": {arm: {"mean": s["mean"], "ci95": s["ci95"]} for arm, s in scores.items()},
                     "alignment_detected": detected(values["align_gain"]),
                     "perturbation_detected": detected(values["drop_low"]),
                     "wall_s": cell["wall_s"], "flops": cell["flops"]["total"]})
    return rows


def _per_seed_rows(c: ScalingConfig, cells: list[dict], effects: list[dict], ends: dict) -> list[dict]:
    """Every per-seed value the verdicts read, long form: each cell's effects, then each slope."""
    rows = []
    for cell, by_seed in zip(cells, effects, strict=True):
        for s in c.seeds:
            for quantity, value in by_seed[s].items():
                rows.append({"seed": s, "quantity": quantity, "hidden": cell["hidden"], "params": cell["params"],
                             "n_pre": cell["n_pre"], "value": value})
    for effect, terms in ends.items():
        for term, e in terms.items():
            rows += [{"seed": int(s), "quantity": f"slope of {effect} vs {term}", "hidden": None, "params": None,
                      "n_pre": None, "value": v} for s, v in e["per_seed"].items()]
    return rows


def summarize(c: ScalingConfig, records: list[dict]) -> tuple[dict, dict]:
    cells = sorted(records, key=lambda r: (r["params"], r["n_pre"]))
    effects = [per_seed_effects(c, r) for r in cells]
    table = cell_table(c, cells, effects)
    control = all(row["alignment_detected"] and row["perturbation_detected"] for row in table)
    ends = endpoints(c, cells, effects, control)
    failing = [f"hidden {r['hidden']}, n_pre {r['n_pre']}" for r in table
               if not (r["alignment_detected"] and r["perturbation_detected"])]
    top = {"endpoints": ends,
           "declared": {"window": list(c.window), "units": "logit", "fit": "per seed: 1, log10 params, log10 examples "
                        "and their product, centred on the grid; 95% t-interval over seeds",
                        "margin_counterfactual": c.margin_counterfactual, "margin_rebound": c.margin_rebound},
           "positive_control": {"detected": control, "cells_failing": failing,
                                "rule": "in every cell the low arm's alignment gain and its drop in the window each "
                                        "have a 95% interval above 0"},
           "seeds": list(c.seeds), "flops_total": float(sum(r["flops"] for r in table)),
           "per_seed": _per_seed_rows(c, cells, effects, ends)}
    return {"cells": table}, top
