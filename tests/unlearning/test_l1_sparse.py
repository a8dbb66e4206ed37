import pytest
import torch

from labelleak.unlearning.l1_sparse import L1Sparse, l1_norm
from labelleak.validation import ParameterError

#: digits has ~10 batches per epoch, and its MLP forgets slowly: more epochs, a hotter schedule
DIGITS = dict(epochs=20, lr=0.05)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"gamma": -1e-4}, "gamma"),
        ({"no_l1_epochs": 2, "epochs": 2}, "no_l1_epochs"),
        ({"epochs": 0}, "epochs"),
        ({"momentum": 1.0}, "momentum"),
    ],
)
def test_bad_parameters_name_themselves(kwargs, name):
    with pytest.raises(ParameterError, match=name):
        L1Sparse(**kwargs)


def test_the_penalty_does_the_forgetting(digits, digits_model):
    plain = L1Sparse(gamma=0.0, **DIGITS).unlearn(digits_model.model, forget_classes=[7], data=digits, seed=0)
    sparse = L1Sparse(gamma=2e-3, **DIGITS).unlearn(digits_model.model, forget_classes=[7], data=digits, seed=0)
    assert l1_norm(sparse.model).item() < 0.9 * l1_norm(plain.model).item()
    assert plain.metrics["forget_test_acc"] >= 0.5
    assert sparse.metrics["forget_test_acc"] <= 0.2


def test_forgets_single_and_multi_class(digits, digits_model):
    for forget in ([7], [1, 3]):
        result = L1Sparse(gamma=2e-3, **DIGITS).unlearn(digits_model.model, forget_classes=forget, data=digits, seed=0)
        assert result.metrics["forget_test_acc"] <= 0.2, forget
        assert result.metrics["retain_test_acc"] >= digits_model.metrics["test_accuracy"] - 0.1, forget


def test_same_seed_same_weights(digits, digits_model):
    a = L1Sparse(**DIGITS).unlearn(digits_model.model, forget_classes=[5], data=digits, seed=9).model
    b = L1Sparse(**DIGITS).unlearn(digits_model.model, forget_classes=[5], data=digits, seed=9).model
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
