"""The scaling experiment: its world (laws, structure, fresh streams, exact enumeration), its
estimator and verdicts on constructed data, the micro preset through the CLI, and the GPU
preset's code path at reduced size on this CPU."""

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from elasticity.cli import main
from empirical import scale_world as sw
from empirical import scaling, scaling_stats, statistics
from empirical.llama_fn import count_params, forward_logits, stack_params
from harness import overrides, presets, store
from harness.configs import ScalingConfig

SMALL = ScalingConfig(content_vocab=4, response_length=3, context_order=1, hidden=(4, 8), n_pre=(64, 128),
                      seeds=(0, 1), pretrain_batch=32, q1=32, align_batch=8, q2=(32, 64), second_batch=4,
                      window=(32,))


def _world(c=SMALL, seed=0) -> sw.ScaleWorld:
    return sw.ScaleWorld(sw.Spec.of(c), seed)


@pytest.mark.parametrize("order", [0, 1, 2])
def test_the_laws_sum_to_one_and_the_cascade_has_its_declared_order(order):
    c = overrides.with_overrides(SMALL, [f"context_order={order}"])
    w = _world(c)
    for f in (0.0, 0.3, 1.0):
        for name, law in w.laws(f).items():
            assert law.min() >= 0 and law.sum() == pytest.approx(1.0, abs=1e-12), name  # float64 sums of 64 terms
    assert not (w.p_pos * w.p_neg).any()  # the styles' supports are disjoint: the score is exact
    v = c.content_vocab
    q = w.q.reshape(v, v, v)
    last = q / q.sum(axis=2, keepdims=True)  # law of x_3 given (x_1, x_2)
    spread = np.ptp(last, axis=0).max()  # across x_1, for each x_2
    # order <= 1: x_3's law ignores x_1 (equal to rounding); order 2: it reads x_1 (differs at O(1))
    assert (spread < 1e-12) if order <= 1 else (spread > 0.05)


def test_enumeration_equals_a_slow_reference_one_sequence_at_a_time():
    c = SMALL
    shape = scaling.shape_of(c, 8)
    params = stack_params([scaling.init(c, 8, s) for s in (0, 1)])
    fast = sw.response_log_probs(params, shape, c.content_vocab, c.response_length)
    w = _world(c)
    for e in range(2):
        member = {n: p[e] for n, p in params.items()}
        rows = torch.from_numpy(w.tokens(np.arange(len(w.responses))))
        logp = torch.log_softmax(forward_logits(member, rows, shape)[:, :-1, :c.content_vocab].double(), -1)
        slow = logp.gather(2, rows[:, 1:, None])[..., 0].sum(1)
        # the same float32 logits, summed in another order: agreement to float32 rounding of log-probs
        assert torch.allclose(fast[e], slow, rtol=0, atol=1e-5)
    assert torch.allclose(fast.exp().sum(1), torch.ones(2, dtype=torch.float64), atol=1e-12)  # a law over M


def test_fresh_streams_are_nested_reproducible_and_differ_between_arms_only_where_u_decides():
    w = _world()
    stream = w.stream(scaling.PRE_STREAM)
    whole = stream.rows(0, 3 * sw.CHUNK // 2, 0.2)
    pieces = np.concatenate([w.stream(scaling.PRE_STREAM).rows(a, a + 100, 0.2) for a in range(0, len(whole), 100)])
    assert np.array_equal(whole, pieces[:len(whole)])  # batches across a chunk boundary: the same rows
    assert np.array_equal(w.stream(scaling.PRE_STREAM).rows(0, 500, 0.2), whole[:500])  # amounts are nested
    high = stream.rows(0, len(whole), 0.8)
    u, _ = stream.uniforms(0, len(whole))
    changed = (whole != high).any(axis=1)
    assert not changed[(u < 0.2) | (u >= 0.8)].any()  # common random numbers: only rows in [f_low, f_high)
    assert changed.mean() > 0.3  # ... and those do change style (60% of rows have u there)


def test_pre_training_reads_each_fresh_example_once(monkeypatch):
    seen = []
    original = sw.Stream.rows

    def record(self, start, stop, f):
        seen.append((self.world.seed, self.stream, f, start, stop))
        return original(self, start, stop, f)

    monkeypatch.setattr(sw.Stream, "rows", record)
    n = max(SMALL.n_pre)
    scaling.run_cell(SMALL, min(SMALL.hidden), n)
    for seed in SMALL.seeds:
        for f in SMALL.fractions:
            spans = sorted((a, b) for s, st, g, a, b in seen if s == seed and st == scaling.PRE_STREAM and g == f)
            rows = [r for a, b in spans for r in range(a, b)]
            assert rows == list(range(n))  # one pass: every drawn example once, none twice
        for stream, n_rows in ((scaling.ALIGN_STREAM, SMALL.q1), (scaling.PERTURB_STREAM, max(SMALL.q2))):
            rows = sorted(r for s, st, g, a, b in seen if s == seed and st == stream for r in range(a, b))
            assert rows == sorted(list(range(n_rows)) * 2)  # both arms read the same rows, each once


def test_the_parameter_count_is_the_models_own():
    for h in (4, 8, 16):
        assert scaling.parameters(SMALL, h) == count_params(scaling.init(SMALL, h, 0))


def test_the_slope_fit_against_a_hand_computed_grid():
    params, examples = [100, 100, 1000, 1000], [10, 100, 10, 100]
    # centred logs are +-0.5; e = 1 + 2 x + 3 y + 4 x y at the corners, worked by hand:
    values = [-0.5, 0.5, -0.5, 4.5]
    got = scaling_stats.fit(params, examples, values)
    assert got == pytest.approx({"params": 2.0, "examples": 3.0, "interaction": 4.0}, abs=1e-12)  # exact fit
    with pytest.raises(ValueError, match="two sizes"):
        scaling_stats.fit([100, 100], [10, 100], [0.0, 1.0])


@pytest.mark.parametrize("slopes, control, verdict", [
    ([0.50, 0.55, 0.45, 0.52], True, "grows"),
    ([-0.50, -0.55, -0.45, -0.52], True, "shrinks"),
    ([0.01, -0.02, 0.00, 0.015], True, "flat within margin"),
    ([0.01, -0.02, 0.00, 0.015], False, "not resolved"),  # no control seen: "flat" is not allowed
    ([0.05, 0.06, 0.055, 0.052], True, "grows, inside the margin"),  # significant yet small
    ([1.0, -1.0, 0.8, -0.9], True, "not resolved"),
])
def test_a_slope_verdict_reads_its_interval_against_the_margin(slopes, control, verdict):
    got, _ = scaling_stats.slope_verdict(statistics.mean_ci(slopes), 0.25, control)
    assert got == verdict


def _member(seed, arm, f, pre, aligned, at_window, window):
    return {"seed": seed, "arm": arm, "f": f, "pretrained": {"score": pre, "excess_nats_per_token": 0.1},
            "aligned_score": aligned, "points": [{"q": 0, "score": aligned}, {"q": window, "score": at_window}]}


def _records(c: ScalingConfig, slope: float) -> list[dict]:
    """Cells whose counterfactual effect is slope * log10(params) plus a seed's offset (and a
    rebound that follows it), exactly, through scores built from the wanted drops."""
    sigmoid = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    w = c.window[0]
    out = []
    for h in c.hidden:
        for n in c.n_pre:
            p = scaling.parameters(c, h)
            members = []
            for s in c.seeds:
                centred = s - (len(c.seeds) - 1) / 2  # per-seed deviations that sum to 0 over the seeds
                effect = (slope + 0.01 * centred) * math.log10(p) + 0.003 * centred * math.log10(n)
                d_high, aligned = 2.0, 0.7  # drop(low) = d_high + effect stays > 0: the control is seen
                members += [_member(s, "f_low", 0.2, sigmoid(statistics.logit(aligned) - 2.0), aligned,
                                    sigmoid(statistics.logit(aligned) - (d_high + effect)), w),
                            _member(s, "f_high", 0.8, 0.8, aligned, sigmoid(statistics.logit(aligned) - d_high), w)]
            out.append({"hidden": h, "params": p, "n_pre": n, "members": members, "wall_s": 0.0,
                        "flops": {"total": 1.0}})
    return out


@pytest.mark.parametrize("slope, verdict", [(0.5, "grows"), (-0.5, "shrinks"), (0.0, "flat within margin")])
def test_the_verdicts_flip_with_data_constructed_to_grow_or_shrink(slope, verdict):
    c = overrides.with_overrides(SMALL, ["seeds=0,1,2,3,4,5"])
    _, top = scaling_stats.summarize(c, _records(c, slope))
    e = top["endpoints"]["counterfactual"]
    assert e["params"]["verdict"] == verdict
    assert e["params"]["mean"] == pytest.approx(slope, abs=1e-9)  # built exactly; 1e-9: logit/sigmoid round trips
    assert e["examples"]["verdict"] == "flat within margin"  # +-0.0075 per decade across seeds: inside SMALL's +-0.15
    assert top["positive_control"]["detected"]


def test_micro_end_to_end_through_the_cli_and_the_verdict_recomputed_from_the_per_seed_table(tmp_path, capsys):
    args = ["scaling", "--preset", "micro", "--results", str(tmp_path), "--json"]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    c = presets.SCALING["micro"]
    assert doc["config"] == c.as_dict() and doc["provenance"]["device"] == c.device == "cpu"
    assert {r["hidden"] for r in doc["metrics"]["cells"]} == set(c.hidden)
    rows = doc["per_seed"]
    cells = sorted({(r["params"], r["n_pre"]) for r in rows if r["params"] is not None})
    for effect in scaling_stats.EFFECTS:
        for s in c.seeds:
            values = [next(r["value"] for r in rows if r["seed"] == s and r["quantity"] == effect
                           and (r["params"], r["n_pre"]) == cell) for cell in cells]
            fit = scaling_stats.fit([p for p, _ in cells], [n for _, n in cells], values)
            for term, value in fit.items():  # the table holds what the verdict read, to float rounding
                assert doc["endpoints"][effect][term]["per_seed"][str(s)] == pytest.approx(value, rel=1e-12)
    assert main(args) == 0  # finished: read back, not recomputed
    assert "read back" in capsys.readouterr().err


def test_the_gpu_presets_declare_cuda_and_are_refused_where_there_is_none(tmp_path):
    for name in ("scale-gpu", "scale-gpu-full"):
        assert presets.SCALING[name].device == "cuda"
        assert scaling.Scaling(presets.SCALING[name]).device == "cuda"  # the engine records the config's device
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is here: the refusal does not apply")
    from elasticity import runs

    with pytest.raises(ValueError, match="no CUDA device"):
        runs.scaling(presets.SCALING["scale-gpu"], results=tmp_path)
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


def test_the_gpu_preset_code_path_at_reduced_size_on_this_cpu():
    gpu = presets.SCALING["scale-gpu"]
    c = overrides.with_overrides(gpu, ["device=cpu", "bf16=false", "hidden=8,16", "n_pre=256,512", "seeds=0,1"])
    assert (c.content_vocab, c.response_length, c.layers, c.heads, c.context_order) == (
        gpu.content_vocab, gpu.response_length, gpu.layers, gpu.heads, gpu.context_order)  # only the sizes shrink
    together = scaling.run_cell(c, 8, 256, member_chunk=None)  # a GPU's grouping: every member in one step
    grouped = scaling.run_cell(c, 8, 256)  # this CPU's groups
    for a, b in zip(together["members"], grouped["members"], strict=True):
        # members share nothing, so grouping changes only the order of independent work: float32
        # training and scoring agree to rounding (the ensemble's own test finds equal bits)
        assert [p["score"] for p in a["points"]] == pytest.approx([p["score"] for p in b["points"]], abs=1e-6)
    assert together["params"] == scaling.parameters(c, 8) and together["pretrain_steps"] == 1


FIXTURES = Path(__file__).resolve().parent / "fixtures" / "results" / "scaling"


def test_the_committed_scale_cpu_verdicts_are_recomputed_from_its_per_seed_table():
    """Anyone with per-seed.csv and the declared margins can recompute the six verdicts: each
    seed's fit over the grid from the cells' effects, the interval over seeds, the positive
    control from the cells' alignment gains and drops."""
    (path,) = FIXTURES.glob("scale-cpu-*/result.json")
    doc = store.read_result(path, experiment="scaling")
    c = overrides.from_dict(ScalingConfig, doc["config"])
    assert c == presets.SCALING["scale-cpu"]  # the committed run is the preset as declared now
    with (path.parent / "per-seed.csv").open() as handle:
        rows = [r for r in csv.DictReader(handle) if r["params"]]
    cells = sorted({(int(r["params"]), int(r["n_pre"])) for r in rows})
    value = {(int(r["seed"]), r["quantity"], int(r["params"]), int(r["n_pre"])): float(r["value"]) for r in rows}
    control = all(scaling_stats.detected([value[(s, q, *cell)] for s in c.seeds])
                  for cell in cells for q in ("align_gain", "drop_low"))
    assert control == doc["positive_control"]["detected"]
    margins = {"counterfactual": c.margin_counterfactual, "rebound": c.margin_rebound}
    for effect in scaling_stats.EFFECTS:
        fits = [scaling_stats.fit([p for p, _ in cells], [n for _, n in cells],
                                  [value[(s, effect, *cell)] for cell in cells]) for s in c.seeds]
        for term in scaling_stats.TERMS:
            stat = statistics.mean_ci([f[term] for f in fits])
            e = doc["endpoints"][effect][term]
            # the same values through a csv (17 significant digits): equal to float rounding
            assert stat["mean"] == pytest.approx(e["mean"], rel=1e-9, abs=1e-12)
            assert scaling_stats.slope_verdict(stat, margins[effect], control)[0] == e["verdict"]


def test_torchrun_ranks_split_the_cells_instead_of_each_running_all():
    """A cell is one ensemble on one device, nothing data-parallel: under torchrun the engine must
    give each rank its own cells (harness.engine reads this flag; without it every rank ran every cell)."""
    assert scaling.Scaling(SMALL).cells_across_ranks is True


def test_each_torchrun_rank_trains_on_its_own_gpu(monkeypatch):
    gpu = overrides.with_overrides(SMALL, ["device=cuda"])
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert scaling.device_of(gpu) == "cuda" and scaling.device_of(SMALL) == "cpu"
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert scaling.device_of(gpu) == "cuda:3" and scaling.device_of(SMALL) == "cpu"
