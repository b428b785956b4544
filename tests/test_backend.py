"""The CPU-only speed-ups are chosen by the backend: off when JAX's default backend is not the CPU."""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qsynth import _parallel, _random
from qsynth.data import LabeledBuffer
from qsynth.learners import LearnerConfig
from qsynth.learners import learner as module


@pytest.fixture
def on_gpu(monkeypatch):
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    monkeypatch.delenv("QSYNTH_THREADS", raising=False)
    monkeypatch.delenv("QSYNTH_WINDOWS", raising=False)


def test_on_cpu_the_speedups_apply(monkeypatch):
    monkeypatch.delenv("QSYNTH_THREADS", raising=False)
    monkeypatch.delenv("QSYNTH_WINDOWS", raising=False)
    assert jax.default_backend() == "cpu"
    assert _parallel.threads() >= 1 and _random._own_stream(jax.random.key(0))
    monkeypatch.setenv("QSYNTH_THREADS", "1")  # pinning the threads does not change the split into windows
    assert _parallel.windows() == len(os.sched_getaffinity(0))


def test_elsewhere_one_thread_and_jax_random(on_gpu):
    assert _parallel.threads() == 1 and _parallel.windows() == 1  # one program per ensemble fit
    key = jax.random.key(3)
    assert not _random._own_stream(key)
    np.testing.assert_array_equal(np.asarray(_random.uniform(key, (5,))), np.asarray(jax.random.uniform(key, (5,))))


def test_elsewhere_a_cnn_trains_in_the_loop_program_not_in_unrolled_blocks(on_gpu, monkeypatch, key):
    def unrolled(*args):
        raise AssertionError("the unrolled CNN blocks are a CPU-only speed-up")

    monkeypatch.setattr(module, "_fit_block", unrolled)
    learner = LearnerConfig(model="cnn", hidden=(4,), members=1, steps=3).build((8, 8, 1), 2)
    buf = LabeledBuffer.empty((8, 8, 1))
    buf.add(np.random.default_rng(0).normal(size=(4, 8, 8, 1)), np.arange(4) % 2, 0)
    state = learner.fit(key, None, buf)
    assert jnp.all(jnp.isfinite(jax.tree.leaves(state.params["net"])[0]))


def _blas_threads_in_fresh_process(code: str, **env: str) -> list[int]:
    """The thread counts of the OpenBLAS libraries NumPy and SciPy load (SciPy's is the one jaxlib
    runs its LAPACK calls through), in a fresh process that first runs `code`."""
    import json
    import subprocess
    import sys

    gone = (*_parallel.BLAS_THREAD_VARIABLES, "OMP_NUM_THREADS")  # (OpenBLAS reads OpenMP's count too)
    clean = {k: v for k, v in os.environ.items() if k not in gone}
    probe = (code + "\nimport json, numpy, scipy.linalg\nfrom threadpoolctl import threadpool_info\n"
             "print(json.dumps([i['num_threads'] for i in threadpool_info() if i['internal_api'] == 'openblas']))")
    out = subprocess.run([sys.executable, "-c", probe], env={**clean, **env}, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(_parallel.usable_cores() < 2, reason="OpenBLAS uses one thread on one core anyway")
def test_one_blas_thread_before_numpy_loads_gives_every_openblas_one_thread(monkeypatch):
    """`qsynth run` gives NumPy's and SciPy's OpenBLAS one thread (their threads spun after each
    GP Cholesky and took XLA's cores: the default job 14% slower); a count the user set is kept,
    and once NumPy has loaded it changes nothing and says so."""
    unset = _blas_threads_in_fresh_process("")
    assert len(unset) >= 1 and max(unset) >= 2  # (what a process gets without it: a thread per core)
    assert _blas_threads_in_fresh_process("from qsynth import _parallel\nassert _parallel.one_blas_thread()") \
        == [1] * len(unset)
    assert _blas_threads_in_fresh_process("from qsynth import _parallel\n_parallel.one_blas_thread()",
                                          OPENBLAS_NUM_THREADS="2") == [2] * len(unset)
    late = "import numpy\nfrom qsynth import _parallel\nassert not _parallel.one_blas_thread()"
    assert _blas_threads_in_fresh_process(late) == unset
    from qsynth import cli

    called = []
    monkeypatch.setattr(_parallel, "one_blas_thread", lambda: called.append(True))
    monkeypatch.setattr(cli, "_prestart_workers", lambda args: called.append("workers"))
    assert cli.main(["list"]) == 0
    assert called[:2] == [True, "workers"]  # (first of all, before anything loads NumPy)
