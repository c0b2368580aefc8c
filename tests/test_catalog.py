"""``elasticity runs`` and ``elasticity.load`` on the committed fixtures: every run listed and
readable, its typed result's summary, per-seed table and figures; runs graded by the
configuration they ran, not by the name they were given."""

import json
import shutil
from pathlib import Path

import pytest

import elasticity
from console import run_cli
from elasticity import catalog, findings
from harness import presets, store

FIXTURES = "tests/fixtures/results"


def test_runs_lists_every_committed_result_readably():
    rows = catalog.runs(FIXTURES)
    paths = sorted(p.parent for p in Path(FIXTURES).glob("*/*/result.json"))
    assert len(rows) == len(paths) and all("error" not in r for r in rows), [r for r in rows if "error" in r]
    standard = next(r for r in rows if r["run_id"].startswith("cpu-standard"))
    assert standard["preset"] == "cpu-standard" and standard["seeds"] == 48 and standard["grade"] == "evidence"
    assert standard["clean"] and standard["commit"]
    assert standard["trainer"] == "ensemble" and standard["numerics"] == "portable"  # as made by make_fixtures
    theory = next(r for r in rows if r["experiment"] == "theory-curves")
    assert theory["trainer"] is None  # no trainer choice: none shown


def test_runs_command_prints_json_and_refuses_a_missing_folder(tmp_path):
    out = run_cli("runs", FIXTURES, "--json")
    assert out.returncode == 0, out.stderr
    assert {r["run_id"] for r in json.loads(out.stdout)} == {r["run_id"] for r in catalog.runs(FIXTURES)}
    bad = run_cli("runs", str(tmp_path / "nope"))
    assert bad.returncode == 2 and "is not a directory" in bad.stderr


def test_load_gives_a_typed_result_with_summary_per_seed_and_figures():
    (folder,) = Path(FIXTURES).glob("counterfactual/cpu-standard-*")
    result = elasticity.load(folder)
    doc = store.read_result(folder, experiment="counterfactual")
    assert result.experiment == "counterfactual" and result.verdict == doc["verdict"]
    primary = next(row for row in result.summary() if row["quantity"] == "primary effect")
    assert primary["mean"] == doc["effect"]["mean"]
    table = result.per_seed()
    rows = table[(table["quantity"] == "primary") & ~table["excluded"]]  # the seeds the verdict reads
    stored = {int(s): v for s, v in doc["effect"]["per_seed"].items()}
    assert dict(zip(rows["seed"], rows["value"], strict=True)) == stored
    figure = result.figure("counterfactual_effect")
    assert figure.axes and figure.axes[0].lines
    with pytest.raises(ValueError, match="no figure 'nonsense'"):
        result.figure("nonsense")


def test_a_run_is_graded_by_its_stored_config_not_its_name(tmp_path):
    """A smoke-test configuration saved under an evidence-sounding name is still a smoke test."""
    (folder,) = Path(FIXTURES).glob("resist/micro-synthetic")
    doc = store.read_result(folder, experiment="resist")
    assert findings.preset_of(doc) == "micro"
    renamed = dict(doc, run_id="decisive-run")
    assert findings.grade_of(renamed) == "smoke test, not evidence"
    assert findings.preset_of(dict(doc, config={**doc["config"], "seeds": list(range(12))})) is None
    assert presets.RESIST["micro"].as_dict() == doc["config"]
    shutil.copytree(folder, tmp_path / "resist" / "micro-synthetic")
    (tmp_path / "resist" / "micro-synthetic" / "result.json").write_text("{}")
    (row,) = catalog.runs(tmp_path)
    assert "error" in row  # a damaged result is listed with its reason, not served
