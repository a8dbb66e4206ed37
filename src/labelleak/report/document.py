"""The report of a results directory: ``report.md`` and ``report.html`` with figures under ``figures/``.

Up front, the knowledge settings and, for partial ones (A held a random subset of the classes),
how often C lay in A and what guessing among the classes missing from A gives. Sections, per
dataset: single-class ASR in the paper's shape (attack × unlearning method, each
cell ``ASR [95% Wilson interval] n``, chance level in the caption), the attack summary (ASR, top-1,
top-3, AUC, mean rank, queries, seconds), the multi-class tables (exact-set ASR, precision,
recall, F1 per forget-set size, pooled and per unlearning method), the ASR heatmap, ASR against
the query budget when a budget was varied, and prototype grids of the inversion attacks; then the
utility of every unlearning method.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from labelleak.metrics import random_guess_rate
from labelleak.report import figures, staleness
from labelleak.report.markdown import markdown_table
from labelleak.report.tables import (
    BASELINES,
    FORGOTTEN_IN_AUX,
    asr_matrix,
    baseline_comparison,
    fmt_asr,
    fmt_seeds,
    fmt_set,
    load_results,
    met_unlearning_goal,
    ordered_labels,
    partial_reference_table,
    per_seed_summary,
    row_label,
    set_size_confusion,
    summary_table,
    utility_table,
)
from labelleak.store import atomic_write_bytes
from labelleak.unlearning.forgetting import GOAL_FORGET_ACC, GOAL_RETAIN_TOLERANCE

Block = tuple  # ("h1"|"h2"|"h3"|"p"|"code", text) | ("table", headers, rows) | ("img", path, caption)


def _pct(value: float) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.0f}%"


def _num(value: float, digits: int = 2) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _matrix(labels: list[str], columns: list[str], cells: dict[tuple[str, str], Any], *, fmt=fmt_asr) -> Block:
    """An attack × ``columns`` table block: one row per label, ``fmt`` of each summary, "–" where none."""
    return (
        "table",
        ["attack"] + columns,
        [[label] + [fmt(cells[(label, c)]) if (label, c) in cells else "–" for c in columns] for label in labels],
    )


def _in_order(columns: list[str], order: list[str]) -> list[str]:
    """``columns`` (methods, then "all methods") sorted by ``order``, so that every table of a dataset
    lists the unlearning methods in the same order, whichever targets it keeps."""
    rank = {method: i for i, method in enumerate(order)}
    return sorted(columns, key=lambda c: (c == "all methods", rank.get(c, len(rank))))


def _stale_blocks(stale: staleness.Staleness) -> list[Block]:
    """What a rerun would compute differently (:mod:`labelleak.report.staleness`), if anything."""
    blocks: list[Block] = []
    if stale.targets:
        blocks += [
            (
                "p",
                f"**Settings changed since this run:** {sum(s.targets for s in stale.targets)} targets were "
                "unlearned with parameters that are no longer what the config resolves to (a method's "
                "per-dataset defaults changed). The tables below are this run's; a rerun of its command would "
                "unlearn these targets again under today's settings, and its rows for them can differ (an "
                "option added since that only names the old behaviour is listed too).",
            ),
            ("table", list(staleness.HEADERS), staleness.table_rows(stale.targets)),
        ]
    if stale.shadows:
        blocks += [
            (
                "p",
                "**Shadow models' settings:** the calibrated rows (Youden, tree and calibrated deciders, "
                "calibrated inversion criteria) of every target of these datasets were fit on the attacker's "
                "shadow models, unlearned by these methods with parameters that are not today's defaults, or "
                "that this folder does not record. A rerun fits them on shadows unlearned under today's "
                "settings, and those rows can differ.",
            ),
            ("table", list(staleness.SHADOW_HEADERS), staleness.shadow_rows(stale.shadows)),
        ]
    return blocks


def build_blocks(results_dir: Path, stale: staleness.Staleness) -> list[Block]:
    rows, utility = load_results(results_dir)
    run = json.loads((results_dir / "run.json").read_text()) if (results_dir / "run.json").is_file() else {}
    fig_dir = results_dir / "figures"
    blocks: list[Block] = [("h1", f"labelleak results: {run.get('experiment', rows['experiment'].iloc[0])}")]
    if run:
        blocks.append(("p", "Regenerate with:"))
        blocks.append(("code", run.get("command") or f"labelleak run {run.get('config_source', 'CONFIG')}"))
        minutes = run.get("wall_seconds", float("nan")) / 60
        blocks.append(
            (
                "p",
                f"git revision `{run.get('git_revision') or 'unknown'}`; machine: {run.get('machine', '')}; "
                f"{run.get('jobs', 1)} job(s); finished {run.get('finished_utc', '')}; "
                f"wall time of this invocation {minutes:.1f} min "
                f"({run.get('cells_skipped', 0)} of {run.get('cells_total', 0)} cells were already finished).",
            )
        )
        if run.get("datasets_skipped"):
            blocks.append(
                (
                    "p",
                    f"**Not run:** {', '.join(run['datasets_skipped'])}, optional in the config, whose files were "
                    "missing (`labelleak datasets` says where they are looked for and how to fetch them).",
                )
            )
    blocks.extend(_stale_blocks(stale))
    blocks.append(
        (
            "p",
            "ASR = share of targets whose decided set Ĉ equals the forgotten set C exactly, with the "
            "95% Wilson interval and n (targets). Chance = the exact-match rate of a uniformly random "
            "guess of the right size. Youden and tree deciders and calibrated inversion criteria were "
            "fit on the attacker's shadow models only, never on the reported targets.",
        )
    )
    knowledge = rows.drop_duplicates("knowledge")[["knowledge", "knowledge_description"]]
    blocks.append(
        (
            "table",
            ["knowledge setting", "what the attacker held (first target)"],
            [[k, d] for k, d in knowledge.itertuples(index=False)],
        )
    )
    blocks += _partial_reference(rows)

    blocks += _overview(rows, utility)
    blocks += _every_target_overview(rows, utility)
    blocks += _baselines(rows, utility)

    for dataset, part in rows.groupby("dataset", sort=False):
        k = len(json.loads(part["scores"].iloc[0]))
        blocks.append(("h2", f"Dataset: {dataset}"))
        method_order = list(dict.fromkeys(part["method"]))
        singles = part[part["n_forget"] == 1]
        if not singles.empty:
            labels, methods, cells = asr_matrix(singles)
            methods = _in_order(methods, method_order)
            chance = random_guess_rate(k, 1)
            blocks.append(("h3", "Single-class unlearning: ASR (attack × unlearning method)"))
            blocks.append(("p", f"Chance level {_pct(chance)} (1/{k}). Each cell: ASR [95% interval] n."))
            blocks.append(_matrix(labels, methods, cells))
            effective = _unlearned(singles, utility)
            if 0 < len(effective) < len(singles):
                labels_u, methods_u, cells_u = asr_matrix(effective)
                methods_u = _in_order(methods_u, method_order)
                blocks.append(
                    (
                        "h3",
                        f"Single-class unlearning, targets whose forget-class test accuracy is "
                        f"≤ {EFFECTIVE_FORGET_ACC:.0%}: ASR (attack × unlearning method)",
                    )
                )
                blocks.append(
                    (
                        "p",
                        "The same table without the targets whose method did not forget (they say "
                        "little about leakage after unlearning); n counts the targets kept.",
                    )
                )
                blocks.append(_matrix(labels_u, methods_u, cells_u))
            detail = summary_table(singles.assign(label=row_label(singles)), ["label"])
            order = {label: i for i, label in enumerate(labels)}
            detail = detail.sort_values("label", key=lambda c: c.map(order))
            blocks.append(("h3", "Single-class unlearning: attack summary over all methods"))
            blocks.append(
                (
                    "table",
                    ["attack", "n", "ASR [95%]", "top-1", "top-3", "AUC", "mean rank", "queries", "s/target"],
                    [
                        [
                            r["label"],
                            int(r["n"]),
                            fmt_asr(r).rsplit(" n=", 1)[0],
                            _pct(r["top1"]),
                            _pct(r["top3"]),
                            _num(r["auc"]),
                            _num(r["mean_rank"], 1),
                            _num(r["queries"], 0),
                            _num(r["seconds"], 2),
                        ]
                        for r in detail.to_dict("records")
                    ],
                )
            )
            png = figures.asr_heatmap(
                fig_dir / f"asr_heatmap_{dataset}.png",
                labels=labels,
                methods=methods,
                cells=cells,
                title=f"{dataset}: single-class ASR (%)",
                chance=chance,
            )
            blocks.append(("img", png, f"{dataset}: ASR heatmap, single-class targets"))
            budget_png = figures.asr_vs_budget(
                fig_dir / f"asr_vs_budget_{dataset}.png",
                singles,
                title=f"{dataset}: ASR vs query budget (single-class)",
                chance=chance,
            )
            if budget_png is not None:
                blocks.append(("img", budget_png, f"{dataset}: ASR against the black-box query budget"))
        multi = part[part["n_forget"] > 1]
        if not multi.empty:
            blocks.append(("h3", "Multi-class unlearning"))
            blocks.append(
                (
                    "p",
                    "Exact-set ASR (Ĉ = C), micro-averaged precision / recall / F1 of Ĉ, per forget-set "
                    "size, over all methods. Chance: "
                    + ", ".join(
                        f"|C|={s}: {100 * random_guess_rate(k, s):.2f}%" for s in sorted(multi["n_forget"].unique())
                    ),
                )
            )
            order = {label: i for i, label in enumerate(ordered_labels(multi))}
            forgot = _unlearned(multi, utility)
            for title, chosen in (
                ("", multi),
                (f"Targets whose forget-class test accuracy is ≤ {EFFECTIVE_FORGET_ACC:.0%}:", forgot),
            ):
                if chosen.empty:
                    continue
                table = summary_table(chosen.assign(label=row_label(chosen)), ["label", "n_forget"])
                table = table.sort_values(["n_forget", "label"], key=lambda c: c.map(order) if c.name == "label" else c)
                if title:
                    blocks.append(("p", title))
                blocks.append(
                    (
                        "table",
                        ["attack", "|C|", "n", "exact-set ASR [95%]", "precision", "recall", "F1", "AUC"],
                        [
                            [
                                r["label"],
                                int(r["n_forget"]),
                                int(r["n"]),
                                fmt_asr(r).rsplit(" n=", 1)[0],
                                _pct(r["precision"]),
                                _pct(r["recall"]),
                                _pct(r["f1"]),
                                _num(r["auc"]),
                            ]
                            for r in table.to_dict("records")
                        ],
                    )
                )
            blocks.append(("h3", "Decided set size"))
            blocks.append(
                (
                    "p",
                    "How many classes each attack named (|Ĉ|) against how many were forgotten (|C|), over all "
                    "methods: targets per cell. A decider that cannot name a set puts every target in |Ĉ| = 1.",
                )
            )
            confusion = set_size_confusion(part.assign(label=row_label(part)))
            sizes = [c for c in confusion.columns if c not in ("label", "n_forget", "n")]
            blocks.append(
                (
                    "table",
                    ["attack", "|C|", "n", *(f"|Ĉ|={s}" for s in sizes)],
                    [
                        [r["label"], int(r["n_forget"]), int(r["n"]), *(int(r[s]) for s in sizes)]
                        for r in confusion.to_dict("records")
                    ],
                )
            )
            for size, group in multi.groupby("n_forget"):
                labels, methods, cells = asr_matrix(group)
                methods = _in_order(methods, method_order)
                blocks.append(("h3", f"Multi-class unlearning, |C| = {size}: per unlearning method"))
                blocks.append(
                    (
                        "p",
                        "Each cell: exact-set ASR [95% interval] n; micro-averaged precision (P) and recall (R) of Ĉ.",
                    )
                )
                blocks.append(_matrix(labels, methods, cells, fmt=fmt_set))
        grids = figures.prototype_grids(results_dir, fig_dir, dataset=dataset)
        if grids:
            blocks.append(("h3", "Inversion prototypes"))
            for png, caption in grids:
                blocks.append(("img", png, caption))

    table = utility_table(utility)
    if not table.empty:
        blocks.append(("h2", "Utility of the unlearning methods"))
        blocks.append(
            (
                "p",
                "Mean over targets of θ_u's test accuracy on the forgotten classes (forget), on the "
                "retained classes (retain), overall, and the unlearning wall time. A method works when "
                "forget accuracy is near Retrain's and retain accuracy stays within a few points of θ_o.",
            )
        )
        blocks.append(
            (
                "table",
                ["dataset", "method", "n", "θ_o test", "forget test", "retain test", "test", "forget train", "seconds"],
                [
                    [
                        r["dataset"],
                        r["method"],
                        int(r["n"]),
                        _pct(r["original_test_acc"]),
                        _pct(r["forget_test_acc"]),
                        _pct(r["retain_test_acc"]),
                        _pct(r["test_acc"]),
                        _pct(r.get("forget_train_acc", float("nan"))),
                        _num(r["seconds"], 1),
                    ]
                    for r in table.to_dict("records")
                ],
            )
        )
    return blocks


#: a target counts as unlearned when its forget-class test accuracy is at most this
EFFECTIVE_FORGET_ACC = 0.10


def _unlearned(rows: pd.DataFrame, utility: pd.DataFrame) -> pd.DataFrame:
    """The rows of targets whose forget-class test accuracy is at most :data:`EFFECTIVE_FORGET_ACC`."""
    forget_acc = dict(zip(utility["cell"], utility["forget_test_acc"])) if "cell" in utility else {}
    return rows[rows["cell"].map(forget_acc).le(EFFECTIVE_FORGET_ACC)]


#: how the report names the targets that met the unlearning goal (labelleak.unlearning.forgetting)
GOAL_SCOPE = (
    f"targets that met the unlearning goal (forget-class test accuracy ≤ {GOAL_FORGET_ACC:.0%} and retain "
    f"test accuracy at most {GOAL_RETAIN_TOLERANCE * 100:.0f} points below Retrain's on the same θ_o and "
    "forget set)"
)


def _met_goal(rows: pd.DataFrame, utility: pd.DataFrame) -> pd.DataFrame:
    """The rows of targets that met the unlearning goal (empty when the results hold no Retrain reference)."""
    met = met_unlearning_goal(utility)
    return rows[rows["cell"].map(met).eq(True)]


def _overview(rows: pd.DataFrame, utility: pd.DataFrame) -> list[Block]:
    """Single-class ASR per (attack, dataset) over all methods, on every target and on the unlearned ones.

    A target whose method did not forget (the forgotten class is still recognised) says nothing
    about leakage *after unlearning*, so the second table keeps only targets with forget-class
    test accuracy ≤ 10%; both are shown because which one matters depends on the question.
    """
    singles = rows[rows["n_forget"] == 1]
    if singles.empty or rows["dataset"].nunique() < 2:
        return []
    labels = ordered_labels(singles)
    datasets = list(dict.fromkeys(rows["dataset"]))
    chance = {d: random_guess_rate(len(json.loads(part["scores"].iloc[0])), 1) for d, part in rows.groupby("dataset")}
    return [
        ("h2", "Overview: single-class ASR over all unlearning methods"),
        *_by_dataset(singles, utility, labels, datasets, last_row=["chance"] + [_pct(chance[d]) for d in datasets]),
    ]


def _by_dataset(
    rows: pd.DataFrame,
    utility: pd.DataFrame,
    labels: list[str],
    datasets: list[str],
    *,
    last_row: list[str] | None = None,
) -> list[Block]:
    """ASR per (attack, dataset) on every target of ``rows`` and on those that forgot (forget-class
    test accuracy ≤ :data:`EFFECTIVE_FORGET_ACC`), a caption and a table each; ``last_row`` ends both."""
    blocks: list[Block] = []
    for title, part in (
        ("every target", rows),
        (f"targets whose forget-class test accuracy is ≤ {EFFECTIVE_FORGET_ACC:.0%}", _unlearned(rows, utility)),
        (GOAL_SCOPE, _met_goal(rows, utility)),
    ):
        if part.empty:
            continue
        table = summary_table(part.assign(label=row_label(part)), ["label", "dataset"])
        cells = {(r["label"], r["dataset"]): r for r in table.to_dict("records")}
        blocks.append(("p", f"ASR [95% interval] n, {title}."))
        _, headers, body = _matrix(labels, datasets, cells)
        blocks.append(("table", headers, body + ([last_row] if last_row else [])))
    return blocks


def _every_target_overview(rows: pd.DataFrame, utility: pd.DataFrame) -> list[Block]:
    """Exact-set ASR per (attack, dataset) over every target, single and multi-class pooled, when a
    run has forget sets of several sizes or several θ_o seeds: on every target and on those that
    forgot, per θ_o seed (the seeds are the independent replicates), and per |C| over the datasets."""
    seeds = sorted(rows["seed"].unique()) if "seed" in rows else []
    several_sizes = rows["n_forget"].nunique() > 1 and rows["dataset"].nunique() > 1
    if not several_sizes and len(seeds) < 2:
        return []
    labels = ordered_labels(rows)
    datasets = list(dict.fromkeys(rows["dataset"]))
    sizes = sorted(int(s) for s in rows["n_forget"].unique())
    blocks: list[Block] = [
        ("h2", "Overview: exact-set ASR over every target, single and multi-class"),
        (
            "p",
            "Ĉ = C exactly, pooled over every forget-set size ("
            + ", ".join(f"|C| = {s}" for s in sizes)
            + "), every unlearning method"
            + (f" and every θ_o seed ({', '.join(str(s) for s in seeds)})" if seeds else "")
            + ". Chance differs by |C|: the per-dataset sections give it.",
        ),
    ]
    blocks += _by_dataset(rows, utility, labels, datasets)
    if len(seeds) > 1:
        table = per_seed_summary(rows.assign(label=row_label(rows)), ["label", "dataset"])
        cells = {(r["label"], r["dataset"]): r for r in table.to_dict("records")}
        blocks.append(
            (
                "p",
                f"Per θ_o seed ({' / '.join(str(s) for s in seeds)}), every target: the ASR of each seed's targets "
                "(– where a seed has none in the row), and the spread "
                "(max − min, points). Targets of one seed share θ_o and the shadow models, so a spread wider "
                "than the pooled interval above says the interval is too optimistic.",
            )
        )
        blocks.append(_matrix(labels, datasets, cells, fmt=lambda r: fmt_seeds(r, seeds)))
    if len(sizes) > 1:
        for title, part in (("every target", rows), (GOAL_SCOPE, _met_goal(rows, utility))):
            if part.empty:
                continue
            table = summary_table(
                part.assign(label=row_label(part), size=part["n_forget"].map(_size_name)), ["label", "size"]
            )
            cells = {(r["label"], r["size"]): r for r in table.to_dict("records")}
            blocks.append(("p", f"By forget-set size, over every dataset, {title}."))
            blocks.append(_matrix(labels, [_size_name(s) for s in sizes], cells))
    return blocks


def _size_name(size: int) -> str:
    return f"{size} forgotten {'class' if size == 1 else 'classes'}"


def _baselines(rows: pd.DataFrame, utility: pd.DataFrame) -> list[Block]:
    """Where a cheap baseline ties or beats the attacks, said plainly, per dataset and |C|.

    Read on the targets that forgot (forget-class test accuracy ≤ 10%) when the utility table
    says which they are: on a target that did not forget, every attack and baseline measures the
    unlearning method's failure rather than leakage.
    """
    effective = _unlearned(rows, utility)
    scope = "targets that forgot" if not effective.empty else "every target"
    part_rows = effective if not effective.empty else rows
    lines = []
    for (dataset, size), part in part_rows.sort_values("n_forget", kind="stable").groupby(
        ["dataset", "n_forget"], sort=False
    ):
        found = baseline_comparison(part)
        if found is None:
            continue
        n_attacks = len(found["tied_or_beaten"]) + len(found["ahead"])
        ahead = ", ".join(f"{label} ({_pct(asr)})" for label, asr in found["ahead"]) or "none"
        lines.append(
            f"**{dataset}, |C| = {size}** ({scope}, n = {int(found['summary']['n'])}): the best baseline, "
            f"{found['baseline']}, scores {_pct(found['summary']['asr'])} and ties or beats "
            f"{len(found['tied_or_beaten'])} of {n_attacks} attack variants. Ahead of it: {ahead}."
        )
    if not lines:
        return []
    return [
        ("h2", "Baselines against the attacks"),
        (
            "p",
            "The baselines (" + ", ".join(f"`{b}`" for b in BASELINES) + ") need no weights and little or no "
            "data; an attack that a baseline ties or beats shows no leakage beyond what the baseline already reads.",
        ),
        *[("p", line) for line in lines],
    ]


def _partial_reference(rows: pd.DataFrame) -> list[Block]:
    """For partial knowledge settings: how often C lay in A, and what guessing among the classes
    missing from A gives (the reference the rows split by "C in A" / "C not in A" are read against)."""
    table = partial_reference_table(rows)
    if table.empty:
        return []
    return [
        (
            "p",
            "Partial knowledge settings: A held a random subset of the classes, drawn from the seed alone, "
            "so it is the same for every target of a dataset and seed, and C lay in it or not by chance. "
            "ASR rows of these settings are split by that. Guess missing from A: the exact-set rate of "
            "naming |C| classes uniformly at random among the classes A lacks (1 / C(m, |C|) when C lies "
            "among the m missing classes, else 0), averaged over the targets: what the draw of A alone gives.",
        ),
        (
            "table",
            [
                "dataset",
                "knowledge setting",
                "|C|",
                "targets",
                *FORGOTTEN_IN_AUX.values(),
                "guess missing from A",
                "chance",
            ],
            [
                [
                    r["dataset"],
                    r["knowledge"],
                    int(r["n_forget"]),
                    int(r["n"]),
                    *(int(r[v]) for v in FORGOTTEN_IN_AUX.values()),
                    f"{100 * r['guess_missing']:.1f}%",
                    f"{100 * r['chance']:.1f}%",
                ]
                for r in table.to_dict("records")
            ],
        ),
    ]


def to_markdown(blocks: list[Block], base: Path) -> str:
    out = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            out.append("#" * int(kind[1]) + " " + block[1])
        elif kind == "p":
            out.append(block[1])
        elif kind == "code":
            out.append(f"```\n{block[1]}\n```")
        elif kind == "table":
            out.append(markdown_table(block[1], block[2]))
        elif kind == "img":
            out.append(f"![{block[2]}]({Path(block[1]).relative_to(base).as_posix()})")
    return "\n\n".join(out) + "\n"


def to_html(blocks: list[Block], base: Path, title: str) -> str:
    body = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            body.append(f"<{kind}>{html.escape(block[1])}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{html.escape(block[1])}</p>")
        elif kind == "code":
            body.append(f"<pre>{html.escape(block[1])}</pre>")
        elif kind == "table":
            head = "".join(f"<th>{html.escape(str(h))}</th>" for h in block[1])
            rows = "".join(
                "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in block[2]
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif kind == "img":
            src = html.escape(Path(block[1]).relative_to(base).as_posix())
            body.append(
                f'<figure><img src="{src}" alt="{html.escape(block[2])}"><figcaption>'
                f"{html.escape(block[2])}</figcaption></figure>"
            )
    style = (
        "body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;font-size:12px;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 6px}"
        "th{background:#f3f3f3}img{max-width:100%}pre{background:#f6f6f6;padding:.5em}"
    )
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def write_report(results_dir: str | Path, *, stale: staleness.Staleness | None = None) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` (and ``figures/``) into ``results_dir``; return their paths.

    ``stale`` is :func:`~labelleak.report.staleness.check` of ``results_dir``, when the caller has
    it already (it is computed otherwise)."""
    results_dir = Path(results_dir)
    if stale is None:
        stale = staleness.check(results_dir)
    # figures/ belongs to the report: drop the previous report's figures so none goes stale
    for old in (results_dir / "figures").glob("*.png"):
        old.unlink()
    blocks = build_blocks(results_dir, stale)
    md, page = results_dir / "report.md", results_dir / "report.html"
    atomic_write_bytes(md, to_markdown(blocks, results_dir).encode())
    atomic_write_bytes(page, to_html(blocks, results_dir, blocks[0][1]).encode())
    return md, page
