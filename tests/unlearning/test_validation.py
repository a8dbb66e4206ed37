"""Bad parameters fail at construction with an error naming the parameter, range and value."""

from __future__ import annotations

import pytest

from labelleak.targets import build_unlearner
from labelleak.unlearning import UNLEARNERS, Unlearner
from labelleak.validation import ParameterError


@pytest.mark.parametrize("method", UNLEARNERS.names())
def test_every_method_is_documented_and_constructible(method):
    cls = UNLEARNERS.get(method)
    assert issubclass(cls, Unlearner) and cls.name == method
    assert cls.summary and cls.uses and cls.uses <= {"forget", "retain"}
    assert (cls.__doc__ and "Scaled" in cls.__doc__) or method == "retrain"
    params = cls().params()
    assert all(isinstance(v, (int, float, str, bool, type(None))) for v in params.values())


@pytest.mark.parametrize(
    "method,params,needle",
    [
        ("finetune", {"epochs": 0}, "epochs must be an integer >= 1, got 0"),
        ("finetune", {"lr": -0.1}, "lr must be a number > 0, got -0.1"),
        ("finetune", {"optimizer": "rmsprop"}, "optimizer must be one of 'sgd', 'adam', got 'rmsprop'"),
        ("gradient_ascent", {"stop_below": 1.5}, "stop_below must be a number in [0, 1], got 1.5"),
        ("gradient_ascent", {"max_grad_norm": 0}, "max_grad_norm must be a number > 0, got 0"),
        ("neggrad_plus", {"beta": 1.0}, "beta must be a number in (0, 1), got 1.0"),
        ("random_labels", {"label_pool": "others"}, "label_pool must be one of 'retained', 'all', got 'others'"),
        ("boundary_shrink", {"epsilon": 0}, "epsilon must be a number in (0, 1], got 0"),
        ("boundary_expanding", {"momentum": 1}, "momentum must be a number in [0, 1), got 1"),
        ("retrain", {"epochs": 2.5}, "epochs must be an integer >= 1, got 2.5"),
    ],
)
def test_bad_parameter_values(method, params, needle):
    with pytest.raises(ParameterError) as err:
        build_unlearner(method, params)
    assert needle in str(err.value)


def test_unknown_parameter_lists_the_valid_ones():
    with pytest.raises(ParameterError, match=r"unknown parameter 'epocs' for method 'finetune'; valid: epochs, lr"):
        build_unlearner("finetune", {"epocs": 3})


def test_parameters_are_keyword_only():
    with pytest.raises(TypeError):
        UNLEARNERS.get("finetune")(3)


@pytest.mark.parametrize(
    "classes,needle",
    [
        ([10], "forget_classes must be class indices in [0, 9], got 10"),
        ([], "forget_classes must name at least one class"),
        ([3, 3], "must not repeat a class"),
        (list(range(10)), "must leave at least one class retained"),
    ],
)
def test_bad_forget_classes(classes, needle, digits, digits_model):
    with pytest.raises(ParameterError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        UNLEARNERS.get("finetune")().unlearn(digits_model.model, forget_classes=classes, data=digits, seed=0)


def test_registry_refuses_a_duplicate_name():
    with pytest.raises(ValueError, match="already registered"):
        UNLEARNERS.register("finetune")(UNLEARNERS.get("finetune"))
