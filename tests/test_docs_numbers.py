"""Every table and value README.md and docs/*.md quote from a run, a measurement or the theory is
generated (tools/docs_tables.py) from a committed result file, docs/measurements.json or the code,
and every result file was made by committed code: a clean tree at a commit that is in this
repository's history. (The numbers outside generated text: tests/test_docs_inventory.py.)"""

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "results"


def _docs_tables():
    spec = importlib.util.spec_from_file_location("docs_tables", ROOT / "tools" / "docs_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_quoted_tables_are_the_result_files():
    tables = _docs_tables()
    blocks = 0
    for path in tables.DOCS:
        text = path.read_text()
        blocks += text.count("<!-- generated: ") + text.count("<!-- value: ")
        assert tables.rewritten(text) == text, f"{path.name} disagrees with its result files: run tools/docs_tables.py"
    assert blocks > 20  # the README, errata, experiments, design and simulation pages quote generated text


def test_the_check_fails_when_a_quoted_number_is_edited():
    tables = _docs_tables()
    text = (ROOT / "docs" / "experiments.md").read_text()
    start = text.index("<!-- generated: counterfactual-confirmatory -->")
    digit = next(i for i in range(start, len(text)) if text[i].isdigit() and text[i - 1] == ".")
    edited = text[:digit] + str((int(text[digit]) + 1) % 10) + text[digit + 1:]
    assert tables.rewritten(edited) != edited


@pytest.mark.parametrize("path", sorted(FIXTURES.rglob("result.json")), ids=lambda p: str(p.relative_to(FIXTURES)))
def test_every_committed_result_was_made_by_committed_code(path):
    provenance = json.loads(path.read_text())["provenance"]
    assert provenance["git_dirty"] is False, f"{path} was made from a tree with uncommitted changes"
    sha = provenance["git_sha"]
    known = subprocess.run(["git", "cat-file", "-e", f"{sha}^{{commit}}"], cwd=ROOT, capture_output=True)
    assert known.returncode == 0, f"{path} names commit {sha}, which is not in this repository's history"


def test_the_calibration_chose_the_window_the_confirmatory_run_declares():
    """The pre-declared rule, applied to the committed calibration run, chooses the window that
    cpu-standard declares (and the confirmatory result reads that declaration)."""
    from harness import presets

    (calibration,) = (FIXTURES / "counterfactual").glob("calibration-*/result.json")
    (confirmatory,) = (FIXTURES / "counterfactual").glob("cpu-standard-*/result.json")
    chosen = json.loads(calibration.read_text())["metrics"]["earliest_window_with_control"]
    declared = presets.COUNTERFACTUAL["cpu-standard"].primary_endpoint.q2
    assert [chosen] == list(declared) == json.loads(confirmatory.read_text())["primary_endpoint"]["q2"]


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("counterfactual/*/result.json")), ids=lambda p: p.parent.name)
def test_each_counterfactual_fixture_carries_its_per_seed_table(path):
    """per-seed.csv beside the result holds the same per-seed primary values the result does."""
    import csv

    with (path.parent / "per-seed.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    primary = {int(r["seed"]): float(r["value"]) for r in rows
               if r["quantity"] == "primary" and r["excluded"] == "False"}
    stored = json.loads(path.read_text())["effect"]["per_seed"]
    assert primary == {int(s): v for s, v in stored.items()}


def test_the_confirmatory_verdict_is_recomputed_from_its_committed_per_seed_table():
    """Anyone with per-seed.csv and the declared margin can recompute the published verdict: the
    primary's mean and interval over the seeds the rule kept, the equivalence test, and whether
    some anchor strength was detected (its added effect's interval above 0)."""
    import csv

    from empirical import statistics

    (path,) = (FIXTURES / "counterfactual").glob("cpu-standard-*/result.json")
    doc = json.loads(path.read_text())
    with (path.parent / "per-seed.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    kept = [float(r["value"]) for r in rows if r["quantity"] == "primary" and r["excluded"] == "False"]
    primary = statistics.mean_ci(kept)
    # the same values in the same order: equal up to the csv's decimal round trip (17 digits)
    assert primary["mean"] == pytest.approx(doc["effect"]["mean"], rel=1e-12, abs=1e-15)
    assert primary["ci95"] == pytest.approx(doc["effect"]["ci95"], rel=1e-12, abs=1e-15)
    betas = sorted({r["anchor_beta"] for r in rows if r["quantity"] == "anchor added"})
    detected = any(statistics.mean_ci([float(r["value"]) for r in rows if r["anchor_beta"] == b])["ci95"][0] > 0
                   for b in betas)
    verdict = statistics.verdict(primary["ci95"], statistics.equivalence(primary, doc["sesoi"]))
    assert (verdict if detected or verdict != "equivalent" else "not resolved") == doc["verdict"]
