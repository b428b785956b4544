"""A memory-mapped pool scored by a pool strategy: memory and time against pool size.

For each size (10^5, 10^6, 10^7 points × 20 features by default) it writes a float32 `.npy`
pool and int32 labels (a block at a time), then in a fresh process opens them as
`[data] name = "npy"` does (`qsynth.data.npy.load_npy`), builds the problem, fits a 5-member
MLP(128) ensemble on 64 labeled points and runs one round of `PoolSampling(measure="entropy")`
over every unlabeled point (its program compiled beforehand). It reports the anonymous memory (RssAnon: what the process
allocated, not the file's pages the kernel maps in) above the baseline taken right after the
imports, at its peak (sampled every 20 ms) and at the end, and the scoring rate. Prints a
table and writes benchmarks/results/memmap_pool.json.

    python benchmarks/memmap_pool.py
    python benchmarks/memmap_pool.py --sizes 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r'''
import json, sys, threading, time

def rss_anon():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no RssAnon in /proc/self/status")

import jax, numpy as np
from qsynth.data import LabeledBuffer
from qsynth.data.npy import load_npy
from qsynth.learners import LearnerConfig
from qsynth.problem import Problem
from qsynth.strategies import PoolSampling, RoundContext
baseline = rss_anon()
peak = [baseline]
stop = threading.Event()

def sample():
    while not stop.is_set():
        peak[0] = max(peak[0], rss_anon())
        time.sleep(0.02)

threading.Thread(target=sample, daemon=True).start()
path, labels = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
data = load_npy(path, labels, n_test=10_000)
problem = Problem.from_dataset(data)
load_s = time.perf_counter() - t0
learner = LearnerConfig(model="mlp", hidden=(128,), members=5, steps=100).build(problem.feature_shape, 2)
buffer = LabeledBuffer.empty(problem.feature_shape)
buffer.add(np.asarray(problem.pool[:64]), np.asarray(data.y[:64]), 0)
state = learner.fit(jax.random.key(0), None, buffer)
available = np.ones(len(problem.pool), bool)
available[:64] = False
ctx = RoundContext(round_index=1, learner=learner, params=state.params, problem=problem, available=available,
                   buffer=buffer)
strategy = PoolSampling(measure="entropy")
from qsynth.strategies.measures import Scorer
from qsynth.strategies.scoring import score_points
score_points(learner, Scorer("entropy"), state.params, problem.pool, rows=np.arange(2048))  # compiles the 1,024-point program
t0 = time.perf_counter()
queries, _ = strategy.select(jax.random.key(1), ctx, 1, None)
score_s = time.perf_counter() - t0
stop.set()
end = rss_anon()
print(json.dumps({"points": int(available.sum()), "load_and_hash_s": load_s, "score_s": score_s,
                  "points_per_s": available.sum() / score_s, "baseline_mib": baseline / 2**20,
                  "peak_growth_mib": (max(peak[0], end) - baseline) / 2**20, "end_growth_mib": (end - baseline) / 2**20,
                  "chosen": int(queries.pool_index[0])}))
'''


def write_pool(folder: Path, rows: int, dims: int) -> tuple[Path, Path]:
    """A float32 pool [rows, dims] and int32 labels (a halfspace), written a block at a time."""
    import numpy as np

    path, labels = folder / f"pool-{rows}.npy", folder / f"labels-{rows}.npy"
    x = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, dims))
    y = np.lib.format.open_memmap(labels, mode="w+", dtype=np.int32, shape=(rows,))
    rng = np.random.default_rng(0)
    w = rng.normal(size=dims).astype(np.float32)
    for start in range(0, rows, 1 << 20):
        block = rng.normal(size=(min(1 << 20, rows - start), dims)).astype(np.float32)
        x[start:start + len(block)] = block
        y[start:start + len(block)] = (block @ w > 0).astype(np.int32)
    x.flush()
    y.flush()
    del x, y
    return path, labels


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    ap.add_argument("--dims", type=int, default=20)
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            path, labels = write_pool(Path(tmp), size + 10_000, args.dims)  # (the last 10,000 rows are the test set)
            out = subprocess.run([sys.executable, "-c", CHILD, str(path), str(labels)], capture_output=True, text=True,
                                 cwd=ROOT, check=True, env={**os.environ})
            row = {"pool": size, "dims": args.dims, **json.loads(out.stdout.strip().splitlines()[-1])}
            rows.append(row)
            print(f"{size:>11,} points: scored in {row['score_s']:.2f} s ({row['points_per_s']:,.0f} points/s); "
                  f"RssAnon +{row['peak_growth_mib']:.0f} MiB at peak, +{row['end_growth_mib']:.0f} MiB at the end "
                  f"(baseline {row['baseline_mib']:.0f} MiB); load and hash {row['load_and_hash_s']:.1f} s", flush=True)
            path.unlink()
            labels.unlink()
    out_file = ROOT / "benchmarks" / "results" / "memmap_pool.json"
    out_file.write_text(json.dumps({"machine": f"{os.cpu_count()} cores", "rows": rows}, indent=1) + "\n")
    print(f"wrote {out_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
