"""`ExternalProgram`: any command as a labeling function — how a user plugs in their own simulator binary.

For each query the command is started, reads one JSON object on stdin,

    {"x": [0.25, 4.0], "names": ["angle_deg", "speed_m_s"]}

and writes its answer as JSON on stdout (the last non-empty line counts; anything before
it is ignored, so the program may print progress):

    1                                   a label
    {"label": 1, "value": 2.03}         a label and a raw output
    {"status": "abstain", "error": "…"} can't tell
    {"status": "failed", "error": "…"}  the program knows it failed

A non-zero exit status, output that is not JSON, or running past `timeout` is a FAILED
answer with the program's stderr. Each program runs in a process group of its own, and a
timeout or an interruption kills the whole group: what the program started dies with it.
In a `WorkerPool` worker, the programs also die with the worker and with the run
(`qsynth.oracles.children`). Wrap it in a `ParallelOracle` to run
several at once (a thread pool is enough: the work happens in the subprocesses).
"""

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Sequence
from typing import Any

import numpy as np

from qsynth._parallel import program_environment
from qsynth.oracles import children
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
        returncode, stdout, stderr = self._run(json.dumps(request), budget)
        if returncode != 0:
            raise RuntimeError(f"{self.command[0]} exited with status {returncode}; stderr: "
                               f"{stderr.strip()[-2000:] or '(empty)'}")
        lines = [line for line in stdout.splitlines() if line.strip()]
        if not lines:
            raise RuntimeError(f"{self.command[0]} printed nothing on stdout; stderr: {stderr.strip()[-2000:]}")
        try:
            out = json.loads(lines[-1])
        except json.JSONDecodeError as exc:
            raise RuntimeError(f"{self.command[0]} printed {lines[-1][:200]!r}, which is not JSON ({exc})") from None
        if isinstance(out, float) and math.isfinite(out) and out.is_integer():
            return int(out)
        return out

    def _run(self, request: str, budget: float) -> tuple[int, str, str]:
        """Run the program on `request` in a process group of its own; on a timeout or an
        interruption the whole group is killed (the program's children too), before it is reaped."""
        try:
            proc = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, cwd=self.cwd, start_new_session=True,
                                    env=program_environment(self.env))
        except OSError as exc:
            raise RuntimeError(f"could not start {self.command!r}: {exc}") from None
        children.started(proc.pid)
        try:
            stdout, stderr = proc.communicate(request, timeout=budget)
        except subprocess.TimeoutExpired:
            children.kill_group(proc.pid)
            proc.communicate()
            raise QueryTimeout(f"{self.command[0]} ran past {budget:g} s and was killed (with its process group)") \
                from None
        except BaseException:  # interrupted (a SIGALRM timeout, Ctrl-C): nothing it started may go on
            children.kill_group(proc.pid)
            proc.wait()
            raise
        finally:
            children.ended(proc.pid)
        return proc.returncode, stdout, stderr

    def config(self) -> dict[str, Any]:
        return {"command": self.command, "timeout": self.timeout, "names": self.names, "cwd": self.cwd}
