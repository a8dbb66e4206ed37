"""Parameter validation whose errors name the parameter, the allowed values and the value received."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from labelleak import LabelleakError


class ParameterError(LabelleakError, ValueError):
    """A parameter is out of its allowed range or of the wrong type."""


def check_number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    integer: bool = False,
) -> Any:
    """Check that ``value`` is a real number (an int when ``integer``) within [low, high]."""
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise ParameterError(
            f"{name} must be {kind}{_range_text(low, high, low_inclusive, high_inclusive)}, got {value!r}"
        )
    if not integer and not math.isfinite(value):
        raise ParameterError(f"{name} must be finite, got {value!r}")
    too_low = low is not None and (value < low or (not low_inclusive and value == low))
    too_high = high is not None and (value > high or (not high_inclusive and value == high))
    if too_low or too_high:
        raise ParameterError(
            f"{name} must be {kind}{_range_text(low, high, low_inclusive, high_inclusive)}, got {value!r}"
        )
    return value


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    choices = list(choices)
    if value not in choices:
        raise ParameterError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def check_classes(name: str, classes: Sequence[int], num_classes: int, *, allow_all: bool = False) -> tuple[int, ...]:
    """Validate a set of class indices: each in [0, num_classes), no repeats, non-empty, not all."""
    try:
        values = [int(c) for c in classes]
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be class indices in [0, {num_classes - 1}], got {classes!r}") from None
    if not values:
        raise ParameterError(f"{name} must name at least one class, got none")
    bad = [c for c in values if not 0 <= c < num_classes]
    if bad:
        raise ParameterError(f"{name} must be class indices in [0, {num_classes - 1}], got {bad[0]}")
    if len(set(values)) != len(values):
        raise ParameterError(f"{name} must not repeat a class, got {values}")
    if not allow_all and len(values) >= num_classes:
        raise ParameterError(f"{name} must leave at least one class retained, got all {num_classes}")
    return tuple(sorted(values))


def _range_text(low, high, low_inclusive, high_inclusive) -> str:
    if low is None and high is None:
        return ""
    if high is None:
        return f" {'>=' if low_inclusive else '>'} {low}"
    if low is None:
        return f" {'<=' if high_inclusive else '<'} {high}"
    return f" in {'[' if low_inclusive else '('}{low}, {high}{']' if high_inclusive else ')'}"


def parse_value(text: str) -> Any:
    """A parameter's value from text: '3' -> 3, '1e-3' -> 0.001, 'true'/'false' -> bool, 'none' ->
    None, anything else stays text (``--param KEY=VALUE`` and method specs read values so)."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
