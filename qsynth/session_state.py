"""The state of an active-learning session as one record, and its checkpoint on disk.

`SessionState` is everything that changes as a session runs: the round, the learner's state,
the labeled buffer, the pool's availability, the strategy's state, every answer, the metrics
history, what was spent, and the queries asked but not yet answered. A checkpoint writes it
into one atomic file (`SeedStore.save_checkpoint`): arrays as arrays (learner leaves, buffer,
strategy-state leaves, typed as they were), the rest as JSON. The pending queries are not
written: they are rebuilt from the label log, which holds every query.

Checkpoint versions: 2 stores the strategy state as typed array leaves; 1 (before) stored it
as JSON fields, and is still read.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from qsynth.data.buffer import LabeledBuffer
from qsynth.learners.base import Learner, LearnerState
from qsynth.records import Answer, Queries
from qsynth.strategies.answerability import AnswerLog
from qsynth.store import CheckpointError, SeedStore, load_checkpoint

__all__ = ["ResumeMismatch", "SessionState", "check_checkpoint_belongs", "covered_records", "load_learner_state", "read_checkpoint", "strategy_leaves", "restore_strategy_state",
           "write_checkpoint"]


class ResumeMismatch(RuntimeError):
    """On resume, the session or its checkpoint disagrees with the run it is resumed as (another
    seed, or a re-selected query other than the logged one)."""


@dataclasses.dataclass
class SessionState:
    """Where a session stands.

    Attributes:
      round: the round of the last `ask` (−1 before the first; 0 is the seed set).
      learner_state: the learner's state after the last fit (None before the first).
      buffer: every OK answer's example, in the order told (row i is the i-th OK answer).
      available: [pool size] bool, pool points never asked (None without a pool).
      strategy_state: the strategy's state after the last ask.
      answers: every answer told, in order (retracted ones removed).
      history: one metrics row per fit.
      spent: {"queries", "cost", "abstained", "failed"} over the answers told.
      acquisition: the best finite score of the last ask (NaN for the seed set).
      pending: query id → (round asked, the one-query `Queries`), asked and not yet answered.
      fitted_round: the round of the last fit (−1 before any).
      log_records: how many records the label log holds (a checkpoint covers exactly those).
      outcomes: where each modelled answer's query was and whether it was answered (the
        answerability model's data; None only while a checkpoint from before it is restored).
    """

    round: int
    learner_state: LearnerState | None
    buffer: LabeledBuffer
    available: np.ndarray | None
    strategy_state: Any
    answers: list[Answer] = dataclasses.field(default_factory=list)
    history: list[dict[str, float]] = dataclasses.field(default_factory=list)
    spent: dict[str, float] = dataclasses.field(
        default_factory=lambda: {"queries": 0, "cost": 0.0, "abstained": 0, "failed": 0})
    acquisition: float = float("nan")
    pending: dict[str, tuple[int, Queries]] = dataclasses.field(default_factory=dict)
    fitted_round: int = -1
    log_records: int = 0
    outcomes: AnswerLog | None = None


def strategy_leaves(state: Any) -> dict[str, np.ndarray]:
    """A strategy state's leaves as arrays `strategy_0000, ...`: a dataclass's fields, else pytree leaves."""
    if state is None:
        return {}
    values = _leaf_values(state)
    return {f"strategy_{i:04d}": np.asarray(v) for i, v in enumerate(values)}


def restore_strategy_state(initial: Any, leaves: list[Any], where: object) -> Any:
    """`initial` with its leaves replaced by `leaves`, each converted back to its type in `initial`
    (a Python int, float or bool stays one; a NumPy or JAX array stays an array of its dtype)."""
    if initial is None:
        return None
    template = _leaf_values(initial)
    if len(leaves) != len(template):
        raise CheckpointError(f"{where} holds {len(leaves)} strategy-state leaves; this strategy's state "
                              f"({type(initial).__name__}) has {len(template)}")
    values = [_like(t, v) for t, v in zip(template, leaves)]
    if dataclasses.is_dataclass(initial) and not isinstance(initial, type):
        return dataclasses.replace(initial, **{f.name: v for f, v in zip(_fields(initial), values)})
    return jax.tree.unflatten(jax.tree.structure(initial), values)


def _fields(state: Any) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(state) if f.init]


def _leaf_values(state: Any) -> list[Any]:
    if dataclasses.is_dataclass(state):
        return [getattr(state, f.name) for f in _fields(state)]
    return jax.tree.leaves(state)


def _like(template: Any, value: Any) -> Any:
    if isinstance(template, (bool, np.bool_)):
        return bool(np.asarray(value))
    if isinstance(template, (int, np.integer)):
        return int(np.asarray(value))
    if isinstance(template, (float, np.floating)):
        return float(np.asarray(value))
    if isinstance(template, jax.Array):
        return jnp.asarray(value, template.dtype)
    if isinstance(template, np.ndarray):
        return np.asarray(value, template.dtype).copy()
    return value


def write_checkpoint(store: SeedStore, state: SessionState, key_data: np.ndarray, finished: str | None = None) -> None:
    """Everything needed to go on from `state`, in one atomic file.

    (Round r's keys are `fold_in(root key, r)`: the root key data is all the PRNG state there is.)"""
    leaves = jax.tree.leaves(state.learner_state)
    arrays = {f"state_{i:04d}": np.asarray(leaf) for i, leaf in enumerate(leaves)}
    buffer = state.buffer
    arrays.update(buffer_x=buffer.x, buffer_y=buffer.y, buffer_round=buffer.round_added,
                  buffer_value=np.asarray(buffer.value), key=np.asarray(key_data), **strategy_leaves(state.strategy_state))
    if state.available is not None:
        arrays["available"] = state.available
    if state.outcomes is not None:
        arrays.update(state.outcomes.arrays())
    strategy = None if state.strategy_state is None else {
        "type": type(state.strategy_state).__qualname__, "leaves": len(_leaf_values(state.strategy_state))}
    meta = {"round": state.round, "fitted_round": state.fitted_round, "labels": buffer.size,
            "buffer_size": buffer.size, "state_leaves": len(leaves), "strategy_state": strategy,
            "history": state.history, "spent": state.spent, "answers": len(state.answers),
            "acquisition": state.acquisition, "finished": finished, "log_records": state.log_records}
    store.save_checkpoint(arrays, json.loads(json.dumps(meta, default=_json_default)))


def _json_default(v: Any) -> Any:
    if isinstance(v, (np.floating, np.integer, np.bool_)):
        return v.item()
    raise TypeError(f"cannot checkpoint {type(v).__name__}")


def read_checkpoint(folder: Path, learner: Learner, initial_strategy_state: Any, key_data: np.ndarray,
                    log: list[dict[str, Any]], feature_shape: tuple[int, ...],
                    identity: dict[str, Any] | None = None) -> SessionState | None:
    """The state a checkpoint folder holds (its pending queries from `log`), or None without one.

    Raises:
      ResumeMismatch: it was written with another root key (seed).
      CheckpointError: it belongs to another run (`identity`), learner or strategy, or disagrees with the log.
    """
    try:
        arrays, meta = load_checkpoint(folder)
    except FileNotFoundError:
        return None
    covered = check_checkpoint_belongs(folder, arrays, meta, log, key_data, identity)
    buffer = LabeledBuffer(arrays["buffer_x"].copy(), arrays["buffer_y"].copy(), arrays["buffer_round"].copy(),
                           int(meta["buffer_size"]), arrays["buffer_value"].copy() if "buffer_value" in arrays else None)
    round_index = int(meta["round"])
    answers, pending = _answers_and_pending(log[:covered], feature_shape)
    return SessionState(
        round=round_index, learner_state=load_learner_state(learner, arrays, folder), buffer=buffer,
        available=arrays["available"].copy() if "available" in arrays else None,
        strategy_state=_strategy_state(meta, arrays, initial_strategy_state, folder),
        answers=answers, history=[{k: (float("nan") if v is None else v) for k, v in row.items()}
                                  for row in meta["history"]],
        spent=meta["spent"], acquisition=float("nan") if meta["acquisition"] is None else float(meta["acquisition"]),
        pending=pending, fitted_round=int(meta.get("fitted_round", round_index)), log_records=covered,
        outcomes=AnswerLog.from_arrays(arrays) if "answerability_id" in arrays else None)


def check_checkpoint_belongs(folder: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any],
                             log: list[dict[str, Any]], key_data: np.ndarray | None = None,
                             identity: dict[str, Any] | None = None) -> int:
    """Check that a checkpoint was written by this run over this label log; returns how many of
    the log's records it covers.

    It must have this run's root key, name this run (`identity`: strategy, seed, config hash —
    where both it and the checkpoint record one), cover no more records than the log holds, count
    the answers the log holds before it, and end on the log's query id at that point.

    Raises:
      ResumeMismatch: another root key (seed). CheckpointError: anything else that disagrees.
    """
    where = folder.parent
    if key_data is not None and "key" in arrays and not np.array_equal(arrays["key"], key_data):
        raise ResumeMismatch(f"{folder} was written by a run with another root key (seed); "
                             "resume it with the seed it was started with")
    written_by = meta.get("run")
    if identity is not None and written_by is not None and written_by != identity:
        differ = ", ".join(f"{k} {written_by.get(k)!r} (this run: {identity.get(k)!r})"
                           for k in sorted(set(identity) | set(written_by)) if written_by.get(k) != identity.get(k))
        raise CheckpointError(f"{folder} belongs to another run: {differ}; it was copied or moved here. Delete it "
                              "to resume from the label log alone")
    covered = covered_records(log, meta)
    fix = f"; delete {folder} to resume from the label log alone"
    if covered > len(log):
        raise CheckpointError(f"{where}: the checkpoint covers {covered} label-log records but the log holds only "
                              f"{len(log)} (the log was cut, or the checkpoint is another run's){fix}")
    answers, _ = _answers_and_pending(log[:covered], None)
    if len(answers) != meta["answers"]:
        raise CheckpointError(f"{where}: the checkpoint of round {meta['round']} counts {meta['answers']} "
                              f"answers but the label log holds {len(answers)} before it{fix}")
    last = meta.get("last_query_id")
    logged_last = log[covered - 1].get("query_id") if covered else None
    if "last_query_id" in meta and last != logged_last:
        raise CheckpointError(f"{where}: the checkpoint was written after query {last!r} but the label log holds "
                              f"{logged_last!r} at that point (the checkpoint is another run's, or the log was "
                              f"edited){fix}")
    return covered


def covered_records(log: list[dict[str, Any]], meta: dict[str, Any]) -> int:
    """How many of the label log's records a checkpoint covers: those written before it (version
    1 checkpoints, written at the end of a round, cover the records of rounds up to theirs)."""
    if "log_records" in meta:
        return int(meta["log_records"])
    return next((i for i, r in enumerate(log) if r.get("round", -1) > int(meta["round"])), len(log))


def _strategy_state(meta: dict[str, Any], arrays: dict[str, np.ndarray], initial: Any, where: Path) -> Any:
    record = meta["strategy_state"]
    if record is None:
        return initial
    if type(initial).__qualname__ != record["type"]:
        raise CheckpointError(f"{where} holds a {record['type']} strategy state; this strategy starts from "
                              f"{type(initial).__qualname__}")
    if "fields" in record:  # checkpoint version 1: the fields as JSON
        return restore_strategy_state(initial, list(record["fields"].values()), where)
    return restore_strategy_state(initial, [arrays[k] for k in sorted(arrays) if k.startswith("strategy_")], where)


def _answers_and_pending(log: list[dict[str, Any]],
                         feature_shape: tuple[int, ...] | None) -> tuple[list[Answer], dict[str, tuple[int, Queries]]]:
    """The answers `log` holds (a retraction takes back the last one for its query), and the
    queries it asked that stand unanswered (none without a `feature_shape`)."""
    answers: list[Answer] = []
    asked: dict[str, dict[str, Any]] = {}
    for r in log:
        if r["kind"] == "query":
            asked[r["query_id"]] = r
        elif r["kind"] == "answer":
            answers.append(Answer.from_record(r))
        elif r["kind"] == "retract":
            last = [i for i, a in enumerate(answers) if a.query_id == r["query_id"]]
            if last:
                answers.pop(last[-1])
    if feature_shape is None:
        return answers, {}
    answered = {a.query_id for a in answers}
    pending = {qid: (int(rec["round"]), query_from_record(rec, feature_shape))
               for qid, rec in asked.items() if qid not in answered}
    return answers, pending


def logged_answers(log: list[dict[str, Any]]) -> list[Answer]:
    """The answers a label log holds, in the order given, retracted ones taken out (a query
    answered again after a retraction stands where its new answer was logged)."""
    return _answers_and_pending(log, None)[0]


def query_from_record(rec: dict[str, Any], feature_shape: tuple[int, ...]) -> Queries:
    """The one-query batch a label-log query record describes (x back to float32, exactly)."""
    score = rec.get("score")
    return Queries((rec["query_id"],), np.asarray(rec["x"], np.float32).reshape(1, *feature_shape),
                   np.asarray([np.nan if score is None else score]),
                   pool_index=None if "pool_index" not in rec else np.asarray([rec["pool_index"]]),
                   z=None if "z" not in rec else np.asarray([rec["z"]], np.float32))


def load_learner_state(learner: Learner, arrays: dict[str, np.ndarray], where: Any) -> Any:
    """The learner state whose leaves a checkpoint holds as `state_0000`, `state_0001`, ..."""
    treedef = jax.tree.structure(learner.init(jax.random.key(0)))
    names = sorted(k for k in arrays if k.startswith("state_"))
    leaves: int = treedef.num_leaves  # type: ignore[attr-defined]
    legacy = getattr(learner, "legacy_state", None)  # a learner whose state gained a field reads its old layout
    if len(names) != leaves and legacy is not None and (old := legacy([arrays[n] for n in names])) is not None:
        return old
    if len(names) != leaves:
        raise CheckpointError(f"{where} holds {len(names)} learner arrays; this learner has {leaves} "
                              "(was the run made with another learner config?)")
    return jax.tree.unflatten(treedef, [jnp.asarray(arrays[n]) for n in names])
