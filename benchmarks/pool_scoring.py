"""Pool scoring throughput: pools of 1e3 … 1e6 points (20-D, 2 classes), a 5 × 128 MLP ensemble.

qsynth scores in fixed 1,024-point chunks with one jitted program (compilations are
counted: one for all sizes). The peer, modAL's Committee of 5 MLPClassifier(128) with
vote-entropy sampling, runs in its own venv in the same invocation.

    python benchmarks/pool_scoring.py [--peer-python /path/to/peers/bin/python]

GFLOP/s counts the forward pass only: 2 · members · (20·128 + 128·2) FLOPs per point.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np

from qsynth.data import LabeledBuffer
from qsynth.learners import LearnerConfig
from qsynth.strategies import Scorer, score_points
from qsynth.strategies import scoring

SIZES = [1_000, 10_000, 100_000, 1_000_000]
FLOPS_PER_POINT = 2 * 5 * (20 * 128 + 128 * 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--peer-python")
    parser.add_argument("--measure", default="vote_entropy")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    w = rng.normal(size=20)
    learner = LearnerConfig(model="mlp", hidden=(128,), members=5, steps=50).build((20,), 2)
    buf = LabeledBuffer.empty((20,))
    x0 = rng.normal(size=(200, 20)).astype(np.float32)
    buf.add(x0, (x0 @ w > 0).astype(np.int32), 0)
    params = learner.fit(jax.random.key(0), None, buf).params
    scorer = Scorer(args.measure)
    score_points(learner, scorer, params, x0)  # compile
    traces = scoring.TRACE_COUNTS["score_chunk"]
    rows = {}
    for n in SIZES:
        pool = rng.normal(size=(n, 20)).astype(np.float32)
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            s = score_points(learner, scorer, params, pool)
            int(np.argmax(s))
            best = min(best, time.perf_counter() - t0)
        rows[n] = {"seconds": best, "points_per_s": n / best, "gflops": n * FLOPS_PER_POINT / best / 1e9}
        print(f"qsynth n={n:>9,}: {best:8.4f} s  {n / best:12,.0f} points/s  {rows[n]['gflops']:.1f} GFLOP/s",
              file=sys.stderr)
    report = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "jax": jax.__version__,
              "measure": args.measure, "qsynth": rows,
              "compilations_for_all_sizes": scoring.TRACE_COUNTS["score_chunk"] - traces}
    if args.peer_python:
        done = subprocess.run([args.peer_python, str(Path(__file__).parent / "peers" / "modal_pool_scoring.py"),
                               *map(str, SIZES)], capture_output=True, text=True, check=True)
        peer = {int(k): v for k, v in json.loads(done.stdout).items()}
        report["modal_committee5"] = {n: {"seconds": s, "points_per_s": n / s} for n, s in peer.items()}
        for n, s in peer.items():
            print(f"modAL  n={n:>9,}: {s:8.4f} s  {n / s:12,.0f} points/s", file=sys.stderr)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "pool_scoring.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
