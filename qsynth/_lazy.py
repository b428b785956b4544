"""A module imported on first use: `jnp = lazy("jax.numpy")` reads like the import it replaces,
but JAX starts only when a function first touches `jnp.something` (reading a config, which
only checks names against these modules, stays JAX-free)."""

from __future__ import annotations

import importlib
import sys
from typing import Any

__all__ = ["lazy", "load_export"]


class _LazyModule:
    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def lazy(name: str) -> Any:
    """The module `name`, imported when an attribute of it is first read."""
    return _LazyModule(name)


def load_export(package: str, exports: dict[str, str], name: str) -> Any:
    """A package's public `name`, imported from the module `exports[name]` on first use and kept
    in the package (the body of a PEP 562 `__getattr__`).

    Raises:
      AttributeError: the package exports no `name`.
    """
    if name not in exports:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(exports[name]), name)
    setattr(sys.modules[package], name, value)
    return value
