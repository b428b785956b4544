"""A run's results as tidy CSV files, ready for pandas or a spreadsheet.

```
runs/<name>/results.csv   one row per (strategy, seed, round): every metrics.csv column, beside
                          the strategy's name and the seed
runs/<name>/summary.csv   one row per strategy: the summary table's numbers (mean, std and the
                          number of seeds for each measure), one column each
```

`pandas.read_csv("runs/default/results.csv")` then gives a long-format frame
(`df.groupby(["strategy", "queries"]).accuracy.mean()` is a learning curve). Both files are
rewritten whenever the summary is (at the end of a run, on `--resume` and by `qsynth plot`).
Imports no JAX.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

from qsynth.store import read_metrics, write_whole

__all__ = ["summary_rows", "write_results_csv", "write_summary_csv"]


def write_results_csv(run: Path, strategies: list[str]) -> Path:
    """`run/results.csv` from every `<strategy>/seed-<k>/metrics.csv` (strategies in the given order
    first, then any others by name; seeds in increasing order)."""
    rank = {name: i for i, name in enumerate(strategies)}
    found = []
    for metrics in run.glob("*/seed-*/metrics.csv"):
        strategy, seed = metrics.parent.parent.name, metrics.parent.name.removeprefix("seed-")
        if seed.isdigit():
            found.append((rank.get(strategy, len(rank)), strategy, int(seed), metrics))
    rows: list[dict[str, Any]] = []
    columns: list[str] = ["strategy", "seed"]
    for _, strategy, seed, metrics in sorted(found):
        for row in read_metrics(metrics):
            columns += [k for k in row if k not in columns]
            rows.append({"strategy": strategy, "seed": seed, **{k: _number(v) for k, v in row.items()}})
    return _write(run / "results.csv", columns, rows)


def summary_rows(summary: dict[str, dict]) -> list[dict[str, Any]]:
    """The summary (`experiments.summary.summarize`) as flat rows: one per strategy, a column per number."""
    rows = []
    for name, entry in summary.items():
        row: dict[str, Any] = {"strategy": name, "seeds": entry["seeds"]}
        for key, value in entry.items():
            if key == "seeds":
                continue
            if isinstance(value, dict) and "mean" in value:
                row.update(_stats(key, value))
            elif isinstance(value, dict):  # labels_to_target, accuracy_at, f1_at: one block per target or count
                for sub, stats in value.items():
                    row.update(_stats(f"{key}_{sub}", stats))
            else:
                row[key] = value
        rows.append(row)
    return rows


def write_summary_csv(run: Path, summary: dict[str, dict]) -> Path:
    """`run/summary.csv`: `summary_rows(summary)`."""
    rows = summary_rows(summary)
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    return _write(run / "summary.csv", columns, rows)


def _stats(prefix: str, stats: dict[str, Any]) -> dict[str, Any]:
    return {f"{prefix}_{k}": ("" if v is None else v) for k, v in stats.items()}


def _number(v: float) -> float | int:
    """Whole numbers as integers (counts, rounds), everything else as it is (NaN stays "nan")."""
    return int(v) if math.isfinite(v) and v.is_integer() and abs(v) < 2**53 else v


def _write(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> Path:
    text = io.StringIO()
    writer = csv.DictWriter(text, columns, restval="")
    writer.writeheader()
    writer.writerows(rows)
    write_whole(path, text.getvalue())
    return path
