"""The typed plan of a cell: every (attack variant, knowledge setting) row it produces, with the
cache key of each row and the labels that name it within an experiment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labelleak.attacks import ATTACKS
from labelleak.experiments.config import KnowledgeConfig
from labelleak.experiments.context import Context, knowledge_key
from labelleak.experiments.grid import AttackVariant, Cell, knowledge_settings_for
from labelleak.seeding import derive_seed
from labelleak.store import config_hash

#: bump when the meaning of a stored result row changes
ROW_VERSION = 1


@dataclass(frozen=True)
class RowPlan:
    """One result row of a cell: the attack variant, the knowledge setting it runs under, the
    options it is built with (the variant's, plus a per-target seed where the attack asks for one)
    and the row's cache key."""

    variant: AttackVariant
    setting: KnowledgeConfig
    options: dict[str, Any]
    key: dict[str, Any]


@dataclass(frozen=True)
class CellPlan:
    """A cell and its rows, in a fixed order (finished cell files list their rows in it)."""

    cell: Cell
    rows: tuple[RowPlan, ...]

    @property
    def key(self) -> str:
        """The hash a finished cell file must carry to be reused: it changes with any row key."""
        return config_hash({"rows": [row.key for row in self.rows]})


def _options_for(variant: AttackVariant, cell: Cell) -> dict[str, Any]:
    options = dict(variant.options)
    if getattr(ATTACKS.get(variant.name), "seed_per_target", False) and "seed" not in options:
        options["seed"] = derive_seed(cell.seed, cell.id, variant.name) % (2**31)
    return options


def plan_cell(ctx: Context, cell: Cell) -> CellPlan:
    """The (variant, knowledge setting) rows of a cell with the cache key of each row."""
    target = ctx.target_key(cell)
    rows = []
    for variant in ctx.variants:
        # the built attack, not its class: what it needs can depend on its options (a noise
        # baseline reads N only with source="unrelated")
        for setting in knowledge_settings_for(ctx.uncalibrated(variant), ctx.config.knowledge):
            options = _options_for(variant, cell)
            key = {
                "stage": "attack-row",
                "version": ROW_VERSION,
                "target": target,
                "attack": variant.name,
                "options": options,
                "knowledge": knowledge_key(setting, ctx.knowledge_seed(cell.seed)),
                "calibration": ctx.calibration_key(variant, cell.dataset, cell.seed, setting),
            }
            revision = ATTACKS.get(variant.name).revision(options)
            if revision > 1:
                # only revised algorithms carry it, so the rows of every other attack keep their keys
                key["revision"] = revision
            rows.append(RowPlan(variant=variant, setting=setting, options=options, key=key))
    return CellPlan(cell=cell, rows=tuple(rows))


def cell_fields(ctx: Context, cell: Cell) -> dict[str, Any]:
    """The columns that describe a cell's target (shared by its result rows and its utility row)."""
    d = ctx.dataset_config(cell.dataset)
    return {
        "experiment": ctx.config.name,
        "cell": cell.id,
        "dataset": cell.dataset,
        "arch": d.arch,
        "epochs": d.epochs,
        "train_per_class": d.train_per_class,
        "seed": cell.seed,
        "method": cell.method,
        "forget": "+".join(map(str, cell.forget)),
        "n_forget": len(cell.forget),
    }


def row_labels(ctx: Context, cell: Cell, row: RowPlan) -> dict[str, Any]:
    """The fields of a row that name it within this experiment (not part of its cache key)."""
    return {
        **cell_fields(ctx, cell),
        "attack_label": row.variant.label,
        **{f"opt_{k}": row.options[k] for k in row.variant.varied},
        "knowledge": row.setting.name,
    }
