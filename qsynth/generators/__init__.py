"""Generators whose latent space synthesis searches: the `Generator` protocol (and the `Encoder`
capability), and the VAE qsynth trains (MLP for vectors, conv for images).

Loaded lazily (PEP 562): the settings (`GeneratorConfig`) import no JAX.
"""

from __future__ import annotations

from typing import Any

from qsynth._lazy import load_export

_EXPORTS = {
    "Encoder": "qsynth.generators.base",
    "Generator": "qsynth.generators.base",
    "GeneratorConfig": "qsynth.generators.config",
    "VAE": "qsynth.generators.train",
    "TrainedGenerator": "qsynth.generators.train",
    "fit_generator": "qsynth.generators.train",
    "load_generator": "qsynth.generators.train",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    return load_export(__name__, _EXPORTS, name)


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
