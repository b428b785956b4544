"""CNN training speed on CPU: the unrolled-block fit qsynth uses vs the same steps in one
`lax.fori_loop` program (what every other model uses).

XLA's CPU backend runs a convolution's gradient roughly ten times slower inside a loop
(while) than in straight-line code, so `Learner.fit` trains CNNs in blocks of
`CONV_BLOCK` unrolled steps driven from Python. Both paths compute the same steps (tested in
`tests/test_learners.py`); this prints milliseconds per optimizer step, compile excluded.

    python benchmarks/cnn_training.py [--steps 40]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from qsynth.data.buffer import LabeledBuffer
from qsynth.learners import LearnerConfig
from qsynth.learners import learner as module

CASES = {  # name: (feature shape, minibatch, dense width)
    "MNIST-1D sequences (40, 1), batch 64": ((40, 1), 64, 64),
    "8x8 digits images (8, 8, 1), batch 64": ((8, 8, 1), 64, 64),
    "MNIST images (28, 28, 1), batch 128": ((28, 28, 1), 128, 128),
}


def per_step(fn, steps: int) -> float:
    jax.block_until_ready(fn())  # compile
    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    return (time.perf_counter() - t0) / steps * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=40)
    args = ap.parse_args()
    print(f"{'case':<40}{'blocks (ms/step)':>18}{'fori_loop (ms/step)':>22}{'speed-up':>10}")
    for name, (shape, batch, width) in CASES.items():
        learner = LearnerConfig(model="cnn", hidden=(width,), posterior="mc_dropout", members=10, dropout=0.5,
                                steps=args.steps, batch_size=batch).build(shape, 10)
        buffer = LabeledBuffer.empty(shape)
        buffer.add(np.random.default_rng(0).normal(size=(200, *shape)), np.arange(200) % 10, 0)
        state = learner.init(jax.random.key(0))
        blocks = per_step(lambda: learner.fit(jax.random.key(1), None, buffer), args.steps)
        loop = per_step(lambda: module._fit(learner, state, buffer.x, buffer.y, buffer.mask, jax.random.key(1),
                                            jnp.int32(args.steps)), args.steps)
        print(f"{name:<40}{blocks:>18.1f}{loop:>22.1f}{loop / blocks:>9.1f}x", flush=True)


if __name__ == "__main__":
    main()
