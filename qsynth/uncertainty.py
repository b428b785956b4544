"""Uncertainty measures: pure `jnp` functions of member probabilities.

Every measure takes `probs: [members, n, classes]` (one softmax per committee member:
ensemble member, or MC-dropout sample; a single model is `members = 1`) and returns
`[n]` scores where **higher means more uncertain** — so every strategy maximizes.

No state, no I/O. The `MEASURES` registry records which measures are differentiable
(usable by gradient-based query synthesis) and their upper bound.

References:
  Settles, B. (2009). Active Learning Literature Survey. (entropy, margin, least confidence)
  Freeman, L. (1965). Elementary Applied Statistics. (variation ratio)
  Kampffmeyer et al. (2016). Semantic segmentation ... uncertainty. (mean standard deviation)
  Dagan & Engelson (1995); McCallum & Nigam (1998). (vote entropy, KL to consensus)
  Houlsby, Huszár, Ghahramani & Lengyel (2011). Bayesian Active Learning by Disagreement.
  Bryan et al. (2005). Active Learning for Identifying Function Threshold Boundaries. (straddle)
  Gotovos, Casati, Hitz & Krause (2013). Active Learning for Level Set Estimation.
  Bickford Smith, Kirsch, Farquhar, Gal, Foster & Rainforth (2023). Prediction-Oriented Bayesian
    Active Learning. (EPIG)

Two acquisitions here are not functions of one point's class probabilities. `straddle`
reads a regression posterior (mean and standard deviation of a latent function) and the
levels the boundary lies on; strategies reach it by the measure name "straddle" with a
learner that has `latent` (the Gaussian process). `epig` reads the members' probabilities at
the candidates and at target inputs; strategies reach it by the measure name "epig", and
supply the targets (`qsynth.strategies.scoring.with_targets`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from qsynth._lazy import lazy

if TYPE_CHECKING:
    from jax import Array

jax = lazy("jax")
jnp = lazy("jax.numpy")  # (JAX starts when a measure is first computed, not when names are checked)

__all__ = [
    "MEASURES",
    "Measure",
    "bald",
    "entropy",
    "epig",
    "get_measure",
    "kl_to_consensus",
    "least_confidence",
    "margin",
    "mean_std",
    "smooth_margin",
    "straddle",
    "variation_ratio",
    "vote_entropy",
]

_TINY = 1e-12


def _xlogx(p: Array) -> Array:
    """p·log p with 0·log 0 = 0 and a finite gradient at 0."""
    safe = jnp.where(p > 0, p, 1.0)
    return jnp.where(p > 0, p * jnp.log(safe), 0.0)


def _mean_probs(probs: Array) -> Array:
    return jnp.mean(probs, axis=0)


def entropy(probs: Array) -> Array:
    """Predictive entropy of the committee mean, in nats: `[m, n, c] -> [n]`, in [0, log c]."""
    return -jnp.sum(_xlogx(_mean_probs(probs)), axis=-1)


def least_confidence(probs: Array) -> Array:
    """`1 - max_c p̄(c)`: `[m, n, c] -> [n]`, in [0, 1 - 1/c]."""
    return 1.0 - jnp.max(_mean_probs(probs), axis=-1)


def margin(probs: Array) -> Array:
    """`1 - (p̄(1) - p̄(2))`, one minus the gap between the two most likely classes: `[n]` in [0, 1].

    Differentiable almost everywhere (the gradient reaches only the top two classes); use
    `smooth_margin` for gradient ascent.
    """
    top2 = jax.lax.top_k(_mean_probs(probs), 2)[0]
    return 1.0 - (top2[..., 0] - top2[..., 1])


def smooth_margin(probs: Array, temperature: float = 0.05) -> Array:
    """A smooth `margin` for gradients: soft maxima instead of the top two, `[m, n, c] -> [n]`.

    With `τ = temperature`, the first maximum is `t1 = τ·LSE_j(p_j/τ)` and the sum of the top
    two is `t12 = τ·LSE_{i≠j}((p_i + p_j)/τ)`, so the second is `t12 − t1` and the gap is
    `2·t1 − t12`. Every class gets gradient, ties included; as `τ → 0` it tends to `margin`.
    Clipped to [0, 1].
    """
    p = _mean_probs(probs)
    t = temperature
    c = p.shape[-1]
    first = t * jax.nn.logsumexp(p / t, axis=-1)
    pair = (p[..., :, None] + p[..., None, :]) / t
    pair = jnp.where(jnp.eye(c, dtype=bool), -jnp.inf, pair)
    top_two = t * jax.nn.logsumexp(pair.reshape(*pair.shape[:-2], c * c), axis=-1)
    return jnp.clip(1.0 - (2.0 * first - top_two), 0.0, 1.0)


def variation_ratio(probs: Array) -> Array:
    """`1 - (votes for the modal class) / members`, from each member's argmax: `[n]` in [0, 1 - 1/c].

    With one member it falls back to least confidence of that member (Gal et al. 2017 compute
    it from MC-dropout samples; with a single deterministic net the vote is degenerate).
    """
    m, _, c = probs.shape
    if m == 1:
        return least_confidence(probs)
    votes = jax.nn.one_hot(jnp.argmax(probs, axis=-1), c, dtype=probs.dtype)  # [m, n, c]
    return 1.0 - jnp.max(jnp.sum(votes, axis=0), axis=-1) / m


def mean_std(probs: Array) -> Array:
    """Mean over classes of the standard deviation over members: `[n]` in [0, 0.5]."""
    return jnp.mean(jnp.std(probs, axis=0), axis=-1)


def vote_entropy(probs: Array) -> Array:
    """Entropy of the members' hard votes (query-by-committee): `[n]` in [0, log min(m, c)]."""
    _, _, c = probs.shape
    votes = jnp.mean(jax.nn.one_hot(jnp.argmax(probs, axis=-1), c, dtype=probs.dtype), axis=0)
    return -jnp.sum(_xlogx(votes), axis=-1)


def soft_vote_entropy(probs: Array) -> Array:
    """Vote entropy with soft votes, i.e. the entropy of the committee mean (differentiable)."""
    return entropy(probs)


def kl_to_consensus(probs: Array) -> Array:
    """Mean over members of KL(p_m ‖ p̄): `[n]`, ≥ 0 (query-by-committee, McCallum & Nigam 1998)."""
    mean = _mean_probs(probs)
    log_ratio = jnp.log(jnp.clip(probs, _TINY, 1.0)) - jnp.log(jnp.clip(mean, _TINY, 1.0))[None]
    return jnp.mean(jnp.sum(jnp.where(probs > 0, probs * log_ratio, 0.0), axis=-1), axis=0)


def bald(probs: Array) -> Array:
    """BALD, the mutual information between label and parameters: `H[p̄] - mean_m H[p_m]`.

    `[m, n, c] -> [n]`, in [0, log c]; zero for a single member.
    """
    mean_member_entropy = jnp.mean(-jnp.sum(_xlogx(probs), axis=-1), axis=0)
    return jnp.maximum(entropy(probs) - mean_member_entropy, 0.0)


def epig(probs: Array, target_probs: Array) -> Array:
    """EPIG, the expected information an answer at x gives about the label at a target input:
    `mean_j I(y; y*_j | x, x*_j)` `[n]`, in [0, log c].

    The members are samples of the parameters: the joint predictive of (y, y*_j) is
    `p(y, y*) = mean_m p_m(y | x) p_m(y* | x*_j)`, and I is its mutual information,
    `Σ p(y, y*) log p(y, y*) / (p(y) p(y*))`. Unlike BALD it counts only information about
    predictions where they matter (the targets: a pool, test inputs, the box), so it is low at
    inputs whose uncertainty no target shares. Zero for a single member.

    Args:
      probs: `[m, n, c]` at the candidates. target_probs: `[m, k, c]` at the k targets, of the
        same m members.
    """
    members = probs.shape[0]
    joint = jnp.einsum("mnc,mkd->nkcd", probs, target_probs) / members  # [n, k, c, c]
    independent = _mean_probs(probs)[:, None, :, None] * _mean_probs(target_probs)[None, :, None, :]
    safe = jnp.where(independent > 0, independent, 1.0)
    information = jnp.sum(_xlogx(joint) - jnp.where(joint > 0, joint * jnp.log(safe), 0.0), axis=(2, 3))
    return jnp.mean(jnp.maximum(information, 0.0), axis=1)


def straddle(mean: Array, std: Array, levels: tuple[float, ...], beta: float = 1.96) -> Array:
    """`beta · std − min_h |mean − h|` `[n]`: high where the confidence interval straddles a level.

    Bryan et al.'s straddle rule; for one level it is Gotovos et al.'s LSE ambiguity
    min(u − h, h − l) of the interval [l, u] = mean ± beta · std. With several levels (a
    band low ≤ f ≤ high has two) the nearest level counts.

    Args:
      mean, std: [n] the posterior of the latent function. levels: one or more thresholds.
    """
    if not levels:
        raise ValueError("straddle needs at least one level")
    dist = jnp.min(jnp.abs(mean[:, None] - jnp.asarray(levels, mean.dtype)[None, :]), axis=1)
    return beta * std - dist


@dataclasses.dataclass(frozen=True)
class Measure:
    """A named uncertainty measure.

    Attributes:
      name: registry name.
      fn: `probs [m, n, c] -> [n]`, higher is more uncertain.
      differentiable: whether gradient ascent on it is meaningful (no argmax votes).
      upper_bound: `(members, classes) -> float`, the largest value it can take.
    """

    name: str
    fn: Callable[[Array], Array]
    differentiable: bool
    upper_bound: Callable[[int, int], float]

    def __call__(self, probs: Array) -> Array:
        return self.fn(probs)


MEASURES: dict[str, Measure] = {
    m.name: m
    for m in [
        Measure("entropy", entropy, True, lambda m, c: math.log(c)),
        Measure("margin", margin, True, lambda m, c: 1.0),
        Measure("smooth_margin", smooth_margin, True, lambda m, c: 1.0),
        Measure("least_confidence", least_confidence, True, lambda m, c: 1.0 - 1.0 / c),
        Measure("variation_ratio", variation_ratio, False, lambda m, c: 1.0 - 1.0 / c),
        Measure("mean_std", mean_std, True, lambda m, c: 0.5),
        Measure("vote_entropy", vote_entropy, False, lambda m, c: math.log(min(m, c))),
        Measure("soft_vote_entropy", soft_vote_entropy, True, lambda m, c: math.log(c)),
        Measure("kl_to_consensus", kl_to_consensus, True, lambda m, c: math.log(m)),
        Measure("bald", bald, True, lambda m, c: math.log(c)),
    ]
}


def get_measure(name: str, *, differentiable: bool = False) -> Measure:
    """Look up a measure by name.

    Raises:
      ValueError: the name is unknown, or `differentiable=True` and the measure is not.
    """
    if name not in MEASURES:
        raise ValueError(f"unknown uncertainty measure {name!r}; choose one of {sorted(MEASURES)}")
    measure = MEASURES[name]
    if differentiable and not measure.differentiable:
        usable = sorted(k for k, v in MEASURES.items() if v.differentiable)
        raise ValueError(f"uncertainty measure {name!r} is not differentiable (it counts hard votes); "
                         f"gradient-based synthesis needs one of {usable}")
    return measure
