"""Shared fixtures: tiny data and a per-test artifact store, one torch thread for stable timing;
:func:`benchmark_script` for the tests of the scripts in ``benchmarks/``."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

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


@contextmanager
def benchmark_script(filename: str) -> Iterator[ModuleType]:
    """``benchmarks/<filename>`` imported as a module (they are scripts, not a package), registered in
    ``sys.modules`` while it is used: dataclasses resolve a module's annotations through it."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / filename
    spec = importlib.util.spec_from_file_location(f"{path.stem}_benchmark", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def markdown_tables(text: str) -> list[list[list[str]]]:
    """Every Markdown table of ``text``: a run of two or more lines starting with '|', outside code
    fences, as rows of stripped cells. An escaped ``\\|`` stays inside its cell."""
    tables: list[list[list[str]]] = []
    current: list[list[str]] = []
    fenced = False
    for line in [*text.splitlines(), ""]:
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if not fenced and line.lstrip().startswith("|"):
            cells = line.replace("\\|", "\0").strip().strip("|").split("|")
            current.append([cell.strip().replace("\0", "\\|") for cell in cells])
            continue
        if len(current) >= 2:
            tables.append(current)
        current = []
    return tables
