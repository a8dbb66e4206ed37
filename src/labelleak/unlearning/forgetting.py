"""Did an unlearned model forget? The documented bound behind every "did not forget" warning.

A target whose forget-class test accuracy stays above ``max(0.2, 2/K)`` did not forget: a
model that never predicts the forgotten classes scores 0 there, and one that guesses among K
classes about 1/K. The bound allows twice chance (and at least 20%, for small K), so only a
clear miss is flagged (docs/unlearning.md, "Did it forget?").

Stricter is the *unlearning goal* of docs/unlearning.md, which `labelleak tune` searches for and
the reports split results by: forget-class test accuracy at most :data:`GOAL_FORGET_ACC`, and
retain test accuracy at most :data:`GOAL_RETAIN_TOLERANCE` below the reference: Retrain's on the
same θ_o and forget set (exact unlearning), or the lower of Retrain's and θ_o's where θ_o's
accuracy on the retained classes is known. A method that forgets by damaging the retained classes
misses it.
"""

from __future__ import annotations

import math

#: the unlearning goal's highest forget-class test accuracy
GOAL_FORGET_ACC = 0.05
#: the unlearning goal's largest shortfall of retain test accuracy below Retrain's, in accuracy units
GOAL_RETAIN_TOLERANCE = 0.03


def met_goal(*, forget_test_acc: float, retain_test_acc: float, reference_retain_acc: float) -> bool:
    """True when a target meets the unlearning goal against ``reference_retain_acc`` (NaN: False)."""
    values = (forget_test_acc, retain_test_acc, reference_retain_acc)
    if any(math.isnan(v) for v in values):
        return False
    # accuracies are ratios of counts: a shortfall of exactly the tolerance must not fail on rounding
    slack = 1e-9
    return (
        forget_test_acc <= GOAL_FORGET_ACC + slack
        and retain_test_acc >= reference_retain_acc - GOAL_RETAIN_TOLERANCE - slack
    )


def forget_bound(num_classes: int) -> float:
    """The highest forget-class test accuracy that still counts as forgotten: max(0.2, 2/K)."""
    return max(0.2, 2.0 / num_classes)


def forgot(forget_test_acc: float, num_classes: int) -> bool:
    """True when the forget-class test accuracy is at most :func:`forget_bound` (NaN: False)."""
    return not math.isnan(forget_test_acc) and forget_test_acc <= forget_bound(num_classes)


def did_not_forget_warning(method: str, forget_test_acc: float, num_classes: int) -> str | None:
    """The warning line for a target that did not forget, or None when it forgot."""
    if forgot(forget_test_acc, num_classes):
        return None
    return (
        f"WARNING: DID NOT FORGET: {method} left the forgotten classes at {forget_test_acc:.1%} test accuracy "
        f"(bound {forget_bound(num_classes):.0%} = max(20%, 2/K)); leakage results on this model say nothing "
        "about unlearning. Try stronger settings (--param) or `labelleak tune`."
    )
