"""Results that the code would no longer produce: targets unlearned with settings that are not what
their run's config resolves to today.

A results folder records, per target, the unlearning parameters it was made with (``params`` in
``utility.csv``) and the config it ran (``config.json``). When a method's per-dataset defaults
change later (a tuned entry, a new option), the folder's rows stay as they were, while a rerun of
its command recomputes those cells under the new settings. :func:`stale_methods` names each
(dataset, method) whose recorded parameters differ from what the config resolves to now, and which
parameters changed; ``labelleak report`` states it above the tables.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labelleak import LabelleakError
from labelleak.experiments.config import resolve_method_params
from labelleak.report.tables import load_utility, markdown_table
from labelleak.targets import build_unlearner


@dataclass(frozen=True)
class StaleMethod:
    """One (dataset, method) of a results folder whose targets a rerun would unlearn differently.

    Attributes:
        dataset: the dataset's name.
        method: the unlearning method's name.
        targets: how many of the folder's targets it covers.
        changed: each parameter that differs, as (recorded, now); a parameter one side lacks is None.
    """

    dataset: str
    method: str
    targets: int
    changed: Mapping[str, tuple[Any, Any]]

    def changes(self) -> str:
        """The changed parameters in one line: "name: recorded → now; ..."."""
        return "; ".join(f"{k}: {then!r} → {now!r}" for k, (then, now) in sorted(self.changed.items()))

    def describe(self) -> str:
        return f"{self.dataset} / {self.method} ({self.targets} targets): {self.changes()}"


#: the columns of the table that lists stale methods (the report's, a RUN.md's)
HEADERS = ("dataset", "method", "targets", "changed (recorded → now)")


def table_rows(stale: list[StaleMethod]) -> list[list[Any]]:
    """One row per stale (dataset, method), under :data:`HEADERS`."""
    return [[s.dataset, s.method, s.targets, s.changes()] for s in stale]


def markdown(stale: list[StaleMethod]) -> str:
    """The Markdown table of :func:`table_rows` ("" when nothing is stale)."""
    return markdown_table(list(HEADERS), table_rows(stale)) if stale else ""


def stale_methods(results_dir: str | Path) -> list[StaleMethod]:
    """Every (dataset, method) of ``results_dir`` whose recorded unlearning parameters differ from
    those its ``config.json`` resolves to with today's defaults (none when the folder has no
    ``config.json`` or no recorded parameters)."""
    results_dir = Path(results_dir)
    config_path = results_dir / "config.json"
    utility = load_utility(results_dir)
    if not config_path.is_file() or "params" not in utility.columns:
        return []
    config = json.loads(config_path.read_text())
    stale = []
    for (dataset, method), group in utility.groupby(["dataset", "method"], sort=True):
        try:
            unlearner = build_unlearner(method, resolve_method_params(config, dataset, method), dataset=dataset)
        except LabelleakError as err:  # a method or a parameter that today's code no longer has
            refused = {"settings": ("as run", f"refused today: {str(err).splitlines()[0]}")}
            stale.append(StaleMethod(dataset=str(dataset), method=str(method), targets=len(group), changed=refused))
            continue
        # through JSON, so tuples and floats compare as the recorded text does
        now = json.loads(json.dumps(unlearner.params()))
        changed: dict[str, tuple[Any, Any]] = {}
        for text in group["params"].dropna().unique():
            recorded = json.loads(text)
            for key in sorted(set(recorded) | set(now)):
                if recorded.get(key) != now.get(key):
                    changed[key] = (recorded.get(key), now.get(key))
        if changed:
            stale.append(StaleMethod(dataset=str(dataset), method=str(method), targets=len(group), changed=changed))
    return stale
