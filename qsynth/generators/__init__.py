"""Generators whose latent space synthesis searches: a VAE (MLP for vectors, conv for images)."""

from qsynth.generators.train import Generator, GeneratorConfig, TrainedGenerator, fit_generator, load_generator

__all__ = ["Generator", "GeneratorConfig", "TrainedGenerator", "fit_generator", "load_generator"]
