"""Did an unlearned model forget? The documented bound behind every "did not forget" warning.

A target whose forget-class test accuracy stays above ``max(0.2, 2/K)`` did not forget: a
model that never predicts the forgotten classes scores 0 there, and one that guesses among K
classes about 1/K. The bound allows twice chance (and at least 20%, for small K), so only a
clear miss is flagged (docs/unlearning.md, "Did it forget?").
"""

from __future__ import annotations

import math


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
