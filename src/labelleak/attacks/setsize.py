"""Deciding the forgotten *set* from per-class scores: calibrated probabilities and an exact-set cut.

Every attack ranks classes by a per-class score; how many classes to name is a separate decision.
:class:`SetCalibrator` learns it from the attacker's shadow experiments, whose forgotten sets
(single classes, pairs, triples) are known:

1. **Probability of "forgotten" per class.** A class's raw score means little on its own (scales
   differ between models and attacks); what separates a forgotten pair from a single class with a
   runner-up is the score *relative to the other classes of the same target*. Each class is
   described by its z-score within the target, the gaps to the next higher and next lower class
   in the ranking, and its distance below the top class (:func:`relative_evidence`), plus any
   further per-class features the caller has (the parameter attacks pass their z-scored feature
   vectors, the ones the paper's decision tree sees). A logistic regression on those gives
   P(forgotten) per class: fit by log-loss, it *is* Platt's sigmoid
   calibration of a linear evidence score, so scikit-learn's ``CalibratedClassifierCV`` around it
   would only fit a second sigmoid on top of the first.
2. **The set.** Classes whose probability exceeds a cut form Ĉ (the most probable class when none
   does). The cut maximises the *exact-set* rate — the attack's own metric — on out-of-fold
   probabilities of the shadow targets (``cross_val_predict`` with ``GroupKFold``), not Youden's J
   on pooled (class, forgotten?) pairs, which rewards naming extra classes when most classes are
   retained. :func:`best_exact_cut` is that cut, shared with the inversion criteria.

The orientation (whether forgotten classes score high or low) is learnt from the shadows too, so
any attack's scores can be fed in as they are. Decisions cost microseconds once fitted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, cross_val_predict

from labelleak import LabelleakError

#: columns of :func:`relative_evidence`
EVIDENCE = ("z", "gap_above", "gap_below", "below_top")
#: most folds of the grouped cross-validation (fewer when there are fewer shadow targets)
MAX_FOLDS = 5
#: probabilities are clipped to [ε, 1 − ε] before log-odds are taken
EPSILON = 1e-4


class SetCalibrationError(LabelleakError):
    """The shadow scores cannot fit a set decision (too few targets, or one kind of class only)."""


def relative_evidence(scores: np.ndarray) -> np.ndarray:
    """(K, 4) evidence per class from one target's (K,) scores, higher = more likely forgotten:
    z-score within the target, gap (in z units) to the next higher-ranked class (0 for the top),
    gap to the next lower-ranked class (0 for the bottom), and distance below the top class."""
    scores = np.asarray(scores, dtype=np.float64)
    spread = scores.std()
    z = (scores - scores.mean()) / spread if spread > 1e-12 else np.zeros_like(scores)
    order = np.argsort(-z, kind="stable")
    ranked = z[order]
    gaps = ranked[:-1] - ranked[1:]
    above = np.empty_like(z)
    below = np.empty_like(z)
    above[order] = np.concatenate([[0.0], gaps])
    below[order] = np.concatenate([gaps, [0.0]])
    return np.stack([z, above, below, ranked[0] - z], axis=1)


def best_exact_cut(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """The cut t whose rule "flag every class scoring above t; none flagged ⇒ the top class" names
    the most targets' forgotten sets exactly, and that exact-set rate.

    ``scores`` and ``labels`` are (n_targets, K). Ties go to the larger t (fewer classes named).
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    values = np.unique(scores)
    cuts = np.concatenate([(values[:-1] + values[1:]) / 2, [np.inf]])
    best_t, best_rate = float("inf"), -1.0
    for t in cuts[::-1]:
        rate = exact_set_rate(scores, labels, float(t))
        if rate > best_rate:
            best_t, best_rate = float(t), rate
    return best_t, best_rate


def exact_set_rate(scores: np.ndarray, labels: np.ndarray, cut: float) -> float:
    """Share of the (n_targets, K) ``scores`` rows whose rule "flag every class above ``cut``; none
    flagged ⇒ the top class" names exactly the row's ``labels``."""
    scores = np.asarray(scores, dtype=np.float64)
    flagged = scores > cut
    none = ~flagged.any(axis=1)
    flagged[none, scores[none].argmax(axis=1)] = True
    return float((flagged == np.asarray(labels, dtype=bool)).all(axis=1).mean())


def flag(values: np.ndarray, cut: float) -> tuple[int, ...]:
    """Classes above ``cut``, or the top class when none is."""
    flagged = np.flatnonzero(values > cut)
    return tuple(int(k) for k in flagged) if len(flagged) else (int(np.argmax(values)),)


def log_odds(probabilities: np.ndarray | float) -> np.ndarray:
    p = np.clip(np.asarray(probabilities, dtype=np.float64), EPSILON, 1 - EPSILON)
    return np.log(p) - np.log1p(-p)


class SetCalibrator:
    """P(forgotten) per class and the forgotten set, fitted on shadow targets' per-class scores.

    ``fit(scores, forgotten)`` takes (n, K) scores of n shadow targets and their (n, K) boolean
    forgotten masks; then ``probabilities(s)`` and ``decide(s)`` apply to one target's (K,) scores.
    Attributes after fitting: ``direction_`` (+1: forgotten classes score high), ``cut_`` (the
    probability above which a class is named), ``shadow_exact_`` (out-of-fold exact-set rate of
    that cut on the shadows), ``out_of_fold_`` ((n, K) probabilities of the shadow targets, each
    from a model fit without that target) and ``n_shadow_``.
    """

    def __init__(self) -> None:
        self.direction_: int = 1
        self.cut_: float | None = None
        self.shadow_exact_: float | None = None
        self.n_shadow_: int = 0
        self.out_of_fold_: np.ndarray = np.empty((0, 0))
        self._model: LogisticRegression | None = None

    @property
    def fitted(self) -> bool:
        return self._model is not None

    def fit(self, scores: np.ndarray, forgotten: np.ndarray, *, features: np.ndarray | None = None) -> SetCalibrator:
        """Fit on (n, K) shadow scores and forgotten masks, and optionally (n, K, m) further
        per-class features (then :meth:`probabilities` needs the same m features of a target)."""
        scores = np.asarray(scores, dtype=np.float64)
        labels = np.asarray(forgotten, dtype=bool)
        if scores.ndim != 2 or labels.shape != scores.shape:
            raise SetCalibrationError(
                f"scores and forgotten must both be (n_targets, K), got {scores.shape} and {labels.shape}"
            )
        n, k = scores.shape
        if n < 2 or not labels.any(axis=1).all() or labels.all(axis=1).any():
            raise SetCalibrationError(
                f"a set decision needs at least 2 shadow targets, each forgetting some but not all classes, got {n}"
            )
        z = np.stack([relative_evidence(s)[:, 0] for s in scores])
        self.direction_ = 1 if z[labels].mean() >= z[~labels].mean() else -1
        x = np.concatenate(
            [self._evidence(s, None if features is None else f) for s, f in zip(scores, self._rows(features, n))]
        )
        y = labels.reshape(-1).astype(int)
        groups = np.repeat(np.arange(n), k)
        folds = GroupKFold(n_splits=min(MAX_FOLDS, n))
        out_of_fold = cross_val_predict(self._estimator(), x, y, groups=groups, cv=folds, method="predict_proba")[:, 1]
        self.out_of_fold_ = out_of_fold.reshape(n, k)
        self.cut_, self.shadow_exact_ = best_exact_cut(self.out_of_fold_, labels)
        if not np.isfinite(self.cut_):  # every shadow target was best served by its top class alone
            self.cut_ = 1.0
        self._model = self._estimator().fit(x, y)
        self.n_shadow_ = n
        return self

    @staticmethod
    def _estimator() -> LogisticRegression:
        return LogisticRegression(C=1.0, max_iter=1000)

    @staticmethod
    def _rows(features: np.ndarray | None, n: int) -> list[np.ndarray | None]:
        if features is None:
            return [None] * n
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 3 or len(features) != n:
            raise SetCalibrationError(f"features must be (n_targets, K, m) with n_targets={n}, got {features.shape}")
        return list(features)

    def _evidence(self, scores: np.ndarray, features: np.ndarray | None) -> np.ndarray:
        evidence = relative_evidence(self.direction_ * np.asarray(scores, dtype=np.float64))
        return evidence if features is None else np.hstack([evidence, np.asarray(features, dtype=np.float64)])

    def probabilities(self, scores: np.ndarray, *, features: np.ndarray | None = None) -> np.ndarray:
        """P(forgotten) of each class of one target, from its (K,) scores (and (K, m) features when
        the calibrator was fit with features)."""
        if self._model is None:
            raise SetCalibrationError("the set calibrator is not fitted (fit it on shadow scores first)")
        evidence = self._evidence(scores, features)
        if evidence.shape[1] != self._model.n_features_in_:
            raise SetCalibrationError(
                f"the calibrator was fit on {self._model.n_features_in_ - len(EVIDENCE)} further features per class, "
                f"got {evidence.shape[1] - len(EVIDENCE)}"
            )
        return np.asarray(self._model.predict_proba(evidence)[:, 1], dtype=np.float64)

    def decide(self, scores: np.ndarray, *, features: np.ndarray | None = None) -> tuple[np.ndarray, tuple[int, ...]]:
        """Probabilities (K,) and the decided set of one target."""
        probabilities = self.probabilities(scores, features=features)
        assert self.cut_ is not None
        return probabilities, flag(probabilities, self.cut_)

    def describe(self) -> dict[str, Any]:
        return {
            "direction": self.direction_,
            "cut": self.cut_,
            "shadow_exact_set_rate": self.shadow_exact_,
            "n_shadow": self.n_shadow_,
        }
