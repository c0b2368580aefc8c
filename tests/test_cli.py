"""The ``elasticity`` console command end to end, as a user runs it (a subprocess)."""

import json

import pytest

from console import run_cli as run
from elasticity.render import THEORY_KEYS


def test_theory_json_single_point():
    out = run("theory", "--alpha", "2", "--k", "100", "--l", "0.01", "--json")
    assert out.returncode == 0, out.stderr
    row = json.loads(out.stdout)
    assert tuple(row) == THEORY_KEYS
    assert row["alpha"] == 2.0 and row["k"] == 100.0 and row["l"] == 0.01


def test_theory_json_grid_and_errors():
    out = run("theory", "--alpha", "2,3", "--k", "10,1e3", "--l", "0,0.01", "--json", "--errors")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert len(rows) == 8 and all(set(r["abs_error"]) == set(THEORY_KEYS[3:]) for r in rows)
    assert {(r["alpha"], r["k"], r["l"]) for r in rows} == {
        (a, k, l) for a in (2.0, 3.0) for k in (10.0, 1e3) for l in (0.0, 0.01)}


def test_theory_human_output():
    out = run("theory", "--alpha", "3", "--k", "1000")
    assert out.returncode == 0 and "dgamma_2_dl" in out.stdout and "difference form" in out.stdout


def test_audit_json_and_store(tmp_path):
    out = run("audit", "--json", "--results", str(tmp_path), "--run-id", "t")
    assert out.returncode == 0, out.stderr
    items = json.loads(out.stdout)
    assert [i["claim"] for i in items] == ["eq77", "eq81", "eq85", "eq88", "eq91", "eq95", "eq98",
                                           "eq33", "eq34", "eq35", "thm2.5", "thmC.8", "defC.11"]
    assert all(set(i) == {"claim", "verdict", "evidence"} for i in items)
    saved = json.loads((tmp_path / "audit" / "t" / "result.json").read_text())
    assert [m["verdict"] for m in saved["metrics"]] == [i["verdict"] for i in items]


def test_audit_human_output(tmp_path):
    out = run("audit", "--results", str(tmp_path))
    assert out.returncode == 0
    assert "13 claims:" in out.stdout and "saved" in out.stdout


@pytest.mark.parametrize("args, message", [
    (("theory", "--alpha", "1", "--k", "10"), "alpha must be >= 1.1"),
    (("theory", "--alpha", "2", "--k", "-1"), "k must be > 0"),
    (("theory", "--alpha", "2", "--k", "10", "--l", "-0.5"), "l must be >= 0"),
    (("theory", "--alpha", "nan", "--k", "10"), "must be a finite number"),
    (("theory", "--alpha", "two", "--k", "10"), "cannot read 'two' as a number"),
    (("theory", "--alpha", "2,x", "--k", "10"), "cannot read 'x' as a number"),
    (("theory", "--k", "10"), "give --alpha and --k"),
    (("nonsense",), "No such command"),
    (("audit", "--run-id", "../x", "--results", "/tmp"), "run_id must be"),
])
def test_bad_input_one_line_error(args, message):
    out = run(*args)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("elasticity: error:") and message in lines[0], out.stderr


@pytest.mark.parametrize("args", [(), ("--help",), ("theory", "--help"), ("audit", "--help")])
def test_help_everywhere(args):
    out = run(*args)
    assert out.returncode == 0 and "Usage:" in out.stdout


def test_version():
    out = run("--version")
    assert out.returncode == 0 and "elasticity" in out.stdout
