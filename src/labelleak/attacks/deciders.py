"""Deciders: turn one target's per-class feature vectors into scores s ∈ R^K and a decided set Ĉ.

Every decider receives ``features`` (K × m, already z-scored across the K classes of the target)
and ``primary`` (K,), a fixed signed scalar summary of the features (higher = more likely
forgotten) defined by the feature family. All of them return ``(scores, predicted)`` and let the
data choose |Ĉ| (multi-class unlearning is never told how many classes were forgotten).

* :class:`KMeansDecider` — unsupervised, k = 2 on the feature vectors; the smaller cluster is Ĉ.
* :class:`YoudenDecider` — a threshold on ``primary`` maximising J = TPR − FPR on shadow
  experiments, in whichever direction the shadows show (forgotten classes above the threshold,
  or below it); classes on the forgotten side form Ĉ (the most extreme one when none is).
* :class:`TreeDecider` — a shallow decision tree fit on shadow per-class feature vectors labelled
  forgotten / retained; Ĉ = classes it predicts forgotten (the most probable one when none is).
* :class:`CalibratedDecider` — labelleak's own, not the paper's: a calibrated probability of
  "forgotten" per class from ``primary`` relative to the target's other classes, and the set whose
  cut names the shadows' forgotten sets (singles, pairs, triples) exactly most often
  (:class:`~labelleak.attacks.setsize.SetCalibrator`).

Youden, the tree and the calibrated decider must be fit on shadow experiments only, never on the targets they report.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

# imported here, not on first use, so the one-off import cost is not timed as part of an attack
from sklearn.tree import DecisionTreeClassifier

from labelleak import LabelleakError
from labelleak.attacks.setsize import SetCalibrator
from labelleak.validation import check_number


class NotCalibratedError(LabelleakError):
    """A decider that needs shadow calibration was used before being fit."""


def _as_inputs(features: np.ndarray, primary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    features = np.asarray(features, dtype=np.float64)
    primary = np.asarray(primary, dtype=np.float64)
    if features.ndim != 2 or primary.shape != (features.shape[0],):
        raise ValueError(f"features must be (K, m) and primary (K,), got {features.shape} and {primary.shape}")
    return features, primary


class Decider(ABC):
    """Base class: ``decide(features, primary) -> (scores, predicted)``."""

    name: ClassVar[str]
    needs_calibration: ClassVar[bool] = False
    #: raised when the decision rule changes, so that results stored under the old rule are not reused
    revision: ClassVar[int] = 1

    @abstractmethod
    def decide(self, features: np.ndarray, primary: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
        """Scores (K,) and the decided forgotten set for one target."""

    def describe(self) -> dict[str, Any]:
        """The fitted state in JSON-able form (reported in attack artifacts)."""
        return {"decider": self.name}


def two_means(points: np.ndarray, *, iterations: int = 100) -> np.ndarray:
    """Labels (0/1) of a 2-means clustering of ``points`` (n, m), deterministic.

    Lloyd's algorithm started from every point paired with the point farthest from it; the run
    with the lowest within-cluster sum of squares wins. For the K ≤ a few dozen class vectors of
    one target this costs microseconds (sklearn's KMeans spends seconds on thread-pool start-up).
    """
    best_labels, best_inertia = None, np.inf
    dist = ((points[:, None, :] - points[None, :, :]) ** 2).sum(-1)
    for i in range(len(points)):
        centres = points[[i, int(np.argmax(dist[i]))]].copy()
        labels = None
        for _ in range(iterations):
            new = ((points[:, None, :] - centres[None]) ** 2).sum(-1).argmin(1)
            if (labels is not None and np.array_equal(new, labels)) or (new == new[0]).all():
                break
            labels = new
            centres = np.stack([points[labels == c].mean(0) for c in (0, 1)])
        if labels is None:
            continue
        inertia = sum(((points[labels == c] - points[labels == c].mean(0)) ** 2).sum() for c in (0, 1))
        if inertia < best_inertia - 1e-12:
            best_labels, best_inertia = labels, inertia
    return best_labels if best_labels is not None else np.zeros(len(points), dtype=int)


class KMeansDecider(Decider):
    """k-means with k = 2 on the per-class feature vectors; the smaller cluster is Ĉ.

    Degenerate cases: identical feature vectors (one cluster) give Ĉ = {argmax primary}; two
    clusters of equal size are broken by the higher mean primary score. Scores are ``primary``.
    """

    name = "kmeans"

    def decide(self, features: np.ndarray, primary: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
        features, primary = _as_inputs(features, primary)
        labels = two_means(features)
        sizes = np.bincount(labels, minlength=2)
        if sizes.min() == 0:
            return primary, (int(np.argmax(primary)),)
        if sizes[0] != sizes[1]:
            chosen = int(np.argmin(sizes))
        else:
            chosen = int(np.argmax([primary[labels == c].mean() for c in (0, 1)]))
        return primary, tuple(int(k) for k in np.flatnonzero(labels == chosen))


class YoudenDecider(Decider):
    """Threshold τ on the primary score fit on shadow per-class scores to maximise J = TPR − FPR.

    The direction is fit too: the primary scores are signed so that a forgotten class scores high
    when A holds its samples, but when A holds none of them the relearning signal inverts (the
    forgotten row is the one that does *not* move). The fit therefore tries both "forgotten above
    τ" and "forgotten below τ" on the shadows and keeps the one with the larger J (above on ties);
    the decider's scores are the primary scores oriented that way (higher = more likely forgotten).
    """

    name = "youden"
    needs_calibration = True
    revision = 2  # 1 had no direction: forgotten classes were always the ones above τ

    def __init__(self) -> None:
        self.threshold: float | None = None
        self.j: float | None = None
        self.direction: int = 1

    @staticmethod
    def _best_threshold(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
        values = np.unique(scores)
        # candidate thresholds between consecutive distinct scores (plus one below all of them)
        candidates = np.concatenate([[values[0] - 1.0], (values[:-1] + values[1:]) / 2])
        tpr = np.array([(scores[labels] > t).mean() for t in candidates])
        fpr = np.array([(scores[~labels] > t).mean() for t in candidates])
        j = tpr - fpr
        best = np.flatnonzero(j == j.max())
        # the middle of a run of equally good thresholds generalises better than its edge
        index = int(best[len(best) // 2])
        return float(candidates[index]), float(j[index])

    def fit(self, primary: np.ndarray, forgotten: np.ndarray) -> YoudenDecider:
        """Fit τ and the direction on pooled shadow scores ``primary`` (n,) with boolean labels ``forgotten`` (n,)."""
        scores = np.asarray(primary, dtype=np.float64).ravel()
        labels = np.asarray(forgotten, dtype=bool).ravel()
        if scores.shape != labels.shape or labels.all() or not labels.any():
            raise ValueError("Youden calibration needs scores of both forgotten and retained shadow classes")
        above = self._best_threshold(scores, labels)
        below = self._best_threshold(-scores, labels)
        self.direction = -1 if below[1] > above[1] else 1
        self.threshold, self.j = below if self.direction == -1 else above
        return self

    def decide(self, features: np.ndarray, primary: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
        if self.threshold is None:
            raise NotCalibratedError(
                "the youden decider needs a threshold fit on shadow experiments (attack.calibrate(shadows))"
            )
        _, primary = _as_inputs(features, primary)
        oriented = self.direction * primary
        flagged = np.flatnonzero(oriented > self.threshold)
        predicted = tuple(int(k) for k in flagged) if len(flagged) else (int(np.argmax(oriented)),)
        return oriented, predicted

    def describe(self) -> dict[str, Any]:
        return {"decider": self.name, "threshold": self.threshold, "direction": self.direction, "youden_j": self.j}


class TreeDecider(Decider):
    """A shallow decision tree on per-class feature vectors (forgotten = 1, retained = 0).

    Scores are the tree's probability of "forgotten" plus 1e-6·tanh(primary), which only breaks
    ties between classes falling into the same leaf.
    """

    name = "tree"
    needs_calibration = True

    def __init__(self, *, max_depth: int = 3, min_samples_leaf: int = 3, seed: int = 0) -> None:
        self.max_depth = check_number("max_depth", max_depth, low=1, high=32, integer=True)
        self.min_samples_leaf = check_number("min_samples_leaf", min_samples_leaf, low=1, integer=True)
        self.seed = check_number("seed", seed, low=0, integer=True)
        self._tree = None

    def fit(self, features: np.ndarray, forgotten: np.ndarray) -> TreeDecider:
        """Fit on pooled shadow per-class vectors ``features`` (n, m) with boolean labels (n,)."""
        x = np.asarray(features, dtype=np.float64)
        y = np.asarray(forgotten, dtype=bool).ravel()
        if x.ndim != 2 or len(x) != len(y) or y.all() or not y.any():
            raise ValueError("tree calibration needs (n, m) features of both forgotten and retained shadow classes")
        self._tree = DecisionTreeClassifier(
            max_depth=self.max_depth, min_samples_leaf=self.min_samples_leaf, random_state=self.seed
        ).fit(x, y.astype(int))
        return self

    def decide(self, features: np.ndarray, primary: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
        if self._tree is None:
            raise NotCalibratedError(
                "the tree decider needs a tree fit on shadow experiments (attack.calibrate(shadows))"
            )
        features, primary = _as_inputs(features, primary)
        if features.shape[1] != self._tree.n_features_in_:
            raise ValueError(f"the tree was fit on {self._tree.n_features_in_} features, got {features.shape[1]}")
        proba = self._tree.predict_proba(features)[:, 1]
        scores = proba + 1e-6 * np.tanh(primary)
        flagged = np.flatnonzero(proba > 0.5)
        predicted = tuple(int(k) for k in flagged) if len(flagged) else (int(np.argmax(scores)),)
        return scores, predicted

    def describe(self) -> dict[str, Any]:
        if self._tree is None:
            return {"decider": self.name, "fitted": False}
        return {"decider": self.name, "depth": int(self._tree.get_depth()), "leaves": int(self._tree.get_n_leaves())}


class CalibratedDecider(Decider):
    """P(forgotten) per class from the primary score relative to the target's other classes and the
    z-scored feature vector, and the set above a cut chosen for the exact-set rate on shadow targets
    (see :mod:`labelleak.attacks.setsize`).

    Shadows that forget pairs and triples are what let it name more than one class; fit on single
    classes only, it learns to name one. Scores are the probabilities.
    """

    name = "calibrated"
    needs_calibration = True
    # 1 read the primary score alone; with the feature vectors too, its out-of-fold exact-set rate on
    # the shadow targets rose (docs/parameter_attacks.md)
    revision = 2

    def __init__(self) -> None:
        self.calibrator = SetCalibrator()

    def fit(self, features: np.ndarray, primary: np.ndarray, forgotten: np.ndarray) -> CalibratedDecider:
        """Fit on shadow features (n_targets, K, m), primary scores (n_targets, K) and forgotten
        masks (n_targets, K)."""
        self.calibrator.fit(primary, forgotten, features=features)
        return self

    def decide(self, features: np.ndarray, primary: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
        if not self.calibrator.fitted:
            raise NotCalibratedError(
                "the calibrated decider needs probabilities fit on shadow experiments (attack.calibrate(shadows))"
            )
        features, primary = _as_inputs(features, primary)
        return self.calibrator.decide(primary, features=features)

    def describe(self) -> dict[str, Any]:
        return {"decider": self.name, **self.calibrator.describe()}


DECIDERS: dict[str, type[Decider]] = {
    cls.name: cls for cls in (KMeansDecider, YoudenDecider, TreeDecider, CalibratedDecider)
}
