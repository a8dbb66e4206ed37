"""The cached ``unlearn_original`` stage."""

from __future__ import annotations

import pytest
import torch

from labelleak.models import TrainConfig
from labelleak.targets import (
    is_original_stored,
    is_unlearned_stored,
    original_config,
    parse_method_spec,
    train_original,
    unlearn_original,
)
from labelleak.validation import ParameterError


@pytest.fixture(scope="module")
def small_original(digits):
    return train_original(digits, seed=0, train_config=TrainConfig(epochs=15, lr=1e-3, batch_size=64))


def test_second_call_loads_the_stored_result(digits, small_original, store):
    first = unlearn_original(
        small_original, digits, method="retrain", params={"epochs": 2}, forget_classes=[3], seed=0, store=store
    )
    assert not first.cached and first.path.startswith(str(store.root / "unlearned"))
    second = unlearn_original(
        small_original, digits, method="retrain", params={"epochs": 2}, forget_classes=[3], seed=0, store=store
    )
    assert second.cached and second.path == first.path
    assert second.metrics == pytest.approx(first.metrics)
    assert second.params == first.params == {"epochs": 2} and second.forget_classes == (3,)
    assert all(torch.equal(v, second.model.state_dict()[k]) for k, v in first.model.state_dict().items())


def test_cache_key_uses_resolved_parameters_and_sorted_classes(digits, small_original, store):
    a = unlearn_original(small_original, digits, method="boundary_shrink", forget_classes=[5, 0], store=store)
    defaults = dict(a.params)
    b = unlearn_original(
        small_original, digits, method="boundary_shrink", params=defaults, forget_classes=[0, 5], store=store
    )
    assert b.cached and b.path == a.path and a.forget_classes == (0, 5)


@pytest.mark.parametrize(
    "change", [{"seed": 1}, {"params": {"epochs": 3}}, {"forget_classes": [4]}, {"method": "boundary_expanding"}]
)
def test_any_change_in_the_config_misses_the_cache(change, digits, small_original, store):
    base = {"method": "boundary_shrink", "params": {"epochs": 2}, "forget_classes": [3], "seed": 0}
    first = unlearn_original(small_original, digits, store=store, **base)
    other = unlearn_original(small_original, digits, store=store, **{**base, **change})
    assert not other.cached and other.path != first.path


def test_without_a_store_nothing_is_written(digits, small_original, tmp_path):
    result = unlearn_original(
        small_original, digits, method="boundary_shrink", params={"epochs": 1}, forget_classes=[3]
    )
    assert result.path == "" and not result.cached


def test_wrong_dataset_is_refused(small_original):
    class OtherDataset:
        name = "mnist"

    with pytest.raises(ParameterError, match="trained on 'digits'"):
        unlearn_original(small_original, OtherDataset(), method="finetune", forget_classes=[3])  # type: ignore[arg-type]


def test_unknown_method_and_parameter(digits, small_original):
    from labelleak.registry import UnknownNameError

    with pytest.raises(UnknownNameError, match="unknown unlearning method 'nope'"):
        unlearn_original(small_original, digits, method="nope", forget_classes=[3])
    with pytest.raises(ParameterError, match="unknown parameter 'foo' for method 'retrain'; valid: epochs"):
        unlearn_original(small_original, digits, method="retrain", params={"foo": 1}, forget_classes=[3])


def test_what_is_stored_can_be_asked_before_anything_is_trained(digits, store):
    recipe = TrainConfig(epochs=2, lr=1e-3, batch_size=64)
    config = original_config(digits, seed=3, train_config=recipe)
    ask = {"method": "retrain", "params": {"epochs": 1}, "forget_classes": [2], "seed": 3, "store": store}
    assert not is_original_stored(digits, seed=3, train_config=recipe, store=store)
    assert not is_unlearned_stored(config, digits, **ask)
    original = train_original(digits, seed=3, train_config=recipe, store=store)
    assert is_original_stored(digits, seed=3, train_config=recipe, store=store)
    assert not is_original_stored(digits, seed=4, train_config=recipe, store=store)
    unlearn_original(original, digits, **ask)
    # asked by θ_o's config, as before training it, or by θ_o itself
    assert is_unlearned_stored(config, digits, **ask) and is_unlearned_stored(original, digits, **ask)


def test_a_method_spec_names_the_method_and_its_parameters():
    assert parse_method_spec("random_labels") == ("random_labels", {})
    assert parse_method_spec(" gradient_ascent:ascend_on=all ") == ("gradient_ascent", {"ascend_on": "all"})
    assert parse_method_spec("neggrad_plus:epochs=3:lr=0.5:stop_below=none:verbose=True") == (
        "neggrad_plus",
        {"epochs": 3, "lr": 0.5, "stop_below": None, "verbose": True},
    )
    for bad, message in (
        ("finetune:epochs", "read key=value, got 'epochs'"),
        ("finetune:=3", "read key=value, got '=3'"),
        ("finetune:epochs=1:epochs=2", "gives 'epochs' twice"),
    ):
        with pytest.raises(ParameterError, match=message):
            parse_method_spec(bad)


def test_a_spec_unlearns_with_its_parameters_and_keys_its_own_model(digits, small_original, store):
    name, params = parse_method_spec("gradient_ascent:lr=0.01")
    spec = unlearn_original(small_original, digits, method=name, params=params, forget_classes=[3], store=store)
    plain = unlearn_original(small_original, digits, method="gradient_ascent", forget_classes=[3], store=store)
    assert spec.params["lr"] == 0.01 and plain.params["lr"] != 0.01
    assert store.counts[("unlearned", "computed")] == 2


def test_a_pinned_thread_count_is_part_of_the_key_and_an_unpinned_one_is_not(digits, small_original, store):
    recipe = TrainConfig(epochs=1, lr=1e-3, batch_size=64)
    assert "threads" not in original_config(digits, seed=0, train_config=recipe)
    assert original_config(digits, seed=0, train_config=recipe, threads=1)["threads"] == 1
    # a θ_o stored unpinned is not what a pinned call loads, nor the other way round
    train_original(digits, seed=0, train_config=recipe, store=store)
    assert is_original_stored(digits, seed=0, train_config=recipe, store=store)
    assert not is_original_stored(digits, seed=0, train_config=recipe, threads=1, store=store)
    unlearn_original(small_original, digits, method="retrain", params={"epochs": 1}, forget_classes=[3], store=store)
    arguments = dict(method="retrain", params={"epochs": 1}, forget_classes=[3], store=store)
    assert is_unlearned_stored(small_original, digits, **arguments)
    assert not is_unlearned_stored(small_original, digits, threads=1, **arguments)
    with pytest.raises(ParameterError, match="threads"):
        original_config(digits, threads=0)
