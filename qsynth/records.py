"""The records every part shares: `Queries`, `Answer`, `Status` (the ground floor).

The store, the oracles, the strategies and the loop all import these downward; this
module imports nothing of qsynth's own and no JAX, so oracle worker processes start fast.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from typing import Any

import numpy as np

__all__ = ["Answer", "AskedQuery", "Flag", "Queries", "Retract", "Status", "validate_answer"]


class Status(str, enum.Enum):
    """What an oracle said about one query."""

    OK = "ok"  # a label (and maybe a raw value)
    ABSTAIN = "abstain"  # "can't tell": the query was answerable in principle, not by this oracle
    FAILED = "failed"  # an error, a timeout, a crash, or an answer that failed validation


@dataclasses.dataclass(frozen=True, eq=False)
class Queries:
    """A batch of queries: what a strategy asks an oracle.

    Attributes:
      query_id: [n] unique string ids within a run (``"r0003-q01"``).
      x: [n, *feature_shape] float32 query points.
      scores: [n] the acquisition value of each query (NaN where none applies).
      pool_index: [n] int index into the problem's pool or stream, or None for synthesized queries;
        in a batch of both (a synthesis strategy's `pool_fallback`), −1 marks a synthesized one
        (a batch with no pool row keeps None).
      z: [n, latent] latent codes for generator-based queries, or None.
      extra: per-batch metadata (for example ``{"acquisition_before": [n]}``), JSON-serializable
        or NumPy arrays with a leading axis n.
    """

    query_id: tuple[str, ...]
    x: np.ndarray
    scores: np.ndarray
    pool_index: np.ndarray | None = None
    z: np.ndarray | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.query_id)
        if len(set(self.query_id)) != n:
            raise ValueError(f"Queries.query_id has duplicates: {self.query_id}")
        x = np.asarray(self.x)
        if x.ndim < 1 or x.shape[0] != n:
            raise ValueError(f"Queries.x has shape {x.shape}; expected a leading axis of {n} (one row per query_id)")
        object.__setattr__(self, "x", x)
        scores = np.asarray(self.scores, dtype=np.float64)
        if scores.shape != (n,):
            raise ValueError(f"Queries.scores has shape {scores.shape}; expected ({n},)")
        object.__setattr__(self, "scores", scores)
        if self.pool_index is not None:
            idx = np.asarray(self.pool_index, dtype=np.int64)
            if idx.shape != (n,):
                raise ValueError(f"Queries.pool_index has shape {idx.shape}; expected ({n},)")
            if np.any(idx < -1):
                raise ValueError(f"Queries.pool_index has {int(idx.min())}; an index is >= 0, or -1 for a "
                                 "synthesized query in a batch with pool points")
            object.__setattr__(self, "pool_index", idx if n == 0 or np.any(idx >= 0) else None)
        if self.z is not None:
            z = np.asarray(self.z)
            if z.shape[0] != n:
                raise ValueError(f"Queries.z has shape {z.shape}; expected a leading axis of {n}")
            object.__setattr__(self, "z", z)

    def __len__(self) -> int:
        return len(self.query_id)

    @property
    def pool_rows(self) -> np.ndarray:
        """[k] the pool (or stream) indices of the batch's pool points (none: empty)."""
        if self.pool_index is None:
            return np.zeros(0, np.int64)
        return self.pool_index[self.pool_index >= 0]

    def take(self, rows: np.ndarray | list[int]) -> Queries:
        """The sub-batch at `rows` (same fields, same order as `rows`)."""
        rows = np.asarray(rows, dtype=np.int64)
        extra = {k: (v[rows] if isinstance(v, np.ndarray) and v.shape[:1] == (len(self),) else v)
                 for k, v in self.extra.items()}
        return Queries(
            query_id=tuple(self.query_id[i] for i in rows),
            x=self.x[rows],
            scores=self.scores[rows],
            pool_index=None if self.pool_index is None else self.pool_index[rows],
            z=None if self.z is None else self.z[rows],
            extra=extra,
        )

    def record(self, i: int) -> dict[str, Any]:
        """Query `i` as a JSON-serializable dict (for the label log)."""
        out: dict[str, Any] = {
            "query_id": self.query_id[i],
            "x": np.asarray(self.x[i], dtype=np.float64).tolist(),
            "score": _finite_or_none(float(self.scores[i])),
        }
        if self.pool_index is not None and self.pool_index[i] >= 0:
            out["pool_index"] = int(self.pool_index[i])
        if self.z is not None:
            out["z"] = np.asarray(self.z[i], dtype=np.float64).tolist()
        for k, v in self.extra.items():
            if isinstance(v, np.ndarray) and v.shape[:1] == (len(self),):
                item = v[i]
                out[k] = item.tolist() if isinstance(item, np.ndarray) else item.item()
        return out


@dataclasses.dataclass(frozen=True)
class Answer:
    """An oracle's answer to one query.

    Attributes:
      query_id: the id of the query answered.
      status: OK, ABSTAIN or FAILED.
      label: the class label when status is OK, else None.
      value: an optional raw output (a simulator's continuous margin, say), for level-set work.
      cost: what the answer cost, in the oracle's units (1.0 per query unless the oracle says).
      error: the reason, when status is FAILED (or ABSTAIN, if the oracle gives one).
    """

    query_id: str
    status: Status
    label: int | None = None
    value: float | None = None
    cost: float = 1.0
    error: str | None = None

    def record(self) -> dict[str, Any]:
        """This answer as a JSON-serializable dict (for the label log)."""
        return {
            "query_id": self.query_id,
            "status": self.status.value,
            "label": self.label,
            "value": _finite_or_none(self.value) if self.value is not None else None,
            "cost": self.cost,
            "error": self.error,
        }

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Answer:
        return cls(query_id=rec["query_id"], status=Status(rec["status"]), label=rec.get("label"),
                   value=rec.get("value"), cost=float(rec.get("cost", 1.0)), error=rec.get("error"))


@dataclasses.dataclass(frozen=True)
class Retract:
    """Takes back an earlier answer to `query_id` (a person pressed undo); the query is open again.

    `told`: the answer had already been learned from (the learner refits without it); else it
    was only logged, in the batch still being answered.
    """

    query_id: str
    reason: str = "undo"
    told: bool = False

    def record(self) -> dict[str, Any]:
        return {"query_id": self.query_id, "reason": self.reason, **({"told": True} if self.told else {})}


@dataclasses.dataclass(frozen=True)
class Flag:
    """A person's "come back to this" on a query (logged; it changes nothing that is learned)."""

    query_id: str
    note: str = ""

    def record(self) -> dict[str, Any]:
        return {"query_id": self.query_id, "note": self.note}


@dataclasses.dataclass(frozen=True, eq=False)
class AskedQuery:
    """One query a run asked, with what became of it (`RunResult.queries`, `Session.queries`).

    Attributes:
      query_id: its id. round: the round that asked it (0 is the seed set).
      x: [*feature_shape] float32, the point asked (synthesized, or the pool or stream point).
      acquisition: the strategy's score for it (None for the seed set, or where none applies).
      answer: the oracle's answer (None while it is unanswered, or after it was taken back).
      pool_index: its index into the pool or stream (None for a synthesized query).
      z: [latent] its latent code (latent synthesis), else None.
      extra: what else the strategy recorded for it (an ascent's path and steps, the score before
        matching, ...), by name.
    """

    query_id: str
    round: int
    x: np.ndarray
    acquisition: float | None
    answer: Answer | None = None
    pool_index: int | None = None
    z: np.ndarray | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def status(self) -> Status | None:
        """The answer's status (None while unanswered)."""
        return None if self.answer is None else self.answer.status

    @property
    def label(self) -> int | None:
        """The label it was given (None unless answered OK)."""
        return None if self.answer is None else self.answer.label

    @classmethod
    def from_queries(cls, round_index: int, query: Queries, answer: Answer | None = None) -> AskedQuery:
        """The first query of `query` (a one-query batch), asked in `round_index`."""
        score = float(query.scores[0])
        extra = {k: (v[0].tolist() if isinstance(v[0], np.ndarray) else v[0].item())
                 for k, v in query.extra.items() if isinstance(v, np.ndarray) and v.shape[:1] == (1,)}
        return cls(query.query_id[0], int(round_index), np.asarray(query.x[0]),
                   score if math.isfinite(score) else None, answer,
                   None if query.pool_index is None or query.pool_index[0] < 0 else int(query.pool_index[0]),
                   None if query.z is None else np.asarray(query.z[0]), extra)

    def as_queries(self) -> Queries:
        """This query as a one-query batch (its extras left out)."""
        return Queries((self.query_id,), self.x[None], np.asarray([np.nan if self.acquisition is None else self.acquisition]),
                       pool_index=None if self.pool_index is None else np.asarray([self.pool_index]),
                       z=None if self.z is None else self.z[None])

    @classmethod
    def from_record(cls, rec: dict[str, Any], feature_shape: tuple[int, ...], answer: Answer | None = None) -> AskedQuery:
        """The query a label-log query record describes (x back to float32, exactly)."""
        known = {"kind", "round", "query_id", "x", "score", "pool_index", "z"}
        return cls(rec["query_id"], int(rec["round"]), np.asarray(rec["x"], np.float32).reshape(feature_shape),
                   rec.get("score"), answer, rec.get("pool_index"),
                   None if "z" not in rec else np.asarray(rec["z"], np.float32),
                   {k: v for k, v in rec.items() if k not in known})


def _finite_or_none(v: float | None) -> float | None:
    return v if v is not None and math.isfinite(v) else None


def validate_answer(answer: Any, query_id: str, classes: tuple[int, ...]) -> Answer:
    """Never trust an oracle blindly: turn anything malformed into a FAILED answer.

    Checks that `answer` is an `Answer` for `query_id`, that an OK label is an integer in
    `classes`, that `value` (if any) is a finite number and `cost` a finite non-negative one.

    Returns:
      `answer` unchanged when it is valid, else a FAILED `Answer` naming the query and the reason.
    """

    def failed(reason: str) -> Answer:
        cost = getattr(answer, "cost", 1.0)
        try:
            cost = float(cost)
        except (TypeError, ValueError):
            cost = 1.0
        if not math.isfinite(cost) or cost < 0:
            cost = 1.0
        return Answer(query_id=query_id, status=Status.FAILED, cost=cost,
                      error=f"query {query_id}: {reason}")

    if not isinstance(answer, Answer):
        return failed(f"oracle returned {type(answer).__name__}, not an Answer")
    if answer.query_id != query_id:
        return failed(f"answer is for query {answer.query_id!r}")
    try:
        status = Status(answer.status)
    except ValueError:
        return failed(f"unknown status {answer.status!r}")
    try:
        cost = float(answer.cost)
    except (TypeError, ValueError):
        return failed(f"cost {answer.cost!r} is not a number")
    if not math.isfinite(cost) or cost < 0:
        return failed(f"cost {answer.cost!r} is not a finite non-negative number")
    if answer.value is not None:
        try:
            value = float(answer.value)
        except (TypeError, ValueError):
            return failed(f"value {answer.value!r} is not a number")
        if not math.isfinite(value):
            return failed(f"non-finite output value {value}")
    if status is Status.OK:
        label = answer.label
        if isinstance(label, (bool, np.bool_)) or not isinstance(label, (int, np.integer)):
            if isinstance(label, (float, np.floating)) and not math.isfinite(float(label)):
                return failed(f"non-finite label {label}")
            if not (isinstance(label, (float, np.floating)) and float(label).is_integer()):
                return failed(f"label {label!r} is not an integer class")
        label = int(label)
        if label not in classes:
            return failed(f"label {label} is outside the class set {list(classes)}")
        return dataclasses.replace(answer, status=status, label=label, cost=cost)
    return dataclasses.replace(answer, status=status, label=None, cost=cost)
