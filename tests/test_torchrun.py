"""Cells across torchrun ranks (harness.engine): two CPU processes launched by torchrun split a
grouped protocol's cells, every cell runs once, and rank 0 writes the one result; with a Slurm
array task's shard, the ranks split that shard only."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import store
from toy_protocol import runs_logged

SCRIPT = Path(__file__).with_name("torchrun_toy.py")


def _torchrun(tmp_path, *args, env=None) -> str:
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "0",
               str(SCRIPT), str(tmp_path), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})},
                          cwd=Path(__file__).parent.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _groups(log) -> list[tuple[str, list[str]]]:
    return [(line.split()[0], line.split()[2].split(",")) for line in runs_logged(log)]


def test_two_ranks_split_the_cells_and_rank_0_writes_the_result(tmp_path):
    out = _torchrun(tmp_path)
    path = next(line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("RESULT "))
    assert store.read_result(path)["metrics"]["sum_of_squares"] == sum(i * i for i in range(1, 9))
    ran = _groups(tmp_path / "log")
    assert sorted(k for _, g in ran for k in g) == [f"v{i}" for i in range(1, 9)]  # every cell once
    assert len({pid for pid, _ in ran}) == 2  # both ranks trained some
    assert all(len(g) <= 2 for _, g in ran)  # in the protocol's groups


@pytest.mark.parametrize("task", ["0", "1"])
def test_the_ranks_of_a_slurm_array_task_split_its_share_only(tmp_path, task):
    out = _torchrun(tmp_path, env={"SLURM_ARRAY_TASK_ID": task, "SLURM_ARRAY_TASK_MIN": "0",
                                   "SLURM_ARRAY_TASK_COUNT": "2"})
    assert "RESULT None" in out  # the other array task still owes its half
    ran = sorted(int(k[1:]) for _, g in _groups(tmp_path / "log") for k in g)
    assert ran == [v for v in range(1, 9) if (v - 1) % 2 == int(task)]
