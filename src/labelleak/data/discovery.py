"""Where each named dataset is looked for, in order, and the optional download."""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path

import labelleak
from labelleak.data.base import DataError

ENV_VAR = "LABELLEAK_DATA"
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

#: sub-directories of a data root searched per dataset (torchvision's layouts included)
ROOT_LAYOUTS: dict[str, tuple[str, ...]] = {
    "mnist": ("MNIST/raw", "mnist", "."),
    "fashion-mnist": ("FashionMNIST/raw", "fashion-mnist", "."),
    "cifar10": ("cifar-10-batches-py", "cifar10/cifar-10-batches-py"),
    "svhn": ("svhn", "SVHN", "."),
}
NPZ_NAMES: dict[str, tuple[str, ...]] = {
    "mnist": ("mnist.npz",),
    "fashion-mnist": ("fashion-mnist.npz", "fashion_mnist.npz"),
    "cifar10": ("cifar10.npz",),
    "svhn": ("svhn.npz",),
}
HOW_TO_GET = {
    "mnist": "put the four MNIST IDX files (raw or .gz) or mnist.npz there, or pass --download",
    "fashion-mnist": "run `apt-get install dataset-fashion-mnist`, put the IDX files there, or pass --download",
    "cifar10": "unpack cifar-10-python.tar.gz there (cifar-10-batches-py/), put cifar10.npz there, or pass --download",
    "svhn": "put train_32x32.mat and test_32x32.mat there, or pass --download",
}


def explicit_root(root: str | os.PathLike | None) -> Path | None:
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else None


def shared_data_dirs() -> list[Path]:
    """``shared/data`` beside the working directory or the installed package, nearest first."""
    found: list[Path] = []
    for start in (Path.cwd(), Path(labelleak.__file__).resolve().parent):
        for base in (start, *start.parents):
            candidate = base / "shared" / "data"
            if candidate.is_dir() and candidate not in found:
                found.append(candidate)
    return found


def candidate_locations(name: str, root: str | os.PathLike | None) -> list[Path]:
    """Every directory or .npz file searched for ``name``, in discovery order."""
    places: list[Path] = []
    base = explicit_root(root)
    if base is not None:
        places += [base / sub for sub in ROOT_LAYOUTS[name]] + [base / f for f in NPZ_NAMES[name]]
        return places  # an explicit root is authoritative: never fall back silently
    if name == "fashion-mnist":
        places.append(DEBIAN_FASHION_MNIST)
    for shared in shared_data_dirs():
        places += [shared / f for f in NPZ_NAMES[name]]
    return places


def missing_message(name: str, searched: list[Path]) -> str:
    listed = ", ".join(str(p) for p in searched) or "(nothing)"
    return f"dataset {name!r} not found; searched: {listed}. To obtain it: {HOW_TO_GET[name]} (or set --data-root / ${ENV_VAR})"


# (url, file name, md5) per dataset; only used when the user passes --download
DOWNLOADS: dict[str, list[tuple[str, str, str]]] = {
    "mnist": [
        (
            "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz",
            "train-images-idx3-ubyte.gz",
            "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        ),
        (
            "https://ossci-datasets.s3.amazonaws.com/mnist/train-labels-idx1-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
            "d53e105ee54ea40749a09fcbcd1e9432",
        ),
        (
            "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-images-idx3-ubyte.gz",
            "t10k-images-idx3-ubyte.gz",
            "9fb629c4189551a2d022fa330f9573f3",
        ),
        (
            "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
            "ec29112dd5afa0611ce80d1b7f02629c",
        ),
    ],
    "fashion-mnist": [
        (
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-images-idx3-ubyte.gz",
            "train-images-idx3-ubyte.gz",
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        ),
        (
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-labels-idx1-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
            "25c81989df183df01b3e8a0aad5dffbe",
        ),
        (
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-images-idx3-ubyte.gz",
            "t10k-images-idx3-ubyte.gz",
            "bef4ecab320f06d8554ea6380940ec79",
        ),
        (
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-labels-idx1-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
            "bb300cfdad3c16e7a12a480ee83cd310",
        ),
    ],
    "cifar10": [
        (
            "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
            "cifar-10-python.tar.gz",
            "c58f30108f718f92721af3b95e74349a",
        ),
    ],
    "svhn": [
        (
            "http://ufldl.stanford.edu/housenumbers/train_32x32.mat",
            "train_32x32.mat",
            "e26dedcc434d2e4c54c9b2d4a06d8373",
        ),
        ("http://ufldl.stanford.edu/housenumbers/test_32x32.mat", "test_32x32.mat", "eb5a983be6a315427106f1b164d9cef3"),
    ],
}
DOWNLOAD_SUBDIR = {"mnist": "MNIST/raw", "fashion-mnist": "FashionMNIST/raw", "cifar10": ".", "svhn": "svhn"}


def md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(name: str, root: Path, *, fetch=urllib.request.urlopen) -> None:
    """Fetch ``name``'s official files into ``root`` (checked by md5, written atomically)."""
    target = root / DOWNLOAD_SUBDIR[name]
    target.mkdir(parents=True, exist_ok=True)
    for url, filename, md5 in DOWNLOADS[name]:
        dest = target / filename
        if dest.is_file() and md5_of(dest) == md5:
            continue
        with tempfile.NamedTemporaryFile(dir=target, delete=False) as tmp:
            try:
                with fetch(url) as response:
                    shutil.copyfileobj(response, tmp)
            except OSError as err:
                os.unlink(tmp.name)
                raise DataError(f"download of {url} failed: {err}") from None
        if md5_of(Path(tmp.name)) != md5:
            os.unlink(tmp.name)
            raise DataError(f"download of {url} failed its md5 check (expected {md5})")
        os.replace(tmp.name, dest)
        if filename.endswith(".tar.gz"):
            with tarfile.open(dest) as archive:
                archive.extractall(target, filter="data")
