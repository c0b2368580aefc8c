"""What the saved results found, one line per claim of the paper, for the top of the report and
the end of ``make demo``: the verdict, the effect with its interval, the seeds, whether a control
was detected, and whether the run is evidence or a smoke test (a preset below the design's
seed count: ``micro``, or fewer than ``MIN_SEEDS`` paired seeds)."""

from pathlib import Path

from elasticity import render
from harness import store

MIN_SEEDS = 10  # below this a run is a smoke test, not evidence: intervals from a handful of seeds


def _runs(root: Path, experiment: str) -> list[dict]:
    docs = []
    for path in sorted((root / experiment).glob(f"*/{store.RESULT_FILE}")):
        try:
            docs.append(store.read_result(path, experiment=experiment))
        except store.StoreError:
            continue  # the report lists damaged results under "skipped"
    return docs


def _grade(run_id: str, seeds: int) -> str:
    if run_id.startswith("calibration"):
        return "calibration: chose the window, not a verdict"
    return "smoke test, not evidence" if run_id.startswith("micro") or seeds < MIN_SEEDS else "evidence"


def seed_count(result: dict) -> int:
    """An experiment result's seeds: its config's, or a sweep's fewest over its runs."""
    config = result["config"]
    if "seeds" in config:
        return len(config["seeds"])
    return min((len(c["seeds"]) for c in config.values() if isinstance(c, dict) and "seeds" in c), default=0)


def grade_of(result: dict) -> str:
    """An experiment result's grade from its run id and seed count (the CLI prints it)."""
    return _grade(result["run_id"], seed_count(result))


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
            "grade": _grade(doc["run_id"], e["n_seeds"]) if doc["config"]["anchor_beta"]
            else "not evidence: this run has no in-window control"}]
    for mode in dict.fromkeys(row["k_mode"] for row in doc["effective_k"]):
        rows = [row for row in doc["effective_k"] if row["k_mode"] == mode]
        out.append({"claim": "the theorem's k-scaling: -dCE_align/dCE_pre = k (difference form, l = 0)",
                    "run": doc["run_id"], "verdict": _k_verdict(mode, rows),
                    "effect": "; ".join(_k_effect(row) for row in rows),
                    "seeds": e["n_seeds"], "control": K_CONTROL[mode], "grade": _grade(doc["run_id"], e["n_seeds"])})
    return out


K_CONTROL = {
    "steps": "aligned after pre-training (same steps at every size); the optimal compressor gives k exactly",
    "epochs": "aligned after pre-training (same passes over D_pre at every size)",
    "joint": "the theorem's regime: D_pre and the alignment dose trained together",
}


def _k_verdict(mode: str, rows: list[dict]) -> str:
    """Sequential fine-tuning measures the operating point; the joint arms say whether the
    instrument recovers the nominal k where the theorem's condition holds (each 95% interval
    against its nominal k)."""
    if mode != "joint":
        return f"{mode}: measures the operating point, not k"
    inside = [row["observed"]["ci95"] is not None and row["observed"]["ci95"][0] <= row["nominal_k"]
              <= row["observed"]["ci95"][1] for row in rows]
    return f"joint training: the 95% interval covers the nominal k at {sum(inside)} of {len(rows)} sizes"


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
             "seeds": n, "control": control, "grade": _grade(doc["run_id"], n)}]


def _rebound(doc: dict) -> list[dict]:
    runs = doc["metrics"]["runs"] if "runs" in doc["metrics"] else [{"run": doc["run_id"], **doc["metrics"]}]
    out = []
    for run in runs[:1]:  # a sweep's centre
        versus = run["versus_controls"]
        verdicts = sorted({v["verdict"] for v in versus}) or ["no never-pre-trained control in this run"]
        seeds = len(run.get("seeds") or doc["config"].get("seeds", []))  # a sweep's runs carry their seeds
        out.append({"claim": "rebound: after negative fine-tuning the model returns towards pre-training (Section 3)",
                    "run": doc["run_id"], "verdict": "; ".join(verdicts),
                    "effect": "crossings per Q1 in the report's table", "seeds": seeds,
                    "control": f"{sum(v['seeds_paired'] for v in versus)} seed-points paired with the control",
                    "grade": _grade(doc["run_id"], seeds)})
    return out


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
    for experiment, read in (("counterfactual", _counterfactual), ("resist", _resist), ("rebound", _rebound),
                             ("audit", _audit)):
        for doc in _runs(root, experiment):
            rows += read(doc)
    return rows


def text(rows: list[dict]) -> str:
    """The findings as lines for a terminal (the end of ``make demo``)."""
    if not rows:
        return "no finished results to report"
    lines = ["What the results found:"]
    for r in rows:
        lines.append(f"- [{r['grade']}] {r['claim']} ({run_label(r)}): {r['verdict']}; "
                     f"{r['effect']}; {r['control']}")
    return "\n".join(lines)
