"""Class-unlearning methods behind one interface (see :class:`Unlearner`).

Each method lives in its own module and registers itself in ``UNLEARNERS``; importing them here
fills the registry.
"""

from labelleak.unlearning import (  # noqa: F401  (imported to register the methods)
    amnesiac,
    amnesiac_updates,
    bad_teacher,
    boundary_expanding,
    boundary_shrink,
    finetune,
    gradient_ascent,
    l1_sparse,
    neggrad_plus,
    random_labels,
    retrain,
    salun,
    scrub,
    ssd,
    unsir,
)
from labelleak.unlearning.base import UNLEARNERS, ForgetSplit, Unlearner, UnlearnResult, utility_metrics
from labelleak.unlearning.forgetting import did_not_forget_warning, forget_bound, forgot, met_goal

__all__ = [
    "UNLEARNERS",
    "ForgetSplit",
    "UnlearnResult",
    "Unlearner",
    "did_not_forget_warning",
    "forget_bound",
    "forgot",
    "met_goal",
    "utility_metrics",
]
