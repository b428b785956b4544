"""Plots: learning curves with mean ± std bands, 2-D decision boundaries with queried points and
ascent paths, grids of (synthesized) images, and 2-D latent spaces.

Every function takes `ax=None` (a new figure then) and returns the `Axes`, so tests can
inspect the artists and callers can compose figures. Importing this module leaves
matplotlib's backend alone (a notebook keeps its own); `qsynth` on the command line draws
with Agg.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from qsynth.history import curve_on_grid

__all__ = ["as_histories", "as_images", "plot_ascent_paths", "plot_decision_boundary", "plot_image_grid",
           "plot_latent_space", "plot_learning_curves", "query_points", "save", "strategy_styles"]


def as_histories(results: dict[str, Any]) -> dict[str, list[list[dict[str, float]]]]:
    """Per strategy, one history per seed, from whatever you hold: a `RunResult` (or anything with
    `.history`), a list of them, one history (a list of round rows) or a list of histories."""
    out = {}
    for name, value in results.items():
        if hasattr(value, "history"):
            out[name] = [value.history]
        elif value and hasattr(value[0], "history"):
            out[name] = [v.history for v in value]
        elif value and isinstance(value[0], dict):
            out[name] = [value]
        else:
            out[name] = list(value)
    return out


def query_points(queries: Sequence[Any], classes: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """([n, d] points, [n] class index) of a run's queries (`RunResult.queries`), for the `queried`
    and `queried_y` of `plot_decision_boundary`: −1 where the answer was not a label (abstained,
    failed, or none yet)."""
    x = np.asarray([q.x for q in queries], np.float64).reshape(len(queries), -1)
    y = np.asarray([list(classes).index(q.label) if q.label is not None else -1 for q in queries])
    return x, y


#: Line styles after the ten colours are used up (then dash patterns of growing length).
_LINESTYLES = ("-", "--", ":", "-.")


def strategy_styles(names: Sequence[str]) -> dict[str, tuple[str, object]]:
    """A (colour, line style) per strategy, fixed by the order of `names` (a config's order), unique for
    any number: the ten tab10 colours with solid lines, then dashed, dotted, dash-dotted, then dash
    patterns of growing length."""
    colours = [plt.get_cmap("tab10")(i) for i in range(10)]
    out: dict[str, tuple[str, object]] = {}
    for i, name in enumerate(names):
        round_ = i // 10
        style: object = _LINESTYLES[round_] if round_ < len(_LINESTYLES) else (0, (round_, 1 + round_ // 2))
        out[name] = ("#%02x%02x%02x" % tuple(int(255 * c) for c in colours[i % 10][:3]), style)
    return out


def plot_learning_curves(histories: dict[str, Any], *, key: str = "accuracy",
                         targets: Sequence[float] = (), ax: Axes | None = None, title: str | None = None,
                         styles: dict[str, tuple[str, object]] | None = None) -> Axes:
    """Mean ± std of `key` against queries used, one line and band per strategy.

    Strategies whose curves are identical on every seed (entropy, margin and least confidence
    on two classes) are drawn once, their names joined with "=" in the legend. The legend
    sits outside the plotting area.

    Args:
      histories: strategy name -> one history (list of round rows) per seed, in the order to draw
        and colour them; or a `RunResult`, a list of them, or one history (`as_histories`).
      targets: horizontal reference lines (accuracy targets).
      styles: (colour, line style) per strategy; default `strategy_styles` of the histories' order.
    """
    histories = as_histories(histories)
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4.5))
    styles = styles or strategy_styles(list(histories))
    top = max(h[-1]["queries"] for runs in histories.values() for h in runs)
    bottom = min(h[0]["queries"] for runs in histories.values() for h in runs)
    grid = np.arange(bottom, top + 1, dtype=np.float64)
    curves_of = {name: np.stack([curve_on_grid(h, grid, key) for h in runs]) for name, runs in histories.items()}
    drawn: list[str] = []
    groups: dict[str, list[str]] = {}
    for name, curves in curves_of.items():
        same = next((d for d in drawn if curves_of[d].shape == curves.shape and
                     np.array_equal(curves_of[d], curves, equal_nan=True)), None)
        if same is None:
            drawn.append(name)
            groups[name] = [name]
        else:
            groups[same].append(name)
    for name in drawn:
        curves = curves_of[name]
        with np.errstate(all="ignore"):
            valid = np.isfinite(curves).sum(axis=0) > 0
            mean = np.nanmean(np.where(np.isfinite(curves), curves, np.nan), axis=0, where=np.isfinite(curves))
            std = np.nanstd(curves, axis=0)
        colour, style = styles[name]
        label = " = ".join(groups[name]) + (" (identical)" if len(groups[name]) > 1 else "")
        ax.plot(grid[valid], mean[valid], label=f"{label} (n={len(histories[name])})", lw=1.6, color=colour,
                ls=style)
        ax.fill_between(grid[valid], (mean - std)[valid], (mean + std)[valid], color=colour, alpha=0.12)
    for t in targets:
        ax.axhline(t, color="0.5", lw=0.8, ls="--")
    ax.set_xlabel("labels queried (seed set included)")
    ax.set_ylabel(f"test {key}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def plot_decision_boundary(predict_proba: Callable[[np.ndarray], np.ndarray], *, bounds: tuple[np.ndarray, np.ndarray],
                           x: np.ndarray | None = None, y: np.ndarray | None = None,
                           queried: np.ndarray | None = None, queried_y: np.ndarray | None = None,
                           resolution: int = 150, ax: Axes | None = None, title: str | None = None,
                           positive: int = -1, failure: int | None = None) -> Axes:
    """A 2-D learner's P(class `positive`, default the last) as a colour map, its 0.5 contour, data
    and queried points; with `failure` (the failure class's index, failures = "class") the region
    the learner predicts to fail is hatched.

    Args:
      predict_proba: [n, 2] -> [n, classes] mean probabilities.
      bounds: ([2] low, [2] high) of the plotted box.
      x, y: background data (drawn faint). queried, queried_y: the points the strategy asked for
        (numbered in order; y < 0 marks abstained/failed).
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 5))
    low, high = (np.asarray(b, dtype=np.float64) for b in bounds)
    g0, g1 = np.meshgrid(np.linspace(low[0], high[0], resolution), np.linspace(low[1], high[1], resolution))
    grid = np.stack([g0.ravel(), g1.ravel()], axis=1).astype(np.float32)
    probs = np.asarray(predict_proba(grid))
    p1 = probs[:, positive].reshape(g0.shape)
    ax.contourf(g0, g1, p1, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.35)
    ax.contour(g0, g1, p1, levels=[0.5], colors="k", linewidths=1.2)
    if failure is not None:
        _hatch_failure(ax, g0, g1, probs, failure)
    if x is not None:
        ax.scatter(x[:, 0], x[:, 1], c=y, cmap="RdBu_r", s=6, alpha=0.25, linewidths=0)
    if queried is not None and len(queried):
        queried = np.asarray(queried)
        labeled = np.ones(len(queried), bool) if queried_y is None else np.asarray(queried_y) >= 0
        if failure is not None and queried_y is not None:  # failed calls, learned as the failure class
            failed = np.asarray(queried_y) == failure
            if failed.any():
                ax.scatter(queried[failed, 0], queried[failed, 1], marker="s", c="0.25", s=26, edgecolors="k",
                           linewidths=0.6, zorder=3, label=f"{int(failed.sum())} failed (the failure class)")
            labeled &= ~failed
        unlabeled = np.zeros(len(queried), bool) if queried_y is None else np.asarray(queried_y) < 0
        colors = "k" if queried_y is None else np.asarray(queried_y)[labeled]
        ax.scatter(queried[labeled, 0], queried[labeled, 1], c=colors, cmap="RdBu_r", vmin=0, vmax=1, s=30,
                   edgecolors="k", linewidths=0.8, zorder=3, label=f"{int(labeled.sum())} queried, labeled")
        if unlabeled.any():
            ax.scatter(queried[unlabeled, 0], queried[unlabeled, 1], marker="x", c="0.3", s=30, zorder=3,
                       label=f"{int(unlabeled.sum())} abstained or failed")
        ax.legend(fontsize=8, loc="upper right")
    ax.set_xlim(low[0], high[0])
    ax.set_ylim(low[1], high[1])
    ax.set_xlabel("x₀")
    ax.set_ylabel("x₁")
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def plot_success_region(predict_proba: Callable[[np.ndarray], np.ndarray],
                        reference: Callable[[np.ndarray], np.ndarray], *, low: np.ndarray, high: np.ndarray,
                        names: tuple[str, str] = ("p₀", "p₁"), queried: np.ndarray | None = None,
                        queried_y: np.ndarray | None = None, resolution: int = 150, ax: Axes | None = None,
                        title: str | None = None, positive: int = -1, failure: int | None = None) -> Axes:
    """A simulator's true success region against the learned one, in physical units (with
    `failure`, the failure class's index, the region the learner predicts to fail is hatched).

    The learner and the reference work on the unit square (normalized parameters); the
    axes show `low + u (high - low)`.

    Args:
      predict_proba: [n, 2] unit-square points -> [n, 2] probabilities (column 1: success).
      reference: [n, 2] unit-square points -> [n] true labels (1: success).
      low, high: [2] physical bounds. names: axis labels.
      queried: [m, 2] queried unit-square points; queried_y: [m] class index (1 success,
        0 failure, < 0 abstained or failed).
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5))
    low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    u = (np.arange(resolution) + 0.5) / resolution
    g0, g1 = np.meshgrid(u, u)
    grid = np.stack([g0.ravel(), g1.ravel()], axis=1)
    probs = np.asarray(predict_proba(grid.astype(np.float32)))
    p1 = probs[:, positive].reshape(g0.shape)
    truth = np.asarray(reference(grid)).reshape(g0.shape).astype(float)
    x0, x1 = low[0] + g0 * (high[0] - low[0]), low[1] + g1 * (high[1] - low[1])
    ax.contourf(x0, x1, p1, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.35)
    ax.contour(x0, x1, p1, levels=[0.5], colors="k", linewidths=1.3)
    ax.contour(x0, x1, truth, levels=[0.5], colors="tab:green", linewidths=2.0, linestyles="--")
    handles = [plt.Line2D([], [], color="tab:green", ls="--", lw=2, label="true boundary"),
               plt.Line2D([], [], color="k", lw=1.3, label="learned boundary (p = 0.5)")]
    if failure is not None:
        _hatch_failure(ax, x0, x1, probs, failure)
        handles.append(plt.Rectangle((0, 0), 1, 1, fill=False, hatch="///", edgecolor="0.25",
                                     label="predicted to fail"))
    if queried is not None and len(queried):
        q = low + np.asarray(queried, dtype=np.float64) * (high - low)
        qy = np.zeros(len(q), int) if queried_y is None else np.asarray(queried_y)
        kinds = [(1, dict(c="tab:red", marker="o"), "queried: success"),
                 (0, dict(c="white", marker="o"), "queried: failure"),
                 (-1, dict(c="tab:gray", marker="x"), "queried: no label")]
        if failure is not None:
            kinds.append((failure, dict(c="0.25", marker="s"), "queried: the call failed"))
        for value, style, label in kinds:
            sel = (qy == value) if value >= 0 else (qy < 0)
            if sel.any():
                ax.scatter(q[sel, 0], q[sel, 1], s=28, edgecolors="k", linewidths=0.7, zorder=3, **style)
                handles.append(plt.Line2D([], [], ls="", markeredgecolor="k", markerfacecolor=style["c"],
                                          color=style["c"], marker=style["marker"], label=f"{label} ({sel.sum()})"))
    ax.legend(handles=handles, fontsize=7, loc="upper right", framealpha=0.85)
    ax.set_xlim(low[0], high[0])
    ax.set_ylim(low[1], high[1])
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def _hatch_failure(ax: Axes, g0: np.ndarray, g1: np.ndarray, probs: np.ndarray, failure: int) -> None:
    """Hatch where the failure class is the most probable (and outline it)."""
    fails = (probs.argmax(axis=1) == failure).reshape(g0.shape).astype(float)
    if fails.any():
        ax.contourf(g0, g1, fails, levels=[0.5, 1.5], colors="none", hatches=["///"])
        ax.contour(g0, g1, fails, levels=[0.5], colors="0.25", linewidths=1.0)


def save(ax: Axes, path: str) -> None:
    """Save the axes' figure as PNG (cropped to what is drawn, outside legends included) and close it."""
    fig = ax.figure
    with warnings.catch_warnings():  # (a layout matplotlib cannot tighten is still saved whole, below)
        warnings.simplefilter("ignore", UserWarning)
        fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def as_images(x: np.ndarray, feature_shape: tuple[int, ...]) -> np.ndarray | None:
    """`[n, H, W]` grayscale images for image-like features (`[H, W, 1]`, or a square number such
    as 64 or 784 of flat pixels); None when the features are not images."""
    x = np.asarray(x)
    if len(feature_shape) == 3 and feature_shape[-1] == 1:
        return x.reshape(len(x), *feature_shape[:2])
    if len(feature_shape) == 2:
        return x.reshape(len(x), *feature_shape)
    d = int(np.prod(feature_shape))
    side = int(round(d ** 0.5))
    if len(feature_shape) == 1 and side * side == d and d >= 16:
        return x.reshape(len(x), side, side)
    return None


def plot_image_grid(images: np.ndarray, titles: Sequence[str] | None = None, *, ncols: int = 8,
                    title: str | None = None, marked: Sequence[bool] | None = None) -> Axes:
    """Images `[n, H, W]` in a grid, each with an optional caption (acquisition value, answer);
    `marked` images (the queries the oracle did not answer) get a red frame.

    Returns the first axes (its figure holds the grid).
    """
    n = len(images)
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.25 * ncols, 1.4 * nrows + (0.3 if title else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if i < n:
            ax.imshow(images[i], cmap="gray_r", interpolation="nearest")
            if titles is not None:
                ax.set_title(titles[i], fontsize=6.5, color="#b00020" if marked is not None and marked[i] else "k")
            if marked is not None and marked[i]:
                ax.set_axis_on()
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_edgecolor("#b00020")
                    spine.set_linewidth(2.0)
    if title:
        fig.suptitle(title, fontsize=9)
    return axes[0, 0]


def plot_ascent_paths(ax: Axes, paths: np.ndarray) -> Axes:
    """Draw ascent paths `[n, steps + 1, 2]` (input space) onto a 2-D plot: start ○, end at the query."""
    for path in np.asarray(paths):
        ax.plot(path[:, 0], path[:, 1], color="k", lw=0.6, alpha=0.6, zorder=2)
        ax.scatter(path[:1, 0], path[:1, 1], s=10, facecolors="none", edgecolors="k", linewidths=0.6, zorder=2)
    return ax


def plot_latent_space(z: np.ndarray, y: np.ndarray | None = None, *, queried: np.ndarray | None = None,
                      ax: Axes | None = None, title: str | None = None) -> Axes:
    """A 2-D latent space: encodings `z [n, 2]` of the data (coloured by `y`) and queried codes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(z[:, 0], z[:, 1], c=y, cmap="RdBu_r", s=6, alpha=0.35, linewidths=0)
    if queried is not None and len(queried):
        ax.scatter(queried[:, 0], queried[:, 1], marker="x", c="k", s=25, label=f"{len(queried)} queried codes")
        ax.legend(fontsize=8)
    t = np.linspace(0, 2 * np.pi, 200)
    for r in (1, 2):
        ax.plot(r * np.cos(t), r * np.sin(t), color="0.6", lw=0.6, ls="--")  # prior's 1σ and 2σ circles
    ax.set_xlabel("z₀")
    ax.set_ylabel("z₁")
    ax.set_aspect("equal")
    if title:
        ax.set_title(title, fontsize=10)
    return ax
