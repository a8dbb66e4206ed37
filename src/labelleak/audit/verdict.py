"""Where the attacks agree: the score margin of one result and the verdict over all of them.

The verdict fuses evidence rather than counting votes. Each attack's per-class scores become a
calibrated probability of "forgotten" per class (:class:`~labelleak.attacks.setsize.SetCalibrator`,
fit on that attack's scores of the attacker's shadow models, whose forgotten sets are known), the
attacks' log-odds are combined per class, and the classes above a cut form the verdict. Two
combinations are fit and the one that names the shadows' forgotten sets (single classes, pairs,
triples) exactly more often, on out-of-fold probabilities, is kept:

* **mean** — the average of the attacks' log-odds: every attack counts the same, so two
  correlated, over-confident attacks can add a class;
* **stacked** — a logistic regression on the attacks' log-odds (stacked generalisation, Wolpert
  1992), fit on the shadows' out-of-fold log-odds, which learns how much each attack is worth.

The cut is the one that names the shadows' forgotten sets exactly most often. A class the fusion
puts above the cut is named only when at least one attack named it itself (an attack that votes:
one left out of the fusion for deciding too many classes still counts): a mean of log-odds can
lift a class that every attack, on its own, left out (four attacks each giving it well under even
odds), and the verdict would then name a class on which no attack agrees (on black-box audits such
classes were retained ones: docs/inversion_attacks.md, "The audit's black-box verdict"); they are
reported as ``unsupported``. An attack whose own
decided set is larger than every forgotten set the shadows held is outside the range its calibration
was fit on (its thresholds did not carry over from the attacker's shadow originals to this model;
docs/audit.md measures this for inversion on a dropout MLP) and abstains from the fusion, unless
every attack would. An attack that found its own premise false on the target
(:attr:`~labelleak.attacks.base.AttackResult.abstains`, e.g. ``param-diff-orig`` on a model
retrained from scratch) abstains too, from the fusion and from the vote. An audit without shadow models (nothing in it needed them, e.g. a queries-only audit)
falls back to a majority vote over the attacks' decided sets.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, cross_val_predict

from labelleak.attacks.base import AttackResult, ShadowScores
from labelleak.attacks.setsize import (
    MAX_FOLDS,
    SetCalibrationError,
    SetCalibrator,
    best_exact_cut,
    log_odds,
)

logger = logging.getLogger(__name__)

#: raised whenever the verdict's rule changes, so that audits stored under an older rule are not reused
#: (2: a class is named only when an attack named it)
VERDICT_REVISION = 2


def score_margin(scores: np.ndarray, predicted: Sequence[int]) -> float:
    """Gap between the decided set and the rest, in units of the scores' spread across classes:
    (min over Ĉ − max over the other classes) / std(s). Positive = Ĉ stands above every other class;
    comparable across attacks whose raw scores live on different scales. 0 when scores are flat."""
    scores = np.asarray(scores, dtype=np.float64)
    inside = [int(c) for c in predicted]
    outside = [k for k in range(len(scores)) if k not in inside]
    spread = float(scores.std())
    if not inside or not outside or spread == 0 or not np.isfinite(spread):
        return 0.0
    return float((scores[inside].min() - scores[outside].max()) / spread)


@dataclass
class AuditVerdict:
    """The classes the audit names, how many attacks named each of them (at least), the attacks run.

    ``rule`` is "fused" (calibrated log-odds of ``fused_attacks`` combined as ``fusion`` says:
    "mean" or "stacked") or "majority"; ``confidence`` (fused rule only) is, per class, the logistic
    of the fused log-odds minus the cut: above 0.5 for the named classes and for the ``unsupported``
    ones (above the cut, but named by no attack), unless none clears the cut and the best-supported
    class is named. ``abstained`` lists the attacks left out: those whose result abstains, and
    calibrated attacks whose decided set was larger than any forgotten set of the shadows.
    """

    forgotten: list[int]
    agreeing_attacks: int
    attacks_run: int
    rule: str = "majority"
    confidence: list[float] = field(default_factory=list)
    fused_attacks: list[str] = field(default_factory=list)
    fusion: str = ""
    abstained: list[str] = field(default_factory=list)
    unsupported: list[int] = field(default_factory=list)


def is_chance_reference(result: AttackResult) -> bool:
    """True for a query-level attack that asked the model nothing (e.g. ``random-guess``): it carries
    no evidence about the model, so it is shown but never counted."""
    return result.access == "queries" and result.queries == 0


def votes_in_verdict(result: AttackResult) -> bool:
    """False for a chance reference and for a result that abstains: shown, but not evidence."""
    return not is_chance_reference(result) and not result.abstains


@dataclass
class VerdictModel:
    """What the fused verdict is fit to: each attack's set calibrator, the combination and its cut.

    Attributes:
        calibrators: attack name -> its :class:`SetCalibrator` (fit on its shadow scores).
        cut: fused log-odds above which a class is named (of the mean combination).
        shadow_exact: exact-set rate of the mean combination on the shadows it was fit on
            (out-of-fold probabilities; NaN when fewer than two shadow targets were common to every
            attack).
        n_shadow: shadow targets the cuts were fit on.
        largest_set: the most classes any shadow target forgot (0 when unknown); an attack that
            decides more than this abstains from the fusion.
        stacker: the stacked combination (None when the mean names the shadows' sets at least as
            often, or with fewer than two attacks); its features are the log-odds of ``stacked_attacks``.
        stacked_cut, stacked_exact: its cut and out-of-fold exact-set rate on the shadows.
    """

    calibrators: dict[str, SetCalibrator]
    cut: float
    shadow_exact: float
    n_shadow: int
    largest_set: int = 0
    stacker: LogisticRegression | None = None
    stacked_attacks: list[str] = field(default_factory=list)
    stacked_cut: float = float("nan")
    stacked_exact: float = float("nan")

    @classmethod
    def fit(cls, shadow_scores: Mapping[str, ShadowScores]) -> VerdictModel | None:
        """Fit on every attack's shadow scores (None when no attack's scores can fit a calibrator)."""
        calibrators: dict[str, SetCalibrator] = {}
        for name, rows in shadow_scores.items():
            try:
                calibrators[name] = SetCalibrator().fit(rows.scores, rows.forgotten)
            except SetCalibrationError as err:
                logger.info("attack %s stays out of the fused verdict: %s", name, err)
        if not calibrators:
            return None
        largest_set = max(int(shadow_scores[name].forgotten.sum(axis=1).max()) for name in calibrators)
        common = sorted(set.intersection(*(set(shadow_scores[name].ids) for name in calibrators)))
        if len(common) < 2:
            return cls(calibrators=calibrators, cut=0.0, shadow_exact=float("nan"), n_shadow=0, largest_set=largest_set)
        names = list(calibrators)
        evidence = np.stack(
            [
                log_odds(calibrators[name].out_of_fold_[[shadow_scores[name].ids.index(i) for i in common]])
                for name in names
            ],
            axis=-1,
        )  # (n, K, attacks)
        first = shadow_scores[names[0]]
        labels = first.forgotten[[first.ids.index(i) for i in common]]
        fused = evidence.mean(axis=-1)
        cut, rate = best_exact_cut(fused, labels)
        model = cls(
            calibrators=calibrators,
            cut=cut if np.isfinite(cut) else float(fused.max()),
            shadow_exact=rate,
            n_shadow=len(common),
            largest_set=largest_set,
        )
        if len(names) >= 2:
            model._fit_stacker(evidence, labels, names)
        return model

    def _fit_stacker(self, evidence: np.ndarray, labels: np.ndarray, names: list[str]) -> None:
        """Keep a stacked combination when, out of fold, it names the shadows' sets more often than the mean."""
        n, k, _ = evidence.shape
        x, y = evidence.reshape(n * k, -1), np.asarray(labels, dtype=int).reshape(-1)
        groups = np.repeat(np.arange(n), k)
        folds = GroupKFold(n_splits=min(MAX_FOLDS, n))
        try:
            out_of_fold = cross_val_predict(_stacker(), x, y, groups=groups, cv=folds, method="predict_proba")[:, 1]
        except ValueError as err:  # a fold with one kind of class only
            logger.info("no stacked verdict: %s", err)
            return
        stacked = log_odds(out_of_fold.reshape(n, k))
        cut, rate = best_exact_cut(stacked, labels)
        if rate > self.shadow_exact:
            self.stacker = _stacker().fit(x, y)
            self.stacked_attacks = names
            self.stacked_cut = cut if np.isfinite(cut) else float(stacked.max())
            self.stacked_exact = rate

    def probabilities(self, result: AttackResult) -> np.ndarray | None:
        """P(forgotten) per class of one attack's result (None for an attack without a calibrator)."""
        calibrator = self.calibrators.get(result.attack)
        return None if calibrator is None else calibrator.probabilities(result.scores)

    def fuse(self, results: Sequence[AttackResult]) -> tuple[np.ndarray, float, str]:
        """(fused log-odds per class, the cut, "stacked" or "mean") for ``results`` of calibrated attacks:
        the stacked combination when every attack it was fit on is among them, else the mean."""
        evidence = {r.attack: log_odds(self.calibrators[r.attack].probabilities(r.scores)) for r in results}
        if self.stacker is not None and all(name in evidence for name in self.stacked_attacks):
            x = np.stack([evidence[name] for name in self.stacked_attacks], axis=-1)
            return log_odds(self.stacker.predict_proba(x)[:, 1]), self.stacked_cut, "stacked"
        return np.mean(list(evidence.values()), axis=0), self.cut, "mean"


def _stacker() -> LogisticRegression:
    return LogisticRegression(C=1.0, max_iter=1000)


def vote_counts(results: Sequence[AttackResult], *, num_classes: int) -> np.ndarray:
    """Per class, how many of ``results`` that vote (:func:`votes_in_verdict`) name it in their decided set."""
    votes = np.zeros(num_classes, dtype=int)
    for result in results:
        if votes_in_verdict(result):
            for c in result.predicted:
                votes[int(c)] += 1
    return votes


def supported_classes(evidence: np.ndarray, *, cut: float, votes: np.ndarray) -> tuple[list[int], list[int]]:
    """(named, unsupported) under the fused rule: the classes whose fused ``evidence`` clears ``cut``
    and that at least one attack named (``votes`` per class > 0), and those that clear it unnamed.
    When no class above the cut was named by an attack, the named class of most evidence (the top
    class when no attack named any)."""
    evidence, votes = np.asarray(evidence, dtype=np.float64), np.asarray(votes)
    above = np.flatnonzero(evidence > cut)
    named = above[votes[above] > 0]
    if not len(named):
        candidates = np.flatnonzero(votes > 0) if votes.any() else np.arange(len(evidence))
        named = candidates[[int(np.argmax(evidence[candidates]))]]
    return [int(c) for c in named], [int(c) for c in above if votes[c] == 0]


def verdict(results: Sequence[AttackResult], *, num_classes: int, model: VerdictModel | None = None) -> AuditVerdict:
    """The classes the audit names.

    With ``model`` and at least one of its attacks among ``results``: the fused rule (module
    docstring), without the attacks that abstain, naming only classes that some voting attack
    named. Otherwise a majority vote: a class is named when
    more than half of the attacks that looked at the model and did not abstain name it, or, when
    none has a majority, the most-named classes (ties all reported). ``agreeing_attacks`` is, either
    way, the fewest attacks that named one of the named classes; ``attacks_run`` counts every attack
    run, chance references and abstaining ones included.
    """
    voting = [result for result in results if votes_in_verdict(result)]
    votes = vote_counts(results, num_classes=num_classes)
    declined = [result.attack for result in results if result.abstains]
    calibrated = [r for r in voting if model is not None and r.attack in model.calibrators]
    if model is not None and calibrated:
        in_range = [r for r in calibrated if not model.largest_set or len(r.predicted) <= model.largest_set]
        fused = in_range or calibrated
        evidence, cut, fusion = model.fuse(fused)
        named, unsupported = supported_classes(evidence, cut=cut, votes=votes)
        confidence = 1.0 / (1.0 + np.exp(-(evidence - cut)))
        return AuditVerdict(
            forgotten=[int(c) for c in named],
            agreeing_attacks=int(votes[named].min()),
            attacks_run=len(results),
            rule="fused",
            confidence=[round(float(c), 6) for c in confidence],
            fused_attacks=[r.attack for r in fused],
            fusion=fusion,
            abstained=declined + [r.attack for r in calibrated if all(r is not f for f in fused)],
            unsupported=unsupported,
        )
    if votes.max(initial=0) == 0:
        return AuditVerdict(forgotten=[], agreeing_attacks=0, attacks_run=len(results), abstained=declined)
    majority = np.flatnonzero(2 * votes > len(voting))
    if not len(majority):
        majority = np.flatnonzero(votes == votes.max())
    return AuditVerdict(
        forgotten=[int(c) for c in majority],
        agreeing_attacks=int(votes[majority].min()),
        attacks_run=len(results),
        abstained=declined,
    )
