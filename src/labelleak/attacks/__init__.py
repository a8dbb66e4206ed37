"""Label-leakage attacks: parameter-based, white-box and black-box inversion, and baselines.

Importing this package registers every attack in :data:`ATTACKS`.
"""

from labelleak.attacks import baselines, evolution, genetic, inversion, labelonly, parameter  # noqa: F401  (registration)
from labelleak.attacks.base import (
    ATTACKS,
    Attack,
    AttackerKnowledge,
    AttackResult,
    CalibrationError,
    MissingKnowledgeError,
)
from labelleak.attacks.shadow import ShadowConfig, Shadows

__all__ = [
    "ATTACKS",
    "Attack",
    "AttackResult",
    "AttackerKnowledge",
    "CalibrationError",
    "MissingKnowledgeError",
    "ShadowConfig",
    "Shadows",
]
