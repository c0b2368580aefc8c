"""Local datasets, scorers, model loading and text measurement on tiny fixtures (CPU)."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import text_fixtures as F
from empirical import data, score, text


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return {"lm": F.causal_lm(root / "lm", seed=123), "clf": F.classifier(root / "clf"),
            "cost": F.cost_model(root / "cost"), "root": root}


IMDB = {"train": F.imdb_rows(30, 20), "test": F.imdb_rows(6, 6, seed=1)}


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet", "disk"])
def test_every_file_format_reads_the_same_imdb(tmp_path, fmt):
    loaded = data.load("imdb", F.write(tmp_path / fmt, IMDB, fmt))
    reference = data.load("imdb", F.write(tmp_path / "ref", IMDB, "jsonl"))
    assert loaded == reference
    assert (len(loaded.positive), len(loaded.negative)) == (30, 20)
    assert all("<br />" not in p + c for p, c in loaded.negative)


def test_imdb_prompts_are_2_to_8_tokens_and_prompt_plus_completion_is_the_review(tmp_path, tiny):
    tok = text.load_tokenizer(tiny["lm"])
    loaded = data.load("imdb", F.write(tmp_path, IMDB), tokenizer=tok)
    rows = [r["text"].replace("<br />", " ").strip() for r in IMDB["train"]]
    for prompt, completion in loaded.positive + loaded.negative:
        assert 2 <= len(tok(prompt, add_special_tokens=False)["input_ids"]) <= 8
        assert prompt + completion in rows


@given(st.text(alphabet="ab \n", min_size=0, max_size=40), st.integers(2, 8))
def test_imdb_word_prompt_splits_the_text_exactly(review, n):
    """Without a tokenizer: prompt + completion == text; the prompt holds min(n, words) words."""
    prompt, completion = data._imdb_prompt(review, n, None)
    assert prompt + completion == review
    assert len(prompt.split()) == min(n, len(review.split()))


def test_safe_rlhf_pairs_share_prompts_and_label_by_safety(tmp_path):
    rows = F.safe_rlhf_rows(40)
    loaded = data.load("safe-rlhf", F.write(tmp_path, {"train": rows, "test": F.safe_rlhf_rows(8, 1)}))
    mixed = sum(r["is_response_0_safe"] != r["is_response_1_safe"] for r in rows)
    assert all(loaded.positive[i][0] == loaded.negative[i][0] for i in range(mixed))
    assert all(c == "i help you cook rice safe" for _, c in loaded.positive)
    assert all(c == "steal a car this is how" for _, c in loaded.negative)
    assert len(loaded.positive) + len(loaded.negative) == 2 * len(rows)


def test_alpaca_and_qa_formats_and_the_held_out_tenth(tmp_path):
    alpaca = data.load("alpaca", F.write(tmp_path / "a", {"train": F.alpaca_rows(40)}))
    assert len(alpaca.positive) == 36 and len(alpaca.test_positive) == 4  # rows 9, 19, 29, 39
    assert alpaca.positive[0][0].startswith("Instruction: make a story\nInput: the movie")
    assert "Input:" not in alpaca.positive[1][0]
    qa = data.load("qa", F.write(tmp_path / "q", {"train": F.qa_rows(10), "test": F.qa_rows(3)}))
    assert qa.positive[0][0] == "Question: what is the plot\nAnswer: " and len(qa.eval_prompts) == 1


def test_bad_datasets_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match=r"needs columns .*missing \['label'\]"):
        data.load("imdb", F.write(tmp_path / "w", {"train": [{"text": "a b", "stars": 3}]}))
    with pytest.raises(ValueError, match="no train split"):
        data.load("imdb", F.write(tmp_path / "t", {"test": F.imdb_rows(3, 3)}))
    with pytest.raises(ValueError, match="cannot read 'maybe' as a label"):
        data.load("imdb", F.write(tmp_path / "l", {"train": [{"text": "a b c", "label": "maybe"}]}))
    with pytest.raises(ValueError, match="not a directory"):
        data.load("imdb", tmp_path / "absent")
    with pytest.raises(ValueError, match="dataset must be one of"):
        data.load("sst2", tmp_path)


def test_vader_separates_the_fixture_styles():
    scorer = score.make("vader")
    pos = scorer.values([r["text"] for r in IMDB["train"] if r["label"] == 1])
    neg = scorer.values([r["text"] for r in IMDB["train"] if r["label"] == 0])
    assert pos.mean() == 1.0 and neg.mean() == 0.0  # the fixture reviews end on two style words
    assert score.summarize(scorer, np.array([1.0, 0.0]))["score"] == 0.5


def test_classifier_scores_by_the_positive_label_and_ignores_padding(tiny):
    scorer = score.make("classifier", str(tiny["clf"]))
    texts = ["great movie", "awful film and sad plot the end of it", "love"]
    together = scorer.values(texts)
    alone = np.concatenate([scorer.values([t]) for t in texts])
    np.testing.assert_array_equal(together, alone)  # right padding must not change a label
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(tiny["clf"]).eval()
    with torch.no_grad():
        labels = [int(model(**scorer.tokenizer(t, return_tensors="pt")).logits.argmax()) for t in texts]
    np.testing.assert_array_equal(together, np.array(labels) == 1)
    assert scorer.info["measures"] == "share of responses labelled 'POSITIVE'"


def test_cost_model_reads_the_score_head_at_the_last_token(tiny):
    scorer = score.make("cost", str(tiny["cost"]))
    texts = ["how do i steal a car", "cook rice", "the"]
    values = scorer.values(texts)
    from safetensors.torch import load_file
    from transformers import LlamaModel

    head = load_file(str(tiny["cost"] / "model.safetensors"))
    backbone = LlamaModel.from_pretrained(tiny["cost"]).eval()
    with torch.no_grad():
        expected = [float(backbone(**scorer.tokenizer(t, return_tensors="pt")).last_hidden_state[0, -1]
                          @ head["score_head.weight"][0] + head["score_head.bias"][0]) for t in texts]
    np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-6)  # float32 sums of 32 terms
    summary = score.summarize(scorer, values)
    assert summary["unsafe_fraction"] == float(np.mean(values > 0))


def test_scorer_paths_that_are_not_scorers_are_refused(tiny, tmp_path):
    with pytest.raises(ValueError, match="not a sequence classifier"):
        score.make("classifier", str(tiny["lm"]))
    with pytest.raises(ValueError, match="not a cost model"):
        score.make("cost", str(tiny["clf"]))
    with pytest.raises(ValueError, match="no config.json"):
        score.make("classifier", str(tmp_path))
    with pytest.raises(ValueError, match="needs --scorer-path"):
        score.make("cost")
    unlabeled = F.classifier(tmp_path / "u", labels=("LABEL_0", "LABEL_1"))
    with pytest.raises(ValueError, match="cannot tell which label is positive"):
        score.make("classifier", str(unlabeled))


def test_model_paths_are_checked(tiny, tmp_path):
    assert text.check_causal_lm(str(tiny["lm"])) == tiny["lm"]
    with pytest.raises(ValueError, match="does not exist"):
        text.check_causal_lm(str(tmp_path / "nothing"))
    with pytest.raises(ValueError, match="no config.json"):
        text.check_causal_lm(str(tmp_path))
    with pytest.raises(ValueError, match="not a causal language model"):
        text.check_causal_lm(str(tiny["clf"]))
    with pytest.raises(ValueError, match="local Hugging Face cache"):
        text.check_causal_lm("no-such-org/no-such-model")


def test_generation_is_seeded_and_code_length_is_padding_free(tiny):
    model, tok = text.load_causal_lm(tiny["lm"]), text.load_tokenizer(tiny["lm"])
    prompts = ["the movie", "a great film and"]
    decoding = text.Decoding(max_new_tokens=6, temperature=1.0)
    assert text.generate(model, tok, prompts, decoding, 3) == text.generate(model, tok, prompts, decoding, 3)
    completions = [" was great", " it was awful and dull the end"]
    both = text.completion_code_length(model, tok, prompts, completions)
    parts = [text.completion_code_length(model, tok, [p], [c])
             for p, c in zip(prompts, completions, strict=True)]
    weighted = sum(p["nats_per_token"] * p["tokens"] for p in parts) / sum(p["tokens"] for p in parts)
    assert both["tokens"] == 2 + 1 + 7 + 1  # completion words + EOS each
    assert both["nats_per_token"] == pytest.approx(weighted, rel=1e-9)  # float64 sums of ~10 terms
    # the same number from the model's own loss on one sequence
    ids = tok(prompts[0] + completions[0])["input_ids"] + [tok.eos_token_id]
    labels = torch.tensor([[-100] * 2 + ids[2:]])
    with torch.no_grad():
        loss = model(input_ids=torch.tensor([ids]), labels=labels).loss
    assert parts[0]["nats_per_token"] == pytest.approx(float(loss), rel=1e-5)  # float32 logits in torch


def test_trainer_extra_reaches_the_trl_arguments(tmp_path):
    """Extra trainer arguments reach trl unchanged (here a setting CPU accepts)."""
    from trl import SFTConfig

    from empirical.train import StageConfig, _trainer_args

    args = _trainer_args(SFTConfig, StageConfig(trainer_extra={"gradient_accumulation_steps": 3},
                                                lr_scheduler="constant"), str(tmp_path))
    assert args.gradient_accumulation_steps == 3 and args.lr_scheduler_type == "constant"


def test_columns_map_other_names_onto_the_format(tmp_path):
    rows = [{"review": r["text"], "sentiment": r["label"]} for r in F.imdb_rows(20, 20)]
    folder = F.write(tmp_path / "renamed", {"train": rows})
    got = data.load("imdb", folder, columns="text=review,label=sentiment")
    plain = data.load("imdb", F.write(tmp_path / "plain", {"train": F.imdb_rows(20, 20)}))
    assert got.positive == plain.positive and got.negative == plain.negative
    with pytest.raises(ValueError, match="needs columns"):
        data.load("imdb", folder)
    with pytest.raises(ValueError, match="--columns expects WANTED=FOUND"):
        data.load("imdb", folder, columns="text")


def test_a_name_not_in_the_local_cache_is_refused_offline():
    with pytest.raises(ValueError, match="no dataset of that name is in the local datasets cache"):
        data.read_splits("surely-not-a-cached-dataset-name")
