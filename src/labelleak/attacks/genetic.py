"""Black-box model inversion (A-queries): a genetic algorithm per class (Zheng et al., arXiv 2604.07386, 2026).

Each class k evolves its own population of low-resolution genomes (``genome`` × ``genome`` per
channel, genes in [0, 1]) that are bilinearly up-sampled to the input size, so the search space
has 49–192 dimensions instead of thousands. Fitness is log p_k(x) (optionally minus a
total-variation prior). Per generation: the ``elite`` best survive unchanged (their fitness is
kept, not re-queried), the others are children of tournament-selected parents, crossed over
(uniform, or BLX-α blend) and mutated with Gaussian noise whose scale anneals geometrically from
``sigma_start`` to ``sigma_end`` over the generations the budget allows.

All classes' new individuals are evaluated in ONE :meth:`~labelleak.access.QueryAccess.query`
call per generation. Every class draws its randomness from its own generator (seeded from
``seed`` and k), so a class evolves identically alone or in the batch.

The query budget (per target, all classes together) is first-class: the number of generations is
planned from it, the run never asks for more, and if the target's own view runs out first
(:class:`~labelleak.access.QueryBudgetExceeded`) the GA stops cleanly at the last completed
generation. Results always carry the queries used.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from labelleak.access import QueryAccess, QueryBudgetExceeded
from labelleak.attacks.base import ATTACKS, AttackerKnowledge
from labelleak.attacks.criteria import (
    CRITERIA,
    REFERENCES,
    SET_DECISIONS,
    InversionAttack,
    InversionRun,
    check_checkpoint_choice,
    make_criterion,
)
from labelleak.attacks.inversion import DEFAULT_LEVELS, total_variation
from labelleak.seeding import derive_seed
from labelleak.validation import ParameterError, check_choice, check_number

logger = logging.getLogger(__name__)

CROSSOVERS = ("uniform", "blend")
READS = ("final", "auto")
#: a run whose budget, at the measured query rate, needs longer than this is warned about
LONG_RUN_SECONDS = 3600.0


def check_budget(budget: int, num_classes: int, *, detail: str = "") -> None:
    """Raise :class:`ParameterError` unless ``budget`` pays for two individuals per class (the
    smallest population a GA can select from)."""
    if budget < 2 * num_classes:
        raise ParameterError(
            f"query_budget must allow at least 2 queries per class ({2 * num_classes} for {num_classes} classes), "
            f"got {budget}{detail}"
        )


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


class GeneticSettings:
    """Validated GA hyper-parameters (shared by the attack and :func:`invert_genetic`)."""

    def __init__(
        self,
        *,
        population: int = 32,
        genome: int = 7,
        elite: int = 2,
        tournament: int = 3,
        crossover: str = "uniform",
        crossover_rate: float = 0.9,
        blend_alpha: float = 0.5,
        mutation_rate: float = 0.1,
        sigma_start: float = 0.2,
        sigma_end: float = 0.02,
        tv: float = 0.0,
        init: str = "uniform",
    ) -> None:
        self.population = check_number("population", population, low=2, high=100_000, integer=True)
        self.genome = check_number("genome", genome, low=1, high=256, integer=True)
        self.elite = check_number("elite", elite, low=0, high=population - 1, integer=True)
        self.tournament = check_number("tournament", tournament, low=1, high=population, integer=True)
        self.crossover = check_choice("crossover", crossover, CROSSOVERS)
        self.crossover_rate = check_number("crossover_rate", crossover_rate, low=0.0, high=1.0)
        self.blend_alpha = check_number("blend_alpha", blend_alpha, low=0.0, high=2.0)
        self.mutation_rate = check_number("mutation_rate", mutation_rate, low=0.0, high=1.0)
        self.sigma_start = check_number("sigma_start", sigma_start, low=0.0, low_inclusive=False, high=1.0)
        self.sigma_end = check_number("sigma_end", sigma_end, low=0.0, low_inclusive=False, high=sigma_start)
        self.tv = check_number("tv", tv, low=0.0)
        self.init = check_choice("init", init, ("uniform", "grey"))

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def upsample(genomes: torch.Tensor, input_shape: Sequence[int]) -> torch.Tensor:
    """(N, C, g, g) genomes in [0, 1] -> (N, C, H, W) inputs, bilinear."""
    _, h, w = input_shape
    return F.interpolate(genomes, size=(h, w), mode="bilinear", align_corners=False).clamp(0.0, 1.0)


class _ClassPopulation:
    """One class's population and generator: selection, crossover and mutation."""

    def __init__(self, k: int, settings: GeneticSettings, shape: tuple[int, ...], seed: int) -> None:
        self.k = k
        self.s = settings
        self.generator = torch.Generator().manual_seed(derive_seed(seed, "invert-bb", k))
        if settings.init == "uniform":
            self.genomes = torch.rand((settings.population, *shape), generator=self.generator)
        else:
            self.genomes = 0.5 + 0.05 * torch.randn((settings.population, *shape), generator=self.generator)
            self.genomes.clamp_(0.0, 1.0)
        self.fitness = torch.full((settings.population,), -float("inf"))
        self.log_prob = torch.full((settings.population,), -float("inf"))
        self.profiles = torch.zeros(settings.population, 0)

    def _tournament(self, n: int) -> torch.Tensor:
        entrants = torch.randint(0, self.s.population, (n, self.s.tournament), generator=self.generator)
        return entrants.gather(1, self.fitness[entrants].argmax(1, keepdim=True)).squeeze(1)

    def offspring(self, sigma: float) -> torch.Tensor:
        """The population's next ``population − elite`` children (genomes only)."""
        n = self.s.population - self.s.elite
        p1 = self.genomes[self._tournament(n)]
        p2 = self.genomes[self._tournament(n)]
        cross = torch.rand((n,) + (1,) * (p1.dim() - 1), generator=self.generator) < self.s.crossover_rate
        if self.s.crossover == "uniform":
            mixed = torch.where(torch.rand(p1.shape, generator=self.generator) < 0.5, p1, p2)
        else:
            a = self.s.blend_alpha
            u = torch.rand(p1.shape, generator=self.generator) * (1 + 2 * a) - a
            mixed = p1 + u * (p2 - p1)
        child = torch.where(cross, mixed, p1)
        mutate = torch.rand(child.shape, generator=self.generator) < self.s.mutation_rate
        noise = torch.randn(child.shape, generator=self.generator) * sigma
        return (child + mutate * noise).clamp(0.0, 1.0)

    def replace(
        self, children: torch.Tensor, fitness: torch.Tensor, log_prob: torch.Tensor, profiles: torch.Tensor
    ) -> None:
        """Keep the elite, append the evaluated children."""
        keep = self.fitness.argsort(descending=True)[: self.s.elite]
        self.genomes = torch.cat([self.genomes[keep], children])
        self.fitness = torch.cat([self.fitness[keep], fitness])
        self.log_prob = torch.cat([self.log_prob[keep], log_prob])
        self.profiles = torch.cat([self.profiles[keep], profiles])


def invert_genetic(
    access: QueryAccess,
    *,
    classes: Sequence[int] | None = None,
    query_budget: int = 10_000,
    settings: GeneticSettings | None = None,
    seed: int = 0,
    levels: Sequence[float] = DEFAULT_LEVELS,
    verbose: bool = False,
) -> InversionRun:
    """Evolve one prototype per class in ``classes`` (default all) within ``query_budget`` queries.

    Args:
        access: a queries view (or richer) of the target; only ``query`` is used.
        classes: the classes to invert; the run's rows follow this order.
        query_budget: most queries this run may spend (all classes together).
        settings: GA hyper-parameters (default :class:`GeneticSettings`()).
        seed: seeds every class's generator.
        levels: confidence levels whose first-crossing query count is recorded.
        verbose: progress bar.

    Returns:
        An :class:`InversionRun` with unit "queries": one checkpoint per completed generation, at
        the number of queries spent so far.

    Raises:
        ParameterError: the budget cannot pay for two individuals per class (the smallest
            population a GA can select from).
    """
    s = settings or GeneticSettings()
    num_classes = access.num_classes
    classes = list(range(num_classes)) if classes is None else [int(c) for c in classes]
    n = len(classes)
    budget = query_budget if access.remaining is None else min(query_budget, access.remaining)
    check_budget(budget, n, detail=f" (query_budget={query_budget}, target remaining={access.remaining})")
    if budget < n * s.population:
        # a budget below one full population per class: shrink the population, keep the rest
        population = budget // n
        s = GeneticSettings(
            **{
                **s.to_dict(),
                "population": population,
                "elite": min(s.elite, population - 1),
                "tournament": min(s.tournament, population),
            }
        )
        logger.info("query budget %d < %d classes x population: population reduced to %d", budget, n, population)
    per_generation = n * (s.population - s.elite)
    generations = 1 + (budget - n * s.population) // per_generation
    channels = access.input_shape[0]
    shape = (channels, s.genome, s.genome)
    pops = [_ClassPopulation(k, s, shape, seed) for k in classes]
    target = torch.tensor(classes)

    first = {float(level): np.full(n, -1, dtype=np.int64) for level in levels}
    best_conf = torch.full((n,), -1.0)
    best_genome = torch.stack([p.genomes[0] for p in pops])
    best_profile = torch.zeros(n, num_classes)
    marks: list[int] = []
    confidence: list[np.ndarray] = []
    profiles: list[np.ndarray] = []
    spent = 0
    planned = n * s.population + (generations - 1) * per_generation
    bar = tqdm(
        total=planned,
        desc="invert-bb queries",
        unit="query",
        unit_scale=True,
        disable=not verbose,
        leave=False,
        dynamic_ncols=True,
    )
    started, timed = time.perf_counter(), False
    for gen in range(generations):
        if gen == 0:
            batch = [p.genomes for p in pops]
        else:
            ratio = gen / max(generations - 1, 1)
            sigma = s.sigma_start * (s.sigma_end / s.sigma_start) ** ratio
            batch = [p.offspring(sigma) for p in pops]
        sizes = [len(b) for b in batch]
        x = upsample(torch.cat(batch), access.input_shape)
        try:
            probs = access.query(x)
        except QueryBudgetExceeded:
            logger.info("target query budget exhausted after %d generations (%d queries)", gen, spent)
            break
        spent += len(x)
        bar.update(len(x))
        elapsed = time.perf_counter() - started
        if not timed and (gen >= 2 or elapsed >= 5.0):
            timed = True
            left = elapsed / spent * (planned - spent)
            if left > LONG_RUN_SECONDS:
                logger.warning(
                    "invert-bb: a budget of %d queries needs about %s more at %.0f queries/s; "
                    "a smaller query budget ends sooner",
                    budget,
                    _duration(left),
                    spent / elapsed,
                )
        log_prob_all = probs.clamp_min(1e-30).log()
        fitness_all = log_prob_all - s.tv * total_variation(x) if s.tv else log_prob_all
        offset = 0
        for i, (p, size) in enumerate(zip(pops, sizes)):
            rows = slice(offset, offset + size)
            offset += size
            log_prob = log_prob_all[rows, target[i]]
            fit = fitness_all[rows, target[i]] if s.tv else log_prob
            if gen == 0:
                p.fitness, p.log_prob, p.profiles = fit, log_prob, probs[rows]
            else:
                p.replace(batch[i], fit, log_prob, probs[rows])
            top = int(p.log_prob.argmax())
            conf = float(p.log_prob[top].exp())
            if conf > best_conf[i]:
                best_conf[i] = conf
                best_genome[i] = p.genomes[top]
                best_profile[i] = p.profiles[top]
        for level, at in first.items():
            at[(at < 0) & (best_conf >= level).numpy()] = spent
        marks.append(spent)
        confidence.append(best_conf.numpy().copy())
        profiles.append(best_profile.numpy().copy())
    bar.close()
    if not marks:
        raise ParameterError(f"the target's query budget allowed no generation (remaining={access.remaining})")
    return InversionRun(
        unit="queries",
        checkpoints=np.asarray(marks, dtype=np.int64),
        confidence=np.stack(confidence),
        profiles=np.stack(profiles),
        prototypes=upsample(best_genome, access.input_shape),
        first_crossing=first,
        queries=spent,
    )


@ATTACKS.register("invert-bb")
class BlackBoxInversion(InversionAttack):
    """Black-box inversion attack (A-queries): per-class genetic search, then the threshold or
    entropy criterion (see :mod:`labelleak.attacks.criteria` and docs/inversion_attacks.md).

    Artifacts: ``prototypes`` (K, C, H, W), ``run`` (the full
    :class:`~labelleak.attacks.criteria.InversionRun`), ``trajectory`` (its JSON summary),
    ``read_queries``, ``confidence`` and ``profiles`` at the read checkpoint, ``settings``.
    """

    name = "invert-bb"
    requires = "queries"
    # The paper's attack stays available by name; an audit's query-based inversion is invert-cma, with
    # a tenth of the GA's queries. Without the GA the fused verdict named the same sets on a fresh zoo,
    # and a first audit, which runs it on every shadow model, is shorter (docs/audit.md, "Which
    # attacks an audit runs").
    in_default_audit = False

    def __init__(
        self,
        *,
        criterion: str = "threshold",
        query_budget: int = 10_000,
        read: str = "final",
        read_level: float = 0.9,
        tau: float = 0.5,
        z: float = 3.5,
        reference: str = "shadows",
        set_decision: str = "cut",
        checkpoint_choice: str = "pooled",
        seed: int = 0,
        levels: Sequence[float] = DEFAULT_LEVELS,
        verbose: bool = False,
        **ga: Any,
    ) -> None:
        """
        Args:
            criterion: "threshold" or "entropy" (see :mod:`labelleak.attacks.criteria`).
            query_budget: queries per target, all classes together (≥ 2 per class).
            read: "final" (the criterion reads the end of the budget) or "auto" (the first
                generation at which the median class confidence reaches ``read_level``).
            read_level: the median confidence that "auto" waits for.
            tau, z: the criteria's fixed thresholds (replaced by fitted ones after :meth:`calibrate`).
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
            seed: seeds every class's generator.
            levels: confidence levels whose first-crossing query count is recorded.
            verbose: progress bar.
            **ga: GA hyper-parameters, see :class:`GeneticSettings` (population, genome, elite,
                tournament, crossover, crossover_rate, blend_alpha, mutation_rate, sigma_start,
                sigma_end, tv, init).
        """
        self.criterion = check_choice("criterion", criterion, CRITERIA)
        self.query_budget = check_number("query_budget", query_budget, low=2, integer=True)
        self.read = check_choice("read", read, READS)
        self.read_level = check_number("read_level", read_level, low=0.0, high=1.0, low_inclusive=False)
        self.reference = check_choice("reference", reference, REFERENCES)
        self.set_decision = check_choice("set_decision", set_decision, SET_DECISIONS)
        self.checkpoint_choice = check_checkpoint_choice(checkpoint_choice, reference=self.reference)
        self.seed = check_number("seed", seed, low=0, integer=True)
        self.levels = tuple(check_number("levels", float(v), low=0.0, high=1.0, low_inclusive=False) for v in levels)
        unknown = set(ga) - set(GeneticSettings().to_dict())
        if unknown:
            raise ParameterError(
                f"unknown GA parameter(s) {sorted(unknown)}; allowed: {sorted(GeneticSettings().to_dict())}"
            )
        self.settings = GeneticSettings(**ga)
        self.verbose = verbose
        self._criterion = make_criterion(criterion, tau=tau, z=z)
        self.tau, self.z = tau, z

    def check_target(self, *, num_classes: int) -> None:
        check_budget(self.query_budget, num_classes)

    def run(self, target: QueryAccess) -> InversionRun:
        """The genetic search alone (no criterion), e.g. for shadow calibration."""
        return invert_genetic(
            target,
            query_budget=self.query_budget,
            settings=self.settings,
            seed=self.seed,
            levels=self.levels,
            verbose=self.verbose,
        )

    def _infer(self, target: Any, knowledge: AttackerKnowledge) -> tuple[np.ndarray, Any, dict[str, Any]]:
        run = self.run(target)
        if self.calibration_ is not None:
            index = run.clamp(self.calibration_.checkpoint)
        elif self.read == "auto":
            index = run.auto_index(self.read_level)
        else:
            index = len(run.checkpoints) - 1
        scores, predicted, artifacts = self.decide_at(run, index, original=self.original_run(knowledge))
        return scores, predicted, {**artifacts, "settings": self.settings.to_dict()}
