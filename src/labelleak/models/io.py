"""Safe model files: safetensors weights plus a JSON sidecar; nothing is ever unpickled."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from labelleak import LabelleakError, __version__
from labelleak.models.architectures import Classifier, ModelSpec, build_model
from labelleak.store import atomic_write_json, temp_prefix


class ModelFileError(LabelleakError):
    """A model file is missing, corrupt, unsafe or does not fit the architecture."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def state_digest(model: torch.nn.Module) -> str:
    """sha256 over a module's state (every parameter and buffer: name, dtype, shape and values), so
    two modules with the same weights and statistics share it whatever they were loaded from."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{value.dtype}:{tuple(value.shape)};".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def save_model(model: Classifier, directory: Path, *, metadata: dict[str, Any] | None = None) -> Path:
    """Write ``model.safetensors`` and ``model.json`` (spec, metadata, version, sha256) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    weights = directory / "model.safetensors"
    # stored from the CPU whatever the model's device, so a GPU-trained model loads on any machine
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=temp_prefix("model"), suffix=".tmp")
    os.close(fd)
    try:
        save_file(state, tmp)
        digest = sha256_file(Path(tmp))
        os.replace(tmp, weights)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    sidecar = {"spec": model.spec.to_dict(), "labelleak_version": __version__, "sha256": digest, **(metadata or {})}
    atomic_write_json(directory / "model.json", sidecar)
    return weights


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors from a safetensors file, or from a legacy ``.pt`` state dict via ``weights_only=True``."""
    if not path.is_file():
        raise ModelFileError(f"weights file not found: {path}")
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as err:
            raise ModelFileError(f"corrupt safetensors file {path}: {err}") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # weights_only refusals and corrupt archives raise assorted types
        raise ModelFileError(f"refusing to load {path}: not a plain tensor state dict ({_refusal(err)})") from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ModelFileError(f"refusing to load {path}: expected a state dict of tensors, got {type(state).__name__}")
    return state


def _refusal(err: Exception) -> str:
    """Why ``torch.load(weights_only=True)`` refused a file, without torch's advice to load it unsafely."""
    text = str(err)
    found = re.search(r"GLOBAL ([\w.]+)", text)
    if found:
        return f"refused global {found.group(1)}; nothing in the file was run"
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # torch's text around the reason tells how to load the file with weights_only=False: never pass that on
    usable = [line for line in lines if "weights_only" not in line and "torch.load" not in line]
    return usable[0] if usable else type(err).__name__


def load_into(model: torch.nn.Module, state: dict[str, torch.Tensor], *, source: str) -> torch.nn.Module:
    """Load ``state`` into ``model``, turning any mismatch or non-finite weight into one clear line."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or unexpected or wrong:
        detail = []
        if missing:
            detail.append(f"missing {len(missing)} key(s) e.g. {missing[0]!r}")
        if unexpected:
            detail.append(f"unexpected {len(unexpected)} key(s) e.g. {unexpected[0]!r}")
        if wrong:
            k = wrong[0]
            detail.append(f"shape mismatch at {k!r}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}")
        raise ModelFileError(f"weights in {source} do not fit the architecture: {'; '.join(detail)}")
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ModelFileError(f"weights in {source} hold NaN or infinite values (e.g. {bad[0]!r})")
    model.load_state_dict(state)
    model.eval()
    return model


def load_model(directory: Path) -> tuple[Classifier, dict[str, Any]]:
    """Rebuild a model saved by :func:`save_model`; the sidecar's sha256 must match the weights."""
    sidecar_path, weights = directory / "model.json", directory / "model.safetensors"
    if not sidecar_path.is_file() or not weights.is_file():
        raise ModelFileError(f"no saved model in {directory} (expected model.json and model.safetensors)")
    try:
        sidecar = json.loads(sidecar_path.read_text())
        spec = ModelSpec.from_dict(sidecar["spec"])
    except (ValueError, KeyError, TypeError) as err:
        raise ModelFileError(f"corrupt model sidecar {sidecar_path}: {err}") from None
    if sha256_file(weights) != sidecar.get("sha256"):
        raise ModelFileError(f"{weights} does not match the sha256 recorded in {sidecar_path}")
    model = build_model(spec)
    load_into(model, read_state_dict(weights), source=str(weights))
    return model, sidecar
