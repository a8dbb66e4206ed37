"""Pipeline stages, each a pure function of its config and seed, cached in an :class:`ArtifactStore`."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from labelleak.data import ImageDataset
from labelleak.experiments.cache import ArtifactStore, dataset_fingerprint
from labelleak.models import (
    DEFAULT_RECIPES,
    Classifier,
    ModelSpec,
    TrainConfig,
    accuracy,
    build_model,
    per_class_accuracy,
    resolve_arch,
    train,
)

logger = logging.getLogger(__name__)


@dataclass
class TrainedModel:
    """A model and what is known about it: its config, cache key and test metrics."""

    model: Classifier
    config: dict[str, Any]
    metrics: dict[str, Any]
    cached: bool
    path: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def model_spec_for(dataset: ImageDataset, arch: str) -> ModelSpec:
    """The spec of ``arch`` for ``dataset``, normalised by the per-channel training-set statistics."""
    x = dataset.x_train
    c, h, _ = dataset.input_shape
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return ModelSpec(arch=resolve_arch(arch, dataset.name), in_channels=c, image_size=h,
                     num_classes=dataset.num_classes, mean=tuple(round(float(m), 6) for m in mean),
                     std=tuple(round(float(s), 6) for s in std))


def original_config(dataset: ImageDataset, *, arch: str = "auto", seed: int = 0,
                    train_config: TrainConfig | None = None) -> dict[str, Any]:
    """The resolved config of an original model θ_o: what its cache key is computed from."""
    recipe = train_config or DEFAULT_RECIPES.get(dataset.name, TrainConfig())
    return {
        "stage": "original",
        "dataset": dataset.name,
        "data": dataset_fingerprint(dataset),
        "spec": model_spec_for(dataset, arch).to_dict(),
        "train": recipe.to_dict(),
        "seed": seed,
    }


def train_original(dataset: ImageDataset, *, arch: str = "auto", seed: int = 0,
                   train_config: TrainConfig | None = None, store: ArtifactStore | None = None,
                   verbose: bool = False) -> TrainedModel:
    """Train θ_o on the full training split (or load it from ``store`` when an identical run exists)."""
    config = original_config(dataset, arch=arch, seed=seed, train_config=train_config)
    if store is not None:
        hit = store.load_model("original", config)
        if hit is not None:
            model, sidecar = hit
            logger.info("loaded cached original model %s", store.path("original", config))
            return TrainedModel(model, config, sidecar["metrics"], cached=True, path=str(store.path("original", config)))
    spec = ModelSpec.from_dict(config["spec"])
    model = build_model(spec, seed=seed)
    start = time.perf_counter()
    train(model, dataset.x_train, dataset.y_train, config=TrainConfig(**config["train"]), seed=seed,
          verbose=verbose, desc=f"train {spec.arch} on {dataset.name}")
    seconds = time.perf_counter() - start
    metrics = {
        "test_accuracy": accuracy(model, dataset.x_test, dataset.y_test),
        "per_class_test_accuracy": per_class_accuracy(model, dataset.x_test, dataset.y_test, dataset.num_classes),
        "train_seconds": seconds,
        "seconds_per_epoch": seconds / config["train"]["epochs"],
    }
    path = ""
    if store is not None:
        path = str(store.save_model("original", config, model, {"metrics": metrics}))
    return TrainedModel(model, config, metrics, cached=False, path=path)
