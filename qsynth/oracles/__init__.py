"""Oracles: who answers queries. Imports no JAX (worker processes start fast).

- `DatasetOracle`: held labels of pool/stream points.
- `FunctionOracle`: a Python function in this process; `ParallelOracle`: the same on an
  Executor (a fault-isolating `WorkerPool` by default, or Dask), answers as they arrive.
- `NearestNeighbourOracle`: the nearest real sample's label, abstaining far from the data.
- `ExternalProgram`: any command (JSON on stdin → JSON on stdout) as a labeling function.
- Wrappers: `NoisyLabels`, `PerQueryCost`, `Budget`.
- `qsynth.oracles.simulators`: projectile, cart-pole, MuJoCo ball-in-cup.
- `qsynth.oracles.teacher.TeacherOracle` (uses JAX; import it from its module).
"""

from qsynth.oracles.base import AsyncOracle, Oracle, ask
from qsynth.oracles.calls import QueryTimeout, time_left
from qsynth.oracles.dataset import DatasetOracle
from qsynth.oracles.external import ExternalProgram
from qsynth.oracles.functions import FunctionOracle
from qsynth.oracles.neighbours import NearestNeighbourOracle
from qsynth.oracles.parallel import ParallelOracle
from qsynth.oracles.workers import WorkerCrashed, WorkerPool
from qsynth.oracles.wrappers import Budget, NoisyLabels, PerQueryCost
from qsynth.records import Answer, Queries, Status

__all__ = ["Answer", "AsyncOracle", "Budget", "DatasetOracle", "ExternalProgram", "FunctionOracle",
           "NearestNeighbourOracle", "NoisyLabels", "Oracle", "ParallelOracle", "PerQueryCost", "Queries",
           "QueryTimeout", "Status", "WorkerCrashed", "WorkerPool", "ask", "time_left"]
