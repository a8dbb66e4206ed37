import pytest
import torch

from labelleak.models import TrainConfig, accuracy, build_model, per_class_accuracy, train
from labelleak.targets import model_spec_for
from labelleak.validation import ParameterError


def _fit(digits, seed):
    model = build_model(model_spec_for(digits, "auto"), seed=seed)
    return train(model, digits.x_train, digits.y_train, config=TrainConfig(epochs=3, batch_size=64), seed=seed)


def test_same_seed_gives_identical_weights(digits):
    a, b = _fit(digits, 3), _fit(digits, 3)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    c = _fit(digits, 4)
    assert not torch.equal(a.head.weight, c.head.weight)


def test_trained_digits_model_is_accurate(digits_model, digits):
    assert digits_model.metrics["test_accuracy"] >= 0.95
    per_class = per_class_accuracy(digits_model.model, digits.x_test, digits.y_test, 10)
    assert min(per_class) > 0.8
    assert accuracy(digits_model.model, digits.x_test[:0], digits.y_test[:0]) != accuracy(
        digits_model.model, digits.x_test, digits.y_test
    )


def test_augmented_training_runs_and_is_seeded():
    x, y = torch.rand(32, 3, 32, 32), torch.arange(32) % 10
    from labelleak.models import ModelSpec

    spec = ModelSpec(arch="smallcnn", in_channels=3, image_size=32, num_classes=10, mean=(0.5,) * 3, std=(0.25,) * 3)
    config = TrainConfig(epochs=1, batch_size=16, augment=True)
    a = train(build_model(spec, seed=0), x, y, config=config, seed=1)
    b = train(build_model(spec, seed=0), x, y, config=config, seed=1)
    assert torch.equal(a.head.weight, b.head.weight)


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("epochs", 0, "epochs must be an integer >= 1, got 0"),
        ("lr", -1.0, "lr must be a number > 0, got -1.0"),
        ("optimizer", "rmsprop", "optimizer must be one of 'adam', 'sgd', got 'rmsprop'"),
    ],
)
def test_train_config_validation(field, value, message):
    with pytest.raises(ParameterError, match=message):
        TrainConfig(**{field: value})
