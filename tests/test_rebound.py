"""The rebound protocol end to end on the micro preset: results, resume, shards, bad input."""

import json

import pytest

from elasticity import overrides, presets, store
from empirical import rebound as protocols
from test_cli import run as run_cli

MICRO = presets.REBOUND["micro"]


def test_micro_end_to_end_and_resume_after_interruption(tmp_path):
    """Interrupt after three cells; the rerun finishes without redoing them."""
    def stop_after_three(done, total):
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        protocols.run(MICRO, tmp_path, "r", progress=stop_after_three)
    cells = tmp_path / "rebound" / "r" / "cells"
    first = {p.name: p.stat().st_mtime_ns for p in cells.glob("*.json")}
    assert len(first) == 3 and not (tmp_path / "rebound" / "r" / "result.json").exists()
    path = protocols.run(MICRO, tmp_path, "r").path
    assert all(p.stat().st_mtime_ns == first[p.name] for p in cells.glob("*.json") if p.name in first)
    doc = store.read_result(path, experiment="rebound")
    assert len(doc["cells"]) == protocols.n_cells(MICRO) == 14
    assert 0 < doc["reference_score"] < 1
    for cell in doc["cells"]:
        assert {"q1", "q2", "seed", "score", "code_length_nats"} <= set(cell)
        assert set(cell["code_length_nats"]) == {"pre", "align", "perturb"}
        assert cell["learning_rate"] == {"first": MICRO.first_lr, "second": MICRO.second_lr}
    arms = {c["arm"] for c in doc["cells"]}
    assert arms == {"pretrained", "scratch", "no_sft"}
    assert (tmp_path / "rebound" / "r" / "world" / "world.npz").is_file()
    versus = doc["metrics"]["elasticity_vs_controls"]
    assert [row["q1"] for row in versus] == list(MICRO.q1) and all(row["verdict"] for row in versus)
    curve = next(c for c in doc["metrics"]["curves"] if c["arm"] == "pretrained")
    assert [e["q2"] for e in curve["predicted_vs_observed"]] == [0, *MICRO.q2]
    assert doc["config"]["variant"] == "sft" and doc["provenance"]["seed"] == [0]


def test_shards_split_the_groups_and_the_last_one_summarizes(tmp_path):
    """Two groups (Q1 = 50, 200); shard 0/2 runs the first and cannot summarize yet, shard
    1/2 runs the second and writes the result with all cells."""
    config = overrides.with_overrides(MICRO, ["controls=false", "q2=20"])
    assert len(protocols.groups(config)) == 2
    assert protocols.run(config, tmp_path, "s", shard=(0, 2)).path is None
    path = protocols.run(config, tmp_path, "s", shard=(1, 2)).path
    assert len(store.read_result(path)["cells"]) == protocols.n_cells(config) == 4


@pytest.mark.parametrize("variant", ["dpo", "reversed"])
def test_other_variants_run(tmp_path, variant):
    config = overrides.with_overrides(MICRO, [f"variant={variant}", "controls=false", "q1=50", "q2=20"])
    doc = store.read_result(protocols.run(config, tmp_path, variant).path)
    assert len(doc["cells"]) == 2 and doc["metrics"]["variant"] == variant
    first = doc["metrics"]["curves"][0]["predicted_vs_observed"][0]["observed_code_length_nats"]
    assert set(first) == {"pre", "align", "perturb"}


def test_changed_config_in_the_same_run_is_refused(tmp_path):
    config = overrides.with_overrides(MICRO, ["controls=false", "q1=50", "q2=20"])
    protocols.run(config, tmp_path, "x")
    other = overrides.with_overrides(config, ["second_lr=0.001"])
    with pytest.raises(store.StoreError, match=r"another configuration \(differs in: second_lr\)"):
        protocols.run(other, tmp_path, "x")


def test_cli_rebound_json_and_errors(tmp_path):
    out = run_cli("rebound", "--preset", "micro", "--set", "controls=false", "--set", "q1=50",
                  "--set", "q2=20", "--results", str(tmp_path), "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["run_id"].startswith("micro-sft-") and len(doc["cells"]) == 2
    for args, message in [(("--preset", "huge"), "Invalid value for '--preset'"),
                          (("--preset", "micro", "--set", "q2=99999"), "larger than the second-stage set"),
                          (("--preset", "micro", "--shard", "3/2"), "need 0 <= i < N"),
                          (("--preset", "micro", "--set", "q1=50,50"), "q1 has duplicate values")]:
        bad = run_cli("rebound", *args, "--results", str(tmp_path))
        assert bad.returncode == 2 and "Traceback" not in bad.stderr, bad.stderr
        assert message in bad.stderr.strip().splitlines()[-1]
    assert [p.name for p in (tmp_path / "rebound").iterdir()] == [doc["run_id"]]  # nothing else written


def test_sweep_runs_each_config_and_indexes_them(tmp_path):
    base = overrides.with_overrides(MICRO, ["controls=false", "q1=50", "q2=20"])
    named = [("a", base), ("b", overrides.with_overrides(base, ["second_lr=0.001"]))]
    doc = store.read_result(protocols.run_sweep(named, tmp_path, "sw").path)
    assert [r["run"] for r in doc["metrics"]["runs"]] == ["a", "b"]
    assert {c["run"] for c in doc["cells"]} == {"a", "b"} and len(doc["cells"]) == 4
    assert (tmp_path / "rebound" / "sw.a" / "result.json").is_file()


def test_cpu_full_preset_is_the_paper_grid():
    from elasticity.presets import SWEEPS

    named = dict(SWEEPS["cpu-full"])
    centre = named["centre"]
    assert centre.q1 == (1000, 2000, 5000, 10000) and centre.q2 == (100, 200, 500, 1000, 2000)
    assert centre.seeds == (0, 1, 2) and centre.controls
    assert {c.model_size for c in named.values()} == {"tiny", "small", "medium"}
    assert {c.pretrain_epochs for c in named.values()} == {1, 2, 4}
    assert len({c.second_lr for c in named.values()}) == 3
