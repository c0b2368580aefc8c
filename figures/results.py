"""Reading result files for the figures (plain JSON; the store's schema, checked)."""

import json
from pathlib import Path

SCHEMA_VERSION = 1  # elasticity.store.SCHEMA_VERSION (not imported: figures stay standalone)


class ResultError(Exception):
    """A result a figure needs is missing or malformed; the message says which and why."""


def load(path: Path) -> dict:
    if not path.is_file():
        raise ResultError(f"no result at {path}")
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ResultError(f"{path} is not valid JSON ({err})") from None
    if not isinstance(doc, dict) or doc.get("schema_version") != SCHEMA_VERSION:
        raise ResultError(f"{path}: not a result of schema version {SCHEMA_VERSION}")
    return doc


def one(root: Path, experiment: str, run_id: str) -> dict:
    return load(Path(root) / experiment / run_id / "result.json")


def every(root: Path, experiment: str) -> list[tuple[str, dict]]:
    """All finished results of an experiment, by run id; none is an error."""
    paths = sorted((Path(root) / experiment).glob("*/result.json"))
    if not paths:
        raise ResultError(f"no {experiment} results under {Path(root) / experiment}")
    return [(p.parent.name, load(p)) for p in paths]


def command(doc: dict) -> str:
    return doc.get("provenance", {}).get("command") or "(command not recorded)"
