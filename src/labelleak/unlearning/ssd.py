"""Selective Synaptic Dampening (Foster et al., AAAI 2024): retraining-free class unlearning.

The diagonal Fisher information (mean over mini-batches of the squared gradient of the batch
cross-entropy) is estimated at θ_o once on the forget set D_f and once on the training set D.
Parameters that matter far more to D_f than to D, ``I_Df > α·I_D``, are dampened:
``θ_i ← min(λ·I_D,i / I_Df,i, 1)·θ_i``; every other parameter keeps its value exactly.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from labelleak.device import module_device
from labelleak.models import Classifier, TrainConfig
from labelleak.models.training import batches
from labelleak.seeding import derive_seed, torch_generator
from labelleak.unlearning.base import UNLEARNERS, ForgetSplit, Unlearner
from labelleak.validation import check_number

logger = logging.getLogger(__name__)


def fisher_diagonal(
    model: Classifier, x: torch.Tensor, y: torch.Tensor, *, batch_size: int, verbose: bool = False, desc: str = "fisher"
) -> dict[str, torch.Tensor]:
    """Mean over mini-batches of the squared gradient of the mean cross-entropy, per parameter.

    The model is evaluated in ``eval()`` mode so that the importances describe θ_o itself
    (no dropout noise, BatchNorm running statistics rather than batch statistics).
    """
    was_training = model.training
    model.eval()
    device = module_device(model)
    params = {name: p for name, p in model.named_parameters() if p.requires_grad}
    total = {name: torch.zeros_like(p) for name, p in params.items()}
    count = 0
    for idx in tqdm(list(batches(len(x), batch_size)), desc=desc, disable=not verbose, leave=False):
        loss = F.cross_entropy(model(x[idx].to(device)), y[idx].to(device))
        grads = torch.autograd.grad(loss, list(params.values()))
        for name, grad in zip(params, grads):
            total[name] += grad.pow(2)
        count += 1
    model.train(was_training)
    return {name: value / max(count, 1) for name, value in total.items()}


@UNLEARNERS.register("ssd")
class SelectiveSynapticDampening(Unlearner):
    """Dampen the parameters whose forget-set Fisher importance exceeds α times the full-data one.

    Source defaults (if-loops/selective-synaptic-dampening, full-class forgetting on ResNet-18):
    α (selection weighting) = 10, λ (dampening constant) = 1, importance batch size 64, importance
    of D computed on the whole training set. Kept: λ = 1, batch size 64, D = D_r ∪ D_f.
    Retuned: α = 1. On the small LeNet the forget-class Fisher mass is spread over weights the
    retained classes also use, and α = 10 under-forgets there; α = 1, λ = 1 was the best trade-off
    of a grid on the training split, and SSD still under-forgets on this model class (measured
    behaviour: docs/unlearning.md).
    Scaled: I_D is estimated on a random sample of 20 000 training samples (``max_samples``; None
    uses all of D): the whole of D at batch 64 costs more than an epoch of θ_o's training.
    """

    name = "ssd"
    summary = "Selective Synaptic Dampening: shrink weights far more important to D_f than to D (diagonal Fisher)"
    uses = frozenset({"forget", "retain"})

    def __init__(
        self, *, alpha: float = 1.0, lam: float = 1.0, batch_size: int = 64, max_samples: int | None = 20000
    ) -> None:
        """
        Args:
            alpha: selection weighting α > 0: parameter i is dampened when I_Df,i > α·I_D,i.
            lam: dampening constant λ > 0: a selected parameter is scaled by min(λ·I_D,i / I_Df,i, 1).
            batch_size: mini-batch size of the Fisher estimates.
            max_samples: size of the random sample of D for I_D; None uses all of D.
        """
        self.alpha = float(check_number("alpha", alpha, low=0, low_inclusive=False))
        self.lam = float(check_number("lam", lam, low=0, low_inclusive=False))
        self.batch_size = check_number("batch_size", batch_size, low=1, integer=True)
        if max_samples is not None:
            check_number("max_samples", max_samples, low=1, integer=True)
        self.max_samples = max_samples

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
        x_all = torch.cat([split.x_retain, split.x_forget])
        y_all = torch.cat([split.y_retain, split.y_forget])
        if self.max_samples is not None and self.max_samples < len(x_all):
            pick = torch.randperm(len(x_all), generator=torch_generator(derive_seed(seed, "ssd", "sample")))
            pick = pick[: self.max_samples]
            x_all, y_all = x_all[pick], y_all[pick]
        imp_forget = fisher_diagonal(
            model,
            split.x_forget,
            split.y_forget,
            batch_size=self.batch_size,
            verbose=verbose,
            desc="ssd: importance on D_f",
        )
        imp_all = fisher_diagonal(
            model, x_all, y_all, batch_size=self.batch_size, verbose=verbose, desc="ssd: importance on D"
        )
        selected = 0
        total = 0
        with torch.no_grad():
            for name, param in model.named_parameters():
                if name not in imp_forget:
                    continue
                chosen = imp_forget[name] > self.alpha * imp_all[name]
                # chosen implies imp_forget > 0, so the ratio is finite where it is used
                factor = (self.lam * imp_all[name] / imp_forget[name].clamp_min(torch.finfo(param.dtype).tiny)).clamp(
                    max=1.0
                )
                param.copy_(torch.where(chosen, param * factor, param))
                selected += int(chosen.sum())
                total += chosen.numel()
        logger.info("ssd dampened %d of %d parameters (alpha=%g, lambda=%g)", selected, total, self.alpha, self.lam)
        return model
