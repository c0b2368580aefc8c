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


def rows(run_dir, partial: bool = False) -> list[dict]:
    """The tidy rows of a run folder (cell records, else the finished result's metrics), every
    file checked as the engine checks it: seals, the run's fingerprint, each cell's key. A run
    without its result.json is refused unless ``partial``; then every row says ``partial``."""
    folder = Path(run_dir)
    record_path = folder / store.CONFIG_FILE
    cells = sorted((folder / "cells").glob("*.json"))
    finished = (folder / store.RESULT_FILE).is_file()
    if record_path.is_file() and cells:
        record = store.read_sealed_json(record_path, "use another --run-id or delete the folder")
        config, fp = record.get("config"), record.get("fingerprint")
        if fp != store.fingerprint(config):
            raise store.StoreError(f"{record_path}: its fingerprint does not match its config; delete the folder")
        if finished:
            store.read_result(folder, config=config)
        elif not partial:
            raise store.StoreError(f"{folder} is not finished ({len(cells)} cells on disk, no {store.RESULT_FILE}); "
                                   f"rerun it, or export what there is with --partial")
        prefix = _explode({"config": config})[0]
        out = []
        for path in cells:
            cell = store.read_sealed_json(path, "delete it to rerun the cell")
            if cell.get("fingerprint") != fp or cell.get("key") != path.stem:
                raise store.StoreError(f"{path} belongs to another configuration or cell; delete it to rerun it")
            out += [{**prefix, "cell": path.stem, **({"partial": True} if not finished else {}), **row}
                    for row in _explode(cell.get("record", {}))]
        return out
    if finished:
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


def table(run_dir, partial: bool = False):
    """``rows(run_dir)`` as a pandas DataFrame."""
    return _pandas().DataFrame(rows(run_dir, partial))


def summary_table(run_dir):
    """``summary(run_dir)`` as a pandas DataFrame (one column per header)."""
    _, headers, body = summary(run_dir)
    return _pandas().DataFrame(body, columns=headers)


def output_path(run_dir, fmt: str, what: str, out=None, force: bool = False) -> Path:
    """Where an export may write: ``out`` or RUN_DIR/<what>.<fmt>. Inside a run folder only the
    export's own file names; an existing file only with ``force``. Nothing a user asks for can
    replace a result, a cell or a checkpoint."""
    out = Path(out) if out else Path(run_dir) / f"{what}.{fmt}"
    own = {f"{table}.{f}" for table in TABLES for f in FORMATS}
    run = Path(run_dir).resolve()
    if (run == out.resolve().parent or run in out.resolve().parents) and out.name not in own:
        raise ValueError(f"--out {out}: inside a run folder an export writes only {', '.join(sorted(own))}; "
                         f"choose another path")
    if out.is_dir():
        raise ValueError(f"--out {out} is a directory; give a file path")
    if out.exists() and not force:
        raise ValueError(f"--out {out} exists; pass --force to replace it")
    return out


def write(run_dir, fmt: str = "csv", out=None, what: str = "cells", force: bool = False,
          partial: bool = False) -> Path:
    """The ``what`` table (cells or summary) written as ``fmt`` to ``output_path``, atomically."""
    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {FORMATS}, got {fmt!r}")
    if what not in TABLES:
        raise ValueError(f"--table must be one of {TABLES}, got {what!r}")
    out = output_path(run_dir, fmt, what, out, force)
    frame = table(run_dir, partial) if what == "cells" else summary_table(run_dir)
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
