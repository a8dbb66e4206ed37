import numpy as np
import pytest

from labelleak.attacks.deciders import KMeansDecider, NotCalibratedError, TreeDecider, YoudenDecider, two_means


def _outlier(k: int = 10, forgotten=(3,), m: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    features = rng.normal(0, 0.1, size=(k, m))
    features[list(forgotten)] += 3.0
    return features, features.mean(1)


def test_kmeans_finds_single_and_multiple_outliers():
    features, primary = _outlier()
    scores, predicted = KMeansDecider().decide(features, primary)
    assert predicted == (3,) and np.argmax(scores) == 3
    features, primary = _outlier(forgotten=(2, 7))
    assert KMeansDecider().decide(features, primary)[1] == (2, 7)


def test_kmeans_degenerate_cases():
    same = np.ones((10, 3))
    primary = np.arange(10.0)
    assert KMeansDecider().decide(same, primary)[1] == (9,)
    # two equal-size clusters: the one with the higher primary score wins
    features = np.repeat([[0.0], [1.0]], 5, axis=0)
    primary = np.array([5.0] * 5 + [0.0] * 5)
    assert KMeansDecider().decide(features, primary)[1] == (0, 1, 2, 3, 4)


def test_two_means_finds_the_obvious_split():
    points = np.array([[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [5.0, 5.0], [5.1, 5.0]])
    labels = two_means(points)
    assert labels[0] == labels[1] == labels[2] != labels[3] == labels[4]
    assert (two_means(np.zeros((4, 2))) == 0).all()


def test_youden_threshold_separates_shadow_scores():
    scores = np.array([0.1, 0.2, 0.3, 2.0, 0.15, 2.5])
    labels = np.array([0, 0, 0, 1, 0, 1], dtype=bool)
    decider = YoudenDecider().fit(scores, labels)
    assert 0.3 < decider.threshold < 2.0 and decider.j == 1.0 and decider.direction == 1
    primary = np.array([0.0, 3.0, 0.1, 2.5])
    assert decider.decide(np.zeros((4, 2)), primary)[1] == (1, 3)
    # nothing above the threshold: the argmax is still decided
    assert decider.decide(np.zeros((3, 2)), np.array([0.0, 0.2, 0.1]))[1] == (1,)


def test_youden_fits_the_direction_the_shadows_show():
    # forgotten classes score LOWEST on these shadows (A held none of their samples)
    scores = np.array([1.0, 1.2, 0.9, -2.0, 1.1, -2.5])
    labels = np.array([0, 0, 0, 1, 0, 1], dtype=bool)
    decider = YoudenDecider().fit(scores, labels)
    assert decider.direction == -1 and decider.j == 1.0 and decider.describe()["direction"] == -1
    oriented, predicted = decider.decide(np.zeros((4, 2)), np.array([1.0, -3.0, 0.8, 1.3]))
    assert predicted == (1,) and oriented.tolist() == [-1.0, 3.0, -0.8, -1.3]
    # nothing on the forgotten side: the lowest primary score is decided
    assert decider.decide(np.zeros((3, 2)), np.array([1.0, 0.2, 0.5]))[1] == (1,)
    # equally good either way (J = 0 for both): the documented default, forgotten above τ
    assert YoudenDecider().fit(np.zeros(4), np.array([0, 1, 0, 1], dtype=bool)).direction == 1


def test_youden_and_tree_refuse_to_decide_unfitted_or_bad_labels():
    with pytest.raises(NotCalibratedError):
        YoudenDecider().decide(np.zeros((3, 1)), np.zeros(3))
    with pytest.raises(NotCalibratedError):
        TreeDecider().decide(np.zeros((3, 1)), np.zeros(3))
    with pytest.raises(ValueError, match="both"):
        YoudenDecider().fit(np.zeros(4), np.zeros(4, dtype=bool))


def test_tree_learns_from_shadow_vectors():
    shadow = [_outlier(forgotten=(c,), seed=c) for c in range(10)]
    x = np.concatenate([f for f, _ in shadow])
    y = np.concatenate([np.arange(10) == c for c in range(10)])
    tree = TreeDecider().fit(x, y)
    features, primary = _outlier(forgotten=(6,), seed=42)
    scores, predicted = tree.decide(features, primary)
    assert predicted == (6,) and np.argmax(scores) == 6
    with pytest.raises(ValueError, match="features"):
        tree.decide(features[:, :2], primary)
    assert tree.describe()["depth"] >= 1
