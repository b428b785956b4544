"""Regenerate the tables (and plots) of `docs/results.md` from the run folders and result files.

Every generated table in `docs/results.md` (and the sample table of `docs/getting-started.md`)
sits between two markers,

    <!-- results:KEY -->
    | ... the table ... |
    <!-- /results:KEY -->

and is rebuilt here from its source: a run folder's `summary.json` (`runs/<name>/`, written by
`qsynth run experiments/<name>.toml`), or a results file an experiment script wrote
(`benchmarks/results/*.json`). So that the tables can be checked without re-running anything,
each run's summary is archived in `benchmarks/results/summaries/<name>.json` (`--archive`
copies it from the run folder); a table is built from the run folder when there is one and
from the archive otherwise. The prose around the tables is written by people.

    python experiments/make_results.py                # rewrite the tables in docs/results.md
    python experiments/make_results.py --archive      # first copy runs/*/summary.json into the archive
    python experiments/make_results.py --plots        # also redraw the plots docs/results.md shows
    python experiments/make_results.py --check        # exit 1 if a table differs from its source

Tables whose source is missing are left as they are and reported.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import shutil
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
ARCHIVE = RESULTS / "summaries"
DOC = ROOT / "docs" / "results.md"
#: the documents with generated tables (the getting-started guide shows the default job's)
DOCS = (DOC, ROOT / "docs" / "getting-started.md")
BLOCK = re.compile(r"(<!-- results:(?P<key>[\w-]+) -->\n)(?P<body>.*?)(<!-- /results:(?P=key) -->)", re.S)


class MissingSource(Exception):
    """A table's run folder, archived summary or results file is not there."""


def _script(name: str) -> Any:
    """An experiment script in this folder, as a module (for its table and plot functions)."""
    spec = importlib.util.spec_from_file_location(f"_experiment_{name}", ROOT / "experiments" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def summary(name: str, runs: Path) -> dict[str, Any]:
    """The summary of run `name`: from `runs/<name>/summary.json`, else from the archive."""
    for path in (runs / name / "summary.json", ARCHIVE / f"{name}.json"):
        if path.exists():
            return json.loads(path.read_text())
    raise MissingSource(f"no summary for run {name!r}: run `qsynth run experiments/{name}.toml`")


def results_file(name: str, command: str | None = None) -> Any:
    path = RESULTS / f"{name}.json"
    if not path.exists():
        raise MissingSource(f"no {path.relative_to(ROOT)}: run `{command or f'python experiments/{name}.py'}`")
    return json.loads(path.read_text())


# ---- cells ------------------------------------------------------------------------------------
def mean_std(ms: dict[str, Any], digits: int = 3) -> str:
    return "—" if ms.get("mean") is None else f"{ms['mean']:.{digits}f} ± {ms['std']:.{digits}f}"


def labels_cell(entry: dict[str, Any], target: str) -> str:
    lt = entry["labels_to_target"][target]
    if not lt["reached"]:
        return f"— (0/{entry['seeds']} reached)"
    cell = mean_std(lt, 1)
    return cell + (f" ({lt['reached']}/{entry['seeds']} reached)" if lt["reached"] < entry["seeds"] else "")


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


def best_marked(rows: list[list[str]], columns: list[int], higher: list[bool]) -> list[list[str]]:
    """Bold the best mean of each listed column (ties all bold). For label counts (lower is
    better) a cell where some seeds never reached the target does not compete: its mean is
    over the lucky seeds only."""
    def value(cell: str, high: bool) -> float | None:
        m = re.match(r"([\d.]+)", cell)
        return float(m.group(1)) if m and (high or "reached" not in cell) else None

    for col, high in zip(columns, higher):
        vals = [value(r[col], high) for r in rows]
        known = [v for v in vals if v is not None]
        if not known:
            continue
        best = max(known) if high else min(known)
        for r, v in zip(rows, vals):
            if v == best:
                head, sep, tail = r[col].partition(" (")
                r[col] = f"**{head}**" + (sep + tail if sep else "")
    return rows


# ---- tables -----------------------------------------------------------------------------------
#: how run strategy names read in the doc's tables
DISPLAY = {"input_synthesis-entropy": "input-space synthesis (entropy)", "entropy": "pool uncertainty (entropy)",
           "gp-synthesis-straddle": "GP, straddle synthesis", "gp-pool-straddle": "GP, straddle over the pool",
           "gp-random": "GP, random", "adaptive.Learner2D": "`adaptive.Learner2D` (peer)"}


def simulator_run_table(name: str, targets: tuple[str, ...], runs: Path) -> str:
    s = summary(name, runs)
    header = ["strategy"] + [f"labels to {float(t):.0%}" for t in targets] + [f"F1 @ {n}" for n in ("20", "50", "100")]
    rows = [[DISPLAY.get(label, label)] + [labels_cell(e, t) for t in targets] + [mean_std(e["f1_at"][n]) for n in ("20", "50", "100")]
            for label, e in s["strategies"].items()]
    k = len(targets)
    return markdown(header, best_marked(rows, list(range(1, 1 + k)) + [k + 1, k + 2, k + 3],
                                        [False] * k + [True] * 3))


def simulator_boundaries_table(runs: Path) -> str:
    r = results_file("simulator_boundaries")
    sims = list(r)
    names = list(dict.fromkeys(n for sim in sims for n in r[sim]["arms"]))
    header = ["F1 after 100 calls", "answers"] + sims
    rows = []
    for n in names:
        arm = next(r[sim]["arms"][n] for sim in sims if n in r[sim]["arms"])
        row = [f"{DISPLAY.get(n, n)}, {arm['seeds']} run{'s' if arm['seeds'] > 1 else ''}", arm.get("answers", "labels")]
        for sim in sims:
            a = r[sim]["arms"].get(n)
            i = r[sim]["calls"].index(100)
            row.append("" if a is None else f"{a['mean'][i]:.3f} ± {a['std'][i]:.3f}" if a["seeds"] > 1
                       else f"{a['mean'][i]:.3f}")
        rows.append(row)
    return markdown(header, best_marked(rows, [2 + j for j in range(len(sims))], [True] * len(sims)))


def stream_table(name: str, runs: Path) -> str:
    """Cells: mean accuracy over the stream · accuracy at its end; the labels used where a
    policy spent more than 10% less (or more) than the budget."""
    table = results_file(name)
    budgets = sorted({b for by_budget in table.values() for b in by_budget}, key=float)
    ours = [e for policy, e in table.items() if not policy.startswith("skactiveml:")]
    labels = {b: statistics.median(e[b]["labels"] for e in ours if b in e) for b in budgets}
    header = ["policy"] + [f"{float(b):.0%} (≈ {labels[b]:.0f} labels)" for b in budgets]
    rows = []
    for policy, by_budget in table.items():
        cells = []
        for b in budgets:
            e = by_budget.get(b)
            if e is None:
                cells.append("")
                continue
            cell = f"{e['mean_accuracy_over_stream'][0]:.3f} · {e['final_accuracy'][0]:.3f}"
            if abs(e["labels"] - labels[b]) > 0.1 * labels[b]:
                cell += f" ({e['labels']:.0f} labels)"
            cells.append(cell)
        rows.append([policy.replace("skactiveml:", "scikit-activeml: ").replace("_", " ")] + cells)
    return markdown(header, rows)


GAL_PAPER = {"bald": ("BALD", "145", "335"), "variation_ratio": ("variation ratios", "120", "295"),
             "entropy": ("max entropy", "165", "355"), "mean_std": ("mean std", "—", "—"),
             "random": ("random", "255", "835")}


def gal2017_table(runs: Path) -> str:
    mc = summary("gal2017_digits_mcdropout", runs)["strategies"]
    ens = summary("gal2017_digits_ensemble", runs)["strategies"]
    header = ["acquisition", "paper, MNIST: 10% error", "paper: 5% error", "**MC dropout**: labels to 10% error",
              "to 5% error", "**ensemble**: to 10% error", "to 5% error"]
    rows = []
    for key, (label, p10, p5) in GAL_PAPER.items():
        row = [label, p10, p5]
        for s in (mc, ens):
            row += [labels_cell(s[key], "0.9"), labels_cell(s[key], "0.95")]
        rows.append(row)
    return markdown(header, best_marked(rows, [3, 4, 5, 6], [False] * 4))


def gal2017_mnist1d_table(runs: Path) -> str:
    r = results_file("gal2017_mnist1d")
    s, target = r["strategies"], f"{r['target']:g}"
    header = ["acquisition", "paper, MNIST: images to 10% error",
              f"MNIST-1D: labels to {r['fraction']:.0%} of full-data accuracy (≥ {r['target']:.3f})"]
    rows = [[label, p10, labels_cell(s[key], target)] for key, (label, p10, _) in GAL_PAPER.items() if key in s]
    return markdown(header, best_marked(rows, [2], [False]))


def pool_run_table(name: str, runs: Path) -> str:
    """A digits-protocol run: final accuracy, labels to 90/95%, accuracy at 50/100/200 labels."""
    s = summary(name, runs)["strategies"]
    header = ["strategy", "final accuracy (300)", "labels to 90%", "labels to 95%", "acc @ 50", "acc @ 100", "acc @ 200"]
    rows = [[label.replace("_", " "), mean_std(e["final_accuracy"]), labels_cell(e, "0.9"),
             labels_cell(e, "0.95")] + [mean_std(e["accuracy_at"][n]) for n in ("50", "100", "200")]
            for label, e in s.items()]
    return markdown(header, best_marked(rows, [1, 2, 3, 4, 5, 6], [True, False, False, True, True, True]))


#: display names of the default job's strategies (docs/results.md)
DEFAULT_NAMES = {
    "synthesis-boundary_information": "latent synthesis (2-D VAE, boundary information)",
    "input_synthesis-boundary_information": "input-space synthesis (box, boundary information)", "vote_entropy": "QBC, vote entropy", "bald": "BALD",
    "expected_gradient_length": "expected gradient length",
    "stream-variable_uncertainty-0.2": "stream, variable uncertainty, 20% budget",
    "stream-split-0.2": "stream, split, 20% budget"}


def _merged(strategies: dict[str, Any]) -> list[tuple[list[str], dict[str, Any]]]:
    """Strategies whose accuracy numbers are identical (entropy, margin and least confidence on two
    classes choose the same points) as one group, in their order."""
    groups: list[tuple[list[str], dict[str, Any]]] = []
    numbers = ("final_accuracy", "labels_to_target", "accuracy_at")
    for name, entry in strategies.items():
        same = next((g for g in groups if all(g[1][k] == entry[k] for k in numbers)), None)
        if same:
            same[0].append(name)
        else:
            groups.append(([name], entry))
    return groups


def default_table(runs: Path) -> str:
    """The default job: final accuracy (40 labels) and labels to 90% / 95%, identical arms merged."""
    s = summary("default", runs)["strategies"]
    rows = []
    for names, e in _merged(s):
        label = " = ".join(DEFAULT_NAMES.get(n, n.replace("_", " ")) for n in names)
        label += " (binary)" if len(names) > 1 else ""
        rows.append([label, mean_std(e["final_accuracy"]), labels_cell(e, "0.9"), labels_cell(e, "0.95")])
    return markdown(["strategy", "final accuracy (40)", "labels to 90%", "labels to 95%"], rows)


def default_sample(runs: Path) -> str:
    """The table `qsynth run` prints for the default job, as the getting-started guide shows it."""
    from qsynth.experiments.summary import format_table

    return "```\n" + format_table(summary("default", runs)["strategies"]) + "\n```\n"


def breast_cancer_table(runs: Path) -> str:
    """experiments/breast_cancer.toml: final accuracy, labels to 90/95%, accuracy at 10/20/40 labels."""
    s = summary("breast-cancer", runs)["strategies"]
    header = ["strategy", "final accuracy (60)", "labels to 90%", "labels to 95%", "acc @ 10", "acc @ 20", "acc @ 40"]
    rows = [[label.replace("_", " "), mean_std(e["final_accuracy"]), labels_cell(e, "0.9"), labels_cell(e, "0.95")]
            + [mean_std(e["accuracy_at"][n]) for n in ("10", "20", "40")] for label, e in s.items()]
    return markdown(header, best_marked(rows, [1, 2, 3, 4, 5, 6], [True, False, False, True, True, True]))


def halfspace_table(runs: Path) -> str:
    r = results_file("halfspace_bound")
    args = r["args"]
    dims = r.get("dims", args["dims"])
    text, _ = _script("halfspace_bound").summarize(r["runs"], dims, sorted(args["eps"], reverse=True), args["arms"],
                                                   args["cap"])
    return text + "\n"


def answerability_digits_table(name: str = "answerability_digits", command: str | None = None) -> str:
    r = results_file(name, command)
    script = _script("answerability_digits")
    return "\n\n".join(script.table(task, r[task], [20, 40, 60, 100] if task == "all" else [20, 40, 60])
                       for task in r) + "\n"


def answerability_fallback_tuning_table(runs: Path) -> str:
    """The pool-fallback tuning on the pairs (seeds 10-19): per arm, the share abstained, the share
    of queries that were real pool images, and accuracy at 40 labels with its paired gain over
    random, on 3 vs 8 and 8 vs 9."""
    r = results_file("answerability_digits-fallback-tuning-seeds10-19", "the fallback tuning commands in "
                     "experiments/answerability_digits.py")
    script = _script("answerability_digits")
    tasks = ("3v8", "8v9")
    header = ["arm"] + [f"{what}, {t}" for what in ("abstained", "pool images", "acc @ 40 (vs random)") for t in tasks]
    rows = []
    for arm in r[tasks[0]]["accuracy_at"]:
        if arm == "random":
            continue
        cells = [arm.removeprefix("synthesis-entropy-")]
        cells += [f"{100 * r[t]['abstained'][arm]:.1f}%" for t in tasks]
        cells += [f"{100 * r[t]['pool_share'][arm]:.1f}%" if arm in r[t]["pool_share"] else "—" for t in tasks]
        for t in tasks:
            acc = r[t]["accuracy_at"]
            gain = script.paired(acc[arm]["40"], acc["random"]["40"])
            cells.append(f"{statistics.fmean(acc[arm]['40']):.3f} ({gain['mean']:+.3f} ± {gain['se']:.3f})")
        rows.append(cells)
    return markdown(header, rows)


TABLES: dict[str, Callable[[Path], str]] = {
    "halfspace": halfspace_table,
    "cartpole_synthesis": lambda runs: simulator_run_table("cartpole_synthesis", ("0.95", "0.98"), runs),
    "projectile_synthesis": lambda runs: simulator_run_table("projectile_synthesis", ("0.95",), runs),
    "cartpole_level_set": lambda runs: simulator_run_table("cartpole_level_set", ("0.95", "0.98"), runs),
    "projectile_level_set": lambda runs: simulator_run_table("projectile_level_set", ("0.95",), runs),
    "simulator_boundaries": simulator_boundaries_table,
    "gal2017": gal2017_table,
    "digits_nngp": lambda runs: pool_run_table("digits_nngp", runs),
    "gal2017_mnist1d": gal2017_mnist1d_table,
    "stream_budgets": lambda runs: stream_table("stream_budgets", runs),
    "stream_budgets_window50": lambda runs: stream_table("stream_budgets_window50", runs),
    "default": default_table,
    "default_sample": default_sample,
    "breast_cancer": breast_cancer_table,
    "failing_region": lambda runs: _script("failing_region").table(results_file("failing_region")) + "\n",
    "answerability_digits": lambda runs: answerability_digits_table(),
    "answerability_digits_confirm": lambda runs: answerability_digits_table(
        "answerability_digits-all-seeds20-29", "the confirmation command in experiments/answerability_digits.py"),
    "answerability_digits_costly": lambda runs: answerability_digits_table(
        "answerability_digits-costly-seeds0-9", "the refusal_cost command in experiments/answerability_digits.py"),
    "answerability_digits_costly_confirm": lambda runs: answerability_digits_table(
        "answerability_digits-costly-seeds20-29", "the refusal_cost command in experiments/answerability_digits.py"),
    "answerability_digits_fallback_tuning": answerability_fallback_tuning_table,
    "answerability_digits_fallback": lambda runs: answerability_digits_table(
        "answerability_digits-fallback-pairs-seeds0-9", "the pool-fallback command in experiments/answerability_digits.py"),
    "answerability_digits_fallback_confirm": lambda runs: answerability_digits_table(
        "answerability_digits-fallback-pairs-seeds20-29", "the pool-fallback command in experiments/answerability_digits.py"),
    "boundaries_tuning": lambda runs: _script("boundaries").table(
        results_file("boundaries-seeds0-4", "python experiments/boundaries.py --seeds 0 1 2 3 4")) + "\n",
    "boundaries_tuning_balanced_rescore": lambda runs: _script("boundaries").table(
        results_file("boundaries-tuning-seeds0-9", "the seeds 0-9 command in docs/results.md")) + "\n",
    "boundaries_final": lambda runs: _script("boundaries").table(
        results_file("boundaries-seeds100-109", "python experiments/boundaries.py --final")) + "\n",
    "batch_spread_tuning": lambda runs: _script("batch_spread").table(
        results_file("batch_spread-seeds0-4", "python experiments/batch_spread.py --seeds 0 1 2 3 4")) + "\n",
    "batch_spread_confirm": lambda runs: _script("batch_spread").table(
        results_file("batch_spread-seeds100-104", "python experiments/batch_spread.py --seeds 100 101 102 103 104"))
    + "\n",
    "batch_spread_one_per_round": lambda runs: _script("batch_spread").against_one_per_round(
        results_file("batch_spread-seeds100-104", "python experiments/batch_spread.py --seeds 100 101 102 103 104"),
        results_file("boundaries-seeds100-109", "python experiments/boundaries.py --final")) + "\n",
    "boundaries_checks": lambda runs: _script("boundaries").verdicts(
        results_file("boundaries-seeds100-109", "python experiments/boundaries.py --final")) + "\n",
}

#: run folders whose plots docs/results.md shows: (run, plot file in runs/<run>/plots, name in docs/img)
RUN_PLOTS = [
    ("default", "learning_curves.png", "default_learning_curves.png"),
    ("default", "boundary-bald.png", "default_boundary_bald.png"),
    ("default", "boundary-synthesis-boundary_information.png", "default_boundary_synthesis.png"),
    ("cartpole_synthesis", "region-input_synthesis-entropy.png", "cartpole_region_synthesis.png"),
    ("projectile_synthesis", "region-input_synthesis-entropy.png", "projectile_region_synthesis.png"),
    ("projectile_synthesis", "region-random.png", "projectile_region_random.png"),
    ("projectile_level_set", "region-gp-synthesis-straddle.png", "projectile_region_gp_straddle.png"),
    ("cartpole_level_set", "region-gp-synthesis-straddle.png", "cartpole_region_gp_straddle.png"),
    ("gal2017_digits_mcdropout", "learning_curves.png", "gal2017_digits_mcdropout.png"),
    ("gal2017_digits_ensemble", "learning_curves.png", "gal2017_digits_ensemble.png"),
    ("gal2017_mnist1d", "learning_curves.png", "gal2017_mnist1d.png"),
    ("digits_nngp", "learning_curves.png", "digits_nngp_learning_curves.png"),
]


#: the runs whose summaries the tables read (archived so the tables can be checked without them)
SUMMARY_RUNS = ("cartpole_synthesis", "projectile_synthesis", "cartpole_level_set", "projectile_level_set",
                "gal2017_digits_mcdropout", "gal2017_digits_ensemble", "digits_nngp", "default", "breast-cancer")


def archive(runs: Path) -> list[str]:
    """Copy the summary.json of every run a table reads into the archive."""
    ARCHIVE.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in SUMMARY_RUNS:
        if (runs / name / "summary.json").exists():
            shutil.copyfile(runs / name / "summary.json", ARCHIVE / f"{name}.json")
            copied.append(name)
    return copied


def redraw_plots(runs: Path) -> list[str]:
    """Redraw the run-folder plots (`qsynth plot`) and the script plots from their results files."""
    from qsynth.config import load_run_config
    from qsynth.experiments.runner import plot_run

    done = []
    for run in sorted({r for r, _, _ in RUN_PLOTS}):
        if (runs / run / "config.toml").exists():
            plot_run(runs / run, load_run_config(runs / run))
            for r, src, dst in RUN_PLOTS:
                if r == run and (runs / run / "plots" / src).exists():
                    shutil.copyfile(runs / run / "plots" / src, ROOT / "docs" / "img" / dst)
                    done.append(dst)
    try:
        _script("simulator_boundaries").plot(results_file("simulator_boundaries"),
                                             ROOT / "docs" / "img" / "simulator_boundaries.png")
        done.append("simulator_boundaries.png")
    except MissingSource:
        pass
    for suffix in ("", "_window50"):
        try:
            table = results_file(f"stream_budgets{suffix}")
        except MissingSource:
            continue
        budgets = sorted({b for by_budget in table.values() for b in by_budget}, key=float)
        _script("stream_budgets").plot(table, budgets, ROOT / "docs" / "img" / f"stream_budgets{suffix}.png")
        done.append(f"stream_budgets{suffix}.png")
    try:
        r = results_file("halfspace_bound")
        args = r["args"]
        _script("halfspace_bound").plot(r["runs"], r.get("dims", args["dims"]), sorted(args["eps"], reverse=True),
                                        args["arms"], ROOT / "docs" / "img" / "halfspace_bound.png")
        done.append("halfspace_bound.png")
    except MissingSource:
        pass
    return done


def regenerate(text: str, runs: Path) -> tuple[str, list[str], list[str]]:
    """`text` with every known table rebuilt; also the keys rebuilt and the problems met."""
    rebuilt, problems = [], []

    def replace(m: re.Match) -> str:
        key = m.group("key")
        if key not in TABLES:
            problems.append(f"{key}: no generator for this table")
            return m.group(0)
        try:
            body = TABLES[key](runs)
        except MissingSource as exc:
            problems.append(f"{key}: {exc}")
            return m.group(0)
        rebuilt.append(key)
        return m.group(1) + body + m.group(4)

    return BLOCK.sub(replace, text), rebuilt, problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default=str(ROOT / "runs"), help="the folder holding run folders (default runs/)")
    ap.add_argument("--doc", help="one document to rebuild (default: docs/results.md and docs/getting-started.md)")
    ap.add_argument("--archive", action="store_true", help="copy the run folders' summaries into the archive first")
    ap.add_argument("--plots", action="store_true", help="also redraw the plots")
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 if a table is out of date")
    args = ap.parse_args(argv)
    runs = Path(args.runs)
    if args.archive and not args.check:
        print(f"archived: {', '.join(archive(runs)) or 'nothing'}")
    failed = False
    for doc in [Path(args.doc)] if args.doc else DOCS:
        text = doc.read_text(encoding="utf-8")
        new, rebuilt, problems = regenerate(text, runs)
        for p in problems:
            print(f"{doc.name}: skipped {p}", file=sys.stderr)
        if args.check:
            stale = [m.group("key") for m, n in zip(BLOCK.finditer(text), BLOCK.finditer(new))
                     if m.group(0) != n.group(0)]
            print(f"{doc.name}: {len(rebuilt) - len(stale)} of {len(rebuilt)} tables match their sources"
                  + (f"; out of date: {', '.join(stale)}" if stale else ""))
            failed = failed or bool(stale or problems)
            continue
        doc.write_text(new, encoding="utf-8")
        print(f"rebuilt {len(rebuilt)} tables in {doc}: {', '.join(rebuilt)}")
    if args.plots and not args.check:
        print(f"redrew: {', '.join(redraw_plots(runs))}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
