"""Predicting how long a full grid takes from a (possibly unfinished) pilot run."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labelleak.experiments.config import ExperimentConfig
from labelleak.experiments.context import Context
from labelleak.experiments.grid import cells
from labelleak.experiments.runner import available_datasets
from labelleak.report.tables import ResultsError, write_results
from labelleak.store import ArtifactStore


def estimate_seconds(
    config: ExperimentConfig, pilot_dir: str | os.PathLike, *, jobs: int = 1, store: ArtifactStore | None = None
) -> dict[str, Any]:
    """Predict the duration of the full grid of ``config`` from a (possibly unfinished) pilot run.

    Model: per (dataset, method) the mean unlearning time of the pilot's targets, plus per dataset
    the mean attack time of a target (all its rows), times the full grid's number of targets,
    divided over ``jobs`` workers; plus the one-time stages: θ_o (its recorded training time) and
    the shadow calibration the pilot measured. Stage times are CPU seconds where the pilot recorded
    them (one torch thread per process: close to the wall time on an otherwise idle machine), else
    wall seconds. A (dataset, method) the pilot did not reach is **extrapolated**: from the same
    method on a measured dataset, scaled by the ratio of θ_o's training time per epoch (by θ_o's
    whole training time for ``retrain``, which repeats it), or, for a method measured nowhere, from
    the mean of the measured methods on that dataset; attack times scale the same way. The
    extrapolated pairs are listed in the result.
    """
    pilot_dir = Path(pilot_dir)
    run_path = pilot_dir / "run.json"
    run = json.loads(run_path.read_text()) if run_path.is_file() else {}
    cell_files = sorted((pilot_dir / "cells").glob("*.json"))
    if not cell_files:
        raise ResultsError(f"{pilot_dir} holds no finished cell yet")
    rows = pd.read_csv(write_results(pilot_dir, cell_files)[0])
    utility = pd.read_csv(pilot_dir / "utility.csv")
    store = store or ArtifactStore(run.get("store"))
    ctx = Context(available_datasets(config), store_root=str(store.root), results_dir=str(pilot_dir))
    names = [d.name for d in ctx.config.datasets]
    full = cells(ctx.config, num_classes={n: ctx.dataset(n).num_classes for n in names})
    per_cell = Counter((c.dataset, c.method) for c in full)
    train = {n: ctx.original(n, ctx.config.seeds[0]).metrics for n in names}

    def cost(frame: pd.DataFrame) -> pd.Series:
        return frame["cpu_seconds"].fillna(frame["seconds"]) if "cpu_seconds" in frame else frame["seconds"]

    utility, rows = utility[utility["dataset"].isin(names)], rows[rows["dataset"].isin(names)]
    unlearn = utility.assign(t=cost(utility)).groupby(["dataset", "method"])["t"].mean().to_dict()
    per_target = rows.assign(t=cost(rows)).groupby(["dataset", "cell"])["t"].sum().groupby("dataset").mean().to_dict()

    def ratio(target: str, source: str, method: str = "") -> float:
        key = "train_seconds" if method == "retrain" else "seconds_per_epoch"
        return float(train[target][key]) / float(train[source][key])

    extrapolated = []
    by_dataset: Counter[str] = Counter()
    for (dataset, method), n in per_cell.items():
        if (dataset, method) in unlearn:
            by_dataset[dataset] += n * unlearn[(dataset, method)]
            continue
        extrapolated.append(f"{dataset}/{method}")
        sources = [(d, t) for (d, m), t in unlearn.items() if m == method]
        if sources:
            estimate = float(np.mean([t * ratio(dataset, d, method) for d, t in sources]))
        else:
            same = [t for (d, m), t in unlearn.items() if d == dataset]
            estimate = (
                float(np.mean(same))
                if same
                else float(np.mean([t * ratio(dataset, d) for (d, m), t in unlearn.items()]))
            )
        # float seconds: typeshed types a Counter's values as int
        by_dataset[dataset] += n * estimate  # type: ignore[assignment]
    unlearning = sum(by_dataset.values())
    attacks = 0.0
    for dataset in names:
        n = sum(k for (d, _), k in per_cell.items() if d == dataset)
        if dataset in per_target:
            work = n * per_target[dataset]
        else:
            work = n * float(np.mean([t * ratio(dataset, d) for d, t in per_target.items()]))
        attacks += work
        by_dataset[dataset] += work
    originals = sum(float(train[n]["train_seconds"]) for n in names) * len(ctx.config.seeds)
    seconds = run.get("seconds", {})
    calibration = seconds.get("calibration_cpu", seconds.get("calibration", 0.0))
    return {
        "cells": len(full),
        "unlearning": unlearning,
        "attacks": attacks,
        "originals": originals,
        "calibration": calibration,
        "total": originals + calibration + (unlearning + attacks) / jobs,
        "jobs": jobs,
        "extrapolated": sorted(extrapolated),
        "by_dataset": dict(by_dataset),
        "pilot_wall": run.get("wall_seconds"),
        "pilot_cells": len(cell_files),
        "pilot_finished": bool(run),
    }
