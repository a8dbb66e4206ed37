"""Class-unlearning methods behind one interface (see :class:`Unlearner`)."""

from labelleak.unlearning.base import UNLEARNERS, ForgetSplit, Unlearner, UnlearnResult, utility_metrics

__all__ = ["UNLEARNERS", "ForgetSplit", "Unlearner", "UnlearnResult", "utility_metrics"]
