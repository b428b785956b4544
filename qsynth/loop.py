"""The active-learning loop: seed set, then select → label → retrain → evaluate, until a stop.

The loop knows no concrete strategy or oracle: it talks to the `Strategy` and `Oracle`
protocols. Every query and every answer goes to the label log, and the log is synced to
disk before any answer is used. The budget counts every query asked — abstentions and
failures included — and may also be given in oracle cost units.

Keys: the seed set uses `fold_in(key, 0)`; round r uses `fold_in(key, r)` split into
(fit, select) keys, so a round's randomness does not depend on how earlier rounds went.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from qsynth.data.buffer import LabeledBuffer
from qsynth.learners import gaussian_process
from qsynth.learners.learner import TRACE_COUNTS, Learner, TrainState
from qsynth.oracles.base import AsyncOracle, Oracle, ask
from qsynth.problem import Problem
from qsynth.records import Answer, Queries, Retract, Status
from qsynth.store import CheckpointError, SeedStore, load_checkpoint, read_label_log
from qsynth.strategies.base import RoundContext, Strategy

__all__ = ["LoopConfig", "ResumeMismatch", "RunResult", "load_params", "recent", "run_loop", "seed_queries"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class LoopConfig:
    """When to stop and how to start.

    Attributes:
      budget: queries that may be asked in all, the seed set included (abstained and failed count).
      seed_size: queries in the initial seed set.
      seed_strategy: "random" or "stratified" (one per class first; needs pool labels).
      batch_size: queries per round.
      cost_budget: optional cap on the summed oracle cost.
      target_accuracy: optional: stop once test accuracy reaches it (when `stop_at_target`).
      stop_at_target: stop at the target (else only report when it was reached).
      min_acquisition: optional: stop when the best acquisition score of `patience`
        consecutive rounds stays below it (the learner is no longer uncertain anywhere).
      patience: rounds for the plateau rule.
      fsync: fsync the label log at every sync (keep on for real labelers).
      checkpoint_every: rounds between checkpoints (0: only at the end; a resume then replays
        the whole label log).
      window: train on the most recent `window` labels only (forgetting, for drifting
        streams); every label is still kept, logged and counted. None: all labels.
    """

    budget: int
    seed_size: int = 2
    seed_strategy: str = "random"
    batch_size: int = 1
    cost_budget: float | None = None
    target_accuracy: float | None = None
    stop_at_target: bool = False
    min_acquisition: float | None = None
    patience: int = 5
    fsync: bool = True
    checkpoint_every: int = 1
    window: int | None = None

    def __post_init__(self) -> None:
        if self.seed_size < 1:
            raise ValueError(f"loop.seed_size must be >= 1, got {self.seed_size}")
        if self.budget < self.seed_size:
            raise ValueError(f"loop.budget ({self.budget}) is smaller than loop.seed_size ({self.seed_size}): "
                             "the seed set alone would exceed it")
        if self.seed_strategy not in ("random", "stratified"):
            raise ValueError(f"loop.seed_strategy must be 'random' or 'stratified', got {self.seed_strategy!r}")
        if self.batch_size < 1:
            raise ValueError(f"loop.batch_size must be >= 1, got {self.batch_size}")
        if self.cost_budget is not None and not self.cost_budget > 0:
            raise ValueError(f"loop.cost_budget must be > 0, got {self.cost_budget}")
        if self.target_accuracy is not None and not 0.0 < self.target_accuracy <= 1.0:
            raise ValueError(f"loop.target_accuracy must be in (0, 1], got {self.target_accuracy}")
        if self.patience < 1:
            raise ValueError(f"loop.patience must be >= 1, got {self.patience}")
        if self.checkpoint_every < 0:
            raise ValueError(f"loop.checkpoint_every must be >= 0, got {self.checkpoint_every}")
        if self.window is not None and self.window < 1:
            raise ValueError(f"loop.window must be >= 1 (or absent), got {self.window}")


@dataclasses.dataclass
class RunResult:
    """What a finished loop leaves in memory.

    history: one dict per round (the rows of metrics.csv). state: the final learner state.
    buffer: the labeled set. answers: every answer, in order. stop_reason: why it stopped.
    labels_to_target: queries used when test accuracy first reached the target (None if never).
    """

    history: list[dict[str, float]]
    state: TrainState
    buffer: LabeledBuffer
    answers: list[Answer]
    strategy_state: Any
    stop_reason: str
    labels_to_target: int | None


def recent(buffer: LabeledBuffer, window: int | None) -> LabeledBuffer:
    """`buffer` as the learner should see it: only its newest `window` labels (same shapes, so
    the jitted fit does not recompile; older rows are masked out, not removed)."""
    if window is None or buffer.size <= window:
        return buffer
    view = buffer.copy()
    view.round_added[: buffer.size - window] = -1
    return view


def seed_queries(key: jax.Array, problem: Problem, n: int, stratified: bool) -> Queries:
    """The initial queries: pool points (random, or one per class first), else uniform in the bounds."""
    rng = np.random.default_rng(np.asarray(jax.random.key_data(key)))
    ids = tuple(f"seed-q{i:02d}" for i in range(n))
    if problem.pool is not None:
        if n > len(problem.pool):
            raise ValueError(f"loop.seed_size ({n}) exceeds the pool ({len(problem.pool)} points)")
        if stratified:
            if problem.pool_y is None:
                raise ValueError("loop.seed_strategy 'stratified' needs a problem with pool labels")
            per_class = [rng.permutation(np.flatnonzero(problem.pool_y == c)) for c in problem.classes]
            order: list[int] = []
            depth = 0
            while len(order) < n:
                order += [int(p[depth]) for p in per_class if depth < len(p)]
                depth += 1
            idx = np.asarray(order[:n], np.int64)
        else:
            idx = rng.choice(len(problem.pool), size=n, replace=False)
        return Queries(ids, problem.pool[idx], np.full(n, np.nan), pool_index=idx)
    if problem.bounds is None:
        raise ValueError(f"problem {problem.name!r} has neither a pool nor bounds to draw a seed set from")
    low, high = problem.bounds
    x = rng.uniform(low, high, (n, low.size)).astype(np.float32).reshape(n, *problem.feature_shape)
    return Queries(ids, x, np.full(n, np.nan))


def _fit_traces() -> int:
    """Fit programs traced so far, networks and GPs (a round that traced one compiled)."""
    return TRACE_COUNTS["fit"] + gaussian_process.TRACE_COUNTS["fit"]


def run_loop(key: jax.Array, problem: Problem, learner: Learner, strategy: Strategy,
             oracle: Oracle | AsyncOracle, config: LoopConfig, *, store: SeedStore | None = None,
             on_round: Callable[[dict[str, float]], None] | None = None, resume: bool = False) -> RunResult:
    """Run active learning until the budget, the cost budget, a stopping rule or the source runs dry.

    Args:
      key: the run's root key.
      problem, learner, strategy, oracle: the parts.
      config: budget, seed set, batch size, stopping rules.
      store: where to log queries, answers, metrics and checkpoints (None: memory only).
      on_round: called with each round's metrics row (progress bars).
      resume: continue the run `store` holds: restore its last checkpoint (if any), then replay
        the answers logged after it — each re-selected query is checked against the logged
        one, and a query with a logged answer is never put to the oracle again.

    Raises:
      ResumeMismatch: on resume, a re-selected query differs from the logged one.
    """
    if learner.feature_shape != problem.feature_shape:
        raise ValueError(f"learner feature shape {learner.feature_shape} does not match problem "
                         f"{problem.name!r} ({problem.feature_shape})")
    if learner.num_classes != problem.num_classes:
        raise ValueError(f"learner has {learner.num_classes} classes; problem {problem.name!r} has {problem.num_classes}")
    buffer = LabeledBuffer.empty(problem.feature_shape)
    available = None if problem.pool is None else np.ones(len(problem.pool), dtype=bool)
    strategy_state = strategy.init(problem)
    answers: list[Answer] = []
    history: list[dict[str, float]] = []
    spent = {"queries": 0, "cost": 0.0, "abstained": 0, "failed": 0}
    key_data = np.asarray(jax.random.key_data(key))
    replay_queries: dict[str, dict] = {}
    replay_answers: dict[str, Answer] = {}

    def label(round_index: int, queries: Queries) -> None:
        fresh = []
        for i, qid in enumerate(queries.query_id):
            logged = replay_queries.pop(qid, None)
            if logged is None:
                fresh.append(i)
                continue
            again = np.asarray(queries.x[i], np.float32)
            if logged.get("round") != round_index or not np.array_equal(
                    np.asarray(logged["x"], np.float32).reshape(again.shape), again):
                raise ResumeMismatch(f"resume: query {qid} of round {round_index} was selected again differently "
                                     f"from the logged one (logged in round {logged.get('round')}); the code, the "
                                     "config or the environment changed since the run was interrupted")
        if store is not None and fresh:
            for i in fresh:
                store.append({"kind": "query", "round": round_index, **queries.record(i)})
            store.sync()

        def log(answer: Answer | Retract) -> None:
            if store is not None:
                kind = "retract" if isinstance(answer, Retract) else "answer"
                store.append({"kind": kind, "round": round_index, **answer.record()})
                store.sync()  # each answer on disk as it arrives (a person's labels must survive a crash)

        logged_answers = {q: replay_answers.pop(q) for q in queries.query_id if q in replay_answers}
        unanswered = [i for i, q in enumerate(queries.query_id) if q not in logged_answers]
        got_new = ask(oracle, queries.take(unanswered), problem.classes, on_answer=log) if unanswered else []
        by_id = {**logged_answers, **{a.query_id: a for a in got_new}}
        got = [by_id[q] for q in queries.query_id]
        if store is not None:
            store.sync()  # every answer is on disk before any is used
        if available is not None and queries.pool_index is not None:
            available[queries.pool_index] = False
        ok = [i for i, a in enumerate(got) if a.status is Status.OK]
        if ok:
            values = [got[i].value for i in ok]
            buffer.add(queries.x[ok], np.asarray([problem.class_index(got[i].label) for i in ok]), round_index,
                       np.asarray([np.nan if v is None else float(v) for v in values], np.float32))
        spent["queries"] += len(got)
        spent["cost"] += sum(a.cost for a in got)
        spent["abstained"] += sum(a.status is Status.ABSTAIN for a in got)
        spent["failed"] += sum(a.status is Status.FAILED for a in got)
        answers.extend(got)

    def fit(round_index: int, state: TrainState | None) -> tuple[TrainState, float, bool]:
        k_fit = jax.random.split(jax.random.fold_in(key, round_index))[0]
        before = _fit_traces()
        t0 = time.perf_counter()
        if buffer.size == 0:
            new_state = state if state is not None else learner.init(k_fit)
        else:
            new_state = learner.fit(k_fit, state, recent(buffer, config.window))
        jax.block_until_ready(new_state)
        return new_state, time.perf_counter() - t0, _fit_traces() > before

    def progress() -> float:
        if problem.stream is None or not hasattr(strategy_state, "position"):
            return 1.0
        return strategy_state.position / max(len(problem.stream), 1)

    # ---- resume: the last checkpoint, then the answers logged after it -------------------------
    restored = False
    if resume:
        if store is None:
            raise ValueError("run_loop(resume=True) needs the store of the run to resume")
        log = read_label_log(store.path / "labels.jsonl")
        snapshot = _restore(store, log, learner, strategy_state, key_data)
        done_round = -1
        if snapshot is not None:
            (state, buffer, available, strategy_state, history, spent, answers, round_index, acquisition,
             labels_to_target, low_acquisition_rounds) = snapshot
            done_round, restored = round_index, True
            select_s = label_s = train_s = 0.0
            compiled = False
            store.rewrite_metrics(history)
        for rec in log:
            if rec.get("round", -1) > done_round:
                if rec["kind"] == "query":
                    replay_queries[rec["query_id"]] = rec
                elif rec["kind"] == "answer":
                    replay_answers[rec["query_id"]] = Answer.from_record(rec)
                elif rec["kind"] == "retract":
                    replay_answers.pop(rec["query_id"], None)
    stop_reason = "budget"
    if not restored:
        # ---- round 0: the seed set -------------------------------------------------------------
        t0 = time.perf_counter()
        seed = seed_queries(jax.random.fold_in(key, 0), problem, config.seed_size, config.seed_strategy == "stratified")
        select_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        label(0, seed)
        label_s = time.perf_counter() - t0
        state, train_s, compiled = fit(0, None)
        acquisition = float("nan")
        round_index = 0
        labels_to_target = None
        low_acquisition_rounds = 0
    while True:
        if restored:  # this round was evaluated, logged and checkpointed before the interruption
            restored = False
            metrics = {"accuracy": history[-1]["accuracy"]}
        else:
            metrics = problem.evaluator.evaluate(lambda x: learner.predict_proba(state.params, x), progress())
            row = {"round": round_index, "queries": spent["queries"], "labels": buffer.size,
                   "abstained": spent["abstained"], "failed": spent["failed"], "cost": spent["cost"], **metrics,
                   "acquisition": acquisition, "select_s": select_s, "label_s": label_s, "train_s": train_s,
                   "compiled": int(compiled)}
            if problem.stream is not None and hasattr(strategy_state, "position"):
                row["stream_position"] = strategy_state.position
            history.append(row)
            if store is not None:
                store.write_metrics(row)
                if config.checkpoint_every and round_index % config.checkpoint_every == 0:
                    _checkpoint(store, round_index, state, buffer, available, strategy_state, history, spent,
                                len(answers), acquisition, labels_to_target, low_acquisition_rounds, key_data)
            if on_round is not None:
                on_round(row)
        target = config.target_accuracy
        if target is not None and labels_to_target is None and metrics["accuracy"] >= target:
            labels_to_target = spent["queries"]
        # ---- stopping rules ----
        remaining = config.budget - spent["queries"]
        if target is not None and config.stop_at_target and labels_to_target is not None:
            stop_reason = "target accuracy reached"
            break
        if remaining <= 0:
            stop_reason = "budget"
            break
        if config.cost_budget is not None and spent["cost"] >= config.cost_budget:
            stop_reason = "cost budget"
            break
        if config.min_acquisition is not None and round_index > 0:
            low_acquisition_rounds = low_acquisition_rounds + 1 if acquisition < config.min_acquisition else 0
            if low_acquisition_rounds >= config.patience:
                stop_reason = "acquisition plateau"
                break
        # ---- next round ----
        round_index += 1
        k_select = jax.random.split(jax.random.fold_in(key, round_index))[1]
        ctx = RoundContext(round_index=round_index, learner=learner, params=state.params, problem=problem,
                           available=available, buffer=buffer)
        t0 = time.perf_counter()
        queries, strategy_state = strategy.select(k_select, ctx, min(config.batch_size, remaining), strategy_state)
        select_s = time.perf_counter() - t0
        if len(queries) == 0:
            stop_reason = "source exhausted"
            break
        if len(queries) > min(config.batch_size, remaining):
            raise RuntimeError(f"strategy {strategy.name!r} returned {len(queries)} queries; "
                               f"at most {min(config.batch_size, remaining)} were asked for")
        finite = queries.scores[np.isfinite(queries.scores)]
        acquisition = float(finite.max()) if finite.size else float("nan")
        if hasattr(oracle, "set_model"):  # a person may be shown the current model's guess
            params = state.params
            oracle.set_model(lambda x: learner.predict_proba(params, x))
        t0 = time.perf_counter()
        label(round_index, queries)
        label_s = time.perf_counter() - t0
        state, train_s, compiled = fit(round_index, state)
    if store is not None:
        _checkpoint(store, round_index, state, buffer, available, strategy_state, history, spent, len(answers),
                    acquisition, labels_to_target, low_acquisition_rounds, key_data, finished=stop_reason)
        store.sync()
    if replay_queries or replay_answers:
        left = sorted(set(replay_queries) | set(replay_answers))
        raise ResumeMismatch(f"resume: the run ended without selecting logged queries {left[:5]}"
                             f"{' …' if len(left) > 5 else ''}; the code, the config or the environment changed")
    return RunResult(history=history, state=state, buffer=buffer, answers=answers, strategy_state=strategy_state,
                     stop_reason=stop_reason, labels_to_target=labels_to_target)


class ResumeMismatch(RuntimeError):
    """On resume, the loop selected a query other than the one the log holds for that place."""


def _checkpoint(store: SeedStore, round_index: int, state: TrainState, buffer: LabeledBuffer,
                available: np.ndarray | None, strategy_state: Any, history: list[dict[str, float]],
                spent: dict[str, float], n_answers: int, acquisition: float, labels_to_target: int | None,
                low_acquisition_rounds: int, key_data: np.ndarray, finished: str | None = None) -> None:
    """Everything the loop needs to go on from the end of `round_index`, in one atomic file.

    (Round r's keys are `fold_in(root key, r)`: the root key data is all the PRNG state there is.)"""
    leaves = jax.tree.leaves(state)
    arrays = {f"state_{i:04d}": np.asarray(leaf) for i, leaf in enumerate(leaves)}
    arrays.update(buffer_x=buffer.x, buffer_y=buffer.y, buffer_round=buffer.round_added,
                  buffer_value=buffer.value, key=np.asarray(key_data))
    if available is not None:
        arrays["available"] = available
    meta = {"round": round_index, "labels": buffer.size, "buffer_size": buffer.size, "state_leaves": len(leaves),
            "strategy_state": _state_record(strategy_state), "history": history, "spent": spent,
            "answers": n_answers, "acquisition": acquisition, "labels_to_target": labels_to_target,
            "low_acquisition_rounds": low_acquisition_rounds, "finished": finished}
    store.save_checkpoint(arrays, json.loads(json.dumps(meta, default=_json_default)))


def _json_default(v: Any) -> Any:
    if isinstance(v, (np.floating, np.integer, np.bool_)):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"cannot checkpoint {type(v).__name__}")


def _state_record(strategy_state: Any) -> dict[str, Any] | None:
    if strategy_state is None:
        return None
    if not dataclasses.is_dataclass(strategy_state):
        raise TypeError(f"strategy state {type(strategy_state).__name__} is not a dataclass; it cannot be checkpointed")
    return {"type": type(strategy_state).__qualname__, "fields": dataclasses.asdict(strategy_state)}


def _restore(store: SeedStore, log: list[dict[str, Any]], learner: Learner, initial_strategy_state: Any,
             key_data: np.ndarray) -> tuple | None:
    """The loop's variables at the end of the checkpointed round, or None without a checkpoint.

    `log`: the run's label-log records (the answers up to that round are rebuilt from them)."""
    try:
        arrays, meta = load_checkpoint(store.path / "checkpoint")
    except FileNotFoundError:
        return None
    if "key" in arrays and not np.array_equal(arrays["key"], key_data):
        raise ResumeMismatch(f"{store.path}/checkpoint was written by a run with another root key (seed); "
                             "resume it with the seed it was started with")
    state = _learner_state(learner, arrays, store.path / "checkpoint")
    size = int(meta["buffer_size"])
    value = arrays["buffer_value"].copy() if "buffer_value" in arrays else None  # older checkpoints have none
    buffer = LabeledBuffer(arrays["buffer_x"].copy(), arrays["buffer_y"].copy(), arrays["buffer_round"].copy(), size,
                           value)
    available = arrays["available"].copy() if "available" in arrays else None
    record = meta["strategy_state"]
    strategy_state = initial_strategy_state
    if record is not None:
        if type(initial_strategy_state).__qualname__ != record["type"]:
            raise CheckpointError(f"{store.path}/checkpoint holds a {record['type']} strategy state; this strategy "
                                  f"starts from {type(initial_strategy_state).__qualname__}")
        strategy_state = type(initial_strategy_state)(**record["fields"])
    round_index = int(meta["round"])
    answers: list[Answer] = []
    for r in log:
        if r.get("round", -1) > round_index:
            continue
        if r["kind"] == "answer":
            answers.append(Answer.from_record(r))
        elif r["kind"] == "retract":  # the answer it takes back is the last one for that query
            last = max(i for i, a in enumerate(answers) if a.query_id == r["query_id"])
            answers.pop(last)
    if len(answers) != meta["answers"]:
        raise CheckpointError(f"{store.path}: the checkpoint of round {round_index} counts {meta['answers']} answers "
                              f"but the label log holds {len(answers)} up to that round")
    acquisition = float("nan") if meta["acquisition"] is None else float(meta["acquisition"])
    history = [{k: (float("nan") if v is None else v) for k, v in row.items()} for row in meta["history"]]
    return (state, buffer, available, strategy_state, history, meta["spent"], answers, round_index, acquisition,
            meta["labels_to_target"], int(meta["low_acquisition_rounds"]))


def _learner_state(learner: Learner, arrays: dict[str, np.ndarray], where: Any) -> TrainState:
    """The `TrainState` whose leaves a checkpoint holds as `state_0000`, `state_0001`, ..."""
    treedef = jax.tree.structure(learner.init(jax.random.key(0)))
    names = sorted(k for k in arrays if k.startswith("state_"))
    if len(names) != treedef.num_leaves:
        raise CheckpointError(f"{where} holds {len(names)} learner arrays; this learner has {treedef.num_leaves} "
                              "(was the run made with another learner config?)")
    return jax.tree.unflatten(treedef, [jax.numpy.asarray(arrays[n]) for n in names])


def load_params(learner: Learner, checkpoint: str) -> dict[str, Any]:
    """The learner parameters saved in a checkpoint folder (its `state.npz`)."""
    arrays, _ = load_checkpoint(checkpoint)
    return _learner_state(learner, arrays, checkpoint).params
