"""Generators whose latent space synthesis searches: the `Generator` protocol (and the `Encoder`
capability), and the VAE qsynth trains (MLP for vectors, conv for images)."""

from qsynth.generators.base import Encoder, Generator
from qsynth.generators.train import VAE, GeneratorConfig, TrainedGenerator, fit_generator, load_generator

__all__ = ["Encoder", "Generator", "GeneratorConfig", "TrainedGenerator", "VAE", "fit_generator", "load_generator"]
