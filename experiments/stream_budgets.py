"""Stream-based selective sampling under budgets of 5%, 10%, 20% (issue 6, item 5): runs
`experiments/stream_budgets.toml` and reports, per policy and budget, the labels used, the
accuracy on the concept in force at the end of the stream, and the mean accuracy over the
stream (the area under accuracy vs stream position — what a drifting stream rewards).

    python experiments/stream_budgets.py [--out runs] [--analyse-only] [--window 50]   (about 2 min)

Writes `benchmarks/results/stream_budgets[_window<N>].json` and `docs/img/stream_budgets[...].png`.
`--window N` trains on the newest N labels only (`loop.window`: forgetting for drifting streams).

References:
  Žliobaitė, Bifet, Pfahringer & Holmes (2014). Active learning with drifting streaming data.
  IEEE TNNLS 25(1).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

from qsynth.config import load_config
from qsynth.experiments.runner import load_histories, run_experiment

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


def plot(table: dict, budgets: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(budgets), figsize=(5 * len(budgets), 4), sharey=True)
    for ax, b in zip(np.atleast_1d(axes), budgets):
        for policy, by_budget in table.items():
            ax.plot(POSITIONS * 100, by_budget[b]["curve"], marker="o", ms=3, label=policy)
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
