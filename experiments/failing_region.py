"""A simulator that fails in part of its box: input synthesis with `[oracle] failures = "avoid"`
(the answerability model steers away from failing calls) against `"ignore"` (issue 16).

The task, fixed before any run: the cart-pole gains (k_θ 0–40, k_ω 0–6; the simulator of
`experiments/cartpole_synthesis.toml`), whose solver raises for k_ω > 3.5 and k_θ < 28 —
29% of the box, along the success boundary at k_θ ≈ 17 for k_ω 3.5–6. A failed call is a
spent call. Accuracy and F1 of the success region are measured on the points of a 100 × 100
grid outside the failing region (where there is an answer to get right), against the RK4
reference at a quarter of the step. Learner and synthesis: those of
`experiments/cartpole_synthesis.toml`; 100 calls, 2 per round, a 4-call stratified seed set
from 2,000 uniform candidates (half of them gains that work and can be simulated, so every run
starts knowing both classes; the other seeds may fail); random sampling of the candidates for
reference. Nothing was tuned: answerability's lengthscale and prior are
chosen each round by leave-one-out likelihood.

    python experiments/failing_region.py [--seeds 0 1 2 ...] [--out runs]   (about 15 min on 2 cores)

Writes runs/failing-region-{avoid,ignore}/ and `benchmarks/results/failing_region.json`, and
prints the table.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BOUNDS = ((0.0, 40.0), (0.0, 6.0))
CALLS = (25, 50, 100)


def fails(x: np.ndarray) -> np.ndarray:
    """Where the solver raises: k_ω > 3.5 and k_θ < 28 (physical gains `[..., 2]`)."""
    x = np.asarray(x, np.float64)
    return (x[..., 1] > 3.5) & (x[..., 0] < 28.0)


def crashing_cartpole(x: np.ndarray) -> dict:
    """The cart-pole's answer for gains `x: [2]`, or a raised error inside the failing region."""
    from qsynth.oracles.simulators.cartpole import CartPole

    if fails(x):
        raise FloatingPointError(f"the solver diverged at gains {np.round(x, 3).tolist()}")
    return CartPole().simulate(np.asarray(x, np.float64))


def answerable_success(x: np.ndarray) -> int:
    """1 where the gains keep the pole up and the solver does not fail (labels the pool, so the
    stratified seed set starts from one such gain)."""
    from qsynth.oracles.simulators.cartpole import CartPole

    x = np.asarray(x, np.float64)
    return int(not fails(x) and CartPole().simulate(x)["label"] == 1)


def write_reference(path: Path) -> Path:
    """The 100 × 100 grid's points outside the failing region with their reference labels (.npz x, y)."""
    from qsynth.oracles.region import grid
    from qsynth.oracles.simulators.cartpole import CartPole

    low, high = np.array([b[0] for b in BOUNDS]), np.array([b[1] for b in BOUNDS])
    points = low + grid(np.zeros(2), np.ones(2), 100) * (high - low)
    points = points[~fails(points)]
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=points, y=CartPole().reference(points))
    return path


def config(failures: str, seeds: list[int], reference: Path):
    from qsynth.config import parse_config

    strategies = [{"kind": "input_synthesis", "measure": "entropy", "starts": 256, "steps": 50,
                   "learning_rate": 0.05, "min_distance": 0.02}]
    if failures == "avoid":
        strategies.append({"kind": "random"})  # (failures does not change what random asks)
    return parse_config({
        "name": f"failing-region-{failures}", "seeds": seeds, "at_labels": list(CALLS), "targets": [0.95],
        "data": {"name": "box", "args": {"bounds": [list(b) for b in BOUNDS], "names": ["k_theta", "k_omega"],
                                         "reference_grid": str(reference),
                                         "reference": "failing_region:answerable_success", "pool_size": 2000}},
        "oracle": {"kind": "function", "function": "failing_region:crashing_cartpole", "failures": failures},
        "learner": {"model": "mlp", "hidden": [64, 64], "members": 5, "learning_rate": 0.01,
                    "weight_decay": 0.0001, "steps": 400, "warm_steps": 60},
        "loop": {"budget": 100, "seed_size": 4, "seed_strategy": "stratified", "batch_size": 2, "fsync": False},
        "strategies": strategies})


def _at(history: list[dict], calls: int, key: str) -> float:
    from qsynth.experiments.summary import accuracy_at

    return accuracy_at(history, calls, key)


def analyse(out: Path) -> dict:
    from qsynth.experiments.runner import load_histories

    arms = {"synthesis, failures = avoid": ("failing-region-avoid", "input_synthesis-entropy"),
            "synthesis, failures = ignore": ("failing-region-ignore", "input_synthesis-entropy"),
            "random": ("failing-region-avoid", "random")}
    report: dict = {}
    for arm, (run, strategy) in arms.items():
        runs = load_histories(out / run)[strategy]
        report[arm] = {"f1": {n: [_at(h, n, "f1") for h in runs] for n in CALLS},
                       "accuracy": {n: [_at(h, n, "accuracy") for h in runs] for n in CALLS},
                       "failed": [h[-1]["failed"] for h in runs], "seeds": len(runs)}
    avoid, ignore = report["synthesis, failures = avoid"], report["synthesis, failures = ignore"]
    d = np.asarray(avoid["f1"][100]) - np.asarray(ignore["f1"][100])
    report["paired_f1_at_100"] = {"mean": float(d.mean()), "se": float(d.std(ddof=1) / math.sqrt(len(d))),
                                  "ahead": int((d > 0).sum()), "ties": int((d == 0).sum())}
    report["failed_ratio"] = float(np.sum(avoid["failed"]) / max(np.sum(ignore["failed"]), 1))
    return report


def _by_calls(values: dict, n: int) -> list[float]:
    return values[n] if n in values else values[str(n)]  # (str keys once read back from JSON)


def table(report: dict) -> str:
    """The markdown table of `report` (as `analyse` returns it, or read back from its JSON)."""
    lines = ["| arm | " + " | ".join(f"F1 @ {n}" for n in CALLS) + " | accuracy @ 100 | failed calls of 100 |",
             "|---|" + "---|" * (len(CALLS) + 2)]
    for arm, r in report.items():
        if not isinstance(r, dict) or "f1" not in r:
            continue
        cells = [f"{np.nanmean(_by_calls(r['f1'], n)):.3f} ± {np.nanstd(_by_calls(r['f1'], n)):.3f}" for n in CALLS]
        acc = _by_calls(r["accuracy"], 100)
        lines.append(f"| {arm} | " + " | ".join(cells) + f" | {np.nanmean(acc):.3f} ± {np.nanstd(acc):.3f} | "
                     f"{np.mean(r['failed']):.1f} ± {np.std(r['failed']):.1f} |")
    p = report["paired_f1_at_100"]
    lines += ["", f"Paired F1 at 100 calls, avoid − ignore: {p['mean']:+.3f} ± {p['se']:.3f} (s.e.), avoid ahead on "
              f"{p['ahead']}/{report['synthesis, failures = avoid']['seeds']} seeds ({p['ties']} ties); failed "
              f"calls, avoid / ignore: {report['failed_ratio']:.2f}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    ap.add_argument("--out", default="runs")
    ap.add_argument("--analyse-only", action="store_true", help="re-read finished runs, run nothing")
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results" / "failing_region.json"))
    args = ap.parse_args(argv)
    sys.path.insert(0, str(HERE))  # (the oracle is this file's `crashing_cartpole`, run in this process)
    from qsynth.experiments.runner import run_experiment

    out = Path(args.out)
    reference = write_reference(out / "failing-region-reference.npz")
    if not args.analyse_only:
        for failures in ("avoid", "ignore"):
            run_experiment(config(failures, args.seeds, reference), out, overwrite=True)
    report = analyse(out)
    print(table(report))
    Path(args.results).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
