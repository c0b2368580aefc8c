"""The findings at the top of the report and the end of ``make demo``: one line per claim and run,
read from the result files, with runs below the evidence threshold labelled as smoke tests."""

from pathlib import Path

from elasticity import findings
from harness import store

FIXTURES = Path(__file__).parent / "fixtures" / "results"


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


def test_no_results_say_so(tmp_path):
    assert findings.findings(tmp_path) == [] and findings.text([]) == "no finished results to report"


def test_a_run_below_the_seed_threshold_is_a_smoke_test():
    assert findings._grade("quick-x", findings.MIN_SEEDS - 1) == "smoke test, not evidence"
    assert findings._grade("quick-x", findings.MIN_SEEDS) == "evidence"
    assert findings._grade("micro-x", 100) == "smoke test, not evidence"
