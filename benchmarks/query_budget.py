"""ASR of the black-box inversion attack as a function of its query budget: table and PNG plot.

Reads the per-target records written by ``benchmarks/inversion_attacks.py --out`` (one or more
files, e.g. a run over all targets at 10²–10⁴ queries and a smaller one at 10⁵), pools them per
(budget, criterion, calibration) and prints a Markdown table — ASR with n and Wilson 95%
interval, mean seconds and queries per target — then plots ASR against queries per target.

Example (docs/inversion_attacks.md has the full commands behind its tables):
    python benchmarks/inversion_attacks.py --dataset fashion-mnist --budgets 100 1000 10000 --out qb_all.json
    python benchmarks/inversion_attacks.py --dataset fashion-mnist --classes 0 3 --budgets 100000 --out qb_1e5.json
    python benchmarks/query_budget.py qb_all.json qb_1e5.json --same-targets --plot query_budget.png
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from labelleak.metrics import summarize
from labelleak.report.markdown import markdown_header, markdown_row

_NAME = re.compile(r"^invert-bb@(\d+)/(threshold|entropy)(/shadow)?$")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("records", nargs="+", type=Path, help="JSON files from inversion_attacks.py --out")
    parser.add_argument("--plot", type=Path, help="write the ASR-vs-queries plot here (PNG)")
    parser.add_argument(
        "--max-forget-acc",
        type=float,
        default=None,
        help="keep only targets whose forget-class test accuracy is at most this (did unlearning work)",
    )
    parser.add_argument(
        "--same-targets",
        action="store_true",
        help="keep only the targets attacked at every budget, so each budget's n is the same",
    )
    args = parser.parse_args(argv)

    pooled: dict[tuple[str, int], list[tuple[list[float], list[int], list[int], float, int, tuple]]] = defaultdict(list)
    datasets, num_classes = set(), None
    budgets_of: dict[tuple, set[int]] = defaultdict(set)
    for path in args.records:
        data = json.loads(path.read_text())
        datasets.add(data["dataset"])
        for record in data["records"]:
            if args.max_forget_acc is not None and record["utility"]["forget_test_acc"] > args.max_forget_acc:
                continue
            num_classes = len(next(iter(record["attacks"].values()))["scores"])
            for name, outcome in record["attacks"].items():
                match = _NAME.match(name)
                if match is None:
                    continue
                budget, criterion, shadow = int(match[1]), match[2], bool(match[3])
                variant = criterion + (" (shadow-calibrated)" if shadow else " (fixed)")
                target = (data["dataset"], record["method"], tuple(record["forget"]))
                budgets_of[target].add(budget)
                pooled[(variant, budget)].append(
                    (
                        outcome["scores"],
                        outcome["predicted"],
                        record["forget"],
                        outcome["seconds"],
                        outcome["queries"],
                        target,
                    )
                )
    if args.same_targets:
        every = set().union(*budgets_of.values()) if budgets_of else set()
        kept = {t for t, b in budgets_of.items() if b == every}
        pooled = {vb: [r for r in rows if r[5] in kept] for vb, rows in pooled.items()}
        pooled = {vb: rows for vb, rows in pooled.items() if rows}
    if not pooled:
        print("no invert-bb records found")
        return 1
    print(
        f"# black-box inversion ASR vs query budget; datasets: {', '.join(sorted(datasets))}"
        + (" (only the targets attacked at every budget)" if args.same_targets else "")
        + (
            f"; targets with forget-class test accuracy ≤ {args.max_forget_acc}"
            if args.max_forget_acc is not None
            else ""
        )
        + "\n"
    )
    print(
        markdown_header(
            ["criterion", "budget (queries/target)", "n", "ASR", "95% CI", "chance", "AUC", "s/target", "queries used"]
        )
    )
    curves: dict[str, list[tuple[int, float, float, float]]] = defaultdict(list)
    for variant, budget in sorted(pooled, key=lambda vb: (vb[0], vb[1])):
        rows = pooled[(variant, budget)]
        s = summarize(
            scores=[r[0] for r in rows],
            predicted=[r[1] for r in rows],
            truths=[r[2] for r in rows],
            num_classes=num_classes,
        )
        curves[variant].append((budget, s["asr"], s["asr_low"], s["asr_high"]))
        print(
            markdown_row(
                [
                    variant,
                    budget,
                    s["n"],
                    f"{s['asr']:.3f}",
                    f"[{s['asr_low']:.3f}, {s['asr_high']:.3f}]",
                    f"{s['chance']:.3f}",
                    f"{s['auc']:.3f}",
                    f"{np.mean([r[3] for r in rows]):.1f}",
                    f"{np.mean([r[4] for r in rows]):.0f}",
                ]
            )
        )
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        for variant, points in curves.items():
            b, asr, low, high = map(np.asarray, zip(*points))
            ax.errorbar(b, asr, yerr=[asr - low, high - asr], marker="o", capsize=3, label=variant)
        ax.axhline(1 / num_classes, color="0.5", ls=":", label="chance")
        ax.set_xscale("log")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("queries per target")
        ax.set_ylabel("ASR (Wilson 95% CI)")
        ax.set_title(f"invert-bb: {', '.join(sorted(datasets))}", fontsize=9)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
        fig.tight_layout()
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.plot, dpi=120, bbox_inches="tight")
        print(f"\nplot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
