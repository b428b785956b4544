"""Plug-ins named in configs as `"package.module:attr"` (the value an attribute of a module holds).

A config that accepts a built-in name (a model, a measure, a strategy kind, a dataset, an
oracle function) also accepts such a reference; the Python API accepts the value itself.
This module imports nothing of qsynth's own and no JAX: checking a reference's spelling
(`is_reference`) builds nothing, and `resolve` imports only the module it names (a module in the working folder is found
even where the working folder is not on `sys.path`, as under the `qsynth` command).

Example:
    resolve("math:sqrt", "oracle.function")(4.0)  # 2.0
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from typing import Any

__all__ = ["PluginError", "is_reference", "resolve"]

_REFERENCE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")


class PluginError(ValueError):
    """A `"package.module:attr"` reference that does not resolve; the message names the field."""


def is_reference(value: object) -> bool:
    """Whether `value` is spelled as a `"package.module:attr"` reference."""
    return isinstance(value, str) and bool(_REFERENCE.match(value))


def _import(module_name: str) -> Any:
    """Import a module; a module in the working folder is found too (the `qsynth` command, unlike
    `python -m`, does not put the working folder on sys.path)."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        here = os.getcwd()
        if exc.name != module_name.split(".")[0] or here in sys.path or "" in sys.path:
            raise
        sys.path.append(here)
        return importlib.import_module(module_name)


def resolve(reference: str, field: str) -> Any:
    """The value `reference` names, imported now.

    Args:
      reference: `"package.module:attr"` (attr may be dotted: `"pkg.mod:Class.factory"`).
      field: the config field it came from, for the error message (`"learner.model"`).

    Raises:
      PluginError: the reference is malformed, its module cannot be imported, or it lacks the attribute.
    """
    if not is_reference(reference):
        raise PluginError(f"{field}: {reference!r} is not a 'package.module:attr' reference")
    module_name, attr = reference.split(":")
    try:
        value: Any = _import(module_name)
    except ImportError as exc:
        raise PluginError(f"{field}: cannot import module {module_name!r} of {reference!r} ({exc}); is it on "
                          "sys.path (installed, or in the folder you run from)?") from None
    for part in attr.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise PluginError(f"{field}: module {module_name!r} has no attribute {attr!r} (from {reference!r})") \
                from None
    return value
