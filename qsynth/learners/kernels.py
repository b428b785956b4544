"""Covariance functions for the exact GP learner (`qsynth.learners.gaussian_process`).

* "matern52", "rbf": stationary, unit prior variance (correlations), with a lengthscale:
  one (isotropic) or one per input dimension (automatic relevance determination, ARD).
* "nngp": the covariance of an infinitely wide ReLU network with `depth` hidden layers
  (the neural-network Gaussian process). The input layer has weight variance 1/d and each
  ReLU layer weight variance 2 (He scaling), no biases, so
    k₀(x, z) = x·z / d,
    k_{l+1}(x, z) = √(k_l(x,x) k_l(z,z)) · (sin θ_l + (π − θ_l) cos θ_l) / π,
    cos θ_l = k_l(x, z) / √(k_l(x,x) k_l(z,z)),
  and the prior variance stays ‖x‖²/d at every depth (about 1 on standardized inputs). No
  lengthscale: the kernel is homogeneous of degree 2 in the inputs. For images and other
  high-dimensional inputs it is the GP a network of the `mlp` kind becomes as it widens.

References:
  Rasmussen & Williams (2006). Gaussian Processes for Machine Learning, §4.2.
  Cho & Saul (2009). Kernel Methods for Deep Learning. (the arc-cosine kernel, degree 1)
  Lee, Bahri, Novak, Schoenholz, Pennington & Sohl-Dickstein (2018). Deep Neural Networks as
    Gaussian Processes.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
from jax import Array

from qsynth.learners.gp_config import KERNELS  # (the names live with the settings)

__all__ = ["KERNELS", "arccos", "covariance", "prior_variance"]

# cos θ is kept this far inside ±1: arccos and √(1 − c²) have infinite slopes at ±1, and a
# point that equals a training point (c = 1) must still give finite input gradients.
_COS_LIMIT = 1.0 - 1e-6
_TINY = 1e-12
# Abramowitz & Stegun 4.4.46: arccos x = √(1 − x) Σ aₖ xᵏ on [0, 1], |error| ≤ 2e-8
_ARCCOS_COEFFICIENTS = (1.5707963050, -0.2145988016, 0.0889789874, -0.0501743046, 0.0308918810, -0.0170881256,
                        0.0066700901, -0.0012624911)


def covariance(kind: str, a: Array, b: Array, lengthscale: Array, depth: int) -> Array:
    """Prior covariances `[n, m]` between rows of `a: [n, d]` and `b: [m, d]` (`lengthscale`, a
    scalar or `[d]`, is used by the stationary kernels only, `depth` by "nngp" only)."""
    if kind == "nngp":
        return _nngp(a, b, depth)
    if jnp.ndim(lengthscale) == 0:
        sq = jnp.sum((a[:, None, :] - b[None, :, :]) ** 2, axis=-1) / (lengthscale * lengthscale)
    else:  # one lengthscale per input dimension (ARD)
        a, b = a / lengthscale[None, :], b / lengthscale[None, :]
        sq = jnp.sum((a[:, None, :] - b[None, :, :]) ** 2, axis=-1)
    if kind == "rbf":
        return jnp.exp(-0.5 * sq)
    r = jnp.sqrt(5.0 * sq + _TINY)  # safe at zero distance (the gradient of sqrt is not)
    return (1.0 + r + r * r / 3.0) * jnp.exp(-r)


def prior_variance(kind: str, x: Array) -> Array:
    """k(x, x) `[n]` for rows of `x: [n, d]` (1 for the stationary kernels)."""
    if kind == "nngp":
        return jnp.sum(x * x, axis=-1) / x.shape[-1]
    return jnp.ones(x.shape[:1], x.dtype)


def arccos(x: Array) -> Array:
    """arccos on [−1, 1] to float32 precision, a polynomial (XLA's CPU `acos` goes through
    `atan2` and took half the NNGP kernel's time: 8 ms for 512 × 1,024 entries)."""
    y = jnp.abs(x)
    poly = _ARCCOS_COEFFICIENTS[-1]
    for coefficient in reversed(_ARCCOS_COEFFICIENTS[:-1]):
        poly = poly * y + coefficient
    angle = jnp.sqrt(jnp.maximum(1.0 - y, 0.0)) * poly
    return jnp.where(x < 0, math.pi - angle, angle)


def _nngp(a: Array, b: Array, depth: int) -> Array:
    d = a.shape[-1]
    k = a @ b.T / d
    norms = jnp.sqrt(jnp.outer(jnp.sum(a * a, -1), jnp.sum(b * b, -1)) / (d * d) + _TINY)
    # with He scaling the diagonal k_l(x, x) is the same at every depth, so `norms` is too
    for _ in range(depth):
        cos = jnp.clip(k / norms, -_COS_LIMIT, _COS_LIMIT)
        theta = arccos(cos)
        k = norms * (jnp.sqrt(1.0 - cos * cos) + (math.pi - theta) * cos) / math.pi
    return k
