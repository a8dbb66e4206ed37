import pytest
import torch
from torch import nn

from labelleak.models import ARCHITECTURES, ModelSpec, build_model, resolve_arch
from labelleak.validation import ParameterError

SHAPES = {"mlp": (1, 8), "lenet": (1, 28), "smallcnn": (3, 32), "resnet18": (3, 32)}


@pytest.mark.parametrize("arch", ARCHITECTURES.names())
def test_every_architecture_has_features_and_linear_head(arch):
    channels, size = SHAPES[arch]
    model = build_model(
        ModelSpec(
            arch=arch,
            in_channels=channels,
            image_size=size,
            num_classes=7,
            mean=(0.5,) * channels,
            std=(0.25,) * channels,
        ),
        seed=0,
    ).eval()
    x = torch.rand(2, channels, size, size)
    assert isinstance(model.head, nn.Linear) and model.head.out_features == 7
    features = model.features(x)
    assert features.shape == (2, model.head.in_features)
    assert torch.allclose(model(x), model.head(features))


def test_normalisation_is_owned_by_the_model():
    spec = ModelSpec(arch="mlp", in_channels=1, image_size=8, num_classes=3, mean=(0.5,), std=(0.5,))
    model = build_model(spec, seed=0).eval()
    x = torch.rand(4, 1, 8, 8)
    assert torch.allclose(model.features(x), model.body((x - 0.5) / 0.5))


def test_seed_fixes_initial_weights_and_leaves_global_rng_alone():
    spec = ModelSpec(arch="lenet", in_channels=1, image_size=28, num_classes=10)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a, b = build_model(spec, seed=5), build_model(spec, seed=5)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    assert torch.equal(torch.rand(1), before)


def test_spec_validation_names_the_parameter():
    with pytest.raises(ParameterError, match="num_classes must be an integer >= 2, got 1"):
        ModelSpec(arch="mlp", in_channels=1, image_size=8, num_classes=1)
    with pytest.raises(ParameterError, match="one value per input channel"):
        ModelSpec(arch="mlp", in_channels=3, image_size=8, num_classes=10, mean=(0.0,), std=(1.0,))
    with pytest.raises(Exception, match="unknown architecture 'vgg99'"):
        resolve_arch("vgg99", "mnist")


def test_auto_architecture_per_dataset():
    assert resolve_arch("auto", "digits") == "mlp"
    assert resolve_arch("auto", "fashion-mnist") == "lenet"
    assert resolve_arch("auto", "cifar10") == "smallcnn"
