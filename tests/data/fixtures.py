"""Writers of tiny files in each real on-disk format, for reader tests."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    return header + array.astype(np.uint8).tobytes()


def tiny_images(n: int, shape: tuple[int, ...], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, *shape), dtype=np.uint8), np.arange(n, dtype=np.uint8) % 10


def write_mnist_idx(directory: Path, *, gz: bool = True, n_train: int = 20, n_test: int = 10) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    x_train, y_train = tiny_images(n_train, (28, 28), 1)
    x_test, y_test = tiny_images(n_test, (28, 28), 2)
    for stem, array in (
        ("train-images-idx3-ubyte", x_train),
        ("train-labels-idx1-ubyte", y_train),
        ("t10k-images-idx3-ubyte", x_test),
        ("t10k-labels-idx1-ubyte", y_test),
    ):
        data = idx_bytes(array)
        if gz:
            (directory / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (directory / stem).write_bytes(data)


def write_cifar_batches(directory: Path, *, per_batch: int = 10) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate([f"data_batch_{j}" for j in range(1, 6)] + ["test_batch"]):
        x, y = tiny_images(per_batch, (3072,), i)
        with open(directory / name, "wb") as fh:
            pickle.dump({b"data": x, b"labels": [int(v) for v in y], b"batch_label": b"x"}, fh)


class _Exploit:
    """Pickles to a call of os.system: a loader that runs it would create a file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def write_malicious_batch(path: Path, marker: Path) -> None:
    with open(path, "wb") as fh:
        pickle.dump({b"data": _Exploit(marker), b"labels": [0]}, fh)


def write_svhn_mat(directory: Path, *, n: int = 12) -> None:
    from scipy.io import savemat

    directory.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        rng = np.random.default_rng(len(split))
        x = rng.integers(0, 256, size=(32, 32, 3, n), dtype=np.uint8)
        y = (np.arange(n) % 10 + 1).reshape(-1, 1).astype(np.uint8)  # labels 1..10, 10 means 0
        savemat(directory / f"{split}_32x32.mat", {"X": x, "y": y})
