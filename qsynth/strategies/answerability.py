"""Answerability: how likely the oracle is to answer a query, learned online from every answer.

A synthesized query the oracle cannot answer (a teacher's or a person's "can't tell", a
simulator that crashes) costs a query and teaches nothing. `AnswerLog` keeps where every
answered query was asked and whether it was answered; `fit_answerability` turns it into a
model of `P(answered | q)`; `weigh` turns an acquisition into expected information per
query *asked*.

The model is a Beta kernel model (a continuous correlated Beta process): with outcomes
o_i = 1 (answered) or 0 (abstained, or failed under `failures = "avoid"`) at points q_i,

    P(answered | q) = (a0 + Σ_i k(q, q_i) o_i) / (a0 + b0 + Σ_i k(q, q_i)),
    k(q, q_i) = exp(−‖q − q_i‖² / (2ℓ²)),

the posterior mean of a Beta(a0, b0) prior updated by kernel-weighted pseudo-counts. It is
distance-aware by construction: far from every asked query it returns the prior mean
a0 / (a0 + b0) — 1 with an optimistic prior (b0 = 0: a region nobody has asked about is
presumed answerable, so the search still goes there), the run's answered rate with an
empirical one — and near several refusals it falls towards 0 (with a0 = 1, b0 = 0, four
refusals at one spot and nothing else: 1/5). ℓ (a fraction of the space's scale) and the
prior (optimistic or at the run's rate, of strength 0.1, 0.3 or 1) are chosen every round, from
that fixed grid, by the leave-one-out log likelihood of the outcomes; the model has no other
parameters, no randomness and no training loop, so a resumed run rebuilds it bit for bit from
its log. It is differentiable in q, so gradient-ascent synthesis climbs the weighted
acquisition.

Spaces: latent synthesis models answerability in the generator's latent space (the queries'
codes z; answers to queries without one, such as the seed set's pool points, at their
encodings), everything else in input space — where a query is. With `answerability_space =
"confidence"` a synthesis strategy models it instead in the space of the learner's own class
probabilities at the query, sorted from the most likely class down (`confidence_features`,
`[n, C]`, recomputed for every logged query with each round's learner): a refusal then says
"queries this ambiguous to the learner go unanswered", wherever in the input or latent space
they are — the case of a teacher or a person who cannot tell ambiguous images apart, whose
refusals sit wherever the learner is in doubt, which is where the acquisition peaks. With
`"support"` it is modelled on one number, the query's distance to its nearest real inputs
(`support_distance`: the root mean square distance to its `SUPPORT_NEIGHBOURS` nearest pool
inputs, in units of the pool's own spacing, so a real input sits near 1): a synthesized image
unlike any real one is the one an oracle cannot tell. `"confidence+support"` uses both, the
distance first (`query_features`).

References:
  Goetschalckx, Poupart & Hoey (2011). Continuous Correlated Beta Processes. IJCAI.
  Trieste's failure_ego tutorial (Picheny et al. 2023): a classifier of failed evaluations that
    weights the acquisition (for Bayesian optimization).
  Zhu & Bento (2017), Generative Adversarial Active Learning: unanswerable synthesized queries.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import numpy as np

from qsynth._chunks import capacity_for, map_in_chunks

__all__ = ["ANSWERABILITY_SPACES", "AnswerLog", "AnswerabilityModel", "COST_STRENGTHS", "CostModel", "LENGTHSCALE_FRACTIONS",
           "MIN_WINDOW", "PRIOR_ANSWERED", "PRIOR_STRENGTHS", "PRIOR_UNANSWERED", "answerability_for", "check_refusal_cost",
           "check_window", "confidence_features", "cost_for", "expected_cost",
           "expected_cost_of", "FEATURE_SPACES", "fit_answerability", "fit_cost", "per_cost", "probability", "probability_of",
           "query_features", "SUPPORT_NEIGHBOURS", "SUPPORT_REFERENCES", "SupportReference", "support_distance",
           "SUPPORT_SPACES", "support_reference", "weigh"]


#: The Beta prior's default pseudo-counts: what the model says where nothing was asked nearby.
PRIOR_ANSWERED = 1.0
PRIOR_UNANSWERED = 0.0

#: The lengthscales tried, as fractions of the space's scale (a box's diagonal; √(2·latent) in a
#: standard-normal latent space, the typical distance of two prior draws).
LENGTHSCALE_FRACTIONS = (1 / 64, 1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2)

#: The prior strengths tried (a0 with b0 = 0: the pseudo-count of one presumed answer; smaller
#: lets a few refusals speak sooner).
PRIOR_STRENGTHS = (0.1, 0.3, 1.0)

#: Leave-one-out probabilities are clipped to [LOO_CLIP, 1 − LOO_CLIP] (one surprise is not −∞).
LOO_CLIP = 0.01

#: The smallest window of newest outcomes (`answerability_for`'s `window`, a synthesis
#: strategy's `fallback_window`): fewer leave the leave-one-out choice of ℓ and the prior
#: nothing to choose by.
MIN_WINDOW = 4

#: At most this many of the newest outcomes choose ℓ (the n² leave-one-out stays cheap).
LOO_MAX = 2048


@dataclasses.dataclass
class AnswerLog:
    """Every modelled answer of a session: where its query was and whether it was answered.

    Attributes:
      query_id: [n] the queries' ids (a retraction removes its row).
      x: [n, features] float32, the query inputs, flattened.
      z: [n, latent] float32, the queries' latent codes (NaN rows where a query had none; latent
        is 0 until a query with a code is answered).
      answered: [n] bool, True for an OK answer.
      cost: [n] float32, what each answer cost (`Answer.cost`).
    """

    query_id: list[str]
    x: np.ndarray
    z: np.ndarray
    answered: np.ndarray
    cost: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.float32))

    @classmethod
    def empty(cls, features: int) -> AnswerLog:
        return cls([], np.zeros((0, features), np.float32), np.zeros((0, 0), np.float32), np.zeros(0, bool),
                   np.zeros(0, np.float32))

    def __len__(self) -> int:
        return len(self.query_id)

    @property
    def refusals(self) -> int:
        """How many modelled answers were not answers (abstained, or failed under "avoid")."""
        return int(np.count_nonzero(~self.answered))

    def add(self, query_id: str, x: np.ndarray, z: np.ndarray | None, answered: bool, cost: float = 1.0) -> None:
        """Append one outcome (`x`: the query's input; `z`: its code or None; `cost`: the answer's)."""
        x = np.asarray(x, np.float32).reshape(1, -1)
        code = None if z is None else np.asarray(z, np.float32).reshape(1, -1)
        if code is not None and self.z.shape[1] == 0:
            self.z = np.full((len(self), code.shape[1]), np.nan, np.float32)
        if code is None or code.shape[1] != self.z.shape[1]:
            code = np.full((1, self.z.shape[1]), np.nan, np.float32)
        self.query_id.append(query_id)
        self.x = np.concatenate([self.x, x])
        self.z = np.concatenate([self.z, code])
        self.answered = np.concatenate([self.answered, [bool(answered)]])
        self.cost = np.concatenate([self.cost, np.asarray([cost], np.float32)])

    def remove(self, query_id: str) -> None:
        """Take out the newest outcome of `query_id` (its answer was retracted); none: no-op."""
        rows = [i for i, q in enumerate(self.query_id) if q == query_id]
        if not rows:
            return
        keep = np.ones(len(self), bool)
        keep[rows[-1]] = False
        self.query_id = [q for q, k in zip(self.query_id, keep) if k]
        self.x, self.z, self.answered, self.cost = self.x[keep], self.z[keep], self.answered[keep], self.cost[keep]

    def newest(self, count: int | None) -> AnswerLog:
        """The log of its newest `count` outcomes (all of them for None; a copy either way)."""
        rows = slice(0 if count is None else max(len(self) - int(count), 0), None)
        return AnswerLog(self.query_id[rows], self.x[rows], self.z[rows], self.answered[rows], self.cost[rows])

    def arrays(self) -> dict[str, np.ndarray]:
        """The log as checkpoint arrays (`answerability_*`)."""
        return {"answerability_id": np.asarray(self.query_id, dtype=np.str_), "answerability_x": self.x,
                "answerability_z": self.z, "answerability_answered": self.answered, "answerability_cost": self.cost}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> AnswerLog:
        n = len(arrays["answerability_id"])
        cost = arrays["answerability_cost"] if "answerability_cost" in arrays else np.ones(n)
        return cls([str(q) for q in arrays["answerability_id"]], arrays["answerability_x"].astype(np.float32),
                   arrays["answerability_z"].astype(np.float32), arrays["answerability_answered"].astype(bool),
                   np.asarray(cost, np.float32))


@dataclasses.dataclass(frozen=True, eq=False)
class AnswerabilityModel:
    """A fitted `P(answered | q)` (see the module docstring).

    Attributes:
      points: [capacity, dim] float32, the outcomes' points (zeros past `count`: a fixed-size
        array per capacity bucket, so a jitted ascent compiles once per bucket).
      answered: [capacity] float32, 1 answered, 0 not. mask: [capacity] float32, 1 for a real row.
      lengthscale: ℓ; prior: (a0, b0); count: real rows.
    """

    points: np.ndarray
    answered: np.ndarray
    mask: np.ndarray
    lengthscale: float
    prior: tuple[float, float] = (PRIOR_ANSWERED, PRIOR_UNANSWERED)
    count: int = 0

    @property
    def arrays(self) -> tuple[Any, ...]:
        """What a jitted program takes: (points, answered, mask, lengthscale, a0, b0)."""
        return (self.points, self.answered, self.mask, np.float32(self.lengthscale),
                np.float32(self.prior[0]), np.float32(self.prior[1]))

    def probability(self, q: np.ndarray) -> np.ndarray:
        """`P(answered)` `[n]` (float64) of points `q: [n, dim]`, in NumPy."""
        k = _kernel(np.asarray(q, np.float64).reshape(len(q), -1), self.points[:self.count], self.lengthscale)
        a0, b0 = self.prior
        return (a0 + k @ self.answered[:self.count]) / (a0 + b0 + k.sum(axis=1))


def probability(arrays: tuple[Any, ...], q: Any) -> Any:
    """`P(answered)` `[n]` of points `q: [n, dim]` in JAX (differentiable in q): `arrays` are an
    `AnswerabilityModel`'s `arrays`."""
    import jax.numpy as jnp

    points, answered, mask, lengthscale, a0, b0 = arrays
    k = _kernel_weights(points, mask, lengthscale, q)
    return (a0 + k @ answered) / (a0 + b0 + jnp.sum(k, axis=1))


def _kernel_weights(points: Any, mask: Any, lengthscale: Any, q: Any) -> Any:
    """k(q, points) `[n, capacity]` in JAX, zero on padding rows."""
    import jax.numpy as jnp

    return jnp.exp(-_sq_dist_jax(q.reshape(q.shape[0], -1), points) / (2.0 * lengthscale ** 2)) * mask[None, :]


def _sq_dist_jax(a: Any, b: Any) -> Any:
    """Squared distances `[len(a), len(b)]` of flat rows, in JAX (clipped at 0; `_sq_dist`'s twin)."""
    import jax.numpy as jnp

    return jnp.maximum(jnp.sum(a * a, axis=1)[:, None] - 2.0 * a @ b.T + jnp.sum(b * b, axis=1)[None, :], 0.0)


def weigh(acquisition: Any, p_answered: Any, refusal_cost: float = 1.0) -> Any:
    """Expected acquisition per query asked: `acq − (1 − p)·|acq|` — `p · acq` for the usual
    non-negative measures, and a signed acquisition (straddle) is lowered, never raised, where
    answers are unlikely. Works on NumPy and JAX arrays alike.

    With `refusal_cost` r > 1 (a refusal costs r answered queries) it is per expected cost of
    asking, c = p + (1 − p)·r: a non-negative value is divided by c and a negative one
    multiplied by it (made worse, never better), so unlikely answers are discounted more; r = 1
    leaves the expression as it is, bit for bit."""
    weighed = acquisition - (1.0 - p_answered) * abs(acquisition)
    if refusal_cost == 1.0:
        return weighed
    return per_cost(weighed, p_answered + (1.0 - p_answered) * refusal_cost)


def per_cost(value: Any, cost: Any) -> Any:
    """An acquisition `value` per unit of a positive `cost`: a non-negative value divided by it,
    a negative one (a signed measure such as straddle) multiplied by it, so a costlier query is
    never ranked above a cheaper one of the same value. Works on NumPy and JAX arrays alike."""
    return value / cost - (cost - 1.0 / cost) * (abs(value) - value) / 2.0


def check_refusal_cost(refusal_cost: Any, owner: str) -> None:
    """Refuse a `refusal_cost` that is not a finite number >= 1 (a refusal spends at least the
    query it was), naming `owner` (e.g. "strategy synthesis")."""
    if isinstance(refusal_cost, bool) or not isinstance(refusal_cost, (int, float)) \
            or not (math.isfinite(refusal_cost) and refusal_cost >= 1.0):
        raise ValueError(f"{owner}: refusal_cost must be a finite number >= 1 (what a refusal costs, in answered "
                         f"queries), got {refusal_cost!r}")


def check_window(window: Any, owner: str) -> None:
    """Refuse a `fallback_window` that is not None or an integer of at least `MIN_WINDOW`."""
    if window is None:
        return
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < MIN_WINDOW:
        raise ValueError(f"{owner}: fallback_window must be an integer >= {MIN_WINDOW} (the newest outcomes the "
                         f"answerability model learns from) or absent (all of them), got {window!r}")


def _sq_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.maximum((a * a).sum(1)[:, None] - 2.0 * a @ b.T + (b * b).sum(1)[None, :], 0.0)


def _kernel(a: np.ndarray, b: np.ndarray, lengthscale: float) -> np.ndarray:
    """k(a, b) `[len(a), len(b)]` in float64 NumPy."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.exp(-_sq_dist(a, b) / (2.0 * lengthscale ** 2))


def _padded(points: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`points`, `values` and a validity mask, zero-padded to the capacity bucket of their count
    (float32: a jitted program compiles once per bucket)."""
    cap = capacity_for(len(points))
    padded, value, mask = np.zeros((cap, points.shape[1]), np.float32), np.zeros(cap, np.float32), np.zeros(cap, np.float32)
    padded[:len(points)], value[:len(points)], mask[:len(points)] = points, values, 1.0
    return padded, value, mask


def loo_log_likelihood(points: np.ndarray, answered: np.ndarray, lengthscale: float,
                       prior: tuple[float, float] = (PRIOR_ANSWERED, PRIOR_UNANSWERED)) -> float:
    """Σ_i log P_{−i}(o_i): each outcome predicted by the model of all the others (clipped)."""
    o = np.asarray(answered, np.float64)
    k = _kernel(points, points, lengthscale)
    np.fill_diagonal(k, 0.0)
    a0, b0 = prior
    p = np.clip((a0 + k @ o) / (a0 + b0 + k.sum(1)), LOO_CLIP, 1.0 - LOO_CLIP)
    return float(np.sum(o * np.log(p) + (1.0 - o) * np.log1p(-p)))


def fit_answerability(points: np.ndarray, answered: np.ndarray, scale: float,
                      prior: tuple[float, float] | None = None) -> AnswerabilityModel:
    """The model of outcomes `answered: [n]` at `points: [n, dim]`.

    ℓ (a fraction in `LENGTHSCALE_FRACTIONS` of `scale`) and, unless `prior` is given, the prior
    (a0 in `PRIOR_STRENGTHS`, b0 = 0) are the pair with the best leave-one-out log likelihood
    over the newest `LOO_MAX` outcomes (the first in grid order on a tie)."""
    points = np.asarray(points, np.float32).reshape(len(points), -1)
    answered = np.asarray(answered, bool)
    if len(points) != len(answered):
        raise ValueError(f"fit_answerability: {len(points)} points but {len(answered)} outcomes")
    if not (scale > 0 and math.isfinite(scale)):
        raise ValueError(f"fit_answerability: scale must be a finite positive number, got {scale}")
    tail = slice(max(len(points) - LOO_MAX, 0), None)
    rate = (np.count_nonzero(answered) + 1.0) / (len(answered) + 2.0)  # the run's answered rate, smoothed
    priors = [prior] if prior is not None else [(a0, PRIOR_UNANSWERED) for a0 in PRIOR_STRENGTHS] + [
        (float(s * rate), float(s * (1.0 - rate))) for s in PRIOR_STRENGTHS]
    grid = [(f * scale, b) for b in priors for f in LENGTHSCALE_FRACTIONS]
    scores = [loo_log_likelihood(points[tail], answered[tail], ell, b) for ell, b in grid]
    lengthscale, chosen = grid[int(np.argmax(scores))]
    return AnswerabilityModel(*_padded(points, answered), float(lengthscale), chosen, len(points))


#: Where a synthesis strategy's answerability model lives: "auto" (where the query is: the
#: generator's latent space for latent synthesis, the input box for input synthesis),
#: "confidence" (the learner's sorted class probabilities at the query), "support" (the query's
#: distance to its nearest real inputs) or "confidence+support" (both).
ANSWERABILITY_SPACES = ("auto", "confidence", "support", "confidence+support")

#: The spaces of features computed from the query (the others place it where it is).
FEATURE_SPACES = ("confidence", "support", "confidence+support")

#: The feature spaces with the query's support distance (they need a pool to measure it to).
SUPPORT_SPACES = ("support", "confidence+support")

#: The support distance averages the squared distances to this many nearest real inputs.
SUPPORT_NEIGHBOURS = 5

#: At most this many pool inputs (a fixed draw) are the real inputs it measures distances to.
SUPPORT_REFERENCES = 2048

#: How many references measure the pool's own spacing (the distance's unit).
_UNIT_PROBES = 256


@dataclasses.dataclass(frozen=True, eq=False)
class SupportReference:
    """The real inputs the support distance is measured to.

    Attributes:
      references: [m, features] float32, flat pool inputs (all of them, or a fixed draw of
        `SUPPORT_REFERENCES`).
      unit: the median support distance of the first 256 references, each to the others: the
        pool's own spacing, so a real input sits near 1.
    """

    references: np.ndarray
    unit: float

    @property
    def arrays(self) -> tuple[Any, ...]:
        """What a jitted program takes: (references, unit)."""
        return (self.references, np.float32(self.unit))


def support_reference(pool: np.ndarray) -> SupportReference:
    """The reference set of pool inputs `pool: [n, *feature_shape]` (deterministic in the pool)."""
    if len(pool) <= SUPPORT_NEIGHBOURS:
        raise ValueError(f"answerability in support space needs more than {SUPPORT_NEIGHBOURS} pool inputs, "
                         f"got {len(pool)}")
    if len(pool) > SUPPORT_REFERENCES:  # (only the drawn rows are read: a memory-mapped pool stays on disk)
        pool = pool[np.sort(np.random.default_rng(0).choice(len(pool), SUPPORT_REFERENCES, replace=False))]
    flat = np.asarray(pool, np.float32).reshape(len(pool), -1)
    probes = min(_UNIT_PROBES, len(flat))
    d2 = _sq_dist(flat[:probes].astype(np.float64), flat.astype(np.float64))
    d2[np.arange(probes), np.arange(probes)] = np.inf  # each probe without itself
    nearest = np.sort(d2, axis=1)[:, :SUPPORT_NEIGHBOURS]
    unit = float(np.median(np.sqrt(nearest.mean(axis=1))))
    if not unit > 0:
        raise ValueError("answerability in support space: the pool's inputs coincide with their neighbours "
                         "(their spacing is 0), so a distance to them has no unit")
    return SupportReference(np.ascontiguousarray(flat), unit)


def support_distance(reference: tuple[Any, ...], x: Any) -> Any:
    """The support distance `[n, 1]` (JAX; differentiable in x) of inputs `x: [n, ...]`: the root
    mean square distance to their `SUPPORT_NEIGHBOURS` nearest references, divided by the unit
    (`reference`: a `SupportReference`'s arrays)."""
    import jax
    import jax.numpy as jnp

    references, unit = reference
    x = jnp.reshape(x, (x.shape[0], -1)).astype(jnp.float32)
    nearest = -jax.lax.top_k(-_sq_dist_jax(x, references), SUPPORT_NEIGHBOURS)[0]
    return (jnp.sqrt(jnp.mean(nearest, axis=1) + 1e-12) / unit)[:, None]


def query_features(space: str, x: Any, probs: Any = None, reference: tuple[Any, ...] | None = None) -> Any:
    """Where a query sits in a feature space (`FEATURE_SPACES`), `[n, dim]` (JAX or NumPy in,
    JAX out): its support distance (`reference` and inputs `x: [n, ...]`) and/or its learner's
    sorted class probabilities (`probs() -> [members, n, C]`, called only when needed), the
    distance first."""
    import jax.numpy as jnp

    if space not in FEATURE_SPACES:
        raise ValueError(f"answerability feature space must be one of {list(FEATURE_SPACES)}, got {space!r}")
    parts = []
    if space in SUPPORT_SPACES:
        if reference is None:
            raise ValueError(f"answerability in {space!r} space needs the support reference")
        parts.append(support_distance(reference, x))
    if space != "support":
        parts.append(confidence_features(probs()))
    return jnp.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]


def confidence_features(probs: Any) -> Any:
    """The learner's committee-mean class probabilities at each point, sorted from the largest
    down: `probs [members, n, C] -> [n, C]` (NumPy or JAX; differentiable in JAX)."""
    import jax.numpy as jnp

    return -jnp.sort(-jnp.mean(probs, axis=0), axis=-1)


def _in_space(log: AnswerLog, space: str, bounds: tuple[np.ndarray, np.ndarray] | None,
              encode: Any, features: Any = None) -> tuple[np.ndarray, np.ndarray, float] | None:
    """The log's rows that have a point in `space`, those points, and the space's scale (None: none)."""
    if space in FEATURE_SPACES:
        if features is None:
            raise ValueError(f"answerability in {space!r} space needs `features` (x [n, features] -> [n, dim])")
        points = np.asarray(features(log.x), np.float32).reshape(len(log), -1)
        return np.ones(len(log), bool), points, math.sqrt(2.0)  # (the distance between two simplex corners)
    if space == "latent":
        if log.z.shape[1] == 0:
            return None
        coded = np.isfinite(log.z).all(axis=1)
        z = log.z.copy()
        if encode is not None and not coded.all():
            z[~coded] = np.asarray(encode(log.x[~coded]), np.float32).reshape(int((~coded).sum()), -1)
            coded[:] = True
        return coded, z[coded], math.sqrt(2.0 * log.z.shape[1])
    if space == "input":
        if bounds is not None:
            scale = float(np.linalg.norm(np.asarray(bounds[1], np.float64) - np.asarray(bounds[0], np.float64)))
        else:
            scale = math.sqrt(2.0 * float(np.var(log.x.astype(np.float64), axis=0).sum())) if len(log) > 1 else 0.0
        return np.ones(len(log), bool), log.x, scale
    raise ValueError(f"answerability space must be 'latent', 'input' or one of {list(FEATURE_SPACES)}, got {space!r}")


def answerability_for(log: AnswerLog | None, space: str, bounds: tuple[np.ndarray, np.ndarray] | None = None,
                      encode: Any = None, features: Any = None, window: int | None = None) -> AnswerabilityModel | None:
    """The model a strategy weighs with this round, in `space` ("latent", "input" or
    "confidence"), or None while every modelled answer was an answer (weight 1: the run is
    exactly what it would be without answerability).

    With `window`, only the newest `window` outcomes are modelled (`check_window`): where the
    oracle's refusals change over a run — a teacher who cannot tell the learner's late, finer
    doubts apart — a model of the recent ones predicts the next refusal better than one of the
    whole run (a synthesis strategy's `fallback_window`); None while none of them was a refusal.

    In latent space the rows with codes are used as they are, and the others (the seed set,
    pool points) are placed at their encodings when `encode` (`x [n, features] -> z [n, latent]`)
    is given, else left out. Scale: the box diagonal for inputs with `bounds`; √(2·latent) in
    latent space; else √(2 · Σ var) of the points (the typical distance between two of them).
    In a feature space (`FEATURE_SPACES`) each logged query is placed at `features(x)` (`[n, dim]`:
    `query_features` there, for example the learner's sorted class probabilities), scale √2 (the
    distance between two corners of the simplex; a support distance of 1 is a real input's)."""
    if space not in ("latent", "input", *FEATURE_SPACES):
        raise ValueError(f"answerability space must be 'latent', 'input' or one of {list(FEATURE_SPACES)}, got {space!r}")
    if log is not None and window is not None:
        log = log.newest(window)
    if log is None or log.refusals == 0:
        return None
    found = _in_space(log, space, bounds, encode, features)
    if found is None:
        return None
    rows, points, scale = found
    answered = log.answered[rows]
    if np.all(answered) or not scale > 0:
        return None
    return fit_answerability(points, answered, scale)


#: The prior strengths tried for the cost model (pseudo-observations at the run's mean cost).
COST_STRENGTHS = (0.1, 1.0, 10.0)


@dataclasses.dataclass(frozen=True, eq=False)
class CostModel:
    """A fitted expected cost of asking at q: a Nadaraya–Watson kernel regression of the answers'
    costs, shrunk towards the run's mean cost `mean` with `strength` pseudo-observations,

        E[cost | q] = (strength · mean + Σ_i k(q, q_i) c_i) / (strength + Σ_i k(q, q_i)),

    ℓ and the strength chosen by leave-one-out squared error (`fit_cost`). Arrays are padded
    like an `AnswerabilityModel`'s."""

    points: np.ndarray
    cost: np.ndarray
    mask: np.ndarray
    lengthscale: float
    strength: float
    mean: float
    count: int = 0

    @property
    def arrays(self) -> tuple[Any, ...]:
        """What a jitted program takes: (points, cost, mask, lengthscale, strength, mean)."""
        return (self.points, self.cost, self.mask, np.float32(self.lengthscale), np.float32(self.strength),
                np.float32(self.mean))

    def expected(self, q: np.ndarray) -> np.ndarray:
        """E[cost] `[n]` (float64) at points `q: [n, dim]`, in NumPy."""
        k = _kernel(np.asarray(q, np.float64).reshape(len(q), -1), self.points[:self.count], self.lengthscale)
        return (self.strength * self.mean + k @ self.cost[:self.count]) / (self.strength + k.sum(axis=1))


def expected_cost(arrays: tuple[Any, ...], q: Any) -> Any:
    """E[cost] `[n]` at points `q: [n, dim]` in JAX (differentiable in q), floored at 1e-3 of the
    mean cost (an acquisition is divided by it); `arrays` are a `CostModel`'s `arrays`."""
    import jax.numpy as jnp

    points, cost, mask, lengthscale, strength, mean = arrays
    k = _kernel_weights(points, mask, lengthscale, q)
    return jnp.maximum((strength * mean + k @ cost) / (strength + jnp.sum(k, axis=1)), 1e-3 * mean)


def fit_cost(points: np.ndarray, cost: np.ndarray, scale: float) -> CostModel:
    """The cost model of costs `cost: [n]` at `points: [n, dim]`; ℓ (a fraction in
    `LENGTHSCALE_FRACTIONS` of `scale`) and the strength (in `COST_STRENGTHS`) with the least
    leave-one-out squared error over the newest `LOO_MAX` answers (the first in grid order on a tie)."""
    points = np.asarray(points, np.float32).reshape(len(points), -1)
    cost = np.asarray(cost, np.float64)
    tail = slice(max(len(points) - LOO_MAX, 0), None)
    pts, c = points[tail].astype(np.float64), cost[tail]
    mean = float(cost.mean())
    d2 = _sq_dist(pts, pts)
    grid = [(f * scale, st) for st in COST_STRENGTHS for f in LENGTHSCALE_FRACTIONS]
    errors = []
    for ell, st in grid:
        k = np.exp(-d2 / (2.0 * ell ** 2))
        np.fill_diagonal(k, 0.0)
        errors.append(float(np.sum(((st * mean + k @ c) / (st + k.sum(1)) - c) ** 2)))
    lengthscale, strength = grid[int(np.argmin(errors))]
    return CostModel(*_padded(points, cost), float(lengthscale), float(strength), mean, len(points))


def cost_for(log: AnswerLog | None, space: str, bounds: tuple[np.ndarray, np.ndarray] | None = None,
             encode: Any = None) -> CostModel | None:
    """The cost model a cost-aware strategy divides by this round, in `space`, or None while every
    modelled answer cost the same (dividing by a constant changes no choice)."""
    if log is None or len(log) < 2 or float(np.ptp(log.cost)) == 0.0:
        return None
    found = _in_space(log, space, bounds, encode)
    if found is None:
        return None
    rows, points, scale = found
    if rows.sum() < 2 or not scale > 0 or float(np.ptp(log.cost[rows])) == 0.0:
        return None
    return fit_cost(points, log.cost[rows], scale)


def expected_cost_of(model: CostModel, q: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """E[cost] `[n]` (float64) of `q: [n, ...]` with the same float32 program the ascent uses."""
    return _chunked(_jitted(expected_cost), model.arrays, q, chunk)


@functools.cache
def _jitted(fn: Any) -> Any:
    """`jax.jit(fn)`, made once per function."""
    import jax

    return jax.jit(fn)


def probability_of(model: AnswerabilityModel, q: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """`P(answered)` `[n]` (float64) of `q: [n, ...]` with the same float32 program the ascent
    uses (chunked, for pools)."""
    return _chunked(_jitted(probability), model.arrays, q, chunk)


def _chunked(fn: Any, arrays: tuple[Any, ...], q: np.ndarray, chunk: int) -> np.ndarray:
    """`fn(arrays, q)` `[n]` as float64, over fixed-size chunks of `q` (one compilation per size)."""
    q = np.asarray(q, np.float32).reshape(len(q), -1)
    if len(q) == 0:
        return np.empty(0, np.float64)
    return map_in_chunks(lambda part: fn(arrays, part), q, chunk).astype(np.float64)
