"""Digits protocol: labels to 90/95% and time per round, qsynth (margin) vs modAL + MLPClassifier(128).

One learner configuration (`digits_protocol.LEARNERS[--learner-name]`) gives both figures. The peer runs in
its own venv (scikit-learn 1.7.x: modAL 0.4.2.1 breaks on 1.8+), on the same splits and seed
sets, in the same invocation, one after the other.

    python benchmarks/round_time.py --peer-python /path/to/peers/bin/python [--seeds 0 1 2 3 4]
    python benchmarks/round_time.py --learner warm_start=false steps=300 --out round_time_scratch
    python benchmarks/round_time.py --learner-name nngp --out round_time_nngp

`--learner FIELD=VALUE ...` overrides fields of that configuration (a variant, reported as such).
Prints a table and writes benchmarks/results/<out>.json (default round_time).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from digits_protocol import LEARNERS, LOOP, SEEDS  # noqa: E402

from qsynth.data import digits  # noqa: E402
from qsynth.experiments.summary import accuracy_at, labels_to_reach, mean_std  # noqa: E402
from qsynth.loop import run_loop, seed_queries  # noqa: E402
from qsynth.oracles import DatasetOracle  # noqa: E402
from qsynth.problem import Problem  # noqa: E402
from qsynth.strategies import build_strategy  # noqa: E402


def describe(histories: list[list[dict]], round_seconds: list[float]) -> dict:
    return {
        "labels_to_90": mean_std([labels_to_reach(h, 0.90) for h in histories]),
        "labels_to_95": mean_std([labels_to_reach(h, 0.95) for h in histories]),
        "reached_95": sum(labels_to_reach(h, 0.95) is not None for h in histories),
        "accuracy_at": {n: mean_std([accuracy_at(h, n) for h in histories]) for n in (50, 100, 200, 300)},
        "round_seconds_median": float(np.median(round_seconds)),
        "round_seconds_p90": float(np.percentile(round_seconds, 90)),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--peer-python", help="python of a venv with modAL-python and scikit-learn 1.7.x")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--strategy", default="margin")
    parser.add_argument("--learner-name", choices=sorted(LEARNERS), default="mlp_ensemble")
    parser.add_argument("--learner", nargs="*", default=[], metavar="FIELD=VALUE",
                        help="override learner fields, e.g. warm_start=false steps=300")
    parser.add_argument("--out", default="round_time")
    args = parser.parse_args()
    learner_config = LEARNERS[args.learner_name]
    if args.learner:
        overrides = {}
        for item in args.learner:
            field, _, value = item.partition("=")
            overrides[field] = json.loads(value)
        learner_config = dataclasses.replace(learner_config, **overrides)
    report: dict = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
                    "jax": jax.__version__, "learner_name": args.learner_name, "learner": learner_config.__dict__,
                    "seeds": args.seeds}
    histories, round_s, compile_s = [], [], []
    shared = {}
    for seed in args.seeds:
        data = digits(seed)
        problem = Problem.from_dataset(data)
        learner = learner_config.build(problem.feature_shape, problem.num_classes)
        seed_idx = seed_queries(jax.random.fold_in(jax.random.key(seed), 0), problem, LOOP.seed_size, True).pool_index
        shared.update({f"x_{seed}": data.x, f"y_{seed}": data.y, f"x_test_{seed}": data.x_test,
                       f"y_test_{seed}": data.y_test, f"seed_idx_{seed}": seed_idx})
        t0 = time.perf_counter()
        result = run_loop(jax.random.key(seed), problem, learner, build_strategy({"kind": "uncertainty", "measure": args.strategy}),
                          DatasetOracle(data.y, data.classes), LOOP)
        rows = result.history
        histories.append(rows)
        round_s += [r["select_s"] + r["train_s"] for r in rows[1:] if not r["compiled"]]
        compile_s += [r["train_s"] for r in rows if r["compiled"]]
        print(f"qsynth seed {seed}: labels to 95% {labels_to_reach(rows, 0.95)}, "
              f"{time.perf_counter() - t0:.1f}s", file=sys.stderr)
    report["qsynth"] = describe(histories, round_s)
    report["qsynth"]["compile_seconds_per_bucket_median"] = float(np.median(compile_s))
    if args.peer_python:
        with tempfile.TemporaryDirectory() as tmp:
            np.savez(Path(tmp) / "split.npz", **shared)
            t0 = time.perf_counter()
            done = subprocess.run([args.peer_python, str(Path(__file__).parent / "peers" / "modal_digits.py"),
                                   str(Path(tmp) / "split.npz"), str(LOOP.budget)], capture_output=True, text=True,
                                  check=True)
            print(f"modAL: {time.perf_counter() - t0:.0f}s", file=sys.stderr)
        peer = json.loads(done.stdout)
        peer_h = [[{"queries": q, "accuracy": a} for q, a in zip(p["labels"], p["accuracy"])] for p in peer.values()]
        report["modal_mlp128_margin"] = describe(peer_h, [s for p in peer.values() for s in p["seconds"]])
        report["speedup_median_round"] = (report["modal_mlp128_margin"]["round_seconds_median"]
                                          / report["qsynth"]["round_seconds_median"])
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / f"{args.out}.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
