"""`elasticity sim ...` end to end in a subprocess."""

import json

import numpy as np
import pytest

from console import run_cli as run


def test_sim_check_json_and_resume(tmp_path):
    args = ("sim", "check", "--alpha", "3", "--k", "100", "--l", "0.01", "--depth", "10",
            "--replicates", "8", "--seed", "1", "--json", "--results", str(tmp_path))
    first = run(*args)
    assert first.returncode == 0, first.stderr
    r = json.loads(first.stdout)
    for name in ("gamma_1", "gamma_2", "dgamma_1_dl", "dgamma_2_dl"):
        assert set(r[name]) == {"mean", "ci95"} and len(r[name]["ci95"]) == 2
        assert isinstance(r["exact_inside_ci95"][name], bool) and name in r["exact"]
    saved = list((tmp_path / "sim-check").glob("[!.]*"))
    assert len(saved) == 1 and saved[0].name.startswith("a3-k100-l0.01-d10-r8-s1-")
    stamp = (saved[0] / "result.json").stat().st_mtime_ns
    second = run(*args)  # finished run_id: read back, not recomputed
    assert json.loads(second.stdout) == r
    assert (saved[0] / "result.json").stat().st_mtime_ns == stamp


def test_sim_convergence_saves_its_result_and_reads_it_back(tmp_path):
    args = ("sim", "convergence", "--alpha", "3", "--k", "100", "--depths", "10,8", "--replicates", "4",
            "--json", "--results", str(tmp_path))
    first = run(*args)
    assert first.returncode == 0, first.stderr
    (saved,) = (tmp_path / "sim-convergence").glob("[!.]*")
    stored = json.loads((saved / "result.json").read_text())
    assert stored["metrics"] == json.loads(first.stdout) and stored["config"]["depths"] == [8, 10]
    stamp = (saved / "result.json").stat().st_mtime_ns
    again = run(*args[:7], "8,10", *args[8:])  # the same depths in another order: the same run
    assert json.loads(again.stdout) == stored["metrics"] and "read back" in again.stderr
    assert (saved / "result.json").stat().st_mtime_ns == stamp


def test_sim_huffman_random_and_file(tmp_path):
    out = run("sim", "huffman", "--random", "1000", "--seed", "3", "--json")
    r = json.loads(out.stdout)
    assert r["kraft_sum"] == 1.0 and r["entropy_bits"] <= r["expected_length_bits"] < r["entropy_bits"] + 1
    np.save(tmp_path / "p.npy", np.array([0.4, 0.2, 0.2, 0.1, 0.1]))
    r = json.loads(run("sim", "huffman", "--file", str(tmp_path / "p.npy"), "--json").stdout)
    assert abs(r["expected_length_bits"] - 2.2) < 1e-12


def test_sim_tree_mixture_and_fit(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "a.npz", sequences=rng.integers(0, 2, (400, 10)), lengths=rng.integers(0, 11, 400))
    np.save(tmp_path / "b.npy", rng.integers(0, 2, (300, 6)))
    out = run("sim", "tree", str(tmp_path / "a.npz"), str(tmp_path / "b.npy"), "--depth", "6",
              "--sizes", "10,1", "--json")
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert [t["responses"] for t in r["trees"]] == [400, 300]
    assert len(r["mixture"]["cross_entropy_bits"]) == 2
    fit = run("sim", "fit", str(tmp_path / "a.npz"), "--json")
    assert fit.returncode == 0 and "best_by_ks" in json.loads(fit.stdout)


@pytest.mark.parametrize("args, message", [
    (("sim", "check", "--alpha", "3", "--k", "10", "--depth", "30"), "must be in [2, 25]"),
    (("sim", "check", "--alpha", "0.5", "--k", "10"), "alpha must be >= 1.1"),
    (("sim", "huffman"), "exactly one of --file and --random"),
    (("sim", "tree", "/nonexistent.npy"), "no such file: /nonexistent.npy"),
])
def test_sim_bad_input(args, message):
    out = run(*args)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and message in out.stderr, out.stderr


def test_sim_tree_bad_file(tmp_path):
    (tmp_path / "x.npy").write_bytes(b"not numpy")
    out = run("sim", "tree", str(tmp_path / "x.npy"))
    assert out.returncode == 2 and "not a .npy/.npz file" in out.stderr and "Traceback" not in out.stderr
