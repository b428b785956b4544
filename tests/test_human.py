"""The human oracle: the session, the labeling page's HTTP contract, the terminal, and a real
browser labeling a run that is killed and restarted."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from qsynth.oracles import ask
from qsynth.oracles.human import HumanSession, LabelingServer, NotOpen, StopLabeling, TerminalLabeler
from qsynth.records import Answer, Queries, Retract, Status

TOKEN = "t" * 8 + "0123456789abcdef"


def queries(n: int, prefix: str = "q") -> Queries:
    return Queries(tuple(f"{prefix}{i}" for i in range(n)), np.arange(2 * n, dtype=np.float32).reshape(n, 2),
                   np.zeros(n))


def describe(x):
    return {"table": [["a", f"{x[0]:.3g}"], ["b", f"{x[1]:.3g}"]]}


class LoopThread(threading.Thread):
    """Stands in for the loop: asks one batch, logging every answer and retraction as `ask` reports it."""

    def __init__(self, oracle, batch: Queries):
        super().__init__(daemon=True)
        self.oracle, self.batch, self.log, self.result, self.earlier = oracle, batch, [], None, []

    def run(self):
        self.result = ask(self.oracle, self.batch, (0, 1), on_answer=self.log.append, poll_seconds=0.05,
                          on_earlier=lambda item: self.earlier.append(item) or isinstance(item, Retract))


def test_session_answers_undo_and_refusals():
    session = HumanSession((0, 1), describe)
    loop = LoopThread(session, queries(3))
    loop.start()
    while session.current()["query_id"] is None:
        time.sleep(0.01)
    assert session.current()["view"]["table"][0] == ["a", "0"]
    with pytest.raises(ValueError, match="not one of this run's classes"):
        session.answer("q0", 7)
    with pytest.raises(NotOpen):
        session.answer("q9", 1)
    with pytest.raises(NotOpen, match="nothing to undo"):
        session.undo()
    session.answer("q0", 1)  # returns only once the loop has it logged
    assert [type(r).__name__ for r in loop.log] == ["Answer"]
    session.undo()
    assert isinstance(loop.log[-1], Retract) and session.current()["query_id"] == "q0"
    session.answer("q0", 0)
    session.answer("q1", None)  # can't tell
    session.answer("q2", 1)
    loop.join(5)
    assert [(a.query_id, a.status, a.label) for a in loop.result] == [
        ("q0", Status.OK, 0), ("q1", Status.ABSTAIN, None), ("q2", Status.OK, 1)]
    assert [(type(r).__name__, r.query_id) for r in loop.log] == [
        ("Answer", "q0"), ("Retract", "q0"), ("Answer", "q0"), ("Answer", "q1"), ("Answer", "q2")]
    # the batch is complete (being learned from): its answers can still be taken back and flagged
    assert [h["query_id"] for h in session.current()["history"]] == ["q2", "q1", "q0"]
    assert all(h["learned"] for h in session.current()["history"])
    session.flag("q1", "blurry", wait_s=None)
    retract = session.undo("q0", wait_s=None)  # (no loop is collecting between batches: do not wait)
    assert retract.told and session.current()["query_id"] == "q0"
    with pytest.raises(NotOpen, match="not among the latest"):
        session.undo("q9")
    nxt = LoopThread(session, queries(1, prefix="r"))  # the next round: the loop takes q0 back, then waits for it
    nxt.start()
    while not nxt.earlier or len(nxt.earlier) < 2:
        time.sleep(0.01)
    assert [(type(e).__name__, e.query_id) for e in nxt.earlier] == [("Flag", "q1"), ("Retract", "q0")]
    session.answer("q0", 1)
    session.answer("r0", 0)
    nxt.join(5)
    assert [(a.query_id, a.label) for a in nxt.result] == [("r0", 0), ("q0", 1)]  # the new answer after the round's
    state = session.current()
    assert state["flagged"] == ["q1"] and [h["query_id"] for h in state["history"]][:2] == ["r0", "q0"]
    assert [h["flagged"] for h in state["history"] if h["query_id"] == "q1"] == [True]


def _request(url: str, method: str = "GET", body: bytes | None = None, token: str | None = TOKEN):
    req = urllib.request.Request(url, data=body, method=method)
    if method == "POST":
        req.add_header("Content-Type", "application/json")
    if token is not None:
        req.add_header("X-Token", token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null") if "json" in r.headers["Content-Type"] else None
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def test_labeling_page_http_contract():
    session = HumanSession((0, 1), describe)
    server = LabelingServer(session, TOKEN)
    base = f"http://127.0.0.1:{server.port}"
    try:
        loop = LoopThread(session, queries(2))
        loop.start()
        assert _request(base + "/api/state", token=None)[0] == 403
        assert _request(base + "/api/state", token="x" * 24)[0] == 403
        assert _request(base + "/", token=None)[0] == 403
        status, _ = _request(f"{base}/?token={TOKEN}", token=None)
        assert status == 200
        while _request(base + "/api/state")[1]["query_id"] is None:
            time.sleep(0.01)
        assert _request(base + "/api/answer", "POST", b"x" * 5000)[0] == 413
        assert _request(base + "/api/answer", "POST", b"[1]")[0] == 400
        status, body = _request(base + "/api/answer", "POST", json.dumps({"query_id": "q0", "label": 5}).encode())
        assert status == 400 and "not one of this run's classes" in body["error"]
        status, body = _request(base + "/api/answer", "POST", json.dumps({"query_id": "q0", "label": 1}).encode())
        assert status == 200 and body["query_id"] == "q1" and body["progress"]["batch_answered"] == 1
        assert _request(base + "/api/answer", "POST", json.dumps({"query_id": "q0", "label": 1}).encode())[0] == 409
        assert _request(base + "/../../etc/passwd")[0] == 404
        _request(base + "/api/answer", "POST", json.dumps({"query_id": "q1", "label": 0}).encode())
        loop.join(5)
        assert [a.label for a in loop.result] == [1, 0]
    finally:
        server.close()


def test_the_page_carries_its_key_map_the_run_count_and_the_run_s_end():
    session = HumanSession((0, 1), describe, answered=5)
    server = LabelingServer(session, TOKEN, keys="prodigy")
    base = f"http://127.0.0.1:{server.port}"
    try:
        state = _request(base + "/api/state")[1]
        assert state["keys"] == "prodigy" and state["progress"]["answered"] == 5 and "ended" not in state
        done = threading.Thread(target=server.end, args=("finished", 7))
        done.start()  # waits (up to 2 s) for the open page to fetch the end
        time.sleep(0.1)
        state = _request(base + "/api/state")[1]
        done.join(2)
        assert not done.is_alive() and state["ended"] == "finished" and state["progress"]["answered"] == 7
        assert state["query_id"] is None
    finally:
        server.close()
    with pytest.raises(ValueError, match="need two classes"):
        LabelingServer(HumanSession((0, 1, 2), describe), TOKEN, keys="prodigy")
    with pytest.raises(ValueError, match="'qsynth' or 'prodigy'"):
        LabelingServer(HumanSession((0, 1), describe), TOKEN, keys="vim")


def test_a_taken_port_is_one_line_and_qsynth_label_reuses_a_free_recorded_one(tmp_path):
    import socket

    from qsynth.experiments.oracles import labeling_port

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    taken = holder.getsockname()[1]
    try:
        (tmp_path / "human").mkdir()
        (tmp_path / "human" / "url").write_text(f"http://127.0.0.1:{taken}/?token={TOKEN}\n")
        assert labeling_port(tmp_path, "127.0.0.1") == (0, taken)  # taken: a free one, and say so
        moons = 'name = "moons"\nargs = { n = 60, n_test = 60 }'
        (tmp_path / "run.toml").write_text(CONFIG.format(name="busy", data=moons).replace(
            'kind = "human"', f'kind = "human"\nport = {taken}'))
        out = subprocess.run([sys.executable, "-m", "qsynth.cli", "run", "run.toml", "--quiet"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 2
        assert out.stderr.strip().splitlines()[-1].startswith(f"qsynth: error: oracle.port: cannot serve the labeling "
                                                               f"page on 127.0.0.1:{taken}")
    finally:
        holder.close()
    assert labeling_port(tmp_path, "127.0.0.1") == (taken, None)  # free again: the same address
    assert labeling_port(tmp_path / "nothing", "127.0.0.1") == (0, None)


def test_terminal_labeler(tmp_path):
    replies = iter(["7", "1", "u", "0", "a", "x", "1", "q"])
    out = open(tmp_path / "out.txt", "w")
    term = TerminalLabeler((0, 1), describe, ask_fn=lambda prompt: next(replies), out=out)
    log: list = []
    got = ask(term, queries(3), (0, 1), on_answer=log.append, poll_seconds=0.01)
    assert [(a.status, a.label) for a in got] == [(Status.OK, 0), (Status.ABSTAIN, None), (Status.OK, 1)]
    assert [type(r).__name__ for r in log] == ["Answer", "Retract", "Answer", "Answer", "Answer"]
    with pytest.raises(StopLabeling):
        ask(term, queries(1, "r"), (0, 1), poll_seconds=0.01)
    out.close()
    text = (tmp_path / "out.txt").read_text()
    assert "not one of this run's classes" in text and "'x' is not a label" in text and "b = 3" in text


def test_terminal_saves_image_queries(tmp_path):
    term = TerminalLabeler((0, 1), lambda x: {"image": np.eye(4).tolist()}, ask_fn=lambda p: "1",
                           out=open(os.devnull, "w"), image_dir=tmp_path)
    assert ask(term, queries(1), (0, 1), poll_seconds=0.01)[0].label == 1
    assert (tmp_path / "query-q0.png").exists()


# ---- a real browser, a real run, a kill and a restart -----------------------------------------------

CONFIG = """
name = "{name}"
seeds = [0]
targets = [0.9]
[data]
{data}
[oracle]
kind = "human"
show_prediction = true
[learner]
hidden = [16]
members = 2
steps = 30
warm_steps = 5
[loop]
budget = 6
seed_size = 3
batch_size = 3
[[strategies]]
kind = "uncertainty"
"""
DIGITS = 'name = "digits"\nargs = { classes = [3, 8], as_images = true, standardize_features = false, n_test = 100 }'
PROJECTILE = 'name = "simulator"\nargs = { simulator = "projectile", pool_size = 200, grid = 20 }'


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("no system chromium (.ci/run installs Debian's package; apt-get install chromium)")
    pytest.importorskip("playwright", reason="playwright is in the test extra")
    return path


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "qsynth.cli", *args, "--quiet"], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _start_run(tmp_path: Path, name: str, data: str) -> tuple[subprocess.Popen, Path]:
    """`qsynth run` of a human-oracle config on `data`, in the background: the process and its run folder."""
    (tmp_path / f"{name}.toml").write_text(CONFIG.format(name=name, data=data))
    return _start(["run", f"{name}.toml"], tmp_path), tmp_path / "runs" / name


def _url(run: Path, proc: subprocess.Popen, previous: str | None = None, written_after: int = 0) -> str:
    file = run / "human" / "url"
    for _ in range(1200):
        text = file.read_text() if file.exists() and file.stat().st_mtime_ns > written_after else ""
        if text.endswith("\n") and "token=" in text and text.strip() != previous:
            return text.strip()
        if proc.poll() is not None:
            pytest.fail(f"the run ended: {proc.stderr.read()}")
        time.sleep(0.05)
    pytest.fail("the labeling page did not come up")


def _shoot(page, name: str) -> None:
    folder = os.environ.get("QSYNTH_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / name))


@pytest.mark.slow
def test_a_browser_labels_a_run_with_the_keyboard_through_a_kill_and_restart(tmp_path):
    chromium = _chromium()
    from playwright.sync_api import sync_playwright

    proc, run = _start_run(tmp_path, "human", DIGITS)
    pressed: dict[str, object] = {}
    procs = [proc]  # every run process this test starts is killed at the end, pass or fail
    try:
        url = _url(run, proc)
        assert "token=" in url
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu",
                                                                        "--disable-background-networking"])
            page = browser.new_page(viewport={"width": 900, "height": 640}, bypass_csp=True)  # (lets the test evaluate JS)
            page.set_default_timeout(120_000)  # a round trains and compiles between batches: slow on a busy 2-core box
            assert page.goto(url.split("?")[0]).status == 403  # no token, no page
            assert page.request.get(url.split("?")[0] + "api/state").status == 403

            def current() -> str:
                page.wait_for_function("document.querySelector('#progress').textContent.includes('query ')")
                return page.evaluate("state.query_id")

            def press(key: str, expect: object) -> None:
                qid = current()
                page.keyboard.press(key)
                # the answer is saved (the page shows another query) and the page takes keys again
                page.wait_for_function(f"!busy && !document.querySelector('#progress').textContent.includes('query {qid}')")
                pressed[qid] = expect

            page.goto(url)
            page.wait_for_selector("canvas#image")
            _shoot(page, "labeling_page_image.png")
            press("3", 3)                          # seed-q00 → 3
            first = current()
            page.keyboard.press("u")                # undo seed-q00
            page.wait_for_function("document.querySelector('#message').textContent === 'undone'")
            assert current() == "seed-q00"
            press("8", 8)                          # seed-q00 → 8 (after the undo)
            page.keyboard.press("7")                # not a class of this run: refused, nothing logged
            page.wait_for_function("document.querySelector('#message').textContent.includes('not one of')")
            assert current() == first
            press("a", None)                       # seed-q01: can't tell
            # kill the run mid-batch, restart it with `qsynth label`: the same address, so the open tab goes on
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            written = (run / "human" / "url").stat().st_mtime_ns
            proc = _start(["label", str(run)], tmp_path)
            procs.append(proc)
            assert _url(run, proc, written_after=written) == url  # the run's port and token survive a restart
            page.reload()
            assert current() == "seed-q02"          # the answers given before the kill are kept
            assert " 2 in all" in page.inner_text("#progress")  # and counted
            press("3", 3)                          # seed-q02 → 3: the seed batch is complete and learned from
            assert current() == "r0001-q00"
            page.keyboard.press("u")                # take back seed-q02, already learned from
            page.wait_for_function("document.querySelector('#message').textContent === 'undone'")
            assert current() == "seed-q02"
            press("8", 8)                          # seed-q02 → 8: the learner refits on it with round 1
            page.keyboard.press("f")                # flag r0001-q00: come back to this
            page.wait_for_function("document.querySelector('#message').textContent === 'flagged'")
            assert "flagged" in page.inner_text("#buttons")
            _shoot(page, "labeling_page_history.png")
            for _ in range(3):                      # round 1: three more queries
                press("8", 8)
            page.wait_for_function("document.body.dataset.ended === 'finished'")  # a "run finished" page
            assert "The run is finished: 6 answers saved" in page.inner_text("#progress")
            _shoot(page, "labeling_page_done.png")
            assert proc.wait(timeout=120) == 0, proc.stderr.read()
            browser.close()
    finally:
        for p in procs:
            p.kill()
            p.wait()
    records = [json.loads(line) for line in (run / "entropy" / "seed-0" / "labels.jsonl").read_text().splitlines()]
    kinds = [(r["kind"], r["query_id"]) for r in records if r["kind"] != "query"]
    assert kinds == [("answer", "seed-q00"), ("retract", "seed-q00"), ("answer", "seed-q00"), ("answer", "seed-q01"),
                     ("answer", "seed-q02"), ("retract", "seed-q02"), ("answer", "seed-q02"), ("flag", "r0001-q00"),
                     ("answer", "r0001-q00"), ("answer", "r0001-q01"), ("answer", "r0001-q02")]
    retracts = [r for r in records if r["kind"] == "retract"]
    assert [r.get("told", False) for r in retracts] == [False, True]  # the second one had been learned from
    answers = {}
    for r in records:
        if r["kind"] == "answer":
            answers[r["query_id"]] = r
        elif r["kind"] == "retract":
            answers.pop(r["query_id"])
    assert len(answers) == 6 and len([r for r in records if r["kind"] == "answer"]) == 8
    for qid, expect in pressed.items():
        a = answers[qid]
        assert (a["label"], a["status"]) == ((expect, "ok") if expect is not None else (None, "abstain")), qid
    assert len([r for r in records if r["kind"] == "query"]) == 6  # nothing asked twice


@pytest.mark.slow
def test_parameter_table_page(tmp_path):
    chromium = _chromium()
    from playwright.sync_api import sync_playwright

    proc, run = _start_run(tmp_path, "throw", PROJECTILE)
    try:
        url = _url(run, proc)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 900, "height": 420}, bypass_csp=True)
            page.goto(url)
            page.wait_for_selector("table#params")
            names = page.eval_on_selector_all("table#params td:first-child", "tds => tds.map(t => t.textContent)")
            assert names == ["angle_deg", "speed_m_s"]
            values = page.eval_on_selector_all("table#params td.value", "tds => tds.map(t => Number(t.textContent))")
            assert 10 <= values[0] <= 80 and 2 <= values[1] <= 8  # physical units, not the unit box
            _shoot(page, "labeling_page_parameters.png")
            browser.close()
    finally:
        proc.kill()
        proc.wait()


def test_nothing_that_holds_the_token_is_readable_by_others(tmp_path):
    """human/ is 0700, human/token and human/url (the URL carries the token) are 0600."""
    import stat

    from qsynth.config import parse_config
    from qsynth.experiments.oracles import RunOracles
    from tests.helpers import tiny_moons

    config = parse_config({"oracle": {"kind": "human"}, "strategies": [{"kind": "random"}]})
    (tmp_path / "human").mkdir(mode=0o755)
    (tmp_path / "human" / "url.tmp").write_text("stale")
    os.chmod(tmp_path / "human" / "url.tmp", 0o644)
    with RunOracles(config, tmp_path, progress=False) as make:
        make(tiny_moons(), 0)
        modes = {name: stat.S_IMODE(os.stat(tmp_path / "human" / name).st_mode) for name in ("token", "url")}
    assert stat.S_IMODE(os.stat(tmp_path / "human").st_mode) == 0o700
    assert modes == {"token": 0o600, "url": 0o600}
