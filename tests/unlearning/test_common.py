"""The helpers shared by the unlearning methods."""

from __future__ import annotations

import pytest
import torch

from labelleak.unlearning import ForgetSplit
from labelleak.unlearning.common import (
    ForgetTrainStop,
    OptimizerOptions,
    cycled_batches,
    make_unlearn_optimizer,
    random_other_labels,
    retain_subset,
    run_epochs,
    soft_kl,
)
from labelleak.validation import ParameterError


def test_cycled_batches_cover_the_main_set_once_and_give_full_side_batches():
    generator = torch.Generator().manual_seed(0)
    pairs = list(cycled_batches(100, 7, batch_size=8, side_batch_size=3, generator=generator))
    main = torch.cat([m for m, _ in pairs])
    assert sorted(main.tolist()) == list(range(100))
    assert all(len(s) == 3 and s.max() < 7 for _, s in pairs)
    # the side set is cycled: every side sample appears
    assert set(torch.cat([s for _, s in pairs]).tolist()) == set(range(7))


def test_cycled_batches_with_a_side_set_smaller_than_its_batch():
    pairs = list(cycled_batches(10, 2, batch_size=5, side_batch_size=4, generator=torch.Generator().manual_seed(1)))
    assert [len(s) for _, s in pairs] == [2, 2]


def test_retain_subset_is_per_class_and_seeded(digits):
    split = ForgetSplit.from_dataset(digits, [3])
    x, y = retain_subset(split, per_class=10, seed=0)
    assert len(y) == 90 and torch.bincount(y, minlength=10).tolist() == [10, 10, 10, 0, 10, 10, 10, 10, 10, 10]
    x2, _ = retain_subset(split, per_class=10, seed=0)
    x3, _ = retain_subset(split, per_class=10, seed=1)
    assert torch.equal(x, x2) and not torch.equal(x, x3)
    assert retain_subset(split, per_class=None, seed=0)[1] is split.y_retain


def test_soft_kl_is_zero_for_equal_logits_and_positive_otherwise():
    logits = torch.randn(4, 10, generator=torch.Generator().manual_seed(0))
    assert soft_kl(logits, logits, temperature=2.0).item() == pytest.approx(0.0, abs=1e-6)
    assert soft_kl(logits, logits.flip(1)).item() > 0


def test_random_other_labels_avoid_excluded_classes():
    y = torch.zeros(500, dtype=torch.long)
    labels = random_other_labels(y, 10, exclude=(0, 4), generator=torch.Generator().manual_seed(0))
    assert set(labels.tolist()) == set(range(10)) - {0, 4}


def test_run_epochs_stops_when_asked_and_is_deterministic():
    def fit(seed, stop=None, check_every=None):
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 2)
        x = torch.randn(40, 3, generator=torch.Generator().manual_seed(5))
        y = (x[:, 0] > 0).long()
        opt = make_unlearn_optimizer(model.parameters(), name="sgd", lr=0.1)
        steps = run_epochs(
            model, x, y, epochs=3, batch_size=8, optimizer=opt, seed=seed, stop=stop, check_every=check_every
        )
        return model, steps

    (a, steps_a), (b, _) = fit(0), fit(0)
    assert steps_a == 15 and torch.equal(a.weight, b.weight)
    assert fit(0, stop=lambda: True)[1] == 5
    assert fit(0, stop=lambda: True, check_every=2)[1] == 2


def test_unknown_optimizer():
    with pytest.raises(ParameterError, match="optimizer must be one of 'sgd', 'adam', got 'lbfgs'"):
        make_unlearn_optimizer([torch.nn.Parameter(torch.zeros(1))], name="lbfgs", lr=0.1)


def test_forget_train_stop_measures_a_fixed_seeded_sample(digits, digits_model):
    split = ForgetSplit.from_dataset(digits, [3])
    rule = ForgetTrainStop(split, threshold=0.5, sample_size=20, seed=1)
    again = ForgetTrainStop(split, threshold=0.5, sample_size=20, seed=1)
    assert len(rule.y) == 20 and torch.equal(rule.x, again.x)
    assert not rule(digits_model.model)  # θ_o still knows class 3
    assert ForgetTrainStop(split, threshold=1.0, sample_size=20, seed=1)(digits_model.model)
    whole = ForgetTrainStop(split, threshold=0.5, sample_size=None, seed=1)
    assert len(whole.y) == len(split.y_forget)


class _FixedPredictions(torch.nn.Module):
    """Predicts the label stored in the first pixel of each image; counts the images it was shown."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))
        self.seen = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen += len(x)
        return torch.nn.functional.one_hot(x[:, 0, 0, 0].long(), 2).float() * self.scale


@pytest.mark.parametrize("correct", [0, 12, 13, 50, 51, 52, 300, 1000])
def test_forget_train_stop_decides_as_the_accuracy_and_reads_less_while_remembered(correct):
    n = 1000
    y = torch.zeros(n, dtype=torch.long)
    x = torch.ones(n, 1, 2, 2)
    x[torch.randperm(n, generator=torch.Generator().manual_seed(0))[:correct]] = 0.0  # these predict class 0
    split = ForgetSplit(x_forget=x, y_forget=y, x_retain=x[:0], y_retain=y[:0], forget_classes=(0,), num_classes=2)
    model = _FixedPredictions()
    for threshold in (0.0125, 0.05):
        model.seen = 0
        rule = ForgetTrainStop(split, threshold=threshold, sample_size=None, seed=0)
        assert rule(model) == ((torch.tensor(float(correct)) / n).item() <= threshold)
        if correct >= 300:  # clearly remembered: decided from the first chunks
            assert model.seen < n / 2


def test_optimizer_options_validate_and_build():
    class Method(OptimizerOptions):
        def __init__(self, **kwargs):
            self._set_optimizer_options(**kwargs)

    sgd = Method(lr=0.1, optimizer="sgd", momentum=0.5, weight_decay=1e-3)._build_optimizer(
        [torch.nn.Parameter(torch.zeros(1))]
    )
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["momentum"] == 0.5 and sgd.defaults["weight_decay"] == 1e-3
    plain = Method(lr=0.1, optimizer="sgd")
    assert not hasattr(plain, "momentum")  # not a parameter of this method, so not in its cache key
    assert plain._build_optimizer([torch.nn.Parameter(torch.zeros(1))]).defaults["momentum"] == 0.9
    with pytest.raises(ParameterError, match="lr must be"):
        Method(lr=0, optimizer="sgd")
    with pytest.raises(ParameterError, match="momentum must be"):
        Method(lr=0.1, optimizer="sgd", momentum=1.5)
