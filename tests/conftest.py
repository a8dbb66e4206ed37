"""Shared fixtures: tiny data and a per-test artifact store, one torch thread for stable timing."""

from __future__ import annotations

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture()
def store(tmp_path):
    from labelleak.store import ArtifactStore

    return ArtifactStore(tmp_path / "cache")


@pytest.fixture(scope="session")
def digits():
    from labelleak.data import load_dataset

    return load_dataset("digits")


@pytest.fixture(scope="session")
def digits_model(digits):
    """θ_o on digits, trained once per test session (about two seconds)."""
    from labelleak.targets import train_original

    return train_original(digits, seed=0)
