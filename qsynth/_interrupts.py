"""Ctrl-C on the command line: a SIGINT is noted as well as raised, so that one Python drops
cannot let a run go on.

Python turns a SIGINT into a KeyboardInterrupt at whatever bytecode runs next; where that is
inside a garbage-collector callback, a `__del__` or a weakref callback (JAX registers a GC
callback), the exception is "ignored" and the Ctrl-C lost. With `install()` (the `qsynth`
command calls it) every SIGINT is also noted, and `check()` — called by the runner after every
round and between runs — raises it again. In a notebook nothing is installed and `check()`
does nothing. Imports no JAX.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["check", "deferred", "install", "requested"]

_requested = threading.Event()


def _on_sigint(signum: int, frame: Any) -> None:
    _requested.set()
    raise KeyboardInterrupt


def install() -> None:
    """Note every SIGINT (where Python's default Ctrl-C handler is in place; an ignored SIGINT
    stays ignored), and deliver again, from a timer, one whose KeyboardInterrupt Python dropped
    as "unraisable" (so it lands in ordinary code). Installing twice changes nothing."""
    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)
    if getattr(sys.unraisablehook, "_qsynth", False):
        return
    previous = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            threading.Timer(0.01, signal.raise_signal, (signal.SIGINT,)).start()
            return
        previous(unraisable)

    hook._qsynth = True  # type: ignore[attr-defined]
    sys.unraisablehook = hook


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Within the block a SIGINT is only noted, and raised when the block ends: for imports, where
    a KeyboardInterrupt inside a C extension's initialization can crash the interpreter (seen:
    a segmentation fault) and one inside a garbage-collector callback is dropped."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) not in (signal.default_int_handler, _on_sigint):
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: _requested.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    check()


def requested() -> bool:
    """Whether a Ctrl-C arrived since `install()`."""
    return _requested.is_set()


def check() -> None:
    """Raise KeyboardInterrupt if a Ctrl-C arrived (and may have been dropped)."""
    if _requested.is_set():
        raise KeyboardInterrupt("interrupted")
