"""What the saved results found, one line per claim of the paper, for the top of the report and
the end of ``make demo``: the verdict, the effect with its interval, the seeds, whether a control
was detected, and whether the run is evidence or a smoke test (a preset below the design's
seed count: ``micro``, or fewer than ``MIN_SEEDS`` paired seeds)."""

import math
from pathlib import Path

from elasticity import render
from harness import store

# below these a run is a smoke test, not evidence: intervals from a handful of seeds (the theorem's
# seeds are whole worlds, each trained to stationarity at every capacity: its cpu preset has three)
MIN_SEEDS = {"default": 10, "theorem": 3}


def _runs(root: Path, experiment: str) -> list[dict]:
    docs = []
    for path in sorted((root / experiment).glob(f"*/{store.RESULT_FILE}")):
        try:
            docs.append(store.read_result(path, experiment=experiment))
        except store.StoreError:
            continue  # the report lists damaged results under "skipped"
    return docs


def preset_of(result: dict) -> str | None:
    """The preset whose configuration a result's stored config is (None: a custom configuration
    or a sweep). Runs are graded by what they ran, not by the name they were given."""
    from harness import presets

    experiment, config = result["experiment"], result["config"]
    for name in presets.names().get(experiment, []):
        if experiment == "rebound" and name in presets.SWEEPS:  # a sweep's config: its named runs
            if config == {run: c.as_dict() for run, c in presets.SWEEPS[name]}:
                return name
        elif presets.get(experiment, name).as_dict() == config:
            return name
    return None


CALIBRATION_SEEDS = {"counterfactual": ("calibration", "gpu-calibration")}  # presets whose seeds chose a window


def _calibration_seeds(result: dict) -> bool:
    """Whether a run shares seeds with a calibration preset (its seeds chose the window it would test)."""
    from harness import presets

    seeds = set(result["config"].get("seeds", ()))
    return any(seeds & set(presets.get(result["experiment"], name).seeds)
               for name in CALIBRATION_SEEDS.get(result["experiment"], ()))


def _grade(result: dict, seeds: int) -> str:
    preset = preset_of(result)
    if preset == "micro" or seeds < MIN_SEEDS.get(result["experiment"], MIN_SEEDS["default"]):
        return "smoke test, not evidence"
    if _calibration_seeds(result):
        return "calibration seeds: chose the window, not a confirmatory verdict"
    return "evidence"


def seed_count(result: dict) -> int:
    """An experiment result's seeds: its config's, or a sweep's fewest over its runs."""
    config = result["config"]
    if "seeds" in config:
        return len(config["seeds"])
    if "world_seeds" in config:  # the theorem experiment: its worlds are its seeds
        return len(config["world_seeds"])
    return min((len(c["seeds"]) for c in config.values() if isinstance(c, dict) and "seeds" in c), default=0)


def grade_of(result: dict) -> str:
    """An experiment result's grade from its stored config and seed count (the CLI prints it)."""
    return _grade(result, seed_count(result))


def run_label(row: dict) -> str:
    if not row["seeds"]:
        return row["run"]
    return f"{row['run']}, {row['seeds']} seed{'s' if row['seeds'] != 1 else ''}"


def _counterfactual(doc: dict) -> list[dict]:
    e, p = doc["effect"], doc["primary_endpoint"]
    detected = doc["positive_controls"]["in_window_detected"]
    out = [{"claim": "elasticity: the pre-training data pulls an aligned model back (counterfactual pre-training)",
            "run": doc["run_id"], "verdict": doc["verdict"],
            "effect": f"{render.interval(e, 3)} ({p['units']}, Q2 = {', '.join(map(str, p['q2']))})",
            "seeds": e["n_seeds"], "control": "in-window control detected" if detected else "no control detected",
            "grade": _grade(doc, e["n_seeds"]) if doc["config"]["anchor_beta"]
            else "not evidence: this run has no in-window control"}]
    for mode in dict.fromkeys(row["k_mode"] for row in doc["effective_k"]):
        rows = [row for row in doc["effective_k"] if row["k_mode"] == mode]
        out.append({"claim": "the theorem's k-scaling: -dCE_align/dCE_pre = k (difference form, l = 0)",
                    "run": doc["run_id"], "verdict": _k_verdict(mode, rows),
                    "effect": "; ".join(_k_effect(row) for row in rows),
                    "seeds": e["n_seeds"], "control": _k_control(mode, rows),
                    "grade": _grade(doc, e["n_seeds"])})
    return out


K_CONTROL = {
    "steps": "aligned after pre-training (same steps at every size)",
    "epochs": "aligned after pre-training (same passes over D_pre at every size)",
    "joint": "the theorem's regime: D_pre and the alignment dose trained together",
}
K_LABEL = {"joint": "joint training"}


def _k_control(mode: str, rows: list[dict]) -> str:
    """The mode's design, and what the optimal compressor gives there (read, not assumed: the
    theorem's identity says k exactly)."""
    exact = all(math.isclose(row["predicted"], row["nominal_k"], rel_tol=1e-6) for row in rows)
    return f"{K_CONTROL[mode]}; the optimal compressor gives " + ("k exactly" if exact else "values away from k")


def _covers(row: dict, value) -> bool:
    ci = row["observed"]["ci95"]
    return value is not None and ci is not None and ci[0] <= value <= ci[1]


def _k_verdict(mode: str, rows: list[dict]) -> str:
    """What each mode's observed ratios say, counted from their 95% intervals: how many cover the
    nominal k and how many the operating point (1 - s)/(s - f), a model moving only along the
    style share; a conclusion only where the counts give one."""
    n = len(rows)
    nominal = sum(_covers(row, row["nominal_k"]) for row in rows)
    operating = sum(_covers(row, row["operating_point_k"]) for row in rows)
    undefined = sum(row["observed"]["ci95"] is None for row in rows)
    text = f"{K_LABEL.get(mode, mode)}: the 95% interval covers the nominal k at {nominal} of {n} size{'s' * (n != 1)}"
    if any(row["operating_point_k"] is not None for row in rows):
        text += f", the operating point at {operating} of {n}"
    if undefined:
        text += f" (undefined at {undefined})"
    resolved = n - undefined
    if resolved and operating == resolved and nominal == 0:
        text += ": it measures the operating point, not k"
    elif resolved and nominal == resolved and operating == 0:
        text += ": it recovers k"
    elif resolved and nominal == 0 and operating == 0:
        text += ": neither k nor the operating point"
    return text


def _k_effect(row: dict) -> str:
    return (f"k = {row['nominal_k']:g}: observed {render.effective_k(row['observed'])}, operating point "
            f"{render.operating_point(row['operating_point_k'])}")


def _resist(doc: dict) -> list[dict]:
    rows = doc["metrics"]["table2"]
    n = rows[0]["forward_minus_inverse"]["n"]
    holds = sum(r["verdict"].startswith("inverse closer") for r in rows)
    effect = "; ".join(f"({r['pair'][0]},{r['pair'][1]}) {render.interval(r['forward_minus_inverse'], 3)}"
                       for r in rows)
    control = "no control arm in this run"
    if "attributable" in doc["metrics"]:
        parts = [f"({a['pair'][0]},{a['pair'][1]}) {a['verdict']}" for a in doc["metrics"]["attributable"]]
        control = "attributable to pre-training: " + "; ".join(parts)
    verdict = f"holds for {holds} of {len(rows)} pairs"
    lines = doc["metrics"].get("verdict_lines", [])
    depends = [line.split(":")[0] for line in lines if "depends on the distance" in line]
    if depends:
        verdict += f"; depends on the distance for {len(depends)} readings ({'; '.join(depends)}: see the report)"
    valid = doc["metrics"].get("valid_mass")
    if valid is not None and valid["min"] < valid["threshold"]:
        verdict += f"; a path left the well-formed regime (lowest valid mass {valid['min']:.3f})"
    if valid is not None and valid.get("theta_below"):
        verdict += (f"; {len(valid['theta_below'])} (arm, seed) thetas under valid mass {valid['threshold']:g} "
                    f"(lowest {valid['theta_min']:.3f}, {valid['theta_at']['arm']})")
    return [{"claim": "resistance: the inverse path ends closer than the forward one (Appendix E)",
             "run": doc["run_id"], "verdict": verdict, "effect": effect,
             "seeds": n, "control": control, "grade": _grade(doc, n)}]


def _rebound(doc: dict) -> list[dict]:
    runs = doc["metrics"]["runs"] if "runs" in doc["metrics"] else [{"run": doc["run_id"], **doc["metrics"]}]
    out = []
    for run in runs[:1]:  # a sweep's centre
        versus = run["versus_controls"]
        verdicts = sorted({v["verdict"] for v in versus}) or ["no never-pre-trained control in this run"]
        seeds = len(run.get("seeds") or doc["config"].get("seeds", []))  # a sweep's runs carry their seeds
        out.append({"claim": "rebound: after negative fine-tuning the model returns towards pre-training (Section 3)",
                    "run": doc["run_id"], "verdict": "; ".join(verdicts),
                    "effect": _crossings(run["curves"]), "seeds": seeds,
                    "control": f"{sum(v['seeds_paired'] for v in versus)} seed-points paired with the control",
                    "grade": _grade(doc, seeds)})
    return out


def _theorem(doc: dict) -> list[dict]:
    """One sentence: the three declared endpoints with their numbers, and how many cells converged."""
    e, m = doc["endpoints"], doc["metrics"]
    seeds = len(doc["config"]["world_seeds"])
    i, ii, iii = e["slope_error"], e["sign"], e["capacity_trend"]
    effect = (f"(i) s_2 of the pruned tree vs observed: {i['verdict']}"
              + (f", log-ratio {i['mean']:+.3f}" if i["mean"] is not None else "")
              + f"; (ii) sign of dgamma_2/dl: {ii['verdict']}, {ii['agree']}/{ii['cells']} cells agree; "
              f"(iii) capacity trend of (k+1) s_2: {iii['verdict']}"
              + (f", log-ratio {iii['mean']:+.3f}" if iii["mean"] is not None else ""))
    rows = []
    if "bridge" in e:  # a second claim: the sequentially aligned models against the joint ones
        b = e["bridge"]
        means = ", ".join(f"s_{n[-1]} {b[n]['mean']:+.3f}" for n in ("N_1", "N_2") if b[n]["mean"] is not None)
        rows.append({"claim": "sequentially aligned models (pre-train, then align) have the jointly trained "
                              "models' slopes dN_j/dl at matched N_2 (theorem, bridge arm)",
                     "run": doc["run_id"], "verdict": b["verdict"],
                     "effect": f"log(sequential / joint): {means or 'n/a'} over {b['N_2']['n']} world seeds; "
                               f"sign of dgamma_2/dl as the joint model's in {b['dgamma2_sign_agree']}/{b['cells']}",
                     "seeds": seeds, "control": f"{b['cells']}/{m['total']} cells in the comparison",
                     "grade": _grade(doc, seeds)})
    verdicts = sorted({x["verdict"] for x in (i, ii, iii)})
    return [{"claim": "the theorem's slopes dN_j/dl at stationarity where capacity binds (Theorem C.17, "
                      "pruned-tree model)", "run": doc["run_id"], "verdict": ", ".join(verdicts), "effect": effect,
             "seeds": seeds, "control": f"{m['converged']}/{m['total']} cells converged; models at the optimum "
                                        f"match prediction (a): {'yes' if m['match_optimal']['all_within'] else 'no'}",
             "grade": _grade(doc, seeds)}] + rows


def _scaling(doc: dict) -> list[dict]:
    """Two sentences, one per paper claim (grows with size; grows with pre-training data), each with
    both effects' verdicts and intervals, read from the result."""
    e, control = doc["endpoints"], doc["positive_control"]
    seeds = len(doc["seeds"])
    claims = {"params": "elasticity grows with model size (slope against log10 parameters)",
              "examples": "elasticity grows with the amount of pre-training data (slope against log10 examples)"}
    out = []
    for term, claim in claims.items():
        parts = [f"{effect}: {e[effect][term]['verdict']}, {render.interval(e[effect][term], 3)} "
                 f"{e[effect][term]['units']} (margin +-{e[effect][term]['margin']:g})" for effect in e]
        out.append({"claim": claim, "run": doc["run_id"],
                    "verdict": "; ".join(f"{effect} {e[effect][term]['verdict']}" for effect in e),
                    "effect": "; ".join(parts), "seeds": seeds,
                    "control": "positive control detected in every cell" if control["detected"]
                    else f"positive control not detected ({len(control['cells_failing'])} cells)",
                    "grade": _grade(doc, seeds)})
    return out


def _crossings(curves: list[dict]) -> str:
    """Per Q1 of the pre-trained arm: the mean Q2 at which seeds return to the reference, and how
    many never do."""
    parts = []
    for c in (c for c in curves if c["arm"] == "pretrained"):
        x = c["crossing_q2"]
        seeds = f"{x['n']} seed{'s' * (x['n'] != 1)}"
        mean = "no seed returns" if x["mean"] is None else f"returns at Q2 = {x['mean']:.3g} ({seeds})"
        parts.append(f"Q1 = {c['q1']}: {mean}, {x['never']} never")
    return "; ".join(parts) or "no pre-trained curve"


def _audit(doc: dict) -> list[dict]:
    verdicts = [f["verdict"] for f in doc["metrics"]]
    counts = ", ".join(f"{verdicts.count(v)} {v}" for v in ("holds", "asymptotic", "erratum"))
    return [{"claim": "the paper's closed forms against the exact theory (audit)", "run": doc["run_id"],
             "verdict": counts, "effect": "docs/errata.md has the numbers", "seeds": 0,
             "control": "exact quadrature, an mpmath twin and golden values", "grade": "evidence"}]


def findings(root) -> list[dict]:
    """One row per claim and run: claim, run, verdict, effect, seeds, control, grade."""
    root = Path(root)
    rows = []
    for experiment, read in READERS.items():
        for doc in _runs(root, experiment):
            rows += read(doc)
    return rows


READERS = {"theorem": _theorem, "scaling": _scaling, "counterfactual": _counterfactual, "resist": _resist,
           "rebound": _rebound, "audit": _audit}


def text(rows: list[dict]) -> str:
    """The findings as lines for a terminal (the end of ``make demo``)."""
    if not rows:
        return "no finished results to report"
    lines = ["What the results found:"]
    for r in rows:
        lines.append(f"- [{r['grade']}] {r['claim']} ({run_label(r)}): {r['verdict']}; "
                     f"{r['effect']}; {r['control']}")
    return "\n".join(lines)
