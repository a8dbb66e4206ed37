"""labelleak: can an attacker tell which class was unlearned from an image classifier?

Reproduces and extends the label-leakage attacks of Zheng et al. (arXiv 2604.07386, 2026).
The main job in Python takes about ten lines from the names this package exports; README.md
("Python API") shows them, and the test suite runs that example.

The names below are imported on first use, so ``import labelleak`` stays cheap (the command line
starts without loading torch). Layers, bottom up: ``store``, ``data``/``models``/``unlearning``,
``targets``, ``access``, ``attacks``, ``experiments``/``audit``, ``cli``.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())


class LabelleakError(Exception):
    """Base class of every error labelleak raises on bad input; the CLI prints it as one line."""


#: public name -> the module that defines it
_API = {
    "ArtifactStore": "labelleak.store",
    "load_dataset": "labelleak.data",
    "dataset_names": "labelleak.data",
    "UNLEARNERS": "labelleak.unlearning",
    "train_original": "labelleak.targets",
    "unlearn_original": "labelleak.targets",
    "access_view": "labelleak.targets",
    "ATTACKS": "labelleak.attacks",
    "AttackerKnowledge": "labelleak.attacks",
    "ShadowConfig": "labelleak.attacks",
    "Shadows": "labelleak.attacks",
    "draw_knowledge": "labelleak.attacks.knowledge",
    "audit_model": "labelleak.audit",
    "run_audit": "labelleak.audit",
}

__all__ = [
    "ATTACKS",
    "UNLEARNERS",
    "ArtifactStore",
    "AttackerKnowledge",
    "LabelleakError",
    "ShadowConfig",
    "Shadows",
    "__version__",
    "access_view",
    "audit_model",
    "dataset_names",
    "draw_knowledge",
    "load_dataset",
    "run_audit",
    "train_original",
    "unlearn_original",
]

if TYPE_CHECKING:
    from labelleak.attacks import ATTACKS, AttackerKnowledge, ShadowConfig, Shadows
    from labelleak.attacks.knowledge import draw_knowledge
    from labelleak.audit import audit_model, run_audit
    from labelleak.data import dataset_names, load_dataset
    from labelleak.store import ArtifactStore
    from labelleak.targets import access_view, train_original, unlearn_original
    from labelleak.unlearning import UNLEARNERS


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'labelleak' has no attribute {name!r}")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
