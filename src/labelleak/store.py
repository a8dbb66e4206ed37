"""Content-addressed artifact store: every stage's output lives under the hash of its resolved config.

A changed config hashes differently, so a stale artifact is never reused; a repeated config finds
its artifact and skips the work. Writes are atomic (temp file + rename). This is labelleak's
bottom layer: it knows JSON, tensors and directories, not models or datasets (a caller that
stores something else passes a :class:`Codec`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import torch
from safetensors.torch import load_file
from safetensors.torch import save as save_bytes

if TYPE_CHECKING:
    from labelleak.data import ImageDataset

logger = logging.getLogger(__name__)

T = TypeVar("T")

ENV_VAR = "LABELLEAK_CACHE"
#: bump when the meaning of stored artifacts changes, to invalidate every old entry
SCHEMA = 1


def default_cache_root() -> Path:
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "labelleak"


def config_hash(config: dict[str, Any]) -> str:
    """A stable hash of a JSON-serialisable config (key order does not matter)."""
    text = json.dumps({"schema": SCHEMA, **config}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


_FINGERPRINTS: dict[int, tuple[ImageDataset, str]] = {}


def dataset_fingerprint(dataset: ImageDataset) -> str:
    """Hash of a dataset's content, so a different copy of 'mnist' never shares cached models."""
    hit = _FINGERPRINTS.get(id(dataset))
    if hit is not None and hit[0] is dataset:
        return hit[1]
    digest = hashlib.sha256(dataset.name.encode())
    for tensor in (dataset.x_train, dataset.y_train, dataset.x_test, dataset.y_test):
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.contiguous().numpy().tobytes())
    fingerprint = digest.hexdigest()[:16]
    _FINGERPRINTS[id(dataset)] = (dataset, fingerprint)
    return fingerprint


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file and rename, so no half-written file is left."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


class Codec(Protocol):
    """How one kind of artifact is read from and written to its directory."""

    def load(self, directory: Path) -> Any | None:
        """The stored value, or None when the directory holds none (or an unreadable one)."""

    def save(self, directory: Path, value: Any, config: dict[str, Any]) -> None:
        """Write ``value`` (and ``config``, for provenance) atomically."""


class JsonCodec:
    """A JSON-serialisable value in ``result.json``, beside the config it was computed from."""

    def load(self, directory: Path) -> Any | None:
        path = directory / "result.json"
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text())["result"]
        except (ValueError, KeyError) as err:
            logger.warning("ignoring unreadable cached result at %s: %s", path, err)
            return None

    def save(self, directory: Path, value: Any, config: dict[str, Any]) -> None:
        atomic_write_json(directory / "result.json", {"config": config, "result": value})


JSON = JsonCodec()


class ArtifactStore:
    """Artifacts under ``root/<kind>/<config hash>/``.

    ``counts`` tallies, per kind, how many artifacts :meth:`cached` computed and how many it
    found already stored, so callers can report cache hits without probing the file system.
    """

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_root()
        self.counts: Counter[tuple[str, str]] = Counter()

    def path(self, kind: str, config: dict[str, Any]) -> Path:
        return self.root / kind / config_hash(config)

    def cached(
        self, kind: str, config: dict[str, Any], compute: Callable[[], T], *, codec: Codec = JSON
    ) -> tuple[T, bool]:
        """The artifact of ``config``: loaded when stored, else computed and stored.

        Returns the value and whether it came from the store.
        """
        directory = self.path(kind, config)
        hit = codec.load(directory)
        if hit is not None:
            logger.info("loaded cached %s %s", kind, directory)
            self.counts[(kind, "cached")] += 1
            return hit, True
        value = compute()
        codec.save(directory, value, config)
        self.counts[(kind, "computed")] += 1
        return value, False

    def load_json(self, kind: str, config: dict[str, Any]) -> Any | None:
        return JSON.load(self.path(kind, config))

    def save_json(self, kind: str, config: dict[str, Any], result: Any) -> Path:
        directory = self.path(kind, config)
        JSON.save(directory, result, config)
        return directory / "result.json"

    def load_tensors(self, kind: str, config: dict[str, Any]) -> dict[str, torch.Tensor] | None:
        path = self.path(kind, config) / "tensors.safetensors"
        return load_file(str(path)) if path.is_file() else None

    def save_tensors(self, kind: str, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Path:
        path = self.path(kind, config) / "tensors.safetensors"
        atomic_write_bytes(path, save_bytes({k: v.contiguous() for k, v in tensors.items()}))
        atomic_write_json(path.with_name("config.json"), config)
        return path


def cached(
    store: ArtifactStore | None, kind: str, config: dict[str, Any], compute: Callable[[], T], *, codec: Codec = JSON
) -> tuple[T, bool]:
    """:meth:`ArtifactStore.cached`, or just ``compute()`` when there is no store."""
    if store is None:
        return compute(), False
    return store.cached(kind, config, compute, codec=codec)
