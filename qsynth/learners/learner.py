"""A learner: K networks as one stacked parameter tree, trained by one vmapped, jitted program.

`NetworkLearner.probs(params, x) -> [members, n, classes]` is the pure function every strategy
sees (and differentiates, for synthesis). Two posteriors:

* "ensemble": a deep ensemble of `members` independently initialized networks (optionally
  on bootstrap weights), trained together — forward, loss, gradient and the optax update
  are all vmapped over the member axis, so members never couple (a global-norm clip over the
  stack would couple them);
* "mc_dropout": one network trained with dropout; `members` dropout masks, drawn from a key
  refreshed at every fit and kept in `params["mc_key"]`, form the committee, so `probs`
  stays a deterministic function of `params` (a fixed committee per round).

With `prior_scale` β > 0 each ensemble member also carries a randomized prior function: a
second network of the same architecture, drawn at initialization and never trained
(`params["prior"]`), whose logits are added, times β, to the member's own. Training fits
`f_θ + β·p` to the labels, so the members agree where labels are and keep their priors'
disagreement where there are none.

Training is full-batch AdamW on the labeled buffer's fixed-capacity arrays with a validity
mask, inside one `lax.fori_loop` whose step count is a runtime value: one compilation per
capacity bucket, for both warm-start and from-scratch fits.

References:
  Lakshminarayanan, Pritzel & Blundell (2017). Simple and Scalable Predictive Uncertainty
    Estimation using Deep Ensembles.
  Gal & Ghahramani (2016). Dropout as a Bayesian Approximation.
  Ash & Adams (2020). On Warm-Starting Neural Network Training. (shrink and perturb)
  Osband, Aslanides & Cassirer (2018). Randomized Prior Functions for Deep Reinforcement
    Learning. (prior_scale)
"""

from __future__ import annotations

import collections
import dataclasses
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax import Array

from qsynth import _random as fast_random
from qsynth._chunks import map_in_chunks
from qsynth._backend import cpu_speedups
from qsynth._devices import mesh_for, replicated, split_rows
from qsynth._parallel import member_windows, run_all, windows as window_count
from qsynth.data.buffer import LabeledBuffer
from qsynth.learners.config import BUILTIN_MODELS, LearnerConfig, ModelFactory
from qsynth.learners.gradients import dense_relu_gradient_norms, per_example_gradient_norms
from qsynth.learners.models import build_model
from qsynth.plugins import resolve

__all__ = ["LearnerConfig", "NetworkLearner", "TrainState", "TRACE_COUNTS"]

#: How many times each jitted learner program was traced (= compiled), by name. Tests read it.
TRACE_COUNTS: collections.Counter[str] = collections.Counter()


class TrainState(NamedTuple):
    """What a learner carries between rounds (a pytree; checkpointed as is).

    params: {"net": stacked network params [nets, ...], "mc_key": uint32 key data,
      "scratch_size": int32 [], the labeled-set size at the last fit from scratch (0 before any),
      and with `prior_scale` > 0 "prior": the stacked, untrained prior networks [nets, ...]}.
    opt_state: the optax state, stacked like the params.
    """

    params: dict[str, Any]
    opt_state: Any


@dataclasses.dataclass(frozen=True)
class NetworkLearner:
    """A configured network learner for one problem (hashable: the jitted programs key on it).

    Satisfies `qsynth.learners.Learner` and `PerExampleGradients` (exact `vmap(grad)` norms for
    any network; the closed form for the built-in dense ReLU networks, logreg and mlp).
    """

    config: LearnerConfig
    feature_shape: tuple[int, ...]
    num_classes: int

    def __getstate__(self) -> dict[str, Any]:
        """Pickled as its three fields (a sweep's worker gets a teacher); the built programs are rebuilt."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)

    @property
    def members(self) -> int:
        """The committee size seen by `probs` (ensemble members or dropout samples)."""
        return self.config.members

    @property
    def nets(self) -> int:
        """How many parameter sets are stacked (1 for MC dropout)."""
        return self.config.members if self.config.posterior == "ensemble" else 1

    @functools.cached_property
    def graphdef(self) -> Any:
        abstract = nnx.eval_shape(lambda: self._build(nnx.Rngs(0)))
        return nnx.split(abstract, nnx.Param)[0]

    @functools.cached_property
    def optimizer(self) -> optax.GradientTransformation:
        """The optax transformation every member is trained with (vmapped over members)."""
        spec = self.config.optimizer
        if spec is None:
            return optax.adamw(self.config.learning_rate, weight_decay=self.config.weight_decay)
        if isinstance(spec, str):
            spec = resolve(spec, "learner.optimizer")
        if isinstance(spec, optax.GradientTransformation):
            return spec
        if not callable(spec):
            raise ValueError(f"learner.optimizer: {spec!r} is neither an optax.GradientTransformation nor a factory")
        tx = spec(learning_rate=self.config.learning_rate)
        if not isinstance(tx, optax.GradientTransformation):
            raise ValueError(f"learner.optimizer: the factory {spec!r} returned {type(tx).__name__}, not an "
                             "optax.GradientTransformation")
        return tx

    @property
    def builtin_model(self) -> bool:
        """Whether the network is one of qsynth's own (logreg, mlp, cnn)."""
        return isinstance(self.config.model, str) and self.config.model in BUILTIN_MODELS

    @functools.cached_property
    def _factory(self) -> ModelFactory:
        model = self.config.model
        return resolve(model, "learner.model") if isinstance(model, str) else model

    def _build(self, rngs: nnx.Rngs) -> nnx.Module:
        if self.builtin_model:
            return build_model(self.config.model, self.feature_shape, self.num_classes, self.config.hidden, rngs)
        module = self._factory(self.feature_shape, self.num_classes, rngs=rngs)
        if not isinstance(module, nnx.Module):
            raise ValueError(f"learner.model: the factory {self.config.model!r} returned {type(module).__name__}, "
                             "not a flax.nnx.Module")
        return module

    # ---- pure functions -------------------------------------------------------------------
    def net_logits(self, net: Any, x: Array, dropout_key: Array | None = None) -> Array:
        """Logits `[n, classes]` of one network's params `net` (no member axis)."""
        model = nnx.merge(self.graphdef, net)
        if self.builtin_model or self.config.dropout > 0.0:
            return model(x, dropout_rate=self.config.dropout, dropout_key=dropout_key)
        return model(x)

    def prior_logits(self, params: dict[str, Any], x: Array) -> Array:
        """`[nets, n, classes]`: β · the prior networks' logits (`params` with a "prior")."""
        return self.config.prior_scale * jax.vmap(lambda p: self.net_logits(p, x))(params["prior"])

    def gradient_norms(self, params: dict[str, Any], x: Array) -> Array:
        """`[nets, n, classes]`: ‖∇_θ CE(f_θ(x_i) + β·p(x_i), c)‖ of each stacked network (no
        dropout); the prior networks p are fixed, so they are left out of the gradient."""
        x = jnp.asarray(x, jnp.float32)
        offsets = self.prior_logits(params, x) if "prior" in params else None  # [nets, n, c]
        if self.builtin_model and self.config.model in ("logreg", "mlp"):  # dense ReLU: the closed form

            def norms(net: Any, offset: Array | None) -> Array:
                model = nnx.merge(self.graphdef, net)
                layers = [*model.hidden, model.out] if self.config.model == "mlp" else [model.out]
                return dense_relu_gradient_norms(layers, x, self.num_classes, offset)
        else:

            def norms(net: Any, offset: Array | None) -> Array:
                return per_example_gradient_norms(self.net_logits, net, x, self.num_classes, offset)

        return jax.vmap(norms)(params["net"], offsets)

    @property
    def gradient_chunk(self) -> int:
        """Points per chunk when scoring gradient norms: 64 where per-example gradients are
        materialized (`[chunk, classes, params]` per member), else 1,024."""
        return 1024 if self.builtin_model and self.config.model in ("logreg", "mlp") else 64

    def probs(self, params: dict[str, Any], x: Array) -> Array:
        """Member class probabilities `[members, n, classes]` for inputs `x: [n, *feature_shape]`."""
        x = jnp.asarray(x, jnp.float32)
        if self.config.posterior == "ensemble":
            logits = jax.vmap(lambda net: self.net_logits(net, x))(params["net"])
            if "prior" in params:
                logits = logits + self.prior_logits(params, x)
        else:
            net = jax.tree.map(lambda a: a[0], params["net"])
            keys = jax.random.split(jax.random.wrap_key_data(params["mc_key"]), self.members)
            logits = jax.vmap(lambda k: self.net_logits(net, x, k))(keys)
        return jax.nn.softmax(logits, axis=-1)

    # ---- jitted programs ------------------------------------------------------------------
    def init(self, key: Array) -> TrainState:
        """Fresh parameters for every member and a fresh optimizer state."""
        return _init(self, key)

    def fit(self, key: Array, state: TrainState | None, buffer: LabeledBuffer) -> TrainState:
        """Train on the buffer: warm-start from `state` if configured and given, else from scratch.

        Args:
          key: drives initialization (from scratch), bootstrap weights, dropout and the MC key.
          state: the previous round's state, or None.
          buffer: the labeled set (y holds class indices).
        """
        k_init, k_fit = jax.random.split(key)
        if state is None or not self.config.warm_start or self._restart_due(state, buffer.size):
            state, steps = self.init(k_init), self.config.steps
            state = TrainState({**state.params, "scratch_size": jnp.int32(buffer.size)}, state.opt_state)
        else:
            steps = self.config.warm_steps
            if self.config.shrink != 1.0 or self.config.perturb != 0.0:  # shrink and perturb (Ash & Adams 2020)
                state = TrainState({**state.params, "net": _shrink_and_perturb(self, state.params["net"], k_init)},
                                   state.opt_state)
        net, opt_state = self._train(state.params["net"], state.opt_state, buffer, k_fit, steps,
                                     state.params.get("prior"))
        return TrainState({**state.params, "net": net, "mc_key": _mc_key(k_fit)}, opt_state)

    def _train(self, net: Any, opt_state: Any, buffer: LabeledBuffer, key: Array, steps: int,
               prior: Any = None) -> tuple[Any, Any]:
        """`steps` optimizer steps of every network: the members split over the devices where there
        are several (`qsynth._devices`), else the ensemble split into groups trained on separate
        cores (`qsynth._parallel`); a member's result does not depend on the split."""
        x, y, mask = jnp.asarray(buffer.x), jnp.asarray(buffer.y), jnp.asarray(buffer.mask)
        offsets = _prior_logits(self, prior, x) if prior is not None else None  # [nets, capacity, c], fixed

        def train(start: int, size: int) -> tuple[Any, Any]:
            carry = (net, opt_state) if size == self.nets else _window((net, opt_state), jnp.int32(start), size)
            if self.config.model != "cnn" or not cpu_speedups():  # (a user's network trains in the loop program)
                carry = _fit(self, *carry, x, y, mask, key, jnp.int32(steps), jnp.int32(start), offsets)
            else:
                # XLA on CPU runs a convolution's gradient about ten times slower inside a loop
                # (while) than in straight-line code: a CNN trains in unrolled blocks driven from Python.
                for first in range(0, steps, CONV_BLOCK):
                    carry = _fit_block(self, *carry, x, y, mask, key, jnp.int32(first), jnp.int32(steps),
                                       jnp.int32(start), offsets)
            return jax.block_until_ready(carry)

        mesh = mesh_for(self.nets) if self.config.model != "cnn" or not cpu_speedups() else None
        if mesh is not None:  # several devices: each trains its share of the members, in one program
            net, opt_state = split_rows((net, opt_state), mesh)
            x, y, mask = replicated((x, y, mask), mesh)
            offsets = None if offsets is None else split_rows(offsets, mesh)
            return train(0, self.nets)
        windows = member_windows(self.nets, window_count())  # (how many run at once is threads())
        if len(windows) == 1:
            return train(0, self.nets)
        program = (self, buffer.capacity, windows[0][1])
        if program in _COMPILED_WINDOWS:
            parts = run_all([functools.partial(train, *w) for w in windows])
        else:  # compile once, in this thread, before the windows run side by side
            parts = [train(*windows[0])] + run_all([functools.partial(train, *w) for w in windows[1:]])
            _COMPILED_WINDOWS.add(program)
        return _join(tuple(windows), parts)

    def _restart_due(self, state: TrainState, size: int) -> bool:
        """Whether the labeled set (`size` examples) has outgrown the last from-scratch fit."""
        growth = self.config.restart_growth
        return growth is not None and size >= growth * int(state.params["scratch_size"])

    def predict_proba(self, params: dict[str, Any], x: np.ndarray, chunk_size: int = 4096) -> np.ndarray:
        """Committee-mean class probabilities `[n, classes]` (NumPy), in fixed-size chunks."""
        return map_in_chunks(lambda c: _mean_probs(self, params, c), np.asarray(x, np.float32), chunk_size)


@functools.partial(jax.jit, static_argnums=0)
def _init(learner: NetworkLearner, key: Array) -> TrainState:
    TRACE_COUNTS["init"] += 1
    k_nets, k_mc = jax.random.split(key)

    def one(k: Array) -> Any:
        return nnx.split(learner._build(nnx.Rngs(params=k)), nnx.Param)[1]

    net = jax.vmap(one)(jax.random.split(k_nets, learner.nets))
    opt_state = jax.vmap(learner.optimizer.init)(net)
    params = {"net": net, "mc_key": jax.random.key_data(k_mc), "scratch_size": jnp.int32(0)}
    if learner.config.prior_scale > 0:  # each member's randomized prior network, never trained
        params["prior"] = jax.vmap(one)(jax.random.split(jax.random.fold_in(k_nets, 1), learner.nets))
    return TrainState(params, opt_state)


@functools.partial(jax.jit, static_argnums=0)
def _prior_logits(learner: NetworkLearner, prior: Any, x: Array) -> Array:
    """β · every prior network's logits on `x`, `[nets, n, classes]` (computed once per fit)."""
    return learner.prior_logits({"prior": prior}, x)


@functools.partial(jax.jit, static_argnums=0)
def _shrink_and_perturb(learner: NetworkLearner, net: Any, key: Array) -> Any:
    """`shrink · net + perturb · fresh`, where fresh is the initialization `learner.init(key)` would make."""
    fresh = _init(learner, key).params["net"]
    return jax.tree.map(lambda w, f: learner.config.shrink * w + learner.config.perturb * f, net, fresh)


def _masked_cross_entropy(logits: Array, y: Array, weights: Array) -> Array:
    """Mean cross-entropy over examples weighted by `weights` [n] (0 for empty buffer slots)."""
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, y)
    return jnp.sum(weights * ce) / jnp.maximum(jnp.sum(weights), 1.0)


#: (learner, buffer capacity, window size) of the training programs already compiled: the first
#: fit of a kind runs one window alone, so concurrent windows never trace the same program twice.
_COMPILED_WINDOWS: set[tuple[Any, int, int]] = set()

#: Steps per unrolled block when a CNN is trained (see `NetworkLearner.fit`).
CONV_BLOCK = 10


def _fit_keys(key: Array) -> Array:
    """A fit's four keys: bootstrap weights, dropout, minibatches, and the next MC-dropout committee."""
    return jax.random.split(key, 4)


def _mc_key(key: Array) -> Array:
    """The MC-dropout committee's key data after a fit keyed by `key` (whichever program ran it)."""
    return jax.random.key_data(_fit_keys(key)[3])


def _train_step(learner: NetworkLearner, x: Array, y: Array, mask: Array, key: Array, start: Array, size: int,
                offsets: Array | None = None) -> Any:
    """`body(i, (net, opt_state))`: optimizer step i of a fit keyed by `key`, for the `size`
    stacked networks `start, start + 1, ...` of the learner's `nets` (each gets the bootstrap
    weights, dropout and minibatch keys it would get in a fit of the whole stack). `offsets`
    `[nets, capacity, classes]`: each network's fixed prior logits on `x`, or None."""
    k_boot, k_drop, k_batch, _ = _fit_keys(key)
    nets = learner.nets

    def mine(a: Array) -> Array:  # this window's rows of a per-network array [nets, ...]
        return jax.lax.dynamic_slice_in_dim(a, start, size, axis=0)

    if learner.config.bootstrap:
        weights = mine(jax.random.poisson(k_boot, 1.0, (nets, mask.shape[0])).astype(jnp.float32)) * mask[None, :]
    else:
        weights = jnp.broadcast_to(mask, (size, mask.shape[0]))
    use_dropout = learner.config.dropout > 0.0
    batch = learner.config.batch_size
    # minibatches: `jax.random.choice(key, capacity, (batch,), p=mask / mask.sum())`, written out
    # with the unrolled Threefry and a loop-free search (the same draws, several times faster on CPU)
    filled_cdf = jnp.cumsum(mask / jnp.maximum(jnp.sum(mask), 1.0))

    own_offsets = None if offsets is None else mine(offsets)  # (vmap passes None through)

    def loss_fn(net: Any, w: Array, offset: Array | None, drop_key: Array, batch_key: Array) -> Array:
        xb, yb, wb, ob = x, y, w, offset
        if batch is not None:  # a minibatch drawn from the filled slots, with replacement
            r = filled_cdf[-1] * (1 - fast_random.uniform(batch_key, (batch,)))
            idx = jnp.searchsorted(filled_cdf, r, method="compare_all")
            xb, yb, wb = x[idx], y[idx], w[idx]
            ob = None if offset is None else offset[idx]
        logits = learner.net_logits(net, xb, drop_key if use_dropout else None)
        return _masked_cross_entropy(logits if ob is None else logits + ob, yb, wb)

    def member_step(net: Any, opt_state: Any, w: Array, offset: Array | None, drop_key: Array,
                    batch_key: Array) -> tuple[Any, Any]:
        grads = jax.grad(loss_fn)(net, w, offset, drop_key, batch_key)
        with jax.numpy_dtype_promotion("standard"):  # optax mixes its int32 step count with floats
            updates, opt_state = learner.optimizer.update(grads, opt_state, net)
        return optax.apply_updates(net, updates), opt_state

    def body(i: Array, carry: tuple[Any, Any]) -> tuple[Any, Any]:
        drop_keys = mine(jax.random.split(jax.random.fold_in(k_drop, i), nets))
        batch_keys = mine(jax.random.split(jax.random.fold_in(k_batch, i), nets))
        return jax.vmap(member_step)(*carry, weights, own_offsets, drop_keys, batch_keys)

    return body


@functools.partial(jax.jit, static_argnums=2)
def _window(tree: Any, start: Array, size: int) -> Any:
    """Rows `start .. start + size − 1` of every leaf of a stacked pytree."""
    return jax.tree.map(lambda a: jax.lax.dynamic_slice_in_dim(a, start, size, axis=0), tree)


@functools.partial(jax.jit, static_argnums=0)
def _join(windows: tuple[tuple[int, int], ...], parts: list[Any]) -> Any:
    """The stacked pytree of all networks from its (possibly overlapping) windows, each row once."""
    pieces, covered = [], 0
    for (start, size), part in zip(windows, parts):
        pieces.append(jax.tree.map(lambda a: a[covered - start:], part))
        covered = start + size
    return jax.tree.map(lambda *a: jnp.concatenate(a, axis=0), *pieces)


def _stack_size(net: Any) -> int:
    return jax.tree.leaves(net)[0].shape[0]


@functools.partial(jax.jit, static_argnums=0)
def _fit(learner: NetworkLearner, net: Any, opt_state: Any, x: Array, y: Array, mask: Array, key: Array, steps: Array,
         start: Array, offsets: Array | None = None) -> tuple[Any, Any]:
    """`steps` steps of the stacked networks `start, ...` (as many as `net` holds), in one loop program."""
    TRACE_COUNTS["fit"] += 1
    body = _train_step(learner, x, y, mask, key, start, _stack_size(net), offsets)
    return jax.lax.fori_loop(0, steps, body, (net, opt_state))


@functools.partial(jax.jit, static_argnums=0)
def _fit_block(learner: NetworkLearner, net: Any, opt_state: Any, x: Array, y: Array, mask: Array, key: Array,
               first: Array, steps: Array, start: Array, offsets: Array | None = None) -> tuple[Any, Any]:
    """Steps first .. first + CONV_BLOCK − 1 of a fit, unrolled; those at or past `steps` change nothing."""
    TRACE_COUNTS["fit"] += 1
    body = _train_step(learner, x, y, mask, key, start, _stack_size(net), offsets)
    carry = (net, opt_state)
    for j in range(CONV_BLOCK):
        i = first + j
        stepped = body(i, carry)
        carry = jax.tree.map(lambda new, old: jnp.where(i < steps, new, old), stepped, carry)
    return carry


@functools.partial(jax.jit, static_argnums=0)
def _mean_probs(learner: NetworkLearner, params: dict[str, Any], x: Array) -> Array:
    TRACE_COUNTS["mean_probs"] += 1
    return jnp.mean(learner.probs(params, x), axis=0)
