"""`qsynth list`: every name a config may use, with fields and defaults read from the code."""

from __future__ import annotations

import pytest

from qsynth.catalog import REQUIRED, dataset_arguments, describe, strategy_fields
from qsynth.cli import main
from qsynth.data.arguments import check_dataset_args
from qsynth.data.registry import DATASETS
from qsynth.strategies.registry import STRATEGY_KINDS, build_strategy


@pytest.mark.parametrize("kind", sorted(STRATEGY_KINDS))
def test_every_listed_strategy_field_and_default_is_what_the_builder_uses(kind):
    fields = dict(strategy_fields(kind))
    given = {k: v for k, v in fields.items() if v is not None}
    built = build_strategy({"kind": kind, **given})
    default = build_strategy({"kind": kind})
    assert built == default  # the listed defaults are the builder's defaults
    if kind != "stream":
        for name, value in given.items():
            assert getattr(default, name) == value, (kind, name)
    with pytest.raises(ValueError, match="unknown field"):
        build_strategy({"kind": kind, "not_a_field": 1})


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_every_listed_dataset_argument_is_accepted_with_its_default(name):
    args = dict(dataset_arguments(name))
    assert "seed" not in args
    given = {k: v for k, v in args.items() if v is not None and v != REQUIRED}
    if REQUIRED not in args.values():
        check_dataset_args(name, given)


def test_qsynth_list_prints_fields_and_arguments(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert out.strip() == describe()
    assert 'breast_cancer        n_test = 169, standardize_features = true' in out
    assert 'synthesis            measure = "entropy", starts = 256, steps = 100' in out
    assert "stream               policy = \"variable_uncertainty\", budget = 0.1" in out
    for kind in STRATEGY_KINDS:
        assert f"\n  {kind} " in out


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="unknown strategy kind"):
        strategy_fields("nope")
    with pytest.raises(ValueError, match="unknown dataset"):
        dataset_arguments("nope")


def test_breast_cancer_is_the_bundled_wisconsin_data():
    from qsynth.data.datasets import breast_cancer

    d = breast_cancer(0)
    assert d.x.shape == (400, 30) and d.x_test.shape == (169, 30) and d.classes == (0, 1)
    assert d.meta["class_names"] == ["malignant", "benign"] and len(d.meta["feature_names"]) == 30
    assert int((d.y == 0).sum() + (d.y_test == 0).sum()) == 212  # malignant
    assert abs(int((d.y_test == 0).sum()) - round(169 * 212 / 569)) <= 1  # stratified
    assert abs(float(d.x.mean())) < 1e-5
    with pytest.raises(Exception, match="data.args.n_test"):
        check_dataset_args("breast_cancer", {"n_test": 569})
