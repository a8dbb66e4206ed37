import pytest
import torch
import torch.nn.functional as F

from labelleak.unlearning.unsir import Unsir, error_maximising_noise
from labelleak.validation import ParameterError

#: digits' retain sample is ~1 200 images (5 repair steps), so impair and repair run hotter
DIGITS = dict(noise_copies=2, impair_lr=0.005, repair_lr=0.005)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"noise_size": 0}, "noise_size"),
        ({"noise_lambda": -0.1}, "noise_lambda"),
        ({"impair_lr": 0.0}, "impair_lr"),
        ({"repair_lr": -1}, "repair_lr"),
        ({"retain_per_class": 0}, "retain_per_class"),
        ({"noise_copies": 1.5}, "noise_copies"),
    ],
)
def test_bad_parameters_name_themselves(kwargs, name):
    with pytest.raises(ParameterError, match=name):
        Unsir(**kwargs)


def test_noise_maximises_the_class_loss(digits_model):
    model = digits_model.model
    # same seed: the noise starts from exactly this draw
    start = torch.randn(64, 1, 8, 8, generator=torch.Generator().manual_seed(11))
    noise = error_maximising_noise(model, 5, size=64, steps=40, lr=0.1, lam=0.1, seed=11)
    target = torch.full((64,), 5)
    with torch.no_grad():
        before = F.cross_entropy(model.head(model.body(start)), target)
        after = F.cross_entropy(model.head(model.body(noise)), target)
    assert after > before + 1.0


def test_one_noise_batch_per_forgotten_class(digits_model):
    noise = Unsir(noise_size=16, noise_steps=5).noise(digits_model.model, (2, 7), seed=0)
    assert sorted(noise) == [2, 7]
    assert all(n.shape == (16, 1, 8, 8) for n in noise.values())
    assert not torch.equal(noise[2], noise[7])


def test_forgets_single_and_multi_class(digits, digits_model):
    for forget in ([5], [2, 7]):
        result = Unsir(**DIGITS).unlearn(digits_model.model, forget_classes=forget, data=digits, seed=0)
        assert result.metrics["forget_test_acc"] <= 0.2, forget
        assert result.metrics["retain_test_acc"] >= digits_model.metrics["test_accuracy"] - 0.1, forget


def test_same_seed_same_weights(digits, digits_model):
    a = Unsir(**DIGITS).unlearn(digits_model.model, forget_classes=[1], data=digits, seed=3).model
    b = Unsir(**DIGITS).unlearn(digits_model.model, forget_classes=[1], data=digits, seed=3).model
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
