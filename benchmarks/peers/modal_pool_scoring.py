"""modAL peer for pool scoring: a Committee of 5 MLPClassifier(128) with vote-entropy sampling.

Prints JSON {pool size: best-of-3 seconds for one query over the whole pool}.
"""

import json
import sys
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")
from modAL.disagreement import vote_entropy_sampling  # noqa: E402
from modAL.models import ActiveLearner, Committee  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402

rng = np.random.default_rng(0)
w = rng.normal(size=20)
x0 = rng.normal(size=(200, 20))
y0 = (x0 @ w > 0).astype(int)
members = [ActiveLearner(estimator=MLPClassifier(hidden_layer_sizes=(128,), max_iter=50, random_state=k),
                         X_training=x0, y_training=y0) for k in range(5)]
committee = Committee(learner_list=members, query_strategy=vote_entropy_sampling)
out = {}
for n in [int(s) for s in sys.argv[1:]]:
    pool = rng.normal(size=(n, 20))
    best = float("inf")
    for _ in range(3 if n < 10**6 else 1):
        t0 = time.perf_counter()
        committee.query(pool)
        best = min(best, time.perf_counter() - t0)
    out[n] = best
print(json.dumps(out))
