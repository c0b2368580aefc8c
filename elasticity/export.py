"""Tidy, typed tables of a run (``elasticity export RUN_DIR``; ``table`` and ``summary_table``
return pandas DataFrames):

- ``cells``: one row per measured point. A cell record's nested trajectories become rows, and
  the path that led to each becomes axis columns named for what they are: ``stage`` (pretrain,
  align, perturb; rebound: second), ``variant``, ``second_lr``, ``control`` with its
  ``anchor_beta`` or ``spring``, ``q1`` and ``q2`` (the examples seen in that stage); resist's pairs as ``pair_first``
  and ``pair_second``. Scalars above a trajectory (the arm, its seed, its aligned score) repeat on
  its rows; lists stay lists (parquet list columns; JSON text in csv). Configuration fields only
  on request (``with_config``), as ``config.<field>``. A finished run without cells gives its
  metrics' rows; a theory map gives one row per (alpha, k) point with a column per quantity.
- ``summary``: the run's quantities as numbers: ``quantity``, ``mean``, ``ci95_low``,
  ``ci95_high``, ``n_seeds``, ``verdict``, ``note`` and the columns that locate a row (pair, q1,
  strength, nominal k, ...); an undefined interval is empty (NaN), never a string.
"""

import json
from pathlib import Path

from harness import store

FORMATS = ("csv", "parquet")
TABLES = ("cells", "summary", "per-seed")
SERIES = "_series"  # the path of keys that led to a row (turned into axis columns, then dropped)


def _explode(obj: dict) -> list[dict]:
    """Rows of a nested record: every scalar (and list of scalars) of the record as a dotted
    column repeated on each row; each list of records as rows carrying the path of keys that led
    to it under ``SERIES``."""
    scalars, groups = {}, []

    def walk(node: dict, prefix: str, path: tuple) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.", (*path, key))
            elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                groups.append([{**row, SERIES: (*path, key, *row.get(SERIES, ()))} for item in value
                               for row in _explode(item)])
            else:
                scalars[f"{prefix}{key}"] = value

    walk(obj, "", ())
    if not groups:
        return [scalars]
    return [{**scalars, **row} for group in groups for row in group]


def _counterfactual_axes(path: tuple, row: dict, config: dict) -> dict:
    """What a counterfactual trajectory's path means: its stage, variant, learning rate, control."""
    e, q = config["primary_endpoint"], row.pop("q", None)
    if path[:1] == ("align",):
        return {"stage": "align", "variant": None, "q1": q}
    axes = {"stage": "perturb", "q2": q, "variant": e["alignment"], "second_lr": e["second_lr"], "control": None}
    head = path[0]
    if head == "perturb":  # records hold the numeric values: read them, never parse a key
        return axes | {"variant": row.pop("alignment"), "second_lr": row.pop("second_lr")}
    if head == "dose_arm":
        return axes | {"variant": "target at dose_align_lr"}
    axes["control"] = head
    for name in ("anchor_beta", "spring"):
        if name in row and head in ("anchor", "spring"):
            axes[name] = row.pop(name)
    return axes


def _rebound_axes(path: tuple, row: dict, config: dict) -> dict:
    return {"stage": "second", "q2": row.pop("q", None)}


def _resist_axes(path: tuple, row: dict, config: dict) -> dict:
    first, second = row.pop("pair")
    return {"pair_first": first, "pair_second": second}


def _theorem_axes(path: tuple, row: dict, config: dict) -> dict:
    """A theorem cell is one point (alpha, k, world seed, capacity) with its numbers as columns;
    a list inside it keeps its path as ``series``."""
    return {"series": ".".join(path)}


def _scaling_axes(path: tuple, row: dict, config: dict) -> dict:
    """A scaling cell's rows: each member's perturbation path, one row per Q2 (Q2 = 0: aligned)."""
    return {"stage": "perturb", "q2": row.pop("q", None)}


AXES = {"counterfactual": _counterfactual_axes, "rebound": _rebound_axes, "resist": _resist_axes,  # cell records
        "theorem": _theorem_axes, "scaling": _scaling_axes}
INTEGER_AXES = ("q1", "q2", "pair_first", "pair_second", "seed")
FLOAT_AXES = ("second_lr", "anchor_beta", "spring")


def _labelled(label, row: dict, config: dict) -> dict:
    """A row with its path turned into axis columns by ``label`` (a cell record's labeller), or
    kept as one dotted ``series`` column where there is none (a result's metrics)."""
    path = row.pop(SERIES, None)
    if path is None:
        return row
    axes = label(path, row, config) if label else {"series": ".".join(path)}
    return {**axes, **row}


def rows(run_dir, partial: bool = False, with_config: bool = False) -> list[dict]:
    """The tidy rows of a run folder (cell records, else the finished result's metrics), every
    file checked as the engine checks it: seals, the run's fingerprint, each cell's key. A run
    without its result.json is refused unless ``partial``; then every row says ``partial``."""
    folder = Path(run_dir)
    experiment = folder.parent.name
    record_path = folder / store.CONFIG_FILE
    cells = sorted((folder / "cells").glob("*.json"))
    finished = (folder / store.RESULT_FILE).is_file()
    if record_path.is_file() and cells:
        record = store.read_sealed_json(record_path, "use another --run-id or delete the folder")
        config, fp = record.get("config"), record.get("fingerprint")
        if fp != store.fingerprint(config):
            raise store.StoreError(f"{record_path}: its fingerprint does not match its config; delete the folder")
        if finished and partial:
            raise ValueError(f"--partial applies to an unfinished run; {folder} is finished: export it without "
                             f"--partial")
        if finished:
            store.check_listed_cells(folder, store.read_result(folder, config=config))
        elif not partial:
            raise store.StoreError(f"{folder} is not finished ({len(cells)} cells on disk, no {store.RESULT_FILE}); "
                                   f"rerun it, or export what there is with --partial")
        prefix = _explode({"config": config})[0] if with_config else {}  # config: no lists of records
        out = []
        for path in cells:
            cell = store.read_sealed_json(path, "delete it to rerun the cell")
            if cell.get("fingerprint") != fp or cell.get("key") != path.stem:
                raise store.StoreError(f"{path} belongs to another configuration or cell; delete it to rerun it")
            out += [{"cell": path.stem, **({"partial": True} if not finished else {}),
                     **_labelled(AXES.get(experiment), row, config), **prefix}
                    for row in _explode(cell.get("record", {}))]
        return out
    if finished:
        doc = store.read_result(folder)
        prefix = _explode({"config": doc["config"]})[0] if with_config else {}
        if experiment == "theory-map":
            return [{**row, **prefix} for row in _theory_map_rows(folder, doc)]
        items = doc["metrics"] if isinstance(doc["metrics"], list) else [doc["metrics"]]  # a list: a row each
        return [{**_labelled(None, row, doc["config"]), **prefix} for item in items for row in _explode(item)]
    raise store.StoreError(f"{folder} holds no cells and no result.json: nothing to export")


def _theory_map_rows(folder: Path, doc: dict) -> list[dict]:
    """A theory map in long form: one row per (alpha, k) at its l, a column per stored quantity."""
    m = doc["metrics"]
    grids = store.read_arrays(folder)  # checked against the result's checksum
    names = sorted(m["arrays"])
    return [{"alpha": a, "k": k, "l": m["l"], **{n: float(grids[n][i, j]) for n in names}}
            for i, a in enumerate(m["alpha"]) for j, k in enumerate(m["k"])]


# --------------------------------------------------------------------------- summary tables

def _stat(quantity: str, stat: dict | None, verdict: str = "", note: str = "", **where) -> dict:
    """One summary row from a {mean, ci95, n} statistic (None: nothing measured)."""
    stat = stat or {}
    low, high = stat.get("ci95") or (None, None)
    return {"quantity": quantity, **where, "mean": stat.get("mean"), "ci95_low": low, "ci95_high": high,
            "n_seeds": stat.get("n", stat.get("n_seeds")), "verdict": verdict, "note": note}


def _counterfactual_summary(doc: dict) -> list[dict]:
    e, controls = doc["primary_endpoint"], doc["positive_controls"]
    window = f"Q2 = {', '.join(map(str, e['q2']))}, {e['units']}, {e['alignment']}-matched, lr {e['second_lr']:g}"
    low, high = doc["equivalence"]["ci90"]
    out = [_stat("primary effect", doc["effect"], doc["verdict"], f"declared window: {window}"),
           {**_stat("primary effect, 90% interval", {"mean": doc["effect"]["mean"], "n": doc["effect"]["n_seeds"]},
                    "inside the margin" if doc["equivalence"]["within_margin"] else "not inside the margin",
                    f"+-sesoi = {doc['sesoi']:g}"), "ci90_low": low, "ci90_high": high},
           {**_stat("dose-matched, probability units", doc["dose_matched_probability"], "",
                    "secondary, on the declared window"), "p_holm": doc["dose_matched_probability"]["p_holm"]},
           _stat("adjusted effect", doc["adjusted_effect"], "",
                 "exploratory, post-treatment: paired regression on covariates"),
           _stat("dose effect", doc["dose_effect"], "", "exploratory: the middle f at two alignment rates")]
    out += [_stat("in-window control: anchor", row["effect"], "detected" if row["detected"] else "not detected",
                  anchor_beta=row["anchor_beta"]) for row in controls["in_window"]]
    out += [_stat("late control: spring", row["effect"], "detected" if row["detected"] else "not detected",
                  spring=row["spring"]) for row in controls["spring"]]
    for name in ("replay", "replay_shared"):
        if name in controls:
            out.append(_stat(f"late control: {name}", controls[name]["effect"],
                             "detected" if controls[name]["detected"] else "not detected"))
    for variant, row in doc["metrics"].get("placebo", {}).items():
        out.append(_stat("placebo", row, "covers 0" if row["covers_zero"] else "excludes 0", variant=variant))
    for row in doc["metrics"]["secondary"]:
        area = row["q2"] == "area"
        out.append({**_stat("secondary: mean over the Q2 grid" if area else "secondary: one Q2",
                            {"mean": row["mean"], "ci95": row["ci95_adjusted"]}, "", "exploratory; interval at "
                            "the Bonferroni level of the family"),
                    "variant": row["alignment"], "second_lr": row["second_lr"], "units": row["units"],
                    "q2": None if area else row["q2"], "p_holm": row["p_holm"]})
    for row in doc["effective_k"]:
        out.append({**_stat("effective k", row["observed"], "", row["observed"].get("undefined") or ""),
                    "n_pre": row["n_pre"], "k_mode": row["k_mode"], "nominal_k": row["nominal_k"],
                    "operating_point_k": row["operating_point_k"], "predicted_k": row["predicted"],
                    "n_seeds": doc["effect"]["n_seeds"]})
    return out


def _resist_summary(doc: dict) -> list[dict]:
    m, out = doc["metrics"], []
    for key, what in (("table2", "forward - inverse, with pre-training"),
                      ("without_pretraining", "forward - inverse, without pre-training"),  # protocol version 1
                      ("format_only", "forward - inverse, format-only control")):
        for row in m.get(key, []):
            out.append(_stat(what, row["forward_minus_inverse"], row["verdict"], row["effect"],
                             pair_first=row["pair"][0], pair_second=row["pair"][1]))
    for row in m.get("attributable", []):
        out.append({**_stat("attributable to pre-training", row, row["verdict"], "paired difference, Holm over pairs",
                            pair_first=row["pair"][0], pair_second=row["pair"][1]), "p_holm": row["p_holm"]})
    for row in m.get("sensitivity", []):
        stat = row if row["mean"] is not None else {"mean": None, "ci95": None, "n": 0}
        out.append({**_stat(f"sensitivity: {row['quantity']}, {row['distance']}", stat, row["call"],
                            "primary distance" if row["primary"] else "Holm over pairs, per distance",
                            pair_first=row["pair"][0], pair_second=row["pair"][1]), "p_holm": row["p_holm"]})
    if "valid_mass" in m:
        v = m["valid_mass"]
        out.append({**_stat("lowest valid mass after a path, every seed, arm and path", {"mean": v["min"], "ci95": None,
                                                                               "n": len(v["per_seed_min"])},
                            "at or above threshold" if v["min"] >= v["threshold"] else "below threshold",
                            f"{v['at']['arm']}, seed {v['at']['seed']}, {v['at']['model']}")})
    return out


def _rebound_summary(doc: dict) -> list[dict]:
    m = doc["metrics"]
    runs = m["runs"] if "runs" in m else [{"run": doc["run_id"], **m}]
    out = []
    for run in runs:
        for curve in run["curves"]:
            if curve["arm"] != "no_sft":
                c = curve["crossing_q2"]
                out.append({**_stat("crossing Q2", c, "", "", run=run["run"], arm=curve["arm"], q1=curve["q1"]),
                            "never": c["never"], "points_withheld": sum(curve["withheld"])})
        for row in run["versus_controls"]:
            out.append({**_stat("crossing Q2, pre-trained - control", row["difference_q2"], row["verdict"], "",
                                run=run["run"], q1=row["q1"]), "n_seeds": row["seeds_paired"]})
        for row in run.get("effective_k", []):
            out.append({**_stat("effective k", row["observed"], "", row["observed"].get("undefined") or "",
                                run=run["run"], q1=row["q1"]), "nominal_k": row["nominal_k"]})
    return out


def _audit_summary(doc: dict) -> list[dict]:
    return [{"quantity": f["claim"], "verdict": f["verdict"], "note": f["evidence"]} for f in doc["metrics"]]


def _theorem_summary(doc: dict) -> list[dict]:
    """The three declared endpoints (an interval over world seeds where there is one), then one
    row per cell: observed and predicted s_2 and dgamma_2/dl, excess and fitted depth."""
    e = doc["endpoints"]
    i, ii, iii = e["slope_error"], e["sign"], e["capacity_trend"]
    out = [_stat("endpoint (i): log(s2 pruned / s2 observed)", i, i["verdict"],
                 f"{i['opposite_sign_cells']} cells of opposite sign"),
           {"quantity": "endpoint (ii): sign of dgamma2/dl vs the optimum's", "verdict": ii["verdict"],
            "note": f"{ii['agree']}/{ii['cells']} cells agree"},
           _stat("endpoint (iii): log(observed / predicted) d[(k+1) s2]/d log params", iii, iii["verdict"],
                 f"{iii['opposite_sign_groups']} groups of opposite sign")]
    if "bridge" in e:  # results made before the bridge arm have none
        b = e["bridge"]
        out += [_stat(f"bridge: log(s{n[-1]} sequential / s{n[-1]} joint) at matched N_2", b[n], b["verdict"],
                      f"{b[n]['opposite_sign_cells']} cells of opposite sign; {b['cells']} cells")
                for n in ("N_1", "N_2")]
    for c in doc["cells"]:
        out.append({"quantity": "cell", "alpha": c["alpha"], "k": c["k"], "world_seed": c["world_seed"],
                    "params": c["params"], "converged": c["converged"], "excess_l0": c["excess_l0"],
                    "depth_fitted": c["depth_fitted"], "s2_observed": c["slopes_observed"]["N_2"],
                    "s2_optimal": c["slopes_optimal"]["N_2"], "s2_pruned": c["slopes_pruned"]["N_2"],
                    "dgamma2_dl_observed": c["dgamma2_dl_observed"],
                    "dgamma2_dl_optimal": c["dgamma2_dl_optimal"], "dgamma2_dl_pruned": c["dgamma2_dl_pruned"],
                    "residual": c["residual"],
                    **({"s1_bridge": c["bridge_slopes"]["N_1"], "s2_bridge": c["bridge_slopes"]["N_2"],
                        "dgamma2_dl_bridge": c["bridge_dgamma2_dl"]} if c.get("bridge_slopes") else {})})
    return out


def _scaling_summary(doc: dict) -> list[dict]:
    """The six slope endpoints (effect x term), then each cell's effects over seeds."""
    out = []
    for effect, terms in doc["endpoints"].items():
        for term, e in terms.items():
            low, high = e["ci90"] or (None, None)
            out.append({**_stat(f"{effect}: slope vs {term}", e, e["verdict"], f"{e['units']}; {e['supports']}"),
                        "ci90_low": low, "ci90_high": high, "margin": e["margin"]})
    for c in doc["metrics"]["cells"]:
        where = {"hidden": c["hidden"], "params": c["params"], "n_pre": c["n_pre"]}
        for name in ("counterfactual", "rebound", "excess_pre", "align_gain", "drop_low"):
            out.append(_stat(f"cell: {name}", {**c[name], "n": len(doc["seeds"])}, "", "", **where))
    return out


SUMMARIES = {"audit": _audit_summary, "scaling": _scaling_summary, "theorem": _theorem_summary,
             "counterfactual": _counterfactual_summary,
             "resist": _resist_summary, "rebound": _rebound_summary}
SUMMARY_NUMBERS = ("mean", "ci95_low", "ci95_high", "ci90_low", "ci90_high", "p_holm", "anchor_beta", "spring",
                   "second_lr", "nominal_k", "operating_point_k", "predicted_k", "alpha", "k", "excess_l0",
                   "depth_fitted", "s2_observed", "s2_optimal", "s2_pruned", "dgamma2_dl_observed",
                   "dgamma2_dl_optimal", "dgamma2_dl_pruned", "residual", "s1_bridge", "s2_bridge",
                   "dgamma2_dl_bridge", "margin")
SUMMARY_INTEGERS = ("world_seed", "params", "hidden", "n_seeds", "q1", "q2", "pair_first", "pair_second", "n_pre",
                    "never",
                    "points_withheld")


def summary(run_dir) -> list[dict]:
    """The rows of a finished run's summary (numbers as numbers), read through the store's
    checked reader (a damaged result raises StoreError)."""
    folder = Path(run_dir)
    experiment = folder.parent.name
    if experiment not in SUMMARIES:
        raise ValueError(f"{folder}: no summary table for {experiment!r} results (there is one for "
                         f"{sorted(SUMMARIES)}); --table cells exports any run")
    if not (folder / store.RESULT_FILE).is_file():
        raise store.StoreError(f"{folder} has no {store.RESULT_FILE}: the run is not finished")
    doc = store.read_result(folder, experiment=experiment)
    return [{"run_id": doc["run_id"], **row} for row in SUMMARIES[experiment](doc)]


def _pandas():
    try:
        import pandas as pd
    except ImportError:
        raise ValueError("export needs pandas: pip install -c constraints-cpu.txt -e '.[empirical]'") from None
    return pd


def _typed(frame, floats, integers):
    """Numeric columns as numbers (NaN / <NA> where absent), whatever the first rows held. A
    column that also holds words (a result's metrics: q2 = "area") is left as it is."""
    pd = _pandas()
    for names, dtype in ((floats, "float64"), (integers, "Int64")):
        for name in names:
            values = frame[name].dropna() if name in frame else None
            if values is not None and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                frame[name] = pd.to_numeric(frame[name]).astype(dtype)
    return frame


def table(run_dir, partial: bool = False, with_config: bool = False):
    """``rows(run_dir)`` as a pandas DataFrame, axis columns typed."""
    return _typed(_pandas().DataFrame(rows(run_dir, partial, with_config)), FLOAT_AXES, INTEGER_AXES)


def per_seed(run_dir) -> list[dict]:
    """A finished run's per-seed values (long form: seed, quantity, the locating value, value):
    everything its verdict is computed from, so that anyone can recompute it from this table."""
    folder = Path(run_dir)
    if not (folder / store.RESULT_FILE).is_file():
        raise store.StoreError(f"{folder} has no {store.RESULT_FILE}: the run is not finished")
    doc = store.read_result(folder, experiment=folder.parent.name)
    if not doc.get("per_seed"):
        raise ValueError(f"{folder}: this result has no per-seed table (counterfactual results have one)")
    return [{"run_id": doc["run_id"], **row} for row in doc["per_seed"]]


def per_seed_table(run_dir):
    """``per_seed(run_dir)`` as a pandas DataFrame with numeric columns."""
    return _typed(_pandas().DataFrame(per_seed(run_dir)), ("value", "anchor_beta"),
                  ("seed", "hidden", "params", "n_pre"))


def summary_table(run_dir):
    """``summary(run_dir)`` as a pandas DataFrame with numeric columns."""
    return _typed(_pandas().DataFrame(summary(run_dir)), SUMMARY_NUMBERS, SUMMARY_INTEGERS)


def _csv_cell(value):
    """Lists and dicts as JSON text in csv (parquet keeps them as list columns)."""
    return json.dumps(value) if isinstance(value, list | dict) else value


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
    if out.suffix != f".{fmt}":  # a csv named .parquet (or the reverse) would mislead whoever opens it
        raise ValueError(f"--out {out}: a --format {fmt} export is written to a .{fmt} file")
    if out.is_dir():
        raise ValueError(f"--out {out} is a directory; give a file path")
    if out.exists() and not force:
        raise ValueError(f"--out {out} exists; pass --force to replace it")
    return out


def write(run_dir, fmt: str = "csv", out=None, what: str = "cells", force: bool = False,
          partial: bool = False, with_config: bool = False) -> Path:
    """The ``what`` table (cells or summary) written as ``fmt`` to ``output_path``, atomically."""
    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {FORMATS}, got {fmt!r}")
    if what not in TABLES:
        raise ValueError(f"--table must be one of {TABLES}, got {what!r}")
    out = output_path(run_dir, fmt, what, out, force)
    if with_config and what != "cells":
        raise ValueError("--with-config applies to --table cells (the summary names its run by run_id)")
    frame = {"cells": lambda: table(run_dir, partial, with_config), "summary": lambda: summary_table(run_dir),
             "per-seed": lambda: per_seed_table(run_dir)}[what]()
    if fmt == "csv":
        text = frame.apply(lambda column: column.map(_csv_cell) if column.dtype == object else column)
        store.atomic_write_text(out, text.to_csv(index=False))
    else:
        import io

        buffer = io.BytesIO()
        try:
            frame.to_parquet(buffer, index=False)
        except ImportError:
            raise ValueError("parquet export needs pyarrow (installed with the [empirical] extra)") from None
        store.atomic_write_bytes(out, buffer.getvalue())
    return out
