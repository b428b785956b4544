"""The run folder on disk: config, the append-only label log, metrics, checkpoints.

```
runs/<name>/
  config.toml  summary.json  plots/
  <strategy>/seed-<k>/labels.jsonl  metrics.csv  checkpoint/
```

`labels.jsonl` gets one JSON line per query and per answer; `sync()` flushes and fsyncs,
and the loop calls it before any answer is used. Checkpoints are written to a temporary
file and renamed into place, so a crash leaves the previous checkpoint intact.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["SeedStore", "read_label_log", "read_metrics"]


class SeedStore:
    """The files of one (strategy, seed) run: `labels.jsonl`, `metrics.csv`, `checkpoint/`.

    Args:
      path: the `<strategy>/seed-<k>` folder (created).
      fsync: fsync the log at each `sync()` (on by default; off only for throwaway runs).
    """

    def __init__(self, path: str | os.PathLike, *, fsync: bool = True):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self._log = open(self.path / "labels.jsonl", "a", encoding="utf-8")
        self._metrics_fields: list[str] | None = None

    def append(self, record: dict[str, Any]) -> None:
        """Append one record to the label log (buffered until `sync`)."""
        self._log.write(json.dumps(record, separators=(",", ":")) + "\n")

    def sync(self) -> None:
        """Flush the label log to the OS and (if enabled) to disk."""
        self._log.flush()
        if self.fsync:
            os.fsync(self._log.fileno())

    def write_metrics(self, row: dict[str, Any]) -> None:
        """Append one round's metrics to `metrics.csv` (header from the first row)."""
        path = self.path / "metrics.csv"
        if self._metrics_fields is None:
            self._metrics_fields = list(row)
            with open(path, "w", newline="", encoding="utf-8") as f:
                csv.DictWriter(f, self._metrics_fields).writeheader()
        with open(path, "a", newline="", encoding="utf-8") as f:
            csv.DictWriter(f, self._metrics_fields, extrasaction="ignore").writerow(row)

    def save_checkpoint(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Path:
        """Write `checkpoint/state.npz` (arrays) and `checkpoint/meta.json` atomically (temp + rename)."""
        folder = self.path / "checkpoint"
        folder.mkdir(exist_ok=True)
        tmp = folder / "state.npz.tmp"
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, folder / "state.npz")
        tmp_meta = folder / "meta.json.tmp"
        tmp_meta.write_text(json.dumps(meta, indent=1), encoding="utf-8")
        os.replace(tmp_meta, folder / "meta.json")
        return folder

    def close(self) -> None:
        self.sync()
        self._log.close()


def read_label_log(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a `labels.jsonl`; a truncated final line (crash mid-write) is skipped.

    Raises:
      ValueError: a line other than the last is not valid JSON (names the line number).
    """
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    records = []
    for i, line in enumerate(lines):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            if i == len(lines) - 1:
                break
            raise ValueError(f"{path}: line {i + 1} is corrupt ({exc})") from exc
    return records


def read_metrics(path: str | os.PathLike) -> list[dict[str, float]]:
    """The rows of a `metrics.csv`, numbers as floats."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [{k: float(v) if v not in ("", None) else float("nan") for k, v in row.items()} for row in rows]
