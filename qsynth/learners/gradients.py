"""Per-example gradient norms of a network's cross-entropy, for every candidate label.

`‖∇_θ CE(f_θ(x_i), c)‖` for each point i and label c, `[n, classes]`, of one network's
parameters (no member axis): exactly, for any network, from per-example gradients
(`vmap(grad)`); and in closed form, without materializing a gradient, for the built-in dense
ReLU networks (logistic regression, MLP): a dense layer's weight gradient for one example is
the outer product `a ⊗ δ` of its input and its output's error, so its squared norm is
`‖a‖² · ‖δ‖²`, and the errors for all candidate labels come from one backward pass of
`[n, classes, width]`.

References:
  Goodfellow (2015). Efficient Per-Example Gradient Computations. arXiv:1510.01799.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax import Array

__all__ = ["dense_relu_gradient_norms", "per_example_gradient_norms"]


def per_example_gradient_norms(logits: Callable[[Any, Array], Array], net: Any, x: Array,
                               num_classes: int, offset: Array | None = None) -> Array:
    """`[n, classes]` norms from per-example gradients of `logits(net, x: [1, ...]) -> [1, classes]`;
    `offset` `[n, classes]`, fixed logits added to the network's (a randomized prior's), or None."""
    labels = jnp.arange(num_classes)
    offset = jnp.zeros((x.shape[0], num_classes), jnp.float32) if offset is None else offset

    def loss(net: Any, xi: Array, oi: Array, c: Array) -> Array:
        return optax.softmax_cross_entropy_with_integer_labels(logits(net, xi[None])[0] + oi, c)

    def norms(xi: Array, oi: Array) -> Array:  # [c]
        grads = jax.vmap(lambda c: jax.grad(loss)(net, xi, oi, c))(labels)
        sq = sum(jnp.sum(jnp.reshape(g, (g.shape[0], -1)) ** 2, axis=1) for g in jax.tree.leaves(grads))
        return jnp.sqrt(sq)

    return jax.vmap(norms)(x, offset)


def dense_relu_gradient_norms(layers: Sequence[Any], x: Array, num_classes: int, offset: Array | None = None) -> Array:
    """`[n, classes]` norms, in closed form, of a chain of dense layers with ReLU between them
    (`offset` `[n, classes]`: fixed logits added to the last layer's, or None).

    `layers`: NNX `Linear` modules (kernel [in, out], bias [out]), the last one giving logits.
    With inputs `a_l` and pre-activations `z_l` of layer l, the error at the output for label
    c is `softmax(z_L) − e_c`, and `δ_{l−1} = (δ_l W_lᵀ) ⊙ 1[z_{l−1} > 0]`; each layer adds
    `(‖a_l‖² + 1) · ‖δ_l‖²` (weight and bias) to the squared norm.
    """
    a = x.reshape(x.shape[0], -1)
    inputs, pre = [], []
    for layer in layers:
        inputs.append(a)
        z = a @ layer.kernel[...] + layer.bias[...][None, :]
        pre.append(z)
        a = jax.nn.relu(z)
    probs = jax.nn.softmax(pre[-1] if offset is None else pre[-1] + offset, axis=-1)  # [n, c]
    delta = probs[:, None, :] - jnp.eye(num_classes, dtype=probs.dtype)[None]  # [n, c (label), c]
    sq = jnp.zeros(delta.shape[:2], probs.dtype)
    for i in range(len(layers) - 1, -1, -1):
        sq = sq + (jnp.sum(inputs[i] ** 2, axis=-1) + 1.0)[:, None] * jnp.sum(delta ** 2, axis=-1)
        if i > 0:
            delta = jnp.where((pre[i - 1] > 0)[:, None, :], delta @ layers[i].kernel[...].T, 0.0)
    return jnp.sqrt(sq)
