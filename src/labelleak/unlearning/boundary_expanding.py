"""Boundary Expanding (Chen et al., CVPR 2023): move the forget set into a shadow class, then prune it."""

from __future__ import annotations

import torch
from torch import nn

from labelleak.device import module_device
from labelleak.models import Classifier, TrainConfig
from labelleak.seeding import derive_seed
from labelleak.unlearning.base import UNLEARNERS, ForgetSplit, Unlearner
from labelleak.unlearning.common import OptimizerOptions, run_epochs
from labelleak.validation import check_number


@UNLEARNERS.register("boundary_expanding")
class BoundaryExpanding(OptimizerOptions, Unlearner):
    """Widen the head to K+1 outputs, fine-tune the whole network on D_f labelled K, prune back to K.

    The K original rows are copied and the shadow row is freshly (seeded) initialised. Pruning
    matters: the SalUn re-implementation leaves K+1 outputs, which changes the head's shape and so
    breaks any attack that compares head rows; here the result always has θ_o's K outputs.
    Reference (Boundary-Unlearning code): SGD lr 1e-5, momentum 0.9, 10 epochs over D_f, batch 64.
    Only D_f is used. Scaled here: lr raised to 1e-3 because 1e-5 does not move our small models
    (measured behaviour: docs/unlearning.md); 10 epochs over one class is about one epoch of θ_o's
    training on a ten-class dataset.
    """

    name = "boundary_expanding"
    summary = "train the forget set into an extra shadow class, then prune that output (forget set only)"
    uses = frozenset({"forget"})

    def __init__(
        self, *, epochs: int = 10, lr: float = 1e-3, batch_size: int = 64, optimizer: str = "sgd", momentum: float = 0.9
    ) -> None:
        """Args:
        epochs: passes over D_f.
        lr: learning rate.
        batch_size: mini-batch size.
        optimizer: "sgd" or "adam".
        momentum: SGD momentum.
        """
        self.epochs = check_number("epochs", epochs, low=1, integer=True)
        self._set_optimizer_options(lr=lr, optimizer=optimizer, momentum=momentum)
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
        head = model.head
        k, dim = head.out_features, head.in_features
        device = module_device(model)
        # the new heads are initialised on the CPU, as every init is (labelleak.device), then moved
        with torch.random.fork_rng():
            torch.manual_seed(derive_seed(seed, "boundary_expanding", "shadow"))
            wide = nn.Linear(dim, k + 1).to(device)
        with torch.no_grad():
            wide.weight[:k] = head.weight
            wide.bias[:k] = head.bias
        model.head = wide
        shadow = torch.full_like(split.y_forget, k)
        optimizer = self._build_optimizer(model.parameters())
        run_epochs(
            model,
            split.x_forget,
            shadow,
            epochs=self.epochs,
            batch_size=self.batch_size,
            optimizer=optimizer,
            seed=derive_seed(seed, "boundary_expanding"),
            verbose=verbose,
            desc="boundary expanding",
        )
        pruned = nn.Linear(dim, k).to(device)
        with torch.no_grad():
            pruned.weight.copy_(wide.weight[:k])
            pruned.bias.copy_(wide.bias[:k])
        model.head = pruned
        return model
