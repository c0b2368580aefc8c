"""Real datasets from local files, in their public column layouts (nothing is downloaded).

Read with Hugging Face ``datasets``: a data directory holds one file per split named after it
(``train.jsonl``, ``test.jsonl``; or ``.json``, ``.parquet``, ``.csv``; read by
``load_dataset(<builder>, data_files=...)``), or is a ``save_to_disk`` folder (a DatasetDict
with those splits, or one Dataset taken as ``train``; ``load_from_disk``); a name that is not a
directory is looked up in the local ``datasets`` cache (offline: nothing is downloaded).
Without a ``test`` split every tenth training row is held out (rows 9, 19, ...), so the
held-out set is fixed. ``columns`` maps the format's column names to the file's
(``text=review,label=sentiment``).

Formats (columns):
- ``imdb``: text, label (1 positive, 0 negative). Prompts are the first 2 to 8 tokens of a
  review (the paper, after DPO's setup; the count is drawn per row from a seeded generator),
  the completion is the rest. Tokens are the model tokenizer's when one is given, else words.
- ``safe-rlhf`` (PKU-SafeRLHF): prompt, response_0, response_1, is_response_0_safe,
  is_response_1_safe. Safe responses are positive, unsafe negative; rows with one of each come
  first in both lists, so positive[i] and negative[i] share a prompt (DPO pairs).
- ``alpaca``: instruction, input, output (all positive; for the forward/inverse experiment).
- ``qa`` (TruthfulQA-style): question, and best_answer or answer.
"""

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FORMATS = {
    "imdb": ("text", "label"),
    "safe-rlhf": ("prompt", "response_0", "response_1", "is_response_0_safe", "is_response_1_safe"),
    "alpaca": ("instruction", "input", "output"),
    "qa": ("question",),
}
EXTENSIONS = ("jsonl", "json", "parquet", "csv")
IMDB_PROMPT_TOKENS = (2, 8)


@dataclass(frozen=True)
class TextData:
    """Prompt/completion pairs by style, train and test, and the prompts to evaluate on."""

    name: str
    positive: list[tuple[str, str]]
    negative: list[tuple[str, str]]
    test_positive: list[tuple[str, str]]
    test_negative: list[tuple[str, str]]
    eval_prompts: list[str]


def _split_file(data_dir: Path, split: str) -> Path | None:
    for ext in EXTENSIONS:
        if (data_dir / f"{split}.{ext}").is_file():
            return data_dir / f"{split}.{ext}"
    return None


BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}


def _read_file(path: Path) -> list[dict]:
    import datasets

    datasets.disable_progress_bars()
    try:
        return datasets.load_dataset(BUILDERS[path.suffix], data_files=str(path), split="train").to_list()
    except Exception as err:  # datasets raises many kinds; any of them means this file cannot be read
        raise ValueError(f"{path}: not readable as {path.suffix[1:]} ({type(err).__name__}: "
                         f"{str(err).splitlines()[0][:200]})") from None


def _from_cache(name: str) -> dict[str, list[dict]]:
    import datasets

    datasets.disable_progress_bars()
    try:
        loaded = datasets.load_dataset(name)
    except Exception:
        raise ValueError(f"--data-dir {name} is not a directory, and no dataset of that name is in the "
                         f"local datasets cache (nothing is downloaded)") from None
    return {split: loaded[split].to_list() for split in loaded}


def read_splits(data_dir, columns: str = "") -> dict[str, list[dict]]:
    """{'train': rows, 'test': rows} from files, a datasets save directory or the local cache,
    with the columns renamed as ``columns`` says (``wanted=found,...``)."""
    path = Path(data_dir).expanduser()
    if path.is_dir() and ((path / "dataset_dict.json").is_file() or (path / "state.json").is_file()):
        from datasets import DatasetDict, load_from_disk

        saved = load_from_disk(str(path))
        splits = {k: saved[k].to_list() for k in saved} if isinstance(saved, DatasetDict) \
            else {"train": saved.to_list()}
    elif path.is_dir():
        splits = {s: _read_file(p) for s in ("train", "test") if (p := _split_file(path, s))}
    elif path.exists():
        raise ValueError(f"--data-dir {path} is not a directory")
    else:
        splits = _from_cache(str(data_dir))
    if "train" not in splits or not splits["train"]:
        raise ValueError(f"--data-dir {data_dir} has no train split (train.jsonl, train.json, "
                         f"train.parquet, train.csv or a datasets save directory)")
    if "test" not in splits:
        rows = splits["train"]
        splits = {"train": [r for i, r in enumerate(rows) if i % 10 != 9],
                  "test": [r for i, r in enumerate(rows) if i % 10 == 9]}
    return {name: _renamed(rows, columns) for name, rows in splits.items()}


def _renamed(rows: list[dict], columns: str) -> list[dict]:
    if not columns:
        return rows
    pairs = [item.split("=", 1) for item in columns.split(",")]
    if any(len(p) != 2 or not p[0] or not p[1] for p in pairs):
        raise ValueError(f"--columns expects WANTED=FOUND pairs, comma-separated; got {columns!r}")
    mapping = {found: wanted for wanted, found in pairs}
    return [{mapping.get(k, k): v for k, v in row.items()} for row in rows]


def _check_columns(rows: list[dict], dataset: str, where: str) -> None:
    needed = set(FORMATS[dataset])
    if dataset == "qa":
        needed |= {"best_answer"} if rows and "best_answer" in rows[0] else {"answer"}
    missing = sorted(needed - set(rows[0]) if rows else needed)
    if missing:
        raise ValueError(f"{where}: the {dataset} format needs columns {sorted(needed)}; missing "
                         f"{missing} (found {sorted(rows[0]) if rows else 'no rows'})")


def _as_bool(value, where: str) -> bool:
    if isinstance(value, (bool, int, np.integer)) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("1", "true", "pos", "positive"):
        return True
    if text in ("0", "false", "neg", "negative"):
        return False
    raise ValueError(f"{where}: cannot read {value!r} as a label (expected 0/1 or true/false)")


def _imdb_prompt(text: str, n: int, tokenizer) -> tuple[str, str]:
    """The first ``n`` tokens (or words) of ``text`` as the prompt; the rest as completion."""
    if tokenizer is not None and tokenizer.is_fast:
        offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        cut = offsets[min(n, len(offsets)) - 1][1] if offsets else 0
    else:
        words = list(re.finditer(r"\S+", text))
        cut = words[min(n, len(words)) - 1].end() if words else 0
    return text[:cut], text[cut:]


def _imdb(rows, where, seed, tokenizer):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(IMDB_PROMPT_TOKENS[0], IMDB_PROMPT_TOKENS[1] + 1, len(rows))
    pos, neg = [], []
    for row, n in zip(rows, lengths, strict=True):
        text = str(row["text"]).replace("<br />", " ").strip()
        (pos if _as_bool(row["label"], where) else neg).append(_imdb_prompt(text, int(n), tokenizer))
    return pos, neg


def _safe_rlhf(rows, where):
    paired_pos, paired_neg, pos, neg = [], [], [], []
    for row in rows:
        prompt = f"User: {str(row['prompt']).strip()}\nAssistant: "
        answers = [(str(row[f"response_{i}"]), _as_bool(row[f"is_response_{i}_safe"], where)) for i in (0, 1)]
        if answers[0][1] != answers[1][1]:  # one safe, one unsafe: a natural DPO pair
            safe, unsafe = sorted(answers, key=lambda a: not a[1])
            paired_pos.append((prompt, safe[0]))
            paired_neg.append((prompt, unsafe[0]))
        else:
            for text, safe in answers:
                (pos if safe else neg).append((prompt, text))
    return paired_pos + pos, paired_neg + neg


def _alpaca(rows, where):
    def prompt(row):
        extra = str(row["input"] or "").strip()
        return (f"Instruction: {str(row['instruction']).strip()}\n"
                + (f"Input: {extra}\n" if extra else "") + "Response: ")
    return [(prompt(r), str(r["output"])) for r in rows], []


def _qa(rows, where):
    key = "best_answer" if "best_answer" in rows[0] else "answer"
    return [(f"Question: {str(r['question']).strip()}\nAnswer: ", str(r[key])) for r in rows], []


def _interleave(a: list, b: list) -> list:
    n = min(len(a), len(b))
    return [x for pair in zip(a[:n], b[:n], strict=True) for x in pair] + a[n:] + b[n:]


def load(dataset: str, data_dir, seed: int = 0, tokenizer=None, columns: str = "") -> TextData:
    """Read and convert a local dataset; raises ValueError naming the file and the problem."""
    if dataset not in FORMATS:
        raise ValueError(f"dataset must be one of {sorted(FORMATS)}, got {dataset!r}")
    out = {}
    for split, rows in read_splits(data_dir, columns).items():
        where = f"{data_dir} ({split} split)"
        _check_columns(rows, dataset, where)
        if dataset == "imdb":
            out[split] = _imdb(rows, where, [seed, split == "test"], tokenizer)
        else:
            out[split] = {"safe-rlhf": _safe_rlhf, "alpaca": _alpaca, "qa": _qa}[dataset](rows, where)
    (pos, neg), (test_pos, test_neg) = out["train"], out["test"]
    prompts = [p for p, _ in _interleave(test_pos, test_neg)]  # both styles' prompts in any prefix
    if not prompts:
        raise ValueError(f"{data_dir}: the test split has no usable rows")
    return TextData(dataset, pos, neg, test_pos, test_neg, list(dict.fromkeys(prompts)))
