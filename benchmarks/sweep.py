"""Wall time of a sweep run serially vs in worker processes (`qsynth run --jobs N`) vs on a local
Dask cluster of N workers (`--jobs N --dask`), interleaved, each from a cold compile cache, on
one commit; prints the figures and writes benchmarks/results/sweep.json.

    python benchmarks/sweep.py                 # the default job, serial vs --jobs 2 vs Dask, 3 rounds
    python benchmarks/sweep.py --rounds 1 --config experiments/breast_cancer.toml
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one(config: str | None, flags: list[str], folder: Path) -> float:
    """Seconds for one `qsynth run` from a cold compile cache: none for the serial run (as a user's
    first run), and the fresh one a sweep makes in its new run folder."""
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    args = [sys.executable, "-m", "qsynth.cli", "run", *([config] if config else []), "--out", str(folder / "runs"),
            "--quiet", "--no-plots", *flags]
    t0, cpu0 = time.perf_counter(), _children_cpu()
    subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    CPU.setdefault(" ".join(flags), []).append(_children_cpu() - cpu0)
    return time.perf_counter() - t0


#: CPU seconds (user + system, the run and every process it waited for) of each arm's runs
CPU: dict[str, list[float]] = {}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", help="a config (default: the built-in default job)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    arms = {"serial": ["--jobs", "1"], f"--jobs {args.jobs}": ["--jobs", str(args.jobs)],
            f"--jobs {args.jobs} --dask": ["--jobs", str(args.jobs), "--dask"]}
    times: dict[str, list[float]] = {name: [] for name in arms}
    for r in range(args.rounds):
        order = list(arms.items())
        for name, flags in order[r % len(order):] + order[:r % len(order)]:  # interleaved, each arm first in turn
            with tempfile.TemporaryDirectory() as tmp:
                times[name].append(one(args.config, flags, Path(tmp)))
            print(f"round {r + 1}: {name}: {times[name][-1]:.1f} s ({CPU[' '.join(flags)][-1]:.0f} CPU s)", flush=True)
    medians = {k: statistics.median(v) for k, v in times.items()}
    ratio = {k: v / medians["serial"] for k, v in medians.items()}
    print(f"median of {args.rounds}: " + ", ".join(f"{k} {v:.1f} s ({ratio[k]:.2f}× serial)" for k, v in medians.items()))
    report = {"machine": f"{platform.processor() or platform.machine()}, {len(os.sched_getaffinity(0))} cores",
              "config": args.config or "qsynth/configs/default.toml", "seconds": times, "median_seconds": medians,
              "cpu_seconds": {name: CPU[" ".join(flags)] for name, flags in arms.items()},
              "ratio": ratio}
    out = ROOT / "benchmarks" / "results" / "sweep.json"
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
