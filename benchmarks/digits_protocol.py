"""The digits protocol shared by the benchmarks (one place, so every figure uses the same setup).

scikit-learn's digits, 10 classes, standardized, stratified 1,297 pool / 500 test (seeded),
10 seed labels (one per class), one query per round up to 300 labels.
"""

from __future__ import annotations

from qsynth.learners import LearnerConfig
from qsynth.loop import LoopConfig

#: The network ensemble: the learner of the strategy comparisons (committees need members).
LEARNER = LearnerConfig(model="mlp", hidden=(128,), members=5, dropout=0.4, learning_rate=0.01,
                        weight_decay=1e-4, steps=500, warm_steps=20, batch_size=64)
#: The exact GP with the covariance of an infinitely wide three-hidden-layer ReLU network:
#: refit exactly every round (no warm start to drift), a few milliseconds at these sizes.
NNGP_LEARNER = LearnerConfig(model="gp", kernel="nngp", depth=3, noise=0.01)
#: What `benchmarks/round_time.py --learner-name` chooses from; each run uses one of them for
#: both the label-efficiency and the speed figures.
LEARNERS = {"mlp_ensemble": LEARNER, "nngp": NNGP_LEARNER}
LOOP = LoopConfig(budget=300, seed_size=10, seed_strategy="stratified", batch_size=1, fsync=False)
SEEDS = (0, 1, 2, 3, 4)
