"""Test configuration: strict JAX promotion, pinned threads, a shared persistent compile cache,
a per-test `key`, a hypothesis CI profile, and small session-scoped fixtures."""

from __future__ import annotations

import os
import pathlib
import zlib

# Before JAX starts: one XLA/BLAS thread (a 2-core CI box thrashes otherwise) and a persistent
# compilation cache shared by this session and the subprocesses it starts (the CLI tests).
# The suite runs in two pytest-xdist workers (pyproject's addopts), one per core: each worker
# trains ensembles on one thread and keeps its own cache folder (JAX writes cache entries
# without a lock, so two processes must not fill one folder at once).
_ROOT = pathlib.Path(__file__).resolve().parents[1]
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
if _WORKER:
    os.environ.setdefault("QSYNTH_THREADS", "1")
    os.environ.setdefault("QSYNTH_WINDOWS", "1")  # one program per ensemble fit: the suite's numbers on any machine
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(_ROOT / ".jax_cache" / (_WORKER or "main")))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")
os.environ.setdefault("MPLBACKEND", "Agg")

import jax  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")

settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def key(request: pytest.FixtureRequest) -> jax.Array:
    """A PRNG key seeded from the test's node id: stable per test, different between tests."""
    return jax.random.key(zlib.crc32(request.node.nodeid.encode()))
