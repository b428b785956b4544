"""Which speed-ups apply: some of qsynth's are for XLA's CPU backend only.

On CPU (and only there) qsynth
* trains an ensemble's members in windows on separate threads (`qsynth._parallel`), since XLA
  runs a small training step on one core;
* trains a CNN in unrolled blocks of steps driven from Python (`NetworkLearner.fit`), since a
  convolution's gradient inside a `while` loop is about ten times slower on CPU;
* draws dropout masks and minibatches with the unrolled Threefry (`qsynth._random`), since CPU
  lowers JAX's own as a rolled loop (the bits are the same either way).
On a GPU or TPU the plain programs are used: one thread, one loop program, `jax.random`.
"""

from __future__ import annotations

import jax

__all__ = ["cpu_speedups"]


def cpu_speedups() -> bool:
    """Whether the CPU-only speed-ups apply (JAX's default backend is the CPU)."""
    return jax.default_backend() == "cpu"
