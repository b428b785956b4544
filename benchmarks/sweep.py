"""Wall time of a sweep run serially vs in worker processes (`qsynth run --jobs N`), interleaved,
each from a cold compile cache, on one commit; prints the figures and writes
benchmarks/results/sweep.json.

    python benchmarks/sweep.py                 # the default job, serial vs --jobs 2, 3 rounds
    python benchmarks/sweep.py --rounds 1 --config experiments/breast_cancer.toml
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one(config: str | None, jobs: int, folder: Path) -> float:
    """Seconds for one `qsynth run` from a cold compile cache (a fresh cache folder)."""
    env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": str(folder / "xla")}
    args = [sys.executable, "-m", "qsynth.cli", "run", *([config] if config else []), "--out", str(folder / "runs"),
            "--quiet", "--no-plots", "--jobs", str(jobs)]
    t0 = time.perf_counter()
    subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", help="a config (default: the built-in default job)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    times: dict[str, list[float]] = {"serial": [], f"--jobs {args.jobs}": []}
    for r in range(args.rounds):
        order = [("serial", 1), (f"--jobs {args.jobs}", args.jobs)]
        for name, jobs in order if r % 2 == 0 else order[::-1]:  # interleaved, alternating which goes first
            with tempfile.TemporaryDirectory() as tmp:
                times[name].append(one(args.config, jobs, Path(tmp)))
            print(f"round {r + 1}: {name}: {times[name][-1]:.1f} s", flush=True)
    medians = {k: statistics.median(v) for k, v in times.items()}
    ratio = medians[f"--jobs {args.jobs}"] / medians["serial"]
    print(f"median of {args.rounds}: serial {medians['serial']:.1f} s, --jobs {args.jobs} "
          f"{medians[f'--jobs {args.jobs}']:.1f} s ({ratio:.2f}× serial)")
    report = {"machine": f"{platform.processor() or platform.machine()}, {len(os.sched_getaffinity(0))} cores",
              "config": args.config or "qsynth/configs/default.toml", "seconds": times, "median_seconds": medians,
              "ratio": ratio}
    out = ROOT / "benchmarks" / "results" / "sweep.json"
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
