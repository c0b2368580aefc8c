"""``elasticity verify --rerun N RUN_DIR``: a seed recomputed here comes back bit for bit; a seed
that does not is reported with both values, whether the rerun lies in the run's interval, and the
verdict with it; what cannot be rerun is refused in one line."""

import copy

import pytest

from console import run_cli
from elasticity import rerun, runs
from harness import overrides, presets

SMALL = ["seeds=0,1,2", "pretrain.steps=10", "part_size=16"]  # seconds, not minutes: the mechanics only


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """Made by the command in a fresh process, as the rerun is: in the full suite, a run made inside
    the test process (after other tests loaded other libraries into it) came back with other last
    bits from a fresh process, while the same run made by the command did not."""
    root = tmp_path_factory.mktemp("res")
    out = run_cli("resist", "--preset", "micro", *(a for x in SMALL for a in ("--set", x)), "--results", str(root),
                  "--run-id", "small")
    assert out.returncode == 0, out.stderr
    return root / "resist" / "small"


@pytest.fixture(scope="module")
def finished_here(tmp_path_factory):
    """The same run made in this process, for a rerun in this process (the same last bits)."""
    root = tmp_path_factory.mktemp("here")
    config = overrides.with_overrides(presets.RESIST["micro"], SMALL)
    return runs.resist(config, results=root, run_id="small").path.parent


def test_a_rerun_seed_comes_back_bit_identical_through_the_cli(finished):
    out = run_cli("verify", "--rerun", "1", str(finished))
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if line.startswith("seed ")]
    assert len(lines) == 3 and all(line.startswith("seed 0 pair") and line.endswith("bit-identical yes")
                                   for line in lines)
    assert "made on:" in out.stdout and "rerun on:" in out.stdout


def test_a_seed_whose_bits_differ_is_reported_with_its_interval_and_verdict(finished_here, monkeypatch):
    """The rerun's record differs in one number by one part in 1e12 (a last-bit difference grown by
    training): the seed is not bit-identical, its effect moves, and it stays in the run's interval."""
    from empirical import resist_synthetic

    real = resist_synthetic.run_seed

    def nudged(config, seed, pretrained=True):
        record = copy.deepcopy(real(config, seed, pretrained))
        if pretrained:
            record["pairs"][0]["forward_relative"] *= 1 + 1e-12
        return record

    monkeypatch.setattr(resist_synthetic, "run_seed", nudged)
    report = rerun.rerun(finished_here, 2)
    first = [r for r in report["rows"] if r["effect"] == "pair 1,2"]
    assert [r["seed"] for r in first] == [0, 1]
    assert not any(r["bit_identical"] for r in first) and all(r["rerun"] != r["committed"] for r in first)
    assert all(r["inside_ci95"] is True for r in first)
    others = [r for r in report["rows"] if r["effect"] != "pair 1,2"]
    assert all(r["bit_identical"] and not r["records_identical"] for r in others)  # same cell, one number off


@pytest.mark.parametrize("n, message", [("4", "the run has 3 seeds"), ("0", "must be an integer >= 1, got 0")])
def test_bad_seed_counts_exit_2_in_one_line(finished, n, message):
    out = run_cli("verify", "--rerun", n, str(finished))
    assert out.returncode == 2 and message in out.stderr and out.stderr.count("\n") == 1


def test_a_run_without_a_per_seed_effect_is_refused(tmp_path):
    runs.sim_check(3.0, 100.0, 0.0, depth=4, replicates=3, results=tmp_path, run_id="s")
    out = run_cli("verify", "--rerun", "1", str(tmp_path / "sim-check" / "s"))
    assert out.returncode == 2 and "applies to resist and counterfactual runs" in out.stderr


def test_a_run_of_an_older_protocol_is_refused_not_reinterpreted(finished, monkeypatch):
    from empirical import resist

    monkeypatch.setattr(resist.Resist, "protocol_version", resist.PROTOCOL_VERSION + 1)
    with pytest.raises(ValueError, match=f"made by protocol version {resist.PROTOCOL_VERSION}; this code runs"):
        rerun.rerun(finished, 1)
