"""Results that the code would no longer produce: targets unlearned with settings that are not what
their run's config resolves to today, and calibrated rows fit on shadow models unlearned so.

A results folder records, per target, the unlearning parameters it was made with (``params`` in
``utility.csv``) and the config it ran (``config.json``). When a method's per-dataset defaults
change later (a tuned entry, a new option), the folder's rows stay as they were, while a rerun of
its command recomputes those cells under the new settings. :func:`stale_methods` names each
(dataset, method) whose recorded parameters differ from what the config resolves to now, and which
parameters changed; ``labelleak report`` states it above the tables.

The attacker's shadow models are unlearned too, by the config's shadow methods with their
per-dataset defaults, and every calibrated row (Youden, tree and calibrated deciders, calibrated
inversion criteria) of every target is fit on them. :func:`stale_shadows` compares what they ran
with (``shadow_params`` in ``run.json``; for a run made before that record, the same run's targets
of the same method unlearned with its defaults) with today's defaults.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from labelleak import LabelleakError
from labelleak.experiments.config import resolve_method_params
from labelleak.report.markdown import markdown_table
from labelleak.report.tables import load_utility
from labelleak.targets import build_unlearner


def _one_line(changed: Mapping[str, tuple[Any, Any]]) -> str:
    """Changed parameters as "name: then → now; ..."."""
    return "; ".join(f"{k}: {then!r} → {now!r}" for k, (then, now) in sorted(changed.items()))


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
        return _one_line(self.changed)

    def describe(self) -> str:
        return f"{self.dataset} / {self.method} ({self.targets} targets): {self.changes()}"


@dataclass(frozen=True)
class StaleShadows:
    """One (dataset, shadow method) of a results folder whose shadow models a rerun would unlearn
    differently, or whose parameters the folder does not tell (``changed`` is empty then).

    Attributes:
        dataset: the dataset's name.
        method: the shadow models' unlearning method.
        rows: the dataset's calibrated result rows, fit on those shadows.
        changed: each parameter that differs, as (as run, now).
        source: where the parameters as run come from: "run.json", "the targets of this method"
            (a run that predates the record) or "" (not recorded).
    """

    dataset: str
    method: str
    rows: int
    changed: Mapping[str, tuple[Any, Any]]
    source: str

    def changes(self) -> str:
        """The changed parameters in one line, with where the recorded ones come from."""
        if not self.source:
            return "not recorded in this folder"
        text = _one_line(self.changed)
        return text if self.source == "run.json" else f"{text} (as run: from {self.source})"

    def describe(self) -> str:
        return f"{self.dataset} / shadows unlearned by {self.method} ({self.rows} calibrated rows): {self.changes()}"


@dataclass(frozen=True)
class Staleness:
    """What of a results folder a rerun of its command would compute differently."""

    targets: list[StaleMethod]
    shadows: list[StaleShadows]

    def __bool__(self) -> bool:
        return bool(self.targets or self.shadows)

    def warnings(self) -> list[str]:
        """One line per stale target method and per changed or unrecorded shadow method."""
        return [f"unlearned with settings that are no longer the config's: {s.describe()}" for s in self.targets] + [
            f"calibrated on shadows {'whose settings changed' if s.source else 'of unknown settings'}: {s.describe()}"
            for s in self.shadows
        ]


#: the columns of the table that lists stale methods (the report's, a RUN.md's)
HEADERS = ("dataset", "method", "targets", "changed (recorded → now)")
#: the columns of the table that lists shadow methods whose settings changed or are not recorded
SHADOW_HEADERS = ("dataset", "shadow method", "calibrated rows", "changed (as run → now)")


def table_rows(stale: list[StaleMethod]) -> list[list[Any]]:
    """One row per stale (dataset, method), under :data:`HEADERS`."""
    return [[s.dataset, s.method, s.targets, s.changes()] for s in stale]


def shadow_rows(stale: list[StaleShadows]) -> list[list[Any]]:
    """One row per (dataset, shadow method), under :data:`SHADOW_HEADERS`."""
    return [[s.dataset, s.method, s.rows, s.changes()] for s in stale]


def markdown(stale: Staleness) -> str:
    """The Markdown tables of :func:`table_rows` and :func:`shadow_rows` ("" when nothing is stale)."""
    tables = []
    if stale.targets:
        tables.append(markdown_table(list(HEADERS), table_rows(stale.targets)))
    if stale.shadows:
        tables.append(markdown_table(list(SHADOW_HEADERS), shadow_rows(stale.shadows)))
    return "\n\n".join(tables)


def check(results_dir: str | Path) -> Staleness:
    """:func:`stale_methods` and :func:`stale_shadows` of ``results_dir``, reading its files once."""
    config, utility = _config_and_utility(results_dir)
    return Staleness(
        targets=_stale_methods(config, utility), shadows=_stale_shadows(Path(results_dir), config, utility)
    )


def _config_and_utility(results_dir: str | Path) -> tuple[dict[str, Any] | None, pd.DataFrame]:
    config_path = Path(results_dir) / "config.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else None
    return config, load_utility(results_dir)


def _differences(recorded: Mapping[str, Any], now: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {k: (recorded.get(k), now.get(k)) for k in sorted(set(recorded) | set(now)) if recorded.get(k) != now.get(k)}


def _today(method: str, params: dict[str, Any], dataset: str) -> dict[str, Any] | str:
    """``method``'s resolved parameters on ``dataset`` today, through JSON so that tuples and floats
    compare as recorded text does; the first line of the refusal when today's code refuses them."""
    try:
        return json.loads(json.dumps(build_unlearner(method, params, dataset=dataset).params()))
    except LabelleakError as err:  # a method or a parameter that today's code no longer has
        return f"refused today: {str(err).splitlines()[0]}"


def stale_methods(results_dir: str | Path) -> list[StaleMethod]:
    """Every (dataset, method) of ``results_dir`` whose recorded unlearning parameters differ from
    those its ``config.json`` resolves to with today's defaults (none when the folder has no
    ``config.json`` or no recorded parameters)."""
    return _stale_methods(*_config_and_utility(results_dir))


def _stale_methods(config: dict[str, Any] | None, utility: pd.DataFrame) -> list[StaleMethod]:
    if config is None or "params" not in utility.columns:
        return []
    stale = []
    for (dataset, method), group in utility.groupby(["dataset", "method"], sort=True):
        now = _today(str(method), resolve_method_params(config, dataset, method), str(dataset))
        if isinstance(now, str):
            changed: dict[str, tuple[Any, Any]] = {"settings": ("as run", now)}
        else:
            changed = {}
            for text in group["params"].dropna().unique():
                changed.update(_differences(json.loads(text), now))
        if changed:
            stale.append(StaleMethod(dataset=str(dataset), method=str(method), targets=len(group), changed=changed))
    return stale


def stale_shadows(results_dir: str | Path) -> list[StaleShadows]:
    """Every (dataset, shadow method) of ``results_dir`` whose shadow models were unlearned with
    parameters other than today's defaults, or whose parameters the folder does not tell: it
    records none (``shadow_params`` in ``run.json``) and no target of the run was unlearned by the
    same method with its defaults. None when the folder has no ``config.json`` or no calibrated row.
    """
    return _stale_shadows(Path(results_dir), *_config_and_utility(results_dir))


def _stale_shadows(results_dir: Path, config: dict[str, Any] | None, utility: pd.DataFrame) -> list[StaleShadows]:
    results_path = results_dir / "results.csv"
    if config is None or not results_path.is_file():
        return []
    rows = pd.read_csv(results_path, usecols=lambda column: column in ("dataset", "calibration"))
    if "calibration" not in rows.columns:
        return []
    calibrated = rows.dropna(subset=["calibration"])
    if calibrated.empty:
        return []
    run_path = results_dir / "run.json"
    recorded = json.loads(run_path.read_text()).get("shadow_params", {}) if run_path.is_file() else {}
    stale = []
    for dataset, group in calibrated.groupby("dataset", sort=True):
        for method in config.get("shadow", {}).get("methods", []):
            now = _today(method, {}, str(dataset))
            if str(dataset) in recorded:
                then, source = recorded[str(dataset)].get(method), "run.json"
            else:
                then, source = _defaults_as_run(config, utility, str(dataset), method), "the targets of this method"
            changed: dict[str, tuple[Any, Any]]
            if then is None:
                changed, source = {}, ""
            else:
                changed = {"settings": ("as run", now)} if isinstance(now, str) else _differences(then, now)
                if not changed:
                    continue
            stale.append(
                StaleShadows(dataset=str(dataset), method=method, rows=len(group), changed=changed, source=source)
            )
    return stale


def _defaults_as_run(config: Mapping[str, Any], utility: pd.DataFrame, dataset: str, method: str) -> dict | None:
    """The parameters ``method`` had by default on ``dataset`` when the run was made, read off its
    targets of that method when the config set none of them (the shadows, unlearned with the
    method's defaults in the same run, had the same); None when no such target tells."""
    if "params" not in utility.columns or resolve_method_params(config, dataset, method):
        return None
    texts = utility.loc[(utility["dataset"] == dataset) & (utility["method"] == method), "params"].dropna().unique()
    return json.loads(texts[0]) if len(texts) == 1 else None
