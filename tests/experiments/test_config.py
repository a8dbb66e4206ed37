"""Experiment-file validation: every mistake is one line naming the key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from labelleak.experiments.config import ConfigError, load_config, parse_config

BASE = {
    "name": "t",
    "seeds": [0],
    "datasets": [{"name": "digits", "singles": [0, 1], "pairs": 1}],
    "unlearning": {"methods": ["retrain", "finetune"], "params": {"finetune": {"epochs": 1}}},
    "knowledge": [{"name": "default", "aux_per_class": 2}],
    "shadow": {"methods": ["finetune"], "seed": 1000},
    "attacks": [
        {"name": "param-diff", "vary": {"decider": ["kmeans", "youden"]}},
        {"name": "noise-logprob", "params": {"n_queries": 8}},
    ],
}


def with_change(path, value):
    """BASE with the value at ``path`` (a tuple of keys / indices) replaced; ``...`` deletes it."""
    data = copy.deepcopy(BASE)
    node = data
    for key in path[:-1]:
        node = node[key]
    if value is ...:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


def test_valid_config_parses():
    config = parse_config(BASE)
    assert config.methods == ("retrain", "finetune")
    assert config.method_params == {"finetune": {"epochs": 1}}
    assert config.attacks[0].variants() == [{"decider": "kmeans"}, {"decider": "youden"}]
    assert config.knowledge[0].aux_per_class == 2 and config.knowledge[0].original


@pytest.mark.parametrize(
    "path, value, message",
    [
        (("colour",), "red", "unknown key 'colour'"),
        (("datasets", 0, "pairz"), 1, "unknown key datasets[0].'pairz'"),
        (("datasets", 0, "pairs"), -1, "datasets[0].pairs must be an integer in [0, 45], got -1"),
        (("datasets", 0, "singles"), [0, 10], "datasets[0].singles[1] must be an integer in [0, 9], got 10"),
        (("datasets", 0, "singles"), [3, 3], "datasets[0].singles must not repeat a class"),
        (("datasets", 0, "name"), "imagenet", "datasets[0].name must be a known dataset"),
        (("seeds",), [0, 0], "seeds must list at least one seed, without repeats"),
        (("seeds",), "0", "seeds must be a list"),
        (
            ("unlearning", "methods"),
            ["retrain", "forget-it"],
            "unlearning.methods[1] names no registered unlearning method: 'forget-it'; valid: ",
        ),
        (("unlearning", "params"), {"finetune": {"epochs": 0}}, "unlearning.params.finetune: epochs"),
        (("unlearning", "params"), {"finetune": {"epochz": 2}}, "unknown parameter 'epochz' for method 'finetune'"),
        (
            ("unlearning", "params"),
            {"gradient_ascent": {}},
            "unlearning.params.gradient_ascent sets parameters of a method not in",
        ),
        # removed: A built by leaving out the true forgotten classes names them
        (("knowledge", 0, "exclude_forgotten"), True, "unknown key knowledge[0].'exclude_forgotten'; valid keys: "),
        (("knowledge", 0, "aux_per_class"), -1, "knowledge[0].aux_per_class must be an integer in [0, 100000], got -1"),
        (("knowledge", 0, "aux_classes"), 0, "knowledge[0].aux_classes must be an integer in [1, 100000], got 0"),
        (("knowledge", 0, "aux_classes"), "half", "knowledge[0].aux_classes must be an integer in [1, 100000]"),
        (("knowledge", 0), {"aux_per_class": 0, "aux_classes": 3}, "knowledge[0].aux_classes needs a non-empty A"),
        (("knowledge", 0, "original"), "yes", "knowledge[0].original must be true or false"),
        (("shadow", "seed"), 0, "shadow.seed gives shadow seeds [0] that overlap the evaluation seeds [0]"),
        (("shadow", "train_fraction"), 2, "shadow.train_fraction must be a number in [0.1, 0.95], got 2"),
        (("shadow", "methods_per_set"), "each", "shadow.methods_per_set must be one of all, one, got 'each'"),
        (("attacks", 0, "name"), "param-magic", "attacks[0].name: unknown attack 'param-magic'; choose one of: "),
        (
            ("attacks", 0, "vary"),
            {"decider": ["kmeans", "oracle"]},
            "attacks[0] (param-diff {'decider': 'oracle'}): decider must be one of",
        ),
        (("attacks", 0, "vary"), {"decider": []}, "attacks[0].vary.decider must list at least one value"),
        (
            ("attacks", 1, "params"),
            {"n_querys": 8},
            "unknown key attacks[1].params.'n_querys' for attack 'noise-logprob'; valid: n_queries, source, seed",
        ),
        (("attacks", 1, "params"), {"n_queries": 0}, "n_queries must be an integer"),
        (("attacks", 1, "params"), {"calibration": 1}, "unknown key attacks[1].params.'calibration'"),
        (("attacks", 1, "calibrate"), True, "attacks[1].calibrate applies to inversion attacks only"),
        (("attacks",), [], "attacks must list at least one attack"),
        (("name",), ..., "missing required key name"),
    ],
)
def test_mistakes_are_one_line_errors_naming_the_key(path, value, message):
    with pytest.raises(ConfigError) as err:
        parse_config(with_change(path, value))
    text = str(err.value)
    assert message in text and "\n" not in text


def test_knowledge_settings_full_partial_and_data_free():
    settings = [
        {"name": "full", "aux_per_class": 2},
        {"name": "partial", "aux_per_class": 2, "aux_classes": 5},
        {"name": "data-free", "aux_per_class": 0},
    ]
    full, partial, free = parse_config(with_change(("knowledge",), settings)).knowledge
    assert (full.kind, partial.kind, free.kind) == ("full", "partial", "data-free")
    assert partial.aux_classes == 5 and full.aux_classes is None and free.aux_per_class == 0
    # the cache-key material: no exclude_forgotten any more, aux_classes only when set
    assert full.to_dict() == {
        "name": "full",
        "aux_per_class": 2,
        "unrelated": "noise",
        "unrelated_size": None,
        "original": True,
    }
    assert partial.to_dict() == {**full.to_dict(), "name": "partial", "aux_classes": 5}


def test_unknown_method_error_lists_valid_names():
    with pytest.raises(ConfigError) as err:
        parse_config(with_change(("unlearning", "methods"), ["nope"]))
    assert "retrain" in str(err.value) and "finetune" in str(err.value)


def test_methods_all_means_every_registered_method():
    from labelleak.unlearning import UNLEARNERS

    assert parse_config(with_change(("unlearning",), {"methods": "all"})).methods == tuple(UNLEARNERS.names())


def test_load_config_reports_file_and_toml_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(ConfigError, match=r"bad.toml is not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match=r"cannot read experiment file"):
        load_config(tmp_path / "missing.toml")
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(
        'name = "x"\ndatasets = [{name = "digits"}]\nunlearning = {methods = ["retrain"]}\n'
        'attacks = [{name = "random-guess", params = {seed = "one"}}]\n'
    )
    with pytest.raises(ConfigError, match=r"wrong.toml: attacks\[0\] \(random-guess .*seed must be an integer"):
        load_config(wrong)


def test_bundled_profiles_are_valid():
    from labelleak.cli.reproduce import PROFILES, configs_dir

    for name in PROFILES:
        assert load_config(configs_dir() / PROFILES[name]).name == name


def test_every_bundled_config_is_valid():
    from labelleak.cli.reproduce import configs_dir

    paths = sorted(configs_dir().glob("*.toml"))
    assert len(paths) >= 4
    for path in paths:
        assert load_config(path).name == path.stem


def test_dataset_level_method_params_override_the_global_ones():
    data = copy.deepcopy(BASE)
    data["datasets"][0]["params"] = {"finetune": {"lr": 0.05}}
    config = parse_config(data)
    assert config.params_for("digits", "finetune") == {"epochs": 1, "lr": 0.05}
    assert config.params_for("digits", "retrain") == {}
    data["datasets"][0]["params"] = {"finetune": {"lr": -1}}
    with pytest.raises(ConfigError, match=r"datasets\[0\]\.params\.finetune: lr"):
        parse_config(data)
    data["datasets"][0]["params"] = {"scrub": {}}
    with pytest.raises(ConfigError, match=r"datasets\[0\]\.params\.scrub sets parameters of a method not in"):
        parse_config(data)


def test_every_bundled_grid_runs_every_baseline():
    from labelleak.report.tables import BASELINES

    configs = Path(__file__).resolve().parents[2] / "configs"
    for path in sorted(configs.glob("*.toml")):
        names = {attack.name for attack in load_config(path).attacks}
        assert set(BASELINES) <= names, f"{path.name} lacks {sorted(set(BASELINES) - names)}"


def test_full_setting_keeps_its_cache_key_across_the_knowledge_redesign():
    from labelleak.experiments.config import KnowledgeConfig
    from labelleak.experiments.context import knowledge_key

    full = KnowledgeConfig(name="default", unrelated="noise", unrelated_size=64)
    # the key material a store written before partial and data-free settings existed was hashed from
    assert knowledge_key(full, 3) == {
        "aux_per_class": None,
        "unrelated": "noise",
        "unrelated_size": 64,
        "exclude_forgotten": False,
        "original": True,
        "seed": 3,
    }
    partial = KnowledgeConfig(name="partial", aux_classes=5)
    assert knowledge_key(partial, 3)["aux_classes"] == 5


def test_shadow_methods_per_set_reaches_the_shadow_config():
    assert parse_config(with_change(("shadow", "methods_per_set"), "one")).shadow.methods_per_set == "one"
    assert parse_config(with_change(("shadow", "pairs"), 1)).shadow.methods_per_set == "all"
