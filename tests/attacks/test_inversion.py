"""White-box inversion: access enforcement, determinism, batching, recorded trajectories."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labelleak.access import GradientAccess, InsufficientAccessError, QueryAccess, WeightsAccess
from labelleak.attacks.base import CalibrationError
from labelleak.attacks.criteria import InversionCalibration
from labelleak.attacks.inversion import WhiteBoxInversion, invert_gradients, total_variation
from labelleak.models import TrainConfig, build_model, train
from labelleak.targets import access_view
from labelleak.validation import ParameterError


def _views(model):
    spec = model.spec
    shape = (spec.in_channels, spec.image_size, spec.image_size)
    return (
        QueryAccess.from_model(model, num_classes=spec.num_classes, input_shape=shape),
        GradientAccess(model, num_classes=spec.num_classes, input_shape=shape),
    )


@pytest.fixture(scope="module")
def retrained(digits, digits_model):
    """θ_u = a model retrained without class 3 (exact unlearning), a couple of seconds on digits."""
    keep = digits.y_train != 3
    model = build_model(digits_model.model.spec, seed=1)
    train(model, digits.x_train[keep], digits.y_train[keep], config=TrainConfig(epochs=40, batch_size=64), seed=1)
    return model


def test_queries_only_view_is_refused(digits_model):
    queries, _ = _views(digits_model.model)
    with pytest.raises(InsufficientAccessError, match="gradients"):
        WhiteBoxInversion(steps=5).infer(queries)


def test_weights_view_is_accepted(digits_model):
    result = WhiteBoxInversion(steps=3, read_step=3).infer(WeightsAccess.of_classifier(digits_model.model))
    assert result.access == "gradients" and result.queries == 3 * 10


def test_finds_the_class_a_retrained_model_never_saw(retrained):
    _, grads = _views(retrained)
    for criterion in ("threshold", "entropy"):
        result = WhiteBoxInversion(criterion=criterion, steps=30).infer(grads)
        assert result.predicted == (3,), (criterion, result.artifacts["confidence"])
    run = result.artifacts["run"]
    assert result.artifacts["prototypes"].shape == (10, 1, 8, 8)
    assert run.confidence.shape == (len(run.checkpoints), 10) and run.profiles.shape == (len(run.checkpoints), 10, 10)
    assert np.all(np.diff(run.confidence, axis=0) >= 0), "best-so-far confidence never decreases"
    assert np.allclose(run.profiles.sum(-1), 1, atol=1e-4)
    crossed = run.first_crossing[0.9]
    assert crossed[3] == -1 and (crossed[np.arange(10) != 3] > 0).all()


def test_same_seed_same_result_and_noise_start_depends_on_seed(digits_model):
    _, grads = _views(digits_model.model)
    a = WhiteBoxInversion(steps=10, start="noise", seed=4).infer(grads)
    b = WhiteBoxInversion(steps=10, start="noise", seed=4).infer(grads)
    c = WhiteBoxInversion(steps=10, start="noise", seed=5).infer(grads)
    assert torch.equal(a.artifacts["prototypes"], b.artifacts["prototypes"])
    assert np.array_equal(a.scores, b.scores)
    assert not torch.equal(a.artifacts["prototypes"], c.artifacts["prototypes"])


def test_batched_run_equals_a_per_class_loop(digits_model):
    _, grads = _views(digits_model.model)
    batched = invert_gradients(grads, steps=15, restarts=2, start="noise", seed=3)
    for k in (0, 4, 9):
        alone = invert_gradients(grads, classes=[k], steps=15, restarts=2, start="noise", seed=3)
        assert np.allclose(alone.confidence[:, 0], batched.confidence[:, k], atol=1e-5)
        assert np.allclose(alone.profiles[:, 0], batched.profiles[:, k], atol=1e-5)
        assert torch.allclose(alone.prototypes[0], batched.prototypes[k], atol=1e-5)


def test_one_forward_per_step_for_all_classes(digits_model):
    calls = []
    _, grads = _views(digits_model.model)
    original = grads.log_probs
    grads.log_probs = lambda x: calls.append(len(x)) or original(x)
    invert_gradients(grads, steps=7, restarts=3)
    assert calls == [30] * 7


def test_total_variation_of_constant_image_is_zero():
    assert total_variation(torch.full((2, 1, 5, 5), 0.3)).abs().max() == 0
    assert total_variation(torch.rand(1, 1, 5, 5)).item() > 0


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"steps": 0}, "steps"),
        ({"read_step": 200}, "read_step"),
        ({"start": "ones"}, "start"),
        ({"criterion": "x"}, "criterion"),
        ({"lr": -1.0}, "lr"),
        ({"restarts": 0}, "restarts"),
        ({"tv": -0.1}, "tv"),
        ({"tau": 1.5}, "tau"),
    ],
)
def test_parameters_are_validated(kwargs, name):
    with pytest.raises(ParameterError, match=name):
        WhiteBoxInversion(**kwargs)


def test_calibration_must_match_the_criterion():
    stored = InversionCalibration(
        criterion="entropy", checkpoint=0, reference=np.zeros(10), threshold=0.0, shadow_asr=1.0, n_shadow=1
    ).to_dict()

    class StoredShadows:  # shadows whose cache already holds a calibration of another criterion
        def cached(self, kind, key, compute):
            return stored

    attack = WhiteBoxInversion(criterion="threshold")
    assert attack.calibratable and not attack.needs_calibration
    with pytest.raises(CalibrationError, match="criterion 'entropy'"):
        attack.calibrate(StoredShadows())


def test_mixed_start_cycles_grey_zeros_noise():
    from labelleak.attacks.inversion import start_inputs

    x = start_inputs("mixed", classes=[0, 1], restarts=4, input_shape=(1, 4, 4), seed=0, salt="t").view(2, 4, 1, 4, 4)
    assert torch.all(x[:, 0] == 0.5) and torch.all(x[:, 1] < 0.05)
    assert x[:, 2].std() > 0.1 and not torch.equal(x[:, 2], x[:, 3])


def test_reference_from_the_original_needs_the_original_and_a_calibration(digits_model):
    from labelleak.attacks import AttackerKnowledge
    from labelleak.attacks.base import MissingKnowledgeError

    with pytest.raises(ParameterError, match="reference"):
        WhiteBoxInversion(reference="median")
    attack = WhiteBoxInversion(reference="original", steps=5)
    assert attack.needs_calibration and not WhiteBoxInversion().needs_calibration
    view = access_view(digits_model.model, "gradients")
    with pytest.raises(CalibrationError, match="calibrate"):
        attack.infer(view)
    attack.calibration_ = object()  # past the calibration check: the missing θ_o is reported next
    with pytest.raises(MissingKnowledgeError, match="original"):
        attack.infer(view, knowledge=AttackerKnowledge())


def test_calibrated_against_each_original_it_names_the_forgotten_class(digit_shadows, forgot_three, digits_model):
    from labelleak.attacks import AttackerKnowledge

    attack = WhiteBoxInversion(reference="original", steps=30).calibrate(digit_shadows)
    assert attack.calibration_.source == "original" and attack.calibration_.n_shadow == 4
    original = access_view(digits_model.model, "weights")
    result = attack.infer(access_view(forgot_three, "gradients"), knowledge=AttackerKnowledge(original=original))
    assert result.predicted == (3,)
    # its shadow scores are those of the calibration, each normalised by its own shadow original
    rows = attack.shadow_scores(digit_shadows)
    assert [np.argmax(s) for s in rows.scores[:3]] == [1, 4, 7]


def test_the_run_on_the_original_is_stored_once_per_original(digit_shadows, forgot_three, digits_model):
    import copy

    import torch

    from labelleak.attacks import AttackerKnowledge

    counts = digit_shadows.store.counts
    attack = WhiteBoxInversion(reference="original", steps=30).calibrate(digit_shadows)
    knowledge = AttackerKnowledge(original=access_view(digits_model.model, "weights"))
    target = access_view(forgot_three, "gradients")
    first = attack.infer(target, knowledge=knowledge)  # computed, or stored by an earlier test
    computed, hits = counts[("original-inversion", "computed")], counts[("original-inversion", "cached")]
    # another release of the same θ_o reads the stored run, and decides as a fresh search would
    again = attack.infer(target, knowledge=knowledge)
    assert counts[("original-inversion", "computed")] == computed
    assert counts[("original-inversion", "cached")] == hits + 1
    attack._shadows = None  # no store: the search on θ_o runs again
    fresh = attack.infer(target, knowledge=knowledge)
    assert np.array_equal(fresh.scores, again.scores) and np.array_equal(first.scores, again.scores)
    # other weights are another run
    other = copy.deepcopy(digits_model.model)
    with torch.no_grad():
        next(other.parameters()).add_(0.01)
    attack.calibrate(digit_shadows)
    attack.infer(target, knowledge=AttackerKnowledge(original=access_view(other, "weights")))
    assert counts[("original-inversion", "computed")] == computed + 1


def test_a_calibrated_set_decision_reuses_the_shadow_runs(digit_shadows, forgot_three):
    with pytest.raises(ParameterError, match="set_decision"):
        WhiteBoxInversion(set_decision="vote")
    attack = WhiteBoxInversion(steps=30, set_decision="calibrated")
    assert attack.needs_calibration and not WhiteBoxInversion(steps=30).needs_calibration
    target = access_view(forgot_three, "gradients")
    with pytest.raises(CalibrationError, match="calibrate"):
        attack.infer(target)
    cut = WhiteBoxInversion(steps=30).calibrate(digit_shadows)
    counts = digit_shadows.store.counts
    computed = counts[("inversion-calibration", "computed")]
    attack.calibrate(digit_shadows)
    assert counts[("inversion-calibration", "computed")] == computed, "the shadow runs are shared with 'cut'"
    assert attack.calibration_.to_dict() == cut.calibration_.to_dict()
    named, by_cut = attack.infer(target), cut.infer(target)
    assert np.array_equal(named.scores, by_cut.scores), "the set decision leaves the scores alone"
    probabilities = named.artifacts["probabilities"]
    assert probabilities.shape == (10,) and int(np.argmax(probabilities)) == 3
    assert named.predicted == (3,)
    assert "probabilities" not in by_cut.artifacts
