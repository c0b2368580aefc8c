"""Progress of long work, on stderr: a live bar on a terminal; elsewhere (a log file, a pipe,
a scheduler) one line at least every ``every`` seconds while work advances, with the stage,
items done / total, elapsed time and an estimate of the time left."""

import sys
import time


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds < 3600 else \
        f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """``progress(done, total)`` sets the absolute count; use as a context manager."""

    def __init__(self, stage: str, total: int = 0, unit: str = "cells", every: float = 10.0,
                 stream=None, enabled: bool = True):
        self.stage, self.total, self.unit, self.every = stage, total, unit, every
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = self.last = time.perf_counter()
        self.done = self.first = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __call__(self, done: int, total: int | None = None) -> None:
        if total is not None:
            self.total = total
        if self.first is None:
            self.first = done  # work found on disk does not count towards the rate
        finished_now = done == self.total and self.done != done
        self.done = done
        now = time.perf_counter()
        if self.tty or now - self.last >= self.every or (finished_now and now - self.start >= self.every):
            self._show(now, final=False)
            self.last = now

    def line(self, now: float | None = None) -> str:
        now = time.perf_counter() if now is None else now
        elapsed = now - self.start
        text = f"{self.stage}: {self.done or 0}/{self.total} {self.unit}, {_clock(elapsed)} elapsed"
        fresh = (self.done or 0) - (self.first or 0)
        if 0 < fresh and self.done < self.total:
            text += f", about {_clock(elapsed / fresh * (self.total - self.done))} left"
        return text

    def _show(self, now: float, final: bool) -> None:
        if not self.enabled:
            return
        if self.tty:
            self.stream.write("\r\033[K" + self.line(now) + ("\n" if final else ""))
        else:
            self.stream.write(self.line(now) + "\n")
        self.stream.flush()

    def note(self, text: str) -> None:
        """A one-off message (for example: a result read back instead of computed)."""
        if self.enabled:
            self.stream.write(("\r\033[K" if self.tty else "") + text + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.done is not None and self.tty:
            self._show(time.perf_counter(), final=True)
