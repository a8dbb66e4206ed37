"""What the audit may do with the model: fresh access views (weights or queries) and, optionally, θ_o."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from labelleak.access import ACCESS_LEVELS, GradientAccess, LabelAccess, QueryAccess, WeightsAccess
from labelleak.audit.loading import LoadedModel
from labelleak.audit.onnx import OnnxModel
from labelleak.device import default_device
from labelleak.validation import check_choice

#: the access levels an ONNX file can grant: it is only ever queried
ONNX_LEVELS = ("labels", "queries")


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
    level: str = "weights",
) -> AuditTarget:
    """A model the auditor holds: white-box target (A-weights); with ``original`` the two-version
    setting (A-weights+orig).

    ``level`` is the access the attacks get to the unlearned model: "weights" (default), or less
    ("gradients", "queries", "labels") to audit what an API that serves the model reveals. The
    auditor still knows the architecture, so ``arch`` keeps the shadow models the owner's; θ_o, when
    given, stays white-box (the two-version setting assumes the attacker kept it).

    The views run on the process's default device (:func:`~labelleak.device.default_device`).
    """
    check_choice("level", level, ACCESS_LEVELS)
    shape = tuple(input_shape)
    device = default_device()

    def make(budget: int | None) -> LabelAccess:
        model = loaded.model
        if level == "weights":
            return WeightsAccess(
                model,
                num_classes=num_classes,
                input_shape=shape,
                head_name=loaded.head_name,
                budget=budget,
                device=device,
            )
        view = {"gradients": GradientAccess, "queries": QueryAccess.from_model, "labels": LabelAccess.from_model}[level]
        return view(model, num_classes=num_classes, input_shape=shape, budget=budget, device=device)

    theta_o = None
    if original is not None:
        theta_o = WeightsAccess(
            original.model, num_classes=num_classes, input_shape=shape, head_name=original.head_name, device=device
        )
    return AuditTarget(
        level=level,
        num_classes=num_classes,
        input_shape=shape,
        description=description,
        make_view=make,
        original=theta_o,
        head_name=loaded.user_head_name,
        arch=arch,
    )


def onnx_target(
    onnx: OnnxModel, *, num_classes: int, input_shape: Sequence[int], level: str = "queries"
) -> AuditTarget:
    """Black-box target backed by onnxruntime: probabilities (A-queries, default) or, with
    ``level="labels"``, the top-1 label only (a label-only API)."""
    check_choice("level", level, ONNX_LEVELS)
    shape = tuple(input_shape)

    def make(budget: int | None) -> LabelAccess:
        if level == "labels":
            return LabelAccess(
                lambda x: onnx.predict_proba(x).argmax(dim=1), num_classes=num_classes, input_shape=shape, budget=budget
            )
        return QueryAccess(onnx.predict_proba, num_classes=num_classes, input_shape=shape, budget=budget)

    return AuditTarget(
        level=level,
        num_classes=num_classes,
        input_shape=shape,
        description=f"ONNX model {onnx.path} ({level} only; outputs {onnx.outputs})",
        make_view=make,
    )
