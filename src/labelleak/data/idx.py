"""IDX files (MNIST, Fashion-MNIST), raw or gzip-compressed."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from labelleak.data.base import DataError

_UBYTE = 0x08


def read_idx(path: Path) -> np.ndarray:
    """Read an unsigned-byte IDX file into an array of the shape its header declares."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError) as err:
        raise DataError(f"cannot read IDX file {path}: {err}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{path} is not an IDX file (bad magic number)")
    if data[2] != _UBYTE:
        raise DataError(f"{path}: only unsigned-byte IDX files are supported, got type code {data[2]:#x}")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape))
    if len(data) - header != expected:
        raise DataError(
            f"{path}: truncated or corrupt IDX file: header declares shape {shape} "
            f"({expected} bytes) but {len(data) - header} bytes follow"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def find_idx(directory: Path, stem: str) -> Path | None:
    """``stem`` (e.g. 'train-images-idx3-ubyte') as raw or .gz in ``directory``, if present."""
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


IDX_STEMS = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def read_idx_directory(directory: Path) -> dict[str, np.ndarray] | None:
    """The four MNIST-layout IDX files of ``directory``, or None when the first is absent."""
    if find_idx(directory, IDX_STEMS["x_train"]) is None:
        return None
    arrays = {}
    for key, stem in IDX_STEMS.items():
        path = find_idx(directory, stem)
        if path is None:
            raise DataError(f"{directory} holds {IDX_STEMS['x_train']} but not {stem}[.gz]")
        arrays[key] = read_idx(path)
    for split in ("train", "test"):
        if arrays[f"x_{split}"].ndim != 3 or arrays[f"y_{split}"].ndim != 1:
            raise DataError(f"{directory}: {split} IDX files must be images (N, H, W) and labels (N,)")
    return arrays
