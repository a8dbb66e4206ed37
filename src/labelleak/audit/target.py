"""What the audit may do with the model: fresh access views (weights or queries) and, optionally, θ_o."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from labelleak.access import QueryAccess, WeightsAccess
from labelleak.audit.loading import LoadedModel
from labelleak.audit.onnx import OnnxModel
from labelleak.device import default_device


@dataclass
class AuditTarget:
    """What the audit may do with the model: build fresh access views and, optionally, θ_o."""

    level: str
    num_classes: int
    input_shape: tuple[int, ...]
    description: str
    make_view: Callable[[int | None], Any]
    original: WeightsAccess | None = None
    head_name: str | None = None
    #: the owner's architecture registered for shadow models (:func:`~labelleak.models.foreign.register_factory`),
    #: or None when unknown (an ONNX file) or not splittable
    arch: str | None = None

    def view(self, *, budget: int | None = None) -> Any:
        """A fresh access view (its own query counter), so every attack is charged only its queries."""
        return self.make_view(budget)


def weights_target(
    loaded: LoadedModel,
    *,
    num_classes: int,
    input_shape: Sequence[int],
    description: str,
    original: LoadedModel | None = None,
    arch: str | None = None,
) -> AuditTarget:
    """White-box target (A-weights); with ``original`` the two-version setting (A-weights+orig).

    The views run on the process's default device (:func:`~labelleak.device.default_device`).
    """
    shape = tuple(input_shape)
    device = default_device()

    def make(budget: int | None) -> WeightsAccess:
        return WeightsAccess(
            loaded.model,
            num_classes=num_classes,
            input_shape=shape,
            head_name=loaded.head_name,
            budget=budget,
            device=device,
        )

    theta_o = None
    if original is not None:
        theta_o = WeightsAccess(
            original.model, num_classes=num_classes, input_shape=shape, head_name=original.head_name, device=device
        )
    return AuditTarget(
        level="weights",
        num_classes=num_classes,
        input_shape=shape,
        description=description,
        make_view=make,
        original=theta_o,
        head_name=loaded.user_head_name,
        arch=arch,
    )


def onnx_target(onnx: OnnxModel, *, num_classes: int, input_shape: Sequence[int]) -> AuditTarget:
    """Black-box target (A-queries) backed by onnxruntime."""
    shape = tuple(input_shape)

    def make(budget: int | None) -> QueryAccess:
        return QueryAccess(onnx.predict_proba, num_classes=num_classes, input_shape=shape, budget=budget)

    return AuditTarget(
        level="queries",
        num_classes=num_classes,
        input_shape=shape,
        description=f"ONNX model {onnx.path} (queries only; outputs {onnx.outputs})",
        make_view=make,
    )
