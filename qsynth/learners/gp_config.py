"""How the exact GP models the answers (`qsynth.learners.gaussian_process`): plain settings, no JAX."""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from qsynth.learners.gaussian_process import GaussianProcessLearner

__all__ = ["DEFAULT_LENGTHSCALES", "GPConfig", "KERNELS"]

#: The kernels of `qsynth.learners.kernels`.
KERNELS = ("matern52", "rbf", "nngp")
#: 16 lengthscales from 0.02 to 1, geometrically spaced (the marginal-likelihood choice's grid).
DEFAULT_LENGTHSCALES = tuple(float(v) for v in np.geomspace(0.02, 1.0, 16))


@dataclasses.dataclass(frozen=True, kw_only=True)
class GPConfig:
    """How the GP models the answers.

    Attributes:
      target: "label" (regress the class: ±1, or centered one-hot with C > 2 classes) or
        "value" (regress `Answer.value`; two classes).
      success: the value interval (low, high) counted as class 1 when target = "value".
      kernel: "matern52", "rbf" or "nngp" (`qsynth.learners.kernels`).
      lengthscale: a fixed lengthscale, or None to pick one per fit by marginal likelihood
        (none for "nngp").
      lengthscale_grid: the candidates for that choice.
      lengthscale_by: how that choice is made: "likelihood" (the log marginal likelihood of the
        targets) or "loo" (two classes, target "label": the leave-one-out probit likelihood
        Σᵢ log Φ(yᵢ μ₋ᵢ / σ₋ᵢ) of the labels, exact from the same factor — R&W §6.5's criterion
        for least-squares classification, which asks of a lengthscale that it classify held-out
        labels, not that it explain ±1 as a smooth function), or "loo_balanced" (the same with
        each class's terms weighed by n / (2 n_class), so a rare class — a success region of a
        few percent of the box — counts as much as the common one: on the projectile's thin
        band the plain sum is ruled by the many far negatives, which a long lengthscale
        predicts well while it smears the band).
      lengthscale_peak: which maximum of that criterion over the grid: "highest" (the global
        one) or "shortest" (the top of the first hill from the short end). Where the labels
        crowd along the boundary (synthesis queries) the LOO curve can rise again at long
        lengthscales, a smooth surface that predicts the crowded points and nothing far from
        them; "shortest" keeps the data's own scale (the default job's moons, docs/results.md).
      ard_steps: 0 (one lengthscale for every input dimension), or the Adam steps that refine
        one lengthscale per dimension (ARD) on the same criterion at every fit, from the grid's
        best: the lengthscales of dimensions that do not matter grow, and an anisotropic
        boundary gets its own scale along each axis. The best iterate by the criterion is kept,
        so ARD never scores worse than the grid's choice.
      depth: hidden ReLU layers of the "nngp" kernel's network.
      noise: noise variance as a fraction of the signal variance (a nugget; answers are
        deterministic in the simulators here).
    """

    target: str = "label"
    success: tuple[float, float] = (0.0, math.inf)
    kernel: str = "matern52"
    lengthscale: float | None = None
    lengthscale_grid: tuple[float, ...] = DEFAULT_LENGTHSCALES
    lengthscale_by: str = "likelihood"
    lengthscale_peak: str = "highest"
    ard_steps: int = 0
    depth: int = 3
    noise: float = 1e-4

    def __post_init__(self) -> None:
        if self.target not in ("label", "value"):
            raise ValueError(f"learner.target must be 'label' or 'value', got {self.target!r}")
        object.__setattr__(self, "success", tuple(float(v) for v in self.success))
        low, high = self.success if len(self.success) == 2 else (math.nan, math.nan)
        if len(self.success) != 2 or not low < high or math.isnan(low) or math.isnan(high):
            raise ValueError(f"learner.success must be (low, high) with low < high, got {self.success}")
        if self.target == "label" and self.success != (0.0, math.inf):
            raise ValueError("learner.success applies to target = 'value' only (with target = 'label' class 1 is "
                             "where the latent function is positive)")
        if self.kernel not in KERNELS:
            raise ValueError(f"learner.kernel must be one of {', '.join(repr(k) for k in KERNELS)}, got {self.kernel!r}")
        object.__setattr__(self, "lengthscale_grid", tuple(float(v) for v in self.lengthscale_grid))
        if self.lengthscale is not None and not (self.lengthscale > 0 and math.isfinite(self.lengthscale)):
            raise ValueError(f"learner.lengthscale must be a finite positive number (or absent), got {self.lengthscale}")
        if self.kernel == "nngp" and self.lengthscale is not None:
            raise ValueError("learner.lengthscale: the 'nngp' kernel has no lengthscale (leave it out)")
        if self.lengthscale_by not in ("likelihood", "loo", "loo_balanced"):
            raise ValueError(f"learner.lengthscale_by must be 'likelihood', 'loo' or 'loo_balanced', "
                             f"got {self.lengthscale_by!r}")
        if self.lengthscale_peak not in ("highest", "shortest"):
            raise ValueError(f"learner.lengthscale_peak must be 'highest' or 'shortest', got {self.lengthscale_peak!r}")
        if self.lengthscale_by.startswith("loo") and self.target != "label":
            raise ValueError(f"learner.lengthscale_by = {self.lengthscale_by!r} scores held-out labels: "
                             "it needs target = 'label'")
        if not (isinstance(self.ard_steps, int) and 0 <= self.ard_steps <= 1000):
            raise ValueError(f"learner.ard_steps must be an integer from 0 to 1000, got {self.ard_steps!r}")
        if self.ard_steps and (self.kernel == "nngp" or self.lengthscale is not None):
            raise ValueError("learner.ard_steps refines lengthscales the fit chooses: it needs a stationary kernel "
                             "('matern52' or 'rbf') and no fixed learner.lengthscale")
        if not self.lengthscale_grid or any(not (v > 0 and math.isfinite(v)) for v in self.lengthscale_grid):
            raise ValueError(f"learner.lengthscale_grid must be finite positive numbers, got {self.lengthscale_grid}")
        if not (isinstance(self.depth, int) and 1 <= self.depth <= 16):
            raise ValueError(f"learner.depth must be an integer from 1 to 16, got {self.depth!r}")
        if not (self.noise > 0 and math.isfinite(self.noise)):
            raise ValueError(f"learner.noise must be a finite positive number, got {self.noise}")

    @property
    def grid(self) -> tuple[float, ...]:
        """The lengthscales a fit chooses among (one, unused, for the "nngp" kernel)."""
        if self.kernel == "nngp":
            return (1.0,)
        return (self.lengthscale,) if self.lengthscale is not None else self.lengthscale_grid

    def build(self, feature_shape: tuple[int, ...], num_classes: int = 2) -> GaussianProcessLearner:
        from qsynth.learners.gaussian_process import GaussianProcessLearner

        return GaussianProcessLearner(self, tuple(int(s) for s in feature_shape), int(num_classes))
