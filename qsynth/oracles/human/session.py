"""`HumanSession`: the queries waiting for a person, and what they said — one model behind the
labeling page and the terminal.

To the loop it is a slow asynchronous oracle (`submit` / `collect`): the run waits for
answers, and because each answer is logged (and fsynced) as it arrives, the run can be
stopped and resumed between any two answers. A person's answer is accepted only for a
query that is open, with a label from the run's classes (or "can't tell"); the call that
gives it returns only once the loop has logged it (`acknowledge`), so a page never moves
on before its answer is on disk. The last `HISTORY` answers stay editable (Prodigy-style):
undo takes one back (an appended retract record) and shows its query again — an answer of
the open batch before it is learned from, an earlier one after (the learner then refits on
its new answer). A flag ("come back to this") is logged beside the answers. Thread-safe.
Imports no JAX.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from qsynth.records import Answer, Flag, Queries, Retract, Status

__all__ = ["HISTORY", "HumanSession", "NotOpen"]

#: How many of the latest answers the page lists and lets you take back.
HISTORY = 10


class NotOpen(RuntimeError):
    """The query is not waiting for an answer (answered already, or never asked), or nothing can be undone."""


class HumanSession:
    """Queries for a person.

    Args:
      classes: the labels a person may give.
      describe: `x -> {"image": [[...]]} | {"table": [[name, value], ...]}` — how to show a query.
      class_names: optional display names, one per class.
      show_prediction: include the current model's prediction in `current()`.
      cost: cost per answer.
      answered: answers the run already holds (the page's "in all" counts on from there).
      history: the run's latest answers before this session, oldest first, as (query id, label
        or None for "can't tell", the query's point): they stay editable after a restart.
      flagged: the queries the run's log flags.
    """

    def __init__(self, classes: tuple[int, ...], describe: Callable[[np.ndarray], dict[str, Any]], *,
                 class_names: tuple[str, ...] | None = None, show_prediction: bool = False, cost: float = 1.0,
                 answered: int = 0, history: list[tuple[str, int | None, np.ndarray]] = (),
                 flagged: set[str] | frozenset[str] = frozenset()):
        self.classes = tuple(int(c) for c in classes)
        self.class_names = tuple(class_names) if class_names else tuple(str(c) for c in self.classes)
        self.describe, self.show_prediction, self.cost = describe, show_prediction, float(cost)
        self._cond = threading.Condition()
        self._batch: list[str] = []
        self._x: dict[str, np.ndarray] = {}
        self._answerable: dict[str, float] = {}  # the answerability model's P(answered), where the strategy had one
        self._open: list[str] = []
        self._given: list[str] = []
        self._outbox: list[Answer | Retract | Flag] = []
        self._acked: set[tuple[str, str]] = set()
        self._model: Callable[[np.ndarray], np.ndarray] | None = None
        self.answered = int(answered)  # answers given in the run so far (the log's, then this session's, after undos)
        self._history: list[tuple[str, int | None]] = []  # the latest answers, oldest first
        for qid, label, x in history:
            self._history.append((qid, label))
            self._x[qid] = np.asarray(x)
        self._history = self._history[-HISTORY:]
        self._flagged: set[str] = set(flagged)
        self.closed = False
        self.ended: str | None = None  # why the run ended ("finished", "stopped"), for the page

    # -- the loop's side (an AsyncOracle) -----------------------------------------------------------
    def submit(self, queries: Queries) -> None:
        with self._cond:
            new = [q for q in queries.query_id if q not in self._open]  # (every query submitted awaits an answer)
            self._batch = [q for q in self._batch if q in self._open] + new
            self._given = []
            answerable = queries.extra.get("answerable")
            for i, q in enumerate(queries.query_id):
                if q in new:
                    self._x[q] = np.asarray(queries.x[i])
                    self._open.append(q)
                    if answerable is not None and len(answerable) == len(queries):
                        self._answerable[q] = float(answerable[i])
            self._cond.notify_all()

    def collect(self, timeout: float | None = None) -> list[Answer | Retract | Flag]:
        with self._cond:
            self._cond.wait_for(lambda: bool(self._outbox) or self.closed, timeout=timeout)
            out, self._outbox = self._outbox, []
            return out

    def acknowledge(self, item: Answer | Retract | Flag) -> None:
        """The loop has logged `item`: the person's request may return."""
        with self._cond:
            self._acked.add(_ack_key(item))
            self._cond.notify_all()

    def set_model(self, predict_proba: Callable[[np.ndarray], np.ndarray]) -> None:
        """The current learner's committee-mean probabilities (for showing a prediction)."""
        with self._cond:
            self._model = predict_proba

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def end(self, how: str, answered_in_all: int | None = None) -> None:
        """The run is over (`how`: "finished" or "stopped"): `current()` says so from now on."""
        with self._cond:
            self.ended, self.closed = how, True
            if answered_in_all is not None:
                self.answered = answered_in_all
            self._open.clear()
            self._cond.notify_all()

    # -- the person's side ------------------------------------------------------------------------
    def current(self) -> dict[str, Any]:
        """What the page or the terminal shows now: the first open query (or None), progress, keys."""
        with self._cond:
            qid = self._open[0] if self._open else None
            x = self._x.get(qid) if qid else None
            model = self._model
            done = len(self._batch) - len(self._open)
            state = {"query_id": qid, "classes": list(self.classes), "class_names": list(self.class_names),
                     "progress": {"batch_answered": done, "batch_size": len(self._batch),
                                  "answered": self.answered},
                     "can_undo": bool(self._history),
                     "history": [{"query_id": q, "label": label, "learned": q not in self._given or not self._open,
                                  "flagged": q in self._flagged} for q, label in reversed(self._history)],
                     "flagged": sorted(self._flagged)}
            if self.ended:
                state["ended"] = self.ended
        if x is not None:
            state["view"] = self.describe(x)
            if self.show_prediction and model is not None:
                p = np.asarray(model(x[None].astype(np.float32)))[0]
                state["prediction"] = {"label": self.classes[int(p.argmax())], "confidence": float(p.max())}
                if qid in self._answerable:  # how likely a person is to answer it, from the run's "can't tell"s
                    state["prediction"]["answerable"] = self._answerable[qid]
        return state

    def answer(self, query_id: str, label: int | None, *, wait_s: float | None = 30.0) -> Answer:
        """A person's label for `query_id` (None: "can't tell"). Returns once the loop has logged it
        (`wait_s=None`: at once — for a caller on the loop's own thread, such as the terminal).

        Raises:
          ValueError: the label is not one of the run's classes.
          NotOpen: the query is not waiting for an answer.
          TimeoutError: the loop did not log it within `wait_s` (it is still queued for the loop).
        """
        if label is not None:
            if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or int(label) not in self.classes:
                raise ValueError(f"label {label!r} is not one of this run's classes {list(self.classes)}")
            answer = Answer(query_id, Status.OK, label=int(label), cost=self.cost)
        else:
            answer = Answer(query_id, Status.ABSTAIN, cost=self.cost, error="the labeler could not tell")
        with self._cond:
            if query_id not in self._open:
                raise NotOpen(f"query {query_id!r} is not waiting for an answer")
            self._open.remove(query_id)
            self._given.append(query_id)
            self._history = [h for h in self._history if h[0] != query_id][-(HISTORY - 1):] + [(query_id, answer.label)]
            self._outbox.append(answer)
            self.answered += 1
            self._cond.notify_all()
            self._wait_logged(answer, wait_s)
        return answer

    def undo(self, query_id: str | None = None, *, wait_s: float | None = 30.0) -> Retract:
        """Take back an answer among the latest `HISTORY` (default: the latest); its query is shown
        again, first. An answer of the batch still being labeled is dropped before it is learned
        from; an earlier one is retracted from the learner, which refits on its new answer.

        Raises:
          NotOpen: nothing to undo (no answer yet), or `query_id` is not among the latest answers.
        """
        with self._cond:
            if not self._history:
                raise NotOpen("nothing to undo: no answer has been given yet")
            qid = self._history[-1][0] if query_id is None else query_id
            if qid not in [h[0] for h in self._history]:
                raise NotOpen(f"query {qid!r} is not among the latest {HISTORY} answers, which are the ones that can "
                              "be taken back")
            in_batch = qid in self._given and bool(self._open)  # not yet learned from
            retract = Retract(qid, "undo", told=not in_batch)
            self._history = [h for h in self._history if h[0] != qid]
            if in_batch:
                self._given.remove(qid)
            else:
                self._batch.append(qid)
            self._open.insert(0, qid)
            self._outbox.append(retract)
            self.answered -= 1
            self._cond.notify_all()
            self._wait_logged(retract, wait_s)
        return retract

    def flag(self, query_id: str | None = None, note: str = "", *, wait_s: float | None = 30.0) -> Flag:
        """Flag a query ("come back to this"; default: the one shown now) in the log.

        Raises:
          NotOpen: no such query is shown or among the latest answers.
        """
        with self._cond:
            qid = query_id or (self._open[0] if self._open else None)
            if qid is None or (qid not in self._open and qid not in [h[0] for h in self._history]):
                raise NotOpen(f"query {qid!r} is neither shown nor among the latest answers: nothing to flag")
            item = Flag(qid, str(note)[:200])
            self._flagged.add(qid)
            self._outbox.append(item)
            self._cond.notify_all()
            self._wait_logged(item, wait_s)
        return item

    def _wait_logged(self, item: Answer | Retract | Flag, wait_s: float | None) -> None:
        if wait_s is None:
            return
        key = _ack_key(item)
        end = time.monotonic() + wait_s
        while key not in self._acked:
            if self.closed or not self._cond.wait(timeout=max(0.0, end - time.monotonic())):
                if key in self._acked:
                    break
                raise TimeoutError(f"query {item.query_id}: the run has not logged this yet (is it still running?)")
        self._acked.discard(key)


def _ack_key(item: Answer | Retract | Flag) -> tuple[str, str]:
    kind = "retract" if isinstance(item, Retract) else "flag" if isinstance(item, Flag) else "answer"
    return (kind, item.query_id)
