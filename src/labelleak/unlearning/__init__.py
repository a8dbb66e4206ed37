"""Class-unlearning methods behind one interface (see :class:`Unlearner`).

Each method lives in its own module and registers itself in ``UNLEARNERS``; importing them here
fills the registry.
"""

from labelleak.unlearning.base import UNLEARNERS, ForgetSplit, Unlearner, UnlearnResult, utility_metrics
from labelleak.unlearning import (  # noqa: F401  (imported to register the methods)
    boundary_expanding,
    boundary_shrink,
    finetune,
    gradient_ascent,
    neggrad_plus,
    random_labels,
    retrain,
)
from labelleak.unlearning import (  # noqa: F401  (imported to register the methods)
    bad_teacher,
    l1_sparse,
    salun,
    scrub,
    ssd,
    unsir,
)

__all__ = ["UNLEARNERS", "ForgetSplit", "Unlearner", "UnlearnResult", "utility_metrics"]
