"""modAL peer for the digits protocol; runs in the peers' own venv (scikit-learn 1.7.x, modAL 0.4.2.1).

Reads the split and seed indices qsynth made (an .npz), runs margin sampling with
MLPClassifier(128 hidden) one query per round, and prints JSON: per seed the accuracy after
each round and the seconds of each round (query + teach).
"""

import json
import sys
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")
from modAL.models import ActiveLearner  # noqa: E402
from modAL.uncertainty import margin_sampling  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402

data = np.load(sys.argv[1])
budget = int(sys.argv[2])
out = {}
for key in sorted(k for k in data.files if k.startswith("seed_idx_")):
    seed = int(key.rsplit("_", 1)[1])
    x, y, xt, yt = (data[f"{n}_{seed}"] for n in ("x", "y", "x_test", "y_test"))
    idx0 = data[key]
    available = np.ones(len(x), bool)
    available[idx0] = False
    learner = ActiveLearner(estimator=MLPClassifier(hidden_layer_sizes=(128,), random_state=seed),
                            query_strategy=margin_sampling, X_training=x[idx0], y_training=y[idx0])
    accs, secs = [learner.score(xt, yt)], []
    for _ in range(budget - len(idx0)):
        t0 = time.perf_counter()
        cand = np.flatnonzero(available)
        q, _ = learner.query(x[cand])
        chosen = cand[np.asarray(q).ravel()]
        learner.teach(x[chosen], y[chosen])
        secs.append(time.perf_counter() - t0)
        available[chosen] = False
        accs.append(learner.score(xt, yt))
    out[seed] = {"accuracy": accs, "seconds": secs, "labels": list(range(len(idx0), budget + 1))}
print(json.dumps(out))
