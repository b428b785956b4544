"""Recommended settings per task kind, as plain config tables (what `[learner]` and a
`[[strategies]]` entry of a TOML config hold), chosen by measurement.

Box tasks (a simulator's or a function's parameter box, binary success labels): chosen on the
boundary suite's tuning seeds 0–4 (`experiments/boundaries.py`; docs/results.md, "Boundaries"),
then confirmed once on seeds 100–109; the lengthscale criterion and `rescore` chosen on seeds
0–9 and confirmed on 100–109 (2026-12-07):

* `box_learner()`: the exact GP (Matérn-5/2 on the ±1 label) with its lengthscale chosen at
  every fit by the leave-one-out probit likelihood of the labels, each class weighed alike
  (`loo_balanced`) — its uncertainty grows with the distance from the labels
  (`tests/test_distance_aware.py`), which the MLP ensemble's does not; LOO kept it steady where
  the marginal likelihood swung (4-D), and weighing the classes alike keeps a rare success
  region (the projectile's thin band) from being smoothed away;
* `box_synthesis()`: input synthesis climbing `boundary_information` (the information an answer
  gives about the classes of target inputs still in doubt: EPIG's quantity, weighed by doubt),
  256 starts × 50 steps, the query picked by the measure over fresh targets (`rescore`), its
  batches by the distance rule (the believer did no better there);
* `box_pool()`: pool sampling ranking the same measure (targets drawn from the pool), its
  batches by the kriging believer (`batch = "believer"`: chosen on the batch experiment's
  seeds 0–4 and confirmed on 100–104, `experiments/batch_spread.py`; with one query per round it
  is the top one, so the boundary table's numbers are unchanged);
* `box_random()`: the passive baseline, with the same learner.

Use them as they are or as a starting point::

    from qsynth import recommended
    config = parse_config({..., "learner": recommended.box_learner(),
                           "strategies": [recommended.box_synthesis(), recommended.box_pool(),
                                          recommended.box_random()]})

Each call returns a fresh table, yours to change.

Pools of vectors and images: a 5-member MLP ensemble with pool uncertainty sampling for vectors
(`experiments/breast_cancer.toml`), the network GP (`experiments/digits_nngp.toml`) for images and
other many-class data (docs/results.md). To synthesize on a low-dimensional pool (latent or input
synthesis), use `pool_learner()` with both synthesis arms on `boundary_information` and
`targets = "pool"`, as `qsynth/configs/default.toml` does: chosen on the default job's (two
moons) seeds 0–9 and 100–119, confirmed on 120–129 and, with all eleven arms, on 130–139
(`experiments/default_job.py`; docs/results.md, "The recommended GP on the default job").

Synthesis on images labeled by a teacher or a person who may say "can't tell":
`image_synthesis()`, latent synthesis between the two most likely classes from encodings of
pool images, with answerability modelled on the learner's confidence and the query's distance
to the nearest real images: on all ten digits (the 5-member MLP ensemble and the VAE of
`experiments/synthesis_digits_all.toml`) it abstained on 16% of its queries against 26–27%
without answerability, and was level with pool margin sampling at 40 labels — chosen on seeds
10–12, run on 0–9, confirmed on 20–29 (`experiments/answerability_digits.py`; docs/results.md,
"Answerability").
"""

from __future__ import annotations

from typing import Any

__all__ = ["box_learner", "box_pool", "box_random", "box_synthesis", "image_synthesis", "pool_learner"]


def box_learner() -> dict[str, Any]:
    """`[learner]`: the exact GP, Matérn-5/2, lengthscale by the class-balanced leave-one-out
    probit likelihood (`lengthscale_by = "loo_balanced"`)."""
    return {"model": "gp", "kernel": "matern52", "lengthscale_by": "loo_balanced"}


def pool_learner() -> dict[str, Any]:
    """`[learner]` for synthesis on a low-dimensional pool: the exact GP, Matérn-5/2, its
    lengthscale by the leave-one-out probit likelihood (the plain sum: the default job's classes
    are balanced), at the top of that curve's first hill (`lengthscale_peak = "shortest"`). Synthesis
    crowds the labels along the boundary, where the LOO curve can rise again at long lengthscales
    (a smooth surface that predicts the crowded labels and misses the rest of the pool); on the
    default job that choice cost latent synthesis 0.016 accuracy on seeds 100–109."""
    return {"model": "gp", "kernel": "matern52", "lengthscale_by": "loo", "lengthscale_peak": "shortest"}


def box_synthesis() -> dict[str, Any]:
    """A `[[strategies]]` entry: input synthesis on `boundary_information`, 256 starts × 50 steps,
    the query picked by the measure over 1,024 fresh targets (`rescore`)."""
    return {"kind": "input_synthesis", "measure": "boundary_information", "starts": 256, "steps": 50,
            "learning_rate": 0.05, "min_distance": 0.02, "rescore": True}


def box_pool() -> dict[str, Any]:
    """A `[[strategies]]` entry: pool sampling on `boundary_information`, batches by the believer."""
    return {"kind": "uncertainty", "measure": "boundary_information", "batch": "believer"}


def box_random() -> dict[str, Any]:
    """A `[[strategies]]` entry: random sampling (uniform pool points)."""
    return {"kind": "random"}


def image_synthesis() -> dict[str, Any]:
    """A `[[strategies]]` entry: latent synthesis on `smooth_margin` from pool encodings (256
    starts × 20 steps), answerability in `"confidence+support"` space (needs a generator and a
    pool)."""
    return {"kind": "synthesis", "measure": "smooth_margin", "starts": 256, "steps": 20, "learning_rate": 0.02,
            "realism": 0.1, "start_from": "pool", "answerability_space": "confidence+support"}
