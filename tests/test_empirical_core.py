"""Models, training and exact measurement on the synthetic world, with tiny in-process models.

The oracle below is a "model" whose next-token law is the world's true law, so the exact
measurements must return the world's own numbers to float precision.
"""

import copy
import math

import numpy as np
import pytest
import torch

from empirical.measure import code_length, kl_divergence, response_log_probs, style_score
from empirical.models import build_model, count_parameters
from empirical.train import StageConfig, train
from empirical.world import BOS, EOS, SEP, SPECIAL, World, WorldConfig

torch.set_num_threads(1)
CFG = WorldConfig(seed=1, content_vocab=4, response_length=3, prompt_vocab=3, n_pre=600,
                  n_align=300, n_perturb=100, n_held_out=100)


@pytest.fixture(scope="module")
def world():
    return World(CFG)


class Oracle(torch.nn.Module):
    """Logits = log of the world's true conditional next-token probabilities when responses
    are drawn from ``fraction p_pos + (1 - fraction) p_neg`` (prompts uniform)."""

    def __init__(self, world: World, fraction: float):
        super().__init__()
        self.world, self.law = world, world.response_distribution(fraction)
        self.device = torch.device("cpu")  # as a transformers model reports where it lives

    def forward(self, input_ids):
        cfg = self.world.config
        n, length = input_ids.shape
        probs = np.full((n, length, cfg.vocab_size), 1e-300)
        v, L = cfg.content_vocab, cfg.response_length
        for i in range(n):
            seq = input_ids[i].numpy()
            for pos in range(length):
                nxt = pos + 1
                if nxt <= cfg.prompt_length:  # next token is a prompt token
                    probs[i, pos, SPECIAL:SPECIAL + cfg.prompt_vocab] = 1 / cfg.prompt_vocab
                elif nxt == cfg.response_start - 1:
                    probs[i, pos, SEP] = 1
                elif nxt < cfg.response_start + L:
                    j = nxt - cfg.response_start  # tokens of the response already seen
                    prefix = seq[cfg.response_start:nxt] - SPECIAL - cfg.prompt_vocab
                    code = int(prefix @ (v ** np.arange(j - 1, -1, -1))) if j else 0
                    block = v ** (L - j)  # leaves under the prefix, in lexicographic order
                    under = self.law[code * block:(code + 1) * block].reshape(v, -1).sum(1)
                    probs[i, pos, SPECIAL + cfg.prompt_vocab:] = under / under.sum()
                else:
                    probs[i, pos, EOS] = 1
        return type("Out", (), {"logits": torch.from_numpy(np.log(probs))})()


def test_oracle_score_and_code_length_are_exact(world):
    """The true law of D_pre: score = the positive fraction, code length = entropy rate."""
    prompts = world.datasets()["pre_held_out"].tokens[:3, 1:1 + CFG.prompt_length]
    oracle = Oracle(world, 0.3)
    s = style_score(oracle, world, prompts)
    assert math.isclose(s["score"], 0.3, abs_tol=1e-12) and math.isclose(s["valid_mass"], 1.0, abs_tol=1e-12)
    data = world.sample(400, 0.3, stream=50).tokens
    law = world.response_distribution(0.3)
    entropy_rate = -(law[law > 0] @ np.log(law[law > 0])) / (CFG.response_length + 1)
    measured = code_length(oracle, data, CFG.response_start)["nats_per_token"]
    # sample mean of -log q over 400 responses: 4 standard errors
    per_seq = -response_log_probs(oracle, world, prompts[:1])[0]
    sd = math.sqrt(law @ (per_seq - law @ per_seq) ** 2) / (CFG.response_length + 1)
    assert abs(measured - entropy_rate) < 4 * sd / math.sqrt(400)


def test_kl_is_zero_to_itself_and_positive_otherwise(world):
    prompts = world.datasets()["pre_held_out"].tokens[:2, 1:1 + CFG.prompt_length]
    a, b = Oracle(world, 0.3), Oracle(world, 0.8)
    assert abs(kl_divergence(a, a, world, prompts)) < 1e-12
    assert kl_divergence(a, b, world, prompts) > 0.1


def _sample_positive_fraction(model, world, prompt, n, seed):
    """Ancestral sampling of responses given one prompt: fraction positive among valid ones."""
    cfg = world.config
    gen = torch.Generator().manual_seed(seed)
    seq = torch.empty((n, cfg.response_start), dtype=torch.long)
    seq[:, 0], seq[:, 1:1 + cfg.prompt_length], seq[:, -1] = 1, torch.from_numpy(prompt), SEP
    with torch.no_grad():
        for _ in range(cfg.response_length + 1):
            p = torch.softmax(model(input_ids=seq).logits[:, -1].float(), -1)
            seq = torch.cat([seq, torch.multinomial(p, 1, generator=gen)], 1)
    content = seq[:, cfg.response_start:-1].numpy() - SPECIAL - cfg.prompt_vocab
    valid = ((content >= 0) & (content < cfg.content_vocab)).all(1) & (seq[:, -1].numpy() == EOS)
    bright = (content < cfg.content_vocab // 2).sum(1)
    return (bright[valid] > cfg.response_length // 2).mean(), valid.sum()


def test_exact_score_matches_sampling_estimate(world):
    """A briefly trained tiny model: the enumerated score for one prompt and the share of
    positive responses among 4000 samples agree within 4 binomial standard errors."""
    model = build_model(CFG.vocab_size, CFG.sequence_length, "tiny", seed=0)
    train(model, world.datasets()["pre"].tokens, StageConfig(epochs=10, learning_rate=1e-2))
    prompt = world.datasets()["pre_held_out"].tokens[0, 1:1 + CFG.prompt_length]
    exact = style_score(model, world, prompt[None])["score"]
    frac, n_valid = _sample_positive_fraction(model, world, prompt, 4000, seed=0)
    assert n_valid > 2000
    assert abs(frac - exact) < 4 * math.sqrt(exact * (1 - exact) / n_valid)


def test_training_lowers_the_loss_and_sft_moves_the_score(world):
    data = world.datasets()
    model = build_model(CFG.vocab_size, CFG.sequence_length, "tiny", seed=0)
    before = code_length(model, data["pre_held_out"].tokens, CFG.response_start)["nats_per_token"]
    losses = train(model, data["pre"].tokens, StageConfig(epochs=3, learning_rate=3e-3))
    after = code_length(model, data["pre_held_out"].tokens, CFG.response_start)["nats_per_token"]
    assert losses[-1] < losses[0] and after < before - 0.3
    prompts = data["pre_held_out"].tokens[:8, 1:1 + CFG.prompt_length]
    pre_score = style_score(model, world, prompts)["score"]
    aligned = copy.deepcopy(model)
    sft = StageConfig(epochs=2, learning_rate=3e-3, loss_from=CFG.response_start)
    train(aligned, data["align"].tokens, sft)
    assert style_score(aligned, world, prompts)["score"] > pre_score + 0.1


def test_models_are_seeded_and_sized():
    a = build_model(16, 10, "tiny", seed=3)
    b = build_model(16, 10, "tiny", seed=3)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))
    assert count_parameters(build_model(16, 10, "tiny")) < count_parameters(build_model(16, 10, "small")) \
        < count_parameters(build_model(16, 10, "medium"))
    with pytest.raises(ValueError, match="size must be one of"):
        build_model(16, 10, "huge")


@pytest.mark.parametrize("kwargs, match", [({"learning_rate": 0.0}, "learning_rate"),
                                           ({"epochs": 0}, ">= 1")])
def test_bad_stage_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        StageConfig(**kwargs)


def test_bad_tokens():
    with pytest.raises(ValueError, match="non-empty 2-D"):
        train(build_model(16, 10, "tiny"), np.zeros((0, 10)), StageConfig())


def test_trl_sft_and_dpo_move_the_score_and_leave_copies_independent(world):
    """SFT on positives raises the score; DPO with negatives chosen lowers it; and a deep copy
    taken after a trl stage trains independently of the original (trainers leave a bound
    ``forward`` behind, which train._release removes)."""
    from empirical.train import dpo, sft

    data = world.datasets()
    prompts = data["pre_held_out"].tokens[:8, 1:1 + CFG.prompt_length]
    model = build_model(CFG.vocab_size, CFG.sequence_length, "tiny", seed=0)
    train(model, data["pre"].tokens, StageConfig(epochs=4, learning_rate=1e-2))
    before = style_score(model, world, prompts)["score"]
    sft(model, data["align"].tokens, CFG, StageConfig(epochs=3, learning_rate=1e-2, batch_size=32))
    after_sft = style_score(model, world, prompts)["score"]
    assert after_sft > before + 0.1
    branch = copy.deepcopy(model)
    n = len(data["perturb"].tokens)
    dpo(branch, data["perturb"].tokens, data["align"].tokens[:n], CFG,
        StageConfig(epochs=3, learning_rate=1e-2, batch_size=32))
    assert style_score(branch, world, prompts)["score"] < after_sft - 0.05
    assert style_score(model, world, prompts)["score"] == after_sft  # the original is untouched


def test_enumerated_log_probs_are_the_oracles_law(world):
    """Every response's log-probability, EOS included, for every prompt: the law itself."""
    prompts = world.prompts(3)
    oracle = Oracle(world, 0.3)
    got = response_log_probs(oracle, world, prompts, batch_size=7)  # batches cut mid-way on purpose
    law = world.response_distribution(0.3)
    assert got.shape == (3, law.size)
    assert np.allclose(got, np.log(np.maximum(law, 1e-300)), rtol=0, atol=1e-9)  # float64 sums of 4 logs


def test_law_measures_are_the_exact_cross_entropies_and_kl(world):
    from empirical.measure import law_measures

    prompts = world.prompts(2)
    tokens = CFG.response_length + 1
    log_q = response_log_probs(Oracle(world, 0.3), world, prompts)
    log_r = response_log_probs(Oracle(world, 0.8), world, prompts)
    laws = world.laws(0.3)
    got = law_measures(log_q, world, laws, log_r)
    q, r = world.response_distribution(0.3), world.response_distribution(0.8)
    for name, p in laws.items():  # -sum p log q / (L + 1), with q the oracle's law
        on = p > 0
        assert got["code_length_nats"][name] == pytest.approx(-(p[on] @ np.log(q[on])) / tokens, rel=1e-10)
    assert got["score"] == pytest.approx(0.3, abs=1e-12)
    assert got["score_logit"] == pytest.approx(math.log(0.3 / 0.7), rel=1e-9)
    assert got["kl_to_pretrained_nats"] == pytest.approx(q @ (np.log(q) - np.log(r)), rel=1e-9)
    assert "kl_to_pretrained_nats" not in law_measures(log_q, world, laws)


def test_a_saturated_score_has_a_finite_logit(world):
    from empirical.measure import law_measures

    log_q = np.where(world.is_positive, np.log(1.0 / world.is_positive.sum()), -np.inf)[None, :]
    got = law_measures(log_q, world, {})
    assert got["score"] == 1.0 and got["score_logit"] == pytest.approx(math.log((1 - 1e-12) / 1e-12), rel=1e-3)


def test_score_standard_error_is_over_prompts(world):
    from empirical.measure import score_from_log_probs

    shares = np.array([0.2, 0.5, 0.9])
    pos, neg = world.is_positive, ~world.is_positive
    q = shares[:, None] * pos / pos.sum() + (1 - shares[:, None]) * neg / neg.sum()
    got = score_from_log_probs(np.log(q), world)
    assert got["score"] == pytest.approx(shares.mean(), rel=1e-12)
    assert got["score_se"] == pytest.approx(shares.std(ddof=1) / math.sqrt(3), rel=1e-12)
    assert score_from_log_probs(np.log(q[:1]), world)["score_se"] == 0.0  # one prompt: no spread
    two = score_from_log_probs(np.log(q[:2]), world)["score_se"]  # two prompts already have a spread (1e-12: rounding)
    assert two == pytest.approx(shares[:2].std(ddof=1) / math.sqrt(2), rel=1e-12)


def test_kl_ignores_responses_the_model_never_gives():
    from empirical.measure import kl_from_log_probs

    log_q = np.array([[math.log(0.5), math.log(0.5), -np.inf]])  # the third response: probability 0
    log_r = np.log(np.array([[0.25, 0.25, 0.5]]))
    assert kl_from_log_probs(log_q, log_r) == pytest.approx(math.log(2.0), rel=1e-12)


def test_code_length_in_bits_is_nats_over_log_2(world):
    got = code_length(Oracle(world, 0.3), world.sample(50, 0.3, stream=5).tokens, CFG.response_start)
    assert got["bits_per_token"] == pytest.approx(got["nats_per_token"] / math.log(2), rel=1e-15)


def test_response_log_probs_against_one_sequence_at_a_time():
    """Slow twin on a random tiny model (it puts mass everywhere, SEP included, unlike the
    oracle) and two-token prompts: log q(response + EOS | BOS prompt SEP) summed token by
    token from one forward pass per sequence."""
    cfg = WorldConfig(seed=2, content_vocab=4, response_length=3, prompt_vocab=3, prompt_length=2,
                      n_pre=50, n_align=20, n_perturb=20, n_held_out=20)
    small = World(cfg)
    model = build_model(cfg.vocab_size, cfg.sequence_length, "tiny", seed=4).eval()
    prompts = small.prompts(2)
    got = response_log_probs(model, small, prompts, batch_size=5)  # batches that do not divide M
    responses = small.response_tokens()
    for i, prompt in enumerate(prompts):
        for j in (0, 4, len(responses) - 1):
            seq = [BOS] + list(prompt) + [SEP] + list(responses[j]) + [EOS]
            with torch.no_grad():
                logits = model(input_ids=torch.tensor([seq])).logits[0].double()
            log_p = torch.log_softmax(logits, -1)
            want = sum(float(log_p[pos - 1, seq[pos]]) for pos in range(cfg.response_start, len(seq)))
            assert got[i, j] == pytest.approx(want, rel=1e-9), (i, j)  # float32 logits, summed in float64
