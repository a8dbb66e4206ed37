"""Running an audit: which attacks the access permits, building and calibrating them, running them."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from torch import nn
from tqdm.auto import tqdm

from labelleak.attacks import ATTACKS, Attack
from labelleak.attacks.criteria import REFERENCES, SET_DECISIONS, InversionAttack
from labelleak.attacks.evolution import PriorSearchAttack
from labelleak.attacks.knowledge import KnowledgeDraw, draw_knowledge
from labelleak.attacks.shadow import METHODS_PER_SET, RECIPE_CHOICES, ShadowConfig, Shadows
from labelleak.audit.errors import AuditError, one_line
from labelleak.audit.loading import PROBE_IMAGES, LoadedModel, fresh_copy, shadow_architecture, wrap_user_model
from labelleak.audit.report import UNCALIBRATED, AuditReport
from labelleak.audit.target import AuditTarget, weights_target
from labelleak.audit.verdict import VerdictModel
from labelleak.data import ImageDataset
from labelleak.models import resolve_arch
from labelleak.store import ArtifactStore
from labelleak.targets import build_unlearner, parse_method_spec
from labelleak.unlearning import UNLEARNERS
from labelleak.validation import ParameterError, check_choice, check_number

logger = logging.getLogger(__name__)

#: unlearning methods of the audit's shadow experiments (method specs, ShadowConfig.methods): two
#: that differ in kind (ascent on the forget set alone; relabelling it while passing over the retain
#: set) and are the cheapest — the first audit of a dataset pays for every shadow. Adding fine-tuning
#: cost more and named fewer single classes on a foreign dropout MLP (docs/audit.md, "Shadows
#: unlearned by a third method")
SHADOW_METHODS = ("gradient_ascent", "random_labels")
#: ... and, for a model of a known architecture audited with θ_o, the ascent on *every* forget sample
#: as well (the reference NegGrad), which drags retained classes along once the first forgotten class
#: falls: its shadows show the set decisions a forgotten class that moved less than the others beside
#: damaged retained ones, as NegGrad+-style unlearning leaves it (docs/audit.md, "A third shadow
#: method, the reference ascent"; measured on docs/results/zoo-seed25, audits with θ_o only)
SHADOW_METHODS_WITH_ORIGINAL = (*SHADOW_METHODS, "gradient_ascent:ascend_on=all")
#: random pairs and triples of classes the audit's shadow models also forget, besides every class
#: singly (drawn with the shadows' own seed): what the set decisions and the fused verdict are fit on
#: to name more than one forgotten class
SHADOW_PAIRS = 5
SHADOW_TRIPLES = 3
#: whether every forget set of the shadows is unlearned by every shadow method ("all") or by one
#: of them in turn ("one": half the shadow models with two methods; ShadowConfig.methods_per_set)
SHADOW_METHODS_PER_SET = "all"
#: shadow originals θ_o′, and how they are trained (:attr:`~labelleak.attacks.shadow.ShadowConfig.recipes`),
#: by default (:func:`default_shadow_setting`): one, by the dataset's recipe ...
SHADOW_ORIGINALS = 1
SHADOW_RECIPES = "same"
#: ... but three of varied recipes, each forget set unlearned by one shadow method in turn, for a
#: model of a known architecture audited without θ_o, where nothing else tells a class the owner's
#: model finds hard from a forgotten one (docs/audit.md, "Through an API"; three varied originals
#: measured on docs/results/zoo-seed18, one method per forget set on docs/results/zoo-seed19)
SHADOW_ORIGINALS_WITHOUT_ORIGINAL = 3
SHADOW_RECIPES_WITHOUT_ORIGINAL = "varied"
SHADOW_METHODS_PER_SET_WITHOUT_ORIGINAL = "one"


class ShadowSetting(NamedTuple):
    """How many shadow originals an audit trains, how, and how each is unlearned."""

    originals: int
    recipes: str
    methods_per_set: str
    methods: tuple[str, ...]


def default_shadow_setting(*, known_architecture: bool, has_original: bool) -> ShadowSetting:
    """The shadows an audit trains by default: three originals of varied recipes, each forget set
    unlearned by one shadow method in turn, when the shadows are of the audited model's own
    architecture and no θ_o is given; otherwise one original by the dataset's recipe, unlearned by
    every shadow method, the methods of :data:`SHADOW_METHODS_WITH_ORIGINAL` when the architecture
    is known and θ_o given, else those of :data:`SHADOW_METHODS`."""
    if known_architecture and not has_original:
        return ShadowSetting(
            SHADOW_ORIGINALS_WITHOUT_ORIGINAL,
            SHADOW_RECIPES_WITHOUT_ORIGINAL,
            SHADOW_METHODS_PER_SET_WITHOUT_ORIGINAL,
            SHADOW_METHODS,
        )
    methods = SHADOW_METHODS_WITH_ORIGINAL if known_architecture else SHADOW_METHODS
    return ShadowSetting(SHADOW_ORIGINALS, SHADOW_RECIPES, SHADOW_METHODS_PER_SET, methods)


#: where, by default, an audit holding θ_o reads the inversion attacks' per-class difficulty reference
INVERSION_REFERENCE = "original"

#: the keywords :func:`select_attacks` takes for a set of attacks (the first is an audit's default)
SELECTIONS = ("default", "all")

#: how the audit's calibrated inversion attacks name a set (SET_DECISIONS of labelleak.attacks.criteria)
INVERSION_SET_DECISION = "cut"

#: decider of the parameter attacks once calibrated: a probability per class and a set fit on the shadows
PARAMETER_DECIDER = "calibrated"


# ----------------------------------------------------------------------------------------- attacks


def select_attacks(names: str | Sequence[str], *, level: str, has_original: bool) -> list[str]:
    """Attack names to run, in registry order for the two keywords: ``"default"`` = the attacks the
    access permits that an audit runs unless told otherwise (:attr:`~labelleak.attacks.base.Attack.in_default_audit`:
    all but the paper's genetic black box; the audit's query-based inversion is ``invert-cma``), ``"all"`` = every
    registered attack the access permits.

    Explicitly named attacks must exist and be permitted (each attack class says what it needs,
    :meth:`~labelleak.attacks.base.Attack.unmet_needs`); otherwise a one-line error says why (naming the
    audit's parameters ``attacks`` and ``original``, which the command line calls by its flags).
    """
    if isinstance(names, str):
        names = [names] if names in SELECTIONS else [n.strip() for n in names.split(",") if n.strip()]
    if len(names) == 1 and names[0] in SELECTIONS:
        chosen = [
            n
            for n in ATTACKS.names()
            if ATTACKS.get(n).unmet_needs(access=level, original=has_original) is None
            and (names[0] == "all" or ATTACKS.get(n).in_default_audit)
        ]
        if not chosen:
            raise AuditError(f"no registered attack can run with {level} access")
        return chosen
    if not names:
        raise AuditError(
            "{attacks} must be 'default', 'all' or a comma-separated list of attack names", parameters=("attacks",)
        )
    for name in names:
        cls = ATTACKS.get(name)
        reason = cls.unmet_needs(access=level, original=has_original)
        if reason is None:
            continue
        if cls.unmet_needs(access=level, original=True) is None:  # the original model alone is missing
            raise AuditError(
                "attack {name!r} cannot run in this audit: {reason} ({original})",
                parameters=("original",),
                name=name,
                reason=reason,
            )
        raise AuditError(f"attack {name!r} cannot run in this audit: {reason}")
    return list(dict.fromkeys(names))


def attack_options(
    *,
    seed: int,
    query_budget: int | None,
    verbose: bool,
    inversion_reference: str | None,
    inversion_set_decision: str = INVERSION_SET_DECISION,
    shadow_originals: int = SHADOW_ORIGINALS,
) -> dict[str, Any]:
    """The options every attack of an audit is built with (:func:`construct_attack` gives each those
    it takes). ``inversion_reference`` is None unless the audit holds θ_o and shadows of the owner's
    architecture: then the inversion attacks read each class's difficulty off θ_o itself, not off the
    attacker's shadow originals (it does not carry over between independently trained models:
    :mod:`labelleak.attacks.criteria`, docs/audit.md). Without that reference and with two or more
    ``shadow_originals``, the calibrated inversion attacks choose their checkpoint and threshold
    across the originals, and the shadow scores the verdict is fit on are leave-one-original-out
    ones (``checkpoint_choice="across-originals"``): the reference then comes from models other
    than the one scored, as it will for the target."""
    # One seed for every attack: the parameter attacks' reference settings (seed included) name the
    # shadow features they are calibrated on, so all of them share one extraction.
    return {
        "seed": seed,
        "query_budget": query_budget,
        "verbose": verbose,
        "decider": PARAMETER_DECIDER,
        "reference": inversion_reference,
        "set_decision": inversion_set_decision,
        "checkpoint_choice": "across-originals" if inversion_reference is None and shadow_originals > 1 else None,
    }


def construct_attack(name: str, *, options: dict[str, Any]) -> Attack:
    """Build attack ``name`` with those of ``options`` (None = its own default) it takes."""
    takes = set(ATTACKS.options(name))
    return ATTACKS.build(name, **{k: v for k, v in options.items() if v is not None and k in takes})


def calibrate_attacks(
    attacks: Iterable[Attack],
    *,
    dataset: ImageDataset,
    draw: KnowledgeDraw,
    arch: str | None,
    store: ArtifactStore | None,
    verbose: bool,
    multi_class_shadows: bool = True,
    workers: int = 1,
    shadow_archs: Sequence[str] | None = None,
    shadow_methods: Sequence[str] = SHADOW_METHODS,
    shadow_methods_per_set: str = SHADOW_METHODS_PER_SET,
    shadow_originals: int = SHADOW_ORIGINALS,
    shadow_recipes: str = SHADOW_RECIPES,
) -> tuple[dict[str, str], Shadows | None]:
    """Fit the attacks on one shared set of shadow experiments; returns, per attack name, what it was
    calibrated on, and the shadows (None when no attack needed them).

    With the owner's architecture (``arch``, registered by
    :func:`~labelleak.models.foreign.register_factory`) the shadows are that architecture, fed their
    inputs as the owner's model is (its ``mean``/``std`` or none), trained
    on the attacker's shadow pool and unlearned with :data:`SHADOW_METHODS`, and *every* attack that
    can be calibrated is: the inversion attacks' per-class difficulty reference then comes from
    the same architecture. Without it (an ONNX file, or a model that cannot be split at its head)
    the shadows are labelleak's default architecture for ``dataset`` and only the attacks that
    cannot decide without calibration are fit on them (a transfer: the parameter attacks'
    z-scored features carry over between architectures, an inversion difficulty reference does not).
    ``shadow_archs`` instead names labelleak architectures that stand in for the unknown one: one
    shadow original of each, and every attack that can be calibrated is fit on all of them
    together, so its calibration has to hold across architectures (docs/audit.md measures it).
    The shadows forget every class singly and, with ``multi_class_shadows``, :data:`SHADOW_PAIRS`
    random pairs and :data:`SHADOW_TRIPLES` random triples, each by every one of ``shadow_methods``
    (``shadow_methods_per_set="all"``) or by one of them in turn (``"one"``);
    ``workers`` processes build those the store lacks (:class:`~labelleak.attacks.shadow.Shadows`)
    and, when it lacked any (a first audit), fit the attacks on them and store what they fit, which
    this process then reads (:meth:`~labelleak.attacks.shadow.Shadows.fit_in_workers`).
    ``shadow_originals`` shadow originals are trained (with ``shadow_archs``, at least one per
    architecture), each by the dataset's recipe or, with ``shadow_recipes="varied"``, by a recipe
    of its own (:data:`~labelleak.attacks.shadow.RECIPE_VARIANTS`), and each is unlearned as above.
    """
    shadow_methods = check_shadow_methods(shadow_methods)
    check_choice("shadow_methods_per_set", shadow_methods_per_set, METHODS_PER_SET)
    check_number("shadow_originals", shadow_originals, low=1, high=10, integer=True)
    check_choice("shadow_recipes", shadow_recipes, RECIPE_CHOICES)
    if arch is not None and shadow_archs:
        raise AuditError(
            "{shadow_archs} stand in for an architecture labelleak does not know: this model's is known",
            parameters=("shadow_archs",),
        )
    stand_ins = [resolve_arch(name, dataset.name) for name in shadow_archs or ()]
    if len(set(stand_ins)) != len(stand_ins):
        raise AuditError(
            "{shadow_archs} names an architecture twice: " + ", ".join(stand_ins), parameters=("shadow_archs",)
        )
    chosen = [a for a in attacks if a.needs_calibration or ((arch is not None or stand_ins) and a.calibratable)]
    if not chosen:
        return {}, None
    pairs, triples = (SHADOW_PAIRS, SHADOW_TRIPLES) if multi_class_shadows else (0, 0)
    config = ShadowConfig(
        methods=shadow_methods,
        pairs=pairs,
        triples=triples,
        methods_per_set=shadow_methods_per_set,
        n_models=max(shadow_originals, len(stand_ins)),
        recipes=shadow_recipes,
    )
    shadows = Shadows(
        dataset,
        draw,
        config=config,
        eval_seeds=(),
        arch=arch or stand_ins or "auto",
        store=store,
        verbose=verbose,
        workers=workers,
    )
    if arch is not None:
        source = f"shadows of the owner's architecture ({arch})"
    elif stand_ins:
        source = f"shadows of labelleak's {', '.join(stand_ins)} standing in for the unknown architecture"
    else:
        source = f"transfer from shadows of labelleak's {resolve_arch('auto', dataset.name)}"
    sets = f"{dataset.num_classes} classes" + (f", {pairs} pairs and {triples} triples" if pairs or triples else "")
    methods = f"{len(config.methods)} method" + ("s" if len(config.methods) > 1 else "")
    if config.methods_in_turn:
        methods += " in turn"
    if config.n_models > max(1, len(stand_ins)):
        methods += f", {config.n_models} shadow originals" + (" of varied recipes" if config.recipes_vary else "")
    if shadows.build() and workers > 1:
        # a first audit: nothing fitted on these shadows is stored either, so the workers that built
        # them fit the attacks on them too, and the loop below reads what they stored
        shadows.fit_in_workers(_fit_tasks(list(attacks), chosen))
    found = {}
    for attack in chosen:
        attack.calibrate(shadows)
        found[attack.name] = f"{source}, {methods} x {sets}" + (" per architecture" if stand_ins else "")
        if isinstance(attack, InversionAttack) and attack.reference == "original":
            found[attack.name] += "; per-class reference: the same run on the original model"
    return found, shadows


def check_shadow_methods(methods: Sequence[str]) -> tuple[str, ...]:
    """The shadows' unlearning methods, checked: method specs (a registered name, optionally with
    parameters, ``name:key=value``) whose parameters the method accepts, at least one, none twice."""
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    if not methods:
        raise AuditError(
            "{shadow_methods} must name at least one unlearning method, got none", parameters=("shadow_methods",)
        )
    try:
        specs = [parse_method_spec(m) for m in methods]
    except ParameterError as error:
        raise AuditError("{shadow_methods}: {error}", parameters=("shadow_methods",), error=str(error)) from None
    unknown = [name for name, _ in specs if name not in UNLEARNERS]
    if unknown:
        raise AuditError(
            "{shadow_methods} names unknown unlearning methods: {unknown} (known: {known})",
            parameters=("shadow_methods",),
            unknown=", ".join(unknown),
            known=", ".join(UNLEARNERS.names()),
        )
    resolved = set()
    for spec, (name, params) in zip(methods, specs, strict=True):
        try:
            unlearner = build_unlearner(name, params)
        except ParameterError as error:
            raise AuditError(
                "{shadow_methods}: {spec}: {error}", parameters=("shadow_methods",), spec=spec, error=str(error)
            ) from None
        # a parameter given at its default value names the same shadow models as the bare name
        resolved.add((name, repr(sorted(unlearner.params().items()))))
    if len(resolved) != len(methods):
        raise AuditError(
            "{shadow_methods} names a method twice: {methods}",
            parameters=("shadow_methods",),
            methods=", ".join(methods),
        )
    return tuple(m.strip() for m in methods)


def scored_for_verdict(attack: Attack) -> bool:
    """Whether the fused verdict is fit on ``attack``'s shadow scores: not when it is an inversion attack
    left uncalibrated, whose shadow scores would cost a full inversion per shadow model, on shadows
    of another architecture."""
    return not (attack.category == "inversion" and attack.calibration_ is None)


def _fit_on_shadows(shadows: Shadows, *, attacks: Sequence[Attack], calibrate: Sequence[str]) -> None:
    """What an audit fits on ``shadows`` for ``attacks`` (the calibration of those named in
    ``calibrate``, then the shadow scores its verdict is fit on), computed into their store: a task of
    :meth:`~labelleak.attacks.shadow.Shadows.fit_in_workers`."""
    for attack in attacks:
        if hasattr(attack, "verbose"):
            attack.verbose = False  # the caller shows the tasks' progress; workers' bars would interleave
        if attack.name in calibrate:
            attack.calibrate(shadows)
        if scored_for_verdict(attack):
            attack.shadow_scores(shadows)


def _fit_tasks(attacks: Sequence[Attack], chosen: Sequence[Attack]) -> list[functools.partial[None]]:
    """An audit's fits on its shadows as worker tasks, longest first: each calibrated inversion attack
    alone, save those that share their priors (one task, which inverts the priors once); the parameter
    attacks together (one feature extraction); then the other attacks' shadow scores."""
    names = [attack.name for attack in chosen]
    groups: dict[str, list[Attack]] = {}
    for attack in sorted(attacks, key=lambda a: (a.name not in names, a.category != "inversion")):
        if attack.name not in names:
            group = "shadow scores"
        elif isinstance(attack, PriorSearchAttack):
            group = "prior search"
        elif attack.category == "parameter":
            group = "parameter"
        else:
            group = attack.name
        groups.setdefault(group, []).append(attack)
    return [functools.partial(_fit_on_shadows, attacks=group, calibrate=names) for group in groups.values()]


def fit_verdict(attacks: Mapping[str, Attack], shadows: Shadows) -> VerdictModel | None:
    """The fused verdict's model, fit on every attack's scores of the shadow models
    (:func:`scored_for_verdict`)."""
    scores = {}
    for name, attack in attacks.items():
        if not scored_for_verdict(attack):
            continue
        try:
            scores[name] = attack.shadow_scores(shadows)
        except Exception as err:  # the attack still runs; it only stays out of the fused verdict
            logger.info("attack %s stays out of the fused verdict: %s", name, one_line(err))
    return VerdictModel.fit(scores)


# ------------------------------------------------------------------------------------------- run


def run_audit(
    target: AuditTarget,
    *,
    dataset: ImageDataset,
    attacks: str | Sequence[str] = "default",
    query_budget: int | None = None,
    seed: int = 0,
    store: ArtifactStore | None = None,
    data_root: str | None = None,
    verbose: bool = False,
    multi_class_shadows: bool = True,
    inversion_reference: str = INVERSION_REFERENCE,
    inversion_set_decision: str = INVERSION_SET_DECISION,
    workers: int = 1,
    shadow_archs: Sequence[str] | None = None,
    shadow_methods: Sequence[str] | None = None,
    shadow_methods_per_set: str | None = None,
    shadow_originals: int | None = None,
    shadow_recipes: str | None = None,
) -> AuditReport:
    """Run the permitted attacks on ``target`` with attacker knowledge drawn from ``dataset``.

    Args:
        target: from :func:`~labelleak.audit.target.weights_target` or
            :func:`~labelleak.audit.target.onnx_target`.
        dataset: supplies A and N (from its test split, see
            :func:`~labelleak.attacks.knowledge.draw_knowledge`) and the shadow calibration.
        attacks: ``"default"``, ``"all"`` (every permitted attack) or names (:func:`select_attacks`).
        query_budget: the most queries each black-box attack may spend (None = its own default).
        seed: every random choice of the audit derives from it.
        store: artifact store caching the shadow calibration (None = no caching).
        verbose: progress bars.
        multi_class_shadows: the shadow models also forget random pairs and triples
            (:func:`calibrate_attacks`); without them the set decisions learn to name one class.
        inversion_reference: with ``target.original`` and shadows of the owner's architecture, where
            the inversion attacks' per-class difficulty reference comes from: "original" (the same run
            on θ_o, :mod:`labelleak.attacks.criteria`) or "shadows" (the attacker's shadow models, as
            without θ_o).
        inversion_set_decision: how the calibrated inversion attacks name the set: "cut" (the classes
            above a threshold fitted on the shadows) or "calibrated" (a probability per class read
            relative to the target's other classes, and a cut on it fitted on the shadows;
            :mod:`labelleak.attacks.criteria`).
        workers: processes that build the shadow models a first audit lacks and then fit the
            attacks on them, one torch thread each (1: all in this process).
        shadow_archs: for a model whose architecture labelleak does not know (``target.arch`` is
            None, e.g. an ONNX file), labelleak architectures whose shadows stand in for it, with
            every calibratable attack fit on all of them (:func:`calibrate_attacks`); None: shadows
            of the dataset's default architecture, for the attacks that cannot decide without.
        shadow_methods: the unlearning methods of the shadow models, method specs (a registered name
            with its per-dataset defaults, or ``name:key=value`` with parameters of one's own); every
            method adds one shadow model per forget set. None: :data:`SHADOW_METHODS_WITH_ORIGINAL`
            when ``target``'s architecture is known and it has θ_o, else :data:`SHADOW_METHODS`
            (:func:`default_shadow_setting`).
        shadow_methods_per_set: "all" unlearns every shadow forget set by every one of
            ``shadow_methods``; "one" by one of them in turn (fewer shadow models, a shorter first audit).
            None: "one" where three originals are the default, else "all" (:func:`default_shadow_setting`).
        shadow_originals: how many shadow originals θ_o′ are trained and unlearned (each adds as many
            shadow models as the first; :func:`calibrate_attacks`). None: three when the shadows are of
            ``target``'s own architecture and ``target`` has no θ_o, else one
            (:func:`default_shadow_setting`).
        shadow_recipes: "same" trains every θ_o′ by the dataset's recipe, "varied" each by its own
            (:data:`~labelleak.attacks.shadow.RECIPE_VARIANTS`; one original is trained by
            the dataset's recipe either way). None: "varied" where three originals are the default,
            else "same".

    An attack that fails is reported in ``failures`` and the others still run; the audit fails only
    when none could run.
    """
    check_number("seed", seed, low=0, integer=True)
    check_number("workers", workers, low=1, integer=True)
    check_choice("inversion_reference", inversion_reference, REFERENCES)
    check_choice("inversion_set_decision", inversion_set_decision, SET_DECISIONS)
    if query_budget is not None:
        check_number("query_budget", query_budget, low=1, integer=True)
    if tuple(dataset.input_shape) != tuple(target.input_shape):
        raise AuditError(
            f"the model takes inputs of shape {target.input_shape}, dataset {dataset.name!r} has "
            f"{tuple(dataset.input_shape)}"
        )
    if dataset.num_classes != target.num_classes:
        raise AuditError(
            f"the model has K={target.num_classes} classes, dataset {dataset.name!r} has {dataset.num_classes}"
        )
    names = select_attacks(attacks, level=target.level, has_original=target.original is not None)
    default = default_shadow_setting(
        known_architecture=target.arch is not None, has_original=target.original is not None
    )
    shadow_originals = default.originals if shadow_originals is None else shadow_originals
    shadow_recipes = default.recipes if shadow_recipes is None else shadow_recipes
    shadow_methods_per_set = default.methods_per_set if shadow_methods_per_set is None else shadow_methods_per_set
    shadow_methods = default.methods if shadow_methods is None else shadow_methods
    start = time.perf_counter()
    draw = draw_knowledge(dataset, original=target.original, seed=seed, data_root=data_root)
    options = attack_options(
        seed=seed,
        query_budget=query_budget,
        verbose=verbose,
        inversion_reference=inversion_reference if target.original is not None and target.arch else None,
        inversion_set_decision=inversion_set_decision,
        shadow_originals=shadow_originals,
    )
    built: dict[str, Attack] = {}
    broken: dict[str, str] = {}
    for name in names:
        try:
            attack = construct_attack(name, options=options)
            attack.check_target(num_classes=dataset.num_classes)  # before any calibration
            built[name] = attack
        except Exception as err:  # reported in its place below, like a failure at inference
            logger.info("attack %s failed: %s", name, one_line(err))
            logger.debug("attack %s failed", name, exc_info=True)
            broken[name] = one_line(err)
    calibrations, shadows = calibrate_attacks(
        built.values(),
        dataset=dataset,
        draw=draw,
        arch=target.arch,
        store=store,
        verbose=verbose,
        multi_class_shadows=multi_class_shadows,
        workers=workers,
        shadow_archs=shadow_archs,
        shadow_methods=shadow_methods,
        shadow_methods_per_set=shadow_methods_per_set,
        shadow_originals=shadow_originals,
        shadow_recipes=shadow_recipes,
    )
    verdict_model = None if shadows is None else fit_verdict(built, shadows)
    fitted = [a.calibration_ for a in built.values() if a.calibration_ is not None]
    report = AuditReport(
        num_classes=target.num_classes,
        class_names=tuple(dataset.class_names),
        target=target.description,
        level=target.level,
        dataset=dataset.describe(),
        knowledge=draw.knowledge.description,
        results=[],
        setup_seconds=time.perf_counter() - start,
        calibration=next((f.description for f in fitted if hasattr(f, "description")), ""),
        calibrations={
            name: calibrations.get(name, UNCALIBRATED if attack.calibratable else "") for name, attack in built.items()
        },
        verdict_model=verdict_model,
    )
    for name in tqdm(names, desc="audit", disable=not verbose):
        if name in broken:
            report.failures[name] = broken[name]
            continue
        attack = built[name]
        try:
            view = target.view(budget=query_budget if attack.requires in ("labels", "queries") else None)
            report.results.append(attack.infer(view, knowledge=draw.knowledge))
        except Exception as err:  # one broken or over-budget attack must not hide the others' findings
            logger.info("attack %s failed: %s", name, one_line(err))
            logger.debug("attack %s failed", name, exc_info=True)
            report.failures[name] = one_line(err)
    if not report.results:
        raise AuditError(f"no attack could run: {'; '.join(f'{k}: {v}' for k, v in report.failures.items())}")
    return report


def audit_model(
    model: nn.Module,
    *,
    dataset: ImageDataset,
    original: nn.Module | None = None,
    head: str | None = None,
    access: str = "weights",
    **options: Any,
) -> AuditReport:
    """:func:`run_audit` on a model in memory (white-box; with ``original`` the two-version setting).

    ``model`` takes (N, C, H, W) batches in [0, 1] of ``dataset``'s shape and returns K logits (or
    probabilities); its last ``nn.Linear`` with K outputs is the head unless ``head`` names it.
    ``access`` is what the attacks get of ``model`` (:func:`~labelleak.audit.target.weights_target`'s
    ``level``: "queries" audits what an API serving it reveals, with shadows of its architecture).
    ``options`` go to :func:`run_audit` (attacks, query_budget, seed, store, data_root, verbose).
    """
    sample = dataset.x_test[:PROBE_IMAGES]

    def wrap(net: nn.Module, what: str) -> LoadedModel:
        return wrap_user_model(net, num_classes=dataset.num_classes, sample=sample, head=head, what=what)

    loaded = wrap(model, "the audited model")
    arch = shadow_architecture(
        functools.partial(fresh_copy, model),  # picklable: shadow workers rebuild it
        head=loaded.user_head_name,
        sample=sample,
        source=f"{type(model).__module__}.{type(model).__qualname__}",
    )
    target = weights_target(
        loaded,
        num_classes=dataset.num_classes,
        input_shape=dataset.input_shape,
        description=f"{type(model).__name__} in memory",
        original=None if original is None else wrap(original, "the original model"),
        arch=arch,
        level=access,
    )
    return run_audit(target, dataset=dataset, **options)
