"""The attack interface: one verb, ``infer(target) -> AttackResult``, and one fit step, ``calibrate(shadows)``.

An attack is a small class whose constructor validates its parameters and whose class attributes
declare what the attacker must hold: the access level to the target (``requires``), the
knowledge it uses (auxiliary set A, unrelated set N, the original model θ_o) and whether it can
fit itself on the attacker's shadow experiments (:attr:`Attack.calibratable`, which for some
attacks depends on their options). As in scikit-learn, the
parameters are set in ``__init__`` and the fitted state (``calibration_``) only by
:meth:`Attack.calibrate`; :attr:`Attack.needs_calibration` says whether ``infer`` needs it.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np
import torch

from labelleak import LabelleakError
from labelleak.access import ACCESS_LEVELS, WeightsAccess, require_access
from labelleak.registry import Registry
from labelleak.targets import access_view

if TYPE_CHECKING:
    from labelleak.attacks.shadow import Shadows

AttackT = TypeVar("AttackT", bound="Attack")
#: options that change how an attack reports progress, never what it computes: left out of cache keys
PRESENTATION_OPTIONS = frozenset({"verbose"})
#: the artifact under which ``_infer`` says why its result is no evidence about the target
ABSTAINS = "abstains"


class MissingKnowledgeError(LabelleakError):
    """An attack needs attacker knowledge (A, N or θ_o) that was not supplied."""


class CalibrationError(LabelleakError):
    """An attack needs shadow calibration that is missing, or cannot be calibrated as asked."""


@dataclass
class AttackerKnowledge:
    """What the attacker holds besides the target.

    Attributes:
        aux_x, aux_y: the auxiliary labelled set A (disjoint from the target's training data).
        unrelated_x: the unrelated set N (another distribution: another dataset or structured noise).
        original: θ_o, in the two-version setting (weights of both releases).
        description: a human-readable summary reported next to every number.
    """

    aux_x: torch.Tensor | None = None
    aux_y: torch.Tensor | None = None
    unrelated_x: torch.Tensor | None = None
    original: WeightsAccess | None = None
    description: str = ""


@dataclass
class ShadowScores:
    """An attack's per-class scores on shadow targets: ``ids`` (one per shadow target, the same
    for every attack run on the same shadows), ``scores`` (n, K), ``forgotten`` (n, K) booleans."""

    ids: list[str]
    scores: np.ndarray
    forgotten: np.ndarray

    @classmethod
    def from_json(cls, data: dict[str, Any], num_classes: int) -> ShadowScores:
        forgotten = np.zeros((len(data["ids"]), num_classes), dtype=bool)
        for row, classes in enumerate(data["forgotten"]):
            forgotten[row, list(classes)] = True
        return cls(
            ids=list(data["ids"]),
            scores=np.asarray(data["scores"], dtype=np.float64).reshape(len(data["ids"]), num_classes),
            forgotten=forgotten,
        )


@dataclass
class AttackResult:
    """Per-class scores (higher = more likely forgotten) and the decided forgotten set Ĉ.

    ``abstains`` is empty unless the attack found its own premise false on this target (e.g. a
    two-version attack on a θ_u that does not descend from θ_o): then it says why, the result is
    still reported, and an audit's verdict does not count it as evidence.
    """

    attack: str
    access: str
    scores: np.ndarray
    predicted: tuple[int, ...]
    queries: int | None
    seconds: float
    knowledge: str = ""
    artifacts: dict[str, Any] = field(default_factory=dict)
    abstains: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.attack,
            "access": self.access,
            "scores": [float(s) for s in self.scores],
            "predicted": [int(c) for c in self.predicted],
            "queries": self.queries,
            "seconds": float(self.seconds),
            "knowledge": self.knowledge,
            "abstains": self.abstains,
        }


class Attack(ABC):
    """Base class. Subclasses set ``name``, ``requires`` and the ``needs_*`` flags and implement
    ``_infer``, returning (scores, predicted, artifacts); a calibratable one also implements
    ``_calibrate``. An attack whose premise fails on a target puts the reason under the artifact
    key :data:`ABSTAINS` (it becomes :attr:`AttackResult.abstains`)."""

    name: ClassVar[str]
    #: the attack's family, as ``labelleak attacks`` lists it: "parameter", "inversion" or "baseline"
    category: ClassVar[str] = "other"
    requires: ClassVar[str] = "weights"
    needs_aux: ClassVar[bool] = False
    needs_unrelated: ClassVar[bool] = False
    needs_original: ClassVar[bool] = False
    #: report the number of forward passes as queries even above the queries level
    counts_queries: ClassVar[bool] = False
    #: run by ``labelleak audit`` unless the user names the attacks (False: only on request)
    in_default_audit: ClassVar[bool] = True

    #: the fitted state, set by :meth:`calibrate` (None until then)
    calibration_: Any = None
    #: the constructor options as given, set by :meth:`__new__`
    _given_options: dict[str, Any]

    def __new__(cls, *args: Any, **options: Any) -> Attack:
        attack = super().__new__(cls)
        # the options as given (not their resolved defaults): they name the attack in cache keys and reprs
        attack._given_options = dict(options)
        return attack

    @property
    def options(self) -> dict[str, Any]:
        """The constructor options this attack was given (defaults left out)."""
        return dict(self._given_options)

    @classmethod
    def revision(cls, options: dict[str, Any]) -> int:
        """The revision of the algorithm that ``options`` select; raised whenever its results change,
        so that results stored under an older revision are never reused (see the runner's row keys)."""
        return 1

    @classmethod
    def unmet_needs(cls, *, access: str, aux: bool = True, unrelated: bool = True, original: bool = True) -> str | None:
        """Why the attack cannot run with ``access`` to the target and that attacker knowledge
        (whether A, N and θ_o are held), or None when it can."""
        if ACCESS_LEVELS.index(cls.requires) > ACCESS_LEVELS.index(access):
            return f"needs {cls.requires} access, only {access} access is given"
        held = {
            "the auxiliary set A": aux or not cls.needs_aux,
            "the unrelated set N": unrelated or not cls.needs_unrelated,
            "the original model θ_o": original or not cls.needs_original,
        }
        missing = [what for what, ok in held.items() if not ok]
        return f"needs {' and '.join(missing)}" if missing else None

    def check_target(self, *, num_classes: int) -> None:
        """Raise :class:`~labelleak.validation.ParameterError` when this attack's options cannot work
        on a target of ``num_classes`` classes, so that a caller fails before computing anything."""
        return None

    @property
    def calibratable(self) -> bool:
        """True when :meth:`calibrate` can fit something of this attack on shadow experiments."""
        return False

    @property
    def needs_calibration(self) -> bool:
        """True when :meth:`infer` needs :meth:`calibrate` first (e.g. a decider fit on shadows)."""
        return False

    @property
    def result_options(self) -> dict[str, Any]:
        """The given options that can change what the attack computes: :attr:`options` without
        those that only change how it reports progress (:data:`PRESENTATION_OPTIONS`)."""
        return {k: v for k, v in self._given_options.items() if k not in PRESENTATION_OPTIONS}

    def result_key(self) -> dict[str, Any]:
        """What this attack computes, as cache-key material: its name, the options that change its
        results and the :meth:`revision` they select."""
        return {"attack": self.name, "options": self.result_options, "revision": type(self).revision(self.options)}

    def calibration_key(self) -> dict[str, Any]:
        """What this attack's calibration depends on besides the shadow experiments (cache-key
        material): its name, its given options and, from 2 on, its :meth:`revision` (a default that
        changes what the attack computes changes no given option)."""
        key: dict[str, Any] = {"attack": self.name, "options": self.result_options}
        revision = type(self).revision(self.options)
        return {**key, "revision": revision} if revision > 1 else key

    def calibrate(self: AttackT, shadows: Shadows) -> AttackT:
        """Fit the attack on the attacker's shadow experiments; returns the attack itself."""
        if not self.calibratable:
            raise CalibrationError(f"attack {self.name!r} has nothing to calibrate on shadow experiments")
        self.calibration_ = self._calibrate(shadows)
        return self

    def _calibrate(self, shadows: Shadows) -> Any:
        """Return the fitted state (the subclass keeps whatever it needs to decide with it)."""
        raise NotImplementedError

    def shadow_scores(self, shadows: Shadows) -> ShadowScores:
        """The per-class scores this attack, as built and calibrated, gives every shadow target that
        forgot (for a probability of "forgotten" per class and a set decision fit on them:
        :class:`~labelleak.attacks.setsize.SetCalibrator`). Cached with the shadows.

        By default the attack is run on each shadow model with the shadow's own knowledge;
        attacks that already hold their shadow scores from :meth:`calibrate` return those.
        """
        key = {**self.result_key(), "version": 1}

        def compute() -> dict[str, Any]:
            rows: dict[str, Any] = {"ids": [], "scores": [], "forgotten": []}
            limit = shadows.config.max_forget_accuracy
            for shadow in shadows.targets():
                if limit is not None and shadow.metrics.get("forget_test_acc", 0.0) > limit:
                    continue
                view = access_view(shadow.unlearned, self.requires)
                rows["ids"].append(shadow.identity)
                rows["scores"].append([float(v) for v in self.infer(view, knowledge=shadow.knowledge).scores])
                rows["forgotten"].append(list(shadow.forget_classes))
            return rows

        return ShadowScores.from_json(shadows.cached("shadow-scores", key, compute), shadows.dataset.num_classes)

    def infer(self, target: Any, *, knowledge: AttackerKnowledge | None = None) -> AttackResult:
        """Run the attack on ``target`` (an access view) and return scores and the decision."""
        require_access(target, self.requires, who=f"attack {self.name!r}")
        if self.needs_calibration and self.calibration_ is None:
            raise CalibrationError(
                f"attack {self!r} needs calibrate(shadows) before infer: its decision is fit on shadow experiments"
            )
        knowledge = knowledge or AttackerKnowledge()
        self._check_knowledge(knowledge)
        used_before = target.queries_used
        start = time.perf_counter()
        scores, predicted, artifacts = self._infer(target, knowledge)
        seconds = time.perf_counter() - start
        scores = np.asarray(scores, dtype=np.float64)
        if scores.shape != (target.num_classes,):
            raise RuntimeError(f"attack {self.name!r} returned {scores.shape} scores for {target.num_classes} classes")
        counted = self.requires in ("labels", "queries") or self.counts_queries
        queries = target.queries_used - used_before if counted else None
        return AttackResult(
            attack=self.name,
            access=self.requires,
            scores=scores,
            predicted=tuple(sorted(int(c) for c in predicted)),
            queries=queries,
            seconds=seconds,
            knowledge=knowledge.description,
            artifacts=artifacts,
            abstains=str(artifacts.get(ABSTAINS, "")),
        )

    def _check_knowledge(self, knowledge: AttackerKnowledge) -> None:
        if self.needs_aux and (knowledge.aux_x is None or knowledge.aux_y is None):
            raise MissingKnowledgeError(f"attack {self.name!r} needs the auxiliary labelled set A (aux_x, aux_y)")
        if self.needs_unrelated and knowledge.unrelated_x is None:
            raise MissingKnowledgeError(f"attack {self.name!r} needs the unrelated set N (unrelated_x)")
        if self.needs_original and knowledge.original is None:
            raise MissingKnowledgeError(f"attack {self.name!r} needs the original model θ_o (two-version setting)")

    @abstractmethod
    def _infer(self, target: Any, knowledge: AttackerKnowledge) -> tuple[np.ndarray, Any, dict[str, Any]]:
        """Return (scores of shape (K,), predicted classes, artifacts)."""

    def __repr__(self) -> str:
        given = ", ".join(f"{k}={v!r}" for k, v in self._given_options.items())
        return f"{self.name}({given})"


ATTACKS: Registry[type[Attack]] = Registry("attack")
