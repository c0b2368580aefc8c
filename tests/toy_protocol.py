"""A protocol for the run engine's tests: no torch, cells that take a chosen time, and a log
of every cell run (one line per run, appended), so tests can count recomputations."""

import os
import time
from dataclasses import dataclass
from pathlib import Path

from harness.overrides import as_plain


@dataclass(frozen=True, kw_only=True)
class ToyConfig:
    values: tuple[int, ...] = (1, 2, 3, 4)
    seconds: float = 0.0  # each cell sleeps this long

    def as_dict(self) -> dict:
        return as_plain(self)


class Toy:
    experiment = "toy"
    device = "cpu"

    def __init__(self, config: ToyConfig, log: Path, bad_input: bool = False, fail_on: int = -1):
        self.config, self.log, self.bad_input = config, Path(log), bad_input
        self.fail_on = fail_on  # a cell value that raises (a crash mid-grid)

    def cells(self) -> list[str]:
        return [f"v{v}" for v in self.config.values]

    def prepare(self, folder: Path) -> None:
        if self.bad_input:
            raise ValueError("toy: bad input")

    def run_cell(self, key: str, folder: Path) -> dict:
        value = int(key[1:])
        with open(self.log, "a") as handle:
            handle.write(f"{os.getpid()} {key}\n")
        time.sleep(self.config.seconds)
        if value == self.fail_on:
            raise RuntimeError(f"toy: cell {key} failed")
        return {"value": value, "square": value * value}

    def record_fields(self, key: str) -> tuple:
        return (("value", "int"), ("square", "int"))

    def summarize(self, records: dict, folder: Path):
        return {"sum_of_squares": sum(r["square"] for r in records.values())}, {"n": len(records)}


def runs_logged(log: Path) -> list[str]:
    return Path(log).read_text().split("\n")[:-1] if Path(log).is_file() else []


class GroupedToy(Toy):
    """The toy whose cells run in groups of ``size`` (an ensemble trainer's shape): one log
    line per group run, naming its cells."""

    def __init__(self, config: ToyConfig, log: Path, size: int = 2, **kw):
        super().__init__(config, log, **kw)
        self.size = size

    def groups(self, keys: list[str]) -> list[list[str]]:
        return [keys[i:i + self.size] for i in range(0, len(keys), self.size)]

    def run_group(self, keys: list[str], folder: Path) -> dict:
        with open(self.log, "a") as handle:
            handle.write(f"{os.getpid()} group {','.join(keys)}\n")
        time.sleep(self.config.seconds)
        if any(int(k[1:]) == self.fail_on for k in keys):
            raise RuntimeError(f"toy: group {keys} failed")
        return {k: {"value": int(k[1:]), "square": int(k[1:]) ** 2} for k in keys}
