"""Gal, Islam & Ghahramani (2017)'s acquisition comparison on MNIST-1D, measured as the issue
asks: labels needed to reach 90% of the same learner's full-data accuracy (issue 6, item 2).

1. The learner of `experiments/gal2017_mnist1d.toml` is trained from scratch on the whole
   4,000-sequence pool (`--full-steps` minibatch steps), once per seed: its full-data test
   accuracy.
2. The target is 90% of the mean of those; the config runs with that target, each arm
   stopping when it reaches it (or at 1,000 labels).

    python experiments/gal2017_mnist1d.py [--out runs] [--seeds 0 1 2 3 4]   (about 15 min)

Writes `benchmarks/results/gal2017_mnist1d.json` and prints the table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import jax
import numpy as np

from qsynth.config import load_config
from qsynth.data.buffer import LabeledBuffer
from qsynth.experiments.runner import build_dataset, run_experiment

ROOT = Path(__file__).resolve().parents[1]


def full_data_accuracy(config, seed: int, steps: int) -> float:
    """Test accuracy of the config's learner trained from scratch on the whole pool."""
    data = build_dataset(config, seed)
    learner = dataclasses.replace(config.learner, steps=steps).build(data.feature_shape, data.num_classes)
    buffer = LabeledBuffer.empty(data.feature_shape)
    buffer.add(data.x, np.asarray([data.classes.index(c) for c in data.y]), 0)
    state = learner.fit(jax.random.key(seed), None, buffer)
    predicted = learner.predict_proba(state.params, data.x_test).argmax(1)
    return float(np.mean(np.asarray(data.classes)[predicted] == data.y_test))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs")
    ap.add_argument("--seeds", type=int, nargs="+")
    ap.add_argument("--full-steps", type=int, default=3000)
    ap.add_argument("--fraction", type=float, default=0.9)
    args = ap.parse_args()
    config = load_config(ROOT / "experiments" / "gal2017_mnist1d.toml")
    if args.seeds:
        config = dataclasses.replace(config, seeds=tuple(args.seeds))
    t0 = time.perf_counter()
    full = [full_data_accuracy(config, s, args.full_steps) for s in config.seeds]
    target = float(np.floor(args.fraction * np.mean(full) * 1000) / 1000)
    print(f"full-data accuracy {np.mean(full):.4f} ± {np.std(full):.4f} over seeds {list(config.seeds)}; "
          f"target {target:.3f} ({time.perf_counter() - t0:.0f} s)")
    loop = dataclasses.replace(config.loop, target_accuracy=target, stop_at_target=True)
    config = dataclasses.replace(config, targets=(target,), loop=loop)
    run = run_experiment(config, args.out, overwrite=True)
    out = {"full_data_accuracy": full, "target": target, "fraction": args.fraction, "seeds": list(config.seeds),
           "seconds": time.perf_counter() - t0, "strategies": run.summary}
    path = ROOT / "benchmarks" / "results" / "gal2017_mnist1d.json"
    path.write_text(json.dumps(out, indent=1))
    print(f"wrote {path.relative_to(ROOT)} ({out['seconds'] / 60:.0f} min)")


if __name__ == "__main__":
    main()
