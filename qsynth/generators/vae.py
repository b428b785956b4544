"""The VAE networks (Flax NNX): an MLP encoder/decoder for vectors, a small conv net for images.

Both map `x: [n, *feature_shape]` to a diagonal Gaussian posterior `(mu, logvar): [n, latent]`
and `z: [n, latent]` back to the decoder mean `[n, *feature_shape]`. The decoder's
per-feature log standard deviation is a learned parameter (bounded below by `min_std`), so
the reconstruction and KL terms balance themselves on standardized data.

References:
  Kingma & Welling (2014). Auto-Encoding Variational Bayes.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx
from jax import Array

__all__ = ["ConvVAE", "MLPVAE", "build_vae"]


class MLPVAE(nnx.Module):
    """Vectors (any feature shape, flattened): ReLU MLP encoder and decoder."""

    def __init__(self, feature_shape: tuple[int, ...], latent: int, hidden: tuple[int, ...], *, rngs: nnx.Rngs):
        self.feature_shape = feature_shape
        d = math.prod(feature_shape)
        enc = (d, *hidden)
        self.encoder = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(enc[:-1], enc[1:])])
        self.to_stats = nnx.Linear(enc[-1], 2 * latent, rngs=rngs)
        dec = (latent, *reversed(hidden))
        self.decoder = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(dec[:-1], dec[1:])])
        self.to_x = nnx.Linear(dec[-1], d, rngs=rngs)
        self.log_std = nnx.Param(jnp.zeros(d))

    def encode(self, x: Array) -> tuple[Array, Array]:
        h = x.reshape(x.shape[0], -1)
        for layer in self.encoder:
            h = jax.nn.relu(layer(h))
        mu, logvar = jnp.split(self.to_stats(h), 2, axis=-1)
        return mu, logvar

    def decode(self, z: Array) -> Array:
        h = z
        for layer in self.decoder:
            h = jax.nn.relu(layer(h))
        return self.to_x(h).reshape(z.shape[0], *self.feature_shape)


class ConvVAE(nnx.Module):
    """Images `[H, W, C]` with H and W divisible by 4: two stride-2 convs down, two transposed convs up."""

    def __init__(self, feature_shape: tuple[int, ...], latent: int, hidden: tuple[int, ...], *, rngs: nnx.Rngs):
        if len(feature_shape) != 3 or feature_shape[0] % 4 or feature_shape[1] % 4:
            raise ValueError(f"generator.model 'conv' needs images [H, W, C] with H and W divisible by 4, "
                             f"got feature shape {feature_shape}; use 'mlp'")
        self.feature_shape = feature_shape
        h, w, c = feature_shape
        c1, c2 = 16, 32
        width = hidden[0] if hidden else 128
        self.grid = (h // 4, w // 4, c2)
        flat = math.prod(self.grid)
        self.conv1 = nnx.Conv(c, c1, (3, 3), strides=2, padding="SAME", rngs=rngs)
        self.conv2 = nnx.Conv(c1, c2, (3, 3), strides=2, padding="SAME", rngs=rngs)
        self.enc_dense = nnx.Linear(flat, width, rngs=rngs)
        self.to_stats = nnx.Linear(width, 2 * latent, rngs=rngs)
        self.dec_dense = nnx.Linear(latent, width, rngs=rngs)
        self.dec_grid = nnx.Linear(width, flat, rngs=rngs)
        self.deconv1 = nnx.ConvTranspose(c2, c1, (3, 3), strides=2, padding="SAME", rngs=rngs)
        self.deconv2 = nnx.ConvTranspose(c1, c, (3, 3), strides=2, padding="SAME", rngs=rngs)
        self.log_std = nnx.Param(jnp.zeros(math.prod(feature_shape)))

    def encode(self, x: Array) -> tuple[Array, Array]:
        h = jax.nn.relu(self.conv1(x))
        h = jax.nn.relu(self.conv2(h))
        h = jax.nn.relu(self.enc_dense(h.reshape(h.shape[0], -1)))
        mu, logvar = jnp.split(self.to_stats(h), 2, axis=-1)
        return mu, logvar

    def decode(self, z: Array) -> Array:
        h = jax.nn.relu(self.dec_dense(z))
        h = jax.nn.relu(self.dec_grid(h)).reshape(z.shape[0], *self.grid)
        h = jax.nn.relu(self.deconv1(h))
        return self.deconv2(h)


def build_vae(model: str, feature_shape: tuple[int, ...], latent: int, hidden: tuple[int, ...],
              rngs: nnx.Rngs) -> nnx.Module:
    if model == "mlp":
        return MLPVAE(feature_shape, latent, hidden, rngs=rngs)
    if model == "conv":
        return ConvVAE(feature_shape, latent, hidden, rngs=rngs)
    raise ValueError(f"generator.model must be 'mlp' or 'conv', got {model!r}")
