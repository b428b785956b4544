"""How a session starts and trains, and when the runner stops it: plain settings, no JAX
(a config can be read without starting it). `qsynth.session` and `qsynth.loop` re-export them."""

from __future__ import annotations

import dataclasses

__all__ = ["FAILURE_POLICIES", "LoopConfig", "SessionConfig"]

#: `[oracle] failures`: what a FAILED answer is to the answerability model and the learner —
#: "avoid" (a refusal: steer away), "ignore" (not modelled: the behaviour before answerability),
#: "class" (a label of the failure class, for the learner; not a refusal).
FAILURE_POLICIES = ("avoid", "ignore", "class")


@dataclasses.dataclass(frozen=True, kw_only=True)
class SessionConfig:
    """How a session starts and trains.

    Attributes:
      seed_size: queries in the seed set (the first `ask`'s default size).
      seed_strategy: "random" or "stratified" (one pool point per class first; needs pool labels).
      batch_size: queries per later `ask` by default.
      checkpoint_every: fits between checkpoints (0: none until `close`; a resume then replays the log).
      window: train on the most recent `window` labels only (forgetting, for drifting streams);
        every label is still kept, logged and counted. None: all labels.
      failures: what a FAILED answer tells the answerability model (`[oracle] failures`):
        "avoid" (the query could not be answered: strategies that weigh by answerability steer
        away from where calls fail), "ignore" (failed calls are not modelled) or "class" (a failed
        call is learned as a class of its own, the problem's `failure_label`: the learner predicts
        where calls fail). ABSTAIN answers are always modelled as unanswered.
    """

    seed_size: int = 2
    seed_strategy: str = "random"
    batch_size: int = 1
    checkpoint_every: int = 1
    window: int | None = None
    failures: str = "avoid"

    def __post_init__(self) -> None:
        if self.seed_size < 1:
            raise ValueError(f"loop.seed_size must be >= 1, got {self.seed_size}")
        if self.seed_strategy not in ("random", "stratified"):
            raise ValueError(f"loop.seed_strategy must be 'random' or 'stratified', got {self.seed_strategy!r}")
        if self.batch_size < 1:
            raise ValueError(f"loop.batch_size must be >= 1, got {self.batch_size}")
        if self.checkpoint_every < 0:
            raise ValueError(f"loop.checkpoint_every must be >= 0, got {self.checkpoint_every}")
        if self.window is not None and self.window < 1:
            raise ValueError(f"loop.window must be >= 1 (or absent), got {self.window}")
        if self.failures not in FAILURE_POLICIES:
            raise ValueError(f"oracle.failures must be 'avoid', 'ignore' or 'class', got {self.failures!r}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class LoopConfig(SessionConfig):
    """When to stop and how to start: the session's settings (`SessionConfig`: seed_size,
    seed_strategy, batch_size, checkpoint_every, window, failures) and the runner's.

    Attributes:
      budget: queries that may be asked in all, the seed set included (abstained and failed count).
      cost_budget: optional cap on the summed oracle cost.
      target_accuracy: optional: stop once test accuracy reaches it (when `stop_at_target`).
      stop_at_target: stop at the target (else only report when it was reached).
      min_acquisition: optional: stop when the best acquisition score of `patience`
        consecutive rounds stays below it (the learner is no longer uncertain anywhere).
      patience: rounds for the plateau rule.
      fsync: fsync the label log at every sync (keep on for real labelers).
    """

    budget: int
    cost_budget: float | None = None
    target_accuracy: float | None = None
    stop_at_target: bool = False
    min_acquisition: float | None = None
    patience: int = 5
    fsync: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.budget < self.seed_size:
            raise ValueError(f"loop.budget ({self.budget}) is smaller than loop.seed_size ({self.seed_size}): "
                             "the seed set alone would exceed it")
        if self.cost_budget is not None and not self.cost_budget > 0:
            raise ValueError(f"loop.cost_budget must be > 0, got {self.cost_budget}")
        if self.target_accuracy is not None and not 0.0 < self.target_accuracy <= 1.0:
            raise ValueError(f"loop.target_accuracy must be in (0, 1], got {self.target_accuracy}")
        if self.patience < 1:
            raise ValueError(f"loop.patience must be >= 1, got {self.patience}")


    @property
    def session(self) -> SessionConfig:
        """The session's part of this config."""
        return SessionConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(SessionConfig)})
