"""The run folder on disk: config, the append-only label log, metrics, checkpoints.

```
runs/<name>/
  config.toml  summary.json  plots/
  <strategy>/seed-<k>/labels.jsonl  metrics.csv  checkpoint/
```

`labels.jsonl` gets one JSON line per query and per answer; `sync()` flushes and fsyncs,
and the loop calls it as each answer arrives, before any answer is used.

Checkpoint format: one NumPy `.npz` file (`checkpoint/state.npz`) holding every array (the
learner's parameters and optimizer state as pytree leaves, the labeled buffer, the pool's
availability mask, the PRNG key data) and the loop's bookkeeping as a JSON string under
`__meta__`. It is written to a temporary file, fsynced, renamed over the previous one and
the folder fsynced: a crash leaves either the old or the new checkpoint, never a mix. Why
not orbax or flax serialization: one file means one atomic rename (no state/meta pair that
a crash could split); the zip container checks a CRC-32 of every array on reading, so a
corrupt or truncated checkpoint is detected, with a clear message; and it reads without
JAX or any dependency beyond NumPy.

One writer per run: `RunLock` holds an exclusive `flock` on `runs/<name>/.lock` for as
long as a process writes the run (released by the OS if that process dies).
"""

from __future__ import annotations

import csv
import fcntl
import json
import os
import sys
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CheckpointError", "RunLock", "SeedStore", "load_checkpoint", "read_label_log", "read_metrics",
           "repair_label_log", "write_whole"]

CHECKPOINT_VERSION = 2


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: corrupt, truncated, or from an incompatible version."""


class RunLock:
    """An exclusive lock on a run folder: `with RunLock(path): ...` (raises if another process holds it)."""

    def __init__(self, run_path: str | os.PathLike):
        self.path = Path(run_path) / ".lock"
        self._file: Any = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.seek(0)
            holder = self._file.read().strip() or "another process"
            self._file.close()
            raise RuntimeError(f"{self.path.parent} is being written by {holder}; one writer per run "
                               "(wait for it to finish, or stop it)") from None
        self._file.seek(0)
        self._file.truncate()
        self._file.write(f"pid {os.getpid()}")
        self._file.flush()
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        self._file.close()


class SeedStore:
    """The files of one (strategy, seed) run: `labels.jsonl`, `metrics.csv`, `checkpoint/`.

    Every checkpoint records the query id of the log's last record when it was written, and
    the store's `identity` (which run wrote it: strategy, seed, config hash), so that a resume
    can refuse a checkpoint that belongs to another log or run.

    Args:
      path: the `<strategy>/seed-<k>` folder (created).
      fsync: fsync the log at each `sync()` (on by default; off only for throwaway runs).
      identity: JSON values naming the run this folder belongs to (written into every checkpoint).
    """

    def __init__(self, path: str | os.PathLike, *, fsync: bool = True, identity: dict[str, Any] | None = None):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self.identity = identity
        self.repaired = repair_label_log(self.path / "labels.jsonl")
        self.last_query_id = _last_query_id(self.path / "labels.jsonl")
        self._log = open(self.path / "labels.jsonl", "a", encoding="utf-8")
        self._metrics_fields: list[str] | None = None

    def append(self, record: dict[str, Any]) -> None:
        """Append one record to the label log (buffered until `sync`), with its checksum as `crc`."""
        self._log.write(_with_checksum(record) + "\n")
        self.last_query_id = record.get("query_id", self.last_query_id)

    def sync(self) -> None:
        """Flush the label log to the OS and (if enabled) to disk.

        Raises:
          OSError: naming the log (a full disk, say); what was synced before is intact."""
        try:
            self._log.flush()
            if self.fsync:
                os.fsync(self._log.fileno())
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror or str(exc), str(self.path / "labels.jsonl")) from exc

    def write_metrics(self, row: dict[str, Any]) -> None:
        """Append one round's metrics to `metrics.csv` (header from the first row)."""
        path = self.path / "metrics.csv"
        if self._metrics_fields is None:
            self._metrics_fields = list(row)
            with open(path, "w", newline="", encoding="utf-8") as f:
                csv.DictWriter(f, self._metrics_fields).writeheader()
        with open(path, "a", newline="", encoding="utf-8") as f:
            csv.DictWriter(f, self._metrics_fields, extrasaction="ignore").writerow(row)

    def rewrite_metrics(self, rows: list[dict[str, Any]]) -> None:
        """Replace `metrics.csv` with `rows` (on resume: the rounds the checkpoint holds)."""
        self._metrics_fields = None
        (self.path / "metrics.csv").unlink(missing_ok=True)
        for row in rows:
            self.write_metrics(row)

    def save_checkpoint(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Path:
        """Write `checkpoint/state.npz` (arrays + meta as JSON) atomically: temp file, fsync, rename."""
        folder = self.path / "checkpoint"
        folder.mkdir(exist_ok=True)
        tmp = folder / "state.npz.tmp"
        meta = {**meta, "checkpoint_version": CHECKPOINT_VERSION, "last_query_id": self.last_query_id}
        if self.identity is not None:
            meta["run"] = self.identity
        try:
            with open(tmp, "wb") as f:
                np.savez(f, __meta__=np.frombuffer(json.dumps(meta).encode(), np.uint8), **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, folder / "state.npz")
        except OSError as exc:  # a full disk, say: the previous checkpoint stays whole; the half-written one goes
            tmp.unlink(missing_ok=True)
            raise OSError(exc.errno, exc.strerror or str(exc), str(folder / "state.npz")) from exc
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return folder

    def close(self) -> None:
        self.sync()
        self._log.close()


def write_whole(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically (temporary file, fsync, rename): a crash leaves it whole or absent
    (and of two processes writing it at once, one whole version wins)."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _last_query_id(log: Path) -> str | None:
    """The query id of the log's last record (None for an empty or missing log)."""
    if not log.exists():
        return None
    lines = log.read_bytes().splitlines()
    try:
        return json.loads(lines[-1]).get("query_id") if lines else None
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return None  # read_label_log names the line when the log is read


def load_checkpoint(folder: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays and meta of `folder/state.npz`.

    Raises:
      FileNotFoundError: there is no checkpoint.
      CheckpointError: it is corrupt or truncated (bad CRC, not a zip), or from a newer qsynth.
    """
    path = Path(folder) / "state.npz"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no checkpoint")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}  # reading every member checks its CRC
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError) as exc:
        raise CheckpointError(f"{path} is corrupt or truncated ({type(exc).__name__}: {exc}); delete it to "
                              "resume from the label log alone") from None
    if "__meta__" not in arrays:
        raise CheckpointError(f"{path} has no __meta__ record: not a qsynth checkpoint of this version")
    meta = json.loads(arrays.pop("__meta__").tobytes().decode())
    if meta.get("checkpoint_version", 0) > CHECKPOINT_VERSION:
        raise CheckpointError(f"{path} was written by a newer qsynth (checkpoint version "
                              f"{meta['checkpoint_version']} > {CHECKPOINT_VERSION}); upgrade qsynth to resume it")
    return arrays, meta


def repair_label_log(path: str | os.PathLike) -> str | None:
    """Cut a truncated final line (a crash mid-write) off a label log before appending to it.

    A complete final record that only lacks its newline gets the newline instead. Corrupt
    lines elsewhere are not a crash's doing: `read_label_log` reports them.

    Returns:
      A message saying what was repaired (also printed to stderr), or None when the log was whole.
    """
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return None
    data = path.read_bytes()
    body = data[:-1] if data.endswith(b"\n") else data
    start = body.rfind(b"\n") + 1
    last = body[start:]
    try:
        json.loads(last)
        complete = True
    except (json.JSONDecodeError, UnicodeDecodeError):
        complete = False
    if complete and data.endswith(b"\n"):
        return None
    with open(path, "r+b") as f:
        if complete:
            f.seek(0, os.SEEK_END)
            f.write(b"\n")
            message = f"{path}: the final record lacked its newline (a crash mid-write); added it"
        else:
            f.truncate(start)
            message = (f"{path}: cut a truncated final line ({len(last)} bytes, a crash mid-write): "
                       f"{last[:80]!r}")
        f.flush()
        os.fsync(f.fileno())
    print(f"warning: {message}", file=sys.stderr)
    return message


def _body(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"))


def _with_checksum(record: dict[str, Any]) -> str:
    """The record's JSON line with a last field `crc`: the CRC-32 of the line without it."""
    body = _body(record)
    return f'{body[:-1]},"crc":"{zlib.crc32(body.encode()):08x}"}}' if body != "{}" else body


#: What each kind of label-log record must hold (beyond "kind"), as the readers use it.
_RECORD_KEYS = {"query": ("query_id", "x"), "answer": ("query_id", "status"), "retract": ("query_id",),
                "flag": ("query_id",)}
_STATUSES = ("ok", "abstain", "failed")


def read_label_log(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a `labels.jsonl`; a truncated final line (crash mid-write) is skipped.

    Each record a run writes carries the CRC-32 of its line (`crc`, removed from what is
    returned): a line changed by hand — a label edited, say — no longer matches it and is
    refused, never used. (Records without one, from logs before checksums, are read as they are.)

    Raises:
      ValueError: a line other than the last is not UTF-8 text, not valid JSON, not a record a
        run writes (a known kind with its keys, a known status), or does not match its
        checksum; the message names the file and the line.
    """
    lines = Path(path).read_bytes().splitlines()
    records = []
    for i, raw in enumerate(lines):
        try:
            record = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path}: line {i + 1} is corrupt (not UTF-8 text: {exc.reason} at byte {exc.start})") \
                from None
        except json.JSONDecodeError as exc:
            if i == len(lines) - 1:
                break
            raise ValueError(f"{path}: line {i + 1} is corrupt ({exc})") from exc
        if isinstance(record, dict) and "crc" in record:
            crc = record.pop("crc")
            if crc != f"{zlib.crc32(_body(record).encode()):08x}":
                raise ValueError(f"{path}: line {i + 1} does not match its checksum: it was changed after the run "
                                 "wrote it (a label edited by hand is never used; take an answer back with "
                                 "Session.retract, or restore the line)")
        problem = _record_problem(record)
        if problem:
            raise ValueError(f"{path}: line {i + 1} is corrupt ({problem}); the log holds only what a run wrote")
        records.append(record)
    return records


def _record_problem(record: Any) -> str | None:
    """What is wrong with a label-log record, or None."""
    if not isinstance(record, dict):
        return f"a {type(record).__name__}, not a record"
    kind = record.get("kind")
    if kind not in _RECORD_KEYS:
        return f"unknown record kind {kind!r}"
    missing = [k for k in _RECORD_KEYS[kind] if k not in record]
    if missing:
        return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} record without {', '.join(repr(k) for k in missing)}"
    if not isinstance(record["query_id"], str):
        return f"query_id {record['query_id']!r} is not a string"
    if kind == "answer" and record["status"] not in _STATUSES:
        return f"unknown answer status {record['status']!r}"
    return None


def read_metrics(path: str | os.PathLike) -> list[dict[str, float]]:
    """The rows of a `metrics.csv`, numbers as floats."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [{k: float(v) if v not in ("", None) else float("nan") for k, v in row.items()} for row in rows]
