"""The synthetic world: sizes, style frequencies, the style rule, determinism, bad configs."""


import numpy as np
import pytest
from scipy import stats

from empirical.world import BOS, EOS, SEP, SPECIAL, World, WorldConfig, all_responses

SMALL = WorldConfig(seed=3, n_pre=4000, n_align=1500, n_perturb=500, n_held_out=300)


@pytest.fixture(scope="module")
def world():
    return World(SMALL)


def test_sizes_and_layout(world):
    data = world.datasets()
    assert {k: v.tokens.shape[0] for k, v in data.items()} == {
        "pre": 4000, "pre_held_out": 300, "align": 1500, "align_held_out": 300,
        "perturb": 500, "perturb_held_out": 300}
    t = data["pre"].tokens
    assert (t[:, 0] == BOS).all() and (t[:, -1] == EOS).all()
    assert (t[:, SMALL.response_start - 1] == SEP).all()
    prompts = t[:, 1:SMALL.response_start - 1]
    assert prompts.min() >= SPECIAL and prompts.max() < SPECIAL + SMALL.prompt_vocab
    assert t.max() < SMALL.vocab_size


def test_style_frequencies(world):
    """D_align all positive, D_perturb all negative, D_pre exactly half positive (the share is
    set, not drawn: arms that differ in f differ by design only)."""
    data = world.datasets()
    assert data["align"].positive.all() and not data["perturb"].positive.any()
    assert data["pre"].positive.sum() == 2000


def test_style_is_the_majority_of_bright_tokens(world):
    """Every sampled response's label equals the rule (no marker token decides it)."""
    data = world.datasets()["pre"]
    content = data.tokens[:, SMALL.response_start:-1] - SPECIAL - SMALL.prompt_vocab
    bright = (content < SMALL.content_vocab // 2).sum(axis=1)
    assert ((bright > SMALL.response_length // 2) == data.positive).all()
    for token in range(SMALL.content_vocab):  # no single token separates the styles
        has = (content == token).any(axis=1)
        assert data.positive[has].any() and (~data.positive[has]).any()


def test_zipf_laws_on_disjoint_supports(world):
    """Each style's law is rank^-s over its own responses (s = 1 by default), zero elsewhere."""
    assert np.isclose(world.p_pos.sum(), 1) and np.isclose(world.p_neg.sum(), 1)
    assert not (world.p_pos > 0)[~world.is_positive].any()
    assert not (world.p_neg > 0)[world.is_positive].any()
    for law, members in ((world.p_pos, world.is_positive), (world.p_neg, ~world.is_positive)):
        ranked = np.sort(law[members])[::-1]
        ranks = np.arange(1, ranked.size + 1)
        assert ranked / ranked[0] == pytest.approx(ranks ** -SMALL.zipf_s, rel=1e-12)


def test_pareto_law_is_available():
    w = World(WorldConfig(law="pareto", alpha=3.0, n_pre=10, n_align=10, n_perturb=10, n_held_out=10))
    masses = w.p_pos[w.is_positive] * w.is_positive.sum()  # E[X] = 1 scale
    assert masses.min() > 0.5  # Pareto support starts at C = (alpha-1)/alpha = 2/3, renormalized
    assert np.ptp(masses) > 0.5  # and is not a Zipf ladder


def test_empirical_response_law_matches_exact(world):
    """Sampled response frequencies of D_pre agree with 0.5 p_pos + 0.5 p_neg (chi-square
    p-value above 1e-4 with the fixed seed)."""
    from scipy import stats

    data = world.sample(50_000, 0.5, stream=99)
    content = data.tokens[:, SMALL.response_start:-1] - SPECIAL - SMALL.prompt_vocab
    index = content @ (SMALL.content_vocab ** np.arange(SMALL.response_length - 1, -1, -1))
    observed = np.bincount(index, minlength=world.p_pos.size)
    expected = world.response_distribution(0.5) * data.tokens.shape[0]
    assert stats.chisquare(observed, expected).pvalue > 1e-4


def test_deterministic_by_seed_and_different_across_seeds():
    a, b, c, d = World(SMALL), World(SMALL), World(WorldConfig(seed=4)), World(SMALL, seed=1)
    assert np.array_equal(a.datasets()["pre"].tokens, b.datasets()["pre"].tokens)
    assert np.array_equal(a.p_pos, b.p_pos) and not np.array_equal(a.p_pos, c.p_pos)
    assert not np.array_equal(a.p_pos, d.p_pos)  # each run seed draws its own world


def test_splits_are_independent_draws(world):
    data = world.datasets()
    assert not np.array_equal(data["pre"].tokens[:300], data["pre_held_out"].tokens)


def test_save(tmp_path, world):
    world.save(tmp_path)
    with np.load(tmp_path / "world.npz", allow_pickle=False) as z:
        assert np.array_equal(z["p_pos"], world.p_pos)
        assert z["align_tokens"].shape == (1500, SMALL.sequence_length)
    assert (tmp_path / "config.json").is_file()


def test_all_responses_lexicographic():
    r = all_responses(3, 2)
    assert r.tolist() == [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2], [2, 0], [2, 1], [2, 2]]


@pytest.mark.parametrize("field, value, match", [
    ("content_vocab", 3, "even"), ("response_length", 4, "odd"), ("alpha", 1.0, "alpha"),
    ("pre_positive_fraction", 1.5, "fraction"), ("n_align", 0, "n_align must be an integer in"),
    ("content_vocab", 1024, "2\\^20"), ("law", "gauss", "law must be"), ("zipf_s", 0.0, "zipf_s"),
])
def test_bad_config(field, value, match):
    with pytest.raises(ValueError, match=match):
        WorldConfig(**{field: value})


def test_the_format_only_sample_has_the_format_and_no_law():
    """Every response equally likely (uniform over all M), in the world's sequence format."""
    world = World(WorldConfig(), 2)
    data = world.format_sample(60_000, 10)
    same_format = world.sample(10, 0.5, 10).tokens
    for column in (0, world.config.response_start - 1, -1):  # BOS, SEP, EOS where D_pre has them
        assert (data.tokens[:, column] == same_format[0, column]).all()
    responses = data.tokens[:, world.config.response_start:-1] - SPECIAL - world.config.prompt_vocab
    index = (responses * world.config.content_vocab ** np.arange(world.config.response_length)[::-1]).sum(1)
    counts = np.bincount(index, minlength=world.responses.shape[0])
    assert stats.chisquare(counts).pvalue > 1e-3  # uniform over M = 216 (a false alarm 1 in 1000)
    assert np.array_equal(data.positive, world.is_positive[index])
