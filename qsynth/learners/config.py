"""How to build and train a learner: `LearnerConfig`, plain settings with no JAX (a config can be
read without starting it). `LearnerConfig.build` makes the learner (`NetworkLearner` or the GP).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from qsynth.learners.gp_config import GPConfig
from qsynth.plugins import is_reference, resolve

if TYPE_CHECKING:
    from qsynth.learners.gaussian_process import GaussianProcessLearner
    from qsynth.learners.learner import NetworkLearner

__all__ = ["BUILTIN_MODELS", "LearnerConfig", "ModelFactory"]

#: The networks qsynth builds by name (any other network comes from a factory: `LearnerConfig.model`).
BUILTIN_MODELS = ("logreg", "mlp", "cnn")

#: A network factory: `factory(feature_shape, num_classes, *, rngs) -> nnx.Module` whose call
#: `module(x: [n, *feature_shape]) -> logits [n, classes]`.
ModelFactory = Callable[..., Any]


def _is_transformation(value: object) -> bool:
    """Whether `value` is an optax `GradientTransformation` (a named tuple of init and update)."""
    return isinstance(value, tuple) and callable(getattr(value, "init", None)) and \
        callable(getattr(value, "update", None))


@dataclasses.dataclass(frozen=True, kw_only=True)
class LearnerConfig:
    """How to build and train a learner.

    Attributes:
      model: "logreg", "mlp" or "cnn" (built in); or your own network: a factory
        `factory(feature_shape, num_classes, *, rngs) -> nnx.Module` (an NNX module class with
        that constructor is one) whose module maps `x: [n, *feature_shape]` to logits
        `[n, classes]` — given as the value in Python, or as a `"package.module:attr"`
        reference in a config. With `dropout > 0` the module is called as
        `module(x, dropout_rate=..., dropout_key=...)`, as the built-in ones are.
      hidden: hidden layer widths (MLP), or (dense width,) for the CNN (built-in models only).
      optimizer: None (AdamW with `learning_rate` and `weight_decay`), an
        `optax.GradientTransformation`, or a factory called as `factory(learning_rate=...)`
        (`optax.sgd`, `"optax:adam"`, your own `optax.chain(...)` builder); the update is vmapped
        over members, so a global-norm clip inside it never couples them.
      posterior: "ensemble" (deep ensemble) or "mc_dropout".
      members: ensemble size, or the number of MC-dropout samples.
      dropout: dropout rate while training (must be > 0 for "mc_dropout").
      learning_rate, weight_decay: AdamW settings.
      steps: full-batch optimizer steps for a fit from scratch.
      warm_steps: steps per round when warm-starting from the previous round's parameters.
      warm_start: continue from the last round's parameters (True) or retrain from scratch.
      shrink, perturb: on a warm start, begin from shrink · previous + perturb · fresh
        initialization ("shrink and perturb", Ash & Adams 2020: a warm-started network
        generalizes worse than one trained from scratch; this closes much of the gap at
        the warm start's cost). 1 and 0: plain warm start.
      restart_growth: with warm_start, retrain from scratch (`steps`) whenever the labeled set
        has grown by this factor since the last from-scratch fit — 2: at twice, four times,
        eight times ... the seed set, a handful of full fits per run, so the gap between
        warm-started and freshly trained networks cannot build up. None: never.
      bootstrap: weight each member's examples by Poisson(1) draws (online bagging).
      prior_scale: β of randomized prior functions (Osband, Aslanides & Cassirer 2018): each
        ensemble member's logits are `f_θ(x) + β · p(x)`, where `p` is a second, untrained
        network of the same architecture drawn at the member's initialization. Where labels pin
        the members down they fit around their priors; away from the labels the priors differ,
        so the members disagree — epistemic uncertainty that grows away from the data, which a
        plain ensemble lacks. 0: no prior (a plain deep ensemble). Ensembles only.
      batch_size: examples per optimizer step, drawn with replacement from the labeled set
        (independently per member); None trains full-batch. A fixed batch makes a step cost
        the same however large the labeled set grows.

    model = "gp" builds an exact Gaussian process instead (`qsynth.learners.gaussian_process`;
    the network settings above do not apply), configured by:
      target: "label" (regress the class: ±1, or one output per class with more than two) or
        "value" (regress the oracle's raw `Answer.value`; two classes).
      success: (low, high), the values that mean class 1 (target "value"); empty takes the
        simulator's own interval.
      kernel: "matern52", "rbf" or "nngp" (an infinitely wide ReLU network's covariance).
      lengthscale: fixed, or absent to pick by marginal likelihood (not for "nngp").
      lengthscale_by: "likelihood" (the marginal likelihood), "loo" (the leave-one-out probit
        likelihood of the labels; two classes, target "label") or "loo_balanced" (the same,
        each class weighed alike).
      lengthscale_peak: "highest" (the criterion's global maximum over the grid) or "shortest"
        (the top of its first hill from the short end).
      ard_steps: 0, or Adam steps refining one lengthscale per input dimension (ARD) on that
        criterion at every fit.
      depth: the "nngp" network's hidden layers.
      noise: noise-to-signal variance ratio.
    """

    model: str | ModelFactory = "mlp"
    hidden: tuple[int, ...] = (128,)
    optimizer: Any = None  # None, an optax.GradientTransformation, a factory of one, or a reference
    posterior: str = "ensemble"
    members: int = 5
    dropout: float = 0.0
    learning_rate: float = 0.01
    weight_decay: float = 1e-4
    steps: int = 300
    warm_steps: int = 50
    warm_start: bool = True
    shrink: float = 1.0
    perturb: float = 0.0
    restart_growth: float | None = None
    bootstrap: bool = False
    prior_scale: float = 0.0
    batch_size: int | None = None
    target: str = "label"
    success: tuple[float, ...] = ()
    kernel: str = "matern52"
    lengthscale: float | None = None
    lengthscale_by: str = "likelihood"
    lengthscale_peak: str = "highest"
    ard_steps: int = 0
    depth: int = 3
    noise: float = 1e-4

    def __post_init__(self) -> None:
        if not (self.model in (*BUILTIN_MODELS, "gp") or is_reference(self.model) or
                (callable(self.model) and not isinstance(self.model, str))):
            raise ValueError(f"learner.model must be 'logreg', 'mlp', 'cnn', 'gp', a 'package.module:attr' reference "
                             f"to a network factory, or the factory itself; got {self.model!r}")
        if self.optimizer is not None and not (is_reference(self.optimizer) or callable(self.optimizer) or
                                               _is_transformation(self.optimizer)):
            raise ValueError(f"learner.optimizer must be an optax.GradientTransformation, a factory of one, or a "
                             f"'package.module:attr' reference to either; got {self.optimizer!r}")
        for field in ("model", "optimizer"):  # a reference is imported now: a wrong one is named before any work
            if is_reference(getattr(self, field)) and not callable(resolve(getattr(self, field), f"learner.{field}")):
                raise ValueError(f"learner.{field}: {getattr(self, field)!r} is not callable")
        if self.model == "gp" and self.optimizer is not None:
            raise ValueError("learner.optimizer applies to network learners, not model = 'gp'")
        if self.model == "gp" and self.prior_scale != 0:
            raise ValueError("learner.prior_scale applies to network ensembles, not model = 'gp'")
        if self.model == "gp":
            self.gp_config(self.success or ((0.0, math.inf) if self.target == "label" else (0.0, 1.0)))
        else:
            changed = [f.name for f in dataclasses.fields(self) if f.name in _GP_ONLY and getattr(self, f.name) != f.default]
            if changed:
                raise ValueError(f"learner.{', '.join(_GP_ONLY)} apply to model = 'gp' only (set: {', '.join(changed)})")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if any(h < 1 for h in self.hidden) or (self.model == "mlp" and not self.hidden):
            raise ValueError(f"learner.hidden must be positive widths (at least one for an MLP), got {self.hidden}")
        if self.posterior not in ("ensemble", "mc_dropout"):
            raise ValueError(f"learner.posterior must be 'ensemble' or 'mc_dropout', got {self.posterior!r}")
        if self.members < 1:
            raise ValueError(f"learner.members must be >= 1, got {self.members}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"learner.dropout must be in [0, 1), got {self.dropout}")
        if self.posterior == "mc_dropout" and self.dropout == 0.0:
            raise ValueError("learner.dropout must be > 0 when learner.posterior is 'mc_dropout'")
        for name in ("learning_rate", "weight_decay"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0) or (name == "learning_rate" and value == 0):
                raise ValueError(f"learner.{name} must be a finite {'positive' if name == 'learning_rate' else 'non-negative'} number, got {value}")
        if not (math.isfinite(self.prior_scale) and self.prior_scale >= 0):
            raise ValueError(f"learner.prior_scale must be a finite number >= 0, got {self.prior_scale}")
        if self.prior_scale > 0 and self.posterior != "ensemble":
            raise ValueError("learner.prior_scale (randomized prior functions) needs learner.posterior = 'ensemble', "
                             f"got {self.posterior!r}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"learner.batch_size must be >= 1 (or absent for full batch), got {self.batch_size}")
        if not (0.0 < self.shrink <= 1.0) or not (0.0 <= self.perturb < math.inf):
            raise ValueError(f"learner.shrink must be in (0, 1] and learner.perturb a finite number >= 0, got "
                             f"{self.shrink} and {self.perturb}")
        if self.restart_growth is not None and not (math.isfinite(self.restart_growth) and self.restart_growth > 1):
            raise ValueError(f"learner.restart_growth must be a finite number > 1 (or absent), got {self.restart_growth}")
        for name in ("steps", "warm_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"learner.{name} must be >= 1, got {getattr(self, name)}")

    @property
    def committee_size(self) -> int:
        """The `members` the built learner's `probs` has: 1 for the GP (one posterior), else `members`."""
        return 1 if self.model == "gp" else self.members

    def gp_config(self, success: tuple[float, ...]) -> GPConfig:
        return GPConfig(target=self.target, success=tuple(success),  # type: ignore[arg-type]  # (GPConfig checks it)
                        kernel=self.kernel, lengthscale=self.lengthscale, lengthscale_by=self.lengthscale_by,
                        lengthscale_peak=self.lengthscale_peak,
                        ard_steps=self.ard_steps, depth=self.depth, noise=self.noise)

    def build(self, feature_shape: tuple[int, ...], num_classes: int,
              success: tuple[float, float] | None = None) -> NetworkLearner | GaussianProcessLearner:
        """The learner for a problem. `success`: the task's own success values (a simulator's), used by
        a GP regressing values when the config gives none."""
        shape = tuple(int(s) for s in feature_shape)
        if self.model == "gp":
            interval = self.success or (tuple(success) if success else None)
            if self.target == "label":
                interval = (0.0, math.inf)
            elif interval is None:
                raise ValueError("learner.success: a GP with target = 'value' needs the values that mean success, "
                                 "(low, high); this task's oracle does not say, so give learner.success")
            return self.gp_config(interval).build(shape, int(num_classes))
        from qsynth.learners.learner import NetworkLearner

        return NetworkLearner(config=self, feature_shape=shape, num_classes=int(num_classes))


#: The LearnerConfig fields that configure a GP; a network learner must leave them at their defaults.
_GP_ONLY = ("target", "success", "kernel", "lengthscale", "lengthscale_by", "lengthscale_peak", "ard_steps",
            "depth")
