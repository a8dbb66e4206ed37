"""Label-leakage attacks: parameter-based, white-box and black-box inversion, and baselines."""

from labelleak.attacks.base import ATTACKS, Attack, AttackerKnowledge, AttackResult, MissingKnowledgeError

__all__ = ["ATTACKS", "Attack", "AttackerKnowledge", "AttackResult", "MissingKnowledgeError"]
