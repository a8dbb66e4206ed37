"""The ascending methods (gradient ascent, NegGrad+): which forget samples their ascent climbs."""

from __future__ import annotations

import pytest
import torch

from labelleak.targets import build_unlearner
from labelleak.unlearning.common import ascent_loss
from labelleak.validation import ParameterError

ASCENDING = ("gradient_ascent", "neggrad_plus")


def test_climbing_the_correct_samples_gives_those_already_misclassified_no_gradient():
    logits = torch.tensor([[3.0, 0.0, 0.0], [0.0, 3.0, 0.0]], requires_grad=True)
    y = torch.tensor([0, 2])  # the first still known, the second already misclassified
    ascent_loss(logits, y, ascend_on="correct").backward()
    assert logits.grad[0].abs().sum() > 0
    assert torch.equal(logits.grad[1], torch.zeros(3))


def test_climbing_all_samples_gives_every_sample_a_gradient():
    logits = torch.tensor([[0.0, 3.0, 0.0]], requires_grad=True)
    ascent_loss(logits, torch.tensor([2]), ascend_on="all").backward()
    assert logits.grad.abs().sum() > 0


def test_a_batch_wholly_misclassified_gives_a_zero_loss():
    logits = torch.tensor([[0.0, 3.0], [3.0, 0.0]], requires_grad=True)
    loss = ascent_loss(logits, torch.tensor([0, 1]), ascend_on="correct")
    assert loss.item() == 0.0


@pytest.mark.parametrize("method", ASCENDING)
def test_ascend_on_names_its_choices(method):
    with pytest.raises(ParameterError, match="ascend_on must be one of 'correct', 'all', got 'some'"):
        build_unlearner(method, {"ascend_on": "some"})


# retain test accuracy measured on digits, forgetting {0, 3}: climbing every sample / the known ones
# (gradient ascent 50.0% / 90.6%, NegGrad+ 93.6% / 96.7%), and the least gain each test demands
@pytest.mark.parametrize(("method", "least_gain"), [("gradient_ascent", 0.2), ("neggrad_plus", 0.02)])
def test_climbing_only_known_samples_keeps_more_of_the_retain_classes_when_a_pair_is_forgotten(
    method, least_gain, digits, digits_model
):
    def metrics(ascend_on):
        unlearner = build_unlearner(method, {"ascend_on": ascend_on}, dataset="digits")
        return unlearner.unlearn(digits_model.model, forget_classes=[0, 3], data=digits, seed=0).metrics

    reference, bounded = metrics("all"), metrics("correct")
    assert reference["forget_test_acc"] <= 0.05 and bounded["forget_test_acc"] <= 0.05
    assert bounded["retain_test_acc"] > reference["retain_test_acc"] + least_gain
