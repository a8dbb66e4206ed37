"""Explicit randomness: every random choice goes through a generator built from a seed."""

from __future__ import annotations

import hashlib
import itertools

import numpy as np
import torch


def derive_seed(seed: int, *labels: object) -> int:
    """A child seed for a named sub-task, stable across runs and Python versions."""
    text = ":".join([str(seed), *map(str, labels)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


def torch_generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def numpy_generator(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def random_class_sets(num_classes: int, size: int, count: int, *, seed: int) -> list[tuple[int, ...]]:
    """``count`` distinct sets of ``size`` classes, drawn without replacement (sorted tuples)."""
    if count == 0:
        return []
    combos = list(itertools.combinations(range(num_classes), size))
    rng = numpy_generator(derive_seed(seed, "forget-sets", size))
    chosen = rng.choice(len(combos), size=min(count, len(combos)), replace=False)
    return [combos[i] for i in chosen]
