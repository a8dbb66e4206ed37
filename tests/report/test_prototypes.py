"""The prototype grid is a valid PNG of the expected layout, written atomically."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labelleak.report.prototypes import save_prototype_grid
from labelleak.validation import ParameterError


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_grid_has_one_row_per_class(tmp_path):
    k = 4
    profiles = np.full((k, k), 1 / k)
    small = save_prototype_grid(
        tmp_path / "a" / "small.png",
        prototypes=torch.rand(k, 1, 8, 8),
        confidence=np.linspace(0.1, 1, k),
        profiles=profiles,
        highlight=[2],
        title="t",
    )
    big = save_prototype_grid(
        tmp_path / "big.png",
        prototypes=torch.rand(2 * k, 3, 8, 8),
        confidence=np.ones(2 * k),
        class_names=[f"c{i}" for i in range(2 * k)],
    )
    (w1, h1), (w2, h2) = _png_size(small), _png_size(big)
    assert h2 > h1, "twice the classes, taller grid"
    assert w1 > w2, "profiles add a column"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "big.png", "small.png"], "no temporary file left"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"prototypes": torch.rand(3, 2, 8, 8), "confidence": np.ones(3)},
        {"prototypes": torch.rand(3, 1, 8, 8), "confidence": np.ones(2)},
        {"prototypes": torch.rand(3, 1, 8, 8), "confidence": np.ones(3), "profiles": np.ones((3, 2))},
        {"prototypes": torch.rand(3, 1, 8, 8), "confidence": np.ones(3), "class_names": ["a"]},
    ],
)
def test_bad_shapes_are_refused_and_nothing_is_written(tmp_path, kwargs):
    with pytest.raises(ParameterError):
        save_prototype_grid(tmp_path / "x.png", **kwargs)
    assert not (tmp_path / "x.png").exists()
