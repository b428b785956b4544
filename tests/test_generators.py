import jax
import numpy as np
import pytest
from flax import nnx

from qsynth.data import digits
from qsynth.generators import VAE, GeneratorConfig, fit_generator, load_generator
from qsynth.generators import train as gen_train
from tests.helpers import tiny_moons

TINY_VAE = GeneratorConfig(latent=2, hidden=(32, 32), steps=600, batch_size=64, warmup=300, learning_rate=5e-3)


@pytest.fixture(scope="module")
def moons_vae():
    return fit_generator(jax.random.key(0), TINY_VAE, tiny_moons(0, 120).x)


def test_training_lowers_the_loss_and_reconstructs_held_out_data(moons_vae):
    data = tiny_moons(0, 120)
    nll = moons_vae.history["nll"]
    assert nll[-1] < nll[0]
    # held-out reconstruction is far better than predicting the mean
    assert moons_vae.reconstruction_error(data.x_test) < 0.5 * np.var(data.x_test, axis=0).mean()


def test_shapes_and_explicit_keys(moons_vae):
    z, x = moons_vae.sample(jax.random.key(3), 7)
    assert z.shape == (7, 2) and x.shape == (7, 2)
    z2, x2 = moons_vae.sample(jax.random.key(3), 7)
    np.testing.assert_array_equal(x, x2)
    assert moons_vae.encode(np.zeros((5, 2), np.float32)).shape == (5, 2)


def test_negative_elbo_matches_a_numpy_reference(moons_vae):
    """KL of a diagonal Gaussian to N(0, I), by hand, at the posterior the encoder gives."""
    gen, params = moons_vae.generator, moons_vae.params
    x = tiny_moons(0, 120).x[:9].astype(np.float32)
    mu, logvar = (np.asarray(a, np.float64) for a in gen.encode(params, x))
    kl_ref = np.mean(0.5 * np.sum(np.exp(logvar) + mu ** 2 - 1 - logvar, axis=1))
    _, kl = gen.negative_elbo(params, x, jax.random.key(0))
    np.testing.assert_allclose(float(kl), kl_ref, rtol=1e-4)


def test_save_and_load_round_trip(moons_vae, tmp_path):
    moons_vae.save(tmp_path / "gen")
    again = load_generator(tmp_path / "gen")
    z = np.random.default_rng(0).normal(size=(4, 2)).astype(np.float32)
    np.testing.assert_array_equal(again.decode(z), moons_vae.decode(z))
    assert again.generator == moons_vae.generator
    assert again.history == moons_vae.history


def test_conv_vae_on_images_compiles_once_per_data_size():
    data = digits(0, classes=(3, 8), n_test=60, as_images=True)
    before = gen_train.TRACE_COUNTS["fit"]
    cfg = GeneratorConfig(model="conv", latent=3, hidden=(32,), steps=200, batch_size=32)
    gen = fit_generator(jax.random.key(0), cfg, data.x)
    assert gen_train.TRACE_COUNTS["fit"] - before == 1  # two chunks of steps, one program
    z, x = gen.sample(jax.random.key(1), 5)
    assert x.shape == (5, 8, 8, 1) and np.all(np.isfinite(x))
    assert gen.encode(data.x_test[:4]).shape == (4, 3)


def test_bad_generator_input_is_named():
    with pytest.raises(ValueError, match="'conv' needs images"):
        VAE(GeneratorConfig(model="conv"), (64,)).graphdef
    with pytest.raises(ValueError, match="generator.latent"):
        GeneratorConfig(latent=0)
    with pytest.raises(ValueError, match="NaN"):
        fit_generator(jax.random.key(0), TINY_VAE, np.full((4, 2), np.nan, np.float32))


def test_decode_rejects_a_latent_of_the_wrong_size(moons_vae):
    with pytest.raises(ValueError, match=r"needs \[n, 2\]"):
        moons_vae.decode(np.zeros((3, 5), np.float32))


def test_conv_vae_fits_mnist_sized_images_abstractly():
    """28×28 MNIST-format images: shapes only (jax.eval_shape, no training)."""
    gen = VAE(GeneratorConfig(model="conv", latent=16), (28, 28, 1))
    params = jax.eval_shape(lambda: nnx.split(gen._build(nnx.Rngs(0)), nnx.Param)[1])
    x = jax.ShapeDtypeStruct((3, 28, 28, 1), np.float32)
    mu, logvar = jax.eval_shape(gen.encode, params, x)
    assert mu.shape == (3, 16) and logvar.shape == (3, 16)
    out = jax.eval_shape(gen.decode, params, jax.ShapeDtypeStruct((3, 16), np.float32))
    assert out.shape == (3, 28, 28, 1)
