"""Reading result files for the figures, through the store's checked reader (schema version,
fingerprint, and the fields each experiment must hold), so a figure never meets a missing
field: a bad result becomes a ResultError naming the file and the field."""

from pathlib import Path

from harness import store


class ResultError(Exception):
    """A result a figure needs is missing or malformed; the message says which and why."""


def load(path: Path) -> dict:
    """results/<experiment>/<run_id>/result.json, checked against <experiment>'s schema."""
    path = Path(path)
    try:
        return store.read_result(path, experiment=path.parent.parent.name)
    except store.StoreError as err:
        raise ResultError(str(err)) from None


def one(root: Path, experiment: str, run_id: str) -> dict:
    return load(Path(root) / experiment / run_id / "result.json")


def every(root: Path, experiment: str) -> list[tuple[str, dict]]:
    """All finished results of an experiment, by run id; none is an error."""
    paths = sorted((Path(root) / experiment).glob("*/result.json"))
    if not paths:
        raise ResultError(f"no {experiment} results under {Path(root) / experiment}")
    return [(doc["run_id"], doc) for doc in map(load, paths)]  # the stored id (checked against its folder)


def command(doc: dict) -> str:
    return doc.get("provenance", {}).get("command") or "(command not recorded)"
