import copy
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from labelleak.access import InsufficientAccessError, QueryAccess, WeightsAccess
from labelleak.attacks.base import ATTACKS, MissingKnowledgeError
from labelleak.attacks.knowledge import draw_knowledge
from labelleak.attacks.parameter import (
    DESCENT_MAJORITY,
    FEATURE_NAMES,
    Calibration,
    CalibrationError,
    Head,
    ReferenceConfig,
    aligned_units,
    extract_features,
    finetune_head,
    primary_score,
    zscore,
)
from labelleak.targets import unlearn_original
from labelleak.validation import ParameterError


@pytest.fixture(scope="module")
def retrained(digits, digits_model):
    """θ_u: digits retrained without class 3 (exact unlearning, about two seconds)."""
    return unlearn_original(digits_model, digits, method="retrain", forget_classes=[3], seed=0)


@pytest.fixture(scope="module")
def knowledge(digits, digits_model):
    return draw_knowledge(
        digits, aux_per_class=5, original=WeightsAccess.of_classifier(digits_model.model), seed=0
    ).knowledge


def test_finetune_head_lowers_the_loss_and_is_deterministic():
    gen = torch.Generator().manual_seed(0)
    feats = torch.rand(50, 8, generator=gen)
    labels = torch.randint(0, 3, (50,), generator=gen)
    head = Head(torch.zeros(3, 8), torch.zeros(3))
    tuned = finetune_head(head, feats, labels, steps=50, lr=1.0)
    before = F.cross_entropy(feats @ head.weight.T + head.bias, labels)
    after = F.cross_entropy(feats @ tuned.weight.T + tuned.bias, labels)
    assert after < before
    again = finetune_head(head, feats, labels, steps=50, lr=1.0)
    assert torch.equal(tuned.weight, again.weight)


def test_zscore_handles_constant_columns():
    z = zscore(np.array([[1.0, 5.0], [3.0, 5.0]]))
    assert np.allclose(z[:, 0], [-1, 1]) and np.allclose(z[:, 1], 0)


def test_features_have_one_row_per_class(retrained, knowledge):
    target = WeightsAccess.of_classifier(retrained.model)
    feats = extract_features(target, knowledge, config=ReferenceConfig(), families=("dot", "diff", "orig"))
    for family, names in FEATURE_NAMES.items():
        assert feats[family].shape == (10, len(names))
        assert np.allclose(feats[family].mean(0), 0, atol=1e-9)
    # the relearn-difference score singles out the retrained-away class
    assert int(np.argmax(primary_score(feats["diff"], "diff"))) == 3


@pytest.mark.parametrize("name", ["param-dot", "param-diff"])
def test_kmeans_attacks_find_the_retrained_class_quickly(name, retrained, knowledge):
    attack = ATTACKS.get(name)(decider="kmeans")
    start = time.perf_counter()
    result = attack.infer(WeightsAccess.of_classifier(retrained.model), knowledge=knowledge)
    assert time.perf_counter() - start < 2.0
    assert result.predicted == (3,) and int(np.argmax(result.scores)) == 3
    assert result.access == "weights" and result.queries is None
    assert result.artifacts["features"].shape[0] == 10


def test_two_version_attack_needs_the_original(digits, retrained, knowledge):
    attack = ATTACKS.get("param-diff-orig")()
    target = WeightsAccess.of_classifier(retrained.model)
    assert attack.infer(target, knowledge=knowledge).scores.shape == (10,)
    with pytest.raises(MissingKnowledgeError, match="original"):
        attack.infer(target, knowledge=draw_knowledge(digits, aux_per_class=1, seed=0).knowledge)


def test_aligned_units_tells_a_descendant_from_an_independent_model():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    moved = copy.deepcopy(net)
    with torch.no_grad():  # weights moved as far as they are long, units kept in place
        for p in moved.parameters():
            p.add_(torch.randn_like(p) * p.norm() / p.numel() ** 0.5)
    assert aligned_units(moved, net) > 0.9
    shuffled = copy.deepcopy(net)
    order = torch.roll(torch.arange(16), 1)  # the same units, every one at another index
    with torch.no_grad():
        shuffled[0].weight.copy_(net[0].weight[order])
        shuffled[0].bias.copy_(net[0].bias[order])
        shuffled[2].weight.copy_(net[2].weight[:, order])
    assert aligned_units(shuffled, net) < 0.5
    assert aligned_units(torch.nn.Sequential(torch.nn.Linear(12, 4)), net) == 0.0


def test_the_two_version_attack_abstains_on_a_model_retrained_from_scratch(digits, digits_model, retrained, knowledge):
    attack = ATTACKS.get("param-diff-orig")()
    fresh = attack.infer(WeightsAccess.of_classifier(retrained.model), knowledge=knowledge)
    assert fresh.artifacts["aligned_units"] < DESCENT_MAJORITY and "does not descend" in fresh.abstains
    assert fresh.to_dict()["abstains"] == fresh.abstains
    finetuned = unlearn_original(digits_model, digits, method="finetune", forget_classes=[3], seed=0)
    kept = attack.infer(WeightsAccess.of_classifier(finetuned.model), knowledge=knowledge)
    assert kept.artifacts["aligned_units"] > 0.9 and kept.abstains == ""


def test_attacks_refuse_less_access_and_missing_data(retrained, knowledge):
    attack = ATTACKS.get("param-diff")()
    spec = retrained.model.spec
    queries = QueryAccess.from_model(retrained.model, num_classes=10, input_shape=(1, spec.image_size, spec.image_size))
    with pytest.raises(InsufficientAccessError):
        attack.infer(queries, knowledge=knowledge)
    with pytest.raises(MissingKnowledgeError, match="auxiliary"):
        attack.infer(WeightsAccess.of_classifier(retrained.model))


class FixedShadows:
    """Shadows whose features are given; records the reference settings it was asked for."""

    def __init__(self, calibration):
        self.calibration, self.asked = calibration, []

    def features(self, reference):
        self.asked.append(reference)
        return self.calibration


def test_calibrated_deciders_need_calibrate_before_infer(retrained, knowledge):
    attack = ATTACKS.build("param-diff", decider="youden")
    assert attack.needs_calibration and attack.calibratable
    with pytest.raises(CalibrationError, match=r"calibrate\(shadows\)"):
        attack.infer(WeightsAccess.of_classifier(retrained.model), knowledge=knowledge)
    kmeans = ATTACKS.build("param-diff")
    assert not kmeans.needs_calibration and not kmeans.calibratable
    with pytest.raises(CalibrationError, match="nothing to calibrate"):
        kmeans.calibrate(FixedShadows(None))


def test_calibration_fits_the_decider_on_shadow_features():
    with pytest.raises(ParameterError, match="decider"):
        ATTACKS.get("param-diff")(decider="svm")
    with pytest.raises(ParameterError, match="steps"):
        ATTACKS.get("param-diff")(steps=0)
    rng = np.random.default_rng(0)
    forgotten = np.eye(10, dtype=bool)
    features = {f: rng.normal(size=(10, 10, len(n))) + forgotten[..., None] * 3 for f, n in FEATURE_NAMES.items()}
    calibration = Calibration(
        reference=ReferenceConfig().to_dict(), features=features, forgotten=forgotten, methods=["a"] * 5 + ["b"] * 5
    )
    shadows = FixedShadows(calibration)
    tree = ATTACKS.build("param-diff", decider="tree", steps=7).calibrate(shadows)
    assert tree._decider.describe()["depth"] >= 1 and tree.calibration_ is calibration
    # the shadow features are extracted with the attack's own reference models
    assert shadows.asked == [tree.reference] and tree.reference.steps == 7
    assert calibration.select(exclude_methods=("a",)).methods == ["b"] * 5
    with pytest.raises(CalibrationError, match="no shadow target"):
        calibration.select(exclude_methods=("a", "b"))


def test_full_finetune_option_runs(retrained, knowledge):
    attack = ATTACKS.get("param-diff")(full_finetune=True, finetune_epochs=2)
    result = attack.infer(WeightsAccess.of_classifier(retrained.model), knowledge=knowledge)
    assert result.scores.shape == (10,) and len(result.predicted) >= 1
