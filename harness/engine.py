"""The run engine: one resumable, shardable, concurrency-safe grid runner for every experiment.

A protocol supplies only its grid and its science (see ``Protocol``): the keys of its cells,
how to run one cell, and how to summarize the records of all cells. The engine does the rest:

    <root>/<experiment>/<run_id>/config.json     the configuration and its fingerprint
                                 cells/<key>.json one record per cell, written atomically
                                 cells/<key>.lock held (flock) while a process runs that cell
                                 result.json      written once, by whoever completes the grid

- **Resumable**: a cell on disk is never recomputed; kill a run at any time and rerun it.
- **Shardable**: shard ``(i, n)`` runs the cells whose position in the grid is i mod n; with
  no ``--shard``, a scheduler's array index is used (Slurm's ``SLURM_ARRAY_TASK_ID``).
- **Safe together**: shards or accidental duplicate runs on one folder take cells under a
  lock, so no cell runs twice at once; a process waits for the cells of its share that another
  holds, and runs them itself if that process died. ``workers > 1`` starts that many processes
  on the same share, which divide the cells the same way.
- **One result**: the process that finds every cell on disk writes ``result.json`` under a
  lock, once; a run whose result exists is read back (and checked against the config).
- **Distributed training** (``accelerate launch``: ``WORLD_SIZE`` > 1): every rank runs every
  cell of the share together, without cell locks, and only rank 0 writes.
- **Cells across ranks** (``torchrun``, for a protocol whose ``cells_across_ranks`` is true: its
  cells train no model data-parallel, e.g. ensembles of tiny models): rank r of R takes the
  share's positions whose index within the share is r mod R, as a further shard, under the cell
  locks; rank 0 then takes over whatever of the share is still missing (waiting for cells other
  ranks hold) and writes the result. With ``--shard i/N`` or a Slurm array, each array task's
  ranks split that task's share.
- **Cells trained together**: a protocol with ``groups`` and ``run_group`` (an ensemble trainer
  that trains several cells' models in one batched step) gets its share's pending cells in
  groups; each group's cells are locked together and their records written as the group
  finishes (a crash loses at most the group in flight). Records stay one per cell, so resuming,
  sharding and summarizing are unchanged.
"""

import contextlib
import multiprocessing
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol as _Protocol

from harness import numerics, schemas, store


class Protocol(_Protocol):
    experiment: str  # the store's experiment name
    config: object  # a config dataclass with as_dict()
    device: str

    def cells(self) -> list[str]:
        """The grid: unique, filename-safe keys, in a fixed order."""

    def prepare(self, folder: Path) -> None:
        """Check every input (files, sizes) before the folder is claimed; write nothing."""

    def run_cell(self, key: str, folder: Path) -> dict:
        """Compute one cell; returns its record (plain finite JSON)."""

    # optional, for protocols that train cells together (see the module docstring):
    #   groups(keys) -> list[list[str]]: the keys split into groups run together, in order;
    #   run_group(keys, folder) -> dict[str, dict]: the record of every key of one group.

    def record_fields(self, key: str) -> tuple:
        """The (dotted field, kind) pairs a record of this cell must hold (``harness.schemas``),
        checked whenever a cell is read back."""

    def summarize(self, records: dict[str, dict], folder: Path) -> tuple[object, dict]:
        """(metrics, extra top-level keys) from the records of every cell."""


@dataclass(frozen=True)
class Outcome:
    path: Path | None  # result.json, or None while other shards still owe cells
    read_back: bool  # the result existed already: nothing was computed
    done: int  # cells on disk
    total: int


def parse_shard(text: str | None) -> tuple[int, int]:
    """``i/N`` with 0 <= i < N; with no text, a Slurm array task (index - min of N), else 0/1."""
    if text is None:
        task = os.environ.get("SLURM_ARRAY_TASK_ID")
        if task is None:
            return 0, 1
        names = ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_COUNT")
        values = [os.environ.get(name, default) for name, default in zip(names, (task, "0", "1"), strict=True)]
        bad = [f"{n}={v!r}" for n, v in zip(names, values, strict=True) if not v.strip().isdigit()]
        if bad:
            raise ValueError(f"--shard from Slurm: {', '.join(bad)} is not a whole number; pass --shard i/N")
        text = f"{int(values[0]) - int(values[1])}/{int(values[2])}"
    try:
        index, count = (int(x) for x in str(text).split("/"))
    except ValueError:
        raise ValueError(f"--shard: expected i/N, got {text!r}") from None
    if not (count >= 1 and 0 <= index < count):
        raise ValueError(f"--shard: need 0 <= i < N, got {text!r}")
    return index, count


def _rank() -> tuple[int, int]:
    """(rank, world size) of a distributed launch (accelerate/torchrun set these)."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def is_main_process() -> bool:
    """True outside a distributed launch and on its rank 0: the process that writes and reports."""
    return _rank()[0] == 0


def _cell_path(folder: Path, key: str) -> Path:
    return folder / "cells" / f"{key}.json"


def _read_cell(protocol, folder: Path, key: str, fp: str) -> dict | None:
    path = _cell_path(folder, key)
    if not path.is_file():
        return None
    data = store.read_sealed_json(path, "delete it to rerun the cell")
    if not isinstance(data.get("record"), dict):
        raise store.StoreError(f"{path}: not a cell record (missing field 'record'); "
                               f"delete it to rerun the cell")
    if data.get("fingerprint") != fp:
        raise store.StoreError(f"{path} belongs to another configuration; delete it to rerun the cell")
    if data.get("key") != key:
        raise store.StoreError(f"{path} holds cell {data.get('key')!r}, not {key!r} (copied or renamed); "
                               f"delete it to rerun the cell")
    made_in = data.get("numerics", "default")  # cells written before the modes existed ran in default
    if made_in != numerics.mode():  # one run, one kernel choice: never a mix of per-machine and portable bits
        raise store.StoreError(f"{path} was computed in numerics {made_in}; this run is in {numerics.mode()}: "
                               f"rerun with --numerics {made_in}, or use another --run-id")
    try:
        schemas.check_fields(data["record"], protocol.record_fields(key),
                             f"{path} (delete it to rerun the cell)")
    except schemas.SchemaError as err:
        raise store.StoreError(str(err)) from None
    return data["record"]


def _write_cell(folder: Path, key: str, fp: str, record: dict, wall_s: float) -> None:
    store.write_sealed_json(_cell_path(folder, key), {"fingerprint": fp, "key": key, "wall_s": wall_s,
                                                      "numerics": numerics.check(), "record": record})


def _check_stored(protocol, folder: Path, stored: dict) -> None:
    """Serve a finished result only to a run that would have made the same numbers: the same
    device, protocol version and numerics mode (the configuration was checked by the store)."""
    made_on = stored["provenance"].get("device")
    if made_on != protocol.device:  # never serve another device's numbers without saying so
        raise store.StoreError(f"{folder} was computed on {made_on}; this run is on {protocol.device}: ask for "
                               f"--device {made_on} to read it, or use another --run-id to compute it here")
    version = getattr(protocol, "protocol_version", None)
    if version is not None and stored.get("protocol_version") != version:  # same config, other science
        raise store.StoreError(f"{folder} was made by {protocol.experiment} protocol version "
                               f"{stored.get('protocol_version', 1)}; this is version {version}: use another "
                               f"--run-id (or the default one) to compute it")
    made_in = stored["provenance"].get("numerics", "default")
    if made_in != numerics.mode():  # nor numbers of another kernel choice
        raise store.StoreError(f"{folder} was computed in numerics {made_in}; this run is in {numerics.mode()}: "
                               f"ask for --numerics {made_in} to read it, or use another --run-id")


def run(protocol: Protocol, root, run_id: str, shard=(0, 1), progress=None, workers: int = 1) -> Outcome:
    """Run (or resume, or read back) ``protocol``'s grid in ``root/experiment/run_id``.

    ``progress(done, total)`` is called as cells finish (counting every cell on disk)."""
    index, count = parse_shard(f"{shard[0]}/{shard[1]}")
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    folder = store.run_dir(root, protocol.experiment, run_id)
    config = protocol.config.as_dict()
    fp = store.fingerprint(config)
    keys = protocol.cells()
    for key in keys:
        store.check_name("cell key", key)
    if len(set(keys)) != len(keys):
        raise ValueError(f"{protocol.experiment}: the grid names a cell twice")  # a protocol bug
    stored = store.finished(root, protocol.experiment, run_id, config)
    if stored is not None:
        _check_stored(protocol, folder, stored)
        return Outcome(folder / store.RESULT_FILE, True, len(keys), len(keys))
    numerics.check()  # a portable mode declared too late is refused before anything is written
    store.check_run_dir(folder, config)
    protocol.prepare(folder)  # inputs checked: nothing is written for a run that cannot start
    store.claim_run_dir(folder, config)
    mine = [k for i, k in enumerate(keys) if i % count == index]
    rank, size = _rank()
    start = time.perf_counter()
    if size > 1 and getattr(protocol, "cells_across_ranks", False):
        _work(protocol, folder, fp, mine[rank::size])
        if rank != 0:
            return Outcome(None, False, _count(folder, keys), len(keys))
        _work(protocol, folder, fp, mine, lambda: progress and progress(_count(folder, keys), len(keys)))
    elif size > 1:
        _work_distributed(protocol, folder, fp, mine, rank == 0)
        if rank != 0:
            return Outcome(None, False, 0, len(keys))
    elif workers > 1:
        _work_in_processes(protocol, folder, fp, mine, keys, workers, progress)
    else:
        _work(protocol, folder, fp, mine, lambda: progress and progress(_count(folder, keys), len(keys)))
    return _finish(protocol, root, run_id, folder, config, fp, keys, time.perf_counter() - start)


def _count(folder: Path, keys: list[str]) -> int:
    return sum(_cell_path(folder, k).is_file() for k in keys)


def _groups(protocol, keys: list[str]) -> list[list[str]]:
    """The units a process runs: the protocol's groups of ``keys``, or one cell each."""
    groups = protocol.groups(keys) if hasattr(protocol, "run_group") else [[k] for k in keys]
    if sorted(k for g in groups for k in g) != sorted(keys):  # a protocol bug: a cell lost or run twice
        raise ValueError(f"{protocol.experiment}: groups() must split the keys it is given, each once")
    return groups


def _run_cells(protocol, folder: Path, keys: list[str]) -> dict[str, dict]:
    if hasattr(protocol, "run_group"):
        records = protocol.run_group(keys, folder)
        if set(records) != set(keys):
            raise ValueError(f"{protocol.experiment}: run_group returned records for {sorted(records)[:3]}..., "
                             f"asked for {sorted(keys)[:3]}...")
        return records
    return {key: protocol.run_cell(key, folder) for key in keys}


def _work(protocol, folder: Path, fp: str, keys: list[str], after_cell=None) -> None:
    """Run the cells of ``keys`` that are not on disk, each under its lock (a group's cells
    under all of theirs, taken all or none: a group is never split between processes); wait for
    those another process holds and take them over if it stops without writing them."""
    pending = [k for k in keys if _read_cell(protocol, folder, k, fp) is None]
    if after_cell:
        after_cell()
    while pending:
        busy = []
        for group in _groups(protocol, pending):
            with contextlib.ExitStack() as stack:
                held = next((k for k in group if not stack.enter_context(
                    store.locked(folder / "cells" / f"{k}.lock", blocking=False))), None)
                if held is not None:  # another process has (part of) this group: leave it all
                    busy += [held] + [k for k in group if k != held]  # the held one first: it is waited on
                    continue
                mine = [k for k in group if _read_cell(protocol, folder, k, fp) is None]  # else done meanwhile
                if mine:
                    began = time.perf_counter()
                    records = _run_cells(protocol, folder, mine)
                    wall_s = (time.perf_counter() - began) / len(mine)  # a group's time, shared evenly
                    for key in mine:
                        _write_cell(folder, key, fp, records[key], wall_s)
            if after_cell:
                after_cell()
        if busy:
            with store.locked(folder / "cells" / f"{busy[0]}.lock"):
                pass  # wait until its holder finishes (or dies)
            if after_cell:
                after_cell()
        pending = [k for k in busy if _read_cell(protocol, folder, k, fp) is None]


def _work_distributed(protocol, folder: Path, fp: str, keys: list[str], main: bool) -> None:
    todo = [k for k in keys if _read_cell(protocol, folder, k, fp) is None]  # the same list on every rank
    for group in _groups(protocol, todo):
        began = time.perf_counter()
        records = _run_cells(protocol, folder, group)
        if main:
            for key in group:
                _write_cell(folder, key, fp, records[key], (time.perf_counter() - began) / len(group))


def _worker(protocol, folder: Path, fp: str, keys: list[str], parent: int) -> None:
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()
    _work(protocol, folder, fp, keys)


def _exit_with(parent: int) -> None:
    """Stop this worker within a second of its parent's death (a killed parent cannot terminate
    it; its cell lock is released on exit, and a rerun takes the cell over)."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def _work_in_processes(protocol, folder, fp, mine, keys, workers, progress) -> None:
    context = multiprocessing.get_context("spawn")  # no fork of a process holding torch threads
    procs = [context.Process(target=_worker, args=(protocol, folder, fp, mine, os.getpid()), daemon=True)
             for _ in range(workers)]
    for proc in procs:
        proc.start()
    try:
        while any(p.is_alive() for p in procs):
            for proc in procs:
                proc.join(timeout=1.0 / len(procs))
            if progress:
                progress(_count(folder, keys), len(keys))
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
    failed = [p.exitcode for p in procs if p.exitcode != 0]
    if failed:
        raise RuntimeError(f"{len(failed)} of {workers} worker processes failed (exit codes {failed}); "
                           f"their error is printed above; rerun to resume")


def _finish(protocol, root, run_id, folder, config, fp, keys, wall_s) -> Outcome:
    with store.locked(folder / ".result.lock"):
        if (folder / store.RESULT_FILE).is_file():  # another process completed the grid first
            store.read_result(folder, experiment=protocol.experiment, config=config)
            return Outcome(folder / store.RESULT_FILE, False, len(keys), len(keys))
        records = {k: _read_cell(protocol, folder, k, fp) for k in keys}
        done = sum(r is not None for r in records.values())
        if done < len(keys):
            return Outcome(None, False, done, len(keys))
        metrics, extra = protocol.summarize(records, folder)
        extra = {**extra, "cell_files": store.cell_checksums(folder)}  # verify and export hold the cells to it
        path = store.write_result(root, protocol.experiment, run_id, config=config, metrics=metrics,
                                  extra=extra, seed=list(getattr(protocol.config, "seeds", ())) or None,
                                  device=protocol.device, wall_time_s=wall_s)
    return Outcome(path, False, len(keys), len(keys))
