"""A battery of bad inputs through the CLI, every subcommand: each must end with exit status 2,
one line on stderr that starts with ``elasticity: error:`` and says what is wrong, no
traceback, and nothing written (the results folder and the working directory stay empty)."""

import zipfile

import numpy as np
import pytest

from elasticity.cli import main


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("inputs")
    (d / "empty.npy").write_bytes(b"")
    np.save(d / "complex.npy", np.array([0.5 + 1j, 0.5]))
    np.save(d / "objects.npy", np.array([0.5, None], dtype=object))  # needs pickle: refused
    np.savez(d / "tokens.npz", sequences=np.zeros((4, 3), dtype=np.int64), lengths=np.full(4, 3))
    (d / "truncated.npz").write_bytes((d / "tokens.npz").read_bytes()[:60])
    np.savez(d / "nolengths.npz", sequences=np.zeros((4, 3), dtype=np.int64))
    (d / "text.npy").write_text("not numpy at all")
    (d / "bad.yaml").write_text("q1: [1, 2\n")
    (d / "dup.yaml").write_text("q1: [50, 50]\n")
    with zipfile.ZipFile(d / "weird.npz", "w") as z:
        z.writestr("sequences.npy", b"garbage")
    return d


CASES = [
    # theory
    (["theory", "--alpha", "1e308", "--k", "10"], "alpha must be <= 100"),
    (["theory", "--alpha", "1", "--k", "10"], "alpha must be >= 1.1"),
    (["theory", "--alpha", "2", "--k", "1e13"], "k must be <= 1e+12"),
    (["theory", "--alpha", "2", "--k", "10", "--l", "1e13"], "l must be <= 1e+12"),
    (["theory", "--alpha", "2", "--k", "-1"], "k must be > 0"),
    (["theory", "--alpha", "nan", "--k", "10"], "not a finite number"),
    (["theory", "--alpha", "2,x", "--k", "10"], "'x' is not a number"),
    # audit
    (["audit", "--run-id", "../x"], "run_id must be"),
    (["audit", "--run-id", "x\n"], "run_id must be"),
    (["audit", "--run-id", ""], "run_id must be"),
    # sim
    (["sim", "check", "--alpha", "3", "--k", "100", "--replicates", "10000000000000"],
     r"replicates must be in [2, 1000000]"),
    (["sim", "check", "--alpha", "3", "--k", "100", "--depth", "26"], "depth must be in [2, 25]"),
    (["sim", "check", "--alpha", "1e308", "--k", "100"], "alpha must be <= 100"),
    (["sim", "check", "--alpha", "3", "--k", "100", "--run-id", ""], "run_id must be"),
    (["sim", "check", "--alpha", "3", "--k", "100", "--run-id", "x\n"], "run_id must be"),
    (["sim", "check", "--alpha", "3", "--k", "100", "--seed", "-1"], "'--seed'"),
    (["sim", "convergence", "--alpha", "3", "--k", "100", "--depths", "8.5,10"], "integers only"),
    (["sim", "convergence", "--alpha", "3", "--k", "100", "--depths", "8"], "at least two"),
    (["sim", "huffman", "--random", "100000000000"], "'--random'"),
    (["sim", "huffman"], "exactly one of --file and --random"),
    (["sim", "huffman", "--file", "{d}/empty.npy"], "{d}/empty.npy is empty (0 bytes)"),
    (["sim", "huffman", "--file", "{d}/complex.npy"], "{d}/complex.npy: expected real numbers"),
    (["sim", "huffman", "--file", "{d}/text.npy"], "{d}/text.npy is not a readable"),
    (["sim", "huffman", "--file", "{d}/missing.npy"], "no such file: {d}/missing.npy"),
    (["sim", "huffman", "--file", "{d}/objects.npy"], "{d}/objects.npy is not a readable"),
    (["sim", "tree", "{d}/truncated.npz"], "{d}/truncated.npz is not a readable"),
    (["sim", "tree", "{d}/weird.npz"], "{d}/weird.npz [sequences]: not a .npy array"),
    (["sim", "tree", "{d}/nolengths.npz"], "needs arrays 'sequences' and 'lengths'"),
    (["sim", "tree", "{d}/empty.npy"], "is empty"),
    (["sim", "tree", "{d}/tokens.npz", "--sizes", "1,2"], "--sizes needs 1 values"),
    (["sim", "fit", "--masses", "{d}/complex.npy"], "expected real numbers"),
    # rebound: every field checked before anything is written
    (["rebound", "--preset", "micro", "--set", "pretrain.lr=nan"], "must be a finite number"),
    (["rebound", "--preset", "micro", "--set", "first_lr=-1e-3"], "first_lr must be > 0"),
    (["rebound", "--preset", "micro", "--set", "batch_size=0"], "batch_size must be >= 1"),
    (["rebound", "--preset", "micro", "--set", "pretrain.steps=-1"], "pretrain: steps must be > 0"),
    (["counterfactual", "--preset", "micro", "--set", "fractions=0.5"], "at least two values"),
    (["counterfactual", "--preset", "micro", "--set", "target_score=1.5"], "target_score"),
    (["world", "--set", "zipf_s=-1"], "zipf_s must lie in"),
    (["world", "--preset", "rebound/huge"], "unknown rebound preset 'huge'"),
    (["rebound", "--preset", "micro", "--set", "seeds=-1"], "seeds values must be >= 0"),
    (["rebound", "--preset", "micro", "--set", "dpo_beta=-1"], "dpo_beta must be > 0"),
    (["rebound", "--preset", "micro", "--set", "max_new_tokens=0"], "max_new_tokens must be >= 1"),
    (["rebound", "--preset", "micro", "--set", "q1=50,50"], "q1 has duplicate values"),
    (["rebound", "--preset", "micro", "--shard", "3/2"], "need 0 <= i < N"),
    (["rebound", "--preset", "micro", "--workers", "0"], "'--workers'"),
    (["rebound", "--preset", "micro", "--run-id", ""], "run_id must be"),
    (["rebound", "--preset", "micro", "--run-id", "x\n"], "run_id must be"),
    (["rebound", "--preset", "micro", "--config", "{d}/bad.yaml"], "not valid YAML"),
    (["rebound", "--preset", "micro", "--config", "{d}/dup.yaml"], "q1 has duplicate values"),
    (["rebound", "--preset", "micro", "--config", "{d}/missing.yaml"], "cannot read"),
    (["rebound", "--preset", "micro", "--report-to", "tensorboard"], "--report-to applies to the trl stages"),
    (["rebound", "--preset", "micro", "--report-to", "tensorbored"], "unknown --report-to integration"),
    (["resist", "--preset", "micro", "--report-to", "wandb"], "--report-to wandb: not installed"),
    (["resist", "--preset", "micro", "--report-to", "tensorboard"], "--report-to applies to the trl stages"),
    # resist
    (["resist", "--preset", "micro", "--warmup-data-dir", "/nonexistent"], "warmup_data_dir applies to"),
    (["resist", "--preset", "micro", "--set", "temperature=0"], "temperature > 0"),
    (["resist", "--preset", "micro", "--set", "path_lr=nan"], "must be a finite number"),
    # config, figures, reproduce
    (["config", "show", "rebound", "huge"], "unknown rebound preset 'huge'"),
    (["config", "show", "nonsense", "micro"], "unknown experiment 'nonsense'"),
    (["figures", "{d}/missing-dir"], "is not a directory"),
    (["reproduce", "--preset", "nope"], "'--preset'"),
]


@pytest.mark.parametrize("args, message", CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_bad_input_fails_cleanly_and_writes_nothing(files, tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)  # the default results folder would land here
    stores = args[0] in ("rebound", "resist", "audit", "counterfactual") or args[:2] == ["sim", "check"]
    argv = [a.replace("{d}", str(files)) for a in args] + (["--results", str(tmp_path / "results")]
                                                           if stores else [])
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("elasticity: error:"), err
    assert message.replace("{d}", str(files)) in lines[0], err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == [], "bad input must write nothing"
