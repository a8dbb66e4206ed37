import pytest
import torch

from labelleak.unlearning.base import ForgetSplit
from labelleak.unlearning.ssd import SelectiveSynapticDampening, fisher_diagonal
from labelleak.validation import ParameterError

#: the 8x8 digits MLP needs a larger α than the default tuned on the Fashion-MNIST LeNet
DIGITS = SelectiveSynapticDampening(alpha=3.0)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"alpha": 0}, "alpha"),
        ({"lam": -1.0}, "lam"),
        ({"batch_size": 0}, "batch_size"),
        ({"max_samples": 0}, "max_samples"),
    ],
)
def test_bad_parameters_name_themselves(kwargs, name):
    with pytest.raises(ParameterError, match=name):
        SelectiveSynapticDampening(**kwargs)


def test_only_dampens_selected_parameters(digits, digits_model):
    original = digits_model.model
    result = SelectiveSynapticDampening().unlearn(original, forget_classes=[3], data=digits, seed=0)
    changed = 0
    for (name, before), after in zip(original.named_parameters(), result.model.parameters()):
        moved = before != after
        changed += int(moved.sum())
        # dampening multiplies by a factor in [0, 1): same sign, never larger in magnitude
        assert torch.all(after[moved] * before[moved] >= 0), name
        assert torch.all(after[moved].abs() < before[moved].abs()), name
    total = sum(p.numel() for p in original.parameters())
    assert 0 < changed < total


def test_selection_and_dampening_follow_the_fisher_ratio(digits, digits_model):
    original = digits_model.model
    method = SelectiveSynapticDampening(alpha=5.0, lam=0.5)
    result = method.unlearn(original, forget_classes=[3], data=digits, seed=0)
    split = ForgetSplit.from_dataset(digits, [3])
    # the same importances the method computes: D_f, then D = D_r ∪ D_f (smaller than max_samples)
    imp_f = fisher_diagonal(original, split.x_forget, split.y_forget, batch_size=64)
    imp_d = fisher_diagonal(
        original,
        torch.cat([split.x_retain, split.x_forget]),
        torch.cat([split.y_retain, split.y_forget]),
        batch_size=64,
    )
    for (name, before), after in zip(original.named_parameters(), result.model.parameters()):
        selected = imp_f[name] > 5.0 * imp_d[name]
        factor = (0.5 * imp_d[name] / imp_f[name]).clamp(max=1.0)
        assert torch.equal(after[~selected], before[~selected]), name
        assert torch.allclose(after[selected], before[selected] * factor[selected]), name


def test_huge_alpha_changes_nothing(digits, digits_model):
    original = digits_model.model
    result = SelectiveSynapticDampening(alpha=1e30).unlearn(original, forget_classes=[3], data=digits, seed=0)
    for before, after in zip(original.parameters(), result.model.parameters()):
        assert torch.equal(before, after)


def test_forgets_on_digits_single_and_multi(digits, digits_model):
    for forget in ([3], [1, 7]):
        result = DIGITS.unlearn(digits_model.model, forget_classes=forget, data=digits, seed=0)
        assert result.metrics["forget_test_acc"] <= 0.2, forget
        # SSD's known cost on small networks: retained classes lose accuracy, but stay far above chance
        assert result.metrics["retain_test_acc"] >= 0.5, forget


def test_deterministic_with_sampling(digits, digits_model):
    method = SelectiveSynapticDampening(max_samples=500)
    a = method.unlearn(digits_model.model, forget_classes=[2], data=digits, seed=4).model
    b = method.unlearn(digits_model.model, forget_classes=[2], data=digits, seed=4).model
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
