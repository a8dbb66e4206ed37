"""The in-memory dataset every part of labelleak works on, and the data-file errors.

torch is imported only where tensors are made or checked, so that finding datasets on disk
(``labelleak datasets``) does not load it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from labelleak import LabelleakError

if TYPE_CHECKING:
    import torch


class DataError(LabelleakError):
    """A data file is missing, truncated, malformed or unsafe."""


@dataclass(frozen=True)
class ImageDataset:
    """Train and test images as float32 tensors in [0, 1], shape (N, C, H, W), int64 labels."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    class_names: tuple[str, ...]
    source: str
    #: the dataset this one was drawn from (an attacker's shadow pool), whose per-dataset settings
    #: apply to it; None: its own ``name``
    drawn_from: str | None = None

    @property
    def settings_name(self) -> str:
        """The name the per-dataset settings (``labelleak/unlearning/defaults.json``) are looked up by."""
        return self.drawn_from or self.name

    def __post_init__(self) -> None:
        validate_arrays(self)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]

    def describe(self) -> str:
        c, h, w = self.input_shape
        return (
            f"{self.name}: {len(self.y_train)} train / {len(self.y_test)} test, "
            f"{c}x{h}x{w}, {self.num_classes} classes ({self.source})"
        )


def validate_arrays(ds: ImageDataset) -> None:
    """Reject anything the rest of labelleak cannot trust: shapes, dtypes, ranges, labels."""
    import torch

    where = f"dataset {ds.name!r} ({ds.source})"
    for split, x, y in (("train", ds.x_train, ds.y_train), ("test", ds.x_test, ds.y_test)):
        if x.dtype != torch.float32 or x.ndim != 4:
            raise DataError(f"{where}: x_{split} must be float32 (N, C, H, W), got {x.dtype} {tuple(x.shape)}")
        if y.dtype != torch.int64 or y.ndim != 1 or len(y) != len(x):
            raise DataError(f"{where}: y_{split} must be int64 (N,) matching x_{split}, got {y.dtype} {tuple(y.shape)}")
        if len(x) == 0:
            raise DataError(f"{where}: the {split} split is empty")
        if not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1:
            raise DataError(f"{where}: x_{split} must hold finite values in [0, 1]")
        if y.min() < 0 or y.max() >= len(ds.class_names):
            raise DataError(
                f"{where}: y_{split} labels must lie in [0, {len(ds.class_names) - 1}], "
                f"got [{int(y.min())}, {int(y.max())}]"
            )
    if ds.x_train.shape[1:] != ds.x_test.shape[1:]:
        raise DataError(
            f"{where}: train images {tuple(ds.x_train.shape[1:])} and test images "
            f"{tuple(ds.x_test.shape[1:])} differ in shape"
        )
    missing = sorted(set(range(len(ds.class_names))) - set(ds.y_train.unique().tolist()))
    if missing:
        raise DataError(f"{where}: the train split has no sample of class(es) {missing}")


def train_subset(ds: ImageDataset, *, per_class: int, seed: int) -> ImageDataset:
    """``ds`` with at most ``per_class`` training images of each class, drawn by ``seed`` (the
    test split is kept whole). A smaller training split makes θ_o, Retrain and every method that
    passes over D_r proportionally cheaper, which is how a large grid fits a CPU budget; a class
    with fewer images keeps all of them."""
    import torch

    if per_class < 1:
        raise ValueError(f"per_class must be at least 1, got {per_class}")
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(ds.y_train), generator=gen)
    keep = torch.cat([order[ds.y_train[order] == c][:per_class] for c in range(ds.num_classes)])
    keep = keep.sort().values
    return ImageDataset(
        name=ds.name,
        x_train=ds.x_train[keep].contiguous(),
        y_train=ds.y_train[keep].contiguous(),
        x_test=ds.x_test,
        y_test=ds.y_test,
        class_names=ds.class_names,
        source=f"{ds.source}, {per_class} training images per class (seed {seed})",
    )


def from_uint8(images, labels, *, layout: str) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images in ``layout`` ('NHW', 'NHWC' or 'NCHW') -> float32 NCHW in [0, 1], int64 labels."""
    import torch

    x = torch.from_numpy(np.array(images, dtype=np.uint8, copy=True))
    if layout == "NHW":
        x = x.unsqueeze(1)
    elif layout == "NHWC":
        x = x.permute(0, 3, 1, 2)
    elif layout != "NCHW":
        raise ValueError(f"layout must be 'NHW', 'NHWC' or 'NCHW', got {layout!r}")
    x = x.contiguous().to(torch.float32).div_(255.0)
    return x, torch.from_numpy(np.array(labels, dtype=np.int64).reshape(-1))
