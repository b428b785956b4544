"""Time per round (fit + select) of a box-task learner with input-space synthesis, at 25, 100 and
200 labels, on a 2-D and an 8-D boundary problem (issue 14's cost target: ≤ 0.1 s per round at
100 labels on 2 cores).

One run per problem, one query per round, the suite's synthesis (256 starts × 50 steps,
`experiments/boundaries.py`), 210 calls; a round's time is `select_s + train_s` from the run's
metrics (the test-set evaluation is not counted); the figure at n labels is the median over the
rounds with n − 10 … n + 10 labels, rounds that compiled a program left out and reported
separately.

    python benchmarks/box_round_time.py [--learner-name gp] [--strategy-name input_synthesis]
        [--problems islands smooth8d]

Each problem runs in a fresh process. Prints a table and adds to
benchmarks/results/box_round_time_<learner>.json (`_<learner>_<strategy>.json` for a strategy
other than `input_synthesis`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "experiments"))
from boundaries import LEARNERS, POOL_SIZE, SEED_SIZE, STRATEGIES  # noqa: E402

from qsynth.config import parse_config  # noqa: E402
from qsynth.experiments.box_task import box_task  # noqa: E402
from qsynth.experiments.boundaries import PROBLEMS, labels  # noqa: E402
from qsynth.loop import run_loop  # noqa: E402
from qsynth.loop_config import LoopConfig  # noqa: E402
from qsynth.strategies import build_strategy  # noqa: E402

AT = (25, 100, 200)
CALLS = 210


def one_problem(name: str, learner_name: str, strategy_name: str, seed: int) -> dict:
    problem = PROBLEMS[name]
    low, high = np.asarray(problem.bounds).T
    task = box_task(lambda x: int(labels(problem, x[None])[0]), problem.bounds, pool_size=POOL_SIZE, grid=20,
                    seed=seed)
    learner = parse_config({"learner": LEARNERS[learner_name]}).learner.build(task.problem.feature_shape, 2)
    loop = LoopConfig(budget=CALLS, seed_size=SEED_SIZE, seed_strategy="stratified", batch_size=1)
    result = run_loop(jax.random.key(seed), task.problem, learner, build_strategy(STRATEGIES[strategy_name]),
                      task.oracle, loop)
    rows = result.history[1:]
    out = {"dim": problem.dim, "compile_s": [r["select_s"] + r["train_s"] for r in rows if r["compiled"]]}
    for n in AT:
        times = [r["select_s"] + r["train_s"] for r in rows if abs(r["labels"] - n) <= 10 and not r["compiled"]]
        fits = [r["train_s"] for r in rows if abs(r["labels"] - n) <= 10 and not r["compiled"]]
        out[n] = {"round_s_median": float(np.median(times)), "fit_s_median": float(np.median(fits)),
                  "rounds": len(times)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--learner-name", choices=sorted(LEARNERS), default="gp")
    ap.add_argument("--strategy-name", choices=sorted(STRATEGIES), default="input_synthesis")
    ap.add_argument("--problems", nargs="+", default=["islands", "smooth8d"], choices=sorted(PROBLEMS))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    suffix = "" if args.strategy_name == "input_synthesis" else f"_{args.strategy_name}"
    out = HERE / "results" / f"box_round_time_{args.learner_name}{suffix}.json"
    if len(args.problems) > 1:  # each problem in a fresh process: its compilations counted, nothing shared
        for name in args.problems:
            subprocess.run([sys.executable, __file__, "--learner-name", args.learner_name,
                            "--strategy-name", args.strategy_name, "--problems", name,
                            "--seed", str(args.seed)], check=True)
        return
    report = json.loads(out.read_text()) if out.exists() else {}
    report.update({"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
                   "jax": jax.__version__, "learner": LEARNERS[args.learner_name],
                   "synthesis": STRATEGIES[args.strategy_name]})
    report.setdefault("problems", {}).update({name: one_problem(name, args.learner_name, args.strategy_name, args.seed)
                                              for name in args.problems})
    print(f"{'problem':<10}" + "".join(f"{f'round s @ {n}':>16}" for n in AT) + f"{'compiles':>10}")
    for name, r in report["problems"].items():
        at = {int(k): v for k, v in r.items() if k not in ("dim", "compile_s")}  # (keys are strings once read back)
        print(f"{name:<10}" + "".join(f"{at[n]['round_s_median']:>16.3f}" for n in AT) + f"{len(r['compile_s']):>10}")
    out.write_text(json.dumps(report, indent=1))
    print(f"wrote {out.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
