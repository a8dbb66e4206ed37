"""Report figures (matplotlib, Agg backend, PNG written atomically).

* :func:`asr_heatmap` — ASR of every attack (rows) against every unlearning method (columns);
* :func:`asr_vs_budget` — ASR of a query-budgeted attack as its budget grows, with Wilson intervals;
* :func:`prototype_grids` — inversion prototypes of a few single-class targets, drawn by
  :func:`labelleak.report.prototypes.save_prototype_grid`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labelleak.report.prototypes import save_prototype_grid
from labelleak.report.tables import summary_table


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        # "tight" grows the canvas to every label, so long attack names are never cut off
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a report is meant to be read by others
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    _pyplot().close(fig)
    return path


def asr_heatmap(
    path: Path,
    *,
    labels: Sequence[str],
    methods: Sequence[str],
    cells: dict[tuple[str, str], dict[str, Any]],
    title: str,
    chance: float | None = None,
) -> Path:
    """Heatmap of ASR (attack × method) with the percentage and the number of targets in every cell."""
    plt = _pyplot()
    values = np.full((len(labels), len(methods)), np.nan)
    counts = np.zeros((len(labels), len(methods)), dtype=int)
    for i, label in enumerate(labels):
        for j, method in enumerate(methods):
            if (label, method) in cells:
                values[i, j] = cells[(label, method)]["asr"]
                counts[i, j] = int(cells[(label, method)]["n"])
    fig, ax = plt.subplots(figsize=(1.6 + 0.8 * len(methods), 1.2 + 0.42 * len(labels)))
    image = ax.imshow(values, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(methods)))
    ax.set_xticklabels(methods, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=7)
    for i in range(len(labels)):
        for j in range(len(methods)):
            if not np.isnan(values[i, j]):
                ax.text(
                    j,
                    i,
                    f"{100 * values[i, j]:.0f}\nn={counts[i, j]}",
                    ha="center",
                    va="center",
                    fontsize=5.5,
                    linespacing=0.9,
                    color="black" if values[i, j] > 0.6 else "white",
                )
    colorbar = fig.colorbar(image, ax=ax, fraction=0.04)
    colorbar.set_label(
        "ASR, n = targets per cell" + (f" (chance {100 * chance:.0f}%)" if chance is not None else ""), fontsize=7
    )
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def asr_vs_budget(path: Path, rows: pd.DataFrame, *, title: str, chance: float | None = None) -> Path | None:
    """ASR against ``opt_query_budget`` for every attack label family that varied it; None if none did."""
    if "opt_query_budget" not in rows or rows["opt_query_budget"].isna().all():
        return None
    budgeted = rows[rows["opt_query_budget"].notna()].copy()
    budgeted["budget"] = budgeted["opt_query_budget"].astype(int)
    # one line per attack with every option except the budget
    budgeted["line"] = (
        budgeted["attack_label"]
        .str.replace(r",?\s*query_budget=\d+", "", regex=True)
        .str.replace(" ()", "", regex=False)
    )
    table = summary_table(budgeted, ["line", "budget"])
    if table["budget"].nunique() < 2:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for line, part in table.groupby("line", sort=False):
        part = part.sort_values("budget")
        ax.errorbar(
            part["budget"],
            part["asr"],
            yerr=[part["asr"] - part["asr_low"], part["asr_high"] - part["asr"]],
            marker="o",
            capsize=3,
            label=line,
        )
    if chance is not None:
        ax.axhline(chance, color="0.5", linestyle="--", linewidth=1, label="chance")
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("query budget per target")
    ax.set_ylabel("ASR (95% Wilson interval)")
    ax.set_title(title, fontsize=9)
    # beside the axes, not over them: the curves end at the largest budgets, under the legend's corner
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    fig.tight_layout()
    return _save(fig, path)


def prototype_grids(results_dir: Path, out_dir: Path, *, dataset: str, per_attack: int = 3) -> list[tuple[Path, str]]:
    """Prototype grids of ``dataset``: for the first variant of each inversion attack, up to
    ``per_attack`` methods (Retrain first), each on its lowest forgotten class.

    Reads the ``prototypes/*.safetensors`` files the runner exported; returns (png, caption) pairs.
    """
    from safetensors import safe_open

    files = sorted((results_dir / "prototypes").glob("*.safetensors")) if (results_dir / "prototypes").is_dir() else []
    chosen: dict[tuple[str, str], tuple[Path, dict[str, str]]] = {}
    for path in files:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
        if meta.get("dataset") != dataset:
            continue
        key = (meta.get("attack", ""), meta.get("method", ""))
        if key not in chosen or int(meta["forget"]) < int(chosen[key][1]["forget"]):
            chosen[key] = (path, meta)
    first_variant: dict[str, str] = {}
    for attack, _ in sorted(chosen):
        first_variant.setdefault(attack.split(" ")[0], attack)
    picked = []
    for attack in first_variant.values():
        methods = sorted((m for a, m in chosen if a == attack), key=lambda m: (m != "retrain", m))
        picked += [(attack, m) for m in methods[:per_attack]]
    out = []
    for attack, method in picked:
        path, meta = chosen[(attack, method)]
        from safetensors.torch import load_file

        tensors = load_file(str(path))
        png = out_dir / (path.stem + ".png")
        forget = int(meta["forget"])
        profiles = tensors["profiles"].numpy() if "profiles" in tensors else None
        class_names = json.loads(meta["class_names"]) if "class_names" in meta else None
        save_prototype_grid(
            png,
            prototypes=tensors["prototypes"],
            confidence=tensors["confidence"].numpy(),
            profiles=profiles,
            class_names=class_names,
            highlight=[forget],
            title=f"{dataset}: {attack} on {method}, class {forget} forgotten",
        )
        out.append((png, f"{attack}, {method}, forgotten class {forget} (red)"))
    return out
