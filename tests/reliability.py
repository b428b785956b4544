"""Kill real runs at random moments, resume them, and check that nothing was lost, asked twice or left running.

    python tests/reliability.py --kills 50            # the figure in docs/labeling.md
    python tests/reliability.py --kills 5 --seed 7    # another draw of moments

One config, run once uninterrupted as the reference: a latent-synthesis arm (a VAE trained
on the box's pool) whose queries the projectile simulator answers in two worker processes.
Every process shares one persistent XLA compilation cache (a folder beside the runs), so
only the reference compiles; a cached executable is the same program, so results are unchanged.
Each trial starts `qsynth run` and sends SIGKILL or SIGINT at a random moment — on even
trials a uniform time over the run (start-up, generator training, the rounds, the end), on
odd ones 0–20 ms after the label logs reach k lines (k uniform over the reference's lines:
mid-ascent, mid-fit, mid-write). Then it
`qsynth run --resume`s the run to the end, and asserts:

- no answer lost: every answer in the log when it was killed is in the final log, in place;
- none asked twice: one answer per query id;
- the final state equals the uninterrupted run's: the label log (every query in order, every
  answer — answers from parallel workers are logged in the order they arrive), the final
  checkpoint's arrays and the metrics apart from timings, bit for bit;
- the signal stopped the run (SIGINT: exit status 130; SIGKILL: killed);
- no process left over: nothing started by the run (found by an environment marker every
  child inherits) outlives it, after the kill and after the resume.

The suite runs 3 kills of a lighter variant (`quick`: input synthesis, no generator to train;
`tests/test_reliability.py`). Prints one line per trial and a summary.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]

CONFIGS = {
    "arms": """
name = "arms"
seeds = [0]
[data]
name = "simulator"
args = {simulator = "projectile", pool_size = 200, grid = 20}
[oracle]
kind = "simulator"
workers = 2
timeout = 5.0
[learner]
hidden = [16]
members = 2
steps = 30
warm_steps = 10
[generator]
latent = 2
hidden = [16]
steps = 100
batch_size = 32
[loop]
budget = 12
seed_size = 4
seed_strategy = "stratified"
batch_size = 2
fsync = true
[[strategies]]
kind = "synthesis"
starts = 16
steps = 5
""",
}
#: The suite's lighter variant (3 kills within its time budget): input synthesis, no generator to train.
QUICK = CONFIGS["arms"].replace('kind = "synthesis"', 'kind = "input_synthesis"')

#: metrics.csv columns that measure time or compilation, not results.
UNTIMED = ("select_s", "label_s", "train_s", "compiled")


def _env(marker: str, cache: Path) -> dict[str, str]:
    return {**os.environ, "QSYNTH_THREADS": "1", "QSYNTH_WINDOWS": "1", "QSYNTH_RELIABILITY": marker,
            "JAX_COMPILATION_CACHE_DIR": str(cache), "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
            "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}


def _qsynth(args: list[str], marker: str, folder: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", QSYNTH, *args, "--quiet", "--no-plots"], env=_env(marker, folder / "xla"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO)


def leftovers(marker: str) -> list[int]:
    """Live processes whose environment carries `marker` (everything a run started inherits it)."""
    needle = f"QSYNTH_RELIABILITY={marker}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if needle not in (proc / "environ").read_bytes().split(b"\0"):
                continue
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            found.append(int(proc.name))
    return found


def _lines(run: Path) -> int:
    """Lines in all of a run's label logs so far."""
    return sum(len(p.read_bytes().splitlines()) for p in run.glob("*/seed-*/labels.jsonl"))


def _wait_gone(marker: str, seconds: float = 5.0) -> list[int]:
    end = time.monotonic() + seconds
    while (left := leftovers(marker)) and time.monotonic() < end:
        time.sleep(0.05)
    return left


def outcome(run: Path) -> dict[str, tuple]:
    """Per (strategy, seed) folder: its label log, final checkpoint arrays and untimed metrics."""
    from qsynth.store import load_checkpoint, read_label_log, read_metrics

    out = {}
    for log in sorted(run.glob("*/seed-*/labels.jsonl")):
        arrays, _ = load_checkpoint(log.parent / "checkpoint")
        metrics = [{k: v for k, v in row.items() if k not in UNTIMED} for row in read_metrics(log.parent / "metrics.csv")]
        out[str(log.parent.relative_to(run))] = (read_label_log(log), arrays, metrics)
    return out


def _answers(run: Path) -> dict[str, list[dict]]:
    from qsynth.store import read_label_log

    out = {}
    for log in run.glob("*/seed-*/labels.jsonl"):
        try:
            records = read_label_log(log)
        except ValueError:  # (a corrupt line is a finding of its own: the resume reports it)
            records = []
        out[str(log.parent.relative_to(run))] = [r for r in records if r["kind"] == "answer"]
    return out


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (np.isnan(a) and np.isnan(b))
    return a == b


def _in_order(log: list[dict]) -> tuple[list[dict], dict[str, dict]]:
    """A log as what must match: its queries in order, its answers by query id (arrival order is free)."""
    return [r for r in log if r["kind"] != "answer"], {r["query_id"]: r for r in log if r["kind"] == "answer"}


def _equal_arrays(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")


def check(reference: dict[str, tuple], run: Path, before: dict[str, list[dict]]) -> list[str]:
    """What is wrong with a resumed run against its reference (nothing: [])."""
    problems = []
    final = outcome(run)
    if set(final) != set(reference):
        return [f"runs {sorted(final)} differ from the reference's {sorted(reference)}"]
    for name, (log, arrays, metrics) in final.items():
        answers = [r for r in log if r["kind"] == "answer"]
        ids = [a["query_id"] for a in answers]
        if len(ids) != len(set(ids)):
            problems.append(f"{name}: a query was answered twice")
        if answers[:len(before.get(name, []))] != before.get(name, []):
            problems.append(f"{name}: an answer logged before the kill is gone or changed")
        ref_log, ref_arrays, ref_metrics = reference[name]
        if _in_order(log) != _in_order(ref_log):
            problems.append(f"{name}: the label log differs from the uninterrupted run's")
        if set(arrays) != set(ref_arrays) or any(not _equal_arrays(arrays[k], ref_arrays[k]) for k in ref_arrays):
            problems.append(f"{name}: the final checkpoint differs from the uninterrupted run's")
        if len(metrics) != len(ref_metrics) or any(set(m) != set(r) or not all(_same(m[k], r[k]) for k in r)
                                                   for m, r in zip(metrics, ref_metrics)):
            problems.append(f"{name}: the metrics differ from the uninterrupted run's")
    return problems


def run(kills: int = 3, seed: int = 0, folder: Path | None = None, log=print, quick: bool = False) -> dict[str, int]:
    """`kills` trials; returns the counts {"trials", "lost", "duplicated", "differ", "orphans", "unstopped",
    "failed"}."""
    rng = np.random.default_rng(seed)
    return _run(kills, rng, folder, log, {"arms": QUICK} if quick else CONFIGS)


#: `python -c QSYNTH ARGS...` runs the command line with Python's own Ctrl-C handler: a process
#: started in the background (`... &`, nohup, some CI runners) ignores SIGINT, and its children
#: inherit that, so a SIGINT would never reach the run.
QSYNTH = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
          "sys.argv[0] = 'qsynth'; runpy.run_module('qsynth.cli', run_name='__main__', alter_sys=True)")


def _run(kills: int, rng: np.random.Generator, folder: Path | None, log: Any,
         config_texts: dict[str, str]) -> dict[str, int]:
    folder = Path(folder or tempfile.mkdtemp(prefix="qsynth-reliability-"))
    folder.mkdir(parents=True, exist_ok=True)
    configs, references, walls, log_lines = {}, {}, {}, {}
    for name, text in config_texts.items():
        configs[name] = folder / f"{name}.toml"
        configs[name].write_text(text)
        marker = uuid.uuid4().hex
        t0 = time.monotonic()
        proc = _qsynth(["run", str(configs[name]), "--out", str(folder / "reference")], marker, folder)
        if proc.wait(timeout=600) != 0:
            raise RuntimeError(f"the reference run of {name} failed: {proc.stderr.read()}")
        walls[name] = time.monotonic() - t0
        references[name] = outcome(folder / "reference" / name)
        log_lines[name] = _lines(folder / "reference" / name)
        if _wait_gone(marker):
            raise RuntimeError(f"the reference run of {name} left processes behind")
    counts = dict.fromkeys(("trials", "lost", "duplicated", "differ", "orphans", "unstopped", "failed"), 0)
    for trial in range(kills):
        name = list(config_texts)[trial % len(config_texts)]
        how = signal.SIGKILL if rng.random() < 0.5 else signal.SIGINT
        if trial % 2 == 0:  # by time: anywhere in the run (start-up, generator training, rounds, the end)
            lines, extra = 0, float(rng.uniform(0.0, 0.5 * walls[name]))  # (a cached run is about half the reference)
        else:  # by progress: after k log lines, within a round (mid-ascent, mid-fit, mid-write)
            lines, extra = int(rng.integers(0, log_lines[name])), float(rng.uniform(0.0, 0.02))
        out = folder / f"trial-{trial:03d}"
        marker = uuid.uuid4().hex
        proc = _qsynth(["run", str(configs[name]), "--out", str(out)], marker, folder)
        while _lines(out / name) < lines and proc.poll() is None:
            time.sleep(0.001)
        problems = []
        try:
            proc.wait(timeout=extra)
            note = "finished before the signal"
        except subprocess.TimeoutExpired:
            proc.send_signal(how)
            code = proc.wait(timeout=120)
            note = f"{how.name} {extra:.2f} s after " + (f"line {lines}" if lines else "the start")
            if code == 0 or (how == signal.SIGKILL and code != -how):  # (a SIGINT: 130, or a traceback in start-up)
                problems.append(f"the {how.name} did not stop the run (exit status {code})")
        orphans = _wait_gone(marker)
        run_dir = out / name
        before = _answers(run_dir) if run_dir.exists() else {}
        problems += [f"processes {orphans} outlived the killed run"] if orphans else []
        marker2 = uuid.uuid4().hex
        resume = ["run", "--resume", str(run_dir)] if (run_dir / "config.toml").exists() else \
            ["run", str(configs[name]), "--out", str(out)]  # killed before it wrote anything
        resumed = _qsynth(resume, marker2, folder)
        if resumed.wait(timeout=600) != 0:
            problems.append(f"the resume failed: {resumed.stderr.read().strip()[-500:]}")
        else:
            problems += check(references[name], run_dir, before)
        if _wait_gone(marker2):
            problems.append("processes outlived the resumed run")
        counts["trials"] += 1
        counts["lost"] += any("gone or changed" in p for p in problems)
        counts["duplicated"] += any("answered twice" in p for p in problems)
        counts["differ"] += any("differs" in p or "differ from" in p for p in problems)
        counts["orphans"] += any("outlived" in p for p in problems)
        counts["unstopped"] += any("did not stop" in p for p in problems)
        counts["failed"] += bool(problems)
        answered = sum(len(a) for a in before.values())
        log(f"trial {trial:3d} {name:9s} {note:28s} {answered:3d} answers logged before; "
            + ("ok" if not problems else "FAILED: " + "; ".join(problems)))
    log(f"{counts['trials']} kills: {counts['lost']} with answers lost, {counts['duplicated']} with a query asked "
        f"twice, {counts['differ']} that ended unlike the uninterrupted run, {counts['orphans']} with processes "
        f"left over, {counts['unstopped']} where the signal did not stop the run "
        f"({', '.join(f'{n} {w:.1f} s' for n, w in walls.items())} uninterrupted)")
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folder", type=Path, default=None, help="where the runs go (default: a temporary folder)")
    args = parser.parse_args()
    counts = run(args.kills, args.seed, args.folder)
    return 0 if counts["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
