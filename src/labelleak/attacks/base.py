"""The attack interface: one verb, ``infer(target) -> AttackResult``.

An attack is a small class whose constructor validates its parameters and whose class attributes
declare what the attacker must hold: the access level to the target (``requires``) and the
knowledge it uses (auxiliary set A, unrelated set N, the original model θ_o).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from labelleak import LabelleakError
from labelleak.access import WeightsAccess, require_access
from labelleak.registry import Registry


class MissingKnowledgeError(LabelleakError):
    """An attack needs attacker knowledge (A, N or θ_o) that was not supplied."""


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
class AttackResult:
    """Per-class scores (higher = more likely forgotten) and the decided forgotten set Ĉ."""

    attack: str
    access: str
    scores: np.ndarray
    predicted: tuple[int, ...]
    queries: int | None
    seconds: float
    knowledge: str = ""
    artifacts: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.attack,
            "access": self.access,
            "scores": [float(s) for s in self.scores],
            "predicted": [int(c) for c in self.predicted],
            "queries": self.queries,
            "seconds": float(self.seconds),
            "knowledge": self.knowledge,
        }


class Attack(ABC):
    """Base class. Subclasses set ``name``, ``requires`` and the ``needs_*`` flags and implement
    ``_infer``, returning (scores, predicted, artifacts)."""

    name: ClassVar[str]
    requires: ClassVar[str] = "weights"
    needs_aux: ClassVar[bool] = False
    needs_unrelated: ClassVar[bool] = False
    needs_original: ClassVar[bool] = False

    @classmethod
    def revision(cls, options: dict[str, Any]) -> int:
        """The revision of the algorithm that ``options`` select; raised whenever its results change,
        so that results stored under an older revision are never reused (see the runner's row keys)."""
        return 1

    def infer(self, target: Any, *, knowledge: AttackerKnowledge | None = None) -> AttackResult:
        """Run the attack on ``target`` (an access view) and return scores and the decision."""
        require_access(target, self.requires, who=f"attack {self.name!r}")
        knowledge = knowledge or AttackerKnowledge()
        self._check_knowledge(knowledge)
        used_before = target.queries_used
        start = time.perf_counter()
        scores, predicted, artifacts = self._infer(target, knowledge)
        seconds = time.perf_counter() - start
        scores = np.asarray(scores, dtype=np.float64)
        if scores.shape != (target.num_classes,):
            raise RuntimeError(f"attack {self.name!r} returned {scores.shape} scores for {target.num_classes} classes")
        queries = target.queries_used - used_before if self.requires == "queries" or self.counts_queries else None
        return AttackResult(
            attack=self.name,
            access=self.requires,
            scores=scores,
            predicted=tuple(sorted(int(c) for c in predicted)),
            queries=queries,
            seconds=seconds,
            knowledge=knowledge.description,
            artifacts=artifacts,
        )

    #: report the number of forward passes as queries even above the queries level
    counts_queries: ClassVar[bool] = False

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
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({params})"


ATTACKS: Registry[type[Attack]] = Registry("attack")
