"""Explicit randomness: every random choice goes through a generator built from a seed."""

from __future__ import annotations

import hashlib

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
