"""ASR against queries per target, per dataset, attack and criterion, from a ``labelleak run`` result.

Reads ``results.csv`` and ``utility.csv`` of a run whose black-box attacks vary ``query_budget``
(configs/query-budget.toml), keeps the targets that forgot (forget-class test accuracy at most
``--max-forget-acc``), and writes, beside the run:

* ``asr_vs_queries.csv`` — one row per (dataset, attack, criterion, budget, forget-set size):
  n, exact-set ASR, Wilson 95% interval, mean queries spent and seconds per target;
* ``asr_vs_queries.md`` — the same as Markdown tables, one per forget-set size;
* ``asr_vs_queries.png`` — ASR against queries (log scale), one panel per dataset.

``--also DIR`` adds the rows of a supplementary run (e.g. a larger budget on some of the same
targets); a row it shares with the main run (same target, attack, options and knowledge) is
counted once. ``--method M`` keeps the targets of one unlearning method and writes
``asr_vs_queries_M.*`` instead.

Example (the commands behind docs/inversion_attacks.md):
    labelleak run configs/query-budget.toml --out docs/results/query-budget --jobs 1 --threads 1
    labelleak run configs/query-budget-1e5.toml --out docs/results/query-budget-1e5 --jobs 1 --threads 1
    labelleak run configs/query-budget-1e5-cifar10.toml --out docs/results/query-budget-1e5-cifar10 --jobs 1 --threads 1
    python benchmarks/query_curve.py docs/results/query-budget --also docs/results/query-budget-1e5 \
        --also docs/results/query-budget-1e5-cifar10
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from labelleak.metrics import wilson_interval
from labelleak.report.markdown import markdown_table

SIZES = {1: "single class", 2: "pairs", 3: "triples"}
#: what makes a results row unique: one attack setting on one target under one knowledge setting
ROW_KEY = ["cell", "attack", "attack_options", "knowledge"]


def budget_of(options: str) -> float:
    """The ``query_budget`` an attack row ran with (NaN for attacks without one)."""
    return float(json.loads(options).get("query_budget", float("nan"))) if isinstance(options, str) else float("nan")


#: the decisions every table shows without naming them
PLAIN_DECISIONS = ("threshold", "argmax")


def criterion_of(row: pd.Series) -> str:
    """The row's decision: its criterion, ", calibrated set" when the set is named by the
    calibrated set decision (``set_decision="calibrated"``) rather than the criterion's cut, and
    ", stop at L" when the run gave the search's ``stop_level`` (``invert-cma``) explicitly."""
    options = json.loads(row["attack_options"]) if isinstance(row["attack_options"], str) else {}
    if "criterion" in options:
        criterion = str(options["criterion"])
    else:
        criterion = "threshold" if row["attack"].startswith(("invert", "label")) else "argmax"
    if options.get("set_decision") == "calibrated":
        criterion += ", calibrated set"
    if "stop_level" in options:
        criterion += f", stop at {options['stop_level']}"
    return criterion


def decision_suffix(criterion: str) -> str:
    """What a table or legend adds to an attack's name for its decision ("" for the plain ones)."""
    return "" if criterion in PLAIN_DECISIONS else f", {criterion}"


def curve(results: pd.DataFrame, utility: pd.DataFrame, *, max_forget_acc: float) -> pd.DataFrame:
    forgot = utility.loc[utility["forget_test_acc"] <= max_forget_acc, "cell"]
    rows = results[results["cell"].isin(forgot)].copy()
    rows["budget"] = rows["attack_options"].map(budget_of)
    # attacks without a query budget (the noise baseline) are placed at the queries they spent
    rows["budget"] = rows["budget"].fillna(pd.to_numeric(rows["queries"], errors="coerce"))
    rows["criterion"] = rows.apply(criterion_of, axis=1)
    rows["size"] = rows["n_forget"].astype(int)
    out = []
    for (dataset, attack, criterion, budget, size), group in rows.groupby(
        ["dataset", "attack", "criterion", "budget", "size"], dropna=False
    ):
        hits, n = int(group["success"].astype(bool).sum()), len(group)
        low, high = wilson_interval(hits, n)
        out.append(
            {
                "dataset": dataset,
                "attack": attack,
                "access": group["access"].iloc[0],
                "criterion": criterion,
                "budget": budget,
                "size": size,
                "n": n,
                "asr": hits / n,
                "ci_low": low,
                "ci_high": high,
                "queries": pd.to_numeric(group["queries"], errors="coerce").mean(),
                "seconds": group["seconds"].mean(),
            }
        )
    return pd.DataFrame(out).sort_values(["size", "dataset", "attack", "criterion", "budget"])


def markdown(table: pd.DataFrame) -> str:
    parts = []
    for size, by_size in table.groupby("size"):
        parts.append(f"### {SIZES.get(int(size), f'{size} classes')} (targets that forgot)\n")
        budgets = sorted(by_size["budget"].dropna().unique())
        header = ["dataset", "attack (access)", *[f"{int(b):,}" for b in budgets]]
        body = []
        for (dataset, attack, access, criterion), rows in by_size.groupby(["dataset", "attack", "access", "criterion"]):
            cells = []
            for b in budgets:
                hit = rows[rows["budget"] == b]
                cells.append(
                    ""
                    if hit.empty
                    else f"{hit['asr'].iloc[0]:.0%} [{hit['ci_low'].iloc[0]:.0%}–"
                    f"{hit['ci_high'].iloc[0]:.0%}] n={int(hit['n'].iloc[0])}"
                )
            body.append([dataset, f"{attack} ({access}){decision_suffix(criterion)}", *cells])
        parts += [markdown_table(header, body), ""]
    return "\n".join(parts)


def plot(table: pd.DataFrame, path: Path) -> None:
    datasets = sorted(table["dataset"].unique())
    table = table.assign(line=[a + decision_suffix(c) for a, c in zip(table["attack"], table["criterion"])])
    drawn = table[table["line"] != "random-guess"]
    colour = {line: f"C{i}" for i, line in enumerate(sorted(drawn["line"].unique()))}
    # one legend for every panel: each line once, with the range of its per-dataset n
    counts = drawn.groupby(["line", "size", "dataset"])["n"].max().groupby(["line", "size"]).agg(["min", "max"])
    labels = {
        key: f"{key[0]}, {SIZES.get(int(key[1]), key[1])} " + (f"(n={lo})" if lo == hi else f"(n={lo}–{hi})")
        for key, lo, hi in zip(counts.index, counts["min"], counts["max"])
    }
    # long labels (decision and stop level spelled out) get two columns, so that the figure stays readable
    columns = 3 if max(map(len, labels.values())) <= 48 else 2
    legend_rows = -(-len(labels) // columns)
    # the legend goes below the panels, in room of its own: it never covers a point or an axis label
    height = 3.6 + 0.22 * legend_rows
    fig, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), height), sharey=True, squeeze=False)
    handles = {}
    for ax, dataset in zip(axes[0], datasets):
        for (line, size), rows in drawn[drawn["dataset"] == dataset].groupby(["line", "size"]):
            rows = rows.sort_values("budget")
            style = "-o" if size == 1 else ("--s" if size == 2 else ":^")
            (handles[line, size],) = ax.plot(rows["budget"], rows["asr"], style, color=colour[line])
        ax.set_xscale("log")
        ax.set_title(f"{dataset}: targets that forgot")
        ax.set_xlabel("queries per target (budget)")
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("exact-set ASR")
    axes[0][0].set_ylim(-0.02, 1.02)
    keys = sorted(handles)
    fig.legend(
        [handles[k] for k in keys],
        [labels[k] for k in keys],
        loc="lower center",
        ncol=columns,
        fontsize=8,
        frameon=False,
    )
    fig.tight_layout(rect=(0, (0.25 + 0.22 * legend_rows) / height, 1, 1))
    # "tight" grows the saved image to whatever the legend needs: no label is ever cut at the edge
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a labelleak run's output folder (results.csv, utility.csv)")
    parser.add_argument(
        "--also", type=Path, action="append", default=[], metavar="DIR", help="a supplementary run's folder; repeatable"
    )
    parser.add_argument(
        "--max-forget-acc", type=float, default=0.1, help="targets that forgot: forget-class test accuracy at most this"
    )
    parser.add_argument(
        "--method", metavar="M", help="only the targets of this unlearning method (outputs: asr_vs_queries_M.*)"
    )
    args = parser.parse_args(argv)
    runs = [args.run, *args.also]
    for run in runs:
        for name in ("results.csv", "utility.csv"):
            if not (run / name).is_file():
                print(f"query_curve: {run / name} not found: run labelleak run first", file=sys.stderr)
                return 2
    results = pd.concat([pd.read_csv(run / "results.csv") for run in runs]).drop_duplicates(ROW_KEY)
    utility = pd.concat([pd.read_csv(run / "utility.csv") for run in runs]).drop_duplicates("cell")
    stem = "asr_vs_queries"
    if args.method is not None:
        if args.method not in set(utility["method"]):
            known = ", ".join(sorted(set(utility["method"])))
            print(
                f"query_curve: --method must be one of the run's methods ({known}), got {args.method!r}",
                file=sys.stderr,
            )
            return 2
        utility = utility[utility["method"] == args.method]
        stem = f"{stem}_{args.method}"
    table = curve(results, utility, max_forget_acc=args.max_forget_acc)
    table.to_csv(args.run / f"{stem}.csv", index=False, float_format="%.4f")
    text = markdown(table)
    (args.run / f"{stem}.md").write_text(text)
    plot(table, args.run / f"{stem}.png")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
