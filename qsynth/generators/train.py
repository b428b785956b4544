"""Fit a VAE on unlabeled data (jitted ELBO training), and the pure encode/decode/sample functions.

`VAE` is the hashable description (config + feature shape) that jitted programs key on;
`TrainedGenerator` pairs it with fitted parameters, satisfies the `Generator` protocol
(`qsynth.generators.base`) and the `Encoder` capability, and is what synthesis strategies hold. Training is minibatch Adam on the negative ELBO inside one `lax.fori_loop`
(one compilation per data size), with a linear KL warm-up over the first `warmup` steps.
`save`/`load` write and read `generator.npz` + `generator.json` in a folder.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import json
import math
import zipfile
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax import Array

from qsynth._chunks import map_in_chunks
from qsynth.generators.config import GeneratorConfig
from qsynth.generators.vae import build_vae

__all__ = ["GeneratorConfig", "TRACE_COUNTS", "TrainedGenerator", "VAE", "fit_generator", "load_generator"]

#: How many times each jitted generator program was traced, by name. Tests read it.
TRACE_COUNTS: collections.Counter[str] = collections.Counter()


@dataclasses.dataclass(frozen=True)
class VAE:
    """A configured VAE for one feature shape (hashable: jitted programs key on it)."""

    config: GeneratorConfig
    feature_shape: tuple[int, ...]

    @property
    def latent(self) -> int:
        return self.config.latent

    @functools.cached_property
    def graphdef(self) -> Any:
        abstract = nnx.eval_shape(lambda: self._build(nnx.Rngs(0)))
        return nnx.split(abstract, nnx.Param)[0]

    def _build(self, rngs: nnx.Rngs) -> nnx.Module:
        return build_vae(self.config.model, self.feature_shape, self.config.latent, self.config.hidden, rngs)

    # ---- pure functions -------------------------------------------------------------------
    def encode(self, params: Any, x: Array) -> tuple[Array, Array]:
        """Posterior mean and log-variance `[n, latent]` of `x: [n, *feature_shape]`."""
        return nnx.merge(self.graphdef, params).encode(jnp.asarray(x, jnp.float32))

    def decode(self, params: Any, z: Array) -> Array:
        """Decoder mean `[n, *feature_shape]` of `z: [n, latent]`."""
        return nnx.merge(self.graphdef, params).decode(z)

    def prior(self, key: Array, n: int) -> Array:
        """`n` draws from the standard normal prior, `[n, latent]`."""
        return jax.random.normal(key, (n, self.latent))

    def negative_elbo(self, params: Any, x: Array, key: Array, beta: Array | float = 1.0) -> tuple[Array, Array]:
        """Mean (reconstruction NLL, KL) per example; the loss is `nll + beta * kl`."""
        model = nnx.merge(self.graphdef, params)
        mu, logvar = model.encode(x)
        z = mu + jnp.exp(0.5 * logvar) * jax.random.normal(key, mu.shape)
        mean = model.decode(z).reshape(x.shape[0], -1)
        std = (self.config.min_std + jax.nn.softplus(model.log_std[...] + 0.5413))[None, :]  # softplus(0.5413) ≈ 1
        resid = (x.reshape(x.shape[0], -1) - mean) / std
        nll = jnp.sum(0.5 * resid ** 2 + jnp.log(std) + 0.5 * math.log(2 * math.pi), axis=-1)
        kl = 0.5 * jnp.sum(jnp.exp(logvar) + mu ** 2 - 1.0 - logvar, axis=-1)
        return jnp.mean(nll), jnp.mean(kl)


@dataclasses.dataclass(frozen=True, eq=False)
class TrainedGenerator:
    """A VAE with fitted parameters, and the training curve it came from (a `Generator` and `Encoder`).

    As the static argument of jitted programs it is compared by its VAE alone: two trained
    generators of one configuration are one program, their parameters its data.

    Attributes:
      generator: the configured VAE. params: its parameters.
      history: {"step": [...], "nll": [...], "kl": [...]} recorded every 100 steps.
    """

    generator: VAE
    params: Any
    history: dict[str, list[float]] = dataclasses.field(default_factory=dict)

    def __hash__(self) -> int:
        return hash((TrainedGenerator, self.generator))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TrainedGenerator) and other.generator == self.generator

    @property
    def latent(self) -> int:
        return self.generator.latent

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return self.generator.feature_shape

    # ---- the Generator protocol (pure) ------------------------------------------------------
    def generate(self, params: Any, z: Array) -> Array:
        """Decoder means `[n, *feature_shape]` of `z: [n, latent]` (pure, differentiable)."""
        return self.generator.decode(params, z)

    def log_prior(self, z: Array) -> Array:
        """The standard-normal prior's log density `[n]`, up to a constant: −½‖z‖²."""
        return -(0.5 * jnp.sum(z * z, axis=-1))

    def sample_prior(self, key: Array, n: int) -> Array:
        return self.generator.prior(key, n)

    def encode(self, x: np.ndarray, chunk_size: int = 1024) -> np.ndarray:
        """Posterior means `[n, latent]` (NumPy), chunked."""
        return map_in_chunks(lambda c: _encode_mean(self.generator, self.params, c), np.asarray(x, np.float32),
                             chunk_size)

    def decode(self, z: np.ndarray, chunk_size: int = 1024) -> np.ndarray:
        """Decoder means `[n, *feature_shape]` (NumPy), chunked."""
        z = np.asarray(z, np.float32)
        if z.ndim != 2 or z.shape[1] != self.latent:
            raise ValueError(f"latent codes have shape {z.shape}; this generator needs [n, {self.latent}]")
        return map_in_chunks(lambda c: _decode(self.generator, self.params, c), z, chunk_size)

    def sample(self, key: Array, n: int) -> tuple[np.ndarray, np.ndarray]:
        """`n` prior draws and their decodings: (z [n, latent], x [n, *feature_shape])."""
        z = np.asarray(self.generator.prior(key, n))
        return z, self.decode(z)

    def reconstruction_error(self, x: np.ndarray) -> float:
        """Mean squared error per feature of decode(encode(x)) on `x` (held-out data for a fair check)."""
        x = np.asarray(x, np.float32)
        recon = self.decode(self.encode(x))
        return float(np.mean((recon - x) ** 2))

    def save(self, folder: str | Path) -> None:
        """Write `generator.npz` (parameters) and `generator.json` (config, shape, history)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        leaves = jax.tree.leaves(self.params)
        tmp = folder / "generator.npz.tmp"
        with open(tmp, "wb") as f:
            np.savez(f, **{f"leaf_{i:04d}": np.asarray(a) for i, a in enumerate(leaves)})
        tmp.replace(folder / "generator.npz")
        meta = {"config": dataclasses.asdict(self.generator.config),
                "feature_shape": list(self.generator.feature_shape), "leaves": len(leaves),
                "history": self.history}
        (folder / "generator.json").write_text(json.dumps(meta, indent=1))


def load_generator(folder: str | Path) -> TrainedGenerator:
    """The generator saved in `folder` by `TrainedGenerator.save`."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / "generator.json").read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{folder}: no generator.json; is this a saved generator folder?") from None
    config = GeneratorConfig(**{**meta["config"], "hidden": tuple(meta["config"]["hidden"])})
    generator = VAE(config, tuple(meta["feature_shape"]))
    template = nnx.split(generator._build(nnx.Rngs(0)), nnx.Param)[1]
    treedef = jax.tree.structure(template)
    try:
        with np.load(folder / "generator.npz", allow_pickle=False) as f:
            leaves = [jnp.asarray(f[k]) for k in sorted(f.files)]  # reading each member checks its CRC
    except FileNotFoundError:
        raise FileNotFoundError(f"{folder}: generator.json without generator.npz; delete the folder to train the "
                                "generator again from the run's seed") from None
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError) as exc:
        raise ValueError(f"{folder / 'generator.npz'} is corrupt or truncated ({type(exc).__name__}: {exc}); delete "
                         f"{folder} to train the generator again from the run's seed") from None
    if len(leaves) != treedef.num_leaves:
        raise ValueError(f"{folder}: generator.npz holds {len(leaves)} arrays, the config needs {treedef.num_leaves}")
    return TrainedGenerator(generator, jax.tree.unflatten(treedef, leaves), meta.get("history", {}))


def fit_generator(key: Array, config: GeneratorConfig, x: np.ndarray) -> TrainedGenerator:
    """Train a VAE on unlabeled `x: [n, *feature_shape]` (no labels are read).

    Raises:
      ValueError: empty or non-finite data, or a model that does not fit the feature shape.
    """
    x = np.asarray(x, np.float32)
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"generator training data must be [n, *feature_shape] with n >= 1, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("generator training data holds NaN or infinite values")
    generator = VAE(config, tuple(int(s) for s in x.shape[1:]))
    k_init, k_fit = jax.random.split(key)
    params = nnx.split(generator._build(nnx.Rngs(params=k_init)), nnx.Param)[1]
    chunks = max(1, config.steps // 100)
    opt_state = optax.adam(config.learning_rate).init(params)
    history: dict[str, list[float]] = {"step": [], "nll": [], "kl": []}
    xs = jnp.asarray(x)
    done = 0
    for c in range(chunks):
        n_steps = config.steps // chunks + (1 if c < config.steps % chunks else 0)
        params, opt_state, nll, kl = _fit_steps(generator, params, opt_state, xs, jax.random.fold_in(k_fit, c),
                                                jnp.int32(done), jnp.int32(n_steps))
        done += n_steps
        history["step"].append(done)
        history["nll"].append(float(nll))
        history["kl"].append(float(kl))
    if not all(math.isfinite(v) for v in history["nll"] + history["kl"]):
        raise FloatingPointError(f"generator training diverged (loss {history['nll'][-1]}, {history['kl'][-1]}); "
                                 "lower generator.learning_rate")
    return TrainedGenerator(generator, params, history)


@functools.partial(jax.jit, static_argnums=0)
def _fit_steps(generator: VAE, params: Any, opt_state: Any, x: Array, key: Array, start: Array,
               steps: Array) -> tuple[Any, Any, Array, Array]:
    TRACE_COUNTS["fit"] += 1
    cfg = generator.config
    tx = optax.adam(cfg.learning_rate)

    def body(i: Array, carry: tuple[Any, Any, Array, Array]) -> tuple[Any, Any, Array, Array]:
        params, opt_state, _, _ = carry
        k_batch, k_noise = jax.random.split(jax.random.fold_in(key, i))
        batch = x[jax.random.randint(k_batch, (cfg.batch_size,), 0, x.shape[0])]
        ramp = jnp.minimum(1.0, (start + i + 1).astype(jnp.float32) / max(cfg.warmup, 1))
        beta = cfg.beta * ramp

        def loss(p: Any) -> tuple[Array, tuple[Array, Array]]:
            nll, kl = generator.negative_elbo(p, batch, k_noise)
            return nll + beta * kl, (nll, kl)

        grads, (nll, kl) = jax.grad(loss, has_aux=True)(params)
        with jax.numpy_dtype_promotion("standard"):
            updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, nll, kl

    zero = jnp.zeros((), jnp.float32)
    return jax.lax.fori_loop(0, steps, body, (params, opt_state, zero, zero))


@functools.partial(jax.jit, static_argnums=0)
def _encode_mean(generator: VAE, params: Any, x: Array) -> Array:
    TRACE_COUNTS["encode"] += 1
    return generator.encode(params, x)[0]


@functools.partial(jax.jit, static_argnums=0)
def _decode(generator: VAE, params: Any, z: Array) -> Array:
    TRACE_COUNTS["decode"] += 1
    return generator.decode(params, z)
