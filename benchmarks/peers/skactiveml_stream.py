"""scikit-activeml peer for the stream budgets experiment; runs in the peers' own venv
(scikit-activeml 1.0.x, scikit-learn 1.7.x).

Reads the streams qsynth ran (an .npz written by `experiments/stream_budgets.py --peer`:
per seed the stream `x_<s>`, its labels `y_<s>`, the test inputs `x_test_<s>`, the test labels
of the concept in force at each reporting position `y_test_at_<s>` [positions, n_test], and
the indices of the seed labels `seed_idx_<s>`), runs scikit-activeml's fixed uncertainty,
variable uncertainty, randomized variable uncertainty, split and random stream strategies
at each budget with a logistic regression refit on every new label (on the newest `window`
labels when a window is given), and prints JSON: policy -> budget -> {"curves": per seed the
accuracy at each position, "labels": per seed the labels used (seed labels included)}.

    python skactiveml_stream.py STREAMS.npz "0.05 0.1 0.2" [WINDOW]
"""

import json
import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")
from sklearn.linear_model import LogisticRegression  # noqa: E402
from skactiveml.classifier import SklearnClassifier  # noqa: E402
from skactiveml.stream import (  # noqa: E402
    FixedUncertainty,
    RandomVariableUncertainty,
    Split,
    StreamRandomSampling,
    VariableUncertainty,
)

POLICIES = {
    "random": lambda b, s: StreamRandomSampling(budget=b, random_state=s),
    "fixed_uncertainty": lambda b, s: FixedUncertainty(classes=[0, 1], budget=b, random_state=s),
    "variable_uncertainty": lambda b, s: VariableUncertainty(budget=b, random_state=s),
    "randomized_variable_uncertainty": lambda b, s: RandomVariableUncertainty(budget=b, random_state=s),
    "split": lambda b, s: Split(budget=b, random_state=s),
}


def run(x, y, x_test, y_test_at, seed_idx, positions, policy, budget, seed, window):
    clf = SklearnClassifier(LogisticRegression(), classes=[0, 1], random_state=seed)
    lab_x, lab_y = [x[i] for i in seed_idx], [int(y[i]) for i in seed_idx]
    clf.fit(np.asarray(lab_x), np.asarray(lab_y))
    qs = POLICIES[policy](budget, seed)
    stops = {int(round(p * len(x))) - 1: k for k, p in enumerate(positions)}
    curve = [np.nan] * len(positions)
    for t in range(len(x)):
        cand = x[t:t + 1]
        queried = qs.query(cand) if policy == "random" else qs.query(cand, clf=clf)
        qs.update(cand, queried)
        if len(queried):
            lab_x.append(x[t])
            lab_y.append(int(y[t]))
            keep = slice(-window, None) if window else slice(None)
            clf.fit(np.asarray(lab_x[keep]), np.asarray(lab_y[keep]))
        if t in stops:
            k = stops[t]
            curve[k] = float(np.mean(clf.predict(x_test) == y_test_at[k]))
    return curve, len(lab_y)


def main():
    data = np.load(sys.argv[1])
    budgets = [float(b) for b in sys.argv[2].split()]
    window = int(sys.argv[3]) if len(sys.argv) > 3 and int(sys.argv[3]) > 0 else None
    positions = data["positions"]
    seeds = sorted(int(k.rsplit("_", 1)[1]) for k in data.files if k.startswith("seed_idx_"))
    out = {}
    for policy in POLICIES:
        for budget in budgets:
            cell = out.setdefault(policy, {}).setdefault(f"{budget:g}", {"curves": [], "labels": []})
            for s in seeds:
                curve, labels = run(data[f"x_{s}"], data[f"y_{s}"], data[f"x_test_{s}"], data[f"y_test_at_{s}"],
                                    data[f"seed_idx_{s}"], positions, policy, budget, s, window)
                cell["curves"].append(curve)
                cell["labels"].append(labels)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
