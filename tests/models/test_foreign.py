import pytest
import torch

from labelleak.models import build_model
from labelleak.models.architectures import ModelSpec
from labelleak.models.foreign import ForeignArchitectureError, register_factory
from tests.audit.user_model import DigitsCNN, build, build_softmax, build_two_heads

SAMPLE = torch.rand(4, 1, 8, 8)


def test_a_factory_becomes_a_classifier_of_the_same_architecture():
    name = register_factory(build, head="classifier.3", sample=SAMPLE, source="user_model.py:build")
    assert name.startswith("factory-")
    assert register_factory(build, head="classifier.3", sample=SAMPLE, source="user_model.py:build") == name
    model = build_model(ModelSpec(arch=name, in_channels=1, image_size=8, num_classes=10), seed=0)
    owner = DigitsCNN()
    # the same layers as the owner's network, with its head moved to the classifier's ``head``
    assert sorted(k.removeprefix("body.") for k in model.state_dict() if k.startswith("body.")) == sorted(
        k for k in owner.state_dict() if not k.startswith("classifier.3")
    )
    assert model(SAMPLE).shape == (4, 10)


def test_another_architecture_or_source_gets_another_name():
    first = register_factory(build, head="classifier.3", sample=SAMPLE, source="a")
    assert register_factory(build, head="classifier.3", sample=SAMPLE, source="b") != first


@pytest.mark.parametrize(
    ("factory", "head", "needle"),
    [
        (build_two_heads, "head_a", "is not its head 'head_a' applied"),
        (build_softmax, "0.classifier.3", "is not its head"),
        (build, "conv.0", "does not name an nn.Linear"),
    ],
)
def test_models_that_cannot_be_split_at_their_head_are_refused(factory, head, needle):
    with pytest.raises(ForeignArchitectureError, match=needle):
        register_factory(factory, head=head, sample=SAMPLE, source="x")


def test_the_shadows_of_a_factory_are_fed_as_the_owners_network_is(digits):
    from labelleak.models.foreign import input_normalisation
    from labelleak.targets import model_spec_for

    raw = register_factory(build, head="classifier.3", sample=SAMPLE, source="inputs")
    normalised = register_factory(build, head="classifier.3", sample=SAMPLE, source="inputs", mean=[0.3], std=[0.2])
    assert normalised != raw  # one network fed two ways: their shadows are different models
    assert input_normalisation(raw, channels=1) == ((0.0,), (1.0,))
    assert input_normalisation(normalised, channels=1) == ((0.3,), (0.2,))
    assert input_normalisation("mlp", channels=1) is None
    with pytest.raises(ForeignArchitectureError, match="normalises 1 input channel"):
        input_normalisation(normalised, channels=3)
    with pytest.raises(ForeignArchitectureError, match="mean and std must be given together"):
        register_factory(build, head="classifier.3", sample=SAMPLE, source="inputs", mean=[0.3])
    # labelleak's own architectures standardise by the training data; the owner's as the owner declared
    own = model_spec_for(digits, "mlp")
    assert own.mean == (round(float(digits.x_train.mean()), 6),) and own.std != (1.0,)
    spec = model_spec_for(digits, raw)
    assert (spec.mean, spec.std) == ((0.0,), (1.0,))
    assert (model_spec_for(digits, normalised).mean, model_spec_for(digits, normalised).std) == ((0.3,), (0.2,))
    # a shadow with the owner's weights computes what the owner's network computes on the same [0, 1] images
    shadow = build_model(spec, seed=0).eval()
    owner = DigitsCNN().eval()
    owner.load_state_dict(
        {
            **{k.removeprefix("body."): v for k, v in shadow.state_dict().items() if k.startswith("body.")},
            **{
                f"classifier.3.{k.removeprefix('head.')}": v
                for k, v in shadow.state_dict().items()
                if k.startswith("head.")
            },
        }
    )
    images = digits.x_test[:16]
    torch.testing.assert_close(shadow(images), owner(images))
