"""Amnesiac unlearning as Graves et al. define it: subtract the recorded updates of the batches that held D_f.

Graves, Nagisetty and Ganesh, "Amnesiac Machine Learning" (AAAI 2021). θ_o's training records
its parameter updates (:class:`UpdateRecorder`); unlearning subtracts those of every batch that
contained a forgotten class and then repairs briefly on D_r. Not to be confused with
:mod:`labelleak.unlearning.amnesiac`, the relabelling recipe the class-unlearning codebases call
``amnesiac``.

The record groups the updates by the *set of classes present in the batch*, summing the updates
of each group, so the updates to subtract for any forget set C are the groups that intersect C:
exact for single classes, pairs and triples alike, without storing every step. The catch, stated
in docs/unlearning.md: with K = 10 classes and batches of 64 or more, nearly every batch holds
every class, so nearly every update is subtracted and θ_o falls back to (close to) its
initialisation; the repair on D_r is then what the model learns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
from torch import nn

from labelleak.models import Classifier, TrainConfig
from labelleak.seeding import derive_seed
from labelleak.unlearning.base import UNLEARNERS, ForgetSplit, Unlearner
from labelleak.unlearning.common import OptimizerOptions, run_epochs
from labelleak.validation import ParameterError, check_number


def _group_name(classes: tuple[int, ...]) -> str:
    return "-".join(str(c) for c in classes)


@dataclass
class UpdateRecord:
    """Summed parameter updates of θ_o's training, per set of classes present in a batch.

    ``updates[classes][name]`` is the sum, over the training steps whose batch held exactly the
    classes ``classes``, of the change of parameter ``name``; ``steps[classes]`` counts those steps.
    """

    updates: dict[tuple[int, ...], dict[str, torch.Tensor]] = field(default_factory=dict)
    steps: dict[tuple[int, ...], int] = field(default_factory=dict)

    def touching(self, forget_classes: Iterable[int]) -> list[tuple[int, ...]]:
        """The groups whose batches held at least one of ``forget_classes``."""
        forget = set(forget_classes)
        return [g for g in self.updates if forget & set(g)]

    def fraction_touching(self, forget_classes: Iterable[int]) -> float:
        """The fraction of training steps whose batch held a forgotten class."""
        total = sum(self.steps.values())
        return sum(self.steps[g] for g in self.touching(forget_classes)) / total if total else 0.0

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for group in self.updates.values() for t in group.values())

    def to_tensors(self) -> dict[str, torch.Tensor]:
        """A flat ``{name: tensor}`` form for a safetensors file (see :meth:`from_tensors`)."""
        out: dict[str, torch.Tensor] = {}
        for group, params in self.updates.items():
            key = _group_name(group)
            out[f"steps/{key}"] = torch.tensor(self.steps[group])
            out.update({f"update/{key}/{name}": t.cpu() for name, t in params.items()})
        return out

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor]) -> UpdateRecord:
        record = cls()
        for name, tensor in tensors.items():
            kind, _, rest = name.partition("/")
            if kind == "steps":
                record.steps[tuple(int(c) for c in rest.split("-"))] = int(tensor)
            elif kind == "update":
                key, _, param = rest.partition("/")
                record.updates.setdefault(tuple(int(c) for c in key.split("-")), {})[param] = tensor
        return record


class UpdateRecorder:
    """``on_step`` hook of :func:`labelleak.models.training.train` that builds an :class:`UpdateRecord`.

    After each optimiser step it adds the change of every parameter since the previous step to the
    sum of the batch's class set. It holds one copy of the parameters plus one per class set seen.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.previous = {name: p.detach().clone() for name, p in model.named_parameters()}
        self.record = UpdateRecord()

    def __call__(self, labels: torch.Tensor) -> None:
        group = tuple(sorted(int(c) for c in torch.unique(labels).tolist()))
        sums = self.record.updates.get(group)
        if sums is None:
            sums = self.record.updates[group] = {n: torch.zeros_like(p) for n, p in self.previous.items()}
        self.record.steps[group] = self.record.steps.get(group, 0) + 1
        with torch.no_grad():
            for name, p in self.model.named_parameters():
                sums[name] += p.detach() - self.previous[name]
                self.previous[name].copy_(p.detach())


@UNLEARNERS.register("amnesiac_updates")
class AmnesiacUpdates(OptimizerOptions, Unlearner):
    """Subtract the recorded updates of every batch that held a forgotten class, then repair on D_r.

    Graves et al. (AAAI 2021) keep the parameter updates of the batches containing sensitive data
    and undo them by subtraction; since the later updates were computed from parameters that
    included the undone ones, the result is damaged, and a few epochs on the remaining data
    repair it. Needs the update record of θ_o's training: ``train_original(...,
    record_updates=True)`` (``labelleak unlearn`` / ``attack`` ask for it themselves). The
    BatchNorm running statistics are not parameters; they are left as in θ_o and the repair
    re-estimates them. Scaled to the small models: 1 repair epoch over D_r with Adam lr 1e-3 and
    batch 128, the recipes of θ_o (Graves et al. repair for a few epochs).
    """

    name = "amnesiac_updates"
    summary = "subtract θ_o's recorded updates of the batches that held the forget set, then repair on the retain set"
    uses = frozenset({"retain"})
    needs_update_record = True

    def __init__(
        self,
        *,
        repair_epochs: int = 1,
        lr: float = 1e-3,
        batch_size: int = 128,
        optimizer: str = "adam",
    ) -> None:
        """Args:
        repair_epochs: passes over D_r after the subtraction (0: none).
        lr: learning rate of the repair.
        batch_size: mini-batch size of the repair.
        optimizer: "adam" or "sgd" (momentum 0.9) for the repair.
        """
        self.repair_epochs = check_number("repair_epochs", repair_epochs, low=0, integer=True)
        self._set_optimizer_options(lr=lr, optimizer=optimizer)
        self.batch_size = check_number("batch_size", batch_size, low=1, integer=True)

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
        record = self._update_record
        if not isinstance(record, UpdateRecord):
            raise ParameterError(f"{self.name} needs the update record of θ_o's training")
        params = dict(model.named_parameters())
        with torch.no_grad():
            for group in record.touching(split.forget_classes):
                for name, delta in record.updates[group].items():
                    if name not in params or params[name].shape != delta.shape:
                        raise ParameterError(f"the update record does not match the model (parameter {name!r})")
                    params[name].sub_(delta.to(params[name].device))
        if self.repair_epochs:
            run_epochs(
                model,
                split.x_retain,
                split.y_retain,
                epochs=self.repair_epochs,
                batch_size=self.batch_size,
                optimizer=self._build_optimizer(model.parameters()),
                seed=derive_seed(seed, self.name, "repair"),
                verbose=verbose,
                desc="amnesiac repair",
            )
        return model
