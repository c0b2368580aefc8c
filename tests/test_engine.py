"""The run engine (harness.engine) on a toy protocol: resume, shards, concurrent processes on
one folder, worker processes, a result written once, and refusals that name what is wrong."""

import json
import multiprocessing
from dataclasses import replace
from pathlib import Path

import pytest

from harness import engine, store
from toy_protocol import GroupedToy, Toy, ToyConfig, runs_logged

DEFAULT = ToyConfig()


def _run(tmp_path, config=DEFAULT, shard=(0, 1), workers=1, run_id="r", **kw):
    return engine.run(Toy(config, tmp_path / "log", **kw), tmp_path / "res", run_id, shard, workers=workers)


def test_a_run_computes_every_cell_once_and_writes_the_summary(tmp_path):
    seen = []
    out = engine.run(Toy(ToyConfig(), tmp_path / "log"), tmp_path / "res", "r",
                     progress=lambda done, total: seen.append((done, total)))
    doc = store.read_result(out.path)
    assert doc["metrics"] == {"sum_of_squares": 1 + 4 + 9 + 16} and doc["n"] == 4
    assert doc["fingerprint"] == store.fingerprint(ToyConfig().as_dict())
    assert sorted(line.split()[1] for line in runs_logged(tmp_path / "log")) == ["v1", "v2", "v3", "v4"]
    assert seen[-1] == (4, 4) and not out.read_back
    again = _run(tmp_path)
    assert again.read_back and again.path == out.path and len(runs_logged(tmp_path / "log")) == 4


def test_a_crash_mid_grid_keeps_finished_cells_and_the_rerun_resumes(tmp_path):
    with pytest.raises(RuntimeError, match="cell v3 failed"):
        _run(tmp_path, fail_on=3)
    cells = tmp_path / "res" / "toy" / "r" / "cells"
    assert sorted(p.name for p in cells.glob("*.json")) == ["v1.json", "v2.json"]
    assert not (tmp_path / "res" / "toy" / "r" / "result.json").exists()
    # the same folder with another configuration is refused, naming the field
    with pytest.raises(store.StoreError, match=r"differs in: seconds"):
        _run(tmp_path, ToyConfig(seconds=0.01))
    out = _run(tmp_path)
    assert store.read_result(out.path)["metrics"]["sum_of_squares"] == 30
    assert [line.split()[1] for line in runs_logged(tmp_path / "log")] == ["v1", "v2", "v3", "v3", "v4"]


def test_shards_split_the_grid_and_the_last_one_writes_the_result(tmp_path):
    first = _run(tmp_path, shard=(0, 2))
    assert first.path is None and first.done == 2 and first.total == 4
    second = _run(tmp_path, shard=(1, 2))
    assert store.read_result(second.path)["metrics"]["sum_of_squares"] == 30
    ran = [line.split()[1] for line in runs_logged(tmp_path / "log")]
    assert ran == ["v1", "v3", "v2", "v4"]  # positions 0, 2 then 1, 3: every cell once


def _concurrent(args):
    tmp_path, shard = args
    out = _run(tmp_path, ToyConfig(values=tuple(range(1, 9)), seconds=0.3), shard=shard)
    return None if out.path is None else str(out.path)


@pytest.mark.parametrize("shards", [((0, 1), (0, 1)), ((0, 2), (1, 2))])
def test_two_processes_on_one_folder_never_run_a_cell_twice(tmp_path, shards):
    """Duplicate runs (same shard) share the work; parallel shards each do theirs; either way
    the folder ends with one result, equal to a single process's, and no cell ran twice."""
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        paths = pool.map(_concurrent, [(tmp_path, s) for s in shards])
    ran = [line.split()[1] for line in runs_logged(tmp_path / "log")]
    assert sorted(ran) == [f"v{i}" for i in range(1, 9)]
    written = [p for p in paths if p]
    assert written and all(p == written[0] for p in written)
    assert store.read_result(written[0])["metrics"]["sum_of_squares"] == sum(i * i for i in range(1, 9))
    pids = {line.split()[0] for line in runs_logged(tmp_path / "log")}
    assert len(pids) == 2  # both processes did work


def test_workers_divide_the_cells(tmp_path):
    out = _run(tmp_path, ToyConfig(values=tuple(range(1, 7)), seconds=0.2), workers=2)
    assert store.read_result(out.path)["metrics"]["sum_of_squares"] == 91
    lines = runs_logged(tmp_path / "log")
    assert sorted(line.split()[1] for line in lines) == [f"v{i}" for i in range(1, 7)]
    assert len({line.split()[0] for line in lines}) == 2


def test_a_failing_worker_is_reported(tmp_path):
    with pytest.raises(RuntimeError, match="worker processes failed"):
        _run(tmp_path, ToyConfig(values=(1, 2)), workers=2, fail_on=2)


def test_bad_input_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match="toy: bad input"):
        _run(tmp_path, bad_input=True)
    assert not (tmp_path / "res").exists() or not list((tmp_path / "res").rglob("*.json"))


def test_a_cell_of_another_configuration_is_refused(tmp_path):
    _run(tmp_path, shard=(0, 2))
    cell = tmp_path / "res" / "toy" / "r" / "cells" / "v1.json"
    data = json.loads(cell.read_text())
    data["fingerprint"] = "0" * 64
    cell.write_text(json.dumps(store.sealed(data)))  # a sealed cell, but of another configuration
    with pytest.raises(store.StoreError, match="v1.json belongs to another configuration"):
        _run(tmp_path, shard=(1, 2))
    cell.write_text(json.dumps(data))  # the same edit without a new seal: the checksum says so first
    with pytest.raises(store.StoreError, match="v1.json: its content does not match its checksum"):
        _run(tmp_path, shard=(1, 2))


def test_a_finished_result_is_never_returned_for_another_configuration(tmp_path):
    _run(tmp_path)
    with pytest.raises(store.StoreError, match=r"toy/r holds a result of another configuration \(differs in: "
                                                r"values\)"):
        _run(tmp_path, replace(ToyConfig(), values=(1, 2, 3, 5)))


def test_a_dead_holder_does_not_block_the_grid(tmp_path):
    """A lock file left by a process that died is free (flock locks die with their process)."""
    cells = tmp_path / "res" / "toy" / "r" / "cells"
    cells.mkdir(parents=True)
    (cells / "v2.lock").write_text("")
    assert store.read_result(_run(tmp_path).path)["metrics"]["sum_of_squares"] == 30


@pytest.mark.parametrize("text, expected", [("0/1", (0, 1)), ("2/3", (2, 3))])
def test_parse_shard(text, expected):
    assert engine.parse_shard(text) == expected


@pytest.mark.parametrize("text", ["3/2", "-1/2", "1/0", "a/b", "1", ""])
def test_parse_shard_refuses(text):
    with pytest.raises(ValueError, match="--shard"):
        engine.parse_shard(text)


def test_slurm_array_index_is_the_default_shard(monkeypatch):
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "5")
    monkeypatch.setenv("SLURM_ARRAY_TASK_MIN", "1")
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "8")
    assert engine.parse_shard(None) == (4, 8)
    monkeypatch.delenv("SLURM_ARRAY_TASK_ID")
    assert engine.parse_shard(None) == (0, 1)


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its new parent to reap it counts as gone)."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            return not any(line.startswith("State:") and "Z" in line for line in handle)
    except FileNotFoundError:
        return False


def test_workers_stop_when_their_parent_is_killed(tmp_path):
    """kill -9 of the process that started --workers 2: its workers exit within seconds instead of
    running their cells on (they watch their parent), and a rerun takes the cells over."""
    import os
    import signal
    import subprocess
    import sys
    import time

    code = ("import sys; sys.path.insert(0, 'tests')\n"
            "from harness import engine\nfrom toy_protocol import Toy, ToyConfig\n"
            f"engine.run(Toy(ToyConfig(values=(1, 2, 3, 4), seconds=60.0), {str(tmp_path / 'log')!r}), "
            f"{str(tmp_path / 'res')!r}, 'r', workers=2)\n")
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=str(Path(__file__).resolve().parents[1]))
    deadline = time.monotonic() + 120
    while len(runs_logged(tmp_path / "log")) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    workers = {int(line.split()[0]) for line in runs_logged(tmp_path / "log")}
    assert len(workers) == 2, "both workers should have started a cell"
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10  # they check every second
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in workers), "workers outlived their parent"


def _groups_logged(log) -> list[list[str]]:
    return [line.split()[2].split(",") for line in runs_logged(log)]


def test_grouped_cells_run_together_and_resume_by_cell(tmp_path):
    """A protocol that trains cells together gets its pending cells in groups; a crashed group
    loses only its own cells, and the rerun groups only what is missing."""
    config = ToyConfig(values=tuple(range(1, 8)))
    with pytest.raises(RuntimeError, match="group"):
        engine.run(GroupedToy(config, tmp_path / "log", size=3, fail_on=5), tmp_path / "res", "r")
    cells = tmp_path / "res" / "toy" / "r" / "cells"
    assert sorted(p.stem for p in cells.glob("*.json")) == ["v1", "v2", "v3"]  # the first group, written
    out = engine.run(GroupedToy(config, tmp_path / "log", size=3), tmp_path / "res", "r")
    assert store.read_result(out.path)["metrics"]["sum_of_squares"] == sum(i * i for i in range(1, 8))
    assert _groups_logged(tmp_path / "log") == [["v1", "v2", "v3"], ["v4", "v5", "v6"], ["v4", "v5", "v6"], ["v7"]]


def test_grouped_shards_group_their_own_share(tmp_path):
    config = ToyConfig(values=tuple(range(1, 7)))
    engine.run(GroupedToy(config, tmp_path / "log", size=2), tmp_path / "res", "r", (0, 2))
    out = engine.run(GroupedToy(config, tmp_path / "log", size=2), tmp_path / "res", "r", (1, 2))
    assert store.read_result(out.path)["metrics"]["sum_of_squares"] == 91
    assert _groups_logged(tmp_path / "log") == [["v1", "v3"], ["v5"], ["v2", "v4"], ["v6"]]


def _concurrent_groups(args):
    tmp_path, shard = args
    out = engine.run(GroupedToy(ToyConfig(values=tuple(range(1, 9)), seconds=0.3), tmp_path / "log", size=2),
                     tmp_path / "res", "r", shard)
    return None if out.path is None else str(out.path)


def test_two_processes_never_run_a_grouped_cell_twice(tmp_path):
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        paths = pool.map(_concurrent_groups, [(tmp_path, (0, 1))] * 2)
    groups = _groups_logged(tmp_path / "log")
    assert sorted(k for g in groups for k in g) == [f"v{i}" for i in range(1, 9)]
    assert sorted(groups) == [["v1", "v2"], ["v3", "v4"], ["v5", "v6"], ["v7", "v8"]]  # never split
    assert store.read_result(next(p for p in paths if p))["metrics"]["sum_of_squares"] == 204


def test_a_group_that_loses_a_cell_is_refused(tmp_path):
    class Lossy(GroupedToy):
        def run_group(self, keys, folder):
            return dict(list(super().run_group(keys, folder).items())[:-1])
    with pytest.raises(ValueError, match="run_group returned"):
        engine.run(Lossy(ToyConfig(), tmp_path / "log"), tmp_path / "res", "r")
    assert not list((tmp_path / "res").rglob("cells/*.json"))
