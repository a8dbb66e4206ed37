import pytest
import torch

from labelleak.unlearning.salun import SalUn, saliency_mask
from labelleak.validation import ParameterError


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"sparsity": 0.0}, "sparsity"),
        ({"sparsity": 1.5}, "sparsity"),
        ({"lr": 0}, "lr"),
        ({"label_pool": "some"}, "label_pool"),
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"epochs": 0}, "epochs"),
    ],
)
def test_bad_parameters_name_themselves(kwargs, name):
    with pytest.raises(ParameterError, match=name):
        SalUn(**kwargs)


def test_mask_is_global_top_fraction(digits, digits_model):
    mask = torch.isin(digits.y_train, torch.tensor([4]))
    masks = saliency_mask(digits_model.model, digits.x_train[mask], digits.y_train[mask], sparsity=0.3, batch_size=128)
    total = sum(m.numel() for m in masks.values())
    assert sum(int(m.sum()) for m in masks.values()) == round(0.3 * total)
    # ranked across layers, not per layer: the layers' kept fractions differ
    fractions = {name: m.float().mean().item() for name, m in masks.items()}
    assert max(fractions.values()) - min(fractions.values()) > 0.1


def test_non_salient_weights_stay_at_original(digits, digits_model):
    original = digits_model.model
    method = SalUn(sparsity=0.3)
    result = method.unlearn(original, forget_classes=[4], data=digits, seed=0)
    mask = torch.isin(digits.y_train, torch.tensor([4]))
    masks = saliency_mask(original, digits.x_train[mask], digits.y_train[mask], sparsity=0.3, batch_size=128)
    moved_salient = 0
    for (name, before), after in zip(original.named_parameters(), result.model.parameters()):
        assert torch.equal(after[~masks[name]], before[~masks[name]]), name
        moved_salient += int((after[masks[name]] != before[masks[name]]).sum())
    assert moved_salient > 0


def test_forgets_single_and_multi_class(digits, digits_model):
    for forget in ([4], [0, 8]):
        result = SalUn().unlearn(digits_model.model, forget_classes=forget, data=digits, seed=0)
        assert result.metrics["forget_test_acc"] <= 0.2, forget
        assert result.metrics["retain_test_acc"] >= digits_model.metrics["test_accuracy"] - 0.1, forget


def test_same_seed_same_weights(digits, digits_model):
    a = SalUn().unlearn(digits_model.model, forget_classes=[6], data=digits, seed=1).model
    b = SalUn().unlearn(digits_model.model, forget_classes=[6], data=digits, seed=1).model
    c = SalUn().unlearn(digits_model.model, forget_classes=[6], data=digits, seed=2).model
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))
