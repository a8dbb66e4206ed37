"""Label-only inversion (A-labels): how hard is each class to reach when the target returns only
its top-1 label? labelleak's own decision-based attack.

A forgotten class is one the unlearned model no longer predicts: inputs that its shadow twin
classifies as that class land elsewhere. The attack measures, per class k, how much of a region
around k's priors the target labels k:

1. Its probes start at the priors of :mod:`labelleak.attacks.evolution` (low-resolution genomes
   inverted white-box on the attacker's shadow originals θ_o′), all queried first.
2. Each round, every class gets ``batch`` new probes: a genome the target has already labelled k
   (from any class's probes, so every query informs every class), or one of k's priors while none
   is, plus Gaussian noise of scale ``sigma``. The probes walk through k's decision region where
   there is one.
3. Class k's confidence is its smoothed hit rate (hits + ½) / (probes + 1) among the probes aimed
   at it, and its profile is the distribution of the labels those probes got, so the threshold
   and entropy criteria of :mod:`labelleak.attacks.criteria` (calibrated on shadows) read it
   unchanged.

The rounds never depend on the budget, so a run is a prefix of any longer run, recorded at the
budgets of :data:`~labelleak.attacks.evolution.BUDGET_LADDER`. The view it needs,
:class:`~labelleak.access.LabelAccess`, exposes labels and nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from labelleak.access import LabelAccess
from labelleak.attacks.base import ATTACKS
from labelleak.attacks.criteria import InversionRun
from labelleak.attacks.evolution import DEFAULT_LEVELS, PriorSearchAttack, budget_ladder
from labelleak.attacks.genetic import upsample
from labelleak.seeding import derive_seed, torch_generator
from labelleak.validation import ParameterError, check_number


def reach_labels(
    access: LabelAccess,
    priors: torch.Tensor,
    *,
    query_budget: int = 1_000,
    batch: int = 4,
    sigma: float = 0.1,
    seed: int = 0,
    levels: Sequence[float] = DEFAULT_LEVELS,
    verbose: bool = False,
) -> InversionRun:
    """Walk every class's decision region on a label-only target within ``query_budget`` queries.

    Args:
        access: a labels view (or richer) of the target; only ``query_labels`` is used.
        priors: (K, R, C, g, g) genomes in [0, 1]; all K·R are queried first.
        query_budget: most queries this run may spend (all classes together).
        batch: new probes per class and round.
        sigma: the Gaussian step of a probe from its parent, in genes (which lie in [0, 1]).
        seed: seeds the probes.
        levels: hit-rate levels whose first-crossing query count is recorded.
        verbose: progress bar.

    Returns:
        An :class:`InversionRun` (unit "queries") whose confidence is each class's smoothed hit
        rate and whose profiles are the label distributions of each class's probes.
    """
    num_classes = access.num_classes
    if priors.dim() != 5 or priors.shape[0] != num_classes:
        raise ParameterError(f"priors must have shape (K={num_classes}, R, C, g, g), got {tuple(priors.shape)}")
    restarts, genome_shape = priors.shape[1], tuple(priors.shape[2:])
    budget = query_budget if access.remaining is None else min(query_budget, access.remaining)
    seeds = priors.flatten(0, 1)
    if budget < len(seeds):
        raise ParameterError(
            f"query_budget must pay for querying the {len(seeds)} priors (K × restarts × shadow models), "
            f"got {budget} (query_budget={query_budget}, target remaining={access.remaining})"
        )
    marks = budget_ladder(budget, len(seeds))
    step = batch * num_classes
    generator = torch_generator(derive_seed(seed, "label-reach"))
    counts = torch.zeros(num_classes, num_classes)  # row k: labels of the probes aimed at class k
    first = {float(level): np.full(num_classes, -1, dtype=np.int64) for level in levels}
    confidence = np.zeros((len(marks), num_classes))
    profiles = np.zeros((len(marks), num_classes, num_classes))
    reached: list[list[torch.Tensor]] = [[] for _ in range(num_classes)]
    recorded = 0
    aimed = torch.arange(num_classes).repeat_interleave(restarts)
    genomes = seeds
    spent = 0
    bar = tqdm(total=budget, desc="label-reach queries", unit="query", disable=not verbose, leave=False)
    while True:
        labels = access.query_labels(upsample(genomes, access.input_shape))
        spent += len(genomes)
        bar.update(len(genomes))
        counts.index_put_((aimed, labels), torch.ones(len(labels)), accumulate=True)
        for k in labels.unique().tolist():
            reached[k].extend(genomes[labels == k])
        rate = (counts.diagonal() + 0.5) / (counts.sum(1) + 1.0)
        for level, at in first.items():
            at[(at < 0) & (rate >= level).numpy()] = spent
        while recorded < len(marks) and marks[recorded] < spent + step:
            confidence[recorded] = rate.numpy()
            profiles[recorded] = (counts / counts.sum(1, keepdim=True).clamp_min(1)).numpy()
            recorded += 1
        if spent + step > budget:
            break
        parents = []
        for k in range(num_classes):
            # indexing the list, not a stacked copy of it, keeps a round's cost independent of the budget spent
            pool = reached[k] if reached[k] else list(priors[k])
            picks = torch.randint(len(pool), (batch,), generator=generator)
            parents.append(torch.stack([pool[i] for i in picks.tolist()]))
        noise = torch.randn((step, *genome_shape), generator=generator) * sigma
        genomes = (torch.cat(parents) + noise).clamp(0.0, 1.0)
        aimed = torch.arange(num_classes).repeat_interleave(batch)
    bar.close()
    best = [torch.stack(reached[k])[-1] if reached[k] else priors[k, 0] for k in range(num_classes)]
    return InversionRun(
        unit="queries",
        checkpoints=marks,
        confidence=confidence,
        profiles=profiles,
        prototypes=upsample(torch.stack(best), access.input_shape),
        first_crossing=first,
        queries=spent,
    )


@ATTACKS.register("label-reach")
class LabelReach(PriorSearchAttack):
    """Label-only attack (A-labels, labelleak's own): the smoothed rate at which probes walking from
    shadow priors are labelled as their class, read by the threshold or entropy criterion
    calibrated on the shadows (see the module docstring). Needs :meth:`calibrate`: the priors come
    from the shadows.

    Artifacts: ``prototypes`` (K, C, H, W; the last probe labelled k, else k's first prior),
    ``run``, ``trajectory``, ``read_queries``, ``confidence`` (hit rates) and ``profiles`` at the
    read budget.
    """

    name = "label-reach"
    requires = "labels"

    def __init__(
        self,
        *,
        criterion: str = "threshold",
        query_budget: int = 1_000,
        batch: int = 4,
        sigma: float = 0.1,
        genome: int = 7,
        prior_restarts: int = 4,
        prior_steps: int = 100,
        prior_lr: float = 0.1,
        prior_tv: float = 0.01,
        reference: str = "shadows",
        set_decision: str = "cut",
        checkpoint_choice: str = "pooled",
        seed: int = 0,
        levels: Sequence[float] = DEFAULT_LEVELS,
        verbose: bool = False,
    ) -> None:
        """
        Args:
            criterion: "threshold" or "entropy" (see :mod:`labelleak.attacks.criteria`).
            query_budget: queries per target, all classes together, the priors' queries included.
            batch: new probes per class and round.
            sigma: the Gaussian step of a probe from its parent, in genes (which lie in [0, 1]).
            genome, prior_restarts, prior_steps, prior_lr, prior_tv: the priors, as for
                ``invert-cma`` (:func:`~labelleak.attacks.evolution.shadow_priors`).
            reference: the calibrated criterion's per-class difficulty reference: "shadows" or
                "original" (the same search on θ_o; see :mod:`labelleak.attacks.criteria`).
            set_decision: how a calibrated attack names the set: "cut" (every class whose
                normalised score exceeds the threshold fitted on the shadows) or "calibrated"
                (P(forgotten) per class from its score relative to the target's other classes,
                fitted on the shadows' scores; needs :meth:`calibrate`; see
                :mod:`labelleak.attacks.criteria`).
            checkpoint_choice: how the calibration chooses its checkpoint and threshold, with the
                shadows' reference: "pooled" (on every shadow run) or "across-originals" (each
                shadow original's runs scored against the other originals' reference; needs
                n_models ≥ 2; see :mod:`labelleak.attacks.criteria`).
            seed: seeds the priors and the probes.
            levels: hit-rate levels whose first-crossing query count is recorded.
            verbose: progress bar.
        """
        super().__init__(
            criterion=criterion,
            query_budget=query_budget,
            genome=genome,
            prior_restarts=prior_restarts,
            prior_steps=prior_steps,
            prior_lr=prior_lr,
            prior_tv=prior_tv,
            reference=reference,
            set_decision=set_decision,
            checkpoint_choice=checkpoint_choice,
            seed=seed,
            levels=levels,
            verbose=verbose,
        )
        self.batch = check_number("batch", batch, low=1, high=100_000, integer=True)
        self.sigma = check_number("sigma", sigma, low=0.0, high=1.0)

    def search(self, target: LabelAccess, priors: torch.Tensor) -> InversionRun:
        return reach_labels(
            target,
            priors,
            query_budget=self.query_budget,
            batch=self.batch,
            sigma=self.sigma,
            seed=self.seed,
            levels=self.levels,
            verbose=self.verbose,
        )
