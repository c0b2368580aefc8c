"""``elasticity verify --rerun N RUN_DIR``: recompute N seeds of a finished run here, in the run's
own numerics mode, and say per seed whether the committed numbers come back.

The run's cells of those seeds are recomputed from its stored configuration (which must rebuild to
the stored fingerprint: a configuration the code no longer reads alike is refused, not reinterpreted)
and compared, record by record, with the committed cells: bit-identical means every number of the
record is the same float (timings aside). The per-seed effect the verdict reads is recomputed by the
protocol's own summary with the rerun cells in place of the committed ones, so a rerun value and a
committed value are the same quantity; where they differ, the report says whether the rerun value
lies inside the run's own 95% interval and whether the verdict would read the same with it.
"""

import json
import re
import sys
import tempfile
from pathlib import Path

from harness import engine, numerics, overrides, store

TIMING_KEYS = ("wall_s", "seconds")  # differ on every run; not numbers of the experiment
_SEED = re.compile(r"^s(\d+)(?:-|$)")


def _protocol(doc: dict):
    """The engine protocol that made ``doc``, rebuilt from its stored configuration."""
    experiment, device = doc["experiment"], doc["provenance"].get("device", "cpu")
    if experiment == "resist":
        from empirical.resist import Resist
        from harness.configs import ResistConfig

        config = overrides.from_dict(ResistConfig, doc["config"])
        if config.dataset != "synthetic":
            raise ValueError("--rerun: a real-model resist run needs its model and data; synthetic runs only")
        protocol = Resist(config, device)
    elif experiment == "counterfactual":
        from empirical.counterfactual import Counterfactual
        from harness.configs import CounterfactualConfig

        protocol = Counterfactual(overrides.from_dict(CounterfactualConfig, doc["config"]))
    else:
        raise ValueError(f"--rerun applies to resist and counterfactual runs (a per-seed effect and its "
                         f"interval); this is a {experiment} run")
    version = getattr(protocol, "protocol_version", None)
    if version is not None and doc.get("protocol_version", 1) != version:
        raise ValueError(f"--rerun: the run was made by protocol version {doc.get('protocol_version', 1)}; this "
                         f"code runs version {version}, which computes other quantities; rerun the whole run instead")
    if store.fingerprint(protocol.config.as_dict()) != doc["fingerprint"]:
        raise ValueError("--rerun: the stored configuration no longer rebuilds to its fingerprint (the code's "
                         "fields changed since the run); rerun the whole run instead")
    return protocol


def _without_timings(value):
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def _effects(experiment: str, metrics, extra: dict) -> dict[str, tuple[dict, list | None, str]]:
    """{label: (per-seed effect by seed text, its 95% interval, verdict)} of a summary."""
    if experiment == "resist":
        return {f"pair {r['pair'][0]},{r['pair'][1]}": (
            {str(s): v for s, v in r["forward_minus_inverse"]["per_seed"].items()},
            r["forward_minus_inverse"]["ci95"], r["verdict"]) for r in metrics["table2"]}
    effect = extra["effect"]
    return {"primary": ({str(s): v for s, v in effect["per_seed"].items()}, effect["ci95"], extra["verdict"])}


def _in_mode(doc: dict) -> str:
    """Switch this process to the run's numerics mode (before torch loads) and return it."""
    made_in = doc["provenance"].get("numerics", "default")
    if numerics.mode() != made_in:
        if "torch" in sys.modules:
            raise ValueError(f"--rerun: the run was made in numerics {made_in}, and torch is already loaded in "
                             f"{numerics.mode()}; run elasticity --numerics {made_in} verify --rerun ...")
        numerics.apply(made_in)
    return numerics.check()


def rerun(run_dir, n_seeds: int, echo=None) -> dict:
    """Recompute the first ``n_seeds`` seeds of the finished run in ``run_dir``; a report with one
    row per (seed, effect): committed and rerun value, bit-identical, whether every number of the
    seed's cell records came back (``records_identical``), inside the run's interval, the verdict
    with the rerun value in place."""
    folder = Path(run_dir)
    doc = store.read_result(folder, experiment=folder.parent.name)
    mode = _in_mode(doc)
    protocol = _protocol(doc)
    seeds = list(protocol.config.seeds)
    if not 1 <= n_seeds <= len(seeds):
        raise ValueError(f"--rerun {n_seeds}: the run has {len(seeds)} seeds")
    fp, keys = doc["fingerprint"], protocol.cells()
    committed = {k: engine._read_cell(protocol, folder, k, fp) for k in keys}
    if any(record is None for record in committed.values()):
        raise store.StoreError(f"{folder}: cells of the finished run are missing; run elasticity verify on it")
    chosen = seeds[:n_seeds]
    mine = [k for k in keys if int(_SEED.match(k).group(1)) in chosen]
    rerun_records = dict(committed)
    with tempfile.TemporaryDirectory(prefix="elasticity-rerun-") as scratch:
        for key in mine:
            if echo:
                echo(f"rerunning cell {key} ({mine.index(key) + 1}/{len(mine)})")
            rerun_records[key] = json.loads(json.dumps(protocol.run_cell(key, Path(scratch))))  # as stored
        before = _effects(doc["experiment"], doc["metrics"], doc)
        after = _effects(doc["experiment"], *protocol.summarize(rerun_records, Path(scratch)))
    rows = []
    for seed in chosen:
        same_cells = all(_without_timings(rerun_records[k]) == _without_timings(committed[k])
                         for k in mine if int(_SEED.match(k).group(1)) == seed)
        for label, (values, ci, verdict) in before.items():
            new_values, _, new_verdict = after[label]
            old, new = values.get(str(seed)), new_values.get(str(seed))
            identical = old == new  # floats compared exactly: the question is the last bit
            inside = None if identical or new is None or ci is None else ci[0] <= new <= ci[1]
            rows.append({"seed": seed, "effect": label, "committed": old, "rerun": new,
                         "bit_identical": identical, "records_identical": same_cells, "inside_ci95": inside, "ci95": ci,
                         "verdict": verdict, "verdict_with_rerun": new_verdict})
    return {"run_id": doc["run_id"], "experiment": doc["experiment"], "numerics": mode,
            "made_on": {k: doc["provenance"].get(k) for k in ("cpu", "cpu_flags", "torch_build")},
            "rerun_on": {k: v for k, v in numerics.provenance().items() if k in ("cpu", "cpu_flags", "torch_build")},
            "rows": rows}
