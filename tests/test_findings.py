"""The findings at the top of the report and the end of ``make demo``: one line per claim and run,
read from the result files, with runs below the evidence threshold labelled as smoke tests."""

import os
from pathlib import Path

from elasticity import findings
from harness import overrides, store

# ELASTICITY_TEST_RESULTS: another copy of the fixtures (one upgraded to the current schema while the
# committed ones wait to be regenerated)
FIXTURES = Path(os.environ.get("ELASTICITY_TEST_RESULTS") or Path(__file__).parent / "fixtures" / "results")


def _by(rows, claim_start, run_start):
    (row,) = [r for r in rows if r["claim"].startswith(claim_start) and r["run"].startswith(run_start)]
    return row


def test_findings_read_the_verdicts_and_grade_the_runs():
    rows = findings.findings(FIXTURES)
    (cf_path,) = FIXTURES.glob("counterfactual/cpu-standard-*/result.json")
    cf = store.read_result(cf_path)
    row = _by(rows, "elasticity", "cpu-standard")
    assert row["verdict"] == cf["verdict"] and row["seeds"] == cf["effect"]["n_seeds"]
    assert f"{cf['effect']['mean']:.3f}" in row["effect"] and row["grade"] == "evidence"
    assert _by(rows, "elasticity", "calibration")["grade"].startswith("calibration")
    assert _by(rows, "resistance", "micro")["grade"] == "smoke test, not evidence"
    quick = _by(rows, "resistance", "quick")
    assert quick["grade"] == "evidence" and "attributable to pre-training" in quick["control"]
    assert _by(rows, "the paper's closed forms", "default")["verdict"] == "1 holds, 4 asymptotic, 8 erratum"
    text = findings.text(rows)
    assert text.startswith("What the results found:") and text.count("\n") == len(rows)
    assert "[smoke test, not evidence]" in text and "(default)" in text  # the audit has no seeds to count


def test_the_k_axis_gets_a_line_per_mode_and_the_joint_arms_are_read_against_nominal_k():
    rows = findings.findings(FIXTURES)
    (path,) = FIXTURES.glob("counterfactual/k-axis-*/result.json")
    doc = store.read_result(path)
    k_rows = [r for r in rows if r["claim"].startswith("the theorem's k-scaling") and r["run"] == doc["run_id"]]
    assert [r["verdict"].split(":")[0] for r in k_rows] == ["steps", "epochs", "joint training"]
    joint = [r for r in doc["effective_k"] if r["k_mode"] == "joint"]
    covered = sum(r["observed"]["ci95"] is not None and r["observed"]["ci95"][0] <= r["nominal_k"]
                  <= r["observed"]["ci95"][1] for r in joint)
    assert k_rows[2]["verdict"].startswith(f"joint training: the 95% interval covers the nominal k at {covered} of 3 "
                                           f"sizes")
    primary = _by(rows, "elasticity", "k-axis")  # no in-window control in this run: not evidence for it
    assert primary["grade"] == "not evidence: this run has no in-window control"


def test_no_results_say_so(tmp_path):
    assert findings.findings(tmp_path) == [] and findings.text([]) == "no finished results to report"


def test_a_run_is_graded_by_what_it_ran():
    """Seeds below the experiment's threshold, or the micro preset's configuration whatever its
    name, make a smoke test; seeds shared with the calibration make a calibration, not a verdict."""
    from harness import presets

    def result(experiment, config):
        return {"experiment": experiment, "run_id": "decisive-x", "config": config.as_dict()}

    quick = presets.RESIST["quick"]
    least = findings.MIN_SEEDS["default"]
    assert findings._grade(result("resist", quick), least - 1) == "smoke test, not evidence"
    assert findings._grade(result("resist", quick), least) == "evidence"
    assert findings._grade(result("resist", presets.RESIST["micro"]), 100) == "smoke test, not evidence"
    calibration = overrides.with_overrides(presets.COUNTERFACTUAL["calibration"], ["sesoi=0.3"])  # renamed, edited
    assert findings._grade(result("counterfactual", calibration), 16).startswith("calibration seeds")
    standard = presets.COUNTERFACTUAL["cpu-standard"]
    assert findings._grade(result("counterfactual", standard), 48) == "evidence"
    theorem = presets.THEOREM["cpu"]
    assert findings._grade(result("theorem", theorem), len(theorem.world_seeds)) == "evidence"


def test_a_sweeps_seed_count_is_its_runs():
    """A sweep's index holds one config per run: its seeds are theirs (the fewest), not zero."""
    doc = store.read_result(FIXTURES / "rebound" / "cpu-full-sft" / "result.json")
    assert "seeds" not in doc["config"]
    assert findings.seed_count(doc) == min(len(c["seeds"]) for c in doc["config"].values()) == 2
    assert findings.grade_of(doc) == "smoke test, not evidence"


def test_the_cli_grades_a_finished_sweep_by_its_runs_seeds(capsys):
    from elasticity import cli, render
    from harness import engine

    path = FIXTURES / "rebound" / "cpu-full-sft" / "result.json"
    cli._finish(engine.Outcome(path, True, 1, 1), None, False, render.rebound, "rebound")
    out = capsys.readouterr().out
    assert "[smoke test, not evidence] 2 seeds (evidence needs 10 or more" in out and f"saved {path}" in out


def _k_row(nominal, operating, ci, predicted=None):
    return {"k_mode": "steps", "nominal_k": nominal, "operating_point_k": operating,
            "predicted": nominal if predicted is None else predicted,
            "observed": {"mean": None if ci is None else sum(ci) / 2, "ci95": ci, "undefined": None}}


def test_the_k_sentences_follow_the_numbers_not_the_mode():
    """The sentence once fixed for sequential fine-tuning ("measures the operating point, not k")
    is read from the intervals: the same mode says the opposite when its data do."""
    at_operating_point = [_k_row(100, 4.4, [3.0, 6.0]), _k_row(300, 4.5, [4.0, 5.0])]
    at_k = [_k_row(100, 4.4, [80.0, 120.0]), _k_row(300, 4.5, [250.0, 400.0])]
    neither = [_k_row(100, 4.4, [-1.0, -0.5]), _k_row(300, 4.5, None)]  # the issue's -0.78 against 4.43
    assert findings._k_verdict("steps", at_operating_point) == (
        "steps: the 95% interval covers the nominal k at 0 of 2 sizes, the operating point at 2 of 2: "
        "it measures the operating point, not k")
    assert findings._k_verdict("steps", at_k).endswith("nominal k at 2 of 2 sizes, the operating point at 0 of 2: "
                                                       "it recovers k")
    assert findings._k_verdict("steps", neither) == (
        "steps: the 95% interval covers the nominal k at 0 of 2 sizes, the operating point at 0 of 2 "
        "(undefined at 1): neither k nor the operating point")
    assert findings._k_control("steps", at_k).endswith("the optimal compressor gives k exactly")
    assert findings._k_control("steps", [_k_row(100, 4.4, None, predicted=90.0)]).endswith("values away from k")


def test_the_rebound_line_reports_the_crossings_it_read():
    rows = findings.findings(FIXTURES)
    doc = store.read_result(FIXTURES / "rebound" / "micro-dpo" / "result.json")
    (first, *_) = [c for c in doc["metrics"]["curves"] if c["arm"] == "pretrained"]
    effect = _by(rows, "rebound", "micro-dpo")["effect"]
    assert effect.startswith(f"Q1 = {first['q1']}: ") and f"{first['crossing_q2']['never']} never" in effect
    never = {**first, "crossing_q2": {**first["crossing_q2"], "mean": None, "n": 0, "never": 2}}
    assert findings._crossings([never]) == f"Q1 = {first['q1']}: no seed returns, 2 never"
