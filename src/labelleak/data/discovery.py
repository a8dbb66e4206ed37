"""Where each named dataset is looked for, in order, and the optional download."""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
#: besides `labelleak datasets --fetch NAME`: the other ways to get each dataset
HOW_TO_GET = {
    "mnist": "put the four MNIST IDX files (raw or .gz) or mnist.npz in a directory and pass it as --data-root",
    "fashion-mnist": "run `apt-get install dataset-fashion-mnist`, or put the IDX files in a directory and pass "
    "it as --data-root",
    "cifar10": "unpack cifar-10-python.tar.gz (cifar-10-batches-py/) or put cifar10.npz in a directory and pass "
    "it as --data-root",
    "svhn": "put train_32x32.mat and test_32x32.mat in a directory and pass it as --data-root",
}

#: approximate size of each dataset's official files, said before fetching them
FETCH_SIZE = {"mnist": "11 MB", "fashion-mnist": "30 MB", "cifar10": "163 MB", "svhn": "246 MB"}


def explicit_root(root: str | os.PathLike | None) -> Path | None:
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else None


def default_download_root() -> Path:
    """Where ``--download`` and ``labelleak datasets --fetch`` put files when no root is given."""
    return Path.home() / ".cache" / "labelleak" / "data"


def download_root(root: str | os.PathLike | None) -> Path:
    """The directory a download into ``root`` (or ``$LABELLEAK_DATA``, else the default) writes under."""
    return explicit_root(root) or default_download_root()


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
        return _root_places(name, base)  # an explicit root is authoritative: never fall back silently
    if name == "fashion-mnist":
        places.append(DEBIAN_FASHION_MNIST)
    for shared in shared_data_dirs():
        places += [shared / f for f in NPZ_NAMES[name]]
    # what `--download` / `datasets --fetch` fetched without a root: the project's pinned copies above come first
    return places + _root_places(name, default_download_root())


def _root_places(name: str, base: Path) -> list[Path]:
    return [base / sub for sub in ROOT_LAYOUTS[name]] + [base / f for f in NPZ_NAMES[name]]


def fetch_command(name: str, root: str | os.PathLike | None = None) -> str:
    """The command that downloads ``name`` to where a search of ``root`` finds it."""
    return f"labelleak datasets --fetch {name}" + (f" --data-root {root}" if root is not None else "")


def missing_message(name: str, searched: list[Path], root: str | os.PathLike | None = None) -> str:
    listed = ", ".join(str(p) for p in searched) or "(nothing)"
    return (
        f"dataset {name!r} not found; searched: {listed}. To obtain it: run `{fetch_command(name, root)}` "
        f"({FETCH_SIZE[name]}) or pass --download; or {HOW_TO_GET[name]} (or set ${ENV_VAR})"
    )


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
#: seconds without data before a download gives up
DOWNLOAD_TIMEOUT = 60
#: what a download can fail with: no network, refused or reset connections, HTTP errors, short reads
DOWNLOAD_ERRORS = (OSError, http.client.HTTPException, ValueError)


def md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _open_url(url: str) -> Any:
    return urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT)


def _reason(err: BaseException) -> str:
    """One line saying why a download failed (urllib wraps the socket error in ``reason``)."""
    reason = getattr(err, "reason", None) or err
    text = " ".join(str(reason).split()) or type(reason).__name__
    return text


def download(name: str, root: Path, *, fetch: Callable[[str], Any] = _open_url, progress: bool = False) -> Path:
    """Fetch ``name``'s official files into ``root`` and return the directory holding them.

    Every file is checked against its published md5 before it is renamed into place; a file
    already there with the right md5 is kept. On any failure (no network, a refused connection, a
    wrong checksum, an interruption) nothing is left behind: no partial file, and no directory
    this call created. The error is one :class:`DataError` line naming the URL and the reason.
    """
    target = Path(root) / DOWNLOAD_SUBDIR[name]
    created = [p for p in (target, *target.parents) if not p.exists()]
    target.mkdir(parents=True, exist_ok=True)
    try:
        for url, filename, md5 in DOWNLOADS[name]:
            dest = target / filename
            if not (dest.is_file() and md5_of(dest) == md5):
                _fetch_file(name, url, dest, md5, fetch=fetch, progress=progress)
            if filename.endswith(".tar.gz"):
                _extract(dest, target)
    except BaseException:
        for directory in created:  # deepest first; only the ones that stayed empty
            try:
                directory.rmdir()
            except OSError:
                break
        raise
    return target


def _fetch_file(name: str, url: str, dest: Path, md5: str, *, fetch: Callable[[str], Any], progress: bool) -> None:
    from tqdm.auto import tqdm

    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        digest = hashlib.md5()
        with os.fdopen(fd, "wb") as out:
            try:
                with fetch(url) as response:
                    headers = getattr(response, "headers", None)
                    size = headers.get("Content-Length") if headers is not None else None
                    with tqdm(
                        total=int(size) if size and str(size).isdigit() else None,
                        desc=dest.name,
                        unit="B",
                        unit_scale=True,
                        disable=not progress,
                        leave=False,
                    ) as bar:
                        for chunk in iter(lambda: response.read(1 << 20), b""):
                            out.write(chunk)
                            digest.update(chunk)
                            bar.update(len(chunk))
            except DOWNLOAD_ERRORS as err:
                raise DataError(
                    f"could not download {name} from {url}: {_reason(err)} (no network? get the files "
                    f"elsewhere and pass their directory as --data-root)"
                ) from None
        if digest.hexdigest() != md5:
            raise DataError(
                f"download of {url} failed its md5 check (expected {md5}, got {digest.hexdigest()}); "
                "nothing was kept, try again"
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _extract(archive_path: Path, target: Path) -> None:
    """Unpack a checked archive into ``target`` through a temporary directory, so that a failure or
    an interruption never leaves a half-filled data directory; members that would escape the
    directory, links and devices are refused."""
    scratch = Path(tempfile.mkdtemp(dir=target, prefix=".extract."))
    try:
        with tarfile.open(archive_path) as archive:
            if hasattr(tarfile, "data_filter"):
                archive.extractall(scratch, filter="data")
            else:  # Python without extraction filters (3.10 before 3.10.12): check the members ourselves
                for member in archive.getmembers():
                    parts = Path(member.name).parts
                    if member.name.startswith("/") or ".." in parts or not (member.isfile() or member.isdir()):
                        raise DataError(f"{archive_path}: refusing archive member {member.name!r}")
                archive.extractall(scratch)
        for item in scratch.iterdir():
            final = target / item.name
            if final.is_dir():
                shutil.rmtree(final)
            elif final.exists():
                final.unlink()
            os.replace(item, final)
    except (tarfile.TarError, OSError) as err:
        raise DataError(f"could not unpack {archive_path}: {_reason(err)}") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
