"""Criteria that read the forgotten class(es) off inversion prototypes (Zheng et al., arXiv 2604.07386, 2026).

Both inversion attacks (white-box :mod:`labelleak.attacks.inversion`, black-box
:mod:`labelleak.attacks.genetic`) end with, for every class k, a prototype x_k, its achieved
confidence p_k(x_k) and its prediction profile p(x_k) — recorded at several checkpoints (steps or
queries), because the forgotten class lags *early* and every class can be driven to ~1 later
(measured in docs/inversion_attacks.md). A criterion turns one checkpoint of that record into per-class scores s (higher =
more likely forgotten) and a decided set Ĉ:

* :class:`ThresholdCriterion` — class k is flagged when its best achieved confidence stays below τ;
  score s_k = −p_k(x_k).
* :class:`EntropyCriterion` — class k is flagged when the entropy H(p(x_k)) of its prototype's
  profile is a robust outlier (median/MAD z-score above ``z``) among the K classes; s_k = H.

If nothing is flagged, Ĉ = {argmax s}; otherwise the criterion decides |Ĉ| (multi-class).

**How many classes** (``set_decision``): a calibrated attack names the classes whose normalised score
exceeds the threshold fitted on the shadows ("cut", the default). That threshold is an absolute
level, and it carries over badly when the target was unlearned by a method other than the
shadows': on half of the Amnesiac and gradient-ascent pairs and triples measured, the forgotten
classes stand far above the retained ones but below a cut fitted on random-label shadows, so one
class is named (docs/inversion_attacks.md).
"calibrated" instead feeds the same scores to a :class:`~labelleak.attacks.setsize.SetCalibrator`
fitted on the shadows' scores: it reads each class's score *relative to the target's other classes*
(z-score, gaps to its neighbours in the ranking), which does not depend on the level.

:class:`InversionCalibration` replaces the fixed defaults with values fitted on *shadow*
experiments (models the attacker trained and unlearned itself, so the forgotten classes are
known): which checkpoint to read, a per-class difficulty reference (how confident the same class's
prototype gets on shadow models that did *not* forget it — classes differ in how easily they
invert) and the threshold whose decision (flag above it, else argmax) names the forgotten set
exactly on the most shadow runs — the decision's own metric, not Youden's J on pooled (class,
forgotten?) pairs, which with K − 1 negatives per positive flags several classes per target.
It is never fitted on the targets being reported.

**Reference from the original** (``reference="original"``, the two-version setting): when the
attacker also holds θ_o, the per-class difficulty reference is not a median over the attacker's
shadows but the same inversion run on θ_o itself — the same architecture *and* the same weights
before unlearning, so a class that is hard to invert on this particular model is hard on both
and cancels out. The calibration then fits the threshold on shadow runs normalised the same way,
each by the run on its own shadow original θ_o′. Why: per-class difficulty does not carry over from
the attacker's shadow originals to an independently trained θ_o (docs/audit.md measures it on a
dropout MLP, where one retained class inverts badly on the owner's model and is flagged by every
inversion attack).

**Minimum drop** (threshold criterion): a calibrated threshold is never below log 2 nats
(:data:`MIN_CONFIDENCE_DROP`), so a class is flagged only when its best achieved confidence fell to
at most half its reference. Shadows unlearned by gradient ascent or random labels leave their
retained classes where they were, so the cut that names the shadows' sets best can sit at a drop of
a fraction of a percent (on a foreign dropout MLP, at its last checkpoint), which an owner's
unlearning that trains on the retained data exceeds on classes it kept: every one of them
is flagged. The floor is a prior the shadows cannot supply, not a value fitted on them; the
checkpoint is still the one the shadows chose. Letting the floor also choose the checkpoint was
tried and moved the read to an earlier checkpoint, where the owner's collateral changes are larger
still (docs/audit.md, "Ranking versus naming").

**Choosing the checkpoint across originals** (``checkpoint_choice``, with the shadows' reference):
the reference and the shadow runs the checkpoint is chosen on come from the same shadow originals,
so an early checkpoint, where per-class difficulty is still specific to the model, can name the
shadows' sets best and transfer worst to a target's independently trained θ_o. "pooled" (the
default) chooses on every shadow run against the reference of all of them; "across-originals"
needs two or more shadow originals and scores each original's runs against the reference fitted on
the others' (scikit-learn's ``LeaveOneGroupOut``), so the checkpoint and threshold are chosen on
the transfer a target faces; the shadows' own scores, which a calibrated set decision and the
audit's verdict are fit on, are those leave-one-original-out scores too, so the fusion learns how
far each attack's scores carry over to an unseen original. Measured on the grid targets of
configs/multiclass-methods.toml (docs/results/checkpoint-transfer): across originals never
collapsed where the others did, but it was measured on the grids the problem was found on, so the
attacks' default stays "pooled"; an audit with several shadow originals and no θ_o chooses across
them (docs/audit.md, "Options").
"""

from __future__ import annotations

import json
import math
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.model_selection import LeaveOneGroupOut

from labelleak.attacks.base import Attack, AttackerKnowledge, CalibrationError, MissingKnowledgeError, ShadowScores
from labelleak.attacks.setsize import SetCalibrationError, SetCalibrator, best_exact_cut, exact_set_rate
from labelleak.models.io import state_digest
from labelleak.targets import access_view
from labelleak.validation import ParameterError, check_choice, check_number

if TYPE_CHECKING:
    from labelleak.attacks.shadow import Shadows, ShadowTarget

CRITERIA = ("threshold", "entropy")
#: where the per-class difficulty reference of a calibrated criterion comes from (module docstring)
REFERENCES = ("shadows", "original")
#: how a calibrated inversion attack decides how many classes to name (module docstring)
SET_DECISIONS = ("cut", "calibrated")
#: how a calibration with a reference from the shadows chooses its checkpoint and threshold: on every
#: shadow run at once, or on each original's runs scored against the other originals' reference
#: (module docstring, "Choosing the checkpoint across originals")
CHECKPOINT_CHOICES = ("pooled", "across-originals")

#: the smallest drop a calibrated threshold criterion calls forgetting, in its normalised score
#: (reference − log-confidence): the class's best achieved confidence at most half its reference
#: (module docstring, "Minimum drop")
MIN_CONFIDENCE_DROP = math.log(2)

#: 1.4826 · MAD estimates σ for normal data, so the robust z-score is on the usual scale
_MAD_TO_SIGMA = 1.4826
#: floor on the MAD so that K identical entropies do not divide by zero
_MAD_FLOOR = 1e-6


def entropy(profiles: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) of each row of ``profiles`` (rows are probability vectors)."""
    p = np.clip(np.asarray(profiles, dtype=np.float64), 1e-12, 1.0)
    return -(p * np.log(p)).sum(axis=-1)


def robust_z(values: np.ndarray) -> np.ndarray:
    """(v − median) / (1.4826 · MAD): a z-score that a single outlier cannot mask."""
    values = np.asarray(values, dtype=np.float64)
    med = np.median(values)
    mad = max(float(np.median(np.abs(values - med))), _MAD_FLOOR)
    return (values - med) / (_MAD_TO_SIGMA * mad)


def at_or_last(readings: Sequence[InversionReading], index: int) -> InversionReading:
    """Checkpoint ``index`` of a run's readings, or the run's last when it is shorter (a run with a
    smaller budget, e.g. on θ_o, is read at its end)."""
    return readings[min(index, len(readings) - 1)]


def _decide(scores: np.ndarray, flagged: np.ndarray) -> tuple[int, ...]:
    if flagged.any():
        return tuple(int(k) for k in np.flatnonzero(flagged))
    return (int(np.argmax(scores)),)


@dataclass(frozen=True)
class InversionReading:
    """One checkpoint of an inversion run: what a criterion needs.

    Attributes:
        confidence: (K,) best achieved p_k(x_k) per class.
        profiles: (K, K) row k = p(x_k), the prediction profile of class k's prototype.
    """

    confidence: np.ndarray
    profiles: np.ndarray


@dataclass
class InversionRun:
    """The record of one inversion run on one target (white-box or black-box).

    Attributes:
        unit: what ``checkpoints`` count: "steps" (white-box gradient evaluations) or "queries"
            (black-box queries per target).
        checkpoints: (T,) increasing budgets at which the state was recorded.
        confidence: (T, K) best-so-far p_k(x_k) per class at each checkpoint.
        profiles: (T, K, K) p(x_k) of the best-so-far prototype of class k at each checkpoint.
        prototypes: (K, C, H, W) tensor, the best prototype of each class at the end of the run.
        first_crossing: confidence level -> (K,) budget (same unit) at which p_k first reached the
            level, −1 where it never did.
        queries: forward evaluations charged to the target (inputs, not batches).
    """

    unit: str
    checkpoints: np.ndarray
    confidence: np.ndarray
    profiles: np.ndarray
    prototypes: Any
    first_crossing: dict[float, np.ndarray]
    queries: int

    def reading(self, index: int = -1) -> InversionReading:
        """The criterion input at checkpoint ``index`` (default: the last)."""
        return InversionReading(confidence=self.confidence[index], profiles=self.profiles[index])

    def readings(self) -> list[InversionReading]:
        return [self.reading(i) for i in range(len(self.checkpoints))]

    def clamp(self, index: int) -> int:
        """``index``, or the last checkpoint's when the run is shorter (:func:`at_or_last`)."""
        return min(index, len(self.checkpoints) - 1)

    def index_at(self, budget: int) -> int:
        """Index of the last checkpoint not beyond ``budget`` (at least the first)."""
        return max(int(np.searchsorted(self.checkpoints, budget, side="right")) - 1, 0)

    def auto_index(self, level: float) -> int:
        """The first checkpoint at which the median class confidence reaches ``level`` (else the last):
        the typical class has inverted and a lagging class shows; it uses no label."""
        reached = np.flatnonzero(np.median(self.confidence, axis=1) >= level)
        return int(reached[0]) if len(reached) else len(self.checkpoints) - 1

    @classmethod
    def from_summary(cls, summary: dict[str, Any], prototypes: Any) -> InversionRun:
        """Rebuild a run from :meth:`summary` and its prototypes (e.g. from an artifact store)."""
        return cls(
            unit=summary["unit"],
            checkpoints=np.asarray(summary["checkpoints"], dtype=np.int64),
            confidence=np.asarray(summary["confidence"], dtype=np.float64),
            profiles=np.asarray(summary["profiles"], dtype=np.float64),
            prototypes=prototypes,
            first_crossing={
                float(level): np.asarray(v, dtype=np.int64) for level, v in summary["first_crossing"].items()
            },
            queries=int(summary["queries"]),
        )

    def summary(self) -> dict[str, Any]:
        """JSON-ready trajectories (prototypes excluded)."""
        return {
            "unit": self.unit,
            "checkpoints": [int(c) for c in self.checkpoints],
            "confidence": self.confidence.tolist(),
            "profiles": self.profiles.tolist(),
            "first_crossing": {str(level): [int(v) for v in steps] for level, steps in self.first_crossing.items()},
            "queries": int(self.queries),
        }


class ThresholdCriterion:
    """Flag class k when its prototype's best achieved confidence stays below ``tau``.

    With an :class:`InversionCalibration` the confidence is first compared with the same class's
    typical confidence on shadow models (log p_k − reference_k) and the threshold is the
    calibrated one; scores are then the negated normalised log-confidence.
    """

    name = "threshold"

    def __init__(self, *, tau: float = 0.5) -> None:
        self.tau = check_number("tau", tau, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)

    def decide(
        self,
        reading: InversionReading,
        *,
        calibration: InversionCalibration | None = None,
        original: InversionReading | None = None,
    ) -> tuple[np.ndarray, tuple[int, ...]]:
        confidence = np.asarray(reading.confidence, dtype=np.float64)
        if calibration is None:
            scores = -confidence
            return scores, _decide(scores, confidence < self.tau)
        scores = calibration.normalised_scores(reading, "threshold", original=original)
        return scores, _decide(scores, scores > calibration.threshold)


class EntropyCriterion:
    """Flag class k when H(p(x_k)) is a robust outlier above the others (z-score > ``z``)."""

    name = "entropy"

    def __init__(self, *, z: float = 3.5) -> None:
        self.z = check_number("z", z, low=0.0, low_inclusive=False)

    def decide(
        self,
        reading: InversionReading,
        *,
        calibration: InversionCalibration | None = None,
        original: InversionReading | None = None,
    ) -> tuple[np.ndarray, tuple[int, ...]]:
        if calibration is None:
            scores = entropy(reading.profiles)
            return scores, _decide(scores, robust_z(scores) > self.z)
        scores = calibration.normalised_scores(reading, "entropy", original=original)
        return scores, _decide(scores, scores > calibration.threshold)


def check_checkpoint_choice(choice: str, *, reference: str) -> str:
    """``choice`` among :data:`CHECKPOINT_CHOICES`; "across-originals" needs the shadows' reference
    (with θ_o's run as the reference every shadow run is already scored against its own original)."""
    check_choice("checkpoint_choice", choice, CHECKPOINT_CHOICES)
    if choice == "across-originals" and reference != "shadows":
        raise ParameterError(
            f"checkpoint_choice='across-originals' applies to reference='shadows', got reference={reference!r}"
        )
    return choice


def make_criterion(name: str, *, tau: float = 0.5, z: float = 3.5) -> ThresholdCriterion | EntropyCriterion:
    """The criterion called ``name`` ("threshold" or "entropy") with its fixed default parameter."""
    check_choice("criterion", name, CRITERIA)
    return ThresholdCriterion(tau=tau) if name == "threshold" else EntropyCriterion(z=z)


@dataclass(frozen=True)
class InversionCalibration:
    """A criterion's parameters fitted on shadow experiments (never on reported targets).

    Attributes:
        criterion: "threshold" or "entropy".
        checkpoint: the index into the run's checkpoints to read (a step budget for white-box,
            a query budget for black-box).
        reference: (K,) per-class difficulty reference: the median statistic (log-confidence for
            threshold, entropy for entropy) of class k's prototype on shadow models that retained k
            (used when ``source`` is "shadows").
        threshold: classes whose normalised score exceeds it are flagged.
        shadow_asr: the exact-match rate (ASR) the decision achieved on the shadow runs.
        n_shadow: number of shadow runs it was fitted on.
        source: "shadows" (``reference`` above) or "original" (the statistic of the same run on the
            target's original model, passed to :meth:`normalised_scores`; module docstring).
    """

    criterion: str
    checkpoint: int
    reference: np.ndarray
    threshold: float
    shadow_asr: float
    n_shadow: int
    source: str = "shadows"

    def normalised_scores(
        self, reading: InversionReading, criterion: str, *, original: InversionReading | None = None
    ) -> np.ndarray:
        """The per-class statistic minus its reference (the shadows', or that of ``original``, the
        same checkpoint of the run on the original model), signed so that higher = forgotten."""
        if criterion != self.criterion:
            raise ParameterError(f"calibration was fitted for criterion {self.criterion!r}, not {criterion!r}")
        if self.source == "original":
            if original is None:
                raise ParameterError("this calibration reads its reference off the original model: pass original=")
            reference = _statistic(original, criterion)
        else:
            reference = np.asarray(self.reference, dtype=np.float64)
        return _normalise(_statistic(reading, criterion), reference, criterion)

    def describe(self) -> str:
        """One line for result tables: the fitted values."""
        return json.dumps(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        return {
            "criterion": self.criterion,
            "checkpoint": int(self.checkpoint),
            "reference": [float(r) for r in self.reference],
            "threshold": float(self.threshold),
            "shadow_asr": float(self.shadow_asr),
            "n_shadow": int(self.n_shadow),
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InversionCalibration:
        return cls(
            criterion=check_choice("criterion", data["criterion"], CRITERIA),
            checkpoint=int(data["checkpoint"]),
            reference=np.asarray(data["reference"], dtype=np.float64),
            threshold=float(data["threshold"]),
            shadow_asr=float(data["shadow_asr"]),
            n_shadow=int(data["n_shadow"]),
            source=check_choice("source", data.get("source", "shadows"), REFERENCES),
        )


def _statistic(reading: InversionReading, criterion: str) -> np.ndarray:
    if criterion == "threshold":
        return np.log(np.clip(np.asarray(reading.confidence, dtype=np.float64), 1e-12, 1.0))
    return entropy(reading.profiles)


def _normalise(stats: np.ndarray, reference: np.ndarray, criterion: str) -> np.ndarray:
    """Statistic against reference, higher = forgotten: a low confidence, a high entropy."""
    return (reference - stats) if criterion == "threshold" else (stats - reference)


def _margin(normalised: np.ndarray, labels: np.ndarray) -> float:
    """Mean over runs of (lowest forgotten − highest retained) robust z-score: how clearly a
    checkpoint separates, on a scale comparable across checkpoints."""
    z = np.stack([robust_z(row) for row in normalised])
    return float(np.mean([z[i, labels[i]].min() - z[i, ~labels[i]].max() for i in range(len(z))]))


def fit_calibration(
    readings: Sequence[Sequence[InversionReading]],
    forgotten: Sequence[Sequence[int]],
    *,
    criterion: str,
    checkpoints: Sequence[int] | None = None,
    originals: Sequence[Sequence[InversionReading]] | None = None,
    min_drop: float | None = MIN_CONFIDENCE_DROP,
    groups: Sequence[int] | None = None,
) -> InversionCalibration:
    """Fit an :class:`InversionCalibration` on shadow runs.

    Args:
        readings: one entry per shadow run, each the run's readings at every checkpoint (same
            checkpoints for all runs; ``InversionRun.readings()`` gives them).
        forgotten: the classes each shadow run forgot.
        criterion: "threshold" or "entropy".
        checkpoints: candidate checkpoint indices (default: all); the one with the highest shadow
            exact-match rate is kept, ties broken by the larger mean separation margin (robust
            z-score of the forgotten classes over the highest retained one) — the earliest
            checkpoint often ties on a few shadow runs but transfers worst.
        originals: with them, the reference of each shadow run is the same checkpoint of the run
            on its own shadow original (one entry per shadow run, each at every checkpoint; a
            shorter one is read at its last): the calibration's ``source`` is then "original".
        min_drop: the lowest threshold of the threshold criterion (None: none): a lower fitted one
            is raised to it, at the checkpoint chosen without it, and ``shadow_asr`` is that of the
            raised threshold. The entropy criterion ignores it.
        groups: the shadow original each run was unlearned from (one entry per run), for a
            reference from the shadows: with two or more originals, each run is scored against the
            reference of the *other* originals' runs (leave one original out), and the checkpoint
            and threshold are chosen on those scores, the transfer a target of an unseen original
            faces (module docstring, "Choosing the checkpoint across originals"). The stored
            reference is still the median over every run (a target's original is none of the
            shadows'). Ignored with ``originals``.

    The per-class reference is the median over shadow runs that retained the class; a class never
    retained in any shadow run gets the median reference of the others.
    """
    check_choice("criterion", criterion, CRITERIA)
    if not readings or len(readings) != len(forgotten):
        raise ParameterError(
            f"readings and forgotten must be non-empty and of equal length, got {len(readings)} and {len(forgotten)}"
        )
    n_checkpoints = len(readings[0])
    if any(len(r) != n_checkpoints for r in readings):
        raise ParameterError("every shadow run must have the same number of checkpoints")
    candidates = list(range(n_checkpoints)) if checkpoints is None else [int(c) for c in checkpoints]
    for c in candidates:
        check_number("checkpoint", c, low=0, high=n_checkpoints - 1, integer=True)
    num_classes = len(readings[0][0].confidence)
    labels = forgotten_labels(forgotten, num_classes)
    if labels.all(axis=1).any() or not labels.any(axis=1).all():
        raise ParameterError("every shadow run must forget at least one class and retain at least one")
    if originals is not None and len(originals) != len(readings):
        raise ParameterError(f"originals must hold one run per shadow run ({len(readings)}), got {len(originals)}")
    if groups is not None and len(groups) != len(readings):
        raise ParameterError(f"groups must name one original per shadow run ({len(readings)}), got {len(groups)}")
    across = originals is None and groups is not None and len(set(groups)) > 1

    best: InversionCalibration | None = None
    best_key = (-1.0, -float("inf"))
    best_normalised = np.empty((0, num_classes))
    for c in candidates:
        stats = np.stack([_statistic(run[c], criterion) for run in readings])
        reference = _shadow_reference(stats, labels)
        if across:
            assert groups is not None
            normalised = across_originals(stats, labels, groups, criterion)
        elif originals is None:
            normalised = _normalise(stats, reference, criterion)
        else:
            own = np.stack([_statistic(at_or_last(run, c), criterion) for run in originals])
            normalised = _normalise(stats, own, criterion)
        threshold, rate = best_exact_cut(normalised, labels)
        key = (rate, _margin(normalised, labels))
        if key > best_key:
            best_key, best_normalised = key, normalised
            best = InversionCalibration(
                criterion=criterion,
                checkpoint=c,
                reference=reference,
                threshold=threshold,
                shadow_asr=rate,
                n_shadow=len(readings),
                source="shadows" if originals is None else "original",
            )
    assert best is not None
    if criterion == "threshold" and min_drop is not None and best.threshold < min_drop:
        best = replace(best, threshold=min_drop, shadow_asr=exact_set_rate(best_normalised, labels, min_drop))
    return best


def forgotten_labels(forgotten: Sequence[Sequence[int]], num_classes: int) -> np.ndarray:
    """(runs, K) booleans: which classes each shadow run forgot."""
    labels = np.zeros((len(forgotten), num_classes), dtype=bool)
    for i, classes in enumerate(forgotten):
        labels[i, list(classes)] = True
    return labels


def across_originals(stats: np.ndarray, labels: np.ndarray, groups: Sequence[int], criterion: str) -> np.ndarray:
    """Each shadow run's statistic normalised by the reference of the runs of the *other* shadow
    originals (scikit-learn's ``LeaveOneGroupOut`` over ``groups``): the scores a target of an unseen
    original gets, where the reference did not come from its own original."""
    normalised = np.empty_like(stats)
    for fit_on, score_on in LeaveOneGroupOut().split(stats, groups=np.asarray(groups)):
        others = _shadow_reference(stats[fit_on], labels[fit_on])
        normalised[score_on] = _normalise(stats[score_on], others, criterion)
    return normalised


def _shadow_reference(stats: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per class, the median statistic over the runs that retained it; a class no run retained gets
    the median of the others'."""
    num_classes = stats.shape[1]
    seen = (~labels).any(axis=0)
    reference = np.full(num_classes, np.nan)
    reference[seen] = np.nanmedian(np.where(labels, np.nan, stats)[:, seen], axis=0)
    if not seen.all():
        reference[~seen] = np.median(reference[seen])
    return reference


class InversionAttack(Attack):
    """What both inversion attacks share: ``run(view)`` records a trajectory of per-class prototypes,
    a criterion reads one checkpoint of it, and :meth:`calibrate` fits that criterion on the runs of
    this same attack configuration on the attacker's shadow models (cached with the shadows)."""

    criterion: str
    #: where the calibrated criterion's per-class difficulty reference comes from (:data:`REFERENCES`)
    reference: str = "shadows"
    category = "inversion"
    _criterion: ThresholdCriterion | EntropyCriterion
    #: how the set is named (:data:`SET_DECISIONS`); subclasses take it as a constructor option
    set_decision: str = "cut"
    #: how the calibration chooses its checkpoint (:data:`CHECKPOINT_CHOICES`); a constructor option
    checkpoint_choice: str = "pooled"
    #: the shadows of the last calibration, whose store also keeps the runs on θ_o (:meth:`original_run`)
    _shadows: Shadows | None = None
    #: with set_decision="calibrated", fitted on the shadows' scores by :meth:`calibrate`
    _set_calibrator: SetCalibrator | None = None

    @property
    def calibratable(self) -> bool:
        return True

    @property
    def needs_calibration(self) -> bool:
        # a difference against the original's run has no fixed threshold, and a set decision has no
        # default: both are fit on the shadows
        return self.reference == "original" or self.set_decision == "calibrated"

    def calibration_key(self) -> dict[str, Any]:
        # the shadow runs do not depend on how the set is named: both decisions share them
        key = super().calibration_key()
        return {**key, "options": {k: v for k, v in key["options"].items() if k != "set_decision"}}

    def _check_knowledge(self, knowledge: AttackerKnowledge) -> None:
        super()._check_knowledge(knowledge)
        if self.reference == "original" and knowledge.original is None:
            raise MissingKnowledgeError(
                f"attack {self.name!r} with reference='original' needs the original model θ_o (two-version setting)"
            )

    def original_run(self, knowledge: AttackerKnowledge) -> InversionRun | None:
        """With ``reference="original"``, the same search on θ_o (the attacker's own copy: its
        queries are not charged to the target); else None.

        Calibrated on shadows, the run is stored with them, keyed by θ_o's weights and this attack's
        configuration: every target unlearned from the same θ_o reads the same run, so auditing
        several releases of one original pays for its search once. Only the readings are kept
        (criteria never look at θ_o's prototypes)."""
        if self.reference != "original":
            return None
        original = knowledge.original
        assert original is not None  # checked by infer
        if self._shadows is None:
            return self.run(original)
        key = {
            **self.calibration_key(),
            "revision": type(self).revision(self.options),
            "original": state_digest(original.model),
            "record": 1,
        }
        summary = self._shadows.cached("original-inversion", key, lambda: self.run(original).summary())
        return InversionRun.from_summary(summary, prototypes=None)

    @abstractmethod
    def run(self, target: Any) -> InversionRun:
        """The search alone (no criterion): the trajectory of every class's prototype."""

    def shadow_run(self, shadow: ShadowTarget) -> InversionRun:
        """The run on one shadow target that the calibration is fitted on (by default, :meth:`run` on
        its unlearned model through this attack's access view)."""
        return self.run(access_view(shadow.unlearned, self.requires))

    def decide_at(
        self, run: InversionRun, index: int, *, original: InversionRun | None = None
    ) -> tuple[np.ndarray, tuple[int, ...], dict[str, Any]]:
        """The criterion's scores and decision at checkpoint ``index`` of ``run`` (with this attack's
        calibration, if any, and ``original``, the run on θ_o, when its reference is the original),
        and the artifacts every inversion attack reports: ``prototypes``, ``run``, ``trajectory``,
        ``read_step`` or ``read_queries`` (the budget read, by the run's unit), and ``confidence``
        and ``profiles`` at it."""
        reading = run.reading(index)
        reference = None if original is None else original.reading(original.clamp(index))
        scores, predicted = self._criterion.decide(reading, calibration=self.calibration_, original=reference)
        read = "read_step" if run.unit == "steps" else "read_queries"
        named: dict[str, Any] = {}
        if self._set_calibrator is not None:
            probabilities, predicted = self._set_calibrator.decide(scores)
            named = {"probabilities": probabilities}
        return (
            scores,
            predicted,
            {
                **named,
                "prototypes": run.prototypes,
                "run": run,
                "trajectory": run.summary(),
                read: int(run.checkpoints[index]),
                "confidence": reading.confidence,
                "profiles": reading.profiles,
            },
        )

    def _calibrate(self, shadows: Shadows) -> InversionCalibration:
        self._shadows = shadows
        fitted: list[InversionCalibration] = []
        across = self.checkpoint_choice == "across-originals"
        if across and len(shadows.config.seeds()) < 2:
            raise CalibrationError(
                f"attack {self!r} chooses its checkpoint across shadow originals: it needs shadows of at "
                f"least two (n_models ≥ 2), got {len(shadows.config.seeds())}"
            )

        def fit() -> dict[str, Any]:
            readings, forgotten, ids, accuracy, groups = [], [], [], [], []
            # with reference="original": the run on each shadow's own θ_o′ (shared by its seed's shadows)
            by_seed: dict[int, list[InversionReading]] = {}
            originals: list[list[InversionReading]] = []
            for shadow in shadows.targets():
                readings.append(self.shadow_run(shadow).readings())
                forgotten.append(shadow.forget_classes)
                ids.append(shadow.identity)
                accuracy.append(float(shadow.metrics.get("forget_test_acc", 0.0)))
                groups.append(shadow.seed)
                if self.reference == "original":
                    if shadow.seed not in by_seed:
                        by_seed[shadow.seed] = self.shadow_run(replace(shadow, unlearned=shadow.original)).readings()
                    originals.append(by_seed[shadow.seed])
            fitted.append(
                fit_calibration(
                    readings,
                    forgotten,
                    criterion=self.criterion,
                    originals=originals if by_seed else None,
                    groups=groups if across else None,
                )
            )
            # the scores this calibration gives the shadows themselves, for the set decision and the
            # audit's verdict fit on them; chosen across originals, each run is scored as a target of
            # an unseen original would be, against the other originals' reference
            checkpoint = fitted[0].checkpoint
            if across:
                stats = np.stack([_statistic(run[checkpoint], self.criterion) for run in readings])
                labels = forgotten_labels(forgotten, stats.shape[1])
                scores = across_originals(stats, labels, groups, self.criterion).tolist()
            else:
                scores = [
                    fitted[0]
                    .normalised_scores(
                        run[checkpoint],
                        self.criterion,
                        original=at_or_last(originals[i], checkpoint) if by_seed else None,
                    )
                    .tolist()
                    for i, run in enumerate(readings)
                ]
            shadow_rows = {
                "ids": ids,
                "scores": scores,
                "forgotten": [list(f) for f in forgotten],
                "accuracy": accuracy,
            }
            return {**fitted[0].to_dict(), "shadows": shadow_rows}

        # record 4: chosen across originals, the shadows' own scores are the leave-one-original-out ones
        key = {**self.calibration_key(), "record": 4 if across else 3}
        stored = shadows.cached("inversion-calibration", key, fit)
        calibration = fitted[0] if fitted else InversionCalibration.from_dict(stored)
        if calibration.criterion != self.criterion:
            raise CalibrationError(
                f"the stored calibration was fitted for criterion {calibration.criterion!r}, not {self.criterion!r}"
            )
        self._shadow_rows = stored["shadows"]
        self._set_calibrator = None
        if self.set_decision == "calibrated":
            rows = self._calibrated_scores(shadows)
            try:
                self._set_calibrator = SetCalibrator().fit(rows.scores, rows.forgotten)
            except SetCalibrationError as error:
                raise CalibrationError(
                    f"attack {self!r} cannot fit its set decision on these shadows: {error}"
                ) from None
        return calibration

    def _calibrated_scores(self, shadows: Shadows) -> ShadowScores:
        """The calibrated criterion's scores on the shadow runs that forgot (their stored rows)."""
        rows = self._shadow_rows
        limit = shadows.config.max_forget_accuracy
        keep = [i for i, a in enumerate(rows["accuracy"]) if limit is None or a <= limit]
        return ShadowScores.from_json(
            {name: [rows[name][i] for i in keep] for name in ("ids", "scores", "forgotten")},
            shadows.dataset.num_classes,
        )

    def shadow_scores(self, shadows: Shadows) -> ShadowScores:
        """The calibrated criterion's scores on the shadow runs it was fitted on (no second run);
        uncalibrated, the attack is run on every shadow model (the default)."""
        if self.calibration_ is None:
            return super().shadow_scores(shadows)
        return self._calibrated_scores(shadows)
