"""Named image datasets, read from their standard on-disk formats.

``load_dataset(name)`` returns an :class:`ImageDataset` with float32 images in [0, 1], shape
(N, C, H, W). ``digits`` is bundled with scikit-learn; the others are searched for in an explicit
root (``root=`` / ``--data-root`` / ``$LABELLEAK_DATA``), else in known offline copies (Debian's
``dataset-fashion-mnist`` package, ``shared/data/*.npz``). Nothing is downloaded unless
``download=True``.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

import numpy as np

from labelleak.data.base import DataError, ImageDataset, from_uint8, train_subset
from labelleak.data.cifar import read_cifar_directory
from labelleak.data.digits import load_digits_dataset
from labelleak.data.discovery import candidate_locations, download, download_root, missing_message
from labelleak.data.idx import read_idx_directory
from labelleak.data.npz import read_npz
from labelleak.data.svhn import read_svhn_directory
from labelleak.registry import Registry

__all__ = [
    "DATASETS",
    "DataError",
    "ImageDataset",
    "dataset_names",
    "fetch_dataset",
    "file_datasets",
    "load_dataset",
    "locate_dataset",
    "train_subset",
]

logger = logging.getLogger(__name__)

CLASS_NAMES = {
    "mnist": tuple(str(i) for i in range(10)),
    "fashion-mnist": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    "svhn": tuple(str(i) for i in range(10)),
}
#: per dataset: the directory reader and the array layout it returns
DIRECTORY_READERS = {
    "mnist": (read_idx_directory, "NHW"),
    "fashion-mnist": (read_idx_directory, "NHW"),
    "cifar10": (read_cifar_directory, "NCHW"),
    "svhn": (read_svhn_directory, "NCHW"),
}
#: expected (C, H, W) of each file-backed dataset
SHAPES = {"mnist": (1, 28, 28), "fashion-mnist": (1, 28, 28), "cifar10": (3, 32, 32), "svhn": (3, 32, 32)}

DATASETS: Registry = Registry("dataset")
DATASETS.register("digits")(lambda root=None, download_missing=False: load_digits_dataset())


def dataset_names() -> list[str]:
    return DATASETS.names()


def locate_dataset(name: str, root: str | os.PathLike | None = None) -> Path | None:
    """The first location holding ``name``'s files, or None (digits has no files)."""
    DATASETS.get(name)
    if name == "digits":
        return None
    for place in candidate_locations(name, root):
        if place.suffix == ".npz" and place.is_file():
            return place
        if place.is_dir() and _directory_holds(name, place):
            return place
    return None


def _directory_holds(name: str, place: Path) -> bool:
    marker = {
        "mnist": "train-images-idx3-ubyte",
        "fashion-mnist": "train-images-idx3-ubyte",
        "cifar10": "test_batch",
        "svhn": "train_32x32.mat",
    }[name]
    return (place / marker).is_file() or (place / f"{marker}.gz").is_file()


def _npz_layout(x: np.ndarray, shape: tuple[int, int, int]) -> str:
    if x.ndim == 3:
        return "NHW"
    if x.ndim == 4 and x.shape[1:] == shape:
        return "NCHW"
    return "NHWC"


def _file_loader(name: str):
    def load(root: str | os.PathLike | None = None, download_missing: bool = False) -> ImageDataset:
        place = locate_dataset(name, root)
        if place is None and download_missing:
            logger.info("%s is missing: downloading its official files into %s", name, download_root(root))
            place = fetch_dataset(name, root)
        if place is None:
            raise DataError(missing_message(name, candidate_locations(name, root), root))
        return _read(name, place)

    return load


def _read(name: str, place: Path) -> ImageDataset:
    arrays: dict[str, np.ndarray] | None
    if place.suffix == ".npz":
        arrays = read_npz(place)
        layout = _npz_layout(arrays["x_train"], SHAPES[name])
    else:
        reader, layout = DIRECTORY_READERS[name]
        arrays = reader(place)
    if arrays is None:
        raise DataError(f"{place} does not hold the files of {name!r} that labelleak reads")
    for key in ("x_train", "x_test"):
        if arrays[key].dtype != np.uint8:
            raise DataError(f"{place}: {key} must be uint8 images (0-255), got {arrays[key].dtype}")
    x_train, y_train = from_uint8(arrays["x_train"], arrays["y_train"], layout=layout)
    x_test, y_test = from_uint8(arrays["x_test"], arrays["y_test"], layout=layout)
    if tuple(x_train.shape[1:]) != SHAPES[name]:
        raise DataError(f"{place}: {name} images must be {SHAPES[name]} (C, H, W), got {tuple(x_train.shape[1:])}")
    return ImageDataset(
        name=name,
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        class_names=CLASS_NAMES[name],
        source=str(place),
    )


for _name in CLASS_NAMES:
    DATASETS.register(_name)(_file_loader(_name))


def file_datasets() -> list[str]:
    """The datasets read from files (every one but the bundled digits), which can be fetched."""
    return [name for name in dataset_names() if name in CLASS_NAMES]


def fetch_dataset(name: str, root: str | os.PathLike | None = None, *, progress: bool = False) -> Path:
    """Download ``name``'s official files (checksummed) under ``root`` (default: ``$LABELLEAK_DATA``, else
    ``~/.cache/labelleak/data``) and return where :func:`load_dataset` now finds them."""
    if name not in CLASS_NAMES:
        DATASETS.get(name)  # an unknown name: the registry's one-line error
        raise DataError(f"dataset {name!r} has no files to fetch: it is bundled with scikit-learn")
    base = download_root(root)
    download(name, base, progress=progress)
    place = locate_dataset(name, base)
    if place is None:
        raise DataError(f"the files of {name!r} were downloaded into {base}, but labelleak cannot find them there")
    return place


@functools.lru_cache(maxsize=4)
def _cached_load(name: str, root: str | None, download: bool) -> ImageDataset:
    return DATASETS.get(name)(root=root, download_missing=download)


def load_dataset(name: str, *, root: str | os.PathLike | None = None, download: bool = False) -> ImageDataset:
    """Load dataset ``name`` (see :func:`dataset_names`), raising :class:`DataError` if it is missing or bad.

    Loaded datasets are kept in a small in-process cache, so repeated calls are cheap.
    """
    return _cached_load(name, None if root is None else str(root), download)
