"""Aggregating per-seed histories: labels to reach a target, accuracy at label counts, tables."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from qsynth.history import curve_on_grid

__all__ = ["accuracy_at", "curve_on_grid", "format_table", "labels_to_reach", "mean_std", "summarize", "unlearned_runs"]


def labels_to_reach(history: Sequence[dict[str, float]], target: float) -> float | None:
    """Queries used when test accuracy first reached `target` (None if it never did)."""
    for row in history:
        if row["accuracy"] >= target:
            return row["queries"]
    return None


def accuracy_at(history: Sequence[dict[str, float]], labels: int, key: str = "accuracy") -> float:
    """Test accuracy (or metric `key`) of the last round that had used at most `labels` queries
    (NaN if the run ended before)."""
    if history[-1]["queries"] < labels:
        return float("nan")
    best = float("nan")
    for row in history:
        if row["queries"] <= labels:
            best = row[key]
    return best


def mean_std(values: Sequence[float | None]) -> dict[str, float | int | None]:
    """Mean and (population) std of the values that are not None/NaN, and how many those are."""
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not vals:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(np.mean(vals)), "std": float(np.std(vals)), "n": len(vals)}


def summarize(histories: dict[str, list[list[dict[str, float]]]], targets: Sequence[float],
              at_labels: Sequence[int]) -> dict[str, dict]:
    """Per strategy: final accuracy, labels to each target, accuracy at label counts, round time.

    Args:
      histories: strategy name -> one history per seed.
    """
    out = {}
    for name, runs in histories.items():
        entry: dict = {
            "seeds": len(runs),
            "final_accuracy": mean_std([h[-1]["accuracy"] for h in runs]),
            "final_queries": mean_std([h[-1]["queries"] for h in runs]),
            "labels_to_target": {},
            "accuracy_at": {},
            "round_seconds_median": float(np.median([r["select_s"] + r["train_s"] for h in runs for r in h[1:]
                                                     if not r.get("compiled")] or [float("nan")])),
        }
        for status in ("failed", "abstained"):  # the share of queries each run lost, as a fraction
            entry[f"{status}_fraction"] = mean_std([h[-1].get(status, 0.0) / max(h[-1]["queries"], 1) for h in runs])
        entry["runs_without_labels"] = sum(h[-1].get("labels", 1) == 0 for h in runs)
        for t in targets:
            vals = [labels_to_reach(h, t) for h in runs]
            entry["labels_to_target"][f"{t:g}"] = {**mean_std(vals), "reached": sum(v is not None for v in vals)}
        for n in at_labels:
            entry["accuracy_at"][str(n)] = mean_std([accuracy_at(h, n) for h in runs])
        if all("f1" in h[-1] for h in runs):  # a success region (simulator tasks): its F1 too
            entry["final_f1"] = mean_std([h[-1]["f1"] for h in runs])
            entry["f1_at"] = {str(n): mean_std([accuracy_at(h, n, "f1") for h in runs]) for n in at_labels}
        out[name] = entry
    return out


def _fmt(ms: dict, digits: int = 3, scale: float = 1.0) -> str:
    """`mean ± std` over seeds; the mean alone for one seed (a spread of one is not ± 0)."""
    if ms["mean"] is None:
        return "—"
    if ms.get("n") == 1:
        return f"{ms['mean'] * scale:.{digits}f}"
    return f"{ms['mean'] * scale:.{digits}f} ± {ms['std'] * scale:.{digits}f}"


def unlearned_runs(summary: dict[str, dict]) -> dict[str, int]:
    """Per strategy, how many of its seeds ended without one usable label (every answer failed
    or abstained): their accuracy is an untrained learner's."""
    return {name: e["runs_without_labels"] for name, e in summary.items() if e.get("runs_without_labels")}


def _lost(summary: dict[str, dict]) -> bool:
    """Whether any run lost queries to failures or abstentions (then the table shows both shares)."""
    return any((e.get(f"{s}_fraction") or {}).get("mean") for e in summary.values() for s in ("failed", "abstained"))


def _percent(ms: dict | None) -> str:
    return "—" if not ms or ms["mean"] is None else f"{ms['mean']:.0%}"


def format_table(summary: dict[str, dict], markdown: bool = False) -> str:
    """A text (or Markdown) table: final accuracy and labels to each target per strategy; the
    share of queries that failed or abstained when any did, and a warning under the table for
    every strategy with seeds that never got a usable label."""
    first = next(iter(summary.values()))
    targets = list(first["labels_to_target"])
    ats = list(first["accuracy_at"])
    f1 = all("final_f1" in e for e in summary.values())
    lost = _lost(summary)
    header = ["strategy", "final accuracy"] + [f"labels to {float(t):.0%}" for t in targets] + \
             [f"acc @ {n}" for n in ats] + (["final F1"] + [f"F1 @ {n}" for n in ats] if f1 else []) + \
             (["failed", "abstained"] if lost else []) + ["s/round"]
    rows = []
    for name, e in summary.items():
        row = [name, _fmt(e["final_accuracy"])]
        for t in targets:
            lt = e["labels_to_target"][t]
            cell = _fmt(lt, 1)
            if lt["reached"] < e["seeds"]:
                cell += f" ({lt['reached']}/{e['seeds']} reached)"
            row.append(cell)
        row += [_fmt(e["accuracy_at"][n]) for n in ats]
        if f1:
            row += [_fmt(e["final_f1"])] + [_fmt(e["f1_at"][n]) for n in ats]
        if lost:
            row += [_percent(e.get("failed_fraction")), _percent(e.get("abstained_fraction"))]
        row.append(f"{e['round_seconds_median']:.4f}")
        rows.append(row)
    warnings = [f"warning: {name}: {n} of {summary[name]['seeds']} seeds got no usable label (every answer failed "
                "or abstained); their accuracy is an untrained learner's" for name, n in unlearned_runs(summary).items()]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines + ([""] + warnings if warnings else []))
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), fmt.format(*("-" * w for w in widths))] +
                     [fmt.format(*r).rstrip() for r in rows] + warnings)
