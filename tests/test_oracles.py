"""Oracles: one contract over all of them, then each oracle, wrapper and failure path on its own."""

from __future__ import annotations

import concurrent.futures
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import oracle_tasks
from qsynth.oracles import (Budget, DatasetOracle, ExternalProgram, FunctionOracle, NearestNeighbourOracle,
                            NoisyLabels, ParallelOracle, PerQueryCost, WorkerPool, ask)
from qsynth.oracles.simulators import CartPole, Normalized, Projectile
from qsynth.records import Answer, Queries, Status

HERE = Path(__file__).resolve().parent
EXTERNAL = [sys.executable, str(HERE / "external_sim.py")]


def queries(x: np.ndarray, prefix: str = "q", pool_index: np.ndarray | None = None) -> Queries:
    x = np.asarray(x, np.float32)
    return Queries(tuple(f"{prefix}{i:03d}" for i in range(len(x))), x, np.zeros(len(x)), pool_index=pool_index)


@pytest.fixture(scope="module")
def pool():
    """Two warm worker processes shared by this module's tests (started once, like in a run)."""
    p = WorkerPool(2)
    p.wait_ready()
    yield p
    p.shutdown()


def _sum_labels(x: np.ndarray) -> np.ndarray:
    return (x.reshape(len(x), -1).sum(1) > 0).astype(int)


# ---- the contract ------------------------------------------------------------------------------

def _teacher():
    import jax

    from qsynth.learners.learner import LearnerConfig
    from qsynth.oracles.teacher import TeacherOracle

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (200, 2))
    small = LearnerConfig(model="mlp", hidden=(16,), members=2, steps=100, warm_start=False)
    return TeacherOracle.fit(jax.random.key(0), x, (x.sum(1) > 1).astype(int), (0, 1), config=small)


ORACLES: dict[str, Callable[[WorkerPool], object]] = {
    "dataset": lambda pool: DatasetOracle(np.arange(40) % 2, (0, 1)),
    "function": lambda pool: FunctionOracle(oracle_tasks.sign_label, (0, 1), feature_shape=(2,)),
    "function-vectorized": lambda pool: FunctionOracle(_sum_labels, (0, 1), vectorized=True, feature_shape=(2,)),
    "nearest-neighbour": lambda pool: NearestNeighbourOracle(np.random.default_rng(0).uniform(0, 1, (50, 2)),
                                                             np.arange(50) % 2, (0, 1), max_distance=0.3),
    "projectile": lambda pool: FunctionOracle(Normalized(Projectile()), (0, 1), feature_shape=(2,)),
    "cartpole": lambda pool: FunctionOracle(Normalized(CartPole()), (0, 1), feature_shape=(2,)),
    "parallel-worker-pool": lambda pool: ParallelOracle(oracle_tasks.sign_label, (0, 1), executor=pool,
                                                        timeout=10, feature_shape=(2,)),
    "parallel-projectile": lambda pool: ParallelOracle(Normalized(Projectile()), (0, 1), executor=pool,
                                                       feature_shape=(2,)),
    "parallel-threads": lambda pool: ParallelOracle(oracle_tasks.sign_label, (0, 1),
                                                    executor=concurrent.futures.ThreadPoolExecutor(2),
                                                    feature_shape=(2,)),
    "external-program": lambda pool: ParallelOracle(ExternalProgram(EXTERNAL, timeout=20), (0, 1),
                                                    executor=concurrent.futures.ThreadPoolExecutor(2),
                                                    feature_shape=(2,)),
    "noisy": lambda pool: NoisyLabels(FunctionOracle(oracle_tasks.sign_label, (0, 1), feature_shape=(2,)), 0.3),
    "cost": lambda pool: PerQueryCost(FunctionOracle(oracle_tasks.sign_label, (0, 1), feature_shape=(2,)),
                                      lambda x: 1.0 + float(x[0])),
    "budget": lambda pool: Budget(FunctionOracle(oracle_tasks.sign_label, (0, 1), feature_shape=(2,)),
                                  max_queries=5),
    "noisy-parallel": lambda pool: NoisyLabels(ParallelOracle(oracle_tasks.sign_label, (0, 1), executor=pool,
                                                              reuse_answers=False, feature_shape=(2,)), 0.2),
    "teacher": lambda pool: _teacher(),
}


def _check_answers(answers: list, q: Queries, classes: tuple[int, ...]) -> None:
    assert [a.query_id for a in answers] == list(q.query_id)
    for a in answers:
        assert isinstance(a, Answer) and isinstance(a.status, Status)
        assert math.isfinite(a.cost) and a.cost >= 0
        if a.status is Status.OK:
            assert a.label in classes
        else:
            assert a.label is None
        if a.status is Status.FAILED:
            assert a.error and a.error.startswith(f"query {a.query_id}:"), a.error


@pytest.mark.parametrize("name", sorted(ORACLES))
def test_every_oracle_keeps_the_contract(name, pool):
    oracle = ORACLES[name](pool)
    rng = np.random.default_rng(1)
    x = rng.uniform(0.0, 0.99, (8, 2))
    q = queries(x, pool_index=np.arange(8))
    answers = ask(oracle, q, (0, 1))
    _check_answers(answers, q, (0, 1))
    assert sum(a.status is Status.OK for a in answers) >= (5 if name == "budget" else 1)
    # the synchronous form gives the same kind of answers, in query order
    q2 = queries(rng.uniform(0.0, 0.99, (4, 2)), prefix="s", pool_index=np.arange(4))
    _check_answers(oracle.label(q2), q2, (0, 1))
    if name == "dataset":
        return  # answers from held labels by pool_index, never reads x
    # a non-finite query and a wrong-shaped batch are FAILED answers, never exceptions
    bad = x[:3].copy()
    bad[1, 0] = np.nan
    qb = queries(bad, prefix="nan")
    got = ask(oracle, qb, (0, 1))
    _check_answers(got, qb, (0, 1))
    if name != "budget":
        assert got[1].status is Status.FAILED
        assert got[0].status is not Status.FAILED and got[2].status is not Status.FAILED
    qs = queries(np.zeros((2, 3)), prefix="shape")
    got = ask(oracle, qs, (0, 1))
    _check_answers(got, qs, (0, 1))
    assert all(a.status is Status.FAILED for a in got)
    if hasattr(oracle, "close"):
        oracle.close()


# ---- failure paths in worker processes ------------------------------------------------------

def test_each_failure_mode_becomes_a_failed_answer_naming_its_query(pool):
    modes = [0, 1, 2, 3, 4, 5, 6, 7]
    x = np.array([[m, 1.0] for m in modes])
    oracle = ParallelOracle(oracle_tasks.misbehave, (0, 1), executor=pool, timeout=1.0)
    restarts = pool.restarts
    got = {a.query_id: a for a in ask(oracle, queries(x), (0, 1))}
    status = [got[f"q{i:03d}"].status for i in range(len(modes))]
    assert status == [Status.OK] + [Status.FAILED] * 7
    err = [got[f"q{i:03d}"].error for i in range(len(modes))]
    assert "RuntimeError: simulator exploded" in err[1] and "Traceback" in err[1]
    assert "timeout" in err[2] and "timeout" in err[3] and "killed" in err[3]
    assert "worker crashed" in err[4] and "exit code 3" in err[4]
    assert "non-finite output value" in err[5]
    assert "outside the class set" in err[6]
    assert "returned None" in err[7]
    assert pool.restarts == restarts + 2  # the crashed and the unkillable workers were replaced
    # the pool still works
    assert [a.label for a in oracle.label(queries(np.array([[0, 1.0], [0, -1.0]]), "after"))] == [1, 0]


def test_a_hung_query_does_not_hold_back_the_rest_of_its_batch(pool):
    """One query hangs where no signal reaches it; all other answers arrive within timeout + 1 s."""
    timeout = 1.0
    x = np.array([[3, 1.0]] + [[0, (-1) ** i * (i + 1.0)] for i in range(20)])
    oracle = ParallelOracle(oracle_tasks.misbehave, (0, 1), executor=pool, timeout=timeout)
    arrived = {}
    t0 = time.monotonic()
    ask(oracle, queries(x), (0, 1), on_answer=lambda a: arrived.setdefault(a.query_id, (time.monotonic() - t0, a)))
    others = [t for q, (t, a) in arrived.items() if q != "q000"]
    assert len(others) == 20 and all(arrived[q][1].status is Status.OK for q in arrived if q != "q000")
    assert max(others) < timeout + 1.0
    assert arrived["q000"][1].status is Status.FAILED and arrived["q000"][0] < timeout + 1.5


def test_retries_rerun_a_query_that_raised(pool, tmp_path):
    x = np.array([[0.5, 0.0], [-0.5, 0.0]])
    once = ParallelOracle(oracle_tasks.FlakyOnce(str(tmp_path / "a")), (0, 1), executor=pool, retries=1)
    (tmp_path / "a").mkdir()
    assert [a.label for a in once.label(queries(x))] == [1, 0]
    never = ParallelOracle(oracle_tasks.FlakyOnce(str(tmp_path / "b")), (0, 1), executor=pool, retries=0)
    (tmp_path / "b").mkdir()
    assert all(a.status is Status.FAILED and "first attempt fails" in a.error for a in never.label(queries(x)))


def test_a_crashed_worker_is_retried_and_reported_with_every_attempt(pool):
    oracle = ParallelOracle(oracle_tasks.misbehave, (0, 1), executor=pool, retries=2)
    (a,) = oracle.label(queries(np.array([[4, 1.0]])))
    assert a.status is Status.FAILED and "after 3 attempts" in a.error and a.error.count("exit code 3") == 3


def test_the_same_query_or_point_is_never_asked_twice(tmp_path, pool):
    oracle = ParallelOracle(oracle_tasks.sign_label, (0, 1), executor=pool)
    q = queries(np.array([[1.0, 1.0], [1.0, 1.0], [-1.0, 0.0]]))
    oracle.submit(q)
    oracle.submit(q)  # resubmitting in-flight ids asks nothing new
    assert sorted(oracle.pending) == ["q000", "q001", "q002"]
    assert len(oracle._inflight) == 2  # q001 has q000's point: it waits for q000's answer
    got = {}
    while oracle.pending:
        got.update({a.query_id: a for a in oracle.collect(timeout=5)})
    assert got["q000"].label == got["q001"].label == 1 and got["q001"].cost == 0.0 and got["q000"].cost == 1.0
    again = oracle.label(queries(np.array([[1.0, 1.0]]), "again"))[0]  # a deterministic oracle answers from memory
    assert again.label == 1 and again.cost == 0.0 and not oracle._inflight


def test_threads_and_in_process_functions_time_out_too():
    # a main-thread call is interrupted by SIGALRM
    oracle = FunctionOracle(oracle_tasks.misbehave, (0, 1), timeout=0.3, in_worker=False)
    t0 = time.monotonic()
    a, b = oracle.label(queries(np.array([[2, 1.0], [0, 1.0]])))
    assert a.status is Status.FAILED and "timeout" in a.error and b.label == 1
    assert time.monotonic() - t0 < 2.0
    # a thread pool cannot interrupt a sleeping task: it is abandoned after timeout + grace
    with concurrent.futures.ThreadPoolExecutor(3) as threads:
        oracle = ParallelOracle(oracle_tasks.misbehave, (0, 1), executor=threads, timeout=0.3, grace=0.2)
        t0 = time.monotonic()
        got = oracle.label(queries(np.array([[8, 1.0], [0, 1.0], [0, -1.0]])))
        assert [g.status for g in got] == [Status.FAILED, Status.OK, Status.OK]
        assert "abandoned" in got[0].error and time.monotonic() - t0 < 1.5


def test_simulators_stop_themselves_at_the_deadline_where_no_signal_reaches():
    slow = Projectile(max_time=1e9, dt=1e-7)  # would fly for hours at this step
    with concurrent.futures.ThreadPoolExecutor(1) as threads:
        oracle = ParallelOracle(slow, (0, 1), executor=threads, timeout=0.3)
        t0 = time.monotonic()
        (a,) = oracle.label(queries(np.array([[45.0, 5.0]])))
    assert a.status is Status.FAILED and "out of time" in a.error and time.monotonic() - t0 < 1.5


def test_worker_pool_is_an_executor_that_survives_crashes():
    with WorkerPool(1) as pool:
        crash = pool.submit(os._exit, 5)
        fine = pool.submit(sum, [1, 2, 3])
        with pytest.raises(Exception, match="exit code 5"):
            crash.result(timeout=30)
        assert fine.result(timeout=30) == 6
        assert pool.submit(pow, 2, 10).result(timeout=30) == 1024
        with pytest.raises(TypeError):
            pool.submit(pow, "a", 2).result(timeout=30)
        with pytest.raises(Exception):
            pool.submit(lambda: 1)  # not picklable: refused in the caller, at once


def test_worker_processes_are_pinned_to_one_thread(pool):
    env = pool.submit(oracle_tasks.environment).result(timeout=30)
    assert env["OMP_NUM_THREADS"] == "1" and "intra_op_parallelism_threads=1" in env["XLA_FLAGS"]


# ---- single oracles ---------------------------------------------------------------------------

def test_function_oracle_vectorized_checks_what_comes_back():
    bad = FunctionOracle(lambda x: np.zeros(len(x) + 1, int), (0, 1), vectorized=True)
    assert all(a.status is Status.FAILED and "must return [3] labels" in a.error
               for a in bad.label(queries(np.zeros((3, 2)))))
    good = FunctionOracle(lambda x: (_sum_labels(x), x.sum(1)), (0, 1), vectorized=True)
    got = good.label(queries(np.array([[1.0, 1.0], [-1.0, 0.0]])))
    assert [(a.label, a.value) for a in got] == [(1, 2.0), (0, -1.0)]
    with pytest.raises(ValueError, match="timeout"):
        FunctionOracle(_sum_labels, (0, 1), vectorized=True, timeout=1.0)


def test_function_oracle_accepts_every_answer_form():
    forms = {0: 1, 1: True, 2: (0, 0.5), 3: {"label": 1, "value": 2.0}, 4: {"status": "abstain", "error": "blurry"},
             5: np.int64(1), 6: 1.0, 7: {"status": "failed", "error": "diverged"}, 8: {"labl": 1}, 9: "one"}
    oracle = FunctionOracle(lambda x: forms[int(x[0])], (0, 1))
    got = oracle.label(queries(np.array([[k, 0.0] for k in forms])))
    assert [a.status.value for a in got] == ["ok"] * 4 + ["abstain"] + ["ok"] * 2 + ["failed"] * 3
    assert [a.label for a in got[:4]] == [1, 1, 0, 1] and got[2].value == 0.5 and got[4].error == "blurry"
    assert "diverged" in got[7].error and "unknown keys ['labl']" in got[8].error and "not an integer" in got[9].error


def test_nearest_neighbour_matches_brute_force_and_abstains_off_the_data():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(300, 4)), rng.integers(0, 3, 300)
    oracle = NearestNeighbourOracle(x, y, (0, 1, 2), max_distance=1.0, chunk=64)
    q = (rng.normal(size=(100, 4)) * 1.3).astype(np.float32)
    dist = np.linalg.norm(q[:, None] - x[None], axis=-1)
    got = oracle.label(queries(q))
    for i, a in enumerate(got):
        assert a.value == pytest.approx(dist[i].min(), abs=1e-9)
        if dist[i].min() > 1.0:
            assert a.status is Status.ABSTAIN
        else:
            assert a.status is Status.OK and a.label == y[dist[i].argmin()]
    assert {a.status for a in got} == {Status.OK, Status.ABSTAIN}
    with pytest.raises(ValueError, match=r"labels \[5\] are not in the class set"):
        NearestNeighbourOracle(x[:2], np.array([0, 5]), (0, 1))


# ---- wrappers ---------------------------------------------------------------------------------

def test_noisy_labels_flip_at_the_given_rate_the_same_way_every_time():
    base = FunctionOracle(lambda x: 1, (0, 1))
    x = np.zeros((2000, 1))
    labels = np.array([a.label for a in NoisyLabels(base, 0.2, seed=7).label(queries(x))])
    flipped = np.mean(labels == 0)
    assert abs(flipped - 0.2) < 4 * math.sqrt(0.2 * 0.8 / 2000)
    again = np.array([a.label for a in NoisyLabels(base, 0.2, seed=7).label(queries(x[::-1]))])
    assert np.array_equal(labels, again)  # the noise of a query depends on its id, not on order
    three = NoisyLabels(FunctionOracle(lambda x: 2, (0, 1, 2)), 1.0, seed=0).label(queries(x[:300]))
    counts = np.bincount([a.label for a in three], minlength=3)
    assert counts[2] == 0 and min(counts[:2]) > 100  # always another class, uniformly


def test_per_query_cost_and_budget():
    base = FunctionOracle(lambda x: 1, (0, 1))
    priced = PerQueryCost(base, lambda x: 2.0 * float(x[0]))
    assert [a.cost for a in priced.label(queries(np.array([[1.0], [3.0]])))] == [2.0, 6.0]
    bad = PerQueryCost(base, lambda x: -1.0).label(queries(np.array([[1.0]])))[0]
    assert bad.status is Status.FAILED and "cost" in bad.error
    capped = Budget(base, max_queries=3)
    got = capped.label(queries(np.zeros((2, 1)), "a")) + capped.label(queries(np.zeros((2, 1)), "b"))
    assert [a.status for a in got] == [Status.OK] * 3 + [Status.FAILED]
    assert "budget exhausted" in got[3].error and got[3].cost == 0.0
    by_cost = Budget(PerQueryCost(base, 2.5), max_cost=5.0)
    assert [a.status for a in by_cost.label(queries(np.zeros((2, 1)), "c"))] == [Status.OK] * 2
    assert by_cost.label(queries(np.zeros((1, 1)), "d"))[0].status is Status.FAILED
    with pytest.raises(ValueError, match="max_queries, max_cost"):
        Budget(base)


# ---- external programs ------------------------------------------------------------------------

def test_external_program_answers_and_failures():
    program = ExternalProgram(EXTERNAL, timeout=1.0, names=["mode", "v"])
    oracle = FunctionOracle(program, (0, 1))
    x = np.array([[0, 2.5], [1, 0], [2, 0], [3, 0], [4, 0], [5, -1.0]])
    t0 = time.monotonic()
    got = oracle.label(queries(x))
    assert time.monotonic() - t0 < 10
    assert (got[0].status, got[0].label, got[0].value) == (Status.OK, 1, 2.5)
    assert got[1].status is Status.FAILED and "status 2" in got[1].error and "solver diverged" in got[1].error
    assert got[2].status is Status.FAILED and "not JSON" in got[2].error
    assert got[3].status is Status.FAILED and "timeout" in got[3].error
    assert got[4].status is Status.ABSTAIN and got[4].error == "mesh too coarse"
    assert (got[5].status, got[5].label) == (Status.OK, 0)
    with pytest.raises(ValueError, match="list of strings"):
        ExternalProgram("python sim.py")


def test_an_external_program_does_not_inherit_the_blas_counts_qsynth_set_for_itself(monkeypatch):
    """`qsynth run` gives its own BLAS one thread (`one_blas_thread`); a simulator program it
    starts gets the environment the user gave, not that, and `env` still sets what it says."""
    from qsynth import _parallel

    probe = [sys.executable, "-c", "import json, os; print(json.dumps([os.environ.get('OPENBLAS_NUM_THREADS'), "
                                   "os.environ.get('MKL_NUM_THREADS')]))"]
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.setenv("MKL_NUM_THREADS", "7")  # (the user's own)
    monkeypatch.setattr(_parallel, "_SET_HERE", {"OPENBLAS_NUM_THREADS"})  # (as one_blas_thread leaves it)
    assert ExternalProgram(probe)(np.zeros(1)) == [None, "7"]
    assert ExternalProgram(probe, env={"OPENBLAS_NUM_THREADS": "4"})(np.zeros(1)) == ["4", "7"]
    monkeypatch.setattr(_parallel, "_SET_HERE", set())
    assert ExternalProgram(probe)(np.zeros(1)) == ["1", "7"]


def test_oracle_modules_import_without_jax():
    code = ("import sys, qsynth.oracles, qsynth.oracles.simulators, qsynth.oracles.region; "
            "print('jax' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_dask_cluster_labels_in_parallel():
    """`Client.get_executor()` is an Executor: the same oracle runs on a local Dask cluster."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        oracle = ParallelOracle(Normalized(Projectile()), (0, 1), executor=client.get_executor(), timeout=10)
        u = np.random.default_rng(0).uniform(0, 1, (16, 2))
        got = oracle.label(queries(u))
        serial = FunctionOracle(Normalized(Projectile()), (0, 1)).label(queries(u))
        assert [(a.status, a.label, a.value) for a in got] == [(a.status, a.label, a.value) for a in serial]
        raising = ParallelOracle(oracle_tasks.misbehave, (0, 1), executor=client.get_executor(), timeout=10)
        a, b = raising.label(queries(np.array([[1, 1.0], [0, -1.0]])))
        assert a.status is Status.FAILED and "simulator exploded" in a.error and b.label == 0


def test_function_oracle_runs_jax_functions_per_query_and_vectorized():
    import jax
    import jax.numpy as jnp

    w = jnp.asarray([1.0, -2.0])

    @jax.jit
    def margin(x):
        return jnp.dot(jnp.asarray(x, jnp.float32), w)

    per_query = FunctionOracle(lambda x: (margin(x) > 0, margin(x)), (0, 1))
    batch = FunctionOracle(lambda xs: (jax.vmap(margin)(xs) > 0, jax.vmap(margin)(xs)), (0, 1), vectorized=True)
    x = np.array([[3.0, 1.0], [0.0, 1.0], [1.0, 0.25]])
    for oracle in (per_query, batch):
        got = oracle.label(queries(x))
        assert [a.label for a in got] == [1, 0, 1]
        assert [a.value for a in got] == pytest.approx([1.0, -2.0, 0.5])


def _batch(modes):
    return Queries(tuple(f"q{i}" for i in range(len(modes))), np.asarray([[m, 0.0] for m in modes], np.float32),
                   np.zeros(len(modes)))


def test_sys_exit_or_keyboard_interrupt_inside_a_task_fails_that_query_only(pool):
    """A simulator's sys.exit() or its own KeyboardInterrupt is that query's FAILED answer, in this
    process and in a worker; the other queries are answered."""
    for oracle in (FunctionOracle(oracle_tasks.quits, (0, 1)), ParallelOracle(oracle_tasks.quits, (0, 1), executor=pool)):
        answers = ask(oracle, _batch([0, 1, 2, 0]), (0, 1))
        assert [a.status for a in answers] == [Status.OK, Status.FAILED, Status.FAILED, Status.OK]
        assert "SystemExit(3)" in answers[1].error and "KeyboardInterrupt" in answers[2].error


def test_a_real_ctrl_c_during_a_task_still_stops_the_run():
    import signal

    def interrupted(x):
        os.kill(os.getpid(), signal.SIGINT)  # the person at the keyboard presses Ctrl-C
        time.sleep(5)
        return 1

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            FunctionOracle(interrupted, (0, 1)).label(_batch([0]))
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is given back
    finally:
        signal.signal(signal.SIGINT, previous)
