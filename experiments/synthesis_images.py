"""Latent query synthesis vs synthesize-then-match vs pool uncertainty vs random, on 8×8 digits.

Runs `experiments/synthesis_digits_{3v8,8v9,all}.toml` (10 seeds each; one teacher oracle,
abstaining below 0.9 confidence, labels every arm; an abstention is a spent query), then
reports, per task:

* accuracy at 40 labels (20 and 60 too) per arm, mean ± std over seeds;
* the paired difference of every synthesis arm − random and − pool uncertainty at 40 labels
  over the same seeds (mean and standard error), and how many seeds synthesis wins (arms
  run later into `<run>-extra/` on the same seeds are merged in);
* the fraction of synthesized queries the oracle could not answer (abstained).

    python experiments/synthesis_images.py                 # all three tasks, ~20 min on 2 cores
    python experiments/synthesis_images.py --tasks 3v8 --seeds 0 1 2

Writes runs/synthesis-digits-*/, `benchmarks/results/synthesis_images.json`, and copies
the learning curves and query grids to `docs/img/`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shutil
from pathlib import Path

import numpy as np

from qsynth.config import load_config
from qsynth.experiments.runner import load_histories, run_experiment
from qsynth.experiments.summary import accuracy_at

ROOT = Path(__file__).resolve().parents[1]
SYNTH, MATCH, POOL, RANDOM = "synthesis-entropy", "synthesis-entropy+match", "entropy", "random"


def paired(a: list[float], b: list[float]) -> dict[str, float]:
    d = np.asarray(a) - np.asarray(b)
    return {"mean": float(d.mean()), "se": float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else float("nan"),
            "wins": int((d > 0).sum()), "ties": int((d == 0).sum()), "seeds": len(d)}


def analyse(path: Path, at: list[int]) -> dict:
    hist = load_histories(path)
    extra = path.with_name(path.name + "-extra")  # arms added later, run on the same seeds
    if extra.exists():
        hist.update(load_histories(extra))
    out: dict = {"accuracy_at": {}, "paired_at_40": {}, "abstained_fraction": {}}
    for name, runs in hist.items():
        out["accuracy_at"][name] = {n: [accuracy_at(h, n) for h in runs] for n in at}
        last = [h[-1] for h in runs]
        asked = [row["queries"] - runs[0][0]["queries"] for row in last]  # queries after the seed set
        abst = [row["abstained"] - h[0]["abstained"] for row, h in zip(last, runs)]
        out["abstained_fraction"][name] = float(np.sum(abst) / max(np.sum(asked), 1))
    acc40 = {name: out["accuracy_at"][name][40] for name in hist}
    for arm in (a for a in acc40 if a.startswith("synthesis")):
        for other in (RANDOM, POOL, MATCH):
            if other in acc40 and other != arm:
                out["paired_at_40"][f"{arm} - {other}"] = paired(acc40[arm], acc40[other])
    return out


def table(task: str, res: dict, at: list[int]) -> str:
    lines = [f"**{task}**", "", "| arm | " + " | ".join(f"acc @ {n}" for n in at) + " | oracle abstained |",
             "|---|" + "---|" * (len(at) + 1)]
    for name, by_n in res["accuracy_at"].items():
        cells = [f"{np.nanmean(v):.3f} ± {np.nanstd(v):.3f}" for v in by_n.values()]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {100 * res['abstained_fraction'][name]:.1f}% |")
    lines.append("")
    for pair, p in res["paired_at_40"].items():
        lines.append(f"- paired at 40 labels, {pair}: {p['mean']:+.3f} ± {p['se']:.3f} (s.e.), "
                     f"synthesis ahead on {p['wins']}/{p['seeds']} seeds ({p['ties']} ties)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", nargs="+", default=["3v8", "8v9", "all"])
    ap.add_argument("--seeds", type=int, nargs="+", help="override the configs' seeds")
    ap.add_argument("--out", default="runs")
    ap.add_argument("--analyse-only", action="store_true", help="re-read finished runs, run nothing")
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results" / "synthesis_images.json"))
    args = ap.parse_args(argv)
    report, texts = {}, []
    for task in args.tasks:
        config = load_config(ROOT / "experiments" / f"synthesis_digits_{task}.toml")
        if args.seeds:
            config = dataclasses.replace(config, seeds=tuple(args.seeds))
        path = Path(args.out) / config.name
        if not args.analyse_only:
            run_experiment(config, args.out, overwrite=True)
        at = [20, 40, 60] if task != "all" else [20, 40, 60, 100]
        report[task] = analyse(path, at)
        texts.append(table(task, report[task], at))
        img = ROOT / "docs" / "img"
        for plot in ("learning_curves.png", f"queries-{SYNTH}.png", f"queries-{MATCH}.png",
                     "generator_prior_samples.png"):
            if (path / "plots" / plot).exists():
                shutil.copy(path / "plots" / plot, img / f"synthesis-digits-{task}-{plot}")
    print("\n\n".join(texts))
    Path(args.results).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
