"""Threshold and entropy criteria, and their shadow calibration."""

from __future__ import annotations

import numpy as np
import pytest

from labelleak.attacks.criteria import (
    MIN_CONFIDENCE_DROP,
    EntropyCriterion,
    InversionCalibration,
    InversionReading,
    ThresholdCriterion,
    entropy,
    fit_calibration,
    make_criterion,
    robust_z,
)
from labelleak.validation import ParameterError

K = 5


def _reading(confidence, flat=()):
    """Prototypes that reach their class with ``confidence``; classes in ``flat`` get uniform profiles."""
    confidence = np.asarray(confidence, dtype=float)
    profiles = np.zeros((K, K))
    for k in range(K):
        profiles[k] = (1 - confidence[k]) / (K - 1)
        profiles[k, k] = confidence[k]
        if k in flat:
            profiles[k] = 1 / K
    return InversionReading(confidence=confidence, profiles=profiles)


def test_threshold_flags_every_class_below_tau():
    scores, predicted = ThresholdCriterion(tau=0.5).decide(_reading([0.99, 0.2, 0.98, 0.4, 0.97]))
    assert predicted == (1, 3)
    assert np.allclose(scores, [-0.99, -0.2, -0.98, -0.4, -0.97])


def test_threshold_falls_back_to_argmax_when_nothing_is_flagged():
    _, predicted = ThresholdCriterion(tau=0.5).decide(_reading([0.99, 0.95, 0.98, 0.97, 0.99]))
    assert predicted == (1,)


def test_entropy_flags_the_outlying_profile():
    scores, predicted = EntropyCriterion(z=3.5).decide(_reading([0.99, 0.98, 0.97, 0.99, 0.3], flat=(4,)))
    assert predicted == (4,)
    assert np.argmax(scores) == 4
    assert scores[4] == pytest.approx(np.log(K))


def test_entropy_and_robust_z():
    assert entropy(np.full((1, 4), 0.25))[0] == pytest.approx(np.log(4))
    assert entropy(np.eye(3))[0] == pytest.approx(0.0, abs=1e-9)
    z = robust_z(np.array([1.0, 1.1, 0.9, 1.0, 10.0]))
    assert np.argmax(z) == 4 and z[4] > 3.5 and abs(z[0]) < 1


@pytest.mark.parametrize("kwargs", [{"tau": 0.0}, {"tau": 1.0}, {"tau": "x"}])
def test_threshold_validates_tau(kwargs):
    with pytest.raises(ParameterError, match="tau"):
        ThresholdCriterion(**kwargs)


def test_make_criterion_refuses_unknown_names():
    with pytest.raises(ParameterError, match="criterion"):
        make_criterion("median")


def test_calibration_removes_per_class_difficulty():
    """Class 0 is intrinsically hard (low confidence even when retained); a fixed τ blames it,
    the shadow-calibrated threshold blames the class that is low *relative to itself*."""
    rng = np.random.default_rng(0)
    base = np.array([0.05, 0.9, 0.9, 0.9, 0.9])
    runs, forgotten = [], []
    for i in range(20):
        c = i % K
        conf = base * np.exp(rng.normal(0, 0.05, K))
        conf[c] *= 0.2
        runs.append([_reading(conf)])
        forgotten.append((c,))
    cal = fit_calibration(runs, forgotten, criterion="threshold")
    assert cal.shadow_asr > 0.9 and cal.n_shadow == 20
    target = base.copy()
    target[3] *= 0.2
    _, fixed = ThresholdCriterion().decide(_reading(target))
    _, calibrated = ThresholdCriterion().decide(_reading(target), calibration=cal)
    assert 0 in fixed
    assert calibrated == (3,)
    assert InversionCalibration.from_dict(cal.to_dict()).threshold == pytest.approx(cal.threshold)


def test_calibration_picks_the_informative_checkpoint():
    runs, forgotten = [], []
    for i in range(10):
        c = i % K
        late = np.full(K, 0.99)
        early = np.full(K, 0.9)
        early[c] = 0.1
        runs.append([_reading(early), _reading(late)])
        forgotten.append((c,))
    assert fit_calibration(runs, forgotten, criterion="threshold").checkpoint == 0


def test_a_threshold_fitted_below_the_minimum_drop_is_raised_to_it():
    """Shadows whose unlearning moves nothing but the forgotten classes, and those only by a tenth:
    the cut that names their pairs sits at a few hundredths of a nat. An owner's model whose unlearning also
    moved a retained class by a third of a nat (collateral change) then gets that class flagged,
    unless the threshold is at least log 2 (the best confidence at most halved)."""
    runs, forgotten = [], []
    for classes in [(i % K,) for i in range(10)] + [(i, i + 1) for i in range(K - 1)]:
        conf = np.full(K, 0.9)
        conf[list(classes)] *= 0.9
        runs.append([_reading(conf)])
        forgotten.append(classes)
    floored = fit_calibration(runs, forgotten, criterion="threshold")
    unbounded = fit_calibration(runs, forgotten, criterion="threshold", min_drop=None)
    assert unbounded.threshold < 0.1
    assert floored.threshold == pytest.approx(MIN_CONFIDENCE_DROP) == pytest.approx(np.log(2))
    assert floored.checkpoint == unbounded.checkpoint
    assert unbounded.shadow_asr == 1.0
    # nothing is above the floor, so each shadow names its top class: the singles only
    assert floored.shadow_asr == pytest.approx(10 / 14)
    target = np.full(K, 0.9)
    target[1] *= 0.1  # forgotten
    target[3] *= 0.7  # moved by the owner's training on the retained data
    _, unbounded_decision = ThresholdCriterion().decide(_reading(target), calibration=unbounded)
    _, floored_decision = ThresholdCriterion().decide(_reading(target), calibration=floored)
    assert unbounded_decision == (1, 3)
    assert floored_decision == (1,)
    entropy_calibration = fit_calibration(runs, forgotten, criterion="entropy")
    assert entropy_calibration.threshold < MIN_CONFIDENCE_DROP  # entropies have no such floor


def test_calibration_validates_its_inputs():
    with pytest.raises(ParameterError):
        fit_calibration([], [], criterion="threshold")
    with pytest.raises(ParameterError, match="retain"):
        fit_calibration([[_reading(np.full(K, 0.5))]], [tuple(range(K))], criterion="threshold")
    cal = fit_calibration(
        [[_reading([0.1, 0.9, 0.9, 0.9, 0.9])], [_reading([0.9, 0.1, 0.9, 0.9, 0.9])]],
        [(0,), (1,)],
        criterion="entropy",
    )
    with pytest.raises(ParameterError, match="entropy"):
        ThresholdCriterion().decide(_reading(np.full(K, 0.5)), calibration=cal)


def test_a_reference_from_the_original_cancels_difficulty_the_shadows_did_not_share():
    """Each shadow original finds a different class hard; so does the target's θ_o (class 2, never
    hard on a shadow). Normalised by the shadows' median, class 2 looks forgotten; normalised by
    the run on the model's own original, only the class that unlearning lowered does."""
    rng = np.random.default_rng(1)
    runs, originals, forgotten = [], [], []
    for i in range(20):
        original = np.full(K, 0.9) * np.exp(rng.normal(0, 0.05, K))
        original[i % 2] *= 0.1  # this shadow original's own hard class
        c = (i // 2) % K
        unlearned = original.copy()
        unlearned[c] *= 0.2
        runs.append([_reading(unlearned)])
        originals.append([_reading(original)])
        forgotten.append((c,))
    by_shadows = fit_calibration(runs, forgotten, criterion="threshold")
    by_original = fit_calibration(runs, forgotten, criterion="threshold", originals=originals)
    assert by_shadows.source == "shadows" and by_original.source == "original"
    assert by_original.shadow_asr == 1.0
    theta_o = np.array([0.9, 0.9, 0.05, 0.9, 0.9])
    target = theta_o.copy()
    target[4] *= 0.2
    _, shadow_decision = ThresholdCriterion().decide(_reading(target), calibration=by_shadows)
    _, original_decision = ThresholdCriterion().decide(
        _reading(target), calibration=by_original, original=_reading(theta_o)
    )
    assert 2 in shadow_decision
    assert original_decision == (4,)
    assert InversionCalibration.from_dict(by_original.to_dict()).source == "original"
    with pytest.raises(ParameterError, match="original"):
        ThresholdCriterion().decide(_reading(target), calibration=by_original)
    with pytest.raises(ParameterError, match="originals"):
        fit_calibration(runs, forgotten, criterion="threshold", originals=originals[:3])


def _two_original_runs() -> tuple[list, list, list[int]]:
    """Shadow runs of two originals with two checkpoints each. At checkpoint 0, class 1 barely
    inverts on original 0 only (an original-specific difficulty, larger than any forgetting drop); at
    checkpoint 1 every class inverts alike on both and a forgotten class drops to 0.3."""
    base = [np.array([0.9, 0.8, 0.85, 0.95]), np.array([0.99, 0.97, 0.98, 0.96])]
    sets = [(0,), (1,), (2,), (3,), (0, 2), (2, 3)]

    def run(original: int, forget: tuple[int, ...]) -> list[InversionReading]:
        out = []
        for checkpoint in (0, 1):
            confidence = base[checkpoint].copy()
            if checkpoint == 0 and original == 0:
                confidence[1] = 1e-5
            for k in forget:
                confidence[k] = confidence[k] * 1e-3 if checkpoint == 0 else 0.3
            out.append(InversionReading(confidence=confidence, profiles=np.eye(4)))
        return out

    runs = [run(o, s) for o in (0, 1) for s in sets]
    return runs, sets + sets, [0] * len(sets) + [1] * len(sets)


def test_across_originals_scores_each_original_against_the_others_reference():
    from labelleak.attacks.criteria import across_originals

    # two originals, two runs each; class 2 is forgotten in the second run of each
    stats = np.array([[0.0, -1.0, -0.5], [0.0, -1.0, -4.0], [-0.2, -3.0, -0.7], [-0.2, -3.0, -5.0]])
    labels = np.array([[0, 0, 0], [0, 0, 1], [0, 0, 0], [0, 0, 1]], dtype=bool)
    scored = across_originals(stats, labels, [0, 0, 1, 1], "threshold")
    # original 0's runs against original 1's reference (per class: the runs that retained it) and back
    np.testing.assert_allclose(scored[:2], np.array([-0.2, -3.0, -0.7]) - stats[:2])
    np.testing.assert_allclose(scored[2:], np.array([0.0, -1.0, -0.5]) - stats[2:])


def test_across_originals_the_checkpoint_whose_reference_transfers_is_chosen():
    runs, forgotten, groups = _two_original_runs()
    one = fit_calibration(runs[:6], forgotten[:6], criterion="threshold")
    across = fit_calibration(runs, forgotten, criterion="threshold", groups=groups)
    assert one.checkpoint == 0 and one.shadow_asr == 1.0  # the reference fits its own original exactly
    assert across.checkpoint == 1 and across.shadow_asr == 1.0
    # read at checkpoint 0, original 1's reference of class 1 flags it on every run of original 0
    assert fit_calibration(runs, forgotten, criterion="threshold", groups=groups, checkpoints=[0]).shadow_asr == 0.5


def test_groups_of_one_original_leave_the_fit_as_it_was():
    runs, forgotten, _ = _two_original_runs()
    plain = fit_calibration(runs[:6], forgotten[:6], criterion="threshold")
    grouped = fit_calibration(runs[:6], forgotten[:6], criterion="threshold", groups=[7] * 6)
    assert (grouped.checkpoint, grouped.threshold, grouped.shadow_asr) == (
        plain.checkpoint,
        plain.threshold,
        plain.shadow_asr,
    )
    np.testing.assert_array_equal(grouped.reference, plain.reference)


def test_groups_must_name_one_original_per_run():
    runs, forgotten, groups = _two_original_runs()
    with pytest.raises(ParameterError, match="groups must name one original per shadow run"):
        fit_calibration(runs, forgotten, criterion="threshold", groups=groups[:-1])
