"""SVHN cropped digits (``train_32x32.mat`` / ``test_32x32.mat``): X is (32, 32, 3, N), label 10 means 0."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from labelleak.data.base import DataError

FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat"}


def _read_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    from scipy.io import loadmat

    try:
        mat = loadmat(path)
    except Exception as err:  # scipy raises several unrelated types on corrupt files
        raise DataError(f"cannot read SVHN file {path}: {err}") from None
    if "X" not in mat or "y" not in mat:
        raise DataError(f"{path}: an SVHN .mat file needs variables 'X' and 'y'")
    x, y = mat["X"], np.asarray(mat["y"]).reshape(-1)
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.shape[3] != len(y):
        raise DataError(f"{path}: 'X' must be uint8 (32, 32, 3, N) with N labels, got {x.dtype} {x.shape}")
    if len(y) and (y.min() < 1 or y.max() > 10):
        raise DataError(f"{path}: SVHN labels must lie in 1..10 (10 means digit 0), got {y.min()}..{y.max()}")
    return np.ascontiguousarray(x.transpose(3, 2, 0, 1)), np.where(y == 10, 0, y).astype(np.int64)


def read_svhn_directory(directory: Path) -> dict[str, np.ndarray] | None:
    if not (directory / FILES["train"]).is_file():
        return None
    if not (directory / FILES["test"]).is_file():
        raise DataError(f"{directory} holds {FILES['train']} but not {FILES['test']}")
    x_train, y_train = _read_mat(directory / FILES["train"])
    x_test, y_test = _read_mat(directory / FILES["test"])
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
