"""The oracle contract: `label(queries) -> list[Answer]`, or submit/collect for slow oracles.

Answers are never trusted: `ask` validates every one (label in the class set, finite
value, the right query id), turns a missing or malformed answer — or an exception — into a
FAILED answer that names the query, and hands each answer to a callback as it arrives
(the loop logs it there before using it). Imports no JAX.
"""

from __future__ import annotations

import time
import traceback
import typing
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from qsynth.records import Answer, Flag, Queries, Retract, Status, validate_answer

__all__ = ["AsyncOracle", "Oracle", "ShowsModel", "ask", "is_async"]


@runtime_checkable
class Oracle(Protocol):
    """Answers queries at once. `classes`: the labels it may give."""

    classes: tuple[int, ...]

    def label(self, queries: Queries) -> list[Answer]: ...


@runtime_checkable
class AsyncOracle(Protocol):
    """Answers may arrive later and in any order (simulators in parallel, people)."""

    classes: tuple[int, ...]

    def submit(self, queries: Queries) -> None: ...

    def collect(self, timeout: float | None = None) -> list[Answer]:
        """Answers that arrived (waiting up to `timeout` seconds for at least one; None = block)."""
        ...


@runtime_checkable
class ShowsModel(Protocol):
    """An oracle that shows the current model's guess (a person at the labeling page): the runner
    calls `set_model(predict_proba)` before each round's queries are put to it."""

    def set_model(self, predict_proba: Callable[..., object]) -> None: ...


def is_async(oracle: object) -> bool:
    """Whether `oracle` offers the submit/collect form (which `ask` then uses)."""
    return isinstance(oracle, AsyncOracle) and hasattr(oracle, "submit") and hasattr(oracle, "collect")


def ask(oracle: Oracle | AsyncOracle, queries: Queries, classes: tuple[int, ...],
        on_answer: Callable[[Answer | Retract], None] | None = None, poll_seconds: float = 1.0,
        on_earlier: Callable[[Retract | Flag], bool] | None = None) -> list[Answer]:
    """Put `queries` to `oracle` and return one validated answer per query, in query order.

    Uses submit/collect when the oracle offers it, else `label`. Each validated answer is
    passed to `on_answer` as soon as it is known (before this function returns); then, if
    the oracle has `acknowledge(answer)`, it is told the answer is safe (a labeling page
    moves on only then). An asynchronous oracle may also return a `Retract` for an answer
    of this batch: the query is open again, and the retraction goes to `on_answer` too.

    A `Retract` of an answer from an earlier batch (one already learned from) and a `Flag` go to
    `on_earlier`; when it returns True for a retraction (the caller took the answer back), that
    query is awaited too and its new answer is returned after the batch's, in the order the
    retractions came.

    Args:
      classes: the run's class set; labels outside it become FAILED.
      poll_seconds: how long each `collect` may wait.
    """
    wanted = list(queries.query_id)
    got: dict[str, Answer] = {}

    def accept(raw: object, qid: str) -> None:
        if qid in got:
            return
        answer = validate_answer(raw, qid, classes)
        got[qid] = answer
        if on_answer is not None:
            on_answer(answer)

    if is_async(oracle):
        oracle = typing.cast(AsyncOracle, oracle)
        oracle.submit(queries)
        while len(got) < len(wanted):
            for raw in oracle.collect(timeout=poll_seconds):
                qid = getattr(raw, "query_id", None)
                if isinstance(raw, Flag):
                    if on_earlier is not None:
                        on_earlier(raw)
                    if hasattr(oracle, "acknowledge"):
                        oracle.acknowledge(raw)
                elif isinstance(raw, Retract):
                    if got.pop(raw.query_id, None) is not None:
                        if on_answer is not None:
                            on_answer(raw)
                    elif raw.query_id not in wanted and on_earlier is not None and on_earlier(raw):
                        wanted.append(raw.query_id)  # learned from, taken back: its new answer is awaited too
                    if hasattr(oracle, "acknowledge"):
                        oracle.acknowledge(raw)
                elif qid in wanted:
                    accept(raw, qid)
                    if hasattr(oracle, "acknowledge"):
                        oracle.acknowledge(got[qid])
            time.sleep(0)
    else:
        try:
            raws = list(typing.cast(Oracle, oracle).label(queries))
        except Exception as exc:  # the whole batch failed: every query gets the reason
            reason = f"oracle raised {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"
            raws = [Answer(q, Status.FAILED, error=reason) for q in wanted]
        by_id = {getattr(a, "query_id", None): a for a in raws}
        for i, qid in enumerate(wanted):
            given: object = by_id.get(qid)
            if given is None and len(raws) == len(wanted) and getattr(raws[i], "query_id", None) is None:
                given = raws[i]
            if given is None:
                given = Answer(qid, Status.FAILED, error=f"query {qid}: the oracle gave no answer")
            accept(given, qid)
    return [got[q] for q in wanted]
