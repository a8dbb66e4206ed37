"""The set decision fit on shadow scores: probabilities per class, the exact-set cut, orientation."""

import numpy as np
import pytest

from labelleak.attacks.setsize import SetCalibrationError, SetCalibrator, best_exact_cut, flag, relative_evidence


def synthetic_targets(n: int, *, sizes=(1, 2, 3), k: int = 10, sign: float = 1.0, seed: int = 0):
    """Scores of n targets whose forgotten classes (1 to 3 of them) score about 6 above the rest."""
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(n, k))
    forgotten = np.zeros((n, k), dtype=bool)
    for i in range(n):
        chosen = rng.choice(k, size=sizes[i % len(sizes)], replace=False)
        forgotten[i, chosen] = True
        scores[i, chosen] += 6.0
    return sign * scores, forgotten


def test_relative_evidence_ranks_and_gaps():
    evidence = relative_evidence(np.array([0.0, 3.0, 2.9, 0.1]))
    z, above, below, under_top = evidence.T
    assert np.argmax(z) == 1 and above[1] == 0 and under_top[1] == 0
    assert below[1] == pytest.approx(z[1] - z[2]) and above[2] == pytest.approx(z[1] - z[2])
    assert below[0] == 0  # the lowest class has nothing below it
    assert np.all(relative_evidence(np.ones(4)) == 0)  # flat scores carry no evidence


def test_best_exact_cut_names_whole_sets():
    scores = np.array([[0.9, 0.8, 0.1], [0.95, 0.2, 0.1], [0.1, 0.7, 0.75]])
    labels = np.array([[1, 1, 0], [1, 0, 0], [0, 1, 1]], dtype=bool)
    cut, rate = best_exact_cut(scores, labels)
    assert rate == 1.0 and 0.2 < cut < 0.7
    assert flag(scores[1], cut) == (0,) and flag(np.array([0.1, 0.1, 0.15]), cut) == (2,)


def test_calibrator_names_pairs_and_triples_it_was_shown():
    shadow_scores, shadow_forgotten = synthetic_targets(60, seed=0)
    calibrator = SetCalibrator().fit(shadow_scores, shadow_forgotten)
    assert calibrator.direction_ == 1 and calibrator.shadow_exact_ > 0.8
    assert calibrator.out_of_fold_.shape == (60, 10)
    scores, forgotten = synthetic_targets(30, seed=1)
    exact = [set(calibrator.decide(s)[1]) == set(np.flatnonzero(f)) for s, f in zip(scores, forgotten)]
    assert np.mean(exact) > 0.8
    sizes = {len(calibrator.decide(s)[1]) for s in scores}
    assert sizes == {1, 2, 3}


def test_calibrator_fit_on_single_classes_names_one():
    scores, forgotten = synthetic_targets(30, sizes=(1,), seed=2)
    calibrator = SetCalibrator().fit(scores, forgotten)
    pairs, _ = synthetic_targets(10, sizes=(2,), seed=3)
    assert all(len(calibrator.decide(s)[1]) <= 2 for s in pairs)
    assert np.mean([len(calibrator.decide(s)[1]) == 1 for s in scores]) > 0.9


def test_calibrator_learns_the_orientation():
    scores, forgotten = synthetic_targets(40, sign=-1.0, seed=4)
    calibrator = SetCalibrator().fit(scores, forgotten)
    assert calibrator.direction_ == -1
    probabilities, decided = calibrator.decide(scores[0])
    assert set(decided) == set(np.flatnonzero(forgotten[0]))
    assert probabilities[forgotten[0]].min() > probabilities[~forgotten[0]].max()


def test_calibrator_refuses_what_it_cannot_fit():
    scores, forgotten = synthetic_targets(5, seed=5)
    with pytest.raises(SetCalibrationError, match="at least 2 shadow targets"):
        SetCalibrator().fit(scores[:1], forgotten[:1])
    with pytest.raises(SetCalibrationError, match="at least 2 shadow targets"):
        SetCalibrator().fit(scores, np.zeros_like(forgotten))
    with pytest.raises(SetCalibrationError, match=r"\(n_targets, K\)"):
        SetCalibrator().fit(scores[0], forgotten[0])
    with pytest.raises(SetCalibrationError, match="not fitted"):
        SetCalibrator().probabilities(scores[0])


def test_further_features_inform_the_probabilities():
    # the score alone cannot tell the forgotten classes apart; a second per-class feature can
    rng = np.random.default_rng(6)
    scores = rng.normal(size=(40, 8))
    forgotten = np.zeros((40, 8), dtype=bool)
    for i in range(40):
        forgotten[i, rng.choice(8, size=1 + i % 2, replace=False)] = True
    features = (3.0 * forgotten + 0.3 * rng.normal(size=(40, 8)))[..., None]
    with_features = SetCalibrator().fit(scores, forgotten, features=features)
    without = SetCalibrator().fit(scores, forgotten)
    assert with_features.shadow_exact_ > 0.9 > 0.5 > without.shadow_exact_
    _, decided = with_features.decide(scores[1], features=features[1])
    assert set(decided) == set(np.flatnonzero(forgotten[1]))
    with pytest.raises(SetCalibrationError, match="further features"):
        with_features.probabilities(scores[1])
    with pytest.raises(SetCalibrationError, match=r"\(n_targets, K, m\)"):
        SetCalibrator().fit(scores, forgotten, features=features[0])
