"""The protocols on a tiny local model and tiny local datasets, end to end through the CLI,
plus LoRA, DPO on PKU-SafeRLHF pairs, the forward/inverse experiment, and bad input that must
be refused before any training starts."""

import json
import struct

import pytest
import torch

import text_fixtures as F
from console import run_cli
from elasticity import runs
from empirical import resist
from empirical.train import StageConfig, sft_pairs
from harness import presets, store


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    root = tmp_path_factory.mktemp("local")
    return {"lm": F.causal_lm(root / "lm", seed=123), "cost": F.cost_model(root / "cost"),
            "clf": F.classifier(root / "clf"),
            "imdb": F.write(root / "imdb", {"train": F.imdb_rows(230, 80), "test": F.imdb_rows(8, 8, 1)}),
            "safe": F.write(root / "safe", {"train": F.safe_rlhf_rows(260), "test": F.safe_rlhf_rows(8, 1)},
                            "parquet"),
            "alpaca": F.write(root / "alpaca", {"train": F.alpaca_rows(120), "test": F.alpaca_rows(6, 1)})}


def _real(local, dataset="imdb", *extra):
    data = local["imdb"] if dataset == "imdb" else local["safe"]
    return ("--model-path", str(local["lm"]), "--dataset", dataset, "--data-dir", str(data), *extra)


def test_rebound_micro_on_a_local_model_and_imdb_with_vader(local, tmp_path):
    args = ("rebound", "--preset", "micro", *_real(local), "--scorer", "vader", "--set", "seeds=0",
            "--set", "eval_prompts=4", "--results", str(tmp_path), "--json")
    out = run_cli(*args)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["config"]["model_path"] == str(local["lm"]) and doc["config"]["dataset"] == "imdb"
    assert doc["run_id"].startswith("micro-sft-imdb-")
    assert doc["scorer"]["name"] == "vader" and doc["scorer"]["threshold"] == 0.05
    assert len(doc["cells"]) == 5 * 3 and {c["arm"] for c in doc["cells"]} == {"pretrained", "scratch", "no_sft"}
    for cell in doc["cells"]:
        assert 0 <= cell["score"] <= 1 and cell["n_responses"] == 4
        assert set(cell["code_length_nats"]) == {"positive", "negative"}
        assert cell["kl_to_pretrained_nats"] is None
    again = run_cli(*args)
    assert again.returncode == 0 and json.loads(again.stdout)["cells"] == doc["cells"]  # read back, not rerun
    assert "read back" in again.stderr


def tensorboard_losses(folder) -> list[float]:
    """Every train/loss scalar in the event files under ``folder`` (TFRecord: length, its CRC,
    the Event message, its CRC)."""
    from tensorboardX.proto import event_pb2

    losses = []
    for path in sorted(folder.rglob("events.out.tfevents.*")):
        data, at = path.read_bytes(), 0
        while at < len(data):
            (length,) = struct.unpack("<Q", data[at:at + 8])
            event = event_pb2.Event.FromString(data[at + 12:at + 12 + length])
            losses += [v.simple_value for v in event.summary.value if v.tag == "train/loss"]
            at += 12 + length + 4
    return losses


def test_dpo_on_safe_rlhf_pairs_scored_by_the_cost_model(local, tmp_path):
    out = run_cli("rebound", "--preset", "micro", "--variant", "dpo", *_real(local, "safe-rlhf"),
                  "--scorer-path", str(local["cost"]), "--set", "controls=false", "--set", "q1=50",
                  "--set", "seeds=0", "--set", "eval_prompts=4", "--results", str(tmp_path), "--json",
                  "--report-to", "tensorboard")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["scorer"]["name"] == "cost" and doc["config"]["variant"] == "dpo"
    assert all("unsafe_fraction" in c for c in doc["cells"]) and len(doc["cells"]) == 3
    # --report-to: every trl stage of the cell logged each step's loss under logs/<cell>/<stage>
    logs = store.run_dir(tmp_path, "rebound", doc["run_id"]) / "logs" / "pretrained-s0-q1_50"
    stages = sorted(p.name for p in logs.iterdir())
    assert stages == ["first", *(f"second-q{q}" for q in sorted(doc["config"]["q2"]) if q > 0)]
    for stage in stages:
        losses = tensorboard_losses(logs / stage)
        assert losses and all(loss == loss and loss >= 0 for loss in losses), (stage, losses)


def test_sweep_preset_drops_synthetic_only_axes_with_a_real_model(local, tmp_path):
    """cpu-full with a real model keeps only the runs whose axes apply (centre, LR); checked
    with --shard 9998/9999 so nothing trains."""
    out = run_cli("rebound", "--preset", "cpu-full", *_real(local), "--shard", "9998/9999", "--set", "q1=32,64",
                  "--set", "q2=16,64", "--results", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "size-small, size-medium, pretrain-100steps, pretrain-900steps" in out.stderr
    folders = [p for p in (tmp_path / "rebound").iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert sorted(p.name.split(".", 1)[1] for p in folders) == ["centre", "lr2-0.0003", "lr2-0.003"]
    assert all(p.name.startswith("cpu-full-sft-imdb-") for p in folders)


def test_lora_stage_trains_an_adapter_and_merges_it(local):
    from empirical import text

    model, tok = text.load_causal_lm(local["lm"]), text.load_tokenizer(local["lm"])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    sft_pairs(model, tok, ["the movie"] * 16, [" was great fun"] * 16,
              StageConfig(learning_rate=1e-2, batch_size=8, lora_rank=4), max_length=32)
    after = model.state_dict()
    assert list(after) == list(before)  # no adapter modules left: merged into a plain model
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed and all("proj" in k for k in changed)  # LoRA touched only linear layers
    assert "forward" not in model.__dict__


def test_bad_input_is_refused_before_training(local, tmp_path):
    cases = [
        (("--model-path", str(tmp_path / "nope"), "--dataset", "imdb", "--data-dir", str(local["imdb"])),
         "does not exist"),
        (_real(local, "imdb", "--set", "q1=231"), "Q1 = 231 is larger than the 230 positive examples"),
        (_real(local, "imdb", "--scorer", "classifier", "--scorer-path", str(local["lm"])),
         "not a sequence classifier"),
        (("--model-path", str(local["lm"]), "--dataset", "imdb", "--data-dir", str(local["safe"])),
         "needs columns"),
        (("--dataset", "imdb", "--data-dir", str(local["imdb"])), "needs --model-path"),
        (_real(local, "safe-rlhf"), "needs --scorer-path"),
    ]
    for args, message in cases:
        out = run_cli("rebound", "--preset", "micro", *args, "--results", str(tmp_path))
        assert out.returncode == 2 and message in out.stderr, (args, out.stderr)
        assert out.stderr.count("\n") == 1  # one line, no traceback
    assert not list(tmp_path.rglob("checkpoints/*"))


def test_resist_micro_on_the_synthetic_world_fills_table_2_with_exact_distances(tmp_path):
    path = runs.resist(presets.RESIST["micro"], results=tmp_path, run_id="r").path
    doc = store.read_result(path, experiment="resist")
    rows = doc["metrics"]["table2"]
    assert [r["pair"] for r in rows] == [[1, 2], [2, 3], [1, 3]]
    assert rows[0]["label"] == "H(theta_1, theta'_21) vs. H(theta_2, theta'_12)"
    for row in rows:
        assert row["inverse_nats"]["n"] == 3 and row["inverse_nats"]["mean"] > 0
        assert row["inverse_kl_nats"]["mean"] >= 0 and row["forward_kl_before_nats"]["mean"] > 0
        # the effect is forward - inverse of the relative distances, paired by seed
        per_seed = row["forward_minus_inverse"]["per_seed"]
        cells = {c["seed"]: c for c in doc["cells"] if c["pair"] == row["pair"] and c["pretrained"]}
        assert per_seed == {str(s): pytest.approx(c["forward_relative"] - c["inverse_relative"], abs=1e-12)
                            for s, c in cells.items()}
        for c in cells.values():
            assert c["inverse_relative"] == pytest.approx(c["inverse_kl_nats"] / c["inverse_kl_before_nats"])
    assert len(doc["cells"]) == 18  # 3 seeds x 3 pairs, pre-trained and format-only control
    # the format-only control: the same table from a base pre-trained on the format, and the difference per seed
    for row, bare, part in zip(rows, doc["metrics"]["format_only"], doc["metrics"]["attributable"],
                               strict=True):
        assert bare["pair"] == part["pair"] == row["pair"]
        with_pre, without = row["forward_minus_inverse"]["per_seed"], bare["forward_minus_inverse"]["per_seed"]
        assert part["per_seed"] == {s: pytest.approx(with_pre[s] - without[s], abs=1e-12) for s in with_pre}
        assert part["p_holm"] >= part["p"]
    for c in doc["cells"]:  # both laws renormalized alike: a KL, never below 0; the valid mass beside it
        assert c["inverse_kl_nats"] >= -1e-12 and 0 < c["inverse_valid_mass"] <= 1 + 1e-9
    lowest = min(min(c["forward_valid_mass"], c["inverse_valid_mass"]) for c in doc["cells"])
    assert doc["metrics"]["valid_mass"]["min"] == lowest  # over every arm and path, the control's too
    assert doc["protocol_version"] == resist.PROTOCOL_VERSION
    again = runs.resist(presets.RESIST["micro"], results=tmp_path, run_id="r")
    assert again.path == path and again.read_back  # finished: read back, nothing recomputed


def test_resist_on_a_local_model_and_alpaca_through_the_cli(local, tmp_path):
    out = run_cli("resist", "--preset", "micro", "--dataset", "alpaca", "--model-path", str(local["lm"]),
                  "--data-dir", str(local["alpaca"]), "--set", "seeds=0", "--set", "part_size=20",
                  "--set", "max_new_tokens=5", "--warmup-data-dir", str(local["alpaca"]),
                  "--results", str(tmp_path), "--report-to", "tensorboard")
    assert out.returncode == 0, out.stderr
    assert "H(theta_1, theta'_21) vs. H(theta_2, theta'_12)" in out.stdout and "one seed" in out.stdout
    logs = next((tmp_path / "resist").glob("micro-alpaca-*")) / "logs"
    pairs = [f"s0-pair_{i}{j}-{way}" for i, j in resist.PAIRS for way in ("forward", "inverse")]
    assert sorted(p.name for p in logs.iterdir()) == sorted(["warmup-s0", "theta1-s0", "theta2-s0",
                                                                "theta3-s0", *pairs])
    assert all(tensorboard_losses(p) for p in logs.iterdir())
    bad = run_cli("resist", "--preset", "micro", "--dataset", "alpaca", "--model-path", str(local["lm"]),
                  "--data-dir", str(local["alpaca"]), "--set", "part_size=1000",
                  "--results", str(tmp_path / "bad"))
    assert bad.returncode == 2 and "four parts of 1000 examples need 4000 pairs" in bad.stderr


def test_dpo_with_lora_uses_the_adapter_free_model_as_reference(local):
    """With LoRA, trl's reference is the model with its adapter off (no copy): the stage runs,
    raises the chosen answer's likelihood against the rejected one, and merges back."""
    from empirical import text
    from empirical.train import dpo_pairs

    model, tok = text.load_causal_lm(local["lm"]), text.load_tokenizer(local["lm"])
    prompts, chosen, rejected = ["the movie"] * 16, [" was awful"] * 16, [" was great"] * 16

    def margin():
        good = text.completion_code_length(model, tok, prompts[:1], chosen[:1])["nats_per_token"]
        bad = text.completion_code_length(model, tok, prompts[:1], rejected[:1])["nats_per_token"]
        return bad - good

    before = margin()
    dpo_pairs(model, tok, prompts, chosen, rejected, StageConfig(learning_rate=1e-2, batch_size=8, epochs=2,
                                                                 lora_rank=4), max_length=32)
    assert margin() > before and not any("lora" in k for k in model.state_dict())


def test_two_processes_on_this_cpu_train_with_ddp(local, tmp_path):
    """`torchrun --nproc_per_node 2` (gloo DDP: accelerate's own multi-CPU launcher needs mpirun,
    and `accelerate launch --cpu --num_processes 2` on one machine starts a single process): the
    trainers take the distributed setup from the launcher, every rank runs every cell, rank 0
    writes; the result records two processes and is of the same kind as a single process's."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    launcher = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    args = ["rebound", "--preset", "micro", *_real(local), "--set", "seeds=0", "--set", "controls=false",
            "--set", "q1=32", "--set", "eval_prompts=4", "--json"]
    out = subprocess.run([launcher, "--nproc_per_node", "2", "-m", "elasticity", *args, "--results",
                          str(tmp_path / "two")], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "DDP" in out.stderr  # the trainer wrapped the model in DistributedDataParallel
    assert "still owe" not in out.stdout  # the other rank stays quiet
    two = store.read_result(next((tmp_path / "two" / "rebound").glob("*/result.json")), experiment="rebound")
    one = json.loads(run_cli(*args, "--results", str(tmp_path / "one")).stdout)
    assert two["provenance"]["processes"] == 2 and one["provenance"]["processes"] == 1
    assert two["run_id"] == one["run_id"] and len(two["cells"]) == len(one["cells"]) == 3
    assert [c["q"] for c in two["cells"]] == [c["q"] for c in one["cells"]]
