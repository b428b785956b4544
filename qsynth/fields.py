"""Typed fields from TOML tables: check a value against a dataclass field's annotation, build the
dataclass, and say which dotted field is wrong (`learner.members: expected an integer, got str
'five'`). Imports nothing of qsynth's and no JAX.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from typing import Any

__all__ = ["ConfigError", "build_dataclass", "check_fields", "check_value"]


class ConfigError(ValueError):
    """A configuration problem, with the dotted path of the field in the message."""


def check_value(value: Any, annotation: Any, path: str) -> Any:
    """`value` as the type `annotation` asks for (an int stays an int, a list becomes a tuple, a
    table a dataclass), or a ConfigError naming `path`. Annotations it does not know (a
    callable, a protocol) accept any value; the field's own validation judges it."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return check_value(value, arg, path)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{path}: unexpected value {value!r}")
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a table, got {type(value).__name__} {value!r}")
        return build_dataclass(annotation, value, path)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected an array, got {type(value).__name__} {value!r}")
        inner = args[0] if args else Any
        return tuple(check_value(v, inner, f"{path}[{i}]") for i, v in enumerate(value))
    if origin is dict or annotation is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a table, got {type(value).__name__} {value!r}")
        return dict(value)
    if annotation is Any:
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {type(value).__name__} {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {type(value).__name__} {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected a number, got {type(value).__name__} {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {type(value).__name__} {value!r}")
        return value
    return value


def build_dataclass(cls: type, table: dict[str, Any], path: str) -> Any:
    """`cls(**table)` with every field checked by `check_value` first; errors name `path.field`."""
    hints = typing.get_type_hints(cls, vars(sys.modules[cls.__module__]))
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(table) - set(fields))
    prefix = f"{path}." if path else ""
    if unknown:
        raise ConfigError(f"{prefix}{unknown[0]}: unknown field; {path or 'the top level'} takes {sorted(fields)}")
    missing = [n for n, f in fields.items() if n not in table and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"{prefix}{missing[0]}: required field is missing")
    kwargs = {name: check_value(value, hints[name], f"{prefix}{name}") for name, value in table.items()}
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except ValueError as exc:
        message = str(exc)
        raise ConfigError(message if message.startswith(prefix) or not path else f"{path}: {message}") from None




def check_fields(cls: type, table: dict[str, Any], path: str = "") -> dict[str, Any]:
    """`table`'s values checked against the annotations of `cls`'s fields (names it lacks are left
    to the caller), without building anything."""
    hints = typing.get_type_hints(cls, vars(sys.modules[cls.__module__]))
    prefix = f"{path}." if path else ""
    return {k: check_value(v, hints[k], f"{prefix}{k}") if k in hints else v for k, v in table.items()}
