"""Shadow experiments: the attacker's own unlearned models, used to calibrate deciders.

The attacker knows the target's architecture (A-weights) and holds data disjoint from the target's
training set: the shadow pool of :func:`labelleak.attacks.knowledge.draw_knowledge` (the test split
minus A). It splits that pool into a shadow training set and a shadow test set, trains its own
θ_o' on the former, unlearns known classes with chosen methods (``unlearn_original`` and the
unlearning registry), draws its own A' and N' from the shadow test set with the same knowledge
settings as the real attack, and extracts the same per-class features. Youden thresholds and
decision trees are fit on those features only.

Two leaks are refused in code (:class:`ShadowLeakError`): a shadow image identical to an image
of the target's training set, and a shadow seed equal to one of the evaluation seeds.

Transfer is measurable: calibrate with ``methods=("finetune",)`` and attack targets unlearned by
another method.

An attack fits itself on a :class:`Shadows` (``attack.calibrate(shadows)``): the shadow
experiments of one target setting, which yield :class:`ShadowTarget` tuples (unlearned model,
original model, forget classes, knowledge, ...), the parameter attacks' features
(:meth:`Shadows.features`) and a cache for whatever an attack fits on them
(:meth:`Shadows.cached`). All models are cached in the :class:`ArtifactStore`; the extracted
features too.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent import futures
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from labelleak import LabelleakError
from labelleak.access import WeightsAccess
from labelleak.attacks.base import AttackerKnowledge, CalibrationError
from labelleak.attacks.knowledge import (
    DEFAULT_AUX_FRACTION,
    RETIRED_KEY_MATERIAL,
    KnowledgeDraw,
    draw_aux_classes,
    draw_knowledge,
    image_hashes,
)
from labelleak.attacks.parameter import Calibration, ReferenceConfig, extract_features
from labelleak.data import ImageDataset
from labelleak.device import default_device
from labelleak.models import Classifier, TrainConfig, recipe_for, resolve_arch
from labelleak.models.foreign import FactoryRegistration, ForeignArchitectureError, shippable_registration
from labelleak.seeding import derive_seed, random_class_sets, torch_generator
from labelleak.store import ArtifactStore, cached, dataset_fingerprint
from labelleak.targets import (
    TrainedModel,
    build_unlearner,
    is_original_stored,
    is_unlearned_stored,
    original_config,
    parse_method_spec,
    train_original,
    unlearn_original,
)
from labelleak.validation import ParameterError, check_choice, check_classes, check_number

logger = logging.getLogger(__name__)

FAMILIES = ("dot", "diff", "orig")
#: torch threads every shadow model is trained and unlearned at, whatever the caller's count and
#: whether or not worker processes build them: weights trained at two threads differ from those at
#: one in the last digits, and over a training that changed which sets the calibrations named (a
#: first audit of the zoo's MNIST BN CNN at --threads 2 named another set than at --threads 1;
#: docs/audit.md, "Shadows that do not depend on --threads")
SHADOW_THREADS = 1
#: the utility metrics measured on a shadow model: the forget-test accuracy is the only one read (the
#: ``max_forget_accuracy`` filter and the calibration records), and the others' passes over the shadow
#: test split and the forget-train set took a fifth of a first audit's shadow-unlearning CPU
#: (docs/results/first-audit/RUN.md, "The attacks fitted in the shadow workers too")
SHADOW_METRICS = ("forget_test_acc",)
#: how the shadow methods cover the forget sets (:attr:`ShadowConfig.methods_per_set`)
METHODS_PER_SET = ("all", "one")
#: how the shadow originals are trained (:attr:`ShadowConfig.recipes`)
RECIPE_CHOICES = ("same", "varied")
#: with ``recipes="varied"``, shadow original i multiplies the dataset recipe's epochs and learning
#: rate by the i-th pair, in turn: the recipe as it is, twice as long, half as long at twice the
#: rate. An owner trains θ_o its own way (more data, more or fewer steps); the attacker does not
#: know how, so its shadow originals span training lengths rather than repeat one. Fixed beforehand,
#: a spread of ×4 in training length, not fit on any target.
RECIPE_VARIANTS = ((1.0, 1.0), (2.0, 1.0), (0.5, 2.0))


class ShadowLeakError(LabelleakError):
    """Shadow calibration would touch the target's training data or reuse an evaluation seed."""


@dataclass
class ShadowTarget:
    """One shadow experiment: an attacker-made unlearned model with known forgotten classes."""

    unlearned: Classifier
    original: Classifier
    forget_classes: tuple[int, ...]
    knowledge: AttackerKnowledge
    """A' and N' drawn from the shadow test set (θ_o' set as ``original``)"""
    method: str
    seed: int
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def identity(self) -> str:
        """Names this experiment among the shadows (seed, method, forgotten classes)."""
        return f"{self.seed}:{self.method}:{'-'.join(map(str, self.forget_classes))}"


@dataclass(frozen=True)
class ShadowConfig:
    """What the attacker's shadow experiments are.

    Attributes:
        methods: unlearning methods applied to shadows, each a method spec: a registry name, with its
            per-dataset defaults, optionally followed by parameters that replace them
            (``"gradient_ascent:ascend_on=all"``; :func:`~labelleak.targets.parse_method_spec`).
        forget_sets: forgotten class sets; default every class singly, plus ``pairs`` and ``triples``.
        pairs, triples: how many random pairs and triples of classes the shadows also forget
            (drawn with the shadows' own ``seed``, independently of any evaluated forget set, so
            a coincidence with one carries no information): what lets a decider fit on the
            shadows see what two or three forgotten classes look like and name a set.
        methods_per_set: "all" unlearns every forget set with every method; "one" unlearns the
            i-th forget set with ``methods[i % len(methods)]`` alone: as many forget sets and
            methods, a fraction of the shadow models (and of the first audit's time).
        n_models: shadow originals θ_o', each unlearned as ``methods_per_set`` says.
        seed: the first shadow seed; shadow i uses ``seed + i`` (must avoid the evaluation seeds).
        train_fraction: share of the shadow pool used to train θ_o' (the rest holds A', N').
        epochs: epochs of θ_o' (default: the dataset's recipe).
        recipes: "same" trains every θ_o' with that recipe; "varied" trains the i-th with the i-th
            of :data:`RECIPE_VARIANTS` in turn (:func:`shadow_recipes`).
        aux_per_class: |A'| per class (default: the target's default, |D_train|·1%/K); 0 leaves
            A' empty (the data-free setting), and the shadows then yield the two-version features
            only.
        aux_classes: A' holds samples of this many random classes (the partial setting), drawn
            with each shadow seed and shared by that seed's shadow targets, as the target's A is
            shared by the targets of one seed; None: every class.
        unrelated: N' kind ("noise" or a dataset name), as for the target.
        max_forget_accuracy: :func:`calibrate` skips shadow targets whose forgotten classes still
            reach this test accuracy (on the shadow test split): a shadow where unlearning did not
            take effect would teach the deciders that unmoved rows are "forgotten". None keeps all.
    """

    methods: tuple[str, ...] = ("finetune",)
    forget_sets: tuple[tuple[int, ...], ...] | None = None
    pairs: int = 0
    triples: int = 0
    methods_per_set: str = "all"
    n_models: int = 1
    seed: int = 1000
    train_fraction: float = 0.8
    epochs: int | None = None
    recipes: str = "same"
    aux_per_class: int | None = None
    aux_classes: int | None = None
    unrelated: str = "noise"
    max_forget_accuracy: float | None = 0.5

    def __post_init__(self) -> None:
        if not self.methods:
            raise ParameterError("methods must name at least one unlearning method, got none")
        check_choice("methods_per_set", self.methods_per_set, METHODS_PER_SET)
        check_number("n_models", self.n_models, low=1, high=100, integer=True)
        check_number("pairs", self.pairs, low=0, high=1000, integer=True)
        check_number("triples", self.triples, low=0, high=1000, integer=True)
        if self.forget_sets is not None and (self.pairs or self.triples):
            raise ParameterError("give either forget_sets or pairs/triples, not both")
        check_number("seed", self.seed, low=0, integer=True)
        check_number("train_fraction", self.train_fraction, low=0.1, high=0.95)
        if self.epochs is not None:
            check_number("epochs", self.epochs, low=1, integer=True)
        check_choice("recipes", self.recipes, RECIPE_CHOICES)
        if self.aux_per_class is not None:
            check_number("aux_per_class", self.aux_per_class, low=0, integer=True)
        if self.aux_classes is not None:
            # the upper bound, K - 1, is checked when the shadows draw A' (K is the dataset's)
            check_number("aux_classes", self.aux_classes, low=1, integer=True)
            if self.aux_per_class == 0:
                raise ParameterError(
                    f"aux_classes needs a non-empty A': give aux_per_class >= 1 or None, got {self.aux_per_class}"
                )
        if self.max_forget_accuracy is not None:
            check_number("max_forget_accuracy", self.max_forget_accuracy, low=0, high=1)

    def seeds(self) -> list[int]:
        return [self.seed + i for i in range(self.n_models)]

    def resolved_forget_sets(self, num_classes: int) -> tuple[tuple[int, ...], ...]:
        """The forget sets of every shadow model on a dataset of ``num_classes`` classes."""
        if self.forget_sets is not None:
            return tuple(check_classes("forget_sets", s, num_classes) for s in self.forget_sets)
        return (
            *((c,) for c in range(num_classes)),
            *random_class_sets(num_classes, 2, self.pairs, seed=self.seed),
            *random_class_sets(num_classes, 3, self.triples, seed=self.seed),
        )

    @property
    def methods_in_turn(self) -> bool:
        """Whether each forget set is unlearned by one of several methods ("one" with more than one
        method): the only case in which ``methods_per_set`` changes the plan."""
        return self.methods_per_set == "one" and len(self.methods) > 1

    @property
    def recipes_vary(self) -> bool:
        """Whether the shadow originals are trained by more than one recipe ("varied" with more than
        one original: the first variant is the dataset's recipe): the only case in which ``recipes``
        changes the shadows."""
        return self.recipes == "varied" and self.n_models > 1

    def plan(self, num_classes: int) -> tuple[tuple[str, tuple[int, ...]], ...]:
        """(method, forget set) of every shadow model of one θ_o' on ``num_classes`` classes."""
        sets = self.resolved_forget_sets(num_classes)
        if self.methods_per_set == "one":
            return tuple((self.methods[i % len(self.methods)], classes) for i, classes in enumerate(sets))
        return tuple((method, classes) for method in self.methods for classes in sets)

    def method_params(self, dataset: str | None = None) -> dict[str, dict[str, Any]]:
        """Each shadow method's resolved default parameters on ``dataset`` (its entries in
        ``labelleak/unlearning/defaults.json`` included): what the shadow models are unlearned with."""
        return {spec: build_unlearner(*parse_method_spec(spec), dataset=dataset).params() for spec in self.methods}

    def to_dict(self, dataset: str | None = None) -> dict[str, Any]:
        """The configuration as cache-key material.

        Each method appears with its *resolved* default parameters (``dataset``'s entries in
        ``labelleak/unlearning/defaults.json`` included, which the shadows of that dataset run with),
        so a change of a method's defaults invalidates every calibration fitted on shadows unlearned
        the old way.
        """
        return {
            "methods": self.method_params(dataset),
            "forget_sets": None if self.forget_sets is None else [list(s) for s in self.forget_sets],
            "pairs": self.pairs,
            "triples": self.triples,
            # absent unless "one" changes the plan, so that calibrations stored before the choice
            # existed stay valid and one method alone keys the same either way
            **({"methods_per_set": "one"} if self.methods_in_turn else {}),
            "n_models": self.n_models,
            "seed": self.seed,
            "train_fraction": self.train_fraction,
            "epochs": self.epochs,
            # absent unless the recipes vary, so that calibrations stored before the choice existed stay
            # valid and one original keys the same either way
            **({"recipes": self.recipes} if self.recipes_vary else {}),
            "aux_per_class": self.aux_per_class,
            # absent unless set, so that calibrations stored before the partial setting existed stay valid
            **({"aux_classes": self.aux_classes} if self.aux_classes is not None else {}),
            **RETIRED_KEY_MATERIAL,
            "unrelated": self.unrelated,
            "max_forget_accuracy": self.max_forget_accuracy,
        }


def shadow_dataset(dataset: ImageDataset, draw: KnowledgeDraw, *, train_fraction: float, seed: int) -> ImageDataset:
    """The attacker's own dataset: its shadow pool split into shadow train / shadow test.

    Raises :class:`ShadowLeakError` if any shadow image also occurs in the target's training set.
    """
    train_hashes = set(image_hashes(dataset.x_train))
    if any(h in train_hashes for h in image_hashes(draw.shadow_x)):
        raise ShadowLeakError("the shadow pool contains images of the target's training set")
    gen = torch_generator(derive_seed(seed, "shadow-split"))
    order = torch.randperm(len(draw.shadow_y), generator=gen)
    cut = round(train_fraction * len(order))
    train_idx, test_idx = order[:cut], order[cut:]
    return ImageDataset(
        name=f"{dataset.name}-shadow",
        x_train=draw.shadow_x[train_idx],
        y_train=draw.shadow_y[train_idx],
        x_test=draw.shadow_x[test_idx],
        y_test=draw.shadow_y[test_idx],
        class_names=dataset.class_names,
        source=f"attacker shadow pool from the test split of {dataset.name}",
        drawn_from=dataset.settings_name,
    )


def _check_seeds(config: ShadowConfig, eval_seeds: Sequence[int]) -> None:
    clash = sorted(set(config.seeds()) & {int(s) for s in eval_seeds})
    if clash:
        raise ShadowLeakError(
            f"shadow seeds {config.seeds()} overlap the evaluation seeds {sorted(set(eval_seeds))} "
            f"at {clash}; choose another shadow seed"
        )


def shadow_recipe(config: ShadowConfig, dataset_name: str) -> TrainConfig:
    """How θ_o' is trained: the dataset's default recipe, with ``config.epochs`` when given."""
    return recipe_for(dataset_name, epochs=config.epochs)


def shadow_recipes(config: ShadowConfig, dataset_name: str) -> list[TrainConfig]:
    """How each θ_o' is trained, in seed order: :func:`shadow_recipe` for all, or with
    ``config.recipes="varied"`` its epochs and learning rate scaled by :data:`RECIPE_VARIANTS` in turn."""
    base = shadow_recipe(config, dataset_name)
    if not config.recipes_vary:
        return [base] * config.n_models
    scaled = [
        replace(base, epochs=max(1, round(base.epochs * epochs)), lr=base.lr * lr) for epochs, lr in RECIPE_VARIANTS
    ]
    return [scaled[i % len(scaled)] for i in range(config.n_models)]


def shadow_key(config: ShadowConfig, dataset_name: str) -> dict[str, Any]:
    """What shadow experiments on ``dataset_name`` depend on: part of every calibration's cache key
    (the thread count of their models too, so that nothing fitted on models of another count is read)."""
    recipes = [recipe.to_dict() for recipe in shadow_recipes(config, dataset_name)]
    return {
        **config.to_dict(dataset_name),
        "recipe": recipes if config.recipes_vary else recipes[0],
        "threads": SHADOW_THREADS,
    }


def shadow_families(config: ShadowConfig) -> tuple[str, ...]:
    """The feature families the shadows of ``config`` yield: without A' (data-free) only the
    two-version family, whose references need no data."""
    return ("orig",) if config.aux_per_class == 0 else FAMILIES


def shadow_archs(arch: str | Sequence[str], dataset_name: str, n_models: int) -> list[str]:
    """The architecture of each shadow original θ_o′, in seed order: ``arch`` (``auto`` resolves by
    ``dataset_name``), or with several names, shadow seed ``seed + i`` trains the i-th in turn.

    Several architectures stand in for a target whose architecture the attacker does not know
    (an ONNX file): a calibration that spans them has to hold across architectures
    (docs/audit.md measures which attacks transfer)."""
    names = [arch] if isinstance(arch, str) else list(arch)
    if not names:
        raise ParameterError("arch must name at least one architecture, got none")
    resolved = [resolve_arch(name, dataset_name) for name in names]
    if len(set(resolved)) != len(resolved):
        raise ParameterError(f"arch names an architecture twice: {resolved}")
    if n_models < len(resolved):
        raise ParameterError(
            f"n_models must be at least the number of shadow architectures ({len(resolved)}), got {n_models}"
        )
    return [resolved[i % len(resolved)] for i in range(n_models)]


def arch_key(arch: str | Sequence[str], dataset_name: str) -> str | list[str]:
    """``arch`` as cache-key material: one resolved name (as before several existed), or the list."""
    if isinstance(arch, str):
        return resolve_arch(arch, dataset_name)
    return [resolve_arch(name, dataset_name) for name in arch]


def shadow_targets(
    dataset: ImageDataset,
    draw: KnowledgeDraw,
    *,
    config: ShadowConfig,
    eval_seeds: Sequence[int],
    arch: str | Sequence[str] = "auto",
    store: ArtifactStore | None = None,
    verbose: bool = False,
    workers: int = 1,
) -> Iterator[ShadowTarget]:
    """Yield the shadow experiments of ``config`` (models trained/unlearned or loaded from ``store``).

    Args:
        dataset: the target's dataset (its training split is only read to prove disjointness).
        draw: the attacker's knowledge draw for the target; its shadow pool is the shadow data.
        config: which methods, forget sets and shadow seeds.
        eval_seeds: every seed used by the evaluated targets (θ_o and unlearning); shadow seeds
            must differ from all of them.
        arch: the target's architecture (``auto`` resolves by the *target* dataset's name), or
            several, one per shadow seed in turn (:func:`shadow_archs`).
        workers: processes that train the shadow originals θ_o′ and unlearn the shadow models that
            ``store`` lacks (:func:`_build_in_workers`); 1 builds them all in this process.
    """
    _check_seeds(config, eval_seeds)
    archs = shadow_archs(arch, dataset.name, config.n_models)
    originals = _shadow_originals(dataset, draw, config, archs, shadow_recipes(config, dataset.name))
    yield from _shadow_targets_of(dataset, draw, config, originals, store=store, verbose=verbose, workers=workers)


def _shadow_targets_of(
    dataset: ImageDataset,
    draw: KnowledgeDraw,
    config: ShadowConfig,
    originals: Sequence[_ShadowOriginal],
    *,
    store: ArtifactStore | None,
    verbose: bool,
    workers: int,
) -> Iterator[ShadowTarget]:
    """:func:`shadow_targets` of the shadow originals ``originals`` (:func:`_shadow_originals`)."""
    check_number("workers", workers, low=1, integer=True)
    k = dataset.num_classes
    plan = config.plan(k)
    archs = [job.arch for job in originals]
    aux_per_class = (
        max(1, round(DEFAULT_AUX_FRACTION * len(dataset.y_train) / k))
        if config.aux_per_class is None
        else config.aux_per_class
    )
    total = len(config.seeds()) * len(plan)
    sets = len(config.resolved_forget_sets(k))
    plan_text = (
        f"{sets} forget sets, each by one of the methods {', '.join(config.methods)} in turn"
        if config.methods_per_set == "one"
        else f"methods {', '.join(config.methods)} x {sets} forget sets"
    )
    logger.info(
        "calibrating the attacker's shadow models on %s, %d of them (shadow seeds %s x %s)%s",
        dataset.name,
        total,
        list(config.seeds()),
        plan_text,
        f", architectures {', '.join(archs)}" if len(set(archs)) > 1 else "",
    )
    with tqdm(total=total, desc="shadow models", unit="model", disable=not verbose, dynamic_ncols=True) as bar:
        yield from _shadow_experiments(
            dataset, draw, config, plan, originals, aux_per_class, store, verbose, bar, workers
        )


class ShadowBuildError(LabelleakError):
    """A worker process could not rebuild the shadow models' architecture."""


@dataclass(frozen=True)
class _ShadowOriginal:
    """One shadow original θ_o′ to build: its seed, the shadow data it is trained on, its recipe
    and its architecture."""

    seed: int
    shadow: ImageDataset
    recipe: TrainConfig
    arch: str

    def train(self, store: ArtifactStore | None, *, verbose: bool = False) -> TrainedModel:
        """θ_o′, trained or loaded from ``store``."""
        with _labelled_as_shadow(self.seed):
            return train_original(
                self.shadow,
                arch=self.arch,
                seed=self.seed,
                train_config=self.recipe,
                store=store,
                verbose=verbose,
                threads=SHADOW_THREADS,
            )

    def is_stored(self, store: ArtifactStore) -> bool:
        return is_original_stored(
            self.shadow, arch=self.arch, seed=self.seed, train_config=self.recipe, threads=SHADOW_THREADS, store=store
        )

    def missing(
        self, plan: Sequence[tuple[str, tuple[int, ...]]], store: ArtifactStore
    ) -> list[tuple[str, tuple[int, ...]]]:
        """The (method, forget set) of ``plan`` whose unlearned model ``store`` lacks."""
        config = original_config(
            self.shadow, arch=self.arch, seed=self.seed, train_config=self.recipe, threads=SHADOW_THREADS
        )
        return [
            (method, classes)
            for method, classes in plan
            if not is_unlearned_stored(
                config, self.shadow, **_unlearn_arguments(method), forget_classes=classes, seed=self.seed, store=store
            )
        ]


def _unlearn_arguments(spec: str) -> dict[str, Any]:
    """The ``method``, ``params`` and ``threads`` arguments of :func:`unlearn_original` (and of
    :func:`is_unlearned_stored`) for one shadow method spec."""
    name, params = parse_method_spec(spec)
    return {"method": name, "params": params, "threads": SHADOW_THREADS}


# The state of a worker process of :func:`_build_in_workers`, set by its initializer.
_worker: dict[str, Any] = {}


def _shippable(archs: Iterable[str]) -> dict[str, FactoryRegistration] | None:
    """What a worker process needs to build ``archs`` again: the registration of each model owner's
    architecture among them (labelleak's own need none); None when one cannot be sent to another
    process (e.g. a factory defined in a notebook)."""
    try:
        registrations = {arch: shippable_registration(arch) for arch in archs}
    except ForeignArchitectureError as err:
        logger.info("%s: the shadows' work is done in this process", err)
        return None
    return {arch: registration for arch, registration in registrations.items() if registration is not None}


def _register_in_worker(registrations: dict[str, FactoryRegistration]) -> None:
    torch.set_num_threads(1)  # the workers are the parallelism; threads inside them would contend
    for arch, registration in registrations.items():
        if registration.register() != arch:
            raise ShadowBuildError(f"the architecture registered again in a worker is not {arch!r}")


def _start_shadow_worker(
    registrations: dict[str, FactoryRegistration], store_root: str, originals: dict[int, _ShadowOriginal]
) -> None:
    _register_in_worker(registrations)
    _worker.update(store=ArtifactStore(store_root), originals=originals)


def _start_fit_worker(registrations: dict[str, FactoryRegistration], shadows: Shadows) -> None:
    _register_in_worker(registrations)
    _worker.update(shadows=shadows)


def _fit_in_worker(task: Callable[[Shadows], object]) -> None:
    task(_worker["shadows"])


def _train_in_worker(seed: int) -> None:
    _worker["originals"][seed].train(_worker["store"])


def _unlearn_in_worker(seed: int, method: str, classes: tuple[int, ...]) -> None:
    job, store = _worker["originals"][seed], _worker["store"]
    original = job.train(store)  # stored by then: loaded
    unlearn_original(
        original,
        job.shadow,
        **_unlearn_arguments(method),
        forget_classes=classes,
        seed=seed,
        store=store,
        metrics=SHADOW_METRICS,
    )


def _build_in_workers(
    originals: Sequence[_ShadowOriginal],
    *,
    plan: Sequence[tuple[str, tuple[int, ...]]],
    store: ArtifactStore | None,
    workers: int,
    verbose: bool,
) -> int:
    """Build the shadow originals θ_o′ and their unlearned models that ``store`` lacks in ``workers``
    processes, so that the caller then loads them all; returns how many models the workers built.

    The workers are spawned processes with one torch thread each, which use the cores better than
    torch's threads inside one small model do: a BatchNorm CNN's first audit on two cores went from
    333 s with its shadows built at two threads to 292 s with two workers (docs/results/first-audit).
    One pool serves every θ_o′: the originals are trained first, in parallel, and the unlearning of
    each starts as soon as it is stored, so that no core waits for another original's training
    or for the last model of one original. A single original to train is trained in this process
    first, since nothing else can run before it.

    Nothing is built in workers (0 is returned, and the caller builds every model, as it always
    can) with fewer than two workers or two missing models, without a store to hand the models back
    through, on an accelerator, or when an architecture's factory cannot be sent to another
    process; when the workers fail, the models they did not build are left to the caller. A model
    comes out as the caller builds it: every shadow model is built at :data:`SHADOW_THREADS`.
    """
    if workers < 2 or store is None or default_device().type != "cpu":
        return 0
    registrations = _shippable(job.arch for job in originals)
    if registrations is None:
        return 0
    untrained = [job for job in originals if not job.is_stored(store)]
    missing = {job.seed: job.missing(plan, store) for job in originals}
    if len(untrained) == 1:
        untrained.pop().train(store, verbose=verbose)
    tasks = len(untrained) + sum(map(len, missing.values()))
    if tasks < 2:
        return 0
    workers = min(workers, tasks)
    logger.info(
        "building %d shadow originals and %d unlearned shadow models in %d worker processes",
        len(untrained),
        tasks - len(untrained),
        workers,
    )
    start = (registrations, str(store.root), {job.seed: job for job in originals})
    training = {job.seed for job in untrained}
    built = 0
    with (
        futures.ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_shadow_worker,
            initargs=start,
        ) as pool,
        tqdm(
            total=tasks,
            desc=f"shadow models ({workers} processes)",
            unit="model",
            disable=not verbose,
            leave=False,
        ) as bar,
    ):

        def unlearn(seed: int) -> dict[futures.Future[None], int | None]:
            # the largest forget sets first: they take longest (an ascent stops once every forgotten
            # class has fallen), and the short ones then fill the workers' ends evenly
            tasks = sorted(missing[seed], key=lambda task: -len(task[1]))
            return {pool.submit(_unlearn_in_worker, seed, *task): None for task in tasks}

        # a future maps to the seed of the θ_o′ it trains, or to None when it unlearns
        pending: dict[futures.Future[None], int | None] = {
            pool.submit(_train_in_worker, seed): seed for seed in sorted(training)
        }
        for seed in missing:
            if seed not in training:
                pending.update(unlearn(seed))
        try:
            while pending:
                done, _ = futures.wait(pending, return_when=futures.FIRST_COMPLETED)
                for future in done:
                    trained = pending.pop(future)
                    future.result()
                    built += 1
                    bar.update()
                    if trained is not None:
                        pending.update(unlearn(trained))
        except futures.process.BrokenProcessPool as err:
            # a worker could not start (e.g. a model class defined in a notebook does not unpickle
            # in a fresh process) or died: what is stored stays, the rest is built in this process
            logger.warning("the shadow workers failed (%s): the other shadow models are built in this process", err)
    return built


@contextlib.contextmanager
def _labelled_as_shadow(seed: int) -> Iterator[None]:
    """Prefix the log lines of training, unlearning and loading with "shadow model", so that they are
    not read as the target's (``retrain forgot [0]`` is logged for the target and for its shadows)."""

    def label(record: logging.LogRecord) -> bool:
        record.msg = f"shadow model (seed {seed}): {record.msg}"
        return True

    loggers = [logging.getLogger(name) for name in ("labelleak.targets", "labelleak.store")]
    for log in loggers:
        log.addFilter(label)
    try:
        yield
    finally:
        for log in loggers:
            log.removeFilter(label)


def _shadow_originals(
    dataset: ImageDataset,
    draw: KnowledgeDraw,
    config: ShadowConfig,
    archs: Sequence[str],
    recipes: Sequence[TrainConfig],
) -> list[_ShadowOriginal]:
    """Every shadow original θ_o′ of ``config`` to build, in seed order."""
    return [
        _ShadowOriginal(
            seed, shadow_dataset(dataset, draw, train_fraction=config.train_fraction, seed=seed), recipe, arch
        )
        for seed, arch, recipe in zip(config.seeds(), archs, recipes, strict=True)
    ]


def _shadow_experiments(
    dataset: ImageDataset,
    draw: KnowledgeDraw,
    config: ShadowConfig,
    plan: tuple[tuple[str, tuple[int, ...]], ...],
    originals: Sequence[_ShadowOriginal],
    aux_per_class: int,
    store: ArtifactStore | None,
    verbose: bool,
    bar: Any,
    workers: int,
) -> Iterator[ShadowTarget]:
    k = dataset.num_classes
    # a partial A' holds classes drawn with the shadow seed alone, as the target's A with its seed
    # (drawn first: an aux_classes that leaves no class out fails before any training)
    aux_classes = [
        tuple(range(k))
        if config.aux_classes is None
        else draw_aux_classes(k, config.aux_classes, seed=derive_seed(seed, "shadow-knowledge"))
        for seed in config.seeds()
    ]
    _build_in_workers(originals, plan=plan, store=store, workers=workers, verbose=verbose)
    for job, classes_in_aux in zip(originals, aux_classes, strict=True):
        seed, shadow = job.seed, job.shadow
        original = job.train(store, verbose=verbose)
        original_view = WeightsAccess.of_classifier(original.model)
        available = int(torch.bincount(shadow.y_test, minlength=k)[list(classes_in_aux)].min())
        if available < aux_per_class:
            logger.warning(
                "shadow test set holds only %d samples of the rarest class of A': A' gets %d per class, not %d",
                available,
                available,
                aux_per_class,
            )
        shadow_aux = min(aux_per_class, available)
        logger.info("shadow θ_o' seed %d: test accuracy %.4f", seed, original.metrics["test_accuracy"])
        for method, classes in plan:
            with _labelled_as_shadow(seed):
                result = unlearn_original(
                    original,
                    shadow,
                    **_unlearn_arguments(method),
                    forget_classes=classes,
                    seed=seed,
                    store=store,
                    verbose=verbose,
                    metrics=SHADOW_METRICS,
                )
            knowledge = draw_knowledge(
                shadow,
                aux_per_class=shadow_aux,
                only_classes=None if config.aux_classes is None else classes_in_aux,
                unrelated=config.unrelated,
                original=original_view,
                seed=derive_seed(seed, "shadow-knowledge", method, *classes),
            ).knowledge
            yield ShadowTarget(
                unlearned=result.model,
                original=original.model,
                forget_classes=classes,
                knowledge=knowledge,
                method=method,
                seed=seed,
                metrics=dict(result.metrics),
            )
            bar.update()


def calibrate(
    dataset: ImageDataset,
    draw: KnowledgeDraw,
    *,
    config: ShadowConfig,
    eval_seeds: Sequence[int],
    reference: ReferenceConfig | None = None,
    arch: str | Sequence[str] = "auto",
    store: ArtifactStore | None = None,
    verbose: bool = False,
    targets: Callable[[], Iterable[ShadowTarget]] | None = None,
) -> Calibration:
    """Shadow features of every family, ready for ``Calibration.fit`` (cached as one JSON result).

    ``targets`` yields the shadow experiments when they are already at hand (:meth:`Shadows.targets`);
    by default :func:`shadow_targets` builds or loads them."""
    reference = reference or ReferenceConfig()
    _check_seeds(config, eval_seeds)
    key = {
        "stage": "shadow-calibration",
        "dataset": dataset.name,
        "data": dataset_fingerprint(dataset),
        "aux": [int(i) for i in draw.aux_indices],
        "arch": arch_key(arch, dataset.name),
        "shadow": shadow_key(config, dataset.name),
        "reference": reference.to_dict(),
        "families": list(shadow_families(config)),
        "version": 2,
    }
    computed: list[Calibration] = []

    def compute() -> dict[str, Any]:
        experiments = (
            shadow_targets(dataset, draw, config=config, eval_seeds=eval_seeds, arch=arch, store=store, verbose=verbose)
            if targets is None
            else targets()
        )
        computed.append(_shadow_features(dataset, config, experiments, reference))
        return _calibration_to_json(computed[0])

    stored, _ = cached(store, "shadow-calibration", key, compute)
    # the fitted object itself when computed here: a JSON round trip must not be able to change a decision
    return computed[0] if computed else _calibration_from_json(stored)


def _shadow_features(
    dataset: ImageDataset, config: ShadowConfig, experiments: Iterable[ShadowTarget], reference: ReferenceConfig
) -> Calibration:
    families = shadow_families(config)
    features: dict[str, list[np.ndarray]] = {f: [] for f in families}
    forgotten, methods, utility, ids = [], [], [], []
    skipped = 0
    for shadow in experiments:
        if config.max_forget_accuracy is not None and shadow.metrics["forget_test_acc"] > config.max_forget_accuracy:
            skipped += 1
            continue
        z = extract_features(
            WeightsAccess.of_classifier(shadow.unlearned), shadow.knowledge, config=reference, families=families
        )
        for family in families:
            features[family].append(z[family])
        mask = np.zeros(dataset.num_classes, dtype=bool)
        mask[list(shadow.forget_classes)] = True
        forgotten.append(mask)
        methods.append(shadow.method)
        ids.append(shadow.identity)
        utility.append(shadow.metrics.get("forget_test_acc", float("nan")))
    if not methods:
        raise CalibrationError(
            f"unlearning took effect on none of the {skipped} shadow targets (forget accuracy above "
            f"max_forget_accuracy={config.max_forget_accuracy}); choose other shadow methods"
        )
    kept = sorted(set(methods))
    sizes = sorted({int(mask.sum()) for mask in forgotten})
    description = (
        f"{len(methods)} shadow targets: methods {kept}, seeds {config.seeds()}, "
        f"forgetting {' or '.join(map(str, sizes))} classes, "
        f"{_describe_aux(config)}, "
        f"N {config.unrelated}; mean shadow forget accuracy {np.nanmean(utility):.3f}"
        + (f"; {skipped} shadows skipped (forget accuracy > {config.max_forget_accuracy})" if skipped else "")
    )
    return Calibration(
        reference=reference.to_dict(),
        features={f: np.stack(v) for f, v in features.items()},
        forgotten=np.stack(forgotten),
        methods=methods,
        description=description,
        ids=ids,
    )


def _describe_aux(config: ShadowConfig) -> str:
    """What the shadows' A' held, for the calibration description."""
    if config.aux_per_class == 0:
        return "no A (data-free)"
    if config.aux_classes is not None:
        return f"A of {config.aux_classes} random classes per shadow seed"
    return "A of every class"


def _calibration_to_json(calibration: Calibration) -> dict[str, Any]:
    return {
        "reference": calibration.reference,
        "features": {f: v.tolist() for f, v in calibration.features.items()},
        "forgotten": calibration.forgotten.tolist(),
        "methods": calibration.methods,
        "description": calibration.description,
        "ids": calibration.ids,
    }


def _calibration_from_json(data: dict[str, Any]) -> Calibration:
    return Calibration(
        reference=data["reference"],
        features={f: np.asarray(v, dtype=np.float64) for f, v in data["features"].items()},
        forgotten=np.asarray(data["forgotten"], dtype=bool),
        methods=list(data["methods"]),
        description=data["description"],
        ids=list(data["ids"]),
    )


class Shadows:
    """The attacker's shadow experiments for one target setting: what ``Attack.calibrate`` fits on.

    Args:
        dataset: the target's dataset (only its test split feeds the shadows, through ``draw``).
        draw: the attacker's knowledge draw for the target; its shadow pool is the shadow data.
        config: which methods, forget sets and shadow seeds.
        eval_seeds: every seed of the evaluated targets; the shadow seeds must differ from them.
        arch: the target's architecture (``auto`` resolves by the target dataset's name), or
            several, one per shadow seed in turn (:func:`shadow_archs`).
        store: caches the shadow models, their features and what attacks fit on them.
        key: names this setting in the cache keys of fitted calibrations (see :meth:`cached`);
            default: the dataset's content, A's indices, the shadow config and the architecture.
        verbose: progress bars while shadow models are trained.
        workers: processes that build the shadow models the store lacks (:func:`shadow_targets`);
            1 builds them all in this process.
    """

    def __init__(
        self,
        dataset: ImageDataset,
        draw: KnowledgeDraw,
        *,
        config: ShadowConfig | None = None,
        eval_seeds: Sequence[int] = (),
        arch: str | Sequence[str] = "auto",
        store: ArtifactStore | None = None,
        key: dict[str, Any] | None = None,
        verbose: bool = False,
        workers: int = 1,
    ) -> None:
        self.dataset, self.draw = dataset, draw
        self.workers = check_number("workers", workers, low=1, integer=True)
        self.config = config or ShadowConfig()
        self.eval_seeds = tuple(int(s) for s in eval_seeds)
        _check_seeds(self.config, self.eval_seeds)
        shadow_archs(arch, dataset.name, self.config.n_models)  # fails here, not at the first use
        self.arch, self.store, self.verbose = arch, store, verbose
        self.key = key or {
            "dataset": dataset.name,
            "data": dataset_fingerprint(dataset),
            "aux": [int(i) for i in draw.aux_indices],
            "shadow": shadow_key(self.config, dataset.name),
            "arch": arch_key(arch, dataset.name),
        }
        self._features: dict[str, Calibration] = {}
        self._targets: list[ShadowTarget] | None = None
        self._jobs: list[_ShadowOriginal] | None = None

    def targets(self) -> Iterator[ShadowTarget]:
        """The shadow experiments (models trained and unlearned, or loaded from the store).

        Held in memory once iterated to the end: every attack's calibration and shadow scores walk
        them, and rebuilding each pass (loading every model, drawing every A' and N' again, which
        hashes the images) cost more than the attacks themselves on small models. Attacks reach the
        models through access views, which copy them, so the held models stay as built."""
        if self._targets is not None:
            yield from self._targets
            return
        built = []
        for target in _shadow_targets_of(
            self.dataset,
            self.draw,
            self.config,
            self._originals()[0],
            store=self.store,
            verbose=self.verbose,
            workers=self.workers,
        ):
            built.append(target)
            yield target
        self._targets = built

    def __getstate__(self) -> dict[str, Any]:
        # a copy sent to a worker process (:meth:`fit_in_workers`) carries the setting, not the models
        # held here; it loads them from the store and builds nothing in workers of its own. Of the
        # draw, shadows read the shadow pool and A's indices: the target's θ_o (an access view that
        # does not pickle) stays here
        draw = replace(self.draw, knowledge=replace(self.draw.knowledge, original=None))
        return {**self.__dict__, "draw": draw, "_features": {}, "_targets": None, "_jobs": None, "workers": 1}

    def _originals(self) -> tuple[list[_ShadowOriginal], tuple[tuple[str, tuple[int, ...]], ...]]:
        """Every shadow original θ_o′ to build, and the (method, forget set) plan of each (their shadow
        data split once: it hashes the images)."""
        if self._jobs is None:
            archs = shadow_archs(self.arch, self.dataset.name, self.config.n_models)
            recipes = shadow_recipes(self.config, self.dataset.name)
            self._jobs = _shadow_originals(self.dataset, self.draw, self.config, archs, recipes)
        return self._jobs, self.config.plan(self.dataset.num_classes)

    def build(self) -> int:
        """Build the shadow models the store lacks, in :attr:`workers` processes where it can
        (:func:`shadow_targets`), and return how many it lacked (0 without a store: nothing to hand
        models over through; :meth:`targets` builds them)."""
        if self.store is None:
            return 0
        originals, plan = self._originals()
        lacking = sum(int(not job.is_stored(self.store)) + len(job.missing(plan, self.store)) for job in originals)
        if lacking:
            _build_in_workers(originals, plan=plan, store=self.store, workers=self.workers, verbose=self.verbose)
        return lacking

    def fit_in_workers(self, tasks: Sequence[Callable[[Shadows], object]]) -> int:
        """Run each of ``tasks`` on a copy of these shadows in one of :attr:`workers` processes, for what
        it stores (an attack's calibration and shadow scores, :meth:`cached`), so that this process
        then reads it from the store; returns how many tasks ran there.

        The tasks are started in the order given, each as soon as a process is free: give the longest
        first. Each process runs one torch thread: the processes are the parallelism, as when the
        shadow models are built (:func:`_build_in_workers`). Nothing runs there (0) with fewer than two
        workers or tasks, on an accelerator, or where the shadow models could not be built in workers
        (:func:`_build_in_workers`) or are not all stored; a task that fails there is left to this
        process, which meets the same error and reports it."""
        if self.workers < 2 or len(tasks) < 2 or self.store is None or default_device().type != "cpu":
            return 0
        originals, plan = self._originals()
        if any(not job.is_stored(self.store) or job.missing(plan, self.store) for job in originals):
            return 0
        registrations = _shippable({job.arch for job in originals})
        if registrations is None:
            return 0
        done = 0
        with (
            futures.ProcessPoolExecutor(
                min(self.workers, len(tasks)),
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_fit_worker,
                initargs=(registrations, self),
            ) as pool,
            tqdm(total=len(tasks), desc="fitting on the shadows", unit="task", disable=not self.verbose) as bar,
        ):
            for future in futures.as_completed([pool.submit(_fit_in_worker, task) for task in tasks]):
                try:
                    future.result()
                    done += 1
                except futures.process.BrokenProcessPool as err:
                    logger.warning("the shadow workers failed (%s): what they did not fit is fit in this process", err)
                    break
                except Exception as err:  # this process meets it again and reports it where it belongs
                    logger.info("a fit on the shadows failed in a worker process: %s", err)
                bar.update()
        return done

    def features(self, reference: ReferenceConfig) -> Calibration:
        """The parameter attacks' features of every shadow target, extracted with ``reference``
        (computed once per reference, then shared by every family and decider)."""
        memo = json.dumps(reference.to_dict(), sort_keys=True)
        if memo not in self._features:
            self._features[memo] = calibrate(
                self.dataset,
                self.draw,
                config=self.config,
                eval_seeds=self.eval_seeds,
                reference=reference,
                arch=self.arch,
                store=self.store,
                verbose=self.verbose,
                targets=self.targets,
            )
        return self._features[memo]

    def cached(self, kind: str, key: dict[str, Any], compute: Callable[[], Any]) -> Any:
        """What an attack fits on these shadows, stored under this setting's key plus ``key``."""
        value, _ = cached(self.store, kind, {**self.key, **key}, compute)
        return value
