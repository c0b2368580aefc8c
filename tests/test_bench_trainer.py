"""benchmarks/bench_trainer.py: its comparison arithmetic, and a refusal before minutes of training."""

import importlib.util
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location(
    "bench_trainer", Path(__file__).resolve().parents[1] / "benchmarks" / "bench_trainer.py")
bench = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(bench)


def test_agreement_reads_per_seed_moves_and_the_loops_interval():
    loop = {"per_seed": {"1": 0.5, "2": -0.25, "3": 0.0}, "mean": 0.08, "ci95": [-0.4, 0.6], "verdict": "not resolved"}
    ensemble = {"per_seed": {"1": 0.25, "2": 0.5, "4": 1.0}, "mean": 0.7, "ci95": [0.1, 1.3], "verdict": "elasticity"}
    got = bench._agreement(loop, ensemble)
    assert got == {"per_seed_max_abs_diff": 0.75, "seeds_in_one_only": ["3", "4"], "same_verdict": False,
                   "ensemble_mean_in_loop_ci95": False}  # 0.7 lies above the loop's 0.6
    inside = bench._agreement(loop, {**ensemble, "mean": 0.6, "verdict": "not resolved"})
    assert inside["ensemble_mean_in_loop_ci95"] is True and inside["same_verdict"] is True


@pytest.mark.parametrize("taken", ["folder", "file"])
def test_an_out_that_exists_is_refused_before_any_training(tmp_path, capsys, taken):
    (tmp_path / "bench.json").write_text("{}")
    out = tmp_path if taken == "folder" else tmp_path / "bench.json"
    with pytest.raises(SystemExit) as stop:
        bench.main(["--experiment", "resist", "--out", str(out)])
    assert stop.value.code == 2 and "is not an empty folder" in capsys.readouterr().err
