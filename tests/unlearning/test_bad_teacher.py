import pytest
import torch

from labelleak.models import build_model, predict_logits
from labelleak.seeding import derive_seed
from labelleak.unlearning.bad_teacher import BadTeacher
from labelleak.validation import ParameterError

#: digits has ~135 samples per class: one epoch is two steps, so the test trains longer
DIGITS = dict(epochs=20, batch_size=64)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"temperature": 0}, "temperature"),
        ({"retain_fraction": 0.0}, "retain_fraction"),
        ({"retain_fraction": 1.2}, "retain_fraction"),
        ({"lr": -1e-3}, "lr"),
        ({"optimizer": "lbfgs"}, "optimizer"),
    ],
)
def test_bad_parameters_name_themselves(kwargs, name):
    with pytest.raises(ParameterError, match=name):
        BadTeacher(**kwargs)


def test_forget_outputs_move_towards_the_incompetent_teacher(digits, digits_model):
    original = digits_model.model
    result = BadTeacher(**DIGITS).unlearn(original, forget_classes=[9], data=digits, seed=0)
    teacher = build_model(original.spec, seed=derive_seed(0, "bad_teacher", "teacher"))
    x_forget = digits.x_train[digits.y_train == 9]
    target = predict_logits(teacher, x_forget).softmax(1)

    def kl(model):
        log_p = predict_logits(model, x_forget).log_softmax(1)
        return torch.sum(target * (target.log() - log_p), 1).mean().item()

    assert kl(result.model) < 0.5 * kl(original)


def test_forgets_single_and_multi_class(digits, digits_model):
    for forget in ([9], [3, 6]):
        result = BadTeacher(**DIGITS).unlearn(digits_model.model, forget_classes=forget, data=digits, seed=0)
        assert result.metrics["forget_test_acc"] <= 0.2, forget
        assert result.metrics["retain_test_acc"] >= digits_model.metrics["test_accuracy"] - 0.1, forget


def test_same_seed_same_weights(digits, digits_model):
    a = BadTeacher(**DIGITS).unlearn(digits_model.model, forget_classes=[0], data=digits, seed=5).model
    b = BadTeacher(**DIGITS).unlearn(digits_model.model, forget_classes=[0], data=digits, seed=5).model
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
