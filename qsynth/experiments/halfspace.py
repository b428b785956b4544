"""Halfspace label complexity: the information-theoretic lower bound and the exact test error.

For a homogeneous halfspace `y = [w*·x > 0]` with x ~ N(0, I_d) (any rotation-invariant
input distribution), a classifier ŵ errs with probability angle(ŵ, w*)/π. A learner that
must reach error ε for every w* has to single out a cap of angular radius πε on the
sphere, so it needs at least

    LB(d, ε) = log2( ∫₀^π sin^(d−2)t dt / ∫₀^(πε) sin^(d−2)t dt )

binary labels (each label is one bit).

References:
  Angluin (1988). Queries and Concept Learning.
  Alabdulmohsin, Gao & Zhang (2015). Efficient Active Learning of Halfspaces via Query Synthesis.
  Hopkins, Kane, Lovett & Mahajan (2020). Noise-Tolerant, Reliable Active Classification with
    Comparison Queries.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["angle_error", "lower_bound"]


def lower_bound(d: int, eps: float) -> float:
    """LB(d, ε) in labels: log2 of the sphere's measure over an ε-cap's measure (d ≥ 2, 0 < ε < 1)."""
    if d < 2 or not 0.0 < eps < 1.0:
        raise ValueError(f"lower_bound needs d >= 2 and 0 < eps < 1, got d={d}, eps={eps}")

    def integral(upper: float) -> float:
        t = np.linspace(0.0, upper, 200_001)
        return float(np.trapezoid(np.sin(t) ** (d - 2), t))

    return math.log2(integral(math.pi) / integral(math.pi * eps))


def angle_error(w_hat: np.ndarray, w_star: np.ndarray) -> float:
    """The exact test error angle(ŵ, w*)/π of a homogeneous halfspace under rotation-invariant inputs."""
    w_hat, w_star = np.asarray(w_hat, np.float64), np.asarray(w_star, np.float64)
    cos = float(np.clip(w_hat @ w_star / np.linalg.norm(w_hat) / np.linalg.norm(w_star), -1.0, 1.0))
    return math.acos(cos) / math.pi
