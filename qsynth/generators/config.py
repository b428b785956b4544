"""How to build and train the VAE (or name your own generator): plain settings, no JAX."""

from __future__ import annotations

import dataclasses
import math

from qsynth.plugins import is_reference, resolve

__all__ = ["GeneratorConfig"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class GeneratorConfig:
    """How to build and train the VAE.

    Attributes:
      model: "mlp" (vectors) or "conv" (images [H, W, C], H and W divisible by 4); or your own
        generator: a `"package.module:attr"` reference to a factory `make(x, key) -> Generator`
        (`x`: the seed's unlabeled pool `[n, *feature_shape]`; a pretrained decoder may ignore
        it), called once per seed — the other fields here then do not apply.
      latent: latent dimension.
      hidden: hidden widths of the MLP encoder (the decoder mirrors them); (dense width,) for conv.
      steps: Adam steps; batch_size: examples per step (drawn with replacement).
      learning_rate: Adam step size.
      beta: KL weight (1 is the ELBO).
      warmup: steps over which the KL weight rises linearly from 0 to beta.
      min_std: floor of the decoder's per-feature standard deviation.
      seed: training seed, combined with the run seed.
    """

    model: str = "mlp"
    latent: int = 8
    hidden: tuple[int, ...] = (256, 128)
    steps: int = 3000
    batch_size: int = 128
    learning_rate: float = 2e-3
    beta: float = 1.0
    warmup: int = 500
    min_std: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        if self.model not in ("mlp", "conv") and not is_reference(self.model):
            raise ValueError(f"generator.model must be 'mlp', 'conv' or a 'package.module:attr' reference to a "
                             f"generator factory, got {self.model!r}")
        if is_reference(self.model) and not callable(resolve(self.model, "generator.model")):
            raise ValueError(f"generator.model: {self.model!r} is not callable")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if self.latent < 1:
            raise ValueError(f"generator.latent must be >= 1, got {self.latent}")
        if any(h < 1 for h in self.hidden):
            raise ValueError(f"generator.hidden must be positive widths, got {self.hidden}")
        for name in ("steps", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"generator.{name} must be >= 1, got {getattr(self, name)}")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ValueError(f"generator.learning_rate must be a finite positive number, got {self.learning_rate}")
        if not self.beta >= 0 or self.warmup < 0 or not self.min_std > 0:
            raise ValueError(f"generator: need beta >= 0, warmup >= 0, min_std > 0; got {self.beta}, "
                             f"{self.warmup}, {self.min_std}")
