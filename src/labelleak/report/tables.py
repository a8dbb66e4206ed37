"""Results tables: the tidy CSVs a run writes and the summaries the report shows.

``results.csv`` has one row per (target, attack variant, knowledge setting) with every config
field (experiment, dataset, arch, seed, method and its parameters, forget set, attack and its
options, knowledge), the per-class scores, Ĉ (``predicted``), C (``truth``), ``success`` (Ĉ == C),
the rank of the true class(es), precision/recall/F1 of Ĉ, queries and seconds. ``utility.csv`` has
one row per target: forget / retain / overall test accuracy of θ_u, θ_o's test accuracy, the
unlearning wall time.

Summaries group rows and compute, per group, n, ASR with its Wilson 95% interval, the chance
level, top-1/top-3, AUC, mean rank, precision, recall (:func:`labelleak.metrics.summarize`).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from labelleak import LabelleakError, metrics
from labelleak.store import atomic_write_bytes


class ResultsError(LabelleakError):
    """A results directory is missing or holds no results."""


def write_results(results_dir: Path, cell_files: Iterable[Path]) -> tuple[Path, Path]:
    """Collect finished cell files into ``results.csv`` and ``utility.csv`` (atomically)."""
    rows, utility = [], []
    for path in cell_files:
        if not path.is_file():
            continue
        data = json.loads(path.read_text())
        rows.extend(data["rows"])
        utility.append(data["utility"])
    results = results_dir / "results.csv"
    utility_path = results_dir / "utility.csv"
    _write_csv(results, pd.DataFrame(rows))
    _write_csv(utility_path, pd.DataFrame(utility))
    return results, utility_path


def _write_csv(path: Path, frame: pd.DataFrame) -> None:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    atomic_write_bytes(path, buffer.getvalue().encode())


def load_results(results_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read ``results.csv`` and ``utility.csv`` of a results directory."""
    results_dir = Path(results_dir)
    path = results_dir / "results.csv"
    if not path.is_file():
        raise ResultsError(f"{results_dir} holds no results.csv; run `labelleak run CONFIG --out {results_dir}` first")
    try:
        rows = pd.read_csv(path, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        raise ResultsError(f"{path} is empty: the run finished no cell") from None
    utility_path = results_dir / "utility.csv"
    try:
        utility = pd.read_csv(utility_path) if utility_path.is_file() else pd.DataFrame()
    except pd.errors.EmptyDataError:
        utility = pd.DataFrame()
    return rows, utility


def _classes(text: Any) -> list[int]:
    return [int(c) for c in str(text).split("+") if c != ""]


def summarize_group(group: pd.DataFrame, *, num_classes: int) -> dict[str, float]:
    """All metrics of one group of rows (one row per target)."""
    scores = [json.loads(s) for s in group["scores"]]
    predicted = [_classes(p) for p in group["predicted"]]
    truths = [_classes(t) for t in group["truth"]]
    out = metrics.summarize(scores=scores, predicted=predicted, truths=truths, num_classes=num_classes)
    queries = pd.to_numeric(group["queries"], errors="coerce")
    out["queries"] = float(queries.mean()) if queries.notna().any() else float("nan")
    out["seconds"] = float(group["seconds"].mean())
    return out


def summary_table(rows: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """One line per group of ``by`` columns with n, ASR (+ Wilson interval), chance and the other metrics."""
    records = []
    for keys, group in rows.groupby(list(by), sort=False, dropna=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        k = len(json.loads(group["scores"].iloc[0]))
        records.append({**dict(zip(by, keys)), **summarize_group(group, num_classes=k)})
    return pd.DataFrame(records)


def set_size_confusion(rows: pd.DataFrame) -> pd.DataFrame:
    """Per ``label`` and true set size ``n_forget``: n and the number of targets with each decided
    size |Ĉ| (columns "1", "2", "3" and "4+"), labels in :func:`ordered_labels` order."""
    decided = rows["predicted"].map(lambda p: min(len(_classes(p)), 4))
    frame = rows.assign(decided=decided.map(lambda d: "4+" if d == 4 else str(d)))
    table = pd.crosstab([frame["label"], frame["n_forget"]], frame["decided"])
    table = table.reindex(columns=["1", "2", "3", "4+"], fill_value=0)
    table.insert(0, "n", table.sum(axis=1))
    table = table.reset_index()
    order = {label: i for i, label in enumerate(ordered_labels(rows))}
    return table.sort_values(["label", "n_forget"], key=lambda c: c.map(order) if c.name == "label" else c)


#: the cheap reference attacks every grid runs beside the paper's (docs/results, "Baselines")
BASELINES = ("random-guess", "noise-frequency", "noise-logprob", "accuracy-probe", "hu-probe")


def attack_order(rows: pd.DataFrame) -> list[str]:
    """Attack labels in a stable reading order: the paper's attacks first, then the baselines."""
    labels = list(dict.fromkeys(rows["attack_label"]))
    return sorted(labels, key=lambda lab: (lab.split(" ")[0] in BASELINES, labels.index(lab)))


def baseline_comparison(rows: pd.DataFrame) -> dict[str, Any] | None:
    """The best baseline against every other attack variant on ``rows`` (one group of targets).

    Returns None when ``rows`` lack a baseline or an attack; else the best baseline's label and
    summary, the attack labels it ties or beats (its exact-set ASR at least theirs) with their
    ASR, and those it does not.
    """
    labelled = rows.assign(label=row_label(rows))
    table = summary_table(labelled, ["label"])
    is_baseline = table["label"].str.split(" ").str[0].isin(BASELINES)
    baselines, attacks = table[is_baseline], table[~is_baseline]
    if baselines.empty or attacks.empty:
        return None
    best = baselines.sort_values("asr", ascending=False, kind="stable").iloc[0]
    matched = attacks["asr"] <= best["asr"]
    return {
        "baseline": best["label"],
        "summary": best,
        "tied_or_beaten": list(zip(attacks.loc[matched, "label"], attacks.loc[matched, "asr"])),
        "ahead": list(zip(attacks.loc[~matched, "label"], attacks.loc[~matched, "asr"])),
    }


def row_label(rows: pd.DataFrame) -> pd.Series:
    """The attack label, with the knowledge setting appended when a run used several."""
    if rows["knowledge"].nunique() > 1:
        return rows["attack_label"] + " / " + rows["knowledge"].astype(str)
    return rows["attack_label"]


def fmt_asr(s: dict[str, Any] | pd.Series) -> str:
    """``ASR% [low–high] n=…`` for one summary line."""
    if not s["n"]:
        return "–"
    return f"{100 * s['asr']:.0f}% [{100 * s['asr_low']:.0f}–{100 * s['asr_high']:.0f}] n={int(s['n'])}"


def fmt_set(s: dict[str, Any] | pd.Series) -> str:
    """:func:`fmt_asr` plus the precision and recall of the decided sets, for multi-class cells."""
    if not s["n"]:
        return "–"
    return f"{fmt_asr(s)}; P {100 * s['precision']:.0f}% R {100 * s['recall']:.0f}%"


def ordered_labels(rows: pd.DataFrame) -> list[str]:
    """The row labels (:func:`row_label`) of ``rows`` in :func:`attack_order`."""
    order = {lab: i for i, lab in enumerate(attack_order(rows))}
    ranked = rows.assign(label=row_label(rows)).sort_values("attack_label", key=lambda c: c.map(order), kind="stable")
    return list(dict.fromkeys(ranked["label"]))


def asr_matrix(rows: pd.DataFrame) -> tuple[list[str], list[str], dict[tuple[str, str], dict[str, Any]]]:
    """(row labels, methods, {(label, method): summary}) for the paper-shaped table (attack × method)."""
    labels = ordered_labels(rows)
    rows = rows.assign(label=row_label(rows))
    methods = list(dict.fromkeys(rows["method"]))
    table = summary_table(rows, ["label", "method"])
    cells = {(r["label"], r["method"]): r for r in table.to_dict("records")}
    overall = summary_table(rows, ["label"])
    for r in overall.to_dict("records"):
        cells[(r["label"], "all methods")] = r
    return labels, methods + ["all methods"], cells


def utility_table(utility: pd.DataFrame) -> pd.DataFrame:
    """Mean utility per (dataset, method): forget / retain / test accuracy, seconds, n targets."""
    if utility.empty:
        return utility
    columns = [
        c for c in ("forget_test_acc", "retain_test_acc", "test_acc", "forget_train_acc", "seconds") if c in utility
    ]
    table = utility.groupby(["dataset", "method"], sort=False)[columns].mean().reset_index()
    table["n"] = utility.groupby(["dataset", "method"], sort=False).size().values
    originals = utility.groupby("dataset", sort=False)["original_test_acc"].mean()
    table["original_test_acc"] = table["dataset"].map(originals)
    return table


def markdown_cell(value: Any) -> str:
    """``value`` as one Markdown table cell: a literal ``|`` (as in ``|C|``) would end the cell, so it is escaped."""
    return str(value).replace("|", "\\|")


def markdown_table(headers: Sequence[str], body: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(map(markdown_cell, headers)) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(markdown_cell(c) for c in row) + " |" for row in body]
    return "\n".join(lines)
