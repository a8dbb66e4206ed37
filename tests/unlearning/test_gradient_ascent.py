"""Gradient ascent's choice of the forget samples it climbs."""

from __future__ import annotations

import pytest
import torch

from labelleak.targets import build_unlearner
from labelleak.unlearning.gradient_ascent import ascent_loss
from labelleak.validation import ParameterError


def test_samples_already_misclassified_get_no_gradient_by_default():
    logits = torch.tensor([[3.0, 0.0, 0.0], [0.0, 3.0, 0.0]], requires_grad=True)
    y = torch.tensor([0, 2])  # the first still known, the second already misclassified
    ascent_loss(logits, y, ascend_on="correct").backward()
    assert logits.grad[0].abs().sum() > 0
    assert torch.equal(logits.grad[1], torch.zeros(3))


def test_the_reference_climbs_every_sample():
    logits = torch.tensor([[0.0, 3.0, 0.0]], requires_grad=True)
    ascent_loss(logits, torch.tensor([2]), ascend_on="all").backward()
    assert logits.grad.abs().sum() > 0


def test_a_batch_wholly_misclassified_gives_a_zero_loss():
    logits = torch.tensor([[0.0, 3.0], [3.0, 0.0]], requires_grad=True)
    loss = ascent_loss(logits, torch.tensor([0, 1]), ascend_on="correct")
    assert loss.item() == 0.0


def test_ascend_on_names_its_choices():
    with pytest.raises(ParameterError, match="ascend_on must be one of 'correct', 'all', got 'some'"):
        build_unlearner("gradient_ascent", {"ascend_on": "some"})


def test_climbing_only_known_samples_keeps_the_retain_classes_when_a_pair_is_forgotten(digits, digits_model):
    def retain(ascend_on):
        unlearner = build_unlearner("gradient_ascent", {"ascend_on": ascend_on}, dataset="digits")
        return unlearner.unlearn(digits_model.model, forget_classes=[0, 3], data=digits, seed=0).metrics

    reference, bounded = retain("all"), retain("correct")
    assert reference["forget_test_acc"] == bounded["forget_test_acc"] == 0.0
    # measured: 50.0% retain test accuracy climbing every sample, 90.6% climbing the known ones
    assert bounded["retain_test_acc"] > reference["retain_test_acc"] + 0.2
