"""A battery of bad inputs through the CLI, every subcommand: each must end with exit status 2,
one line on stderr that starts with ``elasticity: error:`` and says what is wrong, no
traceback, and nothing written (the results folder and the working directory stay empty)."""

import os
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
    (d / "dupkey.yaml").write_text("seeds: [0]\nseeds: [1]\n")
    (d / "intkey.yaml").write_text("1: 2\n")
    (d / "nullkey.yaml").write_text("~: 2\n")
    (d / "mixed.yaml").write_text("seeds: [0]\n3: x\n")
    (d / "bigseed.yaml").write_text("seeds: [1.0e+26]\n")
    (d / "list.yaml").write_text("- 1\n- 2\n")
    (d / "python.yaml").write_text("seeds: !!python/object/apply:os.system ['true']\n")
    (d / "a_dir.npy").mkdir()
    np.save(d / "nanmass.npy", np.array([1.0, 2.0, np.nan, 3.0, 4.0]))
    np.save(d / "negmass.npy", np.array([1.0, 2.0, -3.0, 3.0, 4.0]))
    np.save(d / "bools.npy", np.array([True, False]))
    os.mkfifo(d / "pipe.npy")  # reading it would block: refused as not a regular file, unopened
    return d


# (experiment, --set assignment, the message): what the declarations alone cannot say (parsing,
# rules between fields, the shape of --set) and the hostile inputs that once got through. Each
# field's own constraint is tested from its declaration (tests/test_declared_inputs.py).
SETS = [
    ("rebound", "seeds=9007199254740991.5", "cannot read '9007199254740991.5' as an integer"),
    ("rebound", "seeds=1_0", "cannot read '1_0' as an integer"),
    ("rebound", "seeds=\uff11", "as an integer"),
    ("rebound", "q1=100.000000000000001", "as an integer"),
    ("rebound", "q1=0x10", "as an integer"),
    ("rebound", "first_lr=1_0", "cannot read '1_0' as a number"),
    ("rebound", "first_lr=1e308", "first_lr must be a number in (0, 1], got 1e+308"),
    ("rebound", "pretrain.steps=9223372036854775808", "steps must be an integer in [1, 10000000]"),
    ("rebound", "world.response_length=1000000", "response_length must be an integer in [1, 21]"),
    ("rebound", "world.content_vocab=128", "<= 2^20 (exact enumeration: 128^3 responses"),
    ("rebound", "world.content_vocab=3", "content_vocab must be even"),
    ("rebound", "world.response_length=2", "response_length must be odd"),
    ("rebound", "world.n_pre=10", "pretrain.batch 128 is larger than D_pre (world.n_pre = 10)"),
    ("rebound", "batch_size=1e3", "batch_size 1000 is larger than a stage's set (256 examples)"),
    ("rebound", "dpo_beta=0.5", "dpo_beta applies only with variant=dpo"),
    ("rebound", "fixed_steps=64", "fixed_steps applies only with q2_mode=fixed-steps"),
    ("rebound", "max_new_tokens=10", "max_new_tokens applies only to a real model"),
    ("rebound", "world.alpha=2", "alpha applies only with law=pareto"),
    ("rebound", "eval_prompts=100", "eval_prompts must be <="),
    ("rebound", "k_fit_points=9", "k_fit_points must lie in"),
    ("rebound", "pretrain=3", "is a group of fields"),
    ("rebound", "pretrain.nonsense=3", "unknown field 'pretrain.nonsense'"),
    ("rebound", "dataset=imdb", "needs --model-path"),
    ("rebound", "=3", "--set expects FIELD=VALUE"),
    ("rebound", "seeds", "--set expects FIELD=VALUE"),
    ("resist", "no_pretraining=on,off", "no_pretraining must be one of auto, on, off"),
    ("resist", "part_size=100000", "four parts of 100000 examples"),
    ("resist", "dataset=alpaca", "needs --model-path"),
    ("counterfactual", "primary_endpoint.q2=48", "must be checkpoints of the Q2 grid"),
    ("counterfactual", "primary_endpoint.second_lr=0.5", "must be one of second_lrs"),
    ("counterfactual", "q2_mode=fixed-steps", "the positive controls (anchor_beta, spring, replay) run along"),
    ("counterfactual", "q1_dose=1000", "need q1_dose <= q1_max <= world.n_align"),
    ("counterfactual", "q2=16,32,100000", "larger than the perturbation set"),
    ("counterfactual", "replay_fraction=0.3", "replay_fraction applies only with replay=true"),
    ("counterfactual", "anchor_beta=3,3.0000000000001", "anchor_beta has equal values"),
]


CASES = [
    # issue 25's hostile inputs that reach the CLI rather than a config field
    (["audit", "--json", "--markdown"], "give --json or --markdown, not both"),
    (["rebound", "--preset", "micro", "--variant", "dpo", "--set", "variant=sft"], "variant is given both"),
    (["theory", "--alpha", "2_0", "--k", "10"], "cannot read '2_0' as a number"),
    (["theory", "--alpha", "\uff12", "--k", "10"], "as a number"),
    (["theory", "--alpha", "2,2", "--k", "10"], "has equal values [2.0]"),
    (["theory", "--alpha", "100.0000001", "--k", "10"], "got 100.0000001"),
    (["theory", "boundary", "--alpha", "2.6:2.6:3"], "has equal values [2.6]"),
    (["sim", "check", "--alpha", "3", "--k", "10", "--depth", "1_6"], "cannot read '1_6' as an integer"),
    # theory
    (["theory", "--alpha", "1e308", "--k", "10"], "alpha must be <= 100"),
    (["theory", "--alpha", "1", "--k", "10"], "alpha must be >= 1.1"),
    (["theory", "--alpha", "2", "--k", "1e13"], "k must be <= 1e+12"),
    (["theory", "--alpha", "2", "--k", "10", "--l", "1e13"], "l must be <= 1e+12"),
    (["theory", "--alpha", "2", "--k", "-1"], "k must be > 0"),
    (["theory", "--alpha", "nan", "--k", "10"], "must be a finite number, got 'nan'"),
    (["theory", "--alpha", "2,x", "--k", "10"], "cannot read 'x' as a number"),
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
    (["sim", "convergence", "--alpha", "3", "--k", "100", "--depths", "8.5,10"], "cannot read '8.5' as an integer"),
    (["sim", "convergence", "--alpha", "3", "--k", "100", "--depths", "8"], "at least two"),
    (["sim", "huffman", "--random", "100000000000"], "'--random'"),
    (["sim", "huffman"], "exactly one of --file and --random"),
    (["sim", "huffman", "--file", "{d}/empty.npy"], "{d}/empty.npy is empty (0 bytes)"),
    (["sim", "huffman", "--file", "{d}/complex.npy"], "{d}/complex.npy: expected real numbers"),
    (["sim", "fit", "{d}/text.npy", "--masses"], "{d}/text.npy is not a .npy/.npz file"),
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
    (["rebound", "--preset", "micro", "--set", "first_lr=-1e-3"], "first_lr must be a number in (0, 1], got -0.001"),
    (["rebound", "--preset", "micro", "--set", "batch_size=0"], "batch_size must be an integer in [1, 65536], got 0"),
    (["rebound", "--preset", "micro", "--set", "pretrain.steps=-1"], "steps must be an integer in [1, 1000"),
    (["counterfactual", "--preset", "micro", "--set", "fractions=0.5"], "fractions needs 2 to 10000 values"),
    (["counterfactual", "--preset", "micro", "--set", "target_score=1.5"], "target_score"),
    (["world", "--set", "zipf_s=-1"], "zipf_s must be a number in (0, 10], got -1.0"),
    (["world", "--preset", "rebound/huge"], "unknown rebound preset 'huge'"),
    (["rebound", "--preset", "micro", "--set", "seeds=-1"], "seeds has a value -1 that is not an integer"),
    (["rebound", "--preset", "micro", "--set", "dpo_beta=-1"], "dpo_beta must be a number in (0, 100], got -1.0"),
    (["rebound", "--preset", "micro", "--set", "max_new_tokens=0"], "max_new_tokens must be an integer in [1"),
    (["rebound", "--preset", "micro", "--set", "q1=50,50"], "q1 has equal values [50]"),
    (["rebound", "--preset", "micro", "--shard", "3/2"], "need 0 <= i < N"),
    (["rebound", "--preset", "micro", "--workers", "0"], "'--workers'"),
    (["rebound", "--preset", "micro", "--run-id", ""], "run_id must be"),
    (["rebound", "--preset", "micro", "--run-id", "x\n"], "run_id must be"),
    (["rebound", "--preset", "micro", "--config", "{d}/bad.yaml"], "not valid YAML"),
    (["rebound", "--preset", "micro", "--config", "{d}/dup.yaml"], "q1 has equal values [50]"),
    (["rebound", "--preset", "micro", "--config", "{d}/missing.yaml"], "cannot read"),
    (["rebound", "--preset", "micro", "--report-to", "tensorboard"], "--report-to applies to the trl stages"),
    (["rebound", "--preset", "micro", "--report-to", "tensorbored"], "unknown --report-to integration"),
    (["resist", "--preset", "micro", "--report-to", "wandb"], "--report-to wandb: not installed"),
    (["resist", "--preset", "micro", "--report-to", "tensorboard"], "--report-to applies to the trl stages"),
    # resist
    (["resist", "--preset", "micro", "--warmup-data-dir", "/nonexistent"], "warmup_data_dir applies only to"),
    (["resist", "--preset", "micro", "--set", "temperature=0"], "temperature must be a number in (0, 100], got 0.0"),
    (["resist", "--preset", "micro", "--set", "path_lr=nan"], "must be a finite number"),
    # config, figures, reproduce
    (["config", "show", "rebound", "huge"], "unknown rebound preset 'huge'"),
    (["config", "show", "nonsense", "micro"], "unknown experiment 'nonsense'"),
    (["figures", "{d}/missing-dir"], "is not a directory"),
    (["reproduce", "--preset", "nope"], "'--preset'"),
    # YAML configs: duplicate, non-text and null keys, values beyond the integers, code
    (["rebound", "--preset", "micro", "--config", "{d}/dupkey.yaml"], "duplicate key 'seeds'"),
    (["rebound", "--preset", "micro", "--config", "{d}/intkey.yaml"], "a key must be text"),
    (["rebound", "--preset", "micro", "--config", "{d}/nullkey.yaml"], "a key must be text"),
    (["rebound", "--preset", "micro", "--config", "{d}/mixed.yaml"], "a key must be text"),
    (["rebound", "--preset", "micro", "--config", "{d}/bigseed.yaml"], "is not exactly an integer"),
    (["rebound", "--preset", "micro", "--config", "{d}/list.yaml"], "expected a mapping of fields"),
    (["rebound", "--preset", "micro", "--config", "{d}/python.yaml"], "not valid YAML"),
    (["rebound", "--preset", "micro", "--config", "{d}"], "'--config'"),
    # options that would not apply to the synthetic world, and devices
    (["rebound", "--preset", "micro", "--lora-rank", "4"], "lora_rank applies only to a real model"),
    (["rebound", "--preset", "micro", "--scorer", "vader"], "scorer applies only to a real model"),
    (["rebound", "--preset", "micro", "--data-dir", "/nonexistent"], "data_dir applies only to a real model"),
    (["rebound", "--preset", "micro", "--columns", "garbage"], "columns applies only to a real model"),
    (["rebound", "--preset", "micro", "--trust-remote-code"], "trust_remote_code applies only to a real model"),
    (["rebound", "--preset", "micro", "--device", "cuda"], "no CUDA device is available here"),
    (["rebound", "--preset", "micro", "--device", "tpu"], "'--device'"),
    (["resist", "--preset", "micro", "--lora-rank", "8"], "lora_rank applies only to a real model"),
    (["resist", "--preset", "micro", "--columns", "a=b"], "columns applies only to a real model"),
    (["counterfactual", "--preset", "micro", "--shard", "x"], "--shard: expected i/N"),
    (["counterfactual", "--preset", "micro", "--shard", "1/0"], "need 0 <= i < N"),
    (["counterfactual", "--preset", "nope"], "'--preset'"),
    # theorem
    (["theorem", "--preset", "micro", "--set", "V=1"], "V must be an integer in [2, 1024]"),
    (["theorem", "--preset", "micro", "--set", "capacities=9"], "loglinear capacities are ranks <= V"),
    (["theorem", "--preset", "micro", "--set", "V=8", "--set", "L=6"], "V^L must be <= 32768 leaves"),
    (["theorem", "--preset", "micro", "--set", "llama_layers=2"], "llama_layers applies only with model=llama"),
    (["theorem", "--preset", "micro", "--set", "ks=0"], "ks has a value 0"),
    (["theorem", "--preset", "micro", "--set", "model=gpt"], "model must be one of loglinear, llama"),
    (["theorem", "--preset", "nope"], "'--preset'"),
    # theory map: the domain, duplicates and memory, checked before any lock or file
    (["theory", "map", "--alpha", "0.5:3:3", "--k", "1,10"], "alpha must be >= 1.1"),
    (["theory", "map", "--alpha", "2,3", "--k", "-5,10"], "k must be > 0"),
    (["theory", "map", "--alpha", "2,3", "--k", "1,10", "--l", "nan"], "must be a finite number, got 'nan'"),
    (["theory", "map", "--alpha", "2,2,3", "--k", "1,10"], "has equal values [2.0]"),
    (["theory", "map", "--alpha", "2,3", "--k", "1,1"], "has equal values [1.0]"),
    (["theory", "map", "--alpha", "1.5:6:100000", "--k", "1:1e6:100000:log"], "GiB; at most"),
    (["theory", "map", "--alpha", "2,3", "--k", "1,10", "--run-id", "../x"], "run_id must be"),
    (["theory", "map", "--alpha", "2:3:x", "--k", "1,10"], "expected START:STOP:N"),
    (["theory", "map", "--alpha", "2:3:0", "--k", "1,10"], "1 <= N <= 1e5"),
    (["theory", "map", "--alpha", "-1:3:3:log", "--k", "1,10"], "a log range needs START, STOP > 0"),
    (["theory", "boundary", "--alpha", "0.5"], "alpha must be >= 1.1"),
    (["theory", "--alpha", "2", "--k", "10", "--backend", "jax", "--errors"], "--errors needs --backend numpy"),
    (["theory"], "give --alpha and --k"),
    (["theory", "--alpha", "2", "map", "--alpha", "2,3", "--k", "1,10"], "--alpha before `map` would not apply"),
    (["theory", "--json", "boundary", "--alpha", "3"], "--json before `boundary` would not apply"),
    (["sim", "fit", "{d}/nanmass.npy", "--masses"], "masses must be finite numbers"),
    (["sim", "fit", "{d}/negmass.npy", "--masses"], "masses must be >= 0"),
    (["sim", "huffman", "--file", "{d}/bools.npy"], "got a boolean array"),
    # simulation inputs
    (["sim", "huffman", "--file", "{d}/a_dir.npy"], "is a directory"),
    (["sim", "huffman", "--file", "{d}/text.npy"], "not a .npy/.npz file (no NumPy or zip header)"),
    (["sim", "huffman", "--file", "/dev/zero"], "not a regular file"),
    (["sim", "huffman", "--file", "{d}/pipe.npy"], "not a regular file"),
    (["sim", "huffman", "--random", "0"], "'--random'"),
    (["sim", "huffman", "--random", "100000001"], "'--random'"),
    (["sim", "huffman"], "give exactly one of --file and --random"),
    (["sim", "check", "--alpha", "3", "--k", "10", "--depth", "26"], "depth must be in [2, 25]"),
    (["sim", "check", "--alpha", "3", "--k", "10", "--replicates", "1"], "replicates must be in [2, 1000000]"),
    (["sim", "check", "--alpha", "0.9", "--k", "10"], "alpha must be >= 1.1"),
    (["sim", "convergence", "--alpha", "3", "--k", "10", "--depths", "8"], "at least two different values"),
    (["sim", "convergence", "--alpha", "3", "--k", "10", "--depths", "8,30"], "depth must be in [2, 25]"),
    (["sim", "tree", "{d}/missing.npy"], "no such file"),
    (["sim", "fit", "{d}/empty.npy", "--masses"], "is empty"),
    # export and verify
    (["export", "{d}/missing-run"], "is not a directory"),
    (["export", "{d}", "--format", "xlsx"], "'--format'"),
    (["export", "{d}", "--table", "all"], "'--table'"),
    (["verify", "{d}/missing-dir"], "is not a directory"),
    (["bench", "ensemble", "--members", "0"], "'--members'"),
    (["bench", "ensemble", "--steps", "-1"], "'--steps'"),
    (["bench", "ensemble", "--batch-size", "0"], "'--batch-size'"),
    (["world", "--preset", "rebound/nope"], "unknown rebound preset 'nope'"),
    (["world", "--set", "content_vocab=3"], "content_vocab must be even"),
    (["world", "--set", "prompt_vocab=100000000"], "prompt_vocab must be an integer in [1, 10000], got 100000000"),
    *(([experiment, "--preset", "micro", "--set", assignment], message) for experiment, assignment, message in SETS),
]


@pytest.mark.parametrize("args, message", CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_bad_input_fails_cleanly_and_writes_nothing(files, tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)  # the default results folder would land here
    stores = args[0] in ("rebound", "resist", "audit", "counterfactual", "theorem") or args[:2] in (
        ["sim", "check"], ["sim", "convergence"], ["theory", "map"])
    argv = [a.replace("{d}", str(files)) for a in args] + (["--results", str(tmp_path / "results")]
                                                           if stores else [])
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("elasticity: error:"), err
    assert message.replace("{d}", str(files)) in lines[0], err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == [], "bad input must write nothing"


def test_one_configuration_in_several_files_is_one_run(tmp_path):
    """--config runs are named by their configuration, not by the file's name."""
    from elasticity.cli import _prefix
    from harness import overrides, presets, store

    text = overrides.to_yaml(presets.COUNTERFACTUAL["micro"])
    ids = set()
    for name in ("a.yaml", "b.yaml", "mine.yaml"):
        (tmp_path / name).write_text(text)
        config = overrides.load_yaml(type(presets.COUNTERFACTUAL["micro"]), tmp_path / name)
        ids.add(store.default_run_id(_prefix("micro", tmp_path / name), config.as_dict()))
    assert len(ids) == 1
