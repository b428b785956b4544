"""Simulator boundaries: F1 of the learned success region vs simulator calls, qsynth's arms
beside python-adaptive's `Learner2D` (Bryan et al. 2005; Gotovos et al. 2013; issue 6, item 4).

For the projectile and the cart-pole, with F1 measured on a 120 × 120 grid against the
reference (5 seeds; the 4-label stratified seed set counted):

* from binary labels, the arms of `experiments/<sim>_synthesis.toml`: an MLP ensemble with
  input-space synthesis, pool entropy sampling over 2,000 uniform candidates, random;
* from the simulator's continuous value (`Answer.value`), the arms of
  `experiments/<sim>_level_set.toml`: an exact GP regressing the value, with the straddle
  acquisition synthesized in the box or picked from the pool, and random;
* `Learner2D` (python-adaptive, the `[peers]` extra; the run fails without it) sampling the
  same simulator's binary answer (a deterministic learner: one run; its first points are the
  box's corners and centre, counted too), its F1 read from its own interpolant thresholded at 0.5.

    python experiments/simulator_boundaries.py [--out runs]    (about 10 min on 2 cores)

Writes `benchmarks/results/simulator_boundaries.json` and `docs/img/simulator_boundaries.png`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

from qsynth.config import load_config
from qsynth.experiments.runner import run_experiment
from qsynth.experiments.summary import accuracy_at
from qsynth.oracles.region import grid
from qsynth.oracles.simulators import Normalized, make_simulator
from qsynth.problem import f1_score

ROOT = Path(__file__).resolve().parents[1]
CALLS = (10, 20, 30, 40, 50, 60, 70, 80, 90, 100)


def learner2d_f1(simulator: str, calls: tuple[int, ...], resolution: int = 120) -> dict[int, float]:
    """F1 of python-adaptive's Learner2D after each number of calls."""
    import adaptive

    sim = Normalized(make_simulator(simulator))
    points = grid(np.zeros(2), np.ones(2), resolution)
    truth = sim.reference(points)
    learner = adaptive.Learner2D(lambda xy: float(sim(np.asarray(xy))["label"]), bounds=[(0, 1), (0, 1)])
    out = {}
    for n in calls:
        adaptive.runner.simple(learner, npoints_goal=n)
        predicted = (np.asarray(learner.interpolator(scaled=False)(points)).ravel() > 0.5).astype(int)
        out[n] = f1_score(predicted, truth)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs")
    args = ap.parse_args()
    try:  # the peer is part of the figure: a missing one fails the run, before any work
        import adaptive  # noqa: F401
    except ImportError as e:
        raise SystemExit(f"simulator_boundaries.py needs python-adaptive: pip install -e '.[peers]' ({e})")
    results: dict = {}
    for simulator in ("projectile", "cartpole"):
        arms = {}
        for kind, answers in (("synthesis", "labels"), ("level_set", "values")):
            config = load_config(ROOT / "experiments" / f"{simulator}_{kind}.toml")
            data = dataclasses.replace(config.data, args={**config.data.args, "grid": 120})
            config = dataclasses.replace(config, name=f"{simulator}_boundaries_{answers}", data=data, at_labels=CALLS)
            run = run_experiment(config, args.out, progress=True, overwrite=True)
            for name, by_seed in run.results.items():
                curves = np.array([[accuracy_at(r.history, n, "f1") for n in CALLS] for r in by_seed.values()])
                arms[name] = {"mean": np.nanmean(curves, 0).tolist(), "std": np.nanstd(curves, 0).tolist(),
                              "seeds": len(curves), "answers": answers}
        peer = learner2d_f1(simulator, CALLS)
        arms["adaptive.Learner2D"] = {"mean": [peer[n] for n in CALLS], "std": [0.0] * len(CALLS), "seeds": 1,
                                      "answers": "labels"}
        results[simulator] = {"calls": list(CALLS), "arms": arms}
    out = ROOT / "benchmarks" / "results" / "simulator_boundaries.json"
    out.write_text(json.dumps(results, indent=1))
    plot(results, ROOT / "docs" / "img" / "simulator_boundaries.png")
    for simulator, r in results.items():
        print(f"\n{simulator}: F1 on a 120×120 grid vs simulator calls")
        print(f"{'arm':<34}" + "".join(f"{n:>8}" for n in r["calls"]))
        for name, a in r["arms"].items():
            print(f"{name + ' (' + a['answers'] + ')':<34}" + "".join(f"{m:>8.3f}" for m in a["mean"]))
    print(f"\nwrote {out.relative_to(ROOT)}")


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.2))
    for ax, (simulator, r) in zip(np.atleast_1d(axes), results.items()):
        for name, a in r["arms"].items():
            m, s = np.asarray(a["mean"]), np.asarray(a["std"])
            style = "-" if a.get("answers", "labels") == "labels" else "--"
            ax.plot(r["calls"], m, style, marker="o", ms=3,
                    label=f"{name}, {a.get('answers', 'labels')} ({a['seeds']} run{'s' if a['seeds'] > 1 else ''})")
            ax.fill_between(r["calls"], m - s, m + s, alpha=0.15)
        ax.set_xlabel("simulator calls (initial points included)")
        ax.set_ylabel("F1 of the success region (120×120 grid)")
        ax.set_title(simulator)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
