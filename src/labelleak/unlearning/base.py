"""The unlearning interface: ``Unlearner.unlearn(original, *, forget_classes, data, seed) -> UnlearnResult``.

Subclasses validate their keyword-only parameters in ``__init__`` (errors name the parameter, the
allowed range and the value) and implement ``_unlearn`` on a private copy of θ_o; the base class
owns the forget/retain split, the copy, timing and the utility metrics.
"""

from __future__ import annotations

import copy
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from labelleak.data import ImageDataset
from labelleak.models import Classifier, TrainConfig, accuracy, predict_logits, recipe_for
from labelleak.registry import Registry
from labelleak.validation import ParameterError, check_choice, check_classes


@dataclass(frozen=True)
class ForgetSplit:
    """The training set split into the forget set D_f (labels in C) and the retain set D_r."""

    forget_classes: tuple[int, ...]
    num_classes: int
    x_forget: torch.Tensor
    y_forget: torch.Tensor
    x_retain: torch.Tensor
    y_retain: torch.Tensor

    @classmethod
    def from_dataset(cls, data: ImageDataset, forget_classes: Sequence[int]) -> ForgetSplit:
        classes = check_classes("forget_classes", forget_classes, data.num_classes)
        mask = torch.isin(data.y_train, torch.tensor(classes))
        return cls(
            classes, data.num_classes, data.x_train[mask], data.y_train[mask], data.x_train[~mask], data.y_train[~mask]
        )


@dataclass
class UnlearnResult:
    """The unlearned model θ_u and its utility metrics (accuracies in [0, 1], seconds)."""

    model: Classifier
    method: str
    params: dict[str, Any]
    forget_classes: tuple[int, ...]
    metrics: dict[str, float]
    cached: bool = False
    path: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


#: what :func:`utility_metrics` measures, in the order it reports them
UTILITY_METRICS = ("forget_test_acc", "retain_test_acc", "test_acc", "forget_train_acc")


def utility_metrics(
    model: Classifier, data: ImageDataset, forget_classes: Sequence[int], *, only: Sequence[str] | None = None
) -> dict[str, float]:
    """forget/retain/overall test accuracy and forget-train accuracy of ``model``; with ``only``,
    the named ones of :data:`UTILITY_METRICS` alone, and no pass over data that none of them reads
    (the forget-test accuracy alone reads the forget classes' test samples only)."""
    wanted = UTILITY_METRICS if only is None else tuple(check_choice("only", name, UTILITY_METRICS) for name in only)
    classes = torch.tensor(list(forget_classes))
    test_forget = torch.isin(data.y_test, classes)

    def mean(hits: torch.Tensor) -> float:
        return hits.mean().item() if len(hits) else float("nan")

    metrics = {}
    if {"retain_test_acc", "test_acc"} & set(wanted):
        # one pass over the test split serves its three accuracies
        correct = (predict_logits(model, data.x_test).argmax(1) == data.y_test).float()
        metrics = {
            "forget_test_acc": mean(correct[test_forget]),
            "retain_test_acc": mean(correct[~test_forget]),
            "test_acc": mean(correct),
        }
    elif "forget_test_acc" in wanted:
        metrics["forget_test_acc"] = accuracy(model, data.x_test[test_forget], data.y_test[test_forget])
    if "forget_train_acc" in wanted:
        train_forget = torch.isin(data.y_train, classes)
        metrics["forget_train_acc"] = accuracy(model, data.x_train[train_forget], data.y_train[train_forget])
    return {name: metrics[name] for name in wanted}


class Unlearner(ABC):
    """Base class of class-unlearning methods; one subclass per file, registered in ``UNLEARNERS``."""

    name: ClassVar[str]
    #: one line for ``labelleak methods``
    summary: ClassVar[str] = ""
    #: which data the method touches: a subset of {"forget", "retain"}
    uses: ClassVar[frozenset[str]] = frozenset({"forget", "retain"})
    #: True for the methods that read the parameter-update record of θ_o's training
    #: (``amnesiac_updates``); :meth:`unlearn` then needs ``update_record``
    needs_update_record: ClassVar[bool] = False
    #: the record of the current :meth:`unlearn` call (None outside it)
    _update_record: Any = None

    def params(self) -> dict[str, Any]:
        """The method's resolved parameters (part of every cache key)."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def unlearn(
        self,
        original: Classifier,
        *,
        forget_classes: Sequence[int],
        data: ImageDataset,
        seed: int,
        recipe: TrainConfig | None = None,
        verbose: bool = False,
        update_record: Any = None,
        metrics: Sequence[str] | None = None,
    ) -> UnlearnResult:
        """Unlearn ``forget_classes`` from a copy of ``original`` (θ_o is left untouched).

        The copy stays on ``original``'s device (:func:`labelleak.device.module_device`); the data
        stay on the CPU and are moved there batch by batch.

        Args:
            original: θ_o, trained on ``data``'s training split.
            forget_classes: the classes C to forget (at least one, not all).
            data: the dataset θ_o was trained on; D_f and D_r are taken from its training split.
            seed: all randomness of the method derives from it.
            recipe: how θ_o was trained (Retrain reuses it); default: the dataset's default recipe.
            verbose: show progress bars.
            update_record: the parameter-update record of θ_o's training, for the methods with
                ``needs_update_record`` (ignored by the others).
            metrics: the utility metrics to measure on θ_u (:data:`UTILITY_METRICS`; default: all).
        """
        if self.needs_update_record and update_record is None:
            raise ParameterError(
                f"{self.name} needs the record of θ_o's parameter updates, and θ_o was trained without it: "
                "train it with train_original(..., record_updates=True) (command line: labelleak train "
                "--record-updates)"
            )
        split = ForgetSplit.from_dataset(data, forget_classes)
        recipe = recipe or recipe_for(data.name)
        model = copy.deepcopy(original)
        start = time.perf_counter()
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self._update_record = update_record
            try:
                model = self._unlearn(model, original=original, split=split, seed=seed, recipe=recipe, verbose=verbose)
            finally:
                self._update_record = None
        seconds = time.perf_counter() - start
        model.eval()
        measured = {**utility_metrics(model, data, split.forget_classes, only=metrics), "seconds": seconds}
        return UnlearnResult(
            model=model, method=self.name, params=self.params(), forget_classes=split.forget_classes, metrics=measured
        )

    @abstractmethod
    def _unlearn(
        self,
        model: Classifier,
        *,
        original: Classifier,
        split: ForgetSplit,
        seed: int,
        recipe: TrainConfig,
        verbose: bool,
    ) -> Classifier:
        """Turn ``model`` (a private copy of θ_o) into θ_u and return it."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.params().items())})"


UNLEARNERS: Registry[type[Unlearner]] = Registry("unlearning method", item="method")
