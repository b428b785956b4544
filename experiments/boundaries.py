"""The boundary benchmark suite (issue 14): F1 of the learned success region against calls, on
six problems with exact ground truth (`qsynth.experiments.boundaries`), for qsynth's arms, random
points with scikit-learn's RBF SVC, and python-adaptive.

Arms, each a (learner, strategy) pair; every run asks one query per round, starts from a
4-call stratified seed set drawn from 2,000 uniform candidates (the pool the pool arms choose
from), and counts every call:

* learners: `mlp` (today's default for box tasks: an MLP ensemble, 5 × [64, 64], the settings of
  `experiments/*_synthesis.toml`), `mlp_prior` (the same with randomized prior functions,
  `prior_scale` 3), `gp` (the exact GP on the ±1 labels, Matérn-5/2, lengthscale by marginal
  likelihood), `gp_loo` (the same, lengthscale by the leave-one-out probit likelihood),
  `gp_loo_shortest` (the same at the top of the LOO curve's first hill, `lengthscale_peak`),
  `gp_loo_balanced` (the LOO probits weighed per class, `lengthscale_by = "loo_balanced"`: the
  recommended box learner since 2026-12-07);
* strategies: `input_synthesis` (entropy ascent in the box: 256 starts × 50 steps), `entropy`
  (pool uncertainty sampling), `random` (uniform candidates); with the GP also
  `input_synthesis_bi` and `pool_bi`, the same two climbing / ranking `boundary_information`
  (information about the classes of target inputs still in doubt: 64 of 1,024 uniform points
  drawn by doubt for synthesis, 256 pool points for pool sampling; `input_synthesis_bi_screen8`
  climbs from the best 256 of 2,048 uniform starts; `input_synthesis_bi_rescore` picks among
  its finished starts by the measure over 1,024 fresh targets, `rescore`: the recommended box
  synthesis since 2026-12-07), and
  `input_synthesis_straddle` and `pool_straddle` (the straddle rule, 1.96σ − |μ|);
* `svc`: uniform random points (a seeded generator) and an RBF SVC refitted at each budget with
  C, γ ∈ 10^−2 … 10^3 (6 × 6) chosen by 5-fold stratified cross-validation (fewer folds when the
  rarer class has fewer than 5 points; with fewer than 2, or one class only, no search: a
  constant predictor while one class has been seen, else C = 1, γ = 1);
* `adaptive`: python-adaptive's `Learner2D` (2-D) or `LearnerND` (4-D) on the binary label,
  its F1 read from its own linear interpolant thresholded at 0.5 (deterministic: one run per
  problem; its first points, the box's corners, are counted).

    python experiments/boundaries.py [--problem NAME ...] [--arms ... | --final] [--seeds ...] [--jobs 2]

`--final` runs the final table's arms (`FINAL`: the recommended configuration of
`qsynth.recommended`, today's default, the peers) on the held-out seeds 100–109 (the default
seeds); the tuning runs used every arm on seeds 0–4.

Runs are resumable per (problem, arm, seed): run it again and it goes on. It
writes `runs/boundaries-<seeds>/`, `benchmarks/results/boundaries-<seeds>.json` and
`docs/img/boundaries-<seeds>.png`, and prints the table and the wall time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from qsynth import recommended

ROOT = Path(__file__).resolve().parents[1]

#: The box learner and synthesis recommended from 2026-12-01 to 2026-12-07 (the archived rows'
#: `gp_loo` and `input_synthesis_bi`): the plain leave-one-out sum, and no rescore.
GP_LOO = {"model": "gp", "kernel": "matern52", "lengthscale_by": "loo"}
SYNTHESIS_BI = {"kind": "input_synthesis", "measure": "boundary_information", "starts": 256, "steps": 50,
                "learning_rate": 0.05, "min_distance": 0.02}
LEARNERS = {
    "mlp": {"model": "mlp", "hidden": [64, 64], "members": 5, "learning_rate": 0.01, "weight_decay": 0.0001,
            "steps": 400, "warm_steps": 60},
    "mlp_prior": {"model": "mlp", "hidden": [64, 64], "members": 5, "learning_rate": 0.01, "weight_decay": 0.0001,
                  "steps": 400, "warm_steps": 60, "prior_scale": 3.0},
    "gp": {"model": "gp", "kernel": "matern52"},
    "gp_loo": GP_LOO,
    "gp_loo_shortest": recommended.pool_learner(),
    "gp_loo_ard": GP_LOO | {"ard_steps": 50},
    "gp_loo_balanced": recommended.box_learner(),
}
STRATEGIES = {
    "input_synthesis": {"kind": "input_synthesis", "measure": "entropy", "starts": 256, "steps": 50,
                        "learning_rate": 0.05, "min_distance": 0.02},
    "entropy": {"kind": "uncertainty", "measure": "entropy"},
    "random": {"kind": "random"},
    "input_synthesis_bi": SYNTHESIS_BI,
    "input_synthesis_bi_screen8": SYNTHESIS_BI | {"screen": 8},
    "input_synthesis_bi_rescore": recommended.box_synthesis(),
    "pool_bi": recommended.box_pool(),
    "input_synthesis_straddle": {"kind": "input_synthesis", "measure": "straddle", "starts": 256, "steps": 50,
                                 "learning_rate": 0.05, "min_distance": 0.02},
    "pool_straddle": {"kind": "uncertainty", "measure": "straddle"},
}
#: Strategies that need a latent Gaussian posterior (the GP).
GP_ONLY = ("input_synthesis_bi", "input_synthesis_bi_screen8", "input_synthesis_bi_rescore", "pool_bi", "input_synthesis_straddle", "pool_straddle")
PEERS = ("svc", "adaptive")
#: Every arm: "<strategy>-<learner>", and the peers.
ARMS = tuple(f"{s}-{learner}" for learner in LEARNERS for s in STRATEGIES
             if learner.startswith("gp") or s not in GP_ONLY) + PEERS
#: The final table's arms (`--final`): the recommended box-task configuration (`qsynth.recommended`)
#: {synthesis, pool, random}, today's default {input synthesis, entropy, random} with the MLP
#: ensemble, and the peers.
RECOMMENDED = ("input_synthesis_bi_rescore-gp_loo_balanced", "pool_bi-gp_loo_balanced", "random-gp_loo_balanced")
TODAY = ("input_synthesis-mlp", "entropy-mlp", "random-mlp")
FINAL = RECOMMENDED + TODAY + PEERS
SEED_SIZE = 4
POOL_SIZE = 2000
SVC_GRID = tuple(float(v) for v in np.logspace(-2, 3, 6))


def run_config(problem, learner: str, strategy: str | tuple[str, dict], seeds: list[int], reference: Path | None, tag: str,
               batch_size: int = 1):
    """The qsynth run of one arm, `strategy` (a name of `STRATEGIES`, or a `(name, table)` pair) with
    `learner`, on `problem` (a `BoundaryProblem`), asking `batch_size` queries per round."""
    strategy, table = (strategy, STRATEGIES[strategy]) if isinstance(strategy, str) else strategy
    from qsynth.experiments.boundaries import GRID
    from qsynth.config import parse_config

    if problem.simulator is not None:
        params = {"drag": 0.0} if problem.simulator == "projectile" else {}
        data = {"name": "simulator", "args": {"simulator": problem.simulator, "params": params,
                                              "pool_size": POOL_SIZE, "grid": GRID}}
        oracle = {"kind": "simulator"}
    else:
        data = {"name": "box", "args": {"bounds": [list(b) for b in problem.bounds], "reference_grid": str(reference),
                                        "reference": problem.function, "pool_size": POOL_SIZE}}
        oracle = {"kind": "function", "function": problem.function}
    return parse_config({
        "name": f"boundaries-{tag}-{problem.name}-{strategy}-{learner}", "seeds": seeds, "at_labels": list(problem.budgets),
        "targets": [0.9], "data": data, "oracle": oracle, "learner": LEARNERS[learner],
        "loop": {"budget": problem.budgets[-1], "seed_size": SEED_SIZE, "seed_strategy": "stratified",
                 "batch_size": batch_size, "fsync": False},
        "strategies": [table]})


def _answer(problem):
    """The oracle the peers ask, on unit-cube points `u: [d]` -> label (the simulator itself, or
    the label function at the physical point)."""
    if problem.simulator is not None:
        from qsynth.oracles.simulators import Normalized, make_simulator

        params = {"drag": 0.0} if problem.simulator == "projectile" else {}
        sim = Normalized(make_simulator(problem.simulator, params))
        return lambda u: int(sim(np.asarray(u, np.float64))["label"])
    from qsynth.experiments.boundaries import labels

    low, high = np.asarray(problem.bounds).T
    return lambda u: int(labels(problem, (low + np.asarray(u, np.float64) * (high - low))[None])[0])


def svc_run(problem, seed: int) -> dict:
    """Random points and a cross-validated RBF SVC: F1 at each budget and the seconds per call."""
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.svm import SVC

    from qsynth.experiments.boundaries import evaluation_set
    from qsynth.problem import f1_score

    u_test, y_test = evaluation_set(problem)
    answer = _answer(problem)
    rng = np.random.default_rng([seed, 14])
    u = rng.uniform(0.0, 1.0, (problem.budgets[-1], problem.dim))
    t0 = time.perf_counter()
    y = np.array([answer(p) for p in u])
    f1, fit_s = {}, 0.0
    for n in problem.budgets:
        t = time.perf_counter()
        counts = np.bincount(y[:n], minlength=2)
        if counts.min() == 0:
            predicted = np.full(len(u_test), int(np.argmax(counts)))
        else:
            folds = min(5, int(counts.min()))
            if folds < 2:
                model = SVC(C=1.0, gamma=1.0).fit(u[:n], y[:n])
            else:
                model = GridSearchCV(SVC(kernel="rbf"), {"C": SVC_GRID, "gamma": SVC_GRID},
                                     cv=StratifiedKFold(folds, shuffle=True, random_state=seed)).fit(u[:n], y[:n])
            predicted = model.predict(u_test)
        fit_s += time.perf_counter() - t
        f1[n] = f1_score(predicted, y_test)
    return {"f1": f1, "s_per_call": (time.perf_counter() - t0) / problem.budgets[-1]}


def adaptive_run(problem) -> dict | None:
    """python-adaptive on the binary label (None in more than four dimensions)."""
    import adaptive

    from qsynth.experiments.boundaries import evaluation_set
    from qsynth.problem import f1_score

    if problem.dim > 4:
        return None
    u_test, y_test = evaluation_set(problem)
    answer = _answer(problem)
    bounds = [(0.0, 1.0)] * problem.dim
    learner = adaptive.Learner2D(lambda xy: float(answer(xy)), bounds=bounds) if problem.dim == 2 else \
        adaptive.LearnerND(lambda x: float(answer(x)), bounds=bounds)
    f1, t0 = {}, time.perf_counter()
    for n in problem.budgets:
        adaptive.runner.simple(learner, npoints_goal=n)
        if problem.dim == 2:
            values = learner.interpolator(scaled=False)(u_test)
        else:
            values = learner._ip()(u_test)  # (LearnerND's own linear interpolant over its points)
        f1[n] = f1_score((np.nan_to_num(np.asarray(values, np.float64).ravel()) > 0.5).astype(int), y_test)
    return {"f1": f1, "s_per_call": (time.perf_counter() - t0) / problem.budgets[-1]}


def evaluation_reference(problem, out: Path) -> Path | None:
    """The evaluation set's file for a function problem's runs (None for a simulator's)."""
    from qsynth.experiments.boundaries import write_evaluation_set

    return None if problem.simulator else write_evaluation_set(problem, out / f"boundaries-{problem.name}.npz")


def run_arm(problem, config, out: Path, jobs: int) -> dict:
    """Run (or resume) one qsynth arm's `config`: {"f1": {calls: [per seed]}, "s_per_call": [per seed]}."""
    from qsynth.experiments.runner import load_histories, run_experiment, strategy_names
    from qsynth.experiments.summary import accuracy_at

    run_experiment(config, out, resume=True, jobs=jobs, plots=False)
    runs = load_histories(out / config.name)[strategy_names(config)[0]]
    return {"f1": {n: [accuracy_at(h, n, "f1") for h in runs] for n in problem.budgets},
            "s_per_call": [sum(r["select_s"] + r["train_s"] for r in h) / max(h[-1]["queries"], 1) for h in runs]}


def run_problem(problem, arms: list[str], seeds: list[int], out: Path, tag: str, jobs: int) -> dict:
    """Every arm of `arms` on `problem` over `seeds`: {arm: {"f1": {calls: [per seed]}, "s_per_call": [...]}}."""
    reference = evaluation_reference(problem, out)
    results: dict = {}
    for arm in arms:
        if arm in PEERS:
            continue
        strategy, learner = arm.rsplit("-", 1)
        results[arm] = run_arm(problem, run_config(problem, learner, strategy, seeds, reference, tag), out, jobs)
    if "svc" in arms:
        per_seed = [svc_run(problem, seed) for seed in seeds]
        results["svc"] = {"f1": {n: [r["f1"][n] for r in per_seed] for n in problem.budgets},
                          "s_per_call": [r["s_per_call"] for r in per_seed]}
    if "adaptive" in arms:
        peer = adaptive_run(problem)
        if peer is not None:
            results["adaptive"] = {"f1": {n: [peer["f1"][n]] for n in problem.budgets},
                                   "s_per_call": [peer["s_per_call"]]}
    return results


def _cell(values: list[float]) -> str:
    v = np.asarray(values, np.float64)
    return f"{np.nanmean(v):.3f}" if len(v) == 1 else f"{np.nanmean(v):.3f} ± {np.nanstd(v):.3f}"


def table(report: dict) -> str:
    """Markdown: one table per problem, arms as rows, F1 (mean ± std over seeds) at each budget."""
    lines = []
    for name, r in report["problems"].items():
        budgets = r["budgets"]
        lines += [f"**{name}** ({r['dim']}-D, success {r['success_fraction']:.0%} of the box)", "",
                  "| arm | " + " | ".join(f"F1 @ {n}" for n in budgets) + " | s / call | seeds |",
                  "|---|" + "---|" * (len(budgets) + 2)]
        for arm, a in r["arms"].items():
            f1 = {int(k): v for k, v in a["f1"].items()}
            lines.append(f"| {arm} | " + " | ".join(_cell(f1[n]) for n in budgets) +
                         f" | {np.mean(a['s_per_call']):.3f} | {len(f1[budgets[-1]])} |")
        lines.append("")
    return "\n".join(lines)


def _mean(report: dict, problem: str, arm: str, calls: int) -> float | None:
    a = report["problems"][problem]["arms"].get(arm)
    return None if a is None else float(np.nanmean({int(k): v for k, v in a["f1"].items()}[calls]))


def verdicts(report: dict) -> str:
    """Markdown: the final table's checks (issue 14's "must show"), each cell measured.

    At every budget ≥ 50 calls the recommended synthesis and pool arms against random with the
    same learner and random + SVC (a miss is marked with its size); islands and projectile at
    100 calls against 0.85; in 8-D synthesis ≥ pool ≥ random at 100 and 200; in 2-D the
    recommended arms against python-adaptive at 100."""
    synthesis, pool, rand = RECOMMENDED
    lines = ["| problem | calls | synthesis | pool | random (same GP) | random + SVC | python-adaptive | checks |",
             "|---|---|---|---|---|---|---|---|"]

    def fmt(v: float | None) -> str:
        return "—" if v is None else f"{v:.3f}"

    for name, r in report["problems"].items():
        for calls in [n for n in r["budgets"] if n >= 50]:
            s, p, base, svc, peer = (_mean(report, name, a, calls) for a in (synthesis, pool, rand, "svc", "adaptive"))
            checks = []
            passive = [x for x in (base, svc) if x is not None]
            worst = max(passive) if passive else None  # the better of the two random baselines
            for label, v in (("synthesis", s), ("pool", p)):
                if v is None:
                    continue
                if worst is not None:
                    checks.append(f"{label} ≥ random: yes" if v >= worst else f"{label} ≥ random: **miss by {worst - v:.3f}**")
                if r["dim"] == 2 and calls == 100 and peer is not None:
                    checks.append(f"{label} ≥ adaptive: {'yes' if v >= peer else '**no**'}")
                if name in ("islands", "projectile") and calls == 100:
                    checks.append(f"{label} ≥ 0.85: {'yes' if v >= 0.85 else '**no**'}")
            if name == "smooth8d" and calls in (100, 200) and None not in (s, p, base):
                checks.append(f"synthesis ≥ pool ≥ random: {'yes' if s >= p >= base else '**no**'}")
            lines.append(f"| {name} | {calls} | {fmt(s)} | {fmt(p)} | {fmt(base)} | {fmt(svc)} | {fmt(peer)} | "
                         + "; ".join(checks) + " |")
    return "\n".join(lines) + "\n"


#: Line colour by learner (peers by name).
COLOURS = {"mlp": "tab:blue", "mlp_prior": "tab:purple", "gp": "tab:green", "gp_loo": "tab:brown", "gp_loo_balanced": "tab:orange",
           "svc": "tab:grey", "adaptive": "black"}


def _style(arm: str) -> dict:
    """Colour by learner, line by scenario (solid: synthesis, dashed: pool, dotted: random and the
    peers), marker by acquisition (circle: entropy, square: boundary_information, triangle: straddle)."""
    if arm in PEERS:
        return {"color": COLOURS[arm], "linestyle": ":", "marker": "x"}
    strategy, learner = arm.rsplit("-", 1)
    line = "-" if strategy.startswith("input_synthesis") else ":" if strategy == "random" else "--"
    marker = "s" if "_bi" in strategy else "^" if strategy.endswith("straddle") else "o"
    return {"color": COLOURS.get(learner, "tab:red"), "linestyle": line, "marker": marker}


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    problems = report["problems"]
    fig, axes = plt.subplots(2, (len(problems) + 1) // 2, figsize=(5 * ((len(problems) + 1) // 2), 9.5), squeeze=False)
    for ax, (name, r) in zip(axes.ravel(), problems.items()):
        for arm, a in r["arms"].items():
            f1 = {int(k): v for k, v in a["f1"].items()}
            m = np.array([np.nanmean(f1[n]) for n in r["budgets"]])
            s = np.array([np.nanstd(f1[n]) for n in r["budgets"]])
            ax.plot(r["budgets"], m, label=arm, ms=4, **_style(arm))
            ax.fill_between(r["budgets"], m - s, m + s, alpha=0.06, color=_style(arm)["color"])
        ax.set_title(f"{name} ({r['dim']}-D)")
        ax.set_xlabel("calls")
        ax.set_ylabel("F1 of the success region")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    handles, names = {}, []
    for ax in axes.ravel():
        for h, n in zip(*ax.get_legend_handles_labels()):
            if n not in handles:
                handles[n] = h
                names.append(n)
    fig.legend([handles[n] for n in names], names, loc="lower center", ncol=6, fontsize=8)
    for ax in axes.ravel()[len(problems):]:
        ax.axis("off")
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    from qsynth.experiments.boundaries import PROBLEMS

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problem", nargs="+", choices=list(PROBLEMS), default=list(PROBLEMS))
    ap.add_argument("--arms", nargs="+", choices=list(ARMS), default=None,
                    help="the arms to run (default: all of them, or with --final the final table's)")
    ap.add_argument("--final", action="store_true",
                    help="the final table's arms: recommended {synthesis, pool, random}, today's default, the peers")
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(100, 110)))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default="runs")
    args = ap.parse_args(argv)
    if args.arms is None:
        args.arms = list(FINAL if args.final else ARMS)
    try:  # a missing peer fails the run, before any work
        import adaptive  # noqa: F401
        import sklearn  # noqa: F401
    except ImportError as e:
        sys.exit(f"boundaries.py needs the peers: pip install -e '.[peers]' ({e})")
    tag = f"seeds{min(args.seeds)}-{max(args.seeds)}"
    results_path = ROOT / "benchmarks" / "results" / f"boundaries-{tag}.json"
    report = json.loads(results_path.read_text()) if results_path.exists() else {"seeds": args.seeds, "problems": {}}
    import subprocess

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    t0 = time.perf_counter()
    for name in args.problem:
        problem = PROBLEMS[name]
        t = time.perf_counter()
        arms = run_problem(problem, args.arms, args.seeds, Path(args.out), tag, args.jobs)
        entry = report["problems"].setdefault(name, {"dim": problem.dim, "budgets": list(problem.budgets),
                                                      "success_fraction": problem.success_fraction, "arms": {}})
        entry["arms"].update(arms)
        report.setdefault("commits", {}).update({f"{name} {arm}": commit or "unknown" for arm in arms})
        entry["wall_s"] = entry.get("wall_s", 0.0) + time.perf_counter() - t
        print(f"{name}: {time.perf_counter() - t:.0f} s", flush=True)
        results_path.write_text(json.dumps(report, indent=1))
    print(table(report))
    print(verdicts(report))
    plot(report, ROOT / "docs" / "img" / f"boundaries-{tag}.png")
    print(f"wall time {time.perf_counter() - t0:.0f} s; wrote {results_path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
