"""Stream-based selective sampling under budgets of 5%, 10%, 20% (issue 6, item 5): runs
`experiments/stream_budgets.toml` and reports, per policy and budget, the labels used, the
accuracy on the concept in force at the end of the stream, and the mean accuracy over the
stream (the area under accuracy vs stream position — what a drifting stream rewards).

    python experiments/stream_budgets.py [--out runs] [--analyse-only] [--window 50] [--peer PYTHON]
    (about 2 min; the peer adds about 2 min)

Writes `benchmarks/results/stream_budgets[_window<N>].json` and `docs/img/stream_budgets[...].png`.
`--window N` trains on the newest N labels only (`loop.window`: forgetting for drifting streams).
`--peer PYTHON` also runs scikit-activeml's stream strategies (`benchmarks/peers/skactiveml_stream.py`,
with a Python that has scikit-activeml) on the very same streams, test sets and seed labels,
with a logistic regression refit at every label (the same window), as rows "skactiveml:<policy>".

References:
  Žliobaitė, Bifet, Pfahringer & Holmes (2014). Active learning with drifting streaming data.
  IEEE TNNLS 25(1).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from qsynth.config import load_config
from qsynth.experiments.runner import build_dataset, load_histories, run_experiment
from qsynth.store import read_label_log

ROOT = Path(__file__).resolve().parents[1]
POSITIONS = np.linspace(0.1, 1.0, 10)


def _on_positions(history: list[dict[str, float]], stream_length: int) -> np.ndarray:
    """Accuracy at fixed fractions of the stream (the last round at or before each position)."""
    pos = np.array([row.get("stream_position", 0.0) for row in history]) / stream_length
    acc = np.array([row["accuracy"] for row in history])
    return np.array([acc[max(np.searchsorted(pos, p, side="right") - 1, 0)] for p in POSITIONS])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs")
    ap.add_argument("--analyse-only", action="store_true")
    ap.add_argument("--window", type=int, help="train on the newest WINDOW labels only (forgetting)")
    ap.add_argument("--peer", metavar="PYTHON", help="a Python with scikit-activeml: run its stream strategies too")
    args = ap.parse_args()
    config = load_config(ROOT / "experiments" / "stream_budgets.toml")
    suffix = ""
    if args.window:
        suffix = f"_window{args.window}"
        config = dataclasses.replace(config, name=config.name + suffix,
                                     loop=dataclasses.replace(config.loop, window=args.window))
    if not args.analyse_only:
        run_experiment(config, args.out, overwrite=True)
    histories = load_histories(Path(args.out) / config.name)
    stream_length = int(config.data.args["n"])
    table: dict = {}
    for name, runs in histories.items():
        _, policy, budget = name.rsplit("-", 2) if name.count("-") >= 2 else (None, name, "?")
        curves = np.array([_on_positions(h, stream_length) for h in runs])
        table.setdefault(policy, {})[budget] = {
            "labels": float(np.mean([h[-1]["queries"] for h in runs])),
            "final_accuracy": [float(np.mean(curves[:, -1])), float(np.std(curves[:, -1]))],
            "mean_accuracy_over_stream": [float(np.mean(curves.mean(1))), float(np.std(curves.mean(1)))],
            "curve": curves.mean(0).tolist(), "seeds": len(runs)}
    if args.peer:
        budgets = sorted({b for by_budget in table.values() for b in by_budget}, key=float)
        peer = run_peer(args.peer, config, Path(args.out) / config.name, budgets, args.window)
        for policy, by_budget in peer.items():
            for budget, cell in by_budget.items():
                curves = np.asarray(cell["curves"])
                table.setdefault(f"skactiveml:{policy}", {})[budget] = {
                    "labels": float(np.mean(cell["labels"])),
                    "final_accuracy": [float(np.mean(curves[:, -1])), float(np.std(curves[:, -1]))],
                    "mean_accuracy_over_stream": [float(np.mean(curves.mean(1))), float(np.std(curves.mean(1)))],
                    "curve": curves.mean(0).tolist(), "seeds": len(curves)}
    out = ROOT / "benchmarks" / "results" / f"stream_budgets{suffix}.json"
    out.write_text(json.dumps(table, indent=1))
    budgets = sorted({b for by_budget in table.values() for b in by_budget}, key=float)
    print(f"{'policy':<34}" + "".join(f"{'budget ' + b:>30}" for b in budgets))
    for policy, by_budget in table.items():
        cells = []
        for b in budgets:
            e = by_budget[b]
            cells.append(f"{e['labels']:>5.0f} lab  {e['final_accuracy'][0]:.3f}  {e['mean_accuracy_over_stream'][0]:.3f}")
        print(f"{policy:<34}" + "".join(f"{c:>30}" for c in cells))
    print("(labels used · accuracy at the end of the stream · mean accuracy over the stream)")
    plot(table, budgets, ROOT / "docs" / "img" / f"stream_budgets{suffix}.png")
    print(f"wrote {out.relative_to(ROOT)}")


def run_peer(python: str, config, run_path: Path, budgets: list[str], window: int | None) -> dict:
    """scikit-activeml's policies on the streams, test sets and seed labels of the qsynth run."""
    arrays: dict[str, np.ndarray] = {"positions": POSITIONS}
    # every strategy of a seed starts from the same seed labels (same root key): take them from any
    first = next(p for p in sorted(run_path.iterdir()) if (p / f"seed-{config.seeds[0]}" / "labels.jsonl").exists())
    for seed in config.seeds:
        data = build_dataset(config, seed)
        log = read_label_log(first / f"seed-{seed}" / "labels.jsonl")
        seed_idx = [r["pool_index"] for r in log if r["kind"] == "query" and r["query_id"].startswith("seed-q")]
        arrays.update({f"x_{seed}": data.x, f"y_{seed}": data.y, f"x_test_{seed}": data.x_test,
                       f"y_test_at_{seed}": np.stack([data.test_labels_at(p) for p in POSITIONS]),
                       f"seed_idx_{seed}": np.asarray(seed_idx, np.int64)})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "streams.npz"
        np.savez(path, **arrays)
        done = subprocess.run([python, str(ROOT / "benchmarks" / "peers" / "skactiveml_stream.py"), str(path),
                               " ".join(budgets), str(window or 0)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the scikit-activeml peer failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)


def plot(table: dict, budgets: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(budgets), figsize=(5 * len(budgets), 4), sharey=True)
    colors: dict[str, str] = {}
    for ax, b in zip(np.atleast_1d(axes), budgets):
        for policy, by_budget in table.items():
            if b in by_budget:  # one colour per policy: solid for qsynth, dotted for the scikit-activeml peer
                base = policy.removeprefix("skactiveml:")
                color = colors.setdefault(base, f"C{len(colors)}")
                ax.plot(POSITIONS * 100, by_budget[b]["curve"], ":" if base != policy else "-", color=color,
                        marker="o", ms=3, label=policy)
        ax.set_title(f"label budget {float(b):.0%} of the stream")
        ax.set_xlabel("stream position (%)")
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("test accuracy on the concept in force")
    np.atleast_1d(axes)[0].legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
