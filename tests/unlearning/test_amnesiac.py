"""The two Amnesiacs: the codebases' relabelling recipe and Graves et al.'s update subtraction."""

from __future__ import annotations

import pytest
import torch

from labelleak.targets import build_unlearner, load_update_record, train_original, unlearn_original
from labelleak.unlearning import UNLEARNERS
from labelleak.unlearning.amnesiac_updates import UpdateRecord
from labelleak.unlearning.defaults import dataset_defaults
from labelleak.validation import ParameterError


def test_amnesiac_defaults_are_the_codebases_recipe():
    params = UNLEARNERS.get("amnesiac")().params()
    assert params == {"epochs": 3, "lr": 1e-4, "batch_size": 128, "optimizer": "adam", "weight_decay": 0.0}
    with pytest.raises(ParameterError, match="epochs"):
        UNLEARNERS.get("amnesiac")(epochs=0)


def test_amnesiac_relabels_among_the_other_classes_and_forgets(digits, digits_model, monkeypatch):
    from labelleak.unlearning import amnesiac

    drawn = []
    original_draw = amnesiac.random_other_labels

    def spy(y, num_classes, *, exclude, generator):
        out = original_draw(y, num_classes, exclude=exclude, generator=generator)
        drawn.append(out)
        return out

    monkeypatch.setattr(amnesiac, "random_other_labels", spy)
    result = UNLEARNERS.get("amnesiac")(lr=1e-3).unlearn(digits_model.model, forget_classes=[0, 5], data=digits, seed=0)
    (labels,) = drawn
    assert not torch.isin(labels, torch.tensor([0, 5])).any() and len(torch.unique(labels)) == 8
    assert result.metrics["forget_test_acc"] <= 0.2 and result.metrics["retain_test_acc"] > 0.9


def test_amnesiac_differs_from_random_labels(digits, digits_model):
    a = UNLEARNERS.get("amnesiac")(lr=0.01, epochs=1, optimizer="sgd").unlearn(
        digits_model.model, forget_classes=[3], data=digits, seed=0
    )
    b = UNLEARNERS.get("random_labels")(lr=0.01, epochs=1, weight_decay=0.0).unlearn(
        digits_model.model, forget_classes=[3], data=digits, seed=0
    )
    assert not torch.equal(a.model.head.weight, b.model.head.weight)


def test_update_record_sums_to_the_whole_training(digits, digits_model, digits_record):
    # every step lands in one group, so the groups' updates add up to θ_o − θ_init
    from labelleak.models import ModelSpec, build_model

    init = build_model(ModelSpec.from_dict(digits_model.config["spec"]), seed=0)
    for name, p in digits_model.model.named_parameters():
        total = sum(group[name] for group in digits_record.updates.values())
        assert torch.allclose(total, p.detach() - dict(init.named_parameters())[name].detach(), atol=1e-4)
    assert sum(digits_record.steps.values()) == 40 * 22  # 40 epochs of 22 batches of 64
    # small K, batches of 64: almost every batch holds class 3
    assert 0.9 < digits_record.fraction_touching([3]) <= 1.0
    back = UpdateRecord.from_tensors(digits_record.to_tensors())
    assert back.steps == digits_record.steps and back.nbytes() == digits_record.nbytes()


def test_amnesiac_updates_needs_the_record(digits, digits_model):
    with pytest.raises(ParameterError, match="record-updates"):
        build_unlearner("amnesiac_updates").unlearn(digits_model.model, forget_classes=[3], data=digits, seed=0)
    with pytest.raises(ParameterError, match="record"):
        unlearn_original(digits_model, digits, method="amnesiac_updates", forget_classes=[3])


def test_amnesiac_updates_through_the_store(digits, store):
    plain = train_original(digits, seed=0, store=store)
    assert load_update_record(plain, store) is None
    recorded = train_original(digits, seed=0, store=store, record_updates=True)
    # θ_o's key is unchanged: the model came from the store, its training was replayed for the record
    assert recorded.cached and recorded.path == plain.path
    assert load_update_record(plain.config, store) is not None
    # a θ_o loaded later without the record flag finds the stored record
    result = unlearn_original(
        train_original(digits, seed=0, store=store), digits, method="amnesiac_updates", forget_classes=[3], store=store
    )
    assert result.params["repair_epochs"] == dataset_defaults("digits", "amnesiac_updates")["repair_epochs"]
    assert result.metrics["forget_test_acc"] <= 0.2 and result.metrics["retain_test_acc"] > 0.85


def test_amnesiac_updates_subtraction_alone_undoes_almost_everything(digits, digits_model, digits_record):
    result = UNLEARNERS.get("amnesiac_updates")(repair_epochs=0).unlearn(
        digits_model.model, forget_classes=[3], data=digits, seed=0, update_record=digits_record
    )
    assert result.metrics["forget_test_acc"] <= 0.2 and result.metrics["retain_test_acc"] < 0.5
