"""Batches that spread (issue 14): how a batch of queries per round is chosen, on the boundary
suite's problems, with the box learner recommended when these runs were made (2026-12-02: the
GP with the plain leave-one-out lengthscale, the suite's `gp_loo`).

Every arm asks `--batch` queries per round (8 by default) up to each problem's budget, from the
suite's 4-call stratified seed set and 2,000-point pool, and every call counts. Arms:

* `synthesis-distance`: the recommended synthesis (`boundary_information` ascent), its batch
  the best finished starts no two closer than `min_distance` (2% of the box diagonal);
* `synthesis-believer`: the same ascent, its batch by the kriging believer
  (`batch = "believer"`: each query chosen after believing answers at the ones before);
* `pool-topk`, `pool-kcenter`, `pool-believer`: pool `boundary_information`, its batch the top
  k, k-center over the top 10·k, or by the believer;
* `random`: uniform pool points.

    python experiments/batch_spread.py [--problem NAME ...] [--seeds 0 1 2 3 4] [--batch 8]

Settings were chosen on seeds 0–4 and confirmed on 100–104. Resumable per (problem, arm, seed).
Writes `benchmarks/results/batch_spread-<seeds>.json` and prints the table (mean ± std of F1,
and each arm's paired difference from `synthesis-distance` / `pool-topk`), then, for seeds the
final boundary table also ran (100–109), what batching costs against one query per round on the
same seeds, and the wall time. F1 "at n calls" is that of the last round within n calls (with
batches of 8 from a 4-call seed set: 20 and 44 calls at 25 and 50).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from boundaries import ROOT, SYNTHESIS_BI, evaluation_reference, run_arm, run_config  # noqa: E402

from qsynth import recommended  # noqa: E402

#: (The synthesis arms are the recommended box synthesis of when these runs were made, 2026-12-02:
#: `SYNTHESIS_BI`, without the `rescore` that `recommended.box_synthesis()` has since 2026-12-07.)
ARMS = {
    "synthesis-distance": SYNTHESIS_BI,
    "synthesis-believer": SYNTHESIS_BI | {"batch": "believer"},
    "pool-topk": recommended.box_pool() | {"batch": "topk"},
    "pool-kcenter": recommended.box_pool() | {"batch": "kcenter"},
    "pool-believer": recommended.box_pool(),
    "random": recommended.box_random(),
}
#: Each arm's paired reference: the same family's batch rule of today.
BASELINE = {"synthesis-believer": "synthesis-distance", "pool-kcenter": "pool-topk", "pool-believer": "pool-topk"}
PROBLEMS = ("polygon", "islands", "projectile", "smooth4d", "smooth8d", "cartpole")


def run_problem(problem, arms: list[str], seeds: list[int], out: Path, tag: str, batch: int) -> dict:
    """{arm: {"f1": {calls: [per seed]}, "s_per_call": [per seed]}} for `problem`."""
    reference = evaluation_reference(problem, out)
    return {arm: run_arm(problem, run_config(problem, "gp_loo", (f"batch{batch}-{arm}", ARMS[arm]), seeds,
                                             reference, tag, batch), out, jobs=1)
            for arm in arms}


def table(report: dict) -> str:
    """The markdown table: F1 mean ± std per budget; paired differences against the baseline."""
    lines = []
    for name, entry in report["problems"].items():
        budgets = entry["budgets"]
        lines += [f"\n**{name}** ({entry['dim']}-D, batch {report['batch']})\n",
                  "| arm | " + " | ".join(f"{n} calls" for n in budgets) + " | paired vs today's rule | s / call |",
                  "|---" * (len(budgets) + 3) + "|"]
        for arm, res in entry["arms"].items():
            cells = [f"{np.nanmean(res['f1'][str(n)]):.3f} ± {np.nanstd(res['f1'][str(n)]):.3f}" for n in budgets]
            paired = ""
            base = BASELINE.get(arm)
            if base in entry["arms"]:
                diffs = []
                for n in budgets:
                    d = np.asarray(res["f1"][str(n)]) - np.asarray(entry["arms"][base]["f1"][str(n)])
                    diffs.append(f"{np.nanmean(d):+.3f} ({int(np.sum(d > 0))}/{len(d)})")
                paired = " / ".join(diffs) + f" vs {base}"
            lines.append(f"| {arm} | " + " | ".join(cells) + f" | {paired} | {np.mean(res['s_per_call']):.3f} |")
    return "\n".join(lines)


#: Each arm's one-query-per-round counterpart in the final boundary table (`boundaries.py --final`).
ONE_PER_ROUND = {"synthesis": "input_synthesis_bi-gp_loo", "pool": "pool_bi-gp_loo", "random": "random-gp_loo"}


def against_one_per_round(report: dict, single: dict) -> str:
    """The markdown table of what batching costs: F1 at each problem's last budget with one query
    per round (`single`, the final boundary table's results) against this report's batches, paired
    over the seeds both hold (the same seed gives the same seed set and pool), with s / call."""
    seeds = [s for s in report["seeds"] if s in single["seeds"]]
    mine, theirs = ([r["seeds"].index(s) for s in seeds] for r in (report, single))
    lines = [f"| problem | calls | arm | one per round | batch {report['batch']} | paired | s / call (1 → "
             f"{report['batch']}) |", "|---|---|---|---|---|---|---|"]
    for name, entry in report["problems"].items():
        if name not in single["problems"]:
            continue
        n = str(entry["budgets"][-1])
        for arm, res in entry["arms"].items():
            other = single["problems"][name]["arms"].get(ONE_PER_ROUND[arm.split("-")[0]])
            if other is None:
                continue
            a = np.asarray(other["f1"][n])[theirs]
            b = np.asarray(res["f1"][n])[mine]
            d = b - a
            lines.append(f"| {name} | {n} | {arm} | {a.mean():.3f} | {b.mean():.3f} | {d.mean():+.3f} "
                         f"({int(np.sum(d > 0))}/{len(d)}) | {np.mean(np.asarray(other['s_per_call'])[theirs]):.3f}"
                         f" → {np.mean(np.asarray(res['s_per_call'])[mine]):.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    from qsynth.experiments.boundaries import PROBLEMS as ALL

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problem", nargs="+", choices=list(ALL), default=list(PROBLEMS))
    ap.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS))
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(5)))
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--out", default="runs")
    args = ap.parse_args(argv)
    tag = f"seeds{min(args.seeds)}-{max(args.seeds)}"
    path = ROOT / "benchmarks" / "results" / f"batch_spread-{tag}.json"
    report = json.loads(path.read_text()) if path.exists() else {"seeds": args.seeds, "batch": args.batch,
                                                                "problems": {}}
    if report["batch"] != args.batch:
        sys.exit(f"{path.name} holds batch {report['batch']}; --batch {args.batch} would mix them")
    t0 = time.perf_counter()
    for name in args.problem:
        problem = ALL[name]
        t = time.perf_counter()
        arms = run_problem(problem, args.arms, args.seeds, Path(args.out), tag, args.batch)
        entry = report["problems"].setdefault(name, {"dim": problem.dim, "budgets": list(problem.budgets), "arms": {}})
        entry["arms"].update(json.loads(json.dumps(arms)))  # (budgets as string keys, as read back)
        print(f"{name}: {time.perf_counter() - t:.0f} s", flush=True)
        path.write_text(json.dumps(report, indent=1))
    print(table(report))
    single = ROOT / "benchmarks" / "results" / "boundaries-seeds100-109.json"
    if single.exists() and set(report["seeds"]) & set(json.loads(single.read_text())["seeds"]):
        print(against_one_per_round(report, json.loads(single.read_text())))
    print(f"wall time {time.perf_counter() - t0:.0f} s; wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
