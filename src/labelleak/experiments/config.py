"""Experiment files: TOML, parsed into validated dataclasses (configs are data, never code).

A config names datasets (with their forget sets), unlearning methods and their parameters, the
attacker's knowledge settings, the shadow experiments used for calibration, the attacks with the
options to vary, and the seeds. Every key is checked: an unknown key, a value of the wrong type or
out of range, an unregistered method or attack, and an attack option its constructor does not
accept are all :class:`ConfigError` s of one line that name the key, e.g.
``datasets[0].pairs must be an integer in [0, 45], got 99``.

Layout (all tables optional unless marked)::

    name = "quick"                 # required: names the results
    seeds = [0]                    # replicate seeds: θ_o, unlearning and knowledge draws derive from each

    [[datasets]]                   # required, one table per dataset
    name = "digits"
    arch = "auto"                  # model architecture (default: the dataset's default)
    epochs = 40                    # override θ_o's training epochs (default: the dataset's recipe)
    singles = "all"                # "all", a list of classes, or [] for none
    pairs = 2                      # random distinct pairs (drawn with forget_seed)
    triples = 1                    # random distinct triples
    sets = [[1, 7]]                # further explicit forget sets
    forget_seed = 0
    sets_per_seed = false          # true: every seed draws its own random pairs and triples
    data_root = "/path"            # where the files are (default: known offline locations)
    optional = false               # true: skip this dataset (with a message) when its files are missing
    [datasets.params.retrain]      # method parameters for this dataset only (over [unlearning.params])
    epochs = 2

    [unlearning]
    methods = ["retrain", "finetune"]   # or "all" (every registered method)
    [unlearning.params.finetune]        # keyword arguments of one method
    epochs = 2

    [[knowledge]]                  # attacker-knowledge settings (default: one, named "default")
    name = "default"
    aux_per_class = 5              # |A| per class (default: 1% of |D_train| over K); 0: no A (data-free)
    aux_classes = 5                # A holds this many random classes of the K (partial; default: all)
    unrelated = "noise"            # N: "noise" or another dataset's name
    unrelated_size = 64            # |N| (default: |A|)
    original = true                # the two-version setting: the attacker also holds θ_o

A setting is *full* (A holds every class), *partial* (``aux_classes`` given: the classes are
drawn once per dataset and seed from the knowledge seed, never from a target's forgotten classes,
so every target of that seed shares A) or *data-free* (``aux_per_class = 0``: only N and θ_o;
attacks that need A do not run under it).

    [shadow]                       # attacker's shadow experiments (Youden / tree / calibrated deciders and inversion)
    methods = ["finetune"]
    pairs = 5                      # random pairs the shadows also forget (besides every class singly)
    triples = 3                    # random triples likewise (drawn with the shadow seed)
    methods_per_set = "all"        # or "one": each forget set unlearned by one of the methods in turn
    n_models = 1
    seed = 1000                    # must differ from every evaluation seed
    train_fraction = 0.8
    epochs = 20                    # (default: the dataset's recipe)

    [[attacks]]                    # one table per attack; at least one
    name = "param-diff"
    params = { steps = 200 }       # fixed constructor options
    vary = { decider = ["kmeans", "youden", "tree"] }   # options expanded into variants
    calibrate = false              # inversion attacks: fit their criterion on shadow runs
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from labelleak.attacks import ATTACKS
from labelleak.attacks.shadow import METHODS_PER_SET, ShadowConfig
from labelleak.data import DATASETS
from labelleak.experiments.fields import (
    ConfigError,
    boolean,
    check_keys,
    class_list,
    fail,
    integer,
    listing,
    real,
    string,
    table_at,
)
from labelleak.experiments.provenance import portable_path
from labelleak.models import ARCHITECTURES
from labelleak.registry import UnknownNameError
from labelleak.targets import build_unlearner
from labelleak.unlearning import UNLEARNERS
from labelleak.validation import ParameterError

#: attack-constructor options the runner supplies itself (from the shadow experiments)
RUNNER_OPTIONS = frozenset({"verbose"})


@dataclass(frozen=True)
class DatasetConfig:
    name: str
    arch: str = "auto"
    epochs: int | None = None
    singles: str | tuple[int, ...] = "all"
    #: single classes drawn at random (like the pairs and triples) besides the listed ``singles``
    random_singles: int = 0
    pairs: int = 0
    triples: int = 0
    sets: tuple[tuple[int, ...], ...] = ()
    forget_seed: int = 0
    #: every seed (θ_o replicate) draws its own random pairs and triples, so that a grid covers
    #: ``len(seeds)`` times as many sets at the cost of one set list per seed
    sets_per_seed: bool = False
    #: train θ_o (and so every method, Retrain included) on at most this many training images
    #: per class, a fixed draw shared by all seeds; None keeps the whole training split
    train_per_class: int | None = None
    data_root: str | None = None
    optional: bool = False
    method_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class KnowledgeConfig:
    """One attacker-knowledge setting; none depends on a target's forgotten classes.

    Attributes:
        name: labels the setting in results (not part of any cache key).
        aux_per_class: samples per class in A (None: |D_train|·1%/K); 0 leaves A empty.
        aux_classes: A holds this many random classes (drawn from the knowledge seed); None: all.
        unrelated: N, ``"noise"`` or another dataset's name.
        unrelated_size: |N| (None: |A|).
        original: the attacker also holds θ_o (the two-version setting).
    """

    name: str = "default"
    aux_per_class: int | None = None
    aux_classes: int | None = None
    unrelated: str = "noise"
    unrelated_size: int | None = None
    original: bool = True

    @property
    def kind(self) -> str:
        """What A holds: "full" (every class), "partial" (``aux_classes`` random classes) or
        "data-free" (nothing)."""
        if self.aux_per_class == 0:
            return "data-free"
        return "full" if self.aux_classes is None else "partial"

    def to_dict(self) -> dict[str, Any]:
        out = {
            "name": self.name,
            "aux_per_class": self.aux_per_class,
            "unrelated": self.unrelated,
            "unrelated_size": self.unrelated_size,
            "original": self.original,
        }
        # absent unless set, so that adding partial settings leaves the keys of the others alone
        if self.aux_classes is not None:
            out["aux_classes"] = self.aux_classes
        return out


@dataclass(frozen=True)
class AttackConfig:
    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    vary: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    calibrate: bool = False

    def variants(self) -> list[dict[str, Any]]:
        """Every combination of the varied options, each merged over the fixed ``params``."""
        keys = sorted(self.vary)
        return [
            {**self.params, **dict(zip(keys, values))} for values in itertools.product(*(self.vary[k] for k in keys))
        ]


def resolve_method_params(config: Mapping[str, Any], dataset: str, method: str) -> dict[str, Any]:
    """``method``'s parameters on ``dataset`` in a config as :meth:`ExperimentConfig.to_dict` writes
    it (and a run stores it as ``config.json``): the dataset's own over the global ones."""
    own: Mapping[str, Any] = next(
        (d.get("method_params", {}) for d in config.get("datasets", []) if d.get("name") == dataset), {}
    )
    return {**config.get("method_params", {}).get(method, {}), **own.get(method, {})}


@dataclass(frozen=True)
class ExperimentConfig:
    name: str
    seeds: tuple[int, ...]
    datasets: tuple[DatasetConfig, ...]
    methods: tuple[str, ...]
    method_params: Mapping[str, Mapping[str, Any]]
    knowledge: tuple[KnowledgeConfig, ...]
    shadow: ShadowConfig
    attacks: tuple[AttackConfig, ...]
    source: str = ""

    def params_for(self, dataset: str, method: str) -> dict[str, Any]:
        """``method``'s parameters on ``dataset``: the dataset's own over the global ones."""
        # the two levels in to_dict()'s shape, without copying the rest of the config
        levels = {
            "method_params": self.method_params,
            "datasets": [{"name": d.name, "method_params": d.method_params} for d in self.datasets],
        }
        return resolve_method_params(levels, dataset, method)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (stored next to the results)."""
        return asdict(self)


# --------------------------------------------------------------------------------------------
# small typed readers: each error names the key path


def _dataset(table: Any, key: str) -> DatasetConfig:
    table = table_at(table, key)
    check_keys(
        table,
        {
            "name",
            "arch",
            "epochs",
            "singles",
            "random_singles",
            "pairs",
            "triples",
            "sets",
            "forget_seed",
            "sets_per_seed",
            "train_per_class",
            "data_root",
            "optional",
            "params",
        },
        key,
        required={"name"},
    )
    name = string(table["name"], f"{key}.name")
    if name not in DATASETS:
        raise fail(f"{key}.name", f"must be a known dataset ({', '.join(DATASETS.names())}), got {name!r}")
    arch = string(table.get("arch", "auto"), f"{key}.arch")
    if arch != "auto":
        if arch not in ARCHITECTURES:
            raise fail(f"{key}.arch", f"must be 'auto' or one of {', '.join(ARCHITECTURES.names())}, got {arch!r}")
    # every dataset labelleak reads has 10 classes; the true K is checked again at run time
    k = 10
    singles = table.get("singles", "all")
    if singles != "all":
        singles = tuple(sorted(class_list(singles, f"{key}.singles", k)))
    sets = []
    for i, entry in enumerate(listing(table.get("sets", []), f"{key}.sets")):
        classes = class_list(entry, f"{key}.sets[{i}]", k)
        if not 1 <= len(classes) < k:
            raise fail(f"{key}.sets[{i}]", f"must name between 1 and {k - 1} classes, got {list(classes)}")
        sets.append(tuple(sorted(classes)))
    epochs = table.get("epochs")
    train_per_class = table.get("train_per_class")
    return DatasetConfig(
        name=name,
        arch=arch,
        epochs=None if epochs is None else integer(epochs, f"{key}.epochs", low=1, high=10_000),
        singles=singles,
        random_singles=integer(table.get("random_singles", 0), f"{key}.random_singles", low=0, high=k),
        pairs=integer(table.get("pairs", 0), f"{key}.pairs", low=0, high=math.comb(k, 2)),
        triples=integer(table.get("triples", 0), f"{key}.triples", low=0, high=math.comb(k, 3)),
        sets=tuple(sets),
        forget_seed=integer(table.get("forget_seed", 0), f"{key}.forget_seed", low=0),
        sets_per_seed=boolean(table.get("sets_per_seed", False), f"{key}.sets_per_seed"),
        train_per_class=None if train_per_class is None else integer(train_per_class, f"{key}.train_per_class", low=1),
        data_root=None if table.get("data_root") is None else string(table["data_root"], f"{key}.data_root"),
        optional=boolean(table.get("optional", False), f"{key}.optional"),
        method_params={
            m: dict(table_at(p, f"{key}.params.{m}"))
            for m, p in table_at(table.get("params", {}), f"{key}.params").items()
        },
    )


def _knowledge(table: Any, key: str) -> KnowledgeConfig:
    table = table_at(table, key)
    check_keys(table, {"name", "aux_per_class", "aux_classes", "unrelated", "unrelated_size", "original"}, key)
    aux = table.get("aux_per_class")
    aux_per_class = None if aux is None else integer(aux, f"{key}.aux_per_class", low=0, high=100_000)
    classes = table.get("aux_classes")
    # K is the dataset's: an aux_classes that leaves no class out of A fails once the data are loaded
    aux_classes = None if classes is None else integer(classes, f"{key}.aux_classes", low=1, high=100_000)
    if aux_classes is not None and aux_per_class == 0:
        raise fail(
            f"{key}.aux_classes",
            f"needs a non-empty A: with aux_classes, aux_per_class must be >= 1 or absent, got {aux_per_class}",
        )
    size = table.get("unrelated_size")
    return KnowledgeConfig(
        name=string(table.get("name", "default"), f"{key}.name"),
        aux_per_class=aux_per_class,
        aux_classes=aux_classes,
        unrelated=string(table.get("unrelated", "noise"), f"{key}.unrelated"),
        unrelated_size=None if size is None else integer(size, f"{key}.unrelated_size", low=1, high=1_000_000),
        original=boolean(table.get("original", True), f"{key}.original"),
    )


def _methods(table: Any, key: str) -> tuple[tuple[str, ...], dict[str, dict[str, Any]]]:
    table = table_at(table, key)
    check_keys(table, {"methods", "params"}, key, required={"methods"})
    raw = table["methods"]
    if raw == "all":
        methods = tuple(UNLEARNERS.names())
    else:
        methods = _method_names(raw, f"{key}.methods")
    params = {}
    for method, options in table_at(table.get("params", {}), f"{key}.params").items():
        if method not in methods:
            raise fail(
                f"{key}.params.{method}", f"sets parameters of a method not in {key}.methods ({', '.join(methods)})"
            )
        options = table_at(options, f"{key}.params.{method}")
        try:
            build_unlearner(method, options)
        except (ParameterError, TypeError, ValueError) as err:
            raise fail(f"{key}.params.{method}:", str(err)) from None
        params[method] = dict(options)
    return methods, params


def _method_names(raw: Any, key: str) -> tuple[str, ...]:
    """A non-empty list of distinct, registered unlearning-method names."""
    methods = tuple(string(m, f"{key}[{i}]") for i, m in enumerate(listing(raw, key)))
    if not methods:
        raise fail(key, "must name at least one method")
    for i, method in enumerate(methods):
        if method not in UNLEARNERS:
            raise fail(
                f"{key}[{i}]",
                f"names no registered unlearning method: {method!r}; valid: {', '.join(sorted(UNLEARNERS.names()))}",
            )
    if len(set(methods)) != len(methods):
        raise fail(key, f"must not repeat a method, got {list(methods)}")
    return methods


def _shadow(table: Any, key: str) -> ShadowConfig:
    table = table_at(table, key)
    check_keys(
        table, {"methods", "methods_per_set", "pairs", "triples", "n_models", "seed", "train_fraction", "epochs"}, key
    )
    methods = _method_names(table.get("methods", ["finetune"]), f"{key}.methods")
    epochs = table.get("epochs")
    return ShadowConfig(
        methods=methods,
        pairs=integer(table.get("pairs", 0), f"{key}.pairs", low=0, high=1000),
        triples=integer(table.get("triples", 0), f"{key}.triples", low=0, high=1000),
        methods_per_set=_methods_per_set(table.get("methods_per_set", "all"), f"{key}.methods_per_set"),
        n_models=integer(table.get("n_models", 1), f"{key}.n_models", low=1, high=100),
        seed=integer(table.get("seed", 1000), f"{key}.seed", low=0),
        train_fraction=real(table.get("train_fraction", 0.8), f"{key}.train_fraction", low=0.1, high=0.95),
        epochs=None if epochs is None else integer(epochs, f"{key}.epochs", low=1, high=10_000),
    )


def _methods_per_set(value: Any, key: str) -> str:
    value = string(value, key)
    if value not in METHODS_PER_SET:
        raise fail(key, f"must be one of {', '.join(METHODS_PER_SET)}, got {value!r}")
    return value


def _attack(table: Any, key: str) -> AttackConfig:
    table = table_at(table, key)
    check_keys(table, {"name", "params", "vary", "calibrate"}, key, required={"name"})
    name = string(table["name"], f"{key}.name")
    try:
        ATTACKS.get(name)
    except UnknownNameError as err:
        raise fail(f"{key}.name:", str(err)) from None
    valid = [o for o in ATTACKS.options(name) if o not in RUNNER_OPTIONS]
    params = dict(table_at(table.get("params", {}), f"{key}.params"))
    vary = {}
    for option, values in table_at(table.get("vary", {}), f"{key}.vary").items():
        values = listing(values, f"{key}.vary.{option}")
        if not values:
            raise fail(f"{key}.vary.{option}", "must list at least one value")
        vary[option] = tuple(values)
    open_ended = ATTACKS.open_ended(name)
    for where, options in (("params", params), ("vary", vary)):
        for option in options:
            if option in RUNNER_OPTIONS or (option not in valid and not open_ended):
                raise ConfigError(
                    f"unknown key {key}.{where}.{option!r} for attack {name!r}; valid: {', '.join(valid)}"
                )
    both = sorted(set(params) & set(vary))
    if both:
        raise fail(f"{key}.vary.{both[0]}", f"is also fixed in {key}.params; give it in one place")
    calibrate = boolean(table.get("calibrate", False), f"{key}.calibrate")
    config = AttackConfig(name=name, params=params, vary=vary, calibrate=calibrate)
    for options in config.variants():
        try:
            attack = ATTACKS.build(name, **options)
        except (ParameterError, TypeError, ValueError) as err:
            raise fail(f"{key} ({name} {options}):", str(err)) from None
        if calibrate and (attack.needs_calibration or not attack.calibratable):
            why = "is calibrated through its decider" if attack.needs_calibration else "has nothing to calibrate"
            raise fail(f"{key}.calibrate", f"applies to inversion attacks only; {name!r} {why}")
    return config


def parse_config(data: Mapping[str, Any], *, source: str = "") -> ExperimentConfig:
    """Validate a config already read from TOML (or built in code) and return it."""
    check_keys(
        data,
        {"name", "seeds", "datasets", "unlearning", "knowledge", "shadow", "attacks"},
        "",
        required={"name", "datasets", "unlearning", "attacks"},
    )
    name = string(data["name"], "name")
    seeds = tuple(integer(s, f"seeds[{i}]", low=0) for i, s in enumerate(listing(data.get("seeds", [0]), "seeds")))
    if not seeds or len(set(seeds)) != len(seeds):
        raise fail("seeds", f"must list at least one seed, without repeats, got {list(seeds)}")
    datasets = tuple(_dataset(t, f"datasets[{i}]") for i, t in enumerate(listing(data["datasets"], "datasets")))
    if not datasets:
        raise fail("datasets", "must list at least one dataset")
    methods, method_params = _methods(data["unlearning"], "unlearning")
    for i, d in enumerate(datasets):
        for method, options in d.method_params.items():
            where = f"datasets[{i}].params.{method}"
            if method not in methods:
                raise fail(where, f"sets parameters of a method not in unlearning.methods ({', '.join(methods)})")
            try:
                build_unlearner(method, {**method_params.get(method, {}), **options})
            except (ParameterError, TypeError, ValueError) as err:
                raise fail(f"{where}:", str(err)) from None
    raw_knowledge = data.get("knowledge", [{}])
    if isinstance(raw_knowledge, dict):
        raw_knowledge = [raw_knowledge]
    knowledge = tuple(_knowledge(t, f"knowledge[{i}]") for i, t in enumerate(listing(raw_knowledge, "knowledge")))
    names = [k.name for k in knowledge]
    if not knowledge or len(set(names)) != len(names):
        raise fail("knowledge", f"must list at least one setting, with distinct names, got {names}")
    shadow = _shadow(data.get("shadow", {}), "shadow")
    clash = sorted(set(range(shadow.seed, shadow.seed + shadow.n_models)) & set(seeds))
    if clash:
        raise fail(
            "shadow.seed",
            f"gives shadow seeds {list(range(shadow.seed, shadow.seed + shadow.n_models))} that "
            f"overlap the evaluation seeds {list(seeds)}",
        )
    attacks = tuple(_attack(t, f"attacks[{i}]") for i, t in enumerate(listing(data["attacks"], "attacks")))
    if not attacks:
        raise fail("attacks", "must list at least one attack")
    return ExperimentConfig(
        name=name,
        seeds=seeds,
        datasets=datasets,
        methods=methods,
        method_params=method_params,
        knowledge=knowledge,
        shadow=shadow,
        attacks=attacks,
        source=source,
    )


def load_config(path: str | Path) -> ExperimentConfig:
    """Read and validate a TOML experiment file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"cannot read experiment file {path}: {err.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path} is not valid TOML: {err}") from None
    try:
        return parse_config(data, source=portable_path(path))
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
