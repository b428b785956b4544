"""Synthesis throughput: 1,024 latent starts × 100 ascent steps on the digits VAE, 5-member ensemble.

One jitted program (`qsynth.strategies.ascent`): decode → ensemble probabilities →
acquisition → gradient w.r.t. z → Adam, scanned over the steps. Reports compilation time
separately, then the median of repeated runs, as start-steps per second and as achieved
GFLOP/s, with the FLOP count taken from XLA's own cost analysis of the compiled program
(forward and backward passes; see `program_flops` for how the scanned steps are counted).

    python benchmarks/synthesis_throughput.py [--starts 1024 --steps 100 --repeats 5]

Target (issue 3): the whole batch in at most 2 s after compilation on 2 CPU cores.
Prints a JSON line and writes `benchmarks/results/synthesis_throughput.json`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import time
from pathlib import Path

import jax
import numpy as np

from qsynth.data import LabeledBuffer, digits
from qsynth.generators import GeneratorConfig, fit_generator
from qsynth.learners import LearnerConfig
from qsynth.strategies import ascent
from qsynth.strategies.ascent import AscentSpec

ROOT = Path(__file__).resolve().parents[1]


def _cost(spec: AscentSpec, params, gen_params, z0: np.ndarray) -> float:
    low = high = jax.numpy.zeros((z0.shape[1],), jax.numpy.float32)
    cost = ascent._ascend.lower(spec, params, gen_params, jax.numpy.asarray(z0), low, high).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return float(cost["flops"])


def program_flops(spec: AscentSpec, params, gen_params, z0: np.ndarray) -> float:
    """FLOPs of the whole ascent, from XLA's cost analysis.

    XLA counts a loop body once, so: (program with 1 step − program with 0 steps) is one
    step's cost, and the total is the 0-step cost (the acquisitions before and after) plus
    `steps` times that.
    """
    base = _cost(dataclasses.replace(spec, steps=0), params, gen_params, z0)
    one = _cost(dataclasses.replace(spec, steps=1), params, gen_params, z0)
    return base + spec.steps * (one - base)


def measure(spec: AscentSpec, params, gen_params, z0: np.ndarray, repeats: int) -> dict:
    t0 = time.perf_counter()
    jax.block_until_ready(ascent.ascend(spec, params, gen_params, z0).z)
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(ascent.ascend(spec, params, gen_params, z0).z)
        times.append(time.perf_counter() - t0)
    flops = program_flops(spec, params, gen_params, z0)
    median = float(np.median(times))
    return {"compile_and_first_s": first, "median_s": median, "min_s": float(np.min(times)),
            "start_steps_per_s": z0.shape[0] * spec.steps / median, "flops": flops, "gflops_per_s": flops / median / 1e9}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--starts", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "synthesis_throughput.json"))
    args = ap.parse_args()
    data = digits(0, standardize_features=False)
    y = np.searchsorted(data.classes, data.y[:100])

    def fitted_learner(shape: tuple[int, ...]):  # the 5 × 128 MLP ensemble on 100 labels (it flattens images)
        learner = LearnerConfig(model="mlp", hidden=(128,), members=5, steps=200, batch_size=64).build(shape, 10)
        buf = LabeledBuffer.empty(shape)
        buf.add(data.x[:100].reshape(-1, *shape), y, 0)
        return learner, learner.fit(jax.random.key(0), None, buf).params

    rows = {}
    for name, cfg in [("mlp-vae latent 8 (256-128)", GeneratorConfig(latent=8, hidden=(256, 128), steps=500)),
                      ("conv-vae latent 8", GeneratorConfig(model="conv", latent=8, hidden=(128,), steps=200))]:
        shape = (8, 8, 1) if cfg.model == "conv" else (64,)
        gen = fit_generator(jax.random.key(0), cfg, data.x.reshape(-1, *shape))
        lrn, p = fitted_learner(shape)
        for measure_name in ("entropy", "bald"):
            spec = AscentSpec(lrn, gen, measure_name, args.steps, 0.05, realism=0.1)
            z0 = np.asarray(gen.generator.prior(jax.random.key(1), args.starts))
            row = measure(spec, p, gen.params, z0, args.repeats)
            rows[f"{name}, {measure_name}"] = row
            print(f"{name:28s} {measure_name:8s}: {args.starts} starts × {args.steps} steps in {row['median_s']:.3f} s "
                  f"(median of {args.repeats}; compile+first {row['compile_and_first_s']:.1f} s) = "
                  f"{row['start_steps_per_s']:,.0f} start-steps/s, {row['gflops_per_s']:.1f} GFLOP/s "
                  f"({row['flops'] / 1e9:.1f} GFLOP per batch)")
    result = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "jax": jax.__version__},
              "starts": args.starts, "steps": args.steps, "rows": rows}
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps({"synthesis_throughput": {k: round(v["median_s"], 3) for k, v in rows.items()}}))


if __name__ == "__main__":
    main()
