"""Progress off a terminal: a line at least every `every` seconds while work advances, with
the stage, counts, elapsed time and an estimate; nothing for work shorter than that."""

import io

from elasticity import progress


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_lines_every_interval_with_an_estimate(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(progress.time, "perf_counter", clock)
    out = io.StringIO()
    bar = progress.Progress("rebound", total=10, every=10.0, stream=out)
    bar(0)  # the engine reports what is on disk first
    for done in range(1, 11):
        clock.now = 4.0 * done  # a cell every 4 s
        bar(done)
    lines = out.getvalue().splitlines()
    assert lines[0] == "rebound: 3/10 cells, 0:12 elapsed, about 0:28 left"  # first line after >= 10 s
    assert lines[-1] == "rebound: 10/10 cells, 0:40 elapsed"
    assert len(lines) == 4  # at 12, 24, 36 s and at the end


def test_short_work_prints_nothing_and_notes_go_through(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(progress.time, "perf_counter", clock)
    out = io.StringIO()
    bar = progress.Progress("audit", total=3, stream=out)
    for done in (1, 2, 3):
        clock.now = 0.01 * done
        bar(done)
    assert out.getvalue() == ""
    bar.note("read back from the store")
    assert out.getvalue() == "read back from the store\n"


def test_work_found_on_disk_does_not_count_towards_the_estimate(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(progress.time, "perf_counter", clock)
    bar = progress.Progress("x", total=10, stream=io.StringIO())
    bar(5)  # five cells were already on disk
    clock.now = 20.0
    bar(6)
    assert bar.line() == "x: 6/10 cells, 0:20 elapsed, about 1:20 left"  # 20 s for one cell, 4 to go
