"""The default job (`qsynth run`: two moons, the teacher oracle, 40 labels, 11 arms) with only
its learner and synthesis settings changed, and issue 14's checks on it, paired over seeds.

Variants (each the built-in `qsynth/configs/default.toml` with these changes, nothing else;
`--variant bi --learner gp_shortest` is the built-in config as it is since 2026-12-03, and
`--variant today --learner default` the one before, whose learner is kept here as `ENSEMBLE`):

* `--variant today`: both synthesis arms climb entropy (the default job's settings until
  2026-12-03);
* `--variant epig`: both synthesis arms climb EPIG about pool points (`measure = "epig"`: the
  expected information an answer gives about the labels of 256 pool points drawn each round,
  the inputs the task's test data comes from), latent synthesis in the VAE's latent space and
  input synthesis in the box (`targets = "pool"`);
* `--variant bi`: both synthesis arms climb `boundary_information` about pool points (what an
  answer tells about the class of the pool points still in doubt; a GP's measure);
* `--learner default | prior | bootstrap | bootstrap_prior`: the default job's MLP(32, 32) × 5
  ensemble until 2026-12-03 (`ENSEMBLE`) as it was, with randomized prior functions (`prior_scale = 3`), with online bagging
  (`bootstrap = true`: each member weighs each label by a Poisson(1) draw), or with both;
  `--learner gp`: the box learner recommended when these runs were made (`GP_LOO`: the exact
  GP, Matérn-5/2, lengthscale by leave-one-out; `qsynth.recommended.box_learner()` until
  2026-12-07), or `--learner gp_likelihood`, the same GP
  with its lengthscale by marginal likelihood, or `--learner gp_shortest`, the recommended
  pool learner (`qsynth.recommended.pool_learner()`: the same GP at the top of the LOO curve's
  first hill, `lengthscale_peak = "shortest"`).
* `--only KIND ...` (tuning): keep only the strategies of these kinds, and random and entropy.
* `--without KIND ...`: leave out the strategies of these kinds. (Every kind runs with the GP
  learners: `qbc` and `bald` score its posterior's committee measures in closed form,
  `qsynth.strategies.posterior_committee`, and `egl` its weight-space gradient; before those
  existed the GP runs left out `egl qbc bald`.)

    python experiments/default_job.py --variant epig --learner bootstrap --seeds 100 101 ... 109
    python experiments/default_job.py --variant bi --learner gp_shortest --seeds 100 ... 109

It writes `runs/default-<variant>-<learner>-seeds<a>-<b>[-<kinds>]/` (resumable: run it again
and it goes on), prints the summary table and, for each synthesis arm, its paired difference at
40 labels from random and from the best pool arm (mean ± standard deviation over seeds, and how
many seeds are at or above random), and writes the same to `benchmarks/results/default_job/`.
"""

from __future__ import annotations

import argparse
import json
import time
import tomllib
from importlib import resources
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SYNTHESIS_KINDS = ("synthesis", "input_synthesis")
POOL_KINDS = ("uncertainty", "qbc", "bald", "egl")


def default_table() -> dict:
    """The built-in default config as a plain table."""
    return tomllib.loads((resources.files("qsynth") / "configs" / "default.toml").read_text(encoding="utf-8"))


#: Each variant's synthesis measure (both synthesis arms, about pool points; "today": entropy).
VARIANT_MEASURES = {"epig": "epig", "bi": "boundary_information"}
VARIANTS = ("today", *VARIANT_MEASURES)
#: The default job's learner until 2026-12-03: a 5-member MLP(32, 32) ensemble.
ENSEMBLE = {"model": "mlp", "hidden": [32, 32], "members": 5, "learning_rate": 0.02, "weight_decay": 0.0001,
            "steps": 300, "warm_steps": 40}
#: Learner changes to try (each on top of `ENSEMBLE`).
LEARNER_CHANGES = {"default": {}, "prior": {"prior_scale": 3.0}, "bootstrap": {"bootstrap": True},
                   "bootstrap_prior": {"bootstrap": True, "prior_scale": 3.0}}
#: Learners that replace the ensemble outright: `gp`, the box learner recommended when these
#: runs were made (2026-12-01 to 12-07: the plain leave-one-out lengthscale), and the pool learner
#: (`qsynth.recommended.pool_learner()`).
LEARNER_REPLACEMENTS = ("gp", "gp_likelihood", "gp_shortest")
GP_LOO = {"model": "gp", "kernel": "matern52", "lengthscale_by": "loo"}


def variant_table(variant: str, learner: str = "default") -> dict:
    """The default table with `variant`'s synthesis settings and `learner`'s changes."""
    if variant not in VARIANTS:
        raise ValueError(f"--variant: one of {list(VARIANTS)}, got {variant!r}")
    table = default_table()
    if learner in LEARNER_REPLACEMENTS:
        from qsynth import recommended

        table["learner"] = {"gp": GP_LOO,
                            "gp_likelihood": GP_LOO | {"lengthscale_by": "likelihood"},
                            "gp_shortest": recommended.pool_learner()}[learner]
    else:
        table["learner"] = ENSEMBLE | LEARNER_CHANGES[learner]
    for spec in table["strategies"]:
        if spec["kind"] not in SYNTHESIS_KINDS:
            continue
        spec.pop("targets", None)
        if variant in VARIANT_MEASURES:
            spec.update(measure=VARIANT_MEASURES[variant], targets="pool")
        else:
            spec["measure"] = "entropy"
    return table


def arm_names(config) -> dict[str, str]:
    """Each strategy's table name and its kind."""
    from qsynth.experiments.runner import strategy_names

    return dict(zip(strategy_names(config), (s.get("kind", "") for s in config.strategies)))


def final_accuracy(path: Path) -> dict[str, np.ndarray]:
    """Each arm's `[seeds]` accuracy at its runs' last round (the budget), in seed order."""
    from qsynth.experiments.runner import load_histories

    return {name: np.array([h[-1]["accuracy"] for h in runs], np.float64)
            for name, runs in load_histories(path).items()}


def checks(accuracy: dict[str, np.ndarray], kinds: dict[str, str]) -> list[dict]:
    """Per synthesis arm: paired differences from random and from the best pool arm (by mean)."""
    pool = [n for n, k in kinds.items() if k in POOL_KINDS]
    best_pool = max(pool, key=lambda n: accuracy[n].mean())
    rows = []
    for name, kind in kinds.items():
        if kind not in SYNTHESIS_KINDS:
            continue
        vs_random = accuracy[name] - accuracy["random"]
        vs_pool = accuracy[name] - accuracy[best_pool]
        rows.append({"arm": name, "accuracy": float(accuracy[name].mean()), "best_pool": best_pool,
                     "vs_random": [float(vs_random.mean()), float(vs_random.std())],
                     "vs_best_pool": [float(vs_pool.mean()), float(vs_pool.std())],
                     "seeds_at_or_above_random": int(np.sum(vs_random >= 0)),
                     "meets": bool(vs_random.mean() >= 0 and vs_pool.mean() >= -0.01)})
    return rows


def main(argv: list[str] | None = None) -> None:
    from qsynth.config import parse_config
    from qsynth.experiments.runner import print_table, run_experiment

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variant", default="epig", choices=VARIANTS)
    ap.add_argument("--learner", default="default", choices=[*LEARNER_CHANGES, *LEARNER_REPLACEMENTS])
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(100, 110)))
    ap.add_argument("--only", nargs="+", metavar="KIND",
                    help="tuning: keep only the strategies of these kinds (random and entropy are always kept)")
    ap.add_argument("--without", nargs="+", metavar="KIND", default=[],
                    help="leave out the strategies of these kinds")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--out", default="runs")
    args = ap.parse_args(argv)
    tag = f"{args.variant}-{args.learner}-seeds{min(args.seeds)}-{max(args.seeds)}"
    table = variant_table(args.variant, args.learner)
    if args.only:
        keep = set(args.only)
        table["strategies"] = [s for s in table["strategies"] if s["kind"] in keep or s["kind"] == "random"
                               or (s["kind"] == "uncertainty" and s.get("measure") == "entropy")]
        tag += "-" + "-".join(sorted(keep))
    if args.without:
        drop = set(args.without)
        table["strategies"] = [s for s in table["strategies"] if s["kind"] not in drop]
        tag += "-without-" + "-".join(sorted(args.without))
    table.update(name=f"default-{tag}", seeds=args.seeds)
    config = parse_config(table)
    path = Path(args.out) / config.name
    t0 = time.perf_counter()
    result = run_experiment(config, args.out, progress=True, plots=True, resume=path.exists(), jobs=args.jobs)
    wall = time.perf_counter() - t0
    print_table(result.summary)
    kinds = arm_names(config)
    accuracy = final_accuracy(result.path)
    rows = checks(accuracy, kinds)
    for r in rows:
        print(f"{r['arm']}: {r['accuracy']:.3f}; vs random {r['vs_random'][0]:+.3f} ± {r['vs_random'][1]:.3f} "
              f"({r['seeds_at_or_above_random']}/{len(args.seeds)} seeds at or above); vs {r['best_pool']} "
              f"{r['vs_best_pool'][0]:+.3f} ± {r['vs_best_pool'][1]:.3f}; {'meets' if r['meets'] else 'MISSES'}")
    out = ROOT / "benchmarks" / "results" / "default_job" / f"default-{tag}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"variant": args.variant, "learner": args.learner, "seeds": args.seeds, "wall_s": wall,
                               "accuracy": {n: a.tolist() for n, a in accuracy.items()}, "checks": rows},
                              indent=1), encoding="utf-8")
    print(f"wall time {wall:.0f} s; wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
