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
