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
import math
import numbers
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from labelleak import LabelleakError, metrics
from labelleak.store import atomic_write_bytes
from labelleak.unlearning.forgetting import met_goal


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
    return rows, load_utility(results_dir)


def load_utility(results_dir: str | Path) -> pd.DataFrame:
    """Read ``utility.csv`` of a results directory (empty when it has none)."""
    utility_path = Path(results_dir) / "utility.csv"
    try:
        return pd.read_csv(utility_path) if utility_path.is_file() else pd.DataFrame()
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


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


def per_seed_summary(rows: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """:func:`summary_table` over ``by``, plus the exact-set ASR of each θ_o seed (``seeds``, a dict
    seed -> ASR) and their ``spread`` (max - min). The targets of one seed share θ_o and its shadow
    models, so the seeds, not the targets, are the independent replicates: the pooled Wilson
    interval treats targets as independent and can be narrower than the seeds' disagreement."""
    pooled = summary_table(rows, by)
    per_seed: dict[tuple, dict[int, float]] = {}
    for keys, group in rows.groupby([*by, "seed"], sort=False, dropna=False):
        *group_keys, seed = keys
        per_seed.setdefault(tuple(group_keys), {})[int(seed)] = float(group["success"].astype(bool).mean())
    seeds = [per_seed.get(tuple(r[b] for b in by), {}) for r in pooled.to_dict("records")]
    return pooled.assign(seeds=seeds, spread=[max(v.values()) - min(v.values()) if v else float("nan") for v in seeds])


def fmt_seeds(s: dict[str, Any] | pd.Series, seeds: Sequence[int] | None = None) -> str:
    """``a / b / c% (spread d)``: a :func:`per_seed_summary` line's ASR per seed, in seed order; with
    ``seeds``, one slot per seed of the run, "–" where that seed has no target in the line."""
    if not s["n"]:
        return "–"
    order = sorted(seeds) if seeds is not None else sorted(s["seeds"])
    values = [f"{100 * s['seeds'][seed]:.0f}" if seed in s["seeds"] else "–" for seed in order]
    return " / ".join(values) + f"% (spread {100 * s['spread']:.0f})"


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


#: how a partial setting's rows are split: whether the forgotten classes C lay among A's classes
FORGOTTEN_IN_AUX = {"all": "C in A", "some": "C partly in A", "none": "C not in A"}


def _partial(rows: pd.DataFrame) -> pd.Series:
    """True for the rows of partial knowledge settings (A held a random subset of the classes)."""
    if "knowledge_kind" not in rows:  # results written before knowledge settings had kinds
        return pd.Series(False, index=rows.index)
    return rows["knowledge_kind"] == "partial"


def row_label(rows: pd.DataFrame) -> pd.Series:
    """The attack label, with the knowledge setting appended when a run used several; the rows of a
    partial setting always carry it, and whether C lay in A ("C in A", "C partly in A", "C not in
    A"), because a partial A tells the attacker nothing about C only as long as the two are read apart."""
    labels = rows["attack_label"]
    if rows["knowledge"].nunique() > 1:
        labels = labels + " / " + rows["knowledge"].astype(str)
    partial = _partial(rows)
    if partial.any():
        split = rows["attack_label"] + " / " + rows["knowledge"].astype(str)
        split = split + " (" + rows["forgotten_in_aux"].map(FORGOTTEN_IN_AUX) + ")"
        labels = labels.where(~partial, split)
    return labels


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
    """The row labels (:func:`row_label`) of ``rows`` in :func:`attack_order`, then in the order the
    knowledge settings first appear, a partial setting's rows as "C in A", "partly", "not in A"."""
    order = {lab: i for i, lab in enumerate(attack_order(rows))}
    settings = {name: i for i, name in enumerate(dict.fromkeys(rows["knowledge"]))}
    split = {value: i for i, value in enumerate(FORGOTTEN_IN_AUX)}
    ranked = rows.assign(
        label=row_label(rows),
        _attack=rows["attack_label"].map(order),
        _setting=rows["knowledge"].map(settings),
        _split=rows["forgotten_in_aux"].map(split).where(_partial(rows), 0) if "forgotten_in_aux" in rows else 0,
    ).sort_values(["_attack", "_setting", "_split"], kind="stable")
    return list(dict.fromkeys(ranked["label"]))


def aux_class_list(value: Any) -> list[int]:
    """The classes of a results row's ``aux_classes``: "0 2 5" (a single class reads back from the
    CSV as a number, an empty field as NaN)."""
    if isinstance(value, numbers.Real):
        return [] if math.isnan(float(value)) else [int(float(value))]
    return [int(c) for c in str(value).split()]


def guess_missing_from_aux(truth: Sequence[int], aux_classes: Sequence[int], *, num_classes: int) -> float:
    """The exact-set success rate of naming |C| classes uniformly at random among those missing
    from A: 1 / C(m, |C|) when C lies among the m missing classes, else 0. What the draw of a
    partial A alone gives an attacker that guesses "the forgotten classes are the ones A lacks"."""
    missing = set(range(num_classes)) - set(aux_classes)
    if not set(truth) <= missing:
        return 0.0
    return 1.0 / math.comb(len(missing), len(truth))


def partial_reference_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, partial knowledge setting, |C|): the targets, how many had C in A, partly in A
    and not in A, the mean :func:`guess_missing_from_aux` over the targets and the chance level
    1 / C(K, |C|). Empty when no row comes from a partial setting."""
    partial = rows[_partial(rows)].drop_duplicates(["cell", "knowledge"])
    records = []
    for (dataset, setting, size), group in partial.groupby(["dataset", "knowledge", "n_forget"], sort=False):
        k = len(json.loads(group["scores"].iloc[0]))
        guesses = [
            guess_missing_from_aux(_classes(t), aux_class_list(a), num_classes=k)
            for t, a in zip(group["truth"], group["aux_classes"])
        ]
        counts = group["forgotten_in_aux"].value_counts()
        records.append(
            {
                "dataset": dataset,
                "knowledge": setting,
                "n_forget": int(size),
                "n": len(group),
                **{FORGOTTEN_IN_AUX[v]: int(counts.get(v, 0)) for v in FORGOTTEN_IN_AUX},
                "guess_missing": sum(guesses) / len(guesses),
                "chance": metrics.random_guess_rate(k, int(size)),
            }
        )
    return pd.DataFrame(records)


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


#: what identifies a target's θ_o and forget set in ``utility.csv``: Retrain's row with the same
#: values is the target's reference for the unlearning goal
GOAL_REFERENCE_KEYS = ("experiment", "dataset", "arch", "seed", "train_per_class", "forget")


def met_unlearning_goal(utility: pd.DataFrame) -> dict[str, bool]:
    """Per target (cell): whether it met the unlearning goal (:func:`labelleak.unlearning.met_goal`)
    against Retrain's retain test accuracy on the same θ_o and forget set. Targets without a Retrain
    reference in the results are left out."""
    if utility.empty or "method" not in utility or not utility["method"].eq("retrain").any():
        return {}
    keys = [k for k in GOAL_REFERENCE_KEYS if k in utility]
    # NaN keys (a field a config left unset) must still match each other
    filled = utility.assign(**{k: utility[k].astype(str) for k in keys})
    reference = filled[filled["method"] == "retrain"].groupby(keys)["retain_test_acc"].mean().rename("reference")
    merged = filled.join(reference, on=keys)
    return {
        cell: met_goal(forget_test_acc=forget, retain_test_acc=retain, reference_retain_acc=ref)
        for cell, forget, retain, ref in zip(
            merged["cell"], merged["forget_test_acc"], merged["retain_test_acc"], merged["reference"]
        )
        if not math.isnan(ref)
    }
