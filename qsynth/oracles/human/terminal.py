"""`TerminalLabeler`: the same queries and the same log as the labeling page, in a terminal.

A query is shown as a table of parameter values, or — for images — saved as a PNG whose
path the prompt names (and shown in a window where there is a display). Type a class
label, `a` for "can't tell", `u` to undo the latest answer (even one learned from), `q` to stop
(the run stops between two answers and resumes with `qsynth label RUN`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from qsynth.oracles.human.session import HumanSession, NotOpen
from qsynth.records import Answer, Retract

__all__ = ["StopLabeling", "TerminalLabeler"]


class StopLabeling(KeyboardInterrupt):
    """The person asked to stop (not an error: every answer so far is logged; resume later)."""


class TerminalLabeler(HumanSession):
    """A `HumanSession` that asks its questions on the terminal when the loop collects answers.

    Args (beyond `HumanSession`'s):
      ask_fn: reads one reply (default `input`). out: where prompts go (default stdout).
      image_dir: where query images are saved (default: the working directory).
    """

    def __init__(self, classes: tuple[int, ...], describe: Callable[[np.ndarray], dict[str, Any]], *,
                 ask_fn: Callable[[str], str] = input, out: TextIO | None = None,
                 image_dir: str | os.PathLike | None = None, **kwargs: Any):
        super().__init__(classes, describe, **kwargs)
        self.ask_fn, self.out = ask_fn, out or sys.stdout
        self.image_dir = Path(image_dir or ".")

    def collect(self, timeout: float | None = None) -> list[Answer | Retract]:
        ready = super().collect(timeout=0.0)
        if ready:
            return ready
        state = self.current()
        qid = state["query_id"]
        if qid is None:
            return []
        self._show(state)
        keys = "/".join(state["class_names"])
        reply = self.ask_fn(f"label [{keys}], a = can't tell, u = undo, q = quit > ").strip().lower()
        try:
            if reply in ("q", "quit", "exit"):
                raise StopLabeling(f"stopped by the labeler before query {qid}; every answer so far is logged")
            if reply in ("u", "undo"):
                self.undo(wait_s=None)
            elif reply in ("a", "?"):
                self.answer(qid, None, wait_s=None)
            else:
                try:
                    label = int(reply)
                except ValueError:
                    raise ValueError(f"{reply!r} is not a label; type one of {keys}, a, u or q") from None
                self.answer(qid, label, wait_s=None)
        except (ValueError, NotOpen) as exc:
            print(f"  ! {exc}", file=self.out)
        return super().collect(timeout=0.0)

    def _show(self, state: dict[str, Any]) -> None:
        p = state["progress"]
        print(f"\nquery {state['query_id']}  ({p['batch_answered']}/{p['batch_size']} answered in this batch, "
              f"{p['answered']} in all)", file=self.out)
        view = state.get("view", {})
        for name, value in view.get("table", []):
            print(f"  {name:>16} = {value}", file=self.out)
        if "image" in view:
            import matplotlib

            if not os.environ.get("DISPLAY"):
                matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            self.image_dir.mkdir(parents=True, exist_ok=True)
            path = self.image_dir / f"query-{state['query_id']}.png"
            fig, ax = plt.subplots(figsize=(3, 3))
            ax.imshow(np.asarray(view["image"]), cmap="gray_r", vmin=0, vmax=1)
            ax.set_axis_off()
            ax.set_title(state["query_id"])
            fig.savefig(path, dpi=80)
            if os.environ.get("DISPLAY"):
                plt.show(block=False)
                plt.pause(0.1)
            plt.close(fig)
            print(f"  image: {path}", file=self.out)
        if "prediction" in state:
            guess = state["prediction"]
            answerable = (f" · likely answerable: {guess['answerable']:.0%}" if "answerable" in guess else "")
            print(f"  model's guess: {guess['label']} ({guess['confidence']:.0%}){answerable}", file=self.out)
