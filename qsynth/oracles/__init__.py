"""Oracles: who answers queries. Imports no JAX (worker processes start fast)."""

from qsynth.oracles.base import AsyncOracle, Oracle, ask
from qsynth.oracles.dataset import DatasetOracle
from qsynth.records import Answer, Queries, Status

__all__ = ["Answer", "AsyncOracle", "DatasetOracle", "Oracle", "Queries", "Status", "ask"]
