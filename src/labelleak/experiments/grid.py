"""Grid expansion: an :class:`ExperimentConfig` becomes cells and attack variants.

A **cell** is one target: (dataset, seed, unlearning method, forget set). Cells are independent
(the runner may run them in parallel); inside a cell every attack variant runs under every
knowledge setting it depends on. An **attack variant** is one attack with one combination of its
varied options (e.g. ``param-diff`` with ``decider="youden"``).

Forget sets per dataset: the singles (``"all"`` or a list), ``pairs`` and ``triples`` random
distinct sets drawn without replacement from all C(K, 2) / C(K, 3) with ``forget_seed`` (and the
seed, with ``sets_per_seed``), then the explicit ``sets``; duplicates are dropped, order is stable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from labelleak.experiments.config import ExperimentConfig, KnowledgeConfig
from labelleak.seeding import derive_seed, random_class_sets


@dataclass(frozen=True)
class Cell:
    """One target θ_u = method(θ_o(dataset, seed), forget) and the attacks run on it."""

    dataset: str
    seed: int
    method: str
    forget: tuple[int, ...]

    @property
    def id(self) -> str:
        """A file-name-safe identifier, unique within an experiment."""
        return f"{self.dataset}_s{self.seed}_{self.method}_f{'-'.join(map(str, self.forget))}"


@dataclass(frozen=True)
class AttackVariant:
    """One attack with fixed options; ``label`` names it in tables."""

    name: str
    options_json: str
    varied: tuple[str, ...]
    calibrate: bool = False

    @property
    def options(self) -> dict[str, Any]:
        return json.loads(self.options_json)

    @property
    def label(self) -> str:
        options = self.options
        parts = [str(options[k]) if isinstance(options[k], str) else f"{k}={options[k]}" for k in self.varied]
        if self.calibrate:
            parts.append("calibrated")
        return f"{self.name} ({', '.join(parts)})" if parts else self.name


def forget_sets(dataset: Any, *, num_classes: int, seed: int = 0) -> list[tuple[int, ...]]:
    """The forget sets of one :class:`~labelleak.experiments.config.DatasetConfig` for replicate ``seed``
    (which matters only with ``sets_per_seed``)."""
    singles = range(num_classes) if dataset.singles == "all" else dataset.singles
    sets: list[tuple[int, ...]] = [(int(c),) for c in singles]
    draw_seed = derive_seed(dataset.forget_seed, "replicate", seed) if dataset.sets_per_seed else dataset.forget_seed
    sets += random_class_sets(num_classes, 1, dataset.random_singles, seed=draw_seed)
    sets += random_class_sets(num_classes, 2, dataset.pairs, seed=draw_seed)
    sets += random_class_sets(num_classes, 3, dataset.triples, seed=draw_seed)
    sets += [tuple(s) for s in dataset.sets]
    return list(dict.fromkeys(sets))


def cells(
    config: ExperimentConfig, *, num_classes: dict[str, int] | None = None, pilot: int | None = None
) -> list[Cell]:
    """Every cell of the experiment, ordered dataset → seed → forget set → method.

    ``num_classes`` maps dataset names to K (default 10, the class count of every bundled dataset);
    ``pilot`` keeps only the first ``pilot`` forget sets of each dataset (a timing run).
    """
    out = []
    for dataset in config.datasets:
        k = (num_classes or {}).get(dataset.name, 10)
        for seed in config.seeds:
            for forget in forget_sets(dataset, num_classes=k, seed=seed)[:pilot]:
                for method in config.methods:
                    out.append(Cell(dataset=dataset.name, seed=seed, method=method, forget=forget))
    return out


def attack_variants(config: ExperimentConfig) -> list[AttackVariant]:
    """Every attack variant, in config order; identical variants listed twice are kept once."""
    out = []
    for attack in config.attacks:
        for options in attack.variants():
            out.append(
                AttackVariant(
                    name=attack.name,
                    options_json=json.dumps(options, sort_keys=True),
                    varied=tuple(sorted(attack.vary)),
                    calibrate=attack.calibrate,
                )
            )
    return list(dict.fromkeys(out))


def knowledge_settings_for(attack: Any, settings: tuple[KnowledgeConfig, ...]) -> list[KnowledgeConfig]:
    """The knowledge settings an attack instance runs under.

    An attack that reads nothing from the knowledge (no A, no N, no θ_o) runs once, under the first
    setting: its result cannot depend on it. Others run under every setting that holds what they
    need (a setting without θ_o cannot serve a two-version attack, a data-free one, whose A is
    empty, cannot serve an attack that needs A).
    """
    uses = attack.needs_aux or attack.needs_unrelated or attack.needs_original
    if not uses:
        return [settings[0]]
    return [
        s
        for s in settings
        if attack.unmet_needs(access=attack.requires, aux=s.kind != "data-free", original=s.original) is None
    ]


def describe(config: ExperimentConfig, *, num_classes: dict[str, int] | None = None) -> str:
    """One line summarising the grid's size, e.g. ``20 targets (5 forget sets of digits x 1 seed x 4 methods),
    ...``; with several datasets, ``(10 forget sets [mnist 5, fashion-mnist 4, cifar10 1] x ...``."""
    n_cells = len(cells(config, num_classes=num_classes))
    variants = attack_variants(config)
    per_dataset = [
        (d.name, len(forget_sets(d, num_classes=(num_classes or {}).get(d.name, 10)))) for d in config.datasets
    ]
    total = sum(n for _, n in per_dataset)
    sets = f"{total} forget {_plural(total, 'set')}"
    if any(d.sets_per_seed for d in config.datasets):
        sets += " (random ones drawn per seed)"
    if len(per_dataset) > 1:
        sets += " [" + ", ".join(f"{name} {n}" for name, n in per_dataset) + "]"
    else:
        sets += f" of {per_dataset[0][0]}"
    return (
        f"{n_cells} targets ({sets} x {len(config.seeds)} {_plural(len(config.seeds), 'seed')} x "
        f"{len(config.methods)} {_plural(len(config.methods), 'method')}), {len(variants)} attack variants, "
        f"{len(config.knowledge)} knowledge {_plural(len(config.knowledge), 'setting')}"
    )


def _plural(n: int, word: str) -> str:
    return word if n == 1 else f"{word}s"
