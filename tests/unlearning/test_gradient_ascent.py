"""Gradient ascent's choice of the forget samples it climbs."""

from __future__ import annotations

import pytest

from labelleak.targets import build_unlearner
from labelleak.validation import ParameterError


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
