"""The runner: an ask/tell session driven to a stop, with an oracle answering every query.

`run_loop` asks the session for queries, puts them to the oracle (every answer is logged as
it arrives, before any is used), tells the session the answers, fits, and applies the stop
rules — predicates over the session's state (`STOP_RULES`). The session (`qsynth.session`)
owns the state, the keys, the log and the checkpoints; this module owns the oracle, the
budget and when to stop. It knows no concrete strategy, learner or oracle: it talks to their
protocols. The budget counts every query asked — abstentions and failures included — and may
also be given in oracle cost units.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax

from qsynth.data.buffer import LabeledBuffer
from qsynth.learners.base import Learner, LearnerState
from qsynth.oracles.base import AsyncOracle, Oracle, ShowsModel, ask
from qsynth.problem import Problem
from qsynth.progress import Progress, make_progress
from qsynth.records import Answer, AskedQuery, Flag, Queries, Retract
from qsynth.loop_config import LoopConfig, SessionConfig
from qsynth.session import ResumeMismatch, Session, concat_queries, recent, seed_queries
from qsynth.session_state import load_learner_state
from qsynth.store import SeedStore, load_checkpoint
from qsynth.strategies.base import Strategy

__all__ = ["LoopConfig", "ResumeMismatch", "RunResult", "STOP_RULES", "SessionConfig", "load_params", "recent", "run_loop",
           "seed_queries", "stop_reason"]


@dataclasses.dataclass
class RunResult:
    """What a finished loop leaves in memory.

    history: one dict per round (the rows of metrics.csv). state: the final learner state.
    buffer: the labeled set. answers: every answer, in order. stop_reason: why it stopped.
    labels_to_target: queries used when test accuracy first reached the target (None if never).
    queries: every query asked, in order, with its point, acquisition and answer — abstained and
      failed ones too (`qsynth.records.AskedQuery`).
    resumed_from: on resume, what was restored and replayed (None for a fresh run).
    """

    history: list[dict[str, float]]
    state: LearnerState
    buffer: LabeledBuffer
    answers: list[Answer]
    strategy_state: Any
    stop_reason: str
    labels_to_target: int | None
    queries: list[AskedQuery] = dataclasses.field(default_factory=list)
    resumed_from: str | None = None


def _labels_to_target(history: list[dict[str, float]], target: float | None) -> int | None:
    """Queries used when test accuracy first reached `target` (None if never, or no target)."""
    if target is None:
        return None
    return next((int(row["queries"]) for row in history if row["accuracy"] >= target), None)


def _low_acquisition_rounds(history: list[dict[str, float]], floor: float) -> int:
    """How many of the latest rounds (after the seed set) in a row had a best acquisition below `floor`."""
    count = 0
    for row in reversed(history):
        if row["round"] <= 0 or not row["acquisition"] < floor:
            break
        count += 1
    return count


#: The stop rules, in the order they are checked: (reason, predicate over the session and the config).
STOP_RULES: tuple[tuple[str, Callable[[Session, LoopConfig], bool]], ...] = (
    ("target accuracy reached", lambda s, c: c.stop_at_target and _labels_to_target(s.history, c.target_accuracy)
     is not None),
    ("budget", lambda s, c: c.budget - s.state.spent["queries"] <= 0),
    ("cost budget", lambda s, c: c.cost_budget is not None and s.state.spent["cost"] >= c.cost_budget),
    ("acquisition plateau", lambda s, c: c.min_acquisition is not None and
     _low_acquisition_rounds(s.history, c.min_acquisition) >= c.patience),
)


def stop_reason(session: Session, config: LoopConfig) -> str | None:
    """Why the run should stop now (the first stop rule that holds), or None to go on."""
    return next((reason for reason, holds in STOP_RULES if holds(session, config)), None)


def run_loop(key: jax.Array, problem: Problem, learner: Learner, strategy: Strategy,
             oracle: Oracle | AsyncOracle, config: LoopConfig, *, store: SeedStore | None = None,
             on_round: Callable[[dict[str, float]], None] | None = None, resume: bool = False,
             progress: bool | Progress = False) -> RunResult:
    """Run active learning until the budget, the cost budget, a stopping rule or the source runs dry.

    Args:
      key: the run's root key.
      problem, learner, strategy, oracle: the parts.
      config: budget, seed set, batch size, stopping rules.
      store: where to log queries, answers, metrics and checkpoints (None: memory only).
      on_round: called with each round's metrics row.
      progress: True shows this run's progress (a live bar with the time left on a terminal, a
        line at the end elsewhere: `qsynth.progress`); or a `Progress` display to report to.
      resume: continue the run `store` holds: restore its last checkpoint (if any), then replay
        the answers logged after it — each re-selected query is checked against the logged
        one, and a query with a logged answer is never put to the oracle again.

    Raises:
      ResumeMismatch: on resume, a re-selected query differs from the logged one.
    """
    shown = make_progress(1, enabled=progress) if isinstance(progress, bool) else progress
    label = getattr(strategy, "name", type(strategy).__name__)
    shown.start(label, config.budget)

    def report(row: dict[str, float]) -> None:
        shown.round(row)
        if on_round is not None:
            on_round(row)

    try:
        result = _run(key, problem, learner, strategy, oracle, config, store, report, resume)
        if isinstance(progress, bool):
            shown.finish(label, result.history[-1], result.stop_reason)
    finally:
        if isinstance(progress, bool):
            shown.close()
    return result


def _run(key: jax.Array, problem: Problem, learner: Learner, strategy: Strategy, oracle: Oracle | AsyncOracle,
         config: LoopConfig, store: SeedStore | None, on_round: Callable[[dict[str, float]], None],
         resume: bool) -> RunResult:
    session = Session(problem, learner, strategy, key=key, store=store, config=config.session, resume=resume)
    if not session.restored:  # round 0: the seed set
        _round(session, oracle, session.ask(config.seed_size), on_round)
    while (reason := stop_reason(session, config)) is None:
        remaining = int(config.budget - session.state.spent["queries"])
        queries = session.ask(min(config.batch_size, remaining))
        if len(queries) == 0:
            reason = "source exhausted"
            break
        if isinstance(oracle, ShowsModel):  # a person may be shown the current model's guess
            params = session.learner_state.params
            oracle.set_model(lambda x: learner.predict_proba(params, x))
        _round(session, oracle, queries, on_round)
    session.close(reason)
    st = session.state
    return RunResult(history=st.history, state=session.learner_state, buffer=st.buffer, answers=st.answers,
                     strategy_state=st.strategy_state, stop_reason=reason,
                     labels_to_target=_labels_to_target(st.history, config.target_accuracy),
                     queries=session.queries(), resumed_from=session.resumed_from)


def _round(session: Session, oracle: Oracle | AsyncOracle, queries: Queries,
           on_round: Callable[[dict[str, float]], None] | None) -> None:
    """Answer `queries` (from the log where it holds their answers, else from the oracle), tell, fit.

    A person may also take back an answer of an earlier round (it was learned from) while this
    one is answered: the session retracts it, the oracle answers that query again, and the fit
    learns the new answer. On resume the log's retractions of this round are replayed first."""
    ids = list(queries.query_id) + session.replayed_retractions()
    logged = {q: a for q in ids if (a := session.logged_answer(q)) is not None}
    unanswered = [q for q in ids if q not in logged]
    fresh = ask(oracle, _queries_of(session, queries, unanswered), session.problem.classes,
                on_answer=session.record, on_earlier=lambda item: _earlier(session, item)) if unanswered else []
    by_id = {**logged, **{a.query_id: a for a in fresh}}
    ids += [a.query_id for a in fresh if a.query_id not in ids]  # earlier answers taken back and given again
    session.tell([by_id[q] for q in ids])
    row = session.fit()
    if on_round is not None:
        on_round(row)


def _queries_of(session: Session, queries: Queries, ids: list[str]) -> Queries:
    """The queries `ids`: this round's, or pending ones of earlier rounds (answers taken back)."""
    mine = {q: i for i, q in enumerate(queries.query_id)}
    if all(q in mine for q in ids):
        return queries.take([mine[q] for q in ids])
    pending = session.state.pending
    return concat_queries([queries.take([mine[q]]) if q in mine else pending[q][1] for q in ids])


def _earlier(session: Session, item: Retract | Flag) -> bool:
    """A person's retraction of an answer learned from (True: taken back) or flag, from the oracle."""
    if isinstance(item, Flag):
        session.flag(item.query_id, item.note)
        return False
    if not any(a.query_id == item.query_id for a in session.state.answers):
        return False  # (nothing learned to take back: the oracle's mistake, ignored)
    session.retract(item.query_id, item.reason)
    return True


def load_params(learner: Learner, checkpoint: str) -> Any:
    """The learner parameters saved in a checkpoint folder (its `state.npz`)."""
    arrays, _ = load_checkpoint(checkpoint)
    return load_learner_state(learner, arrays, checkpoint).params
