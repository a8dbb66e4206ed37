"""Pipeline stages, each a pure function of its config and seed, cached in an :class:`ArtifactStore`."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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
from labelleak.unlearning.base import UnlearnResult

if TYPE_CHECKING:
    from labelleak.unlearning.base import Unlearner

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
    return ModelSpec(
        arch=resolve_arch(arch, dataset.name),
        in_channels=c,
        image_size=h,
        num_classes=dataset.num_classes,
        mean=tuple(round(float(m), 6) for m in mean),
        std=tuple(round(float(s), 6) for s in std),
    )


def original_config(
    dataset: ImageDataset, *, arch: str = "auto", seed: int = 0, train_config: TrainConfig | None = None
) -> dict[str, Any]:
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


def train_original(
    dataset: ImageDataset,
    *,
    arch: str = "auto",
    seed: int = 0,
    train_config: TrainConfig | None = None,
    store: ArtifactStore | None = None,
    verbose: bool = False,
) -> TrainedModel:
    """Train θ_o on the full training split (or load it from ``store`` when an identical run exists)."""
    config = original_config(dataset, arch=arch, seed=seed, train_config=train_config)
    if store is not None:
        hit = store.load_model("original", config)
        if hit is not None:
            model, sidecar = hit
            logger.info("loaded cached original model %s", store.path("original", config))
            return TrainedModel(
                model, config, sidecar["metrics"], cached=True, path=str(store.path("original", config))
            )
    spec = ModelSpec.from_dict(config["spec"])
    model = build_model(spec, seed=seed)
    start = time.perf_counter()
    train(
        model,
        dataset.x_train,
        dataset.y_train,
        config=TrainConfig(**config["train"]),
        seed=seed,
        verbose=verbose,
        desc=f"train {spec.arch} on {dataset.name}",
    )
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


def unlearned_config(
    original: TrainedModel, *, method: str, params: dict[str, Any], forget_classes: Sequence[int], seed: int
) -> dict[str, Any]:
    """The resolved config of an unlearned model θ_u: what its cache key is computed from."""
    return {
        "stage": "unlearned",
        "original": original.config,
        "method": method,
        "params": params,
        "forget_classes": sorted(int(c) for c in forget_classes),
        "seed": seed,
    }


def unlearn_original(
    original: TrainedModel,
    dataset: ImageDataset,
    *,
    method: str,
    params: dict[str, Any] | None = None,
    forget_classes: Sequence[int],
    seed: int = 0,
    store: ArtifactStore | None = None,
    verbose: bool = False,
) -> UnlearnResult:
    """Unlearn ``forget_classes`` from θ_o with ``method`` (or load the identical run from ``store``).

    Args:
        original: θ_o as returned by :func:`train_original` (its config is part of the cache key).
        dataset: the dataset θ_o was trained on.
        method: a name registered in ``UNLEARNERS``.
        params: keyword arguments of the method; unknown or invalid ones raise ``ParameterError``.
            The cache key holds the method's *resolved* parameters, so passing a default
            explicitly reuses the same artifact.
        forget_classes: the classes to forget (at least one, not all).
        seed: seed of the unlearning run.
    """
    from labelleak.validation import ParameterError, check_classes

    if original.config.get("dataset") != dataset.name or original.config.get("data") != dataset_fingerprint(dataset):
        raise ParameterError(
            f"the original model was trained on {original.config.get('dataset')!r}, not on this copy of {dataset.name!r}"
        )
    classes = check_classes("forget_classes", forget_classes, dataset.num_classes)
    unlearner = build_unlearner(method, params)
    config = unlearned_config(original, method=method, params=unlearner.params(), forget_classes=classes, seed=seed)
    if store is not None:
        hit = store.load_model("unlearned", config)
        if hit is not None:
            model, sidecar = hit
            path = store.path("unlearned", config)
            logger.info("loaded cached unlearned model %s", path)
            return UnlearnResult(
                model=model,
                method=method,
                params=config["params"],
                forget_classes=classes,
                metrics=sidecar["metrics"],
                cached=True,
                path=str(path),
            )
    recipe = TrainConfig(**original.config["train"])
    cpu_start = time.process_time()
    result = unlearner.unlearn(
        original.model, forget_classes=classes, data=dataset, seed=seed, recipe=recipe, verbose=verbose
    )
    # CPU time of this process (unlearning plus the utility evaluation): on a shared machine the
    # wall-clock "seconds" mostly measure the other jobs
    result.metrics["cpu_seconds"] = time.process_time() - cpu_start
    if store is not None:
        result.path = str(store.save_model("unlearned", config, result.model, {"metrics": result.metrics}))
    logger.info("%s forgot %s: %s", method, list(classes), ", ".join(f"{k}={v:.4g}" for k, v in result.metrics.items()))
    return result


def build_unlearner(method: str, params: dict[str, Any] | None = None) -> Unlearner:
    """Construct a registered method; an unknown parameter name gives one line listing the valid ones."""
    import inspect

    from labelleak.unlearning import UNLEARNERS
    from labelleak.validation import ParameterError

    cls = UNLEARNERS.get(method)
    params = dict(params or {})
    valid = [
        name
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ParameterError(
            f"unknown parameter {unknown[0]!r} for method {method!r}; valid: {', '.join(valid) or '(none)'}"
        )
    return cls(**params)
