"""Query synthesis on homogeneous halfspaces against the information-theoretic floor.

Setting (issue 3): `y = [w*·x > 0]`, w* a random unit vector, x ~ N(0, I_d). Test error is
angle(ŵ, w*)/π exactly (the disagreement with w* on Gaussian inputs). Every arm starts from
one positive and one negative example (both counted) and uses the same learner: a committee
of particles drawn from the version space by rounded hit-and-run (`VersionSpaceLearner`),
whose normalized mean ŵ is the prediction. Arms:

* synthesis  — input-space gradient ascent on BALD of the committee (box [-1, 1]^d; the
               committee's votes depend only on the query's direction), 1 query per round;
* pool-N     — the same BALD, scored over a fixed pool of N Gaussian points (N = 500, 10,000);
* random     — passive: i.i.d. Gaussian points, evaluated on a geometric grid of label counts.

Label complexity is the label count at which the error first drops to ε, median over seeds,
capped at `--cap`; 'not reached' is reported as such. The lower bound is
LB(d, ε) = log2( ∫₀^π sin^(d−2)t dt / ∫₀^(πε) sin^(d−2)t dt ).

    python experiments/halfspace_bound.py                  # d = 2, 5, 10, 20; ε = 1%, 0.1%; 5 seeds
    python experiments/halfspace_bound.py --seeds 10       # the full version (docs/results.md)
    python experiments/halfspace_bound.py --dims 20 --seeds 10 --merge   # add or redo one dimension
    python experiments/halfspace_bound.py --dims 2 --seeds 3 --arms synthesis   # a quick look

Writes `benchmarks/results/halfspace_bound.json` and `docs/img/halfspace_bound.png`, and
prints the table for docs/results.md.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import jax
import numpy as np

from qsynth.data.buffer import LabeledBuffer
from qsynth.experiments.halfspace import angle_error, lower_bound
from qsynth.learners.version_space import VersionSpaceConfig, VersionSpaceLearner
from qsynth.problem import Problem
from qsynth.strategies.base import RoundContext
from qsynth.strategies.pool import PoolSampling
from qsynth.strategies.synthesis import InputSynthesis

ROOT = Path(__file__).resolve().parents[1]


class _ErrorFromWeights:
    """The problem's evaluator: test error is computed from ŵ in closed form (`angle_error`), so
    this one only answers `Problem`'s check when it is built."""

    def evaluate(self, predict_proba, progress):
        return {"accuracy": float("nan")}


def _seed_set(rng: np.random.Generator, w_star: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first positive and the first negative of an i.i.d. Gaussian stream."""
    d = len(w_star)
    pos = neg = None
    while pos is None or neg is None:
        x = rng.standard_normal(d)
        if x @ w_star > 0:
            pos = x if pos is None else pos
        else:
            neg = x if neg is None else neg
    return np.stack([pos, neg]).astype(np.float32), np.array([1, 0], np.int32)


def run_arm(arm: str, d: int, seed: int, eps: list[float], cap: int, learner: VersionSpaceLearner,
            synth: InputSynthesis) -> dict:
    rng = np.random.default_rng(1000 * d + seed)
    w_star = rng.standard_normal(d)
    w_star /= np.linalg.norm(w_star)
    key = jax.random.key(1000 * d + seed)
    buffer = LabeledBuffer.empty((d,))
    x0, y0 = _seed_set(rng, w_star)
    buffer.add(x0, y0, 0)
    state = learner.fit(jax.random.fold_in(key, 0), None, buffer, steps=4 * learner.config.steps)
    reached: dict[float, int | None] = {e: None for e in eps}
    curve = [(2, angle_error(learner.normal(state.params), w_star))]

    def record(labels: int, err: float) -> bool:
        curve.append((labels, err))
        for e in eps:
            if reached[e] is None and err <= e:
                reached[e] = labels
        return all(v is not None for v in reached.values())

    for e in eps:
        if reached[e] is None and curve[0][1] <= e:
            reached[e] = 2
    t0 = time.perf_counter()
    if arm == "random":
        grid = np.unique(np.round(np.geomspace(3, cap, 40)).astype(int))
        have = 2
        for n in grid:
            x = rng.standard_normal((n - have, d)).astype(np.float32)
            buffer.add(x, (x @ w_star > 0).astype(np.int32), int(n))
            have = n
            state = learner.fit(jax.random.fold_in(key, int(n)), state, buffer, steps=2 * learner.config.steps)
            if record(int(n), angle_error(learner.normal(state.params), w_star)):
                break
    else:
        bounds = (-np.ones(d, np.float32), np.ones(d, np.float32))
        pool = None
        available = None
        strategy = synth
        if arm.startswith("pool-"):
            pool = rng.standard_normal((int(arm.split("-")[1]), d)).astype(np.float32)
            available = np.ones(len(pool), bool)
            strategy = PoolSampling(measure="bald")
        problem = Problem(name=f"halfspace-d{d}", feature_shape=(d,), classes=(0, 1), evaluator=_ErrorFromWeights(),
                          bounds=bounds, pool=pool)
        labels = 2
        while labels < cap and (available is None or available.any()):
            r = labels - 1
            ctx = RoundContext(round_index=r, learner=learner, params=state.params, problem=problem,
                               available=available, buffer=buffer)
            q, _ = strategy.select(jax.random.fold_in(key, 10_000 + r), ctx, 1, None)
            if available is not None:
                available[q.pool_index] = False
            y = (q.x @ w_star > 0).astype(np.int32)
            buffer.add(q.x, y, r)
            labels += 1
            state = learner.fit(jax.random.fold_in(key, r), state, buffer)
            if record(labels, angle_error(learner.normal(state.params), w_star)):
                break
    return {"arm": arm, "d": d, "seed": seed, "reached": {str(e): v for e, v in reached.items()},
            "curve": curve, "seconds": time.perf_counter() - t0}


def summarize(results: list[dict], dims: list[int], eps: list[float], arms: list[str], cap: int) -> tuple[str, dict]:
    table = {}
    lines = ["| d | ε | LB | " + " | ".join(arms) + " |", "|---|---|---|" + "---|" * len(arms)]
    for d in dims:
        for e in eps:
            lb = lower_bound(d, e)
            row = [f"{d}", f"{e:g}", f"{lb:.1f}"]
            for arm in arms:
                vals = [r["reached"][str(e)] for r in results if r["d"] == d and r["arm"] == arm]
                if not vals:
                    row.append("")
                    continue
                got = [v for v in vals if v is not None]
                n_ok = len(got)
                # the median over all seeds, a seed that never reached counting as > cap
                med = float(np.median([v if v is not None else math.inf for v in vals]))
                table[f"{arm}/d{d}/eps{e:g}"] = {"median": med, "reached": n_ok, "seeds": len(vals), "lb": lb,
                                                 "values": vals}
                if math.isinf(med):
                    limit = min(cap, int(arm.split("-")[1])) if arm.startswith("pool-") else cap
                    row.append(f"not reached ({n_ok}/{len(vals)} by {limit})")
                else:
                    row.append(f"{med:g} ({med / lb:.2f}× LB; {n_ok}/{len(vals)})")
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines), table


def plot(results: list[dict], dims: list[int], eps: list[float], arms: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(dims), figsize=(4.2 * len(dims), 3.6), squeeze=False)
    for ax, d in zip(axes[0], dims):
        for arm in arms:
            runs = [r for r in results if r["d"] == d and r["arm"] == arm]
            if not runs:
                continue
            grid = np.unique(np.concatenate([np.asarray(r["curve"])[:, 0] for r in runs]))
            errs = []
            for r in runs:
                c = np.asarray(r["curve"])
                idx = np.searchsorted(c[:, 0], grid, side="right") - 1
                e = c[np.clip(idx, 0, None), 1]
                e[grid > c[-1, 0]] = np.nan  # stopped after reaching the smallest ε
                errs.append(np.minimum.accumulate(np.where(np.isnan(e), 0, e)) + np.where(np.isnan(e), np.nan, 0))
            ax.plot(grid, np.nanmedian(np.asarray(errs), axis=0), label=arm)
        lbs = np.geomspace(min(eps) / 3, 0.5, 60)
        ax.plot([lower_bound(d, e) for e in lbs], lbs, "k--", label="lower bound")
        for e in eps:
            ax.axhline(e, color="0.8", lw=0.8)
        ax.set(xscale="log", yscale="log", xlabel="labels", ylabel="test error (median; angle/π)",
               title=f"halfspace, d = {d}")
        ax.set_ylim(min(eps) / 3, 0.6)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def write_results(path: Path, header: dict, runs: list[dict]) -> None:
    """The header indented, then one compact line per run (the curves would otherwise take ~60k lines)."""
    head = json.dumps(header, indent=1)[:-2]  # drop the closing "\n}"
    lines = ",\n  ".join(json.dumps(r, separators=(",", ":")) for r in runs)
    path.write_text(f"{head},\n \"runs\": [\n  {lines}\n ]\n}}\n")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dims", type=int, nargs="+", default=[2, 5, 10, 20])
    ap.add_argument("--eps", type=float, nargs="+", default=[0.01, 0.001])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--arms", nargs="+", default=["synthesis", "pool-500", "pool-10000", "random"])
    ap.add_argument("--cap", type=int, default=2000)
    ap.add_argument("--members", type=int, default=256)
    ap.add_argument("--steps", type=int, default=100, help="hit-and-run steps per fit")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "halfspace_bound.json"))
    ap.add_argument("--plot", default=str(ROOT / "docs" / "img" / "halfspace_bound.png"))
    ap.add_argument("--merge", action="store_true",
                    help="keep the runs already in --out for dimensions not run now; table and plot cover all")
    args = ap.parse_args(argv)
    synth = InputSynthesis(measure="bald", starts=32, steps=50, learning_rate=0.05, screen=32)
    # every finished run is appended to a partial file first, so an interrupted invocation picks up where it was
    partial = Path(args.out).with_suffix(".partial.jsonl")
    settings = {k: getattr(args, k) for k in ("eps", "cap", "members", "steps")}
    done = {}
    if partial.exists():
        lines = [json.loads(line) for line in partial.read_text().splitlines() if line.strip()]
        done = {(r["d"], r["arm"], r["seed"]): r for r in lines if r.get("settings") == settings}
    results = []
    for d in args.dims:
        learner = VersionSpaceConfig(members=args.members, steps=args.steps).build((d,))
        for arm in args.arms:
            for seed in range(args.seeds):
                r = done.get((d, arm, seed))
                if r is None:
                    r = run_arm(arm, d, seed, sorted(args.eps, reverse=True), args.cap, learner, synth)
                    r["settings"] = settings
                    partial.parent.mkdir(parents=True, exist_ok=True)
                    with partial.open("a") as f:
                        f.write(json.dumps(r, separators=(",", ":")) + "\n")
                results.append(r)
                print(f"d={d} {arm:>10} seed {seed}: {r['reached']} ({r['seconds']:.1f} s)", file=sys.stderr)
    dims = list(args.dims)
    if args.merge and Path(args.out).exists():
        kept = [r for r in json.loads(Path(args.out).read_text())["runs"] if r["d"] not in args.dims]
        results = kept + results
        dims = sorted({r["d"] for r in results})
    text, table = summarize(results, dims, sorted(args.eps, reverse=True), args.arms, args.cap)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_results(Path(args.out), {"args": vars(args), "dims": dims, "table": table}, results)
    plot(results, dims, sorted(args.eps, reverse=True), args.arms, Path(args.plot))
    partial.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
