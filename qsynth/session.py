"""An ask/tell active-learning session: the learner never calls the oracle.

    session = Session(problem, learner, strategy, key=jax.random.key(0))
    queries = session.ask()              # round 0: the seed set; later rounds: the strategy's picks
    session.tell(my_simulator(queries))  # answers in any order, for any subset, OK / ABSTAIN / FAILED
    session.fit()                        # retrain on every OK answer; evaluates; checkpoints

Whoever holds the session decides when to ask, tell and fit: a notebook, a scheduler, a
simulator farm, or `run_loop` (the runner with oracles, budgets and stop rules). With a
`store`, every query and every answer is on disk before it is used, each fit writes a
checkpoint, and `Session.restore` brings a killed session back with nothing lost.

Keys: round r's selection uses `split(fold_in(key, r))[1]` and the fit after it
`split(fold_in(key, r))[0]` (the seed set uses `fold_in(key, 0)`), so a round's randomness
does not depend on how earlier rounds went, and a resumed session needs no replayed draws.

References:
  python-adaptive (Nijholt et al. 2019): learners with ask/tell, runners that own the function.
  Trieste's AskTellOptimizer (Picheny et al. 2023).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import jax
import numpy as np

from qsynth import _compiles
from qsynth.data.buffer import LabeledBuffer
from qsynth.learners.base import Learner, LearnerState
from qsynth.problem import Problem
from qsynth.records import Answer, AskedQuery, Flag, Queries, Retract, Status, validate_answer
from qsynth.session_state import ResumeMismatch, SessionState, read_checkpoint, write_checkpoint
from qsynth.store import SeedStore, read_label_log
from qsynth.loop_config import SessionConfig
from qsynth.strategies.answerability import AnswerLog
from qsynth.strategies.base import RoundContext, Strategy, StreamPositioned
from qsynth.strategies.measures import check_committee, has_posterior_committee

__all__ = ["ResumeMismatch", "Session", "SessionConfig", "concat_queries", "recent", "seed_queries"]


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


class Session:
    """One learner, one strategy, one problem: ask for queries, tell answers, fit.

    Args:
      problem, learner, strategy: the parts (any objects satisfying their protocols).
      key: the session's root PRNG key.
      store: where to log queries, answers, metrics and checkpoints (None: memory only).
      config: seed set, batch size, checkpoints, window.
      resume: continue the session `store` holds: restore its last checkpoint; the queries and
        answers logged after it are served again (re-selected queries are checked against the
        log, logged answers are not logged twice). `Session.restore` also replays them at once.

    Raises:
      ValueError: the learner does not fit the problem.
    """

    def __init__(self, problem: Problem, learner: Learner, strategy: Strategy, *, key: jax.Array,
                 store: SeedStore | None = None, config: SessionConfig = SessionConfig(), resume: bool = False):
        if tuple(learner.feature_shape) != problem.feature_shape:
            raise ValueError(f"learner feature shape {learner.feature_shape} does not match problem "
                             f"{problem.name!r} ({problem.feature_shape})")
        if learner.num_classes != problem.num_classes:
            raise ValueError(f"learner has {learner.num_classes} classes; problem {problem.name!r} has "
                             f"{problem.num_classes}")
        if config.failures == "class" and problem.failure_label is None:
            raise ValueError(f"failures = 'class' learns failed calls as a class of their own; problem {problem.name!r} "
                             "has none (build it with problem.with_failure_class(), and the learner with one more "
                             "class)")
        check_committee(getattr(strategy, "measure", None), int(getattr(learner, "members", 2)),
                        str(getattr(strategy, "name", type(strategy).__name__)), f"the learner ({type(learner).__name__})",
                        posterior=has_posterior_committee(learner))
        self.problem, self.learner, self.strategy, self.key = problem, learner, strategy, key
        self.store, self.config = store, config
        self._key_data = np.asarray(jax.random.key_data(key))
        self._replay_queries: dict[str, dict[str, Any]] = {}
        self._replay_answers: dict[str, list[Answer]] = {}  # per query, its logged answers not yet told again
        self._replay_retracts: dict[int, list[str]] = {}  # per round, the told answers a logged retract took back
        self._logged: set[str] = set()  # answers on disk that are not yet told
        self._told: dict[str, tuple[int, Queries]] = {}  # the query of each answer told in this process
        self._queries: dict[str, AskedQuery] = {}  # every query of the session, in the order asked
        self.resumed_from: str | None = None  # on resume, what was restored and what the log replays after it
        self._after_checkpoint: list[dict[str, Any]] = []
        self._timing = {"select_s": 0.0, "label_s": 0.0, "asked_at": time.perf_counter()}
        self.state = self._fresh_state()
        self.restored = False
        if resume:
            self._resume()

    # ---- reading the session -----------------------------------------------------------------
    @property
    def round(self) -> int:
        """The round of the last ask (−1 before the first; 0 is the seed set)."""
        return self.state.round

    @property
    def pending(self) -> Queries:
        """The queries asked and not yet answered, oldest first."""
        rows = [q for _, q in self.state.pending.values()]
        if not rows:
            return Queries((), np.zeros((0, *self.problem.feature_shape), np.float32), np.zeros(0))
        return concat_queries(rows)

    @property
    def history(self) -> list[dict[str, float]]:
        """One metrics row per fit (the rows of `metrics.csv`)."""
        return self.state.history

    @property
    def answers(self) -> list[Answer]:
        """Every answer told, in order."""
        return self.state.answers

    def queries(self) -> list[AskedQuery]:
        """Every query asked so far, in order, each with its point, acquisition and answer (None
        while it is unanswered or after its answer was taken back) — on a resumed session too."""
        answers = {a.query_id: a for a in self.state.answers}
        return [dataclasses.replace(q, answer=answers.get(q.query_id)) for q in self._queries.values()]

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """The current learner's committee-mean class probabilities `[n, classes]`."""
        return self.learner.predict_proba(self.learner_state.params, np.asarray(x, np.float32))

    @property
    def learner_state(self) -> LearnerState:
        """The learner's state after the last fit (raises before the first)."""
        if self.state.learner_state is None:
            raise RuntimeError("Session: the learner has not been fitted yet; call fit() first")
        return self.state.learner_state

    def logged_answer(self, query_id: str) -> Answer | None:
        """On resume, the answer the log already holds for `query_id` (the oracle need not be asked)."""
        queue = self._replay_answers.get(query_id)
        return queue[0] if queue else None

    def _consume_replayed(self, query_id: str) -> bool:
        """Whether the log already holds the answer now given for `query_id` (then it is not logged again)."""
        queue = self._replay_answers.get(query_id)
        if not queue:
            return False
        queue.pop(0)
        if not queue:
            del self._replay_answers[query_id]
        return True

    def replayed_retractions(self) -> list[str]:
        """On resume, the told answers that logged retractions took back in the current round, taken
        back again now (once each, in log order): their queries are pending again, and their new
        answers, if the log holds them, are `logged_answer`s. A runner calls this once per round,
        after its ask."""
        qids = self._replay_retracts.pop(self.state.round, [])
        for qid in qids:
            self._take_back(qid)
        return qids

    # ---- ask ---------------------------------------------------------------------------------
    def ask(self, n: int | None = None) -> Queries:
        """Start the next round: up to `n` new queries (default: the seed size in round 0, else
        the batch size). Round 0 draws the seed set (pool points, or uniform in the bounds);
        later rounds ask the strategy, which sees the learner as of the last `fit`. Returns
        fewer queries, or none, when the source runs dry."""
        r = self.state.round + 1
        n = (self.config.seed_size if r == 0 else self.config.batch_size) if n is None else int(n)
        if n < 1:
            raise ValueError(f"Session.ask: n must be >= 1, got {n}")
        t0 = time.perf_counter()
        if r == 0:
            queries = seed_queries(jax.random.fold_in(self.key, 0), self.problem, n,
                                   self.config.seed_strategy == "stratified")
        else:
            queries = self._select(r, n)
        self._timing.update(select_s=time.perf_counter() - t0, label_s=0.0, asked_at=time.perf_counter())
        self.state.round = r
        self._log_queries(r, queries)
        for i, qid in enumerate(queries.query_id):
            self.state.pending[qid] = (r, queries.take([i]))
        if self.state.available is not None:
            self.state.available[queries.pool_rows] = False
        finite = queries.scores[np.isfinite(queries.scores)]
        self.state.acquisition = float(finite.max()) if finite.size and r > 0 else float("nan")
        return queries

    def _select(self, r: int, n: int) -> Queries:
        if self.state.learner_state is None:
            raise RuntimeError("Session.ask: the strategy needs a fitted learner; call fit() after telling the "
                               "seed set's answers")
        k_select = jax.random.split(jax.random.fold_in(self.key, r))[1]
        ctx = RoundContext(round_index=r, learner=self.learner, params=self.state.learner_state.params,
                           problem=self.problem, available=self.state.available, buffer=self.state.buffer,
                           answers=self.state.outcomes)
        queries, self.state.strategy_state = self.strategy.select(k_select, ctx, n, self.state.strategy_state)
        if len(queries) > n:
            raise RuntimeError(f"strategy {self.strategy.name!r} returned {len(queries)} queries; at most {n} "
                               "were asked for")
        return queries

    def _log_queries(self, r: int, queries: Queries) -> None:
        """Log the new queries (on resume, check re-selected ones against the log instead)."""
        fresh = []
        for i, qid in enumerate(queries.query_id):
            if qid not in self._queries:
                self._queries[qid] = AskedQuery.from_queries(r, queries.take([i]))
            logged = self._replay_queries.pop(qid, None)
            if logged is None:
                fresh.append(i)
                continue
            again = np.asarray(queries.x[i], np.float32)
            if logged.get("round") != r or not np.array_equal(
                    np.asarray(logged["x"], np.float32).reshape(again.shape), again):
                raise ResumeMismatch(f"resume: query {qid} of round {r} was selected again differently from the "
                                     f"logged one (logged in round {logged.get('round')}); the code, the config or "
                                     "the environment changed since the run was interrupted")
        if self.store is not None and fresh:
            for i in fresh:
                self.store.append({"kind": "query", "round": r, **queries.record(i)})
            self.state.log_records += len(fresh)
            self.store.sync()

    # ---- tell --------------------------------------------------------------------------------
    def record(self, answer: Answer | Retract) -> None:
        """Write one answer (or a retraction of one not yet told) to the log as it arrives, before
        it is told: what a runner calls while an oracle is still answering the rest."""
        qid = answer.query_id
        if qid not in self.state.pending:
            raise ValueError(f"Session.record: query {qid!r} is not pending (never asked, or already answered)")
        if isinstance(answer, Retract):
            self._logged.discard(qid)
            self._append("retract", answer.record())
            return
        if not self._consume_replayed(qid):
            self._append("answer", answer.record())
        self._logged.add(qid)

    def tell(self, answers: list[Answer] | Answer) -> None:
        """Give answers to pending queries, in any order and for any subset of them.

        Each is validated (a label outside the class set, a bad value or cost becomes a FAILED
        answer with the reason), logged and synced unless `record` already logged it, and then
        used: OK answers join the labeled set; every answer counts against what was spent.

        Raises:
          ValueError: an answer is for a query that is not pending, or two are for the same query.
        """
        answers = [answers] if isinstance(answers, Answer) else list(answers)
        ids = [a.query_id for a in answers]
        unknown = [q for q in ids if q not in self.state.pending]
        if unknown or len(set(ids)) != len(ids):
            raise ValueError(f"Session.tell: answers for queries that are not pending {unknown[:5]}"
                             if unknown else f"Session.tell: two answers for one query in {ids}")
        answers = [validate_answer(a, a.query_id, self.problem.classes) for a in answers]
        for a in answers:
            if a.query_id not in self._logged and not self._consume_replayed(a.query_id):
                self._append("answer", a.record(), sync=False)
            self._logged.discard(a.query_id)
        if self.store is not None:
            self.store.sync()  # every answer is on disk before any is used
        self._apply(answers)
        self._timing["label_s"] = time.perf_counter() - self._timing["asked_at"]

    def _apply(self, answers: list[Answer]) -> None:
        st = self.state
        asked = [st.pending.pop(a.query_id) for a in answers]
        ok = [i for i, a in enumerate(answers) if self._learned(a)]
        start = 0
        while start < len(ok):  # runs of answers to queries of one round, in the order told
            end = start + 1
            while end < len(ok) and asked[ok[end]][0] == asked[ok[start]][0]:
                end += 1
            run = ok[start:end]
            values = [answers[i].value for i in run]
            st.buffer.add(np.concatenate([asked[i][1].x for i in run]),
                          np.asarray([self.problem.class_index(self._label(answers[i])) for i in run]),
                          asked[run[0]][0],
                          np.asarray([np.nan if v is None else float(v) for v in values], np.float32))
            start = end
        for a, q in zip(answers, asked):
            self._told[a.query_id] = q
            self._model_outcome(a, q[1])
        _count(st.spent, answers, +1)
        st.answers.extend(answers)

    def _learned(self, answer: Answer) -> bool:
        """Whether the learner learns from `answer`: an OK one, and a FAILED one under failures = "class"."""
        return answer.status is Status.OK or (answer.status is Status.FAILED and self.config.failures == "class")

    def _label(self, answer: Answer) -> int:
        """The label the learner learns for a learned answer (the failure class for a FAILED one)."""
        if answer.status is Status.OK:
            return int(answer.label)  # type: ignore[arg-type]
        return int(self.problem.failure_label)  # type: ignore[arg-type]

    def _modelled(self, answer: Answer) -> bool:
        """Whether `answer` is answerability data: every answer but a FAILED one under failures =
        "ignore" (dropped) or "class" (learned as a class instead)."""
        return answer.status is not Status.FAILED or self.config.failures == "avoid"

    def _model_outcome(self, answer: Answer, query: Queries) -> None:
        """Add an answer's outcome to the answerability data (when it is modelled)."""
        if not self._modelled(answer):
            return
        self._outcomes().add(answer.query_id, query.x[0], None if query.z is None else query.z[0],
                             answer.status is Status.OK, answer.cost)

    def _outcomes(self) -> AnswerLog:
        if self.state.outcomes is None:  # (set by every constructor and restore)
            raise RuntimeError("Session: the answerability data is missing")
        return self.state.outcomes

    def retract(self, query_id: str, reason: str = "undo") -> None:
        """Take back the answer to `query_id` (a mistyped label): the query is pending again, the
        next `fit` learns without it, and the retraction is logged (a resume replays it)."""
        if not any(a.query_id == query_id for a in self.state.answers):
            if query_id in self._logged:  # on disk, not yet told
                self.record(Retract(query_id, reason))
                return
            raise ValueError(f"Session.retract: query {query_id!r} has no answer to take back")
        self._take_back(query_id)
        self._append("retract", Retract(query_id, reason, told=True).record())

    def flag(self, query_id: str, note: str = "") -> None:
        """Log a person's "come back to this" for `query_id` (it changes nothing that is learned)."""
        if query_id not in self._queries:
            raise ValueError(f"Session.flag: query {query_id!r} was never asked")
        self._append("flag", Flag(query_id, note).record())

    def _take_back(self, query_id: str) -> None:
        st = self.state
        i = max(i for i, a in enumerate(st.answers) if a.query_id == query_id)
        answer = st.answers.pop(i)
        if self._learned(answer):
            st.buffer.remove(sum(self._learned(a) for a in st.answers[:i]))
        _count(st.spent, [answer], -1)
        self._outcomes().remove(query_id)
        if query_id in self._told:
            st.pending[query_id] = self._told.pop(query_id)
        else:  # told before a restore: the query as the label log recorded it
            asked = self._queries[query_id]
            st.pending[query_id] = (asked.round, asked.as_queries())

    def _append(self, kind: str, record: dict[str, Any], sync: bool = True) -> None:
        if self.store is not None:
            self.store.append({"kind": kind, "round": self.state.round, **record})
            self.state.log_records += 1
            if sync:
                self.store.sync()  # each answer on disk as it arrives (a person's labels must survive a crash)

    # ---- fit ---------------------------------------------------------------------------------
    def fit(self) -> dict[str, float]:
        """Retrain on every OK answer told so far, evaluate, append the round's metrics row (and
        write it and, every `checkpoint_every` fits, a checkpoint to the store). Returns the row."""
        st = self.state
        k_fit = jax.random.split(jax.random.fold_in(self.key, max(st.round, 0)))[0]
        before = _compiles.traces()
        t0 = time.perf_counter()
        if st.buffer.size == 0:
            st.learner_state = st.learner_state if st.learner_state is not None else self.learner.init(k_fit)
        else:
            st.learner_state = self.learner.fit(k_fit, st.learner_state, recent(st.buffer, self.config.window))
        jax.block_until_ready(st.learner_state)
        train_s = time.perf_counter() - t0
        st.fitted_round = st.round
        row = self._row(train_s, _compiles.traces() > before)
        st.history.append(row)
        if self.store is not None:
            self.store.write_metrics(row)
            every = self.config.checkpoint_every
            if every and st.round % every == 0:
                write_checkpoint(self.store, st, self._key_data)
        return row

    def _row(self, train_s: float, compiled: bool) -> dict[str, float]:
        st = self.state
        stream = self.problem.stream
        position = self.strategy.stream_position(st.strategy_state) if isinstance(
            self.strategy, StreamPositioned) and stream is not None else None
        progress = 1.0 if position is None or stream is None else position / max(len(stream), 1)
        params = self.learner_state.params
        metrics = self.problem.evaluator.evaluate(lambda x: self.learner.predict_proba(params, x), progress)
        before = st.history[-1] if st.history else {"queries": 0, "abstained": 0, "failed": 0}
        asked = st.spent["queries"] - before["queries"]  # this round's answers (since the last fit)
        row = {"round": st.round, "queries": st.spent["queries"], "labels": st.buffer.size,
               "abstained": st.spent["abstained"], "failed": st.spent["failed"], "cost": st.spent["cost"],
               "round_abstained": (st.spent["abstained"] - before["abstained"]) / asked if asked > 0 else 0.0,
               "round_failed": (st.spent["failed"] - before["failed"]) / asked if asked > 0 else 0.0,
               **metrics, "acquisition": st.acquisition, "select_s": self._timing["select_s"],
               "label_s": self._timing["label_s"], "train_s": train_s, "compiled": int(compiled)}
        if position is not None:
            row["stream_position"] = position
        return row

    # ---- save, restore, close ------------------------------------------------------------------
    def save(self, finished: str | None = None) -> None:
        """Write a checkpoint now (`finished`: why the session ended, for a runner's resume)."""
        if self.store is None:
            raise ValueError("Session.save needs a store")
        write_checkpoint(self.store, self.state, self._key_data, finished=finished)
        self.store.sync()

    def close(self, reason: str) -> None:
        """End the session: a final checkpoint that says why; then refuse a resume whose log holds
        queries or answers this session never reached."""
        if self.store is not None:
            self.save(finished=reason)
        left = sorted(set(self._replay_queries) | set(self._replay_answers) | {
            q for qids in self._replay_retracts.values() for q in qids})
        if left:
            raise ResumeMismatch(f"resume: the run ended without selecting logged queries {left[:5]}"
                                 f"{' …' if len(left) > 5 else ''}; the code, the config or the environment changed")

    @classmethod
    def restore(cls, problem: Problem, learner: Learner, strategy: Strategy, *, key: jax.Array, store: SeedStore,
                config: SessionConfig = SessionConfig()) -> Session:
        """The session `store` holds, as it stood when it was last written to: its last checkpoint,
        then every ask, answer and retraction logged after it, replayed (asks are re-selected
        and checked against the log; nothing is logged twice). Pending queries stay pending."""
        session = cls(problem, learner, strategy, key=key, store=store, config=config, resume=True)
        session._replay_log()
        return session

    def _resume(self) -> None:
        if self.store is None:
            raise ValueError("Session(resume=True) needs the store of the session to resume")
        log = read_label_log(self.store.path / "labels.jsonl")
        restored = read_checkpoint(self.store.path / "checkpoint", self.learner, self.state.strategy_state,
                                   self._key_data, log, self.problem.feature_shape, self.store.identity)
        if restored is not None:
            self.state, self.restored = restored, True
            self.store.rewrite_metrics(self.state.history)
        if restored is not None and restored.outcomes is None:  # a checkpoint from before answerability
            self.state.outcomes = self._outcomes_from(log)
        self._after_checkpoint = log[self.state.log_records:]
        answers = sum(r["kind"] == "answer" for r in self._after_checkpoint)
        where = (f"the checkpoint of round {self.state.round} ({len(self.state.answers)} answers)" if self.restored
                 else "no checkpoint (the label log alone)")
        self.resumed_from = None if not log else (
            f"resumed from {where}; {answers} logged answer{'s' * (answers != 1)} after it replayed without asking again")
        self.state.log_records = len(log)
        self._queries = {rec["query_id"]: AskedQuery.from_record(rec, self.problem.feature_shape)
                       for rec in log if rec["kind"] == "query"}
        for rec in self._after_checkpoint:
            if rec["kind"] == "query":
                self._replay_queries[rec["query_id"]] = rec
            elif rec["kind"] == "answer":
                self._replay_answers.setdefault(rec["query_id"], []).append(Answer.from_record(rec))
            elif rec["kind"] == "retract" and rec.get("told"):  # learned from, then taken back: again in that round
                self._replay_retracts.setdefault(int(rec["round"]), []).append(rec["query_id"])
            elif rec["kind"] == "retract":  # logged, never told: as if it had not been given
                queue = self._replay_answers.get(rec["query_id"])
                if queue:
                    queue.pop()
                    if not queue:
                        del self._replay_answers[rec["query_id"]]

    def _outcomes_from(self, log: list[dict[str, Any]]) -> AnswerLog:
        """The answerability data of the answers a checkpoint covers, rebuilt from the label log."""
        outcomes = AnswerLog.empty(int(np.prod(self.problem.feature_shape)))
        asked = {rec["query_id"]: rec for rec in log[:self.state.log_records] if rec["kind"] == "query"}
        for answer in filter(self._modelled, self.state.answers):
            rec = asked[answer.query_id]
            outcomes.add(answer.query_id, np.asarray(rec["x"], np.float32),
                         None if "z" not in rec else np.asarray(rec["z"], np.float32), answer.status is Status.OK,
                         answer.cost)
        return outcomes

    def _replay_log(self) -> None:
        """Re-execute what the log holds after the checkpoint: asks, tells and retractions in order."""
        records = self._after_checkpoint
        self._replay_answers, self._replay_retracts = {}, {}  # told below in log order, each once
        for i, rec in enumerate(records):
            if rec["kind"] == "query" and rec["round"] > self.state.round:
                self.ask(sum(r["kind"] == "query" and r["round"] == rec["round"] for r in records[i:]))
            elif rec["kind"] == "answer":
                self._logged.add(rec["query_id"])
                self.tell(Answer.from_record(rec))
            elif rec["kind"] == "retract" and any(a.query_id == rec["query_id"] for a in self.state.answers):
                self._take_back(rec["query_id"])

    def _fresh_state(self) -> SessionState:
        problem = self.problem
        return SessionState(round=-1, learner_state=None, buffer=LabeledBuffer.empty(problem.feature_shape),
                            available=None if problem.pool is None else np.ones(len(problem.pool), dtype=bool),
                            strategy_state=self.strategy.init(problem),
                            outcomes=AnswerLog.empty(int(np.prod(problem.feature_shape))))


def _count(spent: dict[str, float], answers: list[Answer], sign: int) -> None:
    """Add (sign +1) or take back (−1) what `answers` spent: queries, cost, abstentions, failures."""
    spent["queries"] += sign * len(answers)
    spent["cost"] += sign * sum(a.cost for a in answers)
    spent["abstained"] += sign * sum(a.status is Status.ABSTAIN for a in answers)
    spent["failed"] += sign * sum(a.status is Status.FAILED for a in answers)


def concat_queries(rows: list[Queries]) -> Queries:
    """One batch of the given one-query batches, in order."""
    def cat(field: str) -> np.ndarray | None:
        parts = [getattr(q, field) for q in rows]
        return None if any(p is None for p in parts) else np.concatenate(parts)

    pool_index = np.asarray([-1 if q.pool_index is None else q.pool_index[0] for q in rows], np.int64)
    return Queries(tuple(q.query_id[0] for q in rows), np.concatenate([q.x for q in rows]),
                   np.concatenate([q.scores for q in rows]), pool_index=pool_index, z=cat("z"))
