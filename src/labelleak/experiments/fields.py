"""Typed readers of an experiment file's values: each names the key it read in its error."""

from __future__ import annotations

import math
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from labelleak import LabelleakError


class ConfigError(LabelleakError):
    """An experiment file is malformed: one line naming the offending key."""


def fail(key: str, message: str) -> ConfigError:
    return ConfigError(f"{key} {message}")


def table_at(value: Any, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise fail(key, f"must be a table, got {value!r}")
    return value


def check_keys(table: Mapping[str, Any], allowed: set[str], key: str, required: AbstractSet[str] = frozenset()) -> None:
    for name in table:
        if name not in allowed:
            where = f"{key}." if key else ""
            raise ConfigError(f"unknown key {where}{name!r}; valid keys: {', '.join(sorted(allowed))}")
    for name in sorted(required):
        if name not in table:
            raise ConfigError(f"missing required key {f'{key}.' if key else ''}{name}")


def integer(value: Any, key: str, *, low: int | None = None, high: int | None = None) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or (low is not None and value < low)
        or (high is not None and value > high)
    ):
        bounds = (
            f" in [{low}, {high}]"
            if low is not None and high is not None
            else (f" >= {low}" if low is not None else "")
        )
        raise fail(key, f"must be an integer{bounds}, got {value!r}")
    return value


def real(value: Any, key: str, *, low: float, high: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise fail(key, f"must be a number in [{low}, {high}], got {value!r}")
    return float(value)


def string(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise fail(key, f"must be a non-empty string, got {value!r}")
    return value


def boolean(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise fail(key, f"must be true or false, got {value!r}")
    return value


def listing(value: Any, key: str) -> list[Any]:
    if not isinstance(value, list):
        raise fail(key, f"must be a list, got {value!r}")
    return value


def class_list(value: Any, key: str, num_classes: int) -> tuple[int, ...]:
    items = listing(value, key)
    classes = tuple(integer(c, f"{key}[{i}]", low=0, high=num_classes - 1) for i, c in enumerate(items))
    if len(set(classes)) != len(classes):
        raise fail(key, f"must not repeat a class, got {list(classes)}")
    return classes


# --------------------------------------------------------------------------------------------
