"""Compare run folders: one table of every (run, strategy) arm, paired against a baseline over
the seeds they share, and one learning-curve figure (`qsynth compare RUN_A RUN_B ...`).

Each arm's value per seed is its final test accuracy (or `metric`, or that metric at `at`
labels: the last round that had used at most that many queries). Against the baseline arm —
the first one unless named — the table gives the mean paired difference over the seeds both
ran, its standard error (the sample std of the differences / √n; none for one seed), and on
how many of those seeds the arm was ahead, tied (|difference| < 1e-9) or behind. Imports no JAX.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from qsynth.experiments.summary import accuracy_at
from qsynth.store import read_metrics

__all__ = ["Arm", "Comparison", "compare_runs", "format_comparison", "load_arms"]


@dataclasses.dataclass(frozen=True)
class Arm:
    """One strategy of one run folder: its label (`<run>/<strategy>`) and each seed's history."""

    run: str
    strategy: str
    histories: dict[int, list[dict[str, float]]]

    @property
    def label(self) -> str:
        return f"{self.run}/{self.strategy}"


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One row of the comparison table (values over the arm's own seeds; the paired columns over
    the seeds it shares with the baseline)."""

    arm: Arm
    values: dict[int, float]
    mean: float
    std: float
    shared: int
    difference: float | None
    standard_error: float | None
    ahead: int
    tied: int
    behind: int


def load_arms(runs: Sequence[str | Path]) -> list[Arm]:
    """Every (run, strategy) arm of the run folders, in the given order of runs and each run's
    config order of strategies. A run is named by its folder's name (by its path where two
    folders share a name).

    Raises:
      FileNotFoundError: a folder holds no `<strategy>/seed-<k>/metrics.csv`.
    """
    from qsynth.config import load_run_config

    arms = []
    names = [Path(run).name for run in runs]
    if len(set(names)) < len(names):  # two folders of one name: tell them apart by their paths
        names = [str(run).rstrip("/") for run in runs]
    for run, name in zip(runs, names):
        path = Path(run)
        found: dict[str, dict[int, list[dict[str, float]]]] = {}
        for metrics in sorted(path.glob("*/seed-*/metrics.csv")):
            seed = metrics.parent.name.removeprefix("seed-")
            rows = read_metrics(metrics)
            if seed.isdigit() and rows:
                found.setdefault(metrics.parent.parent.name, {})[int(seed)] = rows
        if not found:
            raise FileNotFoundError(f"{path}: no <strategy>/seed-<k>/metrics.csv found; is this a qsynth run folder?")
        order: list[str] = []
        if (path / "config.toml").exists():
            from qsynth.strategies.registry import build_strategy

            order = [n for spec in load_run_config(path).strategies if (n := build_strategy(spec).name) in found]
        arms += [Arm(name, s, dict(sorted(found[s].items()))) for s in order + sorted(set(found) - set(order))]
    return arms


def _value(history: list[dict[str, float]], metric: str, at: int | None) -> float:
    if metric not in history[-1]:
        raise ValueError(f"metric {metric!r} is not a column of metrics.csv (it has {sorted(history[-1])})")
    return float(history[-1][metric]) if at is None else accuracy_at(history, at, metric)


def compare_runs(arms: list[Arm], *, metric: str = "accuracy", at: int | None = None,
                 baseline: str | None = None) -> tuple[Arm, list[Comparison]]:
    """The baseline arm and one `Comparison` per arm (the baseline's own row included).

    `baseline` names an arm by its label (`<run>/<strategy>`) or by strategy alone (the first arm
    with that strategy); the first arm by default.

    Raises:
      ValueError: no arms, an unknown baseline or metric.
    """
    if not arms:
        raise ValueError("compare: no arms to compare")
    if baseline is None:
        base = arms[0]
    else:
        matches = [a for a in arms if baseline in (a.label, a.strategy)]
        if not matches:
            raise ValueError(f"compare: --baseline {baseline!r} is none of the arms {[a.label for a in arms]}")
        base = matches[0]
    base_values = {k: _value(h, metric, at) for k, h in base.histories.items()}
    rows = []
    for arm in arms:
        values = {k: _value(h, metric, at) for k, h in arm.histories.items()}
        finite = [v for v in values.values() if math.isfinite(v)]
        shared = [k for k in values if k in base_values and math.isfinite(values[k]) and math.isfinite(base_values[k])]
        diffs = np.asarray([values[k] - base_values[k] for k in shared])
        rows.append(Comparison(
            arm=arm, values=values, mean=float(np.mean(finite)) if finite else float("nan"),
            std=float(np.std(finite)) if finite else float("nan"), shared=len(shared),
            difference=float(diffs.mean()) if len(diffs) else None,
            standard_error=float(diffs.std(ddof=1) / math.sqrt(len(diffs))) if len(diffs) > 1 else None,
            ahead=int((diffs > 1e-9).sum()), tied=int((np.abs(diffs) <= 1e-9).sum()), behind=int((diffs < -1e-9).sum())))
    return base, rows


def format_comparison(base: Arm, rows: list[Comparison], *, metric: str = "accuracy", at: int | None = None) -> str:
    """The comparison as a text table, with a line saying what is compared."""
    what = f"{metric} at {at} labels" if at is not None else f"final {metric}"
    header = ["arm", "seeds", what, "− baseline (paired ± s.e.)", "ahead / tied / behind"]
    table = []
    for r in rows:
        n = len(r.values)
        value = "—" if math.isnan(r.mean) else (f"{r.mean:.3f}" if n == 1 else f"{r.mean:.3f} ± {r.std:.3f}")
        if r.arm is base:
            paired, wins = "(baseline)", ""
        elif r.difference is None:
            paired, wins = "no shared seed", ""
        else:
            paired = f"{r.difference:+.3f}" + ("" if r.standard_error is None else f" ± {r.standard_error:.3f}")
            wins = f"{r.ahead} / {r.tied} / {r.behind} of {r.shared}"
        table.append([r.arm.label, str(n), value, paired, wins])
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*header), fmt.format(*("-" * w for w in widths))] + [fmt.format(*t).rstrip() for t in table]
    note = (f"baseline: {base.label}. {what[0].upper() + what[1:]}: mean ± std over each arm's seeds; the paired "
            "difference to the baseline is over the seeds both ran (± its standard error).")
    return "\n".join(lines + ["", note])


def plot_comparison(arms: list[Arm], path: str | Path, *, metric: str = "accuracy") -> Path:
    """One learning-curve figure (mean ± std over seeds) of every arm, saved to `path`."""
    from qsynth import plotting

    histories = {a.label: list(a.histories.values()) for a in arms}
    ax = plotting.plot_learning_curves(histories, key=metric, styles=plotting.strategy_styles(list(histories)),
                                       title=f"{metric}: " + " vs ".join(dict.fromkeys(a.run for a in arms)))
    plotting.save(ax, str(path))
    return Path(path)


__all__ += ["plot_comparison"]
