"""The packaged per-dataset defaults and the "did not forget" bound."""

from __future__ import annotations

import json

import pytest

from labelleak.targets import build_unlearner, original_config, unlearned_config
from labelleak.unlearning import UNLEARNERS, did_not_forget_warning, forget_bound, forgot
from labelleak.unlearning.defaults import dataset_defaults, load_defaults, write_defaults


def test_every_entry_is_valid_and_datasets_without_entries_keep_their_keys():
    table = load_defaults()
    assert {"digits", "mnist", "fashion-mnist", "cifar10"} <= set(table) and "svhn" not in table
    for name in UNLEARNERS.names():
        # a dataset without entries resolves the methods' own defaults, so its cache keys do not move
        assert build_unlearner(name, dataset="svhn").params() == build_unlearner(name).params()
        assert dataset_defaults("svhn", name) == {} and dataset_defaults(None, name) == {}
        # a method without an entry of its own does too, on a dataset that has entries for others
        if name not in table["fashion-mnist"]:
            assert build_unlearner(name, dataset="fashion-mnist").params() == build_unlearner(name).params()
    for dataset, entries in table.items():
        if dataset.startswith("_"):
            continue
        for method, params in entries.items():
            build_unlearner(method, params)


def test_explicit_parameters_win_over_the_dataset_defaults():
    digits = dataset_defaults("digits", "finetune")
    assert build_unlearner("finetune", dataset="digits").params()["epochs"] == digits["epochs"] != 2
    assert build_unlearner("finetune", {"epochs": 2}, dataset="digits").params()["epochs"] == 2
    # passing the digits default explicitly gives the same resolved parameters, hence the same key
    explicit = build_unlearner("finetune", dict(digits)).params()
    assert explicit == build_unlearner("finetune", dataset="digits").params()


def test_unlearn_original_applies_the_digits_defaults(digits, digits_model):
    from labelleak.targets import unlearn_original

    result = unlearn_original(digits_model, digits, method="finetune", forget_classes=[3], seed=0)
    assert result.params == build_unlearner("finetune", dataset="digits").params()
    key = unlearned_config(
        original_config(digits, seed=0), method="finetune", params=result.params, forget_classes=[3], seed=0
    )
    assert key["params"]["optimizer"] == "adam"


def test_write_defaults_keeps_the_rest_of_the_file(tmp_path):
    path = tmp_path / "defaults.json"
    path.write_text(json.dumps({"_about": "x", "digits": {"ssd": {"alpha": 1.0}}}))
    write_defaults("mnist", "scrub", {"lr": 1e-3}, path=path)
    table = load_defaults(path)
    assert table == {"digits": {"ssd": {"alpha": 1.0}}, "mnist": {"scrub": {"lr": 1e-3}}}
    assert json.loads(path.read_text())["_about"] == "x"


def test_forget_bound_is_max_of_20_percent_and_twice_chance():
    assert forget_bound(10) == pytest.approx(0.2) and forget_bound(5) == pytest.approx(0.4)
    assert forget_bound(100) == pytest.approx(0.2)
    assert forgot(0.2, 10) and not forgot(0.21, 10) and not forgot(float("nan"), 10)
    assert did_not_forget_warning("finetune", 0.05, 10) is None
    line = did_not_forget_warning("finetune", 0.9565, 10)
    assert line is not None and "DID NOT FORGET" in line and "95.7%" in line and "20%" in line
