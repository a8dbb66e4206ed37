"""Content-addressed artifact store: every stage's output lives under the hash of its resolved config.

A changed config hashes differently, so a stale artifact is never reused; a repeated config finds
its artifact and skips the work. Writes are atomic (temp file + rename).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import torch

from labelleak.data import ImageDataset
from labelleak.models.architectures import Classifier
from labelleak.models.io import ModelFileError, atomic_write_json, load_model, save_model

logger = logging.getLogger(__name__)

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


class ArtifactStore:
    """Models and JSON results under ``root/<kind>/<config hash>/``."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_root()

    def path(self, kind: str, config: dict[str, Any]) -> Path:
        return self.root / kind / config_hash(config)

    def load_model(self, kind: str, config: dict[str, Any]) -> tuple[Classifier, dict[str, Any]] | None:
        directory = self.path(kind, config)
        if not (directory / "model.json").is_file():
            return None
        try:
            return load_model(directory)
        except ModelFileError as err:
            logger.warning("ignoring unreadable cached %s at %s: %s", kind, directory, err)
            return None

    def save_model(self, kind: str, config: dict[str, Any], model: Classifier, metadata: dict[str, Any]) -> Path:
        directory = self.path(kind, config)
        save_model(model, directory, metadata={"config": config, **metadata})
        return directory

    def load_json(self, kind: str, config: dict[str, Any]) -> Any | None:
        path = self.path(kind, config) / "result.json"
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text())["result"]
        except (ValueError, KeyError) as err:
            logger.warning("ignoring unreadable cached %s at %s: %s", kind, path, err)
            return None

    def save_json(self, kind: str, config: dict[str, Any], result: Any) -> Path:
        path = self.path(kind, config) / "result.json"
        atomic_write_json(path, {"config": config, "result": result})
        return path

    def load_tensors(self, kind: str, config: dict[str, Any]) -> dict[str, torch.Tensor] | None:
        from safetensors.torch import load_file

        path = self.path(kind, config) / "tensors.safetensors"
        return load_file(str(path)) if path.is_file() else None

    def save_tensors(self, kind: str, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Path:
        from safetensors.torch import save as save_bytes

        from labelleak.models.io import atomic_write_bytes

        path = self.path(kind, config) / "tensors.safetensors"
        atomic_write_bytes(path, save_bytes({k: v.contiguous() for k, v in tensors.items()}))
        atomic_write_json(path.with_name("config.json"), config)
        return path
