"""Progress you can watch: what a run (or a sweep of runs) is doing, and how long it has left.

`make_progress(total_runs)` picks the display: on a terminal, live `rich` bars — one across the
sweep (runs done of all), one for each (strategy, seed) run under way (labels used of its
budget, with the time left at its pace so far; several at once in a parallel sweep) — and a line for each phase that took more than a
second (training a generator or a teacher, building a dataset's reference grid); elsewhere (a
CI log, a file, a notebook's captured stream) one plain line per finished run and per slow
phase, never a redrawn bar; with `enabled=False` nothing at all. `run_loop(progress=True)`
shows one run's bar. Imports `rich` only for a terminal.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from typing import Any, TextIO

__all__ = ["LineProgress", "Progress", "RichProgress", "make_progress"]

#: Phases shorter than this (seconds) get no line.
PHASE_LINE_S = 1.0


class Progress:
    """What the runner tells a display (this base class shows nothing)."""

    #: whether the display redraws the terminal (then other output should go through `note`)
    live = False

    def __init__(self, total_runs: int = 1):
        self.total, self.done = total_runs, 0
        self.t0 = time.perf_counter()

    def start(self, label: str, budget: int) -> None:
        """A (strategy, seed) run with `budget` labels begins."""

    def round(self, row: dict[str, float], label: str | None = None) -> None:
        """A round of run `label` (the latest started, when not given) finished: its metrics row."""

    def finish(self, label: str, row: dict[str, float], stop_reason: str) -> None:
        """Run `label` ended; `row` is its last metrics row."""
        self.done += 1

    def skip(self, label: str) -> None:
        """A run that had already finished (on resume)."""
        self.done += 1

    def note(self, text: str) -> None:
        """One line worth saying."""

    @contextlib.contextmanager
    def phase(self, text: str) -> Iterator[None]:
        """Time a phase (`with progress.phase("teacher, seed 0"):`); a line if it took over a second."""
        t0 = time.perf_counter()
        yield
        seconds = time.perf_counter() - t0
        if seconds >= PHASE_LINE_S:
            self.note(f"{text}: {seconds:.1f} s")

    def close(self) -> None:
        """Stop drawing (the display's lines stay)."""


def _summary(label: str, row: dict[str, float], stop_reason: str) -> str:
    metric = f", F1 {row['f1']:.3f}" if "f1" in row else ""
    return f"{label}: {int(row['queries'])} labels, accuracy {row['accuracy']:.3f}{metric} ({stop_reason})"


class LineProgress(Progress):
    """One plain line per finished run and per slow phase (for logs: nothing is redrawn)."""

    def __init__(self, total_runs: int = 1, stream: TextIO | None = None):
        super().__init__(total_runs)
        self.stream = stream or sys.stderr

    def note(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self, label: str, row: dict[str, float], stop_reason: str) -> None:
        super().finish(label, row, stop_reason)
        self.note(f"[{self.done}/{self.total}] {_summary(label, row, stop_reason)}, "
                  f"{time.perf_counter() - self.t0:.0f} s elapsed")


class RichProgress(Progress):
    """Live bars on a terminal: the sweep's runs, and each running run's labels with its time left."""

    live = True

    def __init__(self, total_runs: int = 1, stream: TextIO | None = None):
        super().__init__(total_runs)
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress as Bars, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        self.console = Console(file=stream or sys.stderr)
        self.bars = Bars(TextColumn("{task.description:<40}"), BarColumn(), MofNCompleteColumn(),
                         TextColumn("{task.fields[metric]}"), TimeElapsedColumn(), TextColumn("left"),
                         TimeRemainingColumn(), console=self.console, transient=False)
        self.sweep = self.bars.add_task("all runs", total=total_runs, metric="")
        self.runs: dict[str, tuple[Any, int]] = {}  # label: (bar, budget), the runs under way
        self.latest: str | None = None
        self.bars.start()

    def start(self, label: str, budget: int) -> None:
        if label in self.runs:
            self.bars.remove_task(self.runs.pop(label)[0])
        self.runs[label] = (self.bars.add_task(label, total=budget, metric=""), budget)
        self.latest = label

    def round(self, row: dict[str, float], label: str | None = None) -> None:
        bar, budget = self.runs.get(label or self.latest or "", (None, 0))
        if bar is not None:
            self.bars.update(bar, completed=min(row["queries"], budget), metric=f"acc {row['accuracy']:.3f}")

    def finish(self, label: str, row: dict[str, float], stop_reason: str) -> None:
        super().finish(label, row, stop_reason)
        if label in self.runs:
            self.bars.remove_task(self.runs.pop(label)[0])
        self.bars.update(self.sweep, completed=self.done)
        self.note(f"[{self.done}/{self.total}] {_summary(label, row, stop_reason)}")

    def skip(self, label: str) -> None:
        super().skip(label)
        self.bars.update(self.sweep, completed=self.done)

    def note(self, text: str) -> None:
        self.bars.console.print(text, highlight=False, markup=False)

    def close(self) -> None:
        self.bars.stop()


def make_progress(total_runs: int = 1, *, enabled: bool = True, live: bool = True,
                  stream: TextIO | None = None) -> Progress:
    """The display for this stream (standard error by default): `RichProgress` on a terminal
    (unless not `live`: someone types answers there), `LineProgress` elsewhere, a silent
    `Progress` when not `enabled`."""
    if not enabled:
        return Progress(total_runs)
    stream = stream or sys.stderr  # (looked up now: a test's or notebook's replaced stderr)
    if live and getattr(stream, "isatty", lambda: False)():
        return RichProgress(total_runs, stream)
    return LineProgress(total_runs, stream)
