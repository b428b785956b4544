import tomllib

import pytest

from qsynth.cli import _default_config_path
from qsynth.config import ConfigError, load_config, parse_config, strip_provenance, to_toml


def test_default_config_loads():
    cfg = load_config(_default_config_path())
    assert cfg.name == "default" and cfg.data.name == "moons" and len(cfg.strategies) >= 8


def test_round_trip_through_toml():
    cfg = load_config(_default_config_path())
    again = parse_config(strip_provenance(tomllib.loads(to_toml(cfg, {"jax": "x"}))))
    assert again == cfg


@pytest.mark.parametrize("table, message", [
    ({"learner": {"members": "five"}}, r"learner.members: expected an integer, got str 'five'"),
    ({"learner": {"hidden": [32, "wide"]}}, r"learner.hidden\[1\]: expected an integer"),
    ({"loop": {"budget": 10, "seed_sise": 3}}, r"loop.seed_sise: unknown field"),
    ({"loop": {"seed_size": 3}}, r"loop.budget: required field is missing"),
    ({"loop": {"budget": 2, "seed_size": 3}}, r"loop.budget \(2\) is smaller than loop.seed_size"),
    ({"data": {"name": "imagenet"}}, r"data.name: unknown dataset 'imagenet'"),
    ({"strategies": [{"kind": "random"}, {"kind": "oracle-peeking"}]}, r"strategies\[1\]: unknown strategy kind"),
    ({"strategies": [{"kind": "random"}, {"kind": "random"}]}, r"names \['random'\] appear twice"),
    ({"seeds": []}, "seeds: give at least one seed"),
    ({"learner": {"learning_rate": True}}, r"learner.learning_rate: expected a number"),
    ({"name": "a/b"}, "name: 'a/b' is not a valid run folder name"),
    ({"schema_version": 99}, "schema_version"),
    ({"targets": [90]}, "targets"),
    ({"colour": "red"}, "colour: unknown field"),
    ({"strategies": [{"kind": "synthesis"}]}, r"strategies\[0\]: 'synthesis-entropy' synthesizes new points.*teacher"),
    ({"strategies": [{"kind": "synthesis", "measure": "vote_entropy"}], "oracle": {"kind": "teacher"}},
     "not differentiable"),
    ({"generator": {"latent": 0}}, "generator.latent must be >= 1"),
    ({"generator": {"model": "gan"}}, "generator.model"),
    ({"oracle": {"kind": "crowd"}}, "oracle.kind"),
    ({"oracle": {"kind": "teacher", "threshold": 1.5}}, "oracle.threshold"),
])
def test_config_errors_name_the_field(table, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(table)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "none.toml")
    (tmp_path / "bad.toml").write_text("name = [unclosed")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path / "bad.toml")


@pytest.mark.parametrize("spec, message", [
    ({"kind": "synthesis", "starts": "many"}, r"strategies\[0\]: strategy 'synthesis': starts: expected an integer"),
    ({"kind": "input_synthesis", "learning_rate": "fast"}, r"learning_rate: expected a number, got str 'fast'"),
    ({"kind": "stream", "budget": "half"}, r"strategy 'stream': budget: expected a number"),
    ({"kind": "uncertainty", "batch": 3}, r"batch: expected a string, got int 3"),
])
def test_wrong_typed_strategy_fields_are_refused_naming_them(spec, message):
    from qsynth.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match=message):
        parse_config({"strategies": [spec], "oracle": {"kind": "teacher"}})
