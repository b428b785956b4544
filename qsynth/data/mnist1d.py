"""MNIST-1D (Greydanus 2020): ten 1-D digit templates, procedurally transformed.

Written here from the paper's recipe so that no download is needed: each template is
padded, dilated, scaled, translated, given correlated background noise and i.i.d. noise,
sheared and resampled to 40 points. With the default arguments and seed, the arrays equal
those of the reference `mnist1d` package (tested where that package is installed): the
draws come from an explicit `np.random.RandomState(seed)`, which yields the same stream
as the reference's global `np.random.seed(seed)` without touching global state.

References:
  Greydanus, S. & Kobak, D. (2020). Scaling Down Deep Learning with MNIST-1D. arXiv:2011.14439.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from qsynth.data.datasets import Dataset

__all__ = ["MNIST1DArgs", "make_mnist1d", "mnist1d", "mnist1d_templates"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class MNIST1DArgs:
    """The generator's parameters (the reference's defaults)."""

    num_samples: int = 5000
    train_split: float = 0.8
    template_len: int = 12
    padding: tuple[int, int] = (36, 60)
    scale_coeff: float = 0.4
    max_translation: int = 48
    corr_noise_scale: float = 0.25
    iid_noise_scale: float = 2e-2
    shear_scale: float = 0.75
    final_seq_length: int = 40
    seed: int = 42


def mnist1d_templates() -> tuple[np.ndarray, np.ndarray]:
    """The ten 12-point templates, whitened and starting at 0: (x [10, 12], t [12])."""
    x = np.asarray([
        [5, 6, 6.5, 6.75, 7, 7, 7, 7, 6.75, 6.5, 6, 5],
        [5, 3, 3, 3.4, 3.8, 4.2, 4.6, 5, 5.4, 5.8, 5, 5],
        [5, 6, 6.5, 6.5, 6, 5.25, 4.75, 4, 3.5, 3.5, 4, 5],
        [5, 6, 6.5, 6.5, 6, 5, 5, 6, 6.5, 6.5, 6, 5],
        [5, 4.4, 3.8, 3.2, 2.6, 2.6, 5, 5, 5, 5, 5, 5],
        [5, 3, 3, 3, 3, 5, 6, 6.5, 6.5, 6, 4.5, 5],
        [5, 4, 3.5, 3.25, 3, 3, 3, 3, 3.25, 3.5, 4, 5],
        [5, 7, 7, 6.6, 6.2, 5.8, 5.4, 5, 4.6, 4.2, 5, 5],
        [5, 4, 3.5, 3.5, 4, 5, 5, 4, 3.5, 3.5, 4, 5],
        [5, 4, 3.5, 3.5, 4, 5, 5, 5, 5, 4.7, 4.3, 5],
    ])
    x = x - x.mean(1, keepdims=True)
    x = x / x.std(1, keepdims=True)
    x = x - x[:, :1]
    return x / 6.0, np.linspace(-5, 5, x.shape[1]) / 6.0


def _interpolate(x: np.ndarray, n: int) -> np.ndarray:
    return np.interp(np.linspace(0, 1, n), np.linspace(0, 1, len(x)), x)


def _transform(x: np.ndarray, args: MNIST1DArgs, rng: np.random.RandomState, eps: float = 1e-8) -> np.ndarray:
    from scipy.ndimage import gaussian_filter1d

    low, high = args.padding
    pad = low + int(rng.rand() * (high - low + 1))
    out = np.concatenate([x + eps, np.zeros(pad)])
    out = _interpolate(out, args.template_len + high)  # dilate
    out = out * (1 + args.scale_coeff * (rng.rand() - 0.5))  # scale
    k = rng.choice(args.max_translation)  # translate (roll right by k)
    out = np.concatenate([out[-k:], out[:-k]]) if k else np.concatenate([out, out[:0]])
    mask = out != 0
    corr = gaussian_filter1d(args.corr_noise_scale * rng.randn(*out.shape), 2)
    out = mask * out + (1 - mask) * corr
    out = out + args.iid_noise_scale * rng.randn(*out.shape)
    coeff = args.shear_scale * (rng.rand() - 0.5)  # shear
    out = out - coeff * np.linspace(-0.5, 0.5, len(out))
    return _interpolate(out, args.final_seq_length)


def make_mnist1d(args: MNIST1DArgs = MNIST1DArgs()) -> dict[str, np.ndarray]:
    """The raw arrays: {"x", "y", "x_test", "y_test"} ([n, 40] float64 and [n] int)."""
    templates, _ = mnist1d_templates()
    rng = np.random.RandomState(args.seed)
    per_class = args.num_samples // len(templates)
    xs, ys = [], []
    for label, template in enumerate(templates):
        for _ in range(per_class):
            xs.append(_transform(template, args, rng))
            ys.append(label)
    order = rng.permutation(len(ys))
    x, y = np.stack(xs)[order], np.asarray(ys)[order]
    x = (x - x.mean()) / x.std()
    split = int(len(y) * args.train_split)
    return {"x": x[:split], "y": y[:split], "x_test": x[split:], "y_test": y[split:]}


def mnist1d(seed: int = 42, *, num_samples: int = 5000, as_images: bool = False) -> Dataset:
    """MNIST-1D as a `Dataset`: 4,000 pool / 1,000 test sequences of length 40, ten classes.

    Args:
      seed: the generator's seed (42 reproduces the published arrays).
      num_samples: total sequences (split 80/20).
      as_images: feature shape (40, 1) for a 1-D CNN instead of (40,).
    """
    raw = make_mnist1d(MNIST1DArgs(seed=seed, num_samples=num_samples))
    x, x_test = raw["x"], raw["x_test"]
    if as_images:
        x, x_test = x[..., None], x_test[..., None]
    return Dataset(name="mnist1d", x=x, y=raw["y"], x_test=x_test, y_test=raw["y_test"], classes=tuple(range(10)))
