"""`ExternalProgram`: any command as a labeling function — how a user plugs in their own simulator binary.

For each query the command is started, reads one JSON object on stdin,

    {"x": [0.25, 4.0], "names": ["angle_deg", "speed_m_s"]}

and writes its answer as JSON on stdout (the last non-empty line counts; anything before
it is ignored, so the program may print progress):

    1                                   a label
    {"label": 1, "value": 2.03}         a label and a raw output
    {"status": "abstain", "error": "…"} can't tell
    {"status": "failed", "error": "…"}  the program knows it failed

A non-zero exit status, output that is not JSON, or running past `timeout` (the process is
killed) is a FAILED answer with the program's stderr. Wrap it in a `ParallelOracle` to run
several at once (a thread pool is enough: the work happens in the subprocesses).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from collections.abc import Sequence
from typing import Any

import numpy as np

from qsynth.oracles.calls import QueryTimeout, time_left

__all__ = ["ExternalProgram"]


class ExternalProgram:
    """Runs `command` once per query (JSON in on stdin, JSON out on stdout).

    Args:
      command: the program and its arguments (no shell).
      timeout: seconds before the process is killed and the query FAILED.
      names: optional parameter names, passed along as "names".
      cwd, env: working directory and extra environment variables for the program.
    """

    def __init__(self, command: Sequence[str], *, timeout: float = 60.0, names: Sequence[str] | None = None,
                 cwd: str | None = None, env: dict[str, str] | None = None):
        if isinstance(command, str) or not command or not all(isinstance(c, str) for c in command):
            raise ValueError(f"ExternalProgram: command must be a non-empty list of strings (no shell), got {command!r}")
        if not timeout > 0:
            raise ValueError(f"ExternalProgram: timeout must be > 0 seconds, got {timeout}")
        self.command, self.timeout = list(command), float(timeout)
        self.names = None if names is None else list(names)
        self.cwd, self.env = cwd, dict(env or {})

    def __call__(self, x: np.ndarray) -> Any:
        request: dict[str, Any] = {"x": np.asarray(x, dtype=np.float64).tolist()}
        if self.names is not None:
            request["names"] = self.names
        budget = min(self.timeout, max(time_left(), 1e-3))
        try:
            done = subprocess.run(self.command, input=json.dumps(request), capture_output=True, text=True,
                                  timeout=budget, cwd=self.cwd, env={**os.environ, **self.env} if self.env else None)
        except subprocess.TimeoutExpired:
            raise QueryTimeout(f"{self.command[0]} ran past {budget:g} s and was killed") from None
        except OSError as exc:
            raise RuntimeError(f"could not start {self.command!r}: {exc}") from None
        if done.returncode != 0:
            raise RuntimeError(f"{self.command[0]} exited with status {done.returncode}; stderr: "
                               f"{done.stderr.strip()[-2000:] or '(empty)'}")
        lines = [line for line in done.stdout.splitlines() if line.strip()]
        if not lines:
            raise RuntimeError(f"{self.command[0]} printed nothing on stdout; stderr: {done.stderr.strip()[-2000:]}")
        try:
            out = json.loads(lines[-1])
        except json.JSONDecodeError as exc:
            raise RuntimeError(f"{self.command[0]} printed {lines[-1][:200]!r}, which is not JSON ({exc})") from None
        if isinstance(out, float) and math.isfinite(out) and out.is_integer():
            return int(out)
        return out

    def config(self) -> dict[str, Any]:
        return {"command": self.command, "timeout": self.timeout, "names": self.names, "cwd": self.cwd}
