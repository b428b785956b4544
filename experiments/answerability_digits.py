"""Answerability on digits: latent synthesis weighed by P(answered | z) against the same arm
without it, pool uncertainty (entropy, margin) and random, with the teacher oracle that
abstains below 0.9 confidence (issue 16).

Each task is `experiments/synthesis_digits_{task}.toml` (data, learner, generator, teacher,
budget, seed set as there) with these arms:

* `synthesis-entropy`: max-entropy latent synthesis from prior starts (the 66.8%-abstained arm
  of docs/results.md), answerability on (the default);
* `synthesis-entropy-off`: the same with `answerability = false` (today's behaviour);
* on all ten classes also `synthesis-smooth_margin-pool` / `-off`: smooth-margin synthesis from
  pool encodings (the 27.1% arm), on and off;
* `...-confidence`: each synthesis arm with its answerability modelled in the learner's
  confidence space (`answerability_space = "confidence"`: P(answered | the learner's sorted
  class probabilities at the query)), chosen on seeds 10–12;
* `...-support`: the same with the query's distance to its nearest real (pool) images added
  (`answerability_space = "confidence+support"`), chosen on seeds 10–12 (against the distance
  alone, and 10 neighbours instead of 5);
* on all ten classes also `synthesis-entropy-support-costly`: the max-entropy support arm
  with a refusal that costs `REFUSAL_COST` answered queries (`refusal_cost`: the weighed
  acquisition per expected cost of asking), chosen on seeds 10–17 against 2 (and 1, the
  `-support` arm);
* `synthesis-entropy-support-fallback-w{K}[-r{R}]`: the max-entropy support arm with a pool
  fallback (`pool_fallback`): each round the unqueried pool images compete with the
  synthesized query, both weighed by an answerability model of the newest K outcomes
  (`fallback_window`; `-all`: the whole log) at refusal cost R; `WINDOW` and
  `FALLBACK_REFUSAL_COST` were chosen on seeds 10-19 of the pairs (`--windows`,
  `--fallback-costs` run others);
* `entropy`, `margin`: pool uncertainty sampling; `random`.

Answerability's lengthscale and prior are chosen every round by leave-one-out likelihood; its
space (where the query is, or the learner's confidence) was chosen on seeds 10–12
(`--seeds 10 11 12`). Seeds 0–9 (the configs' own). Reports accuracy at 20/40/60/100
labels, the share of synthesized queries that abstained, and paired differences over seeds.

    python experiments/answerability_digits.py --jobs 2         # all three tasks, ~20 min on 2 cores
    python experiments/answerability_digits.py --tasks all --seeds 10 11
    python experiments/answerability_digits.py --tasks all --seeds 20 21 22 23 24 25 26 27 28 29 \
        --arms synthesis-entropy-support synthesis-entropy-off synthesis-smooth_margin-pool-support \
        synthesis-smooth_margin-pool-off margin random \
        --results benchmarks/results/answerability_digits-all-seeds20-29.json   # the confirmation
    python experiments/answerability_digits.py --tasks all --arms synthesis-entropy-support-costly \
        synthesis-entropy-support margin entropy random \
        --results benchmarks/results/answerability_digits-costly-seeds0-9.json   # refusal_cost, seeds 0-9
    python experiments/answerability_digits.py --tasks all --seeds 20 21 22 23 24 25 26 27 28 29 \
        --arms synthesis-entropy-support-costly synthesis-entropy-support margin random \
        --results benchmarks/results/answerability_digits-costly-seeds20-29.json   # and on 20-29
    python experiments/answerability_digits.py --tasks 3v8 8v9 --seeds 10 11 12 13 14 15 16 17 18 19 \
        --windows all 20 10 --fallback-costs 1 --arms synthesis-entropy-support-fallback-all \
        synthesis-entropy-support-fallback-w20 synthesis-entropy-support-fallback-w10 random   # fallback tuning
    python experiments/answerability_digits.py --tasks 3v8 8v9 --seeds 10 11 12 13 14 15 16 17 18 19 \
        --windows 10 6 --fallback-costs 1 3 8 20 --arms synthesis-entropy-support-fallback-w10-r3 \
        synthesis-entropy-support-fallback-w6 synthesis-entropy-support-fallback-w6-r3 \
        synthesis-entropy-support-fallback-w10-r8 synthesis-entropy-support-fallback-w10-r20 \
        synthesis-entropy-support-fallback-w6-r8 synthesis-entropy-support   # ... the first round's rest
    python experiments/answerability_digits.py --tasks 3v8 8v9 --seeds 10 11 12 13 14 15 16 17 18 19 \
        --windows 6 4 --fallback-costs 20 8 --arms synthesis-entropy-support-fallback-w6-r20 \
        synthesis-entropy-support-fallback-w4-r8 synthesis-entropy-support-fallback-w4-r20   # the second round
        # (the runs' arm folders analysed together: answerability_digits-fallback-tuning-seeds10-19.json)
    python experiments/answerability_digits.py --tasks 3v8 8v9 --windows 6 --fallback-costs 8 20 \
        --arms synthesis-entropy-support-fallback-w6-r8 synthesis-entropy-support-fallback-w6-r20 \
        synthesis-entropy-support synthesis-entropy-off entropy margin random \
        --results benchmarks/results/answerability_digits-fallback-pairs-seeds0-9.json   # pool fallback, seeds 0-9
    python experiments/answerability_digits.py --tasks 3v8 8v9 --seeds 20 21 22 23 24 25 26 27 28 29 \
        --arms synthesis-entropy-support-fallback-w6-r20 synthesis-entropy-support synthesis-entropy-off margin \
        random --results benchmarks/results/answerability_digits-fallback-pairs-seeds20-29.json   # and on 20-29

Writes runs/answerability-digits-{task}/ and `benchmarks/results/answerability_digits.json`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from pathlib import Path

import numpy as np

from qsynth.config import load_config
from qsynth.experiments.runner import load_histories, run_experiment
from qsynth.experiments.summary import accuracy_at

ROOT = Path(__file__).resolve().parents[1]
ENTROPY_SYNTHESIS = {"kind": "synthesis", "measure": "entropy", "starts": 256, "steps": 50, "learning_rate": 0.05,
                     "realism": 0.1, "screen": 4}
#: What a refusal costs, in answered queries, in the `-costly` arm (chosen on seeds 10-17 from 2 and 3).
REFUSAL_COST = 3.0
#: The `-fallback` arm's `fallback_window`: the pool fallback weighs synthesized queries and pool
#: images by an answerability model of the newest this-many outcomes, and its refusal cost
#: (chosen on seeds 10-19 of the pairs from windows of 4, 6, 10, 20 and the whole log and costs
#: of 1, 3, 8 and 20, in two rounds: docs/results.md).
WINDOW = 6
FALLBACK_REFUSAL_COST = 20.0
MARGIN_SYNTHESIS = {"kind": "synthesis", "measure": "smooth_margin", "starts": 256, "steps": 20,
                    "learning_rate": 0.02, "realism": 0.1, "start_from": "pool"}


def fallback_label(window: int | None, refusal_cost: float = 1.0) -> str:
    """The `-fallback` arm's name for a fallback window (None: the whole log) and refusal cost."""
    return ("synthesis-entropy-support-fallback" + ("-all" if window is None else f"-w{window}")
            + ("" if refusal_cost == 1.0 else f"-r{refusal_cost:g}"))


def strategies(task: str, windows: tuple[int | None, ...] = (WINDOW,),
               fallback_costs: tuple[float, ...] = (FALLBACK_REFUSAL_COST,)) -> list[dict]:
    """The task's arms; `windows` and `fallback_costs`: the fallback windows and refusal costs of
    its pool-fallback arms (one arm for each pair)."""
    confidence = {"answerability_space": "confidence"}
    support = {"answerability_space": "confidence+support"}
    arms = [{**ENTROPY_SYNTHESIS, "label": "synthesis-entropy"},
            {**ENTROPY_SYNTHESIS, **confidence, "label": "synthesis-entropy-confidence"},
            {**ENTROPY_SYNTHESIS, **support, "label": "synthesis-entropy-support"},
            *({**ENTROPY_SYNTHESIS, **support, "pool_fallback": True, "refusal_cost": r, "label": fallback_label(w, r),
               **({} if w is None else {"fallback_window": w})} for w in windows for r in fallback_costs),
            {**ENTROPY_SYNTHESIS, "answerability": False, "label": "synthesis-entropy-off"}]
    if task == "all":
        arms.insert(3, {**ENTROPY_SYNTHESIS, **support, "refusal_cost": REFUSAL_COST,
                        "label": "synthesis-entropy-support-costly"})
        arms += [{**MARGIN_SYNTHESIS, "label": "synthesis-smooth_margin-pool"},
                 {**MARGIN_SYNTHESIS, **confidence, "label": "synthesis-smooth_margin-pool-confidence"},
                 {**MARGIN_SYNTHESIS, **support, "label": "synthesis-smooth_margin-pool-support"},
                 {**MARGIN_SYNTHESIS, "answerability": False, "label": "synthesis-smooth_margin-pool-off"}]
    return arms + [{"kind": "uncertainty", "measure": "entropy"}, {"kind": "uncertainty", "measure": "margin"},
                   {"kind": "random"}]


def arm_name(strategy: dict) -> str:
    """The name a strategy's runs are filed under (its label, or "entropy", "margin", "random")."""
    return strategy.get("label") or strategy.get("measure") or strategy["kind"]


def paired(a: list[float], b: list[float]) -> dict[str, float]:
    d = np.asarray(a) - np.asarray(b)
    return {"mean": float(d.mean()), "se": float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else float("nan"),
            "ahead": int((d > 0).sum()), "ties": int((d == 0).sum()), "seeds": len(d)}


def pool_points_asked(arm_path: Path) -> tuple[int, int, int]:
    """Over an arm's seeds, after the seed set: (queries asked, of them real pool points, pool
    points that abstained), from the label logs (a pool point's query record has a `pool_index`)."""
    asked = pooled = refused = 0
    for labels in sorted(arm_path.glob("seed-*/labels.jsonl")):
        pool_ids, status = set(), {}
        for line in labels.read_text().splitlines():
            rec = json.loads(line)
            if rec.get("round", 0) == 0:
                continue
            if rec["kind"] == "query":
                asked += 1
                if "pool_index" in rec:
                    pool_ids.add(rec["query_id"])
            elif rec["kind"] == "answer":
                status[rec["query_id"]] = rec["status"]
        pooled += len(pool_ids)
        refused += sum(status.get(q) == "abstain" for q in pool_ids)
    return asked, pooled, refused


def analyse(path: Path, at: list[int]) -> dict:
    hist = load_histories(path)
    out: dict = {"accuracy_at": {}, "abstained": {}, "pool_share": {}, "synthesized_abstained": {}, "paired": {}}
    for name, runs in hist.items():
        out["accuracy_at"][name] = {n: [accuracy_at(h, n) for h in runs] for n in at}
        asked = sum(h[-1]["queries"] - h[0]["queries"] for h in runs)  # after the seed set
        abstained = sum(h[-1]["abstained"] - h[0]["abstained"] for h in runs)
        out["abstained"][name] = abstained / max(asked, 1)
        if "-fallback" in name:  # how many queries were real pool images, and the synthesized ones' refusals
            logged, pooled, refused = pool_points_asked(path / name)
            out["pool_share"][name] = pooled / max(logged, 1)
            out["synthesized_abstained"][name] = (abstained - refused) / max(logged - pooled, 1)
    for arm in (a for a in hist if a.startswith("synthesis") and not a.endswith("-off")):
        base = arm.split("-fallback")[0].removesuffix("-costly").removesuffix("-confidence").removesuffix("-support")
        also = [base] if base != arm else []  # the same arm in latent space, then its other variants
        if "-support" in arm:
            also.append(f"{base}-confidence")
        if arm.endswith("-costly") or "-fallback" in arm:
            also.append(f"{base}-support")
        for other in (*also, f"{base}-off", "random", "entropy", "margin"):
            for n in (40, 100):
                if other in hist and n in at:
                    out["paired"][f"{arm} - {other} @ {n}"] = paired(out["accuracy_at"][arm][n],
                                                                     out["accuracy_at"][other][n])
    return out


def table(task: str, res: dict, at: list[int]) -> str:
    lines = [f"**{task}**", "", "| arm | " + " | ".join(f"acc @ {n}" for n in at) + " | abstained |",
             "|---|" + "---|" * (len(at) + 1)]
    for name, by_n in res["accuracy_at"].items():
        cells = [f"{np.nanmean(v):.3f} ± {np.nanstd(v):.3f}" for v in by_n.values()]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {100 * res['abstained'][name]:.1f}% |")
    for name, share in res.get("pool_share", {}).items():
        lines.append(f"\n{name}: {100 * share:.1f}% of its queries were real pool images; "
                     f"{100 * res['synthesized_abstained'][name]:.1f}% of its synthesized ones abstained")
    lines.append("")
    for pair, p in res["paired"].items():
        lines.append(f"- {pair}: {p['mean']:+.3f} ± {p['se']:.3f} (s.e.), ahead on {p['ahead']}/{p['seeds']} "
                     f"({p['ties']} ties)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", nargs="+", default=["all", "3v8", "8v9"])
    ap.add_argument("--seeds", type=int, nargs="+", help="override the configs' seeds (0-9)")
    ap.add_argument("--arms", nargs="+", help="run only these arms (names as in the table)")
    ap.add_argument("--windows", nargs="+", default=[str(WINDOW)],
                    help="fallback windows of the -fallback arms ('all': the whole log)")
    ap.add_argument("--fallback-costs", nargs="+", type=float, default=[FALLBACK_REFUSAL_COST],
                    help="refusal costs of the -fallback arms")
    ap.add_argument("--out", default="runs")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes for the sweep")
    ap.add_argument("--analyse-only", action="store_true", help="re-read finished runs, run nothing")
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results" / "answerability_digits.json"))
    args = ap.parse_args(argv)
    report, texts = {}, []
    for task in args.tasks:
        base = load_config(ROOT / "experiments" / f"synthesis_digits_{task}.toml")
        windows = tuple(None if w == "all" else int(w) for w in args.windows)
        every = strategies(task, windows, tuple(args.fallback_costs))
        arms = [a for a in every if args.arms is None or arm_name(a) in args.arms]
        if not arms:
            ap.error(f"--arms {' '.join(args.arms)}: none of these is an arm of task {task!r} "
                     f"({', '.join(arm_name(a) for a in every)})")
        config = dataclasses.replace(base, name=f"answerability-digits-{task}", strategies=tuple(arms),
                                     seeds=tuple(args.seeds) if args.seeds else base.seeds)
        path = Path(args.out) / config.name
        if not args.analyse_only:
            run_experiment(config, args.out, overwrite=True, jobs=args.jobs)
        at = [20, 40, 60, 100] if task == "all" else [20, 40, 60]
        report[task] = analyse(path, at)
        texts.append(table(task, report[task], at))
    print("\n\n".join(texts))
    Path(args.results).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
