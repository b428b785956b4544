"""The last ways to corrupt a run or be misled by one (issue 17): one writer even under
--overwrite, checkpoints that must prove they belong to their run, runs where every answer failed."""

from __future__ import annotations

import json
import shutil

import pytest

from qsynth.config import ConfigError, parse_config
from qsynth.experiments.runner import resume_experiment, run_experiment
from qsynth.store import CheckpointError, RunLock, load_checkpoint, read_label_log
from qsynth.session_state import ResumeMismatch

TABLE = {
    "name": "x", "seeds": [0, 1], "targets": [0.8],
    "data": {"name": "moons", "args": {"n": 60, "n_test": 60}},
    "learner": {"hidden": [8], "members": 2, "steps": 10, "warm_steps": 3},
    "loop": {"budget": 6, "seed_size": 2, "fsync": False},
    "strategies": [{"kind": "random"}, {"kind": "uncertainty"}],
}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished two-strategy, two-seed run (copied by each test that changes it)."""
    out = tmp_path_factory.mktemp("finished")
    return run_experiment(parse_config(TABLE), out, progress=False, plots=False).path


def _copy(run, tmp_path):
    return shutil.copytree(run, tmp_path / run.name)


# ---- item 1: --overwrite never moves a run that another process is writing -------------------------

def test_overwrite_is_refused_while_another_process_writes_the_run(finished_run, tmp_path):
    run = _copy(finished_run, tmp_path)
    with RunLock(run):  # a live writer (flock conflicts across open files, even in one process)
        with pytest.raises(RuntimeError, match="is being written by pid"):
            run_experiment(parse_config(TABLE), tmp_path, progress=False, plots=False, overwrite=True)
    assert not list(tmp_path.glob("x.replaced-*")), "the live run was moved aside under its writer"
    assert (run / "random" / "seed-0" / "metrics.csv").exists()
    run_experiment(parse_config(TABLE), tmp_path, progress=False, plots=False, overwrite=True)  # no writer: moved
    assert len(list(tmp_path.glob("x.replaced-*"))) == 1


# ---- item 2: a finished checkpoint must prove it belongs to its log and run -------------------------

def test_resume_refuses_another_strategys_checkpoint(finished_run, tmp_path):
    run = _copy(finished_run, tmp_path)
    target = run / "entropy" / "seed-0" / "checkpoint"
    shutil.rmtree(target)
    shutil.copytree(run / "random" / "seed-0" / "checkpoint", target)
    with pytest.raises(CheckpointError, match=r"belongs to another run: config .*, strategy 'random' "
                                              r"\(this run: 'entropy'\); it was copied or moved here"):
        resume_experiment(run, progress=False, plots=False)


def test_resume_refuses_another_seeds_checkpoint(finished_run, tmp_path):
    run = _copy(finished_run, tmp_path)
    target = run / "random" / "seed-0" / "checkpoint"
    shutil.rmtree(target)
    shutil.copytree(run / "random" / "seed-1" / "checkpoint", target)
    with pytest.raises(ResumeMismatch, match="another root key"):
        resume_experiment(run, progress=False, plots=False)


def test_resume_refuses_a_checkpoint_of_another_config(finished_run, tmp_path):
    run = _copy(finished_run, tmp_path)
    config = (run / "config.toml").read_text()
    (run / "config.toml").write_text(config.replace("budget = 6", "budget = 8"))
    with pytest.raises(CheckpointError, match=r"belongs to another run: config '[0-9a-f]{16}' \(this run: "):
        resume_experiment(run, progress=False, plots=False)


def test_resume_refuses_a_finished_checkpoint_that_disagrees_with_its_log(finished_run, tmp_path):
    run = _copy(finished_run, tmp_path)
    log = run / "random" / "seed-0" / "labels.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:-2]))  # the last query and answer cut off
    with pytest.raises(CheckpointError, match="covers 12 label-log records but the log holds only 10"):
        resume_experiment(run, progress=False, plots=False)
    # records written after the run's final checkpoint
    log.write_text("".join(lines) + json.dumps({"kind": "retract", "query_id": "r0004-q00"}) + "\n")
    with pytest.raises(CheckpointError, match="records were added after the run ended"):
        resume_experiment(run, progress=False, plots=False)


def test_a_checkpoint_whose_last_query_is_not_the_logs_is_refused(finished_run, tmp_path):
    run = _copy(finished_run, tmp_path)
    log = run / "random" / "seed-0" / "labels.jsonl"
    records = read_label_log(log)
    last = records[-1]["query_id"]
    records[-2]["query_id"] = records[-1]["query_id"] = "r0009-q00"  # same counts, another query
    log.write_text("".join(json.dumps(r) + "\n" for r in records))
    with pytest.raises(CheckpointError, match=f"written after query '{last}' but the label log holds 'r0009-q00'"):
        resume_experiment(run, progress=False, plots=False)


def test_checkpoints_name_their_run_and_an_intact_run_resumes(finished_run, tmp_path):
    run = _copy(finished_run, tmp_path)
    _, meta = load_checkpoint(run / "entropy" / "seed-1" / "checkpoint")
    assert meta["run"]["strategy"] == "entropy" and meta["run"]["seed"] == 1
    assert meta["last_query_id"] == read_label_log(run / "entropy" / "seed-1" / "labels.jsonl")[-1][
        "query_id"]
    result = resume_experiment(run, progress=False, plots=False)  # nothing to do: every run finished
    assert result.results == {}


# ---- item 4: a run whose every answer failed says so, in the table and the exit status ------------

FAILING = """
name = "fails"
seeds = [0]
[data]
name = "box"
args = {bounds = [[-1.0, 1.0], [-1.0, 1.0]], reference = "tests.oracle_tasks:sign_label", grid = 10}
[oracle]
kind = "function"
function = "tests.oracle_tasks:explodes"
[learner]
hidden = [8]
members = 2
steps = 10
[loop]
budget = 8
seed_size = 4
fsync = false
[[strategies]]
kind = "random"
"""


def test_a_run_whose_every_answer_failed_says_so_and_exits_nonzero(tmp_path, capsys):
    from qsynth.cli import main

    (tmp_path / "fails.toml").write_text(FAILING)
    code = main(["run", str(tmp_path / "fails.toml"), "--out", str(tmp_path), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "warning: random: 1 of 1 seeds got no usable label" in out
    assert "failed" in out.splitlines()[0] and "100%" in out.splitlines()[2]
    assert "runs that never got a usable label, because every answer failed or abstained: random (1 seed)" in err
    assert "--allow-failures" in err
    assert main(["run", "--resume", str(tmp_path / "fails"), "--quiet", "--allow-failures"]) == 0


# ---- item 6: no process outlives its query, its worker or its run ---------------------------------

def _processes_with(marker: str) -> list[int]:
    """Live (not zombie) processes whose command line contains `marker`."""
    import os
    from pathlib import Path

    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z":
            found.append(int(proc.name))
    return found


def _gone(marker: str, within: float = 5.0) -> list[int]:
    import time

    end = time.monotonic() + within
    while (left := _processes_with(marker)) and time.monotonic() < end:
        time.sleep(0.05)
    return left


def test_a_program_that_times_out_is_killed_with_its_children():
    import numpy as np

    from qsynth.oracles import ExternalProgram, QueryTimeout

    marker = "31.4159"  # a shell that starts two sleeps of its own, then waits
    program = ExternalProgram(["sh", "-c", f"sleep {marker} & sleep {marker}; wait"], timeout=0.5)
    with pytest.raises(QueryTimeout, match="killed"):
        program(np.zeros(2))
    assert _gone(f"sleep {marker}") == []


def test_a_worker_killed_at_its_deadline_takes_its_programs_along():
    import numpy as np

    from qsynth.oracles import ExternalProgram, WorkerPool

    marker = "32.7182"
    program = ExternalProgram(["sh", "-c", f"sleep {marker} & sleep {marker}; wait"], timeout=600)
    with WorkerPool(1) as pool:
        future = pool.submit_with_deadline(1.0, program, np.zeros(2))
        with pytest.raises(TimeoutError, match="deadline"):
            future.result(timeout=60)
        assert _gone(f"sleep {marker}") == []


_DRIVER = """
import sys, time
import numpy as np
from qsynth.oracles import ExternalProgram, ParallelOracle
from qsynth.records import Queries
program = ExternalProgram(["sh", "-c", "sleep {marker} & sleep {marker}; wait"], timeout=600)
oracle = ParallelOracle(program, (0, 1), workers=2)
oracle.submit(Queries(("a", "b"), np.asarray([[0.0, 0.0], [1.0, 1.0]], np.float32), np.zeros(2)))
print(" ".join(str(w.process.pid) for w in oracle.executor._workers), flush=True)
time.sleep(600)
"""


def test_after_sigkill_of_the_run_its_workers_and_programs_exit():
    import os
    import signal
    import subprocess
    import sys
    import time

    marker = "33.1415"
    driver = subprocess.Popen([sys.executable, "-c", _DRIVER.format(marker=marker)], stdout=subprocess.PIPE, text=True)
    try:
        workers = [int(p) for p in driver.stdout.readline().split()]
        end = time.monotonic() + 60
        while len(_processes_with(f"sleep {marker}")) < 4 and time.monotonic() < end:  # both programs running
            time.sleep(0.05)
        assert len(_processes_with(f"sleep {marker}")) == 4
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    assert _gone(f"sleep {marker}") == []
    end = time.monotonic() + 5
    alive = workers
    while alive and time.monotonic() < end:
        alive = [p for p in workers if os.path.exists(f"/proc/{p}") and
                 open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"]
        time.sleep(0.05)
    assert alive == [], f"worker processes {alive} outlived the run"


# ---- item 7: a timeout stops even a function that blocks signals ------------------------------------

def test_a_function_oracle_with_a_timeout_runs_in_a_worker_that_is_killed_at_the_deadline():
    import time

    import numpy as np

    from qsynth.oracles import FunctionOracle
    from qsynth.records import Queries, Status
    from tests import oracle_tasks

    # x[0] == 3 blocks SIGALRM and sleeps an hour: in this process no timeout could stop it
    with FunctionOracle(oracle_tasks.misbehave, (0, 1), feature_shape=(2,), timeout=0.5) as oracle:
        assert oracle.in_worker
        oracle.label(Queries(("warm",), np.asarray([[0.0, 1.0]], np.float32), np.zeros(1)))  # the worker starts
        t0 = time.monotonic()
        stuck, fine, nan = oracle.label(Queries(("q0", "q1", "q2"), np.asarray([[3, 1.0], [0, 1.0], [np.nan, 0]],
                                                                               np.float32), np.zeros(3)))
        took = time.monotonic() - t0
    assert stuck.status is Status.FAILED and "timeout" in stuck.error
    assert fine.status is Status.OK and fine.label == 1
    assert nan.status is Status.FAILED and "non-finite" in nan.error
    assert took < 10.0, f"the stuck query took {took:.1f} s"


def test_an_unpicklable_function_with_a_timeout_stays_here_and_says_so():
    from qsynth.oracles import FunctionOracle

    with pytest.warns(UserWarning, match="cannot be pickled, so it runs in this process"):
        oracle = FunctionOracle(lambda x: 1, (0, 1), timeout=1.0)
    assert not oracle.in_worker
    with pytest.raises(ValueError, match="in_worker needs a picklable fn"):
        FunctionOracle(lambda x: 1, (0, 1), timeout=1.0, in_worker=True)
    assert not FunctionOracle(lambda x: 1, (0, 1)).in_worker  # no timeout: here


def test_a_config_with_a_timeout_and_no_workers_runs_its_function_in_one_worker(tmp_path):
    from qsynth.experiments.oracles import RunOracles
    from qsynth.experiments.runner import build_dataset
    from qsynth.oracles import ParallelOracle, WorkerPool

    table = {**TABLE, "seeds": [0], "strategies": [{"kind": "random"}],
             "data": {"name": "box", "args": {"bounds": [[-1.0, 1.0], [-1.0, 1.0]],
                                              "reference": "tests.oracle_tasks:sign_label", "grid": 10}},
             "oracle": {"kind": "function", "function": "tests.oracle_tasks:sign_label", "timeout": 5.0}}
    config = parse_config(table)
    with RunOracles(config, tmp_path) as make:
        oracle = make(build_dataset(config, 0), 0)
        assert isinstance(oracle, ParallelOracle) and isinstance(oracle.executor, WorkerPool)
        assert oracle.executor.size == 1
    assert "one worker, because a timeout is set" in (tmp_path / "oracle.json").read_text()


# ---- item 9: the labeling page is closed to other origins and cannot be starved of threads ---------

TOKEN = "t" * 32


def _page(**kwargs):
    from qsynth.oracles.human import HumanSession, LabelingServer

    return LabelingServer(HumanSession((0, 1), lambda x: {"kind": "vector", "values": list(map(float, x))}),
                          TOKEN, **kwargs)


def _raw(port: int, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, dict, bytes]:
    """One request with exactly these headers (http.client adds no Host of its own here)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    for k, v in headers.items():
        conn.putheader(k, v)
    conn.endheaders(body or None)
    r = conn.getresponse()
    out = (r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    conn.close()
    return out


def test_the_page_refuses_other_hosts_dns_rebinding():
    server = _page()
    try:
        ok = {"Host": f"127.0.0.1:{server.port}", "X-Token": TOKEN}
        assert _raw(server.port, "GET", "/api/state", ok)[0] == 200
        assert _raw(server.port, "GET", "/api/state", {**ok, "Host": f"localhost:{server.port}"})[0] == 200
        status, _, body = _raw(server.port, "GET", "/api/state", {**ok, "Host": f"evil.example.com:{server.port}"})
        assert status == 403 and b"is not this page's" in body
        assert _raw(server.port, "GET", "/api/state", {**ok, "Host": "127.0.0.1:1"})[0] == 403  # another port
        assert _raw(server.port, "GET", "/api/state", {"X-Token": TOKEN})[0] == 403  # no Host at all
    finally:
        server.close()


def test_the_page_refuses_cross_origin_and_non_json_posts():
    server = _page()
    try:
        base = {"Host": f"127.0.0.1:{server.port}", "X-Token": TOKEN, "Content-Type": "application/json",
                "Content-Length": "2"}
        status, _, body = _raw(server.port, "POST", "/api/undo", {**base, "Origin": "http://evil.example.com"}, b"{}")
        assert status == 403 and b"another origin" in body
        plain = {**base, "Content-Type": "text/plain"}  # what a cross-site form may send without a preflight
        assert _raw(server.port, "POST", "/api/undo", plain, b"{}")[0] == 415
        same = {**base, "Origin": f"http://127.0.0.1:{server.port}"}
        assert _raw(server.port, "POST", "/api/undo", same, b"{}")[0] == 409  # accepted (nothing to undo)
    finally:
        server.close()


def test_every_response_forbids_framing_and_referrers():
    server = _page()
    try:
        for path, headers in (("/", {"X-Token": TOKEN}), ("/api/state", {"X-Token": TOKEN}), ("/api/state", {})):
            status, got, _ = _raw(server.port, "GET", path, {"Host": f"127.0.0.1:{server.port}", **headers})
            assert got["x-frame-options"] == "DENY", (path, status)
            assert "frame-ancestors 'none'" in got["content-security-policy"]
            assert got["referrer-policy"] == "no-referrer"
    finally:
        server.close()


def test_a_negative_content_length_is_refused_at_once():
    import time

    server = _page()
    try:
        t0 = time.monotonic()
        status, _, body = _raw(server.port, "POST", "/api/answer", {
            "Host": f"127.0.0.1:{server.port}", "X-Token": TOKEN, "Content-Type": "application/json",
            "Content-Length": "-1"})
        assert status == 400 and b"Content-Length" in body and time.monotonic() - t0 < 2.0
    finally:
        server.close()


def test_idle_connections_are_closed_and_hold_a_bounded_number_of_threads():
    import socket
    import threading
    import time

    before = threading.active_count()
    server = _page(idle_timeout=0.5, threads=16)
    idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(50)]
    try:
        time.sleep(0.3)
        assert threading.active_count() - before <= 32
        t0 = time.monotonic()  # the page still answers, once the idle ones have timed out
        status, _, _ = _raw(server.port, "GET", "/api/state", {"Host": f"127.0.0.1:{server.port}", "X-Token": TOKEN})
        assert status == 200 and time.monotonic() - t0 < 5.0
        idle[0].settimeout(2.0)
        assert idle[0].recv(1) == b""  # the server closed it
    finally:
        for s in idle:
            s.close()
        server.close()


# ---- item 10: files that break and disks that fill are a sentence, and the run resumes --------------

SMALL = """
name = "small"
seeds = [0]
[data]
name = "moons"
args = {n = 60, n_test = 60}
[learner]
hidden = [8]
members = 2
steps = 10
[loop]
budget = 6
seed_size = 2
fsync = false
[[strategies]]
kind = "random"
"""


def test_a_full_disk_during_a_checkpoint_names_the_file_and_the_run_resumes(tmp_path, capsys, monkeypatch):
    import errno

    import numpy as np

    from qsynth import store
    from qsynth.cli import main

    (tmp_path / "small.toml").write_text(SMALL)
    real_savez, calls = np.savez, []

    def savez_until_full(f, **arrays):
        calls.append(1)
        if len(calls) == 3:  # the third checkpoint: the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_savez(f, **arrays)

    monkeypatch.setattr(store.np, "savez", savez_until_full)
    code = main(["run", str(tmp_path / "small.toml"), "--out", str(tmp_path), "--quiet"])
    out = capsys.readouterr().err.strip()
    run = tmp_path / "small"
    err = out.splitlines()[-1]
    assert code == 2 and err.startswith("qsynth: error: ") and "Traceback" not in out
    assert f"cannot write {run / 'random' / 'seed-0' / 'checkpoint' / 'state.npz'}: No space left on device " \
           "(the disk is full)" in err
    assert f"qsynth run --resume {run} continues the run" in err
    assert not (run / "random" / "seed-0" / "checkpoint" / "state.npz.tmp").exists()
    monkeypatch.setattr(store.np, "savez", real_savez)  # space again
    assert main(["run", "--resume", str(run), "--quiet"]) == 0
    answers = [r for r in read_label_log(run / "random" / "seed-0" / "labels.jsonl") if r["kind"] == "answer"]
    assert len(answers) == 6 and len({a["query_id"] for a in answers}) == 6


def test_a_read_only_run_folder_is_one_line_naming_it(tmp_path, capsys, monkeypatch):
    import errno
    from pathlib import Path

    from qsynth.cli import main

    (tmp_path / "small.toml").write_text(SMALL)
    real_mkdir = Path.mkdir

    def read_only(self, *args, **kwargs):  # (tests run as root, where permissions block nothing)
        if self == tmp_path / "small":
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", read_only)
    assert main(["run", str(tmp_path / "small.toml"), "--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == f"qsynth: error: cannot write {tmp_path / 'small'}: Permission denied (no permission to write " \
                  "there; choose another --out, or make the folder writable)"


def test_a_truncated_generator_is_named_on_resume(tmp_path):
    from qsynth.generators import load_generator
    from qsynth.generators.config import GeneratorConfig
    from qsynth.generators.train import fit_generator
    import jax
    import numpy as np

    gen = fit_generator(jax.random.key(0), GeneratorConfig(latent=2, hidden=(8,), steps=5, batch_size=16),
                        np.random.default_rng(0).normal(size=(40, 2)).astype(np.float32))
    gen.save(tmp_path / "g")
    data = (tmp_path / "g" / "generator.npz").read_bytes()
    (tmp_path / "g" / "generator.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"generator.npz is corrupt or truncated .*; delete .* to train the "
                                         r"generator again from the run's seed"):
        load_generator(tmp_path / "g")


# ---- item 3 (the rest): a label edited by hand is refused, never used -------------------------------

def test_a_hand_edited_label_does_not_match_its_checksum(finished_run, tmp_path):
    run = _copy(finished_run, tmp_path)
    log = run / "random" / "seed-0" / "labels.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    i = next(i for i, line in enumerate(lines) if '"kind":"answer"' in line and '"label":1' in line)
    lines[i] = lines[i].replace('"label":1', '"label":0')
    log.write_text("".join(lines))
    with pytest.raises(ValueError, match=f"line {i + 1} does not match its checksum: it was changed after the run"):
        read_label_log(log)
    with pytest.raises(ValueError, match="does not match its checksum"):
        resume_experiment(run, progress=False, plots=False)
    assert all('"crc":"' in line for line in lines)  # every record a run writes carries one
    assert "crc" not in read_label_log(run / "random" / "seed-1" / "labels.jsonl")[0]


# ---- item 5 (the rest): a Ctrl-C during start-up stops the run too -----------------------------------

def test_a_ctrl_c_during_start_up_is_never_lost(tmp_path):
    """A KeyboardInterrupt raised inside a garbage-collector callback (JAX has one) is dropped by
    Python; the command line delivers it again, so the run stops (exit 130) instead of going on."""
    import signal
    import subprocess
    import sys
    import time

    from tests.reliability import QSYNTH  # (the command line with Python's own Ctrl-C handler, as in a terminal)

    (tmp_path / "small.toml").write_text(SMALL)
    for i, at in enumerate((0.6, 1.0, 1.4)):  # during the imports, where the collector runs most
        proc = subprocess.Popen([sys.executable, "-c", QSYNTH, "run", str(tmp_path / "small.toml"), "--out",
                                 str(tmp_path / f"out-{i}"), "--quiet", "--no-plots"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(at)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=120)
        err = proc.stderr.read()
        assert code in (130, -signal.SIGINT), f"SIGINT at {at} s: exit status {code}\n{err[-800:]}"


def test_a_noted_ctrl_c_that_python_dropped_stops_the_run_after_its_round(tmp_path, monkeypatch):
    from qsynth import _interrupts
    from qsynth.store import SeedStore

    write = SeedStore.write_metrics

    def dropped_during_the_seed_round(self, row):  # as if a SIGINT arrived and its KeyboardInterrupt was swallowed
        write(self, row)
        _interrupts._requested.set()

    monkeypatch.setattr(SeedStore, "write_metrics", dropped_during_the_seed_round)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_experiment(parse_config({**TABLE, "seeds": [0], "strategies": [{"kind": "random"}]}), tmp_path,
                           progress=False, plots=False)
    finally:
        _interrupts._requested.clear()
    log = read_label_log(tmp_path / "x" / "random" / "seed-0" / "labels.jsonl")
    assert {r["round"] for r in log} == {0}  # the seed round, then it stopped


def test_a_config_toml_cut_short_is_refused_not_read_as_defaults(finished_run, tmp_path):
    run = _copy(finished_run, tmp_path)
    (run / "config.toml").write_text("")  # killed while it was written (before it was written atomically)
    with pytest.raises(ConfigError, match=r"config.toml is incomplete \(no name, seeds, strategies, provenance\)"):
        resume_experiment(run, progress=False, plots=False)
    (run / "config.toml").write_text('name = "x"\nseeds = [0')
    with pytest.raises(ConfigError, match="not valid TOML"):
        resume_experiment(run, progress=False, plots=False)
    assert not (finished_run / "config.toml.tmp").exists()  # written whole, then renamed


# ---- issue 18, results you can take away: tidy CSV files beside summary.json ------------------------

def test_a_run_leaves_tidy_results_and_summary_csv_files(finished_run):
    import csv

    from qsynth.store import read_metrics

    with open(finished_run / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    per_run = {(s, k): read_metrics(finished_run / s / f"seed-{k}" / "metrics.csv")
               for s in ("random", "entropy") for k in (0, 1)}
    assert len(rows) == sum(len(m) for m in per_run.values())
    assert [r["strategy"] for r in rows][:1] == ["random"]  # config order
    for row in rows:
        metrics = per_run[(row["strategy"], int(row["seed"]))][int(row["round"])]
        assert float(row["accuracy"]) == metrics["accuracy"] and float(row["queries"]) == metrics["queries"]
    summary = json.loads((finished_run / "summary.json").read_text())["strategies"]
    with open(finished_run / "summary.csv", newline="") as f:
        table = {r["strategy"]: r for r in csv.DictReader(f)}
    assert list(table) == ["random", "entropy"]
    for name, entry in summary.items():
        assert float(table[name]["final_accuracy_mean"]) == entry["final_accuracy"]["mean"]
        assert int(table[name]["labels_to_target_0.8_reached"]) == entry["labels_to_target"]["0.8"]["reached"]
