"""Views of a target model that enforce the threat model (Zheng et al., arXiv 2604.07386, 2026).

Four levels, each including the ones before it:

* :class:`LabelAccess` — the top-1 label only (a label-only API), every input counted, optional
  budget.
* :class:`QueryAccess` — probability vectors for inputs; built from any callable, so an ONNX
  session works as well as a PyTorch model.
* :class:`GradientAccess` — adds differentiable log-probabilities w.r.t. the input; parameters are
  frozen and not exposed.
* :class:`WeightsAccess` — adds the parameters: the model itself, its last linear layer (``head``)
  and the features φ(x) entering it.

An attack declares the level it needs (``Attack.requires``); handing it less raises
:class:`InsufficientAccessError` before any work is done.

A view built from a model keeps its frozen copy on a ``device`` (the model's own by default, see
:mod:`labelleak.device`): inputs are moved there and every tensor a view returns is on the CPU,
so attack code is the same whatever the device. :meth:`WeightsAccess.model` and
:meth:`WeightsAccess.copy_model` hand out modules, which stay on the view's device.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn

from labelleak import LabelleakError
from labelleak.device import CPU_INFERENCE_BATCH, inference_batch, module_device

if TYPE_CHECKING:
    from labelleak.models import Classifier

ACCESS_LEVELS = ("labels", "queries", "gradients", "weights")


class InsufficientAccessError(LabelleakError):
    """An attack was handed a view with less access than it declares it needs."""


class QueryBudgetExceeded(LabelleakError):
    """A query would exceed the view's query budget; nothing was evaluated."""


def require_access(target: object, level: str, *, who: str) -> None:
    """Raise unless ``target`` is an access view granting at least ``level``."""
    have = getattr(target, "level", None)
    if have not in ACCESS_LEVELS:
        raise InsufficientAccessError(f"{who} needs a {level!r} access view, got {type(target).__name__}")
    if ACCESS_LEVELS.index(have) < ACCESS_LEVELS.index(level):
        raise InsufficientAccessError(f"{who} needs {level!r} access to the target, but was given only {have!r} access")


class LabelAccess:
    """Label-only access: ``query_labels(x)`` returns the top-1 label (N,) and counts N queries."""

    level = "labels"

    def __init__(
        self,
        predict_labels: Callable[[torch.Tensor], torch.Tensor],
        *,
        num_classes: int,
        input_shape: Sequence[int],
        budget: int | None = None,
        batch_size: int = CPU_INFERENCE_BATCH,
    ) -> None:
        if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int) or budget < 1):
            raise ValueError(f"budget must be a positive integer or None, got {budget!r}")
        self._predict_labels = predict_labels
        self.num_classes = int(num_classes)
        self.input_shape = tuple(int(s) for s in input_shape)
        self.budget = budget
        self.batch_size = batch_size
        self.queries_used = 0

    @classmethod
    def from_model(
        cls,
        model: nn.Module,
        *,
        num_classes: int,
        input_shape: Sequence[int],
        budget: int | None = None,
        device: torch.device | None = None,
    ) -> LabelAccess:
        """A label-only view of a frozen copy of ``model`` on ``device`` (default: the model's device)."""
        predict, batch = _frozen_predictor(model, device, lambda logits: logits.argmax(dim=1))
        return cls(predict, num_classes=num_classes, input_shape=input_shape, budget=budget, batch_size=batch)

    @property
    def remaining(self) -> int | None:
        return None if self.budget is None else self.budget - self.queries_used

    def _charge(self, n: int) -> None:
        if self.budget is not None and self.queries_used + n > self.budget:
            raise QueryBudgetExceeded(
                f"query budget exhausted: {self.queries_used} used of {self.budget}, {n} more requested"
            )
        self.queries_used += n

    def _check_inputs(self, x: torch.Tensor) -> None:
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(
                f"inputs must have shape (N, {', '.join(map(str, self.input_shape))}), got {tuple(x.shape)}"
            )

    def _batched(self, predict: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        self._check_inputs(x)
        self._charge(len(x))
        with torch.no_grad():
            return torch.cat([predict(x[i : i + self.batch_size]) for i in range(0, len(x), self.batch_size)])

    def query_labels(self, x: torch.Tensor) -> torch.Tensor:
        """The top-1 label (int64) for a batch of inputs in [0, 1]; charges ``len(x)`` queries first."""
        return self._batched(self._predict_labels, x).long()


class QueryAccess(LabelAccess):
    """Black-box access: ``query(x)`` returns probabilities (N, K) and counts N queries."""

    level = "queries"

    def __init__(
        self,
        predict_proba: Callable[[torch.Tensor], torch.Tensor],
        *,
        num_classes: int,
        input_shape: Sequence[int],
        budget: int | None = None,
        batch_size: int = CPU_INFERENCE_BATCH,
    ) -> None:
        super().__init__(
            lambda x: predict_proba(x).argmax(dim=1),
            num_classes=num_classes,
            input_shape=input_shape,
            budget=budget,
            batch_size=batch_size,
        )
        self._predict_proba = predict_proba

    @classmethod
    def from_model(
        cls,
        model: nn.Module,
        *,
        num_classes: int,
        input_shape: Sequence[int],
        budget: int | None = None,
        device: torch.device | None = None,
    ) -> QueryAccess:
        """A view of a frozen copy of ``model`` on ``device`` (default: the model's device)."""
        predict, batch = _frozen_predictor(model, device, lambda logits: torch.softmax(logits, dim=1))
        return cls(predict, num_classes=num_classes, input_shape=input_shape, budget=budget, batch_size=batch)

    def query(self, x: torch.Tensor) -> torch.Tensor:
        """Probabilities for a batch of inputs in [0, 1]; charges ``len(x)`` queries first."""
        return self._batched(self._predict_proba, x)


class GradientAccess(QueryAccess):
    """White-box gradients w.r.t. the input (forward passes counted as queries); weights stay hidden."""

    level = "gradients"

    def __init__(
        self,
        model: nn.Module,
        *,
        num_classes: int,
        input_shape: Sequence[int],
        budget: int | None = None,
        device: torch.device | None = None,
    ) -> None:
        """A view of a frozen copy of ``model`` on ``device`` (default: the model's device)."""
        self._model = _frozen_copy(model, device)
        #: where the frozen copy runs; inputs are moved here, outputs come back on the CPU
        self.device = module_device(self._model)

        @torch.no_grad()
        def predict(x: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self._model(x.to(self.device)), dim=1).cpu()

        super().__init__(
            predict,
            num_classes=num_classes,
            input_shape=input_shape,
            budget=budget,
            batch_size=inference_batch(self.device),
        )

    def log_probs(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x), differentiable w.r.t. ``x``; charges ``len(x)`` queries."""
        self._check_inputs(x)
        self._charge(len(x))
        return torch.log_softmax(self._model(x.to(self.device)), dim=1).cpu()

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits f(x), differentiable w.r.t. ``x``; charges ``len(x)`` queries."""
        self._check_inputs(x)
        self._charge(len(x))
        return self._model(x.to(self.device)).cpu()


class WeightsAccess(GradientAccess):
    """Full white-box access: the model, its last linear layer and the features that enter it."""

    level = "weights"

    def __init__(
        self,
        model: nn.Module,
        *,
        num_classes: int,
        input_shape: Sequence[int],
        head_name: str = "head",
        budget: int | None = None,
        device: torch.device | None = None,
    ) -> None:
        """A view of a frozen copy of ``model`` on ``device`` (default: the model's device)."""
        super().__init__(model, num_classes=num_classes, input_shape=input_shape, budget=budget, device=device)
        modules = dict(self._model.named_modules())
        head = modules.get(head_name)
        if not isinstance(head, nn.Linear):
            raise ValueError(f"head_name {head_name!r} does not name an nn.Linear in the model")
        if head.out_features != num_classes:
            raise ValueError(f"head {head_name!r} has {head.out_features} outputs, expected num_classes={num_classes}")
        self.head_name = head_name

    @classmethod
    def of_classifier(
        cls, model: Classifier, *, budget: int | None = None, device: torch.device | None = None
    ) -> WeightsAccess:
        """A view of a labelleak :class:`~labelleak.models.Classifier` (head named ``head``) on
        ``device`` (default: the model's device)."""
        spec = model.spec
        return cls(
            model,
            num_classes=spec.num_classes,
            input_shape=(spec.in_channels, spec.image_size, spec.image_size),
            budget=budget,
            device=device,
        )

    @property
    def model(self) -> nn.Module:
        """The frozen model itself, on the view's device."""
        return self._model

    @property
    def head(self) -> nn.Linear:
        return dict(self._model.named_modules())[self.head_name]

    @property
    def head_weight(self) -> torch.Tensor:
        """W ∈ R^{K×d}: row k is w_k."""
        return self.head.weight.detach().cpu().clone()

    @property
    def head_bias(self) -> torch.Tensor:
        bias = self.head.bias
        return bias.detach().cpu().clone() if bias is not None else torch.zeros(self.num_classes)

    @torch.no_grad()
    def features(self, x: torch.Tensor) -> torch.Tensor:
        """φ(x): the input of the head, captured by a forward hook (works for any architecture)."""
        self._check_inputs(x)
        batch_size = self.batch_size
        captured: list[torch.Tensor] = []
        handle = self.head.register_forward_hook(lambda _m, inputs, _out: captured.append(inputs[0].flatten(1).cpu()))
        try:
            for i in range(0, len(x), batch_size):
                self._model(x[i : i + batch_size].to(self.device))
        finally:
            handle.remove()
        return torch.cat(captured)

    def copy_model(self) -> tuple[nn.Module, nn.Linear]:
        """A trainable deep copy of the model and its head, for building reference models; on the
        view's device (:attr:`device`), so whoever trains it moves its batches there."""
        clone = copy.deepcopy(self._model)
        for p in clone.parameters():
            p.requires_grad_(True)
        return clone, dict(clone.named_modules())[self.head_name]


def _frozen_copy(model: nn.Module, device: torch.device | None) -> nn.Module:
    frozen = copy.deepcopy(model).to(device if device is not None else module_device(model)).eval()
    for p in frozen.parameters():
        p.requires_grad_(False)
    return frozen


def _frozen_predictor(
    model: nn.Module, device: torch.device | None, output: Callable[[torch.Tensor], torch.Tensor]
) -> tuple[Callable[[torch.Tensor], torch.Tensor], int]:
    """``output`` of a frozen copy of ``model`` on ``device`` for CPU inputs, returned on the CPU,
    and the batch its inference runs best in there."""
    frozen = _frozen_copy(model, device)
    frozen_device = module_device(frozen)

    @torch.no_grad()
    def predict(x: torch.Tensor) -> torch.Tensor:
        return output(frozen(x.to(frozen_device))).cpu()

    return predict, inference_batch(frozen_device)
