"""Tidy results: one row per measured point of a run, one column per configuration field and
measurement (``elasticity export RUN_DIR --format csv|parquet``; ``table(run_dir)`` returns a
pandas DataFrame); and a finished run's summary table (``--table summary``; ``summary(run_dir)``),
which is also the report's table of that run.

A run folder's cell records are nested (a trajectory of points, curves by variant and learning
rate); every list of records becomes rows, labelled by the path that led to it (column
``series``, e.g. ``perturb.target.0.001``), and every scalar above it is repeated on those
rows. Configuration fields come first, as ``config.<field>`` (nested fields dotted). A finished
run without cell records (sim check, audit) gives one row per result.
"""

from pathlib import Path

from elasticity import render
from harness import store

FORMATS = ("csv", "parquet")
TABLES = ("cells", "summary")
# the experiments with a summary table (verdicts with intervals, crossings, Table 2)
SUMMARIES = {"audit": render.audit_table, "counterfactual": render.counterfactual_table,
             "resist": render.resist_table, "rebound": render.rebound_table}


def _explode(obj: dict, prefix: str = "") -> list[dict]:
    """Rows of a nested record: scalars as dotted columns; each list of records as rows whose
    ``series`` is the dotted path to that list."""
    scalars, groups = {}, []
    for key, value in obj.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            sub = _explode(value, f"{path}.")  # its series are full paths already
            if len(sub) == 1 and "series" not in sub[0]:
                scalars.update(sub[0])
            else:
                groups.append(sub)
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            groups.append([{**row, "series": path + (f".{row['series']}" if "series" in row else "")}
                           for item in value for row in _explode(item)])
        elif isinstance(value, list):
            scalars[path] = ",".join(str(v) for v in value)
        else:
            scalars[path] = value
    if not groups:
        return [scalars]
    return [{**scalars, **row} for sub in groups for row in sub]


def rows(run_dir) -> list[dict]:
    """The tidy rows of a run folder (cell records, else the finished result's metrics)."""
    folder = Path(run_dir)
    record_path = folder / store.CONFIG_FILE
    cells = sorted((folder / "cells").glob("*.json"))
    if record_path.is_file() and cells:
        config = store.read_json(record_path).get("config", {})
        records = [store.read_json(p) for p in cells]
        prefix = _explode({"config": config})[0]
        return [{**prefix, "cell": r.get("key", ""), **row} for r in records
                for row in _explode(r.get("record", {}))]
    if (folder / store.RESULT_FILE).is_file():
        doc = store.read_result(folder)
        metrics = doc["metrics"] if isinstance(doc["metrics"], dict) else {"rows": doc["metrics"]}
        return [{**_explode({"config": doc["config"]})[0], **row} for row in _explode(metrics)]
    raise store.StoreError(f"{folder} holds no cells and no result.json: nothing to export")


def summary(run_dir) -> tuple[str, list[str], list[list[str]]]:
    """(title, headers, rows) of a finished run's result, as the report shows it; the result is
    read through the store's checked reader (a damaged one raises StoreError)."""
    folder = Path(run_dir)
    experiment = folder.parent.name
    if experiment not in SUMMARIES:
        raise ValueError(f"{folder}: no summary table for {experiment!r} results (there is one for "
                         f"{sorted(SUMMARIES)}); --table cells exports any run")
    if not (folder / store.RESULT_FILE).is_file():
        raise store.StoreError(f"{folder} has no {store.RESULT_FILE}: the run is not finished")
    return SUMMARIES[experiment](folder.name, store.read_result(folder, experiment=experiment))


def _pandas():
    try:
        import pandas as pd
    except ImportError:
        raise ValueError("export needs pandas: pip install -c constraints-cpu.txt -e '.[empirical]'") from None
    return pd


def table(run_dir):
    """``rows(run_dir)`` as a pandas DataFrame."""
    return _pandas().DataFrame(rows(run_dir))


def summary_table(run_dir):
    """``summary(run_dir)`` as a pandas DataFrame (one column per header)."""
    _, headers, body = summary(run_dir)
    return _pandas().DataFrame(body, columns=headers)


def write(run_dir, fmt: str = "csv", out=None, what: str = "cells") -> Path:
    """The ``what`` table (cells or summary) written as ``fmt`` to ``out`` (default
    RUN_DIR/<what>.<fmt>), atomically."""
    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {FORMATS}, got {fmt!r}")
    if what not in TABLES:
        raise ValueError(f"--table must be one of {TABLES}, got {what!r}")
    frame = table(run_dir) if what == "cells" else summary_table(run_dir)
    out = Path(out) if out else Path(run_dir) / f"{what}.{fmt}"
    if fmt == "csv":
        store.atomic_write_text(out, frame.to_csv(index=False))
    else:
        import io

        buffer = io.BytesIO()
        try:
            frame.to_parquet(buffer, index=False)
        except ImportError:
            raise ValueError("parquet export needs pyarrow (installed with the [empirical] extra)") from None
        store.atomic_write_bytes(out, buffer.getvalue())
    return out
