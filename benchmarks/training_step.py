"""Where a warm round's training time goes: dropout masks (JAX's rolled Threefry vs qsynth's
unrolled one) and ensemble members on one thread vs in windows on several.

Both comparisons are A/B runs interleaved in one process (this shared machine's speed drifts
between processes), medians of many repetitions, compilation excluded.

    python benchmarks/training_step.py

Prints a table and writes benchmarks/results/training_step.json.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from digits_protocol import LEARNER  # noqa: E402

from qsynth import _random as fast_random  # noqa: E402
from qsynth.data import digits  # noqa: E402
from qsynth.data.buffer import LabeledBuffer  # noqa: E402


def interleaved(variants: dict, repeats: int) -> dict[str, float]:
    """Median seconds per call of each variant, the variants called in turn."""
    for f in variants.values():
        f()  # compile
    times = {name: [] for name in variants}
    for _ in range(repeats):
        for name, f in variants.items():
            t0 = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t0)
    return {name: float(np.median(t)) for name, t in times.items()}


def mask_generation(steps: int = 20, shape: tuple[int, ...] = (5, 64, 128)) -> dict[str, float]:
    """Seconds per step to draw a dropout mask of `shape` (5 members × batch 64 × 128 units)."""
    def loop(bernoulli):
        def body(i, total):
            return total + jnp.sum(bernoulli(jax.random.fold_in(key, i), 0.6, shape).astype(jnp.int32))
        return jax.jit(lambda: jax.lax.fori_loop(0, steps, body, 0))
    key = jax.random.key(0)
    programs = {"jax.random.bernoulli": loop(jax.random.bernoulli), "qsynth._random.bernoulli": loop(fast_random.bernoulli)}
    same = int(programs["jax.random.bernoulli"]()) == int(programs["qsynth._random.bernoulli"]())
    out = interleaved({n: (lambda p=p: jax.block_until_ready(p())) for n, p in programs.items()}, 30)
    return {**{n: t / steps for n, t in out.items()}, "same_masks": same}


def threads(steps: int, repeats: int) -> dict[str, float]:
    """Seconds for `steps` warm steps of the digits ensemble on 1 thread vs on the usable cores."""
    data = digits(0)
    buffer = LabeledBuffer.empty((64,))
    buffer.add(data.x[:100], data.y[:100], 0)
    learner = LEARNER.build((64,), 10)
    state = learner.fit(jax.random.key(0), None, buffer)
    cores = len(os.sched_getaffinity(0))

    def run(count: int):
        def call():
            os.environ["QSYNTH_THREADS"] = os.environ["QSYNTH_WINDOWS"] = str(count)  # (one program, or a window per core)
            learner._train(state.params["net"], state.opt_state, buffer, jax.random.key(1), steps)
        return call
    out = interleaved({"1 thread": run(1), f"{cores} threads": run(cores)}, repeats)
    os.environ.pop("QSYNTH_THREADS")
    os.environ.pop("QSYNTH_WINDOWS")
    return out


def main() -> None:
    report = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
              "jax": jax.__version__, "masks_seconds_per_step": mask_generation(),
              "fit_20_steps": threads(20, 20), "fit_300_steps": threads(300, 6)}
    masks = report["masks_seconds_per_step"]
    print(f"dropout mask [5, 64, 128] per step: jax.random {masks['jax.random.bernoulli'] * 1e3:.3f} ms, "
          f"unrolled {masks['qsynth._random.bernoulli'] * 1e3:.3f} ms (same masks: {masks['same_masks']})")
    for name in ("fit_20_steps", "fit_300_steps"):
        row = report[name]
        one, many = row["1 thread"], [v for k, v in row.items() if k != "1 thread"][0]
        print(f"{name}: 1 thread {one * 1e3:.1f} ms, windows on all cores {many * 1e3:.1f} ms ({one / many:.2f}x)")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "training_step.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
