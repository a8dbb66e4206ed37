"""Targets of the attacks: train θ_o, unlearn classes from it, and view the result at an access level.

Each stage is a pure function of its config and seed, cached in an :class:`~labelleak.store.ArtifactStore`
under the hash of that config (:func:`original_config`, :func:`unlearned_config`), so the CLI, the
experiment runner, the attacker's shadow models and the benchmarks share every trained model.

Each function here takes the ``device`` its models go to (default: the process's default device,
:func:`labelleak.device.default_device`). The device is not part of any cache key: a model stored
from a GPU run is loaded by a CPU run and the other way round (docs/runner.md, "GPU").
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, overload

import torch

from labelleak.access import GradientAccess, LabelAccess, QueryAccess, WeightsAccess
from labelleak.data import ImageDataset
from labelleak.device import default_device, module_device, torch_threads
from labelleak.models import (
    Classifier,
    ModelFileError,
    ModelSpec,
    TrainConfig,
    accuracy,
    build_model,
    load_model,
    per_class_accuracy,
    recipe_for,
    resolve_arch,
    save_model,
    train,
)
from labelleak.models.foreign import input_normalisation
from labelleak.store import ArtifactStore, cached, dataset_fingerprint
from labelleak.unlearning import UNLEARNERS, Unlearner, UnlearnResult
from labelleak.unlearning.amnesiac_updates import UpdateRecord, UpdateRecorder
from labelleak.unlearning.defaults import dataset_defaults
from labelleak.validation import ParameterError, check_classes, check_number, parse_value

logger = logging.getLogger(__name__)

__all__ = [
    "TrainedModel",
    "access_view",
    "build_unlearner",
    "is_original_stored",
    "is_unlearned_stored",
    "load_update_record",
    "model_spec_for",
    "original_config",
    "recipe_for",
    "train_original",
    "unlearn_original",
    "unlearned_config",
]


@dataclass
class TrainedModel:
    """A model and what is known about it: its config, cache key and test metrics."""

    model: Classifier
    config: dict[str, Any]
    metrics: dict[str, Any]
    cached: bool
    path: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class _ModelCodec:
    """A model in the store: safetensors weights and a JSON sidecar holding its config and metrics."""

    def is_stored(self, directory: Path) -> bool:
        return (directory / "model.json").is_file()

    def load(self, directory: Path) -> tuple[Classifier, dict[str, Any]] | None:
        if not self.is_stored(directory):
            return None
        try:
            return load_model(directory)
        except ModelFileError as err:
            logger.warning("ignoring unreadable cached model at %s: %s", directory, err)
            return None

    def save(self, directory: Path, value: tuple[Classifier, dict[str, Any]], config: dict[str, Any]) -> None:
        model, metadata = value
        save_model(model, directory, metadata={"config": config, **metadata})


MODEL = _ModelCodec()


def _stored_path(store: ArtifactStore | None, kind: str, config: dict[str, Any]) -> str:
    return str(store.path(kind, config)) if store is not None else ""


def model_spec_for(dataset: ImageDataset, arch: str) -> ModelSpec:
    """The spec of ``arch`` for ``dataset``, normalised by the per-channel training-set statistics,
    or, for a model owner's registered architecture, as the owner's network is fed
    (:func:`~labelleak.models.foreign.input_normalisation`)."""
    c, h, _ = dataset.input_shape
    resolved = resolve_arch(arch, dataset.name)
    owners = input_normalisation(resolved, channels=c)
    if owners is not None:
        mean, std = owners
    else:
        x = dataset.x_train
        mean = tuple(round(float(m), 6) for m in x.mean(dim=(0, 2, 3)))
        std = tuple(round(float(s), 6) for s in x.std(dim=(0, 2, 3)).clamp_min(1e-3))
    return ModelSpec(arch=resolved, in_channels=c, image_size=h, num_classes=dataset.num_classes, mean=mean, std=std)


def _thread_key(threads: int | None) -> dict[str, int]:
    """The cache-key entry of a model built at a pinned torch thread count (none when not pinned)."""
    return {} if threads is None else {"threads": check_number("threads", threads, low=1, integer=True)}


def original_config(
    dataset: ImageDataset,
    *,
    arch: str = "auto",
    seed: int = 0,
    train_config: TrainConfig | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """The resolved config of an original model θ_o: what its cache key is computed from (with
    ``threads``, the torch thread count its training is pinned to: a model trained at another count
    is another model)."""
    recipe = train_config or recipe_for(dataset.name)
    return {
        "stage": "original",
        "dataset": dataset.name,
        "data": dataset_fingerprint(dataset),
        "spec": model_spec_for(dataset, arch).to_dict(),
        "train": recipe.to_dict(),
        "seed": seed,
        **_thread_key(threads),
    }


def train_original(
    dataset: ImageDataset,
    *,
    arch: str = "auto",
    seed: int = 0,
    train_config: TrainConfig | None = None,
    store: ArtifactStore | None = None,
    verbose: bool = False,
    record_updates: bool = False,
    device: torch.device | None = None,
    threads: int | None = None,
) -> TrainedModel:
    """Train θ_o on the full training split (or load it from ``store`` when an identical run exists).

    The model is initialised on the CPU (the same weights on every device), trained on ``device``
    (default: :func:`~labelleak.device.default_device`) and returned there, also when it was loaded.

    With ``record_updates`` the parameter updates of the training are also recorded, grouped by
    the classes present in each batch (``amnesiac_updates`` needs them): the record is put in
    ``extra["update_record"]`` and stored under the kind ``update-record`` with θ_o's config as
    key. θ_o's own cache key does not change; when θ_o is already stored without its record, its
    training is replayed (deterministic: same weights) to record it.

    With ``threads``, the training runs at that many torch threads whatever the caller's count, and
    the count is part of the cache key (:func:`original_config`), so that the weights do not depend
    on who trained them.
    """
    config = original_config(dataset, arch=arch, seed=seed, train_config=train_config, threads=threads)
    device = device or default_device()
    recorded: list[UpdateRecord] = []

    def run_training() -> tuple[Classifier, float]:
        spec = ModelSpec.from_dict(config["spec"])
        model = build_model(spec, seed=seed).to(device)
        recorder = UpdateRecorder(model) if record_updates else None
        start = time.perf_counter()
        with torch_threads(threads):
            train(
                model,
                dataset.x_train,
                dataset.y_train,
                config=TrainConfig(**config["train"]),
                seed=seed,
                verbose=verbose,
                desc=f"train {spec.arch} on {dataset.name}",
                on_step=recorder,
            )
        if recorder is not None:
            recorded.append(recorder.record)
        return model, time.perf_counter() - start

    def compute() -> tuple[Classifier, dict[str, Any]]:
        model, seconds = run_training()
        metrics = {
            "test_accuracy": accuracy(model, dataset.x_test, dataset.y_test),
            "per_class_test_accuracy": per_class_accuracy(model, dataset.x_test, dataset.y_test, dataset.num_classes),
            "train_seconds": seconds,
            "seconds_per_epoch": seconds / config["train"]["epochs"],
        }
        return model, {"metrics": metrics}

    (model, sidecar), hit = cached(store, "original", config, compute, codec=MODEL)
    model.to(device)  # a stored model is loaded onto the CPU
    result = TrainedModel(model, config, sidecar["metrics"], cached=hit, path=_stored_path(store, "original", config))
    if record_updates:
        record = recorded[0] if recorded else load_update_record(config, store)
        if record is None:
            replayed, _ = run_training()
            if any(not torch.equal(a, b) for a, b in zip(replayed.state_dict().values(), model.state_dict().values())):
                logger.warning("replaying θ_o's training did not reproduce the stored weights exactly")
            record = recorded[0]
        if store is not None and (recorded or load_update_record(config, store) is None):
            store.save_tensors("update-record", {"stage": "update-record", "original": config}, record.to_tensors())
        result.extra["update_record"] = record
    return result


def load_update_record(
    original: TrainedModel | dict[str, Any], store: ArtifactStore | None = None
) -> UpdateRecord | None:
    """θ_o's parameter-update record: from ``original.extra`` or ``store`` (None when neither has it)."""
    if isinstance(original, TrainedModel):
        if isinstance(original.extra.get("update_record"), UpdateRecord):
            return original.extra["update_record"]
        config = original.config
    else:
        config = original
    if store is None:
        return None
    tensors = store.load_tensors("update-record", {"stage": "update-record", "original": config})
    return None if tensors is None else UpdateRecord.from_tensors(tensors)


def unlearned_config(
    original: TrainedModel | dict[str, Any],
    *,
    method: str,
    params: dict[str, Any],
    forget_classes: Sequence[int],
    seed: int,
    threads: int | None = None,
) -> dict[str, Any]:
    """The resolved config of an unlearned model θ_u: what its cache key is computed from.

    ``original`` is θ_o or its config (:func:`original_config`), so the key can be computed
    without training anything; ``threads`` as in :func:`original_config`.
    """
    return {
        "stage": "unlearned",
        "original": original.config if isinstance(original, TrainedModel) else original,
        "method": method,
        "params": params,
        "forget_classes": sorted(int(c) for c in forget_classes),
        "seed": seed,
        **_thread_key(threads),
    }


def build_unlearner(method: str, params: dict[str, Any] | None = None, *, dataset: str | None = None) -> Unlearner:
    """Construct a registered method; an unknown parameter name gives one line listing the valid ones.

    With ``dataset``, the method's per-dataset defaults (``labelleak/unlearning/defaults.json``)
    fill every parameter that ``params`` does not give.
    """
    merged = {**dataset_defaults(dataset, method), **(params or {})}
    unlearner: Unlearner = UNLEARNERS.build(method, **merged)
    return unlearner


#: separates a method's name from its parameters, and one parameter from the next, in a method spec
SPEC_SEPARATOR = ":"


def parse_method_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """A method spec's registry name and parameters: ``"gradient_ascent:ascend_on=all"`` is
    ``("gradient_ascent", {"ascend_on": "all"})``; a bare name has no parameters.

    Values read as :func:`~labelleak.validation.parse_value` reads them. Neither the name nor the parameters are checked
    here: :func:`build_unlearner` checks both.
    """
    name, *pairs = spec.strip().split(SPEC_SEPARATOR)
    params: dict[str, Any] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key.strip() or not value.strip():
            raise ParameterError(f"a method spec's parameters read key=value, got {pair!r} in {spec!r}")
        if key.strip() in params:
            raise ParameterError(f"a method spec gives {key.strip()!r} twice: {spec!r}")
        params[key.strip()] = parse_value(value.strip())
    return name.strip(), params


def _unlearning(
    original: TrainedModel | dict[str, Any],
    dataset: ImageDataset,
    *,
    method: str,
    params: dict[str, Any] | None,
    forget_classes: Sequence[int],
    seed: int,
    threads: int | None,
) -> tuple[Unlearner, dict[str, Any]]:
    """The method as :func:`unlearn_original` runs it and the cache key of its result."""
    classes = check_classes("forget_classes", forget_classes, dataset.num_classes)
    unlearner = build_unlearner(method, params, dataset=dataset.settings_name)
    return unlearner, unlearned_config(
        original, method=method, params=unlearner.params(), forget_classes=classes, seed=seed, threads=threads
    )


def is_original_stored(
    dataset: ImageDataset,
    *,
    arch: str = "auto",
    seed: int = 0,
    train_config: TrainConfig | None = None,
    threads: int | None = None,
    store: ArtifactStore,
) -> bool:
    """Whether :func:`train_original` with these arguments would load its model from ``store``."""
    config = original_config(dataset, arch=arch, seed=seed, train_config=train_config, threads=threads)
    return MODEL.is_stored(store.path("original", config))


def is_unlearned_stored(
    original: TrainedModel | dict[str, Any],
    dataset: ImageDataset,
    *,
    method: str,
    params: dict[str, Any] | None = None,
    forget_classes: Sequence[int],
    seed: int = 0,
    threads: int | None = None,
    store: ArtifactStore,
) -> bool:
    """Whether :func:`unlearn_original` with these arguments would load its model from ``store``
    (a stored model that turns out unreadable is still computed again there); ``original`` is θ_o
    or its config (:func:`original_config`), so this can be asked before θ_o is trained."""
    _, config = _unlearning(
        original, dataset, method=method, params=params, forget_classes=forget_classes, seed=seed, threads=threads
    )
    return MODEL.is_stored(store.path("unlearned", config))


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
    device: torch.device | None = None,
    threads: int | None = None,
    metrics: Sequence[str] | None = None,
) -> UnlearnResult:
    """Unlearn ``forget_classes`` from θ_o with ``method`` (or load the identical run from ``store``).

    Args:
        original: θ_o as returned by :func:`train_original` (its config is part of the cache key).
        dataset: the dataset θ_o was trained on.
        method: a name registered in ``UNLEARNERS``.
        params: keyword arguments of the method; unknown or invalid ones raise ``ParameterError``.
            Parameters not given take the dataset's defaults (``labelleak/unlearning/defaults.json``),
            else the method's. The cache key holds the method's *resolved* parameters, so passing
            a default explicitly reuses the same artifact.
        forget_classes: the classes to forget (at least one, not all).
        seed: seed of the unlearning run.
        device: where θ_u is computed and returned (default: :func:`~labelleak.device.default_device`);
            ``original.model`` itself is not moved.
        threads: the torch thread count the unlearning runs at, whatever the caller's, and a part of
            the cache key (as :func:`train_original`'s); ``None``: the caller's count, not in the key.
        metrics: the utility metrics measured on a computed θ_u
            (:data:`~labelleak.unlearning.base.UTILITY_METRICS`; default: all); not in the cache key, so
            a θ_u loaded from ``store`` carries those it was stored with.
    """
    if original.config.get("dataset") != dataset.name or original.config.get("data") != dataset_fingerprint(dataset):
        raise ParameterError(
            f"the original model was trained on {original.config.get('dataset')!r}, not on this copy of {dataset.name!r}"
        )
    unlearner, config = _unlearning(
        original, dataset, method=method, params=params, forget_classes=forget_classes, seed=seed, threads=threads
    )
    classes = tuple(config["forget_classes"])
    record = load_update_record(original, store) if unlearner.needs_update_record else None
    device = device or default_device()

    def compute() -> tuple[Classifier, dict[str, Any]]:
        recipe = TrainConfig(**original.config["train"])
        theta_o = (
            original.model if module_device(original.model) == device else copy.deepcopy(original.model).to(device)
        )
        cpu_start = time.process_time()
        with torch_threads(threads):
            result = unlearner.unlearn(
                theta_o,
                forget_classes=classes,
                data=dataset,
                seed=seed,
                recipe=recipe,
                verbose=verbose,
                update_record=record,
                metrics=metrics,
            )
        # CPU time of this process (unlearning plus the utility evaluation): on a shared machine the
        # wall-clock "seconds" mostly measure the other jobs
        result.metrics["cpu_seconds"] = time.process_time() - cpu_start
        logger.info(
            "%s forgot %s: %s",
            method,
            list(classes),
            ", ".join(f"{k}={v:.4g}" for k, v in result.metrics.items()),
        )
        return result.model, {"metrics": result.metrics}

    (model, sidecar), hit = cached(store, "unlearned", config, compute, codec=MODEL)
    return UnlearnResult(
        model=model.to(device),  # a stored model is loaded onto the CPU
        method=method,
        params=config["params"],
        forget_classes=classes,
        metrics=sidecar["metrics"],
        cached=hit,
        path=_stored_path(store, "unlearned", config),
    )


_Device = torch.device | None


@overload
def access_view(
    model: Classifier, level: Literal["weights"], *, budget: int | None = None, device: _Device = None
) -> WeightsAccess: ...
@overload
def access_view(
    model: Classifier, level: Literal["gradients"], *, budget: int | None = None, device: _Device = None
) -> GradientAccess: ...
@overload
def access_view(
    model: Classifier, level: Literal["queries"], *, budget: int | None = None, device: _Device = None
) -> QueryAccess: ...
@overload
def access_view(
    model: Classifier, level: Literal["labels"], *, budget: int | None = None, device: _Device = None
) -> LabelAccess: ...
@overload
def access_view(
    model: Classifier, level: str, *, budget: int | None = None, device: _Device = None
) -> LabelAccess | QueryAccess | GradientAccess | WeightsAccess: ...
def access_view(
    model: Classifier, level: str, *, budget: int | None = None, device: _Device = None
) -> LabelAccess | QueryAccess | GradientAccess | WeightsAccess:
    """The view of a labelleak :class:`~labelleak.models.Classifier` at access ``level``
    (``labels``, ``queries``, ``gradients`` or ``weights``), counting queries against ``budget``;
    its frozen copy runs on ``device`` (default: :func:`~labelleak.device.default_device`)."""
    spec = model.spec
    shape = (spec.in_channels, spec.image_size, spec.image_size)
    device = device or default_device()
    views: dict[str, Callable[[], LabelAccess | QueryAccess | GradientAccess | WeightsAccess]] = {
        "weights": lambda: WeightsAccess.of_classifier(model, budget=budget, device=device),
        "gradients": lambda: GradientAccess(
            model, num_classes=spec.num_classes, input_shape=shape, budget=budget, device=device
        ),
        "queries": lambda: QueryAccess.from_model(
            model, num_classes=spec.num_classes, input_shape=shape, budget=budget, device=device
        ),
        "labels": lambda: LabelAccess.from_model(
            model, num_classes=spec.num_classes, input_shape=shape, budget=budget, device=device
        ),
    }
    if level not in views:
        raise ParameterError(f"level must be one of {', '.join(views)}, got {level!r}")
    return views[level]()
