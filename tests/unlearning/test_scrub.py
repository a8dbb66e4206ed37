import pytest
import torch

from labelleak.unlearning.scrub import Scrub
from labelleak.validation import ParameterError

#: digits' forget set is one batch at the default sizes, so the test uses small batches
DIGITS = dict(lr=0.003, forget_batch_size=32, batch_size=32)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"max_steps": 4, "epochs": 3}, "max_steps"),
        ({"temperature": 0}, "temperature"),
        ({"alpha": -1}, "alpha"),
        ({"gamma": -0.5}, "gamma"),
        ({"retain_per_class": 0}, "retain_per_class"),
        ({"forget_batch_size": 0}, "forget_batch_size"),
    ],
)
def test_bad_parameters_name_themselves(kwargs, name):
    with pytest.raises(ParameterError, match=name):
        Scrub(**kwargs)


def test_the_max_passes_do_the_forgetting(digits, digits_model):
    scrub = Scrub(**DIGITS).unlearn(digits_model.model, forget_classes=[2], data=digits, seed=0)
    min_only = Scrub(max_steps=0, **DIGITS).unlearn(digits_model.model, forget_classes=[2], data=digits, seed=0)
    assert min_only.metrics["forget_test_acc"] >= 0.8
    assert scrub.metrics["forget_test_acc"] <= 0.2


def test_forgets_single_and_multi_class(digits, digits_model):
    for forget in ([2], [4, 5]):
        result = Scrub(**DIGITS).unlearn(digits_model.model, forget_classes=forget, data=digits, seed=0)
        assert result.metrics["forget_test_acc"] <= 0.2, forget
        assert result.metrics["retain_test_acc"] >= digits_model.metrics["test_accuracy"] - 0.1, forget


def test_same_seed_same_weights(digits, digits_model):
    a = Scrub(**DIGITS).unlearn(digits_model.model, forget_classes=[8], data=digits, seed=2).model
    b = Scrub(**DIGITS).unlearn(digits_model.model, forget_classes=[8], data=digits, seed=2).model
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
