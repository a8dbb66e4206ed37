"""Utility of every unlearning method: forget / retain / test accuracy and wall time.

For one dataset, runs each registered method (or ``--methods``) on each forget set and prints a
Markdown table with a verdict against the goal of docs/unlearning.md: forget-class test accuracy ≤ 5%
and a retain test accuracy drop against the original model at most 3 points more than Retrain's own
drop on the same forget set (Retrain runs first on each set as the reference). Every run goes through the
shared artifact store, so an interrupted benchmark resumes where it stopped and a repeated one
only reads the stored results (their "seconds" are those of the original run).

    python benchmarks/unlearning.py --dataset fashion-mnist --threads 1
    python benchmarks/unlearning.py --dataset mnist --methods retrain,finetune --forget-sets "0;3"
    python benchmarks/unlearning.py --dataset fashion-mnist --cached-only   # table of what exists
    python benchmarks/unlearning.py --dataset mnist --methods neggrad_plus --param ascend_on=all

``--csv FILE`` also writes the tidy rows (one per method and forget set). ``--param KEY=VALUE``
(repeatable) sets a parameter of every method run except the Retrain reference, over the dataset's
defaults. ``--split validation`` measures on ``labelleak tune``'s split instead of the test split:
θ_o trained on 80% of the training split, every model scored on the other 20% (the columns keep
their names); settings are chosen there, and reported on the test split.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
import time

import torch

from labelleak.cli.tune import forget_sets_arg
from labelleak.cli.unlearn import parse_params
from labelleak.data import load_dataset
from labelleak.report.markdown import markdown_header, markdown_row, markdown_table
from labelleak.store import ArtifactStore
from labelleak.targets import build_unlearner, train_original, unlearn_original, unlearned_config
from labelleak.tune import validation_split
from labelleak.unlearning import UNLEARNERS, utility_metrics
from labelleak.unlearning.forgetting import GOAL_FORGET_ACC, GOAL_RETAIN_TOLERANCE


def verdict(metrics: dict, before: dict, retrain_drop: float) -> str:
    """ "ok" when the goal is met (labelleak.unlearning.met_goal, with the lower of θ_o's and
    Retrain's retain accuracy as the reference), else what was missed."""
    misses = []
    if metrics["forget_test_acc"] > GOAL_FORGET_ACC:
        misses.append(f"forget {metrics['forget_test_acc']:.1%} > {GOAL_FORGET_ACC:.0%}")
    drop = before["retain_test_acc"] - metrics["retain_test_acc"]
    if drop - max(retrain_drop, 0.0) > GOAL_RETAIN_TOLERANCE:
        misses.append(f"retain −{drop * 100:.1f} pts")
    return "ok" if not misses else "MISS: " + "; ".join(misses)


def summarize(records: list[dict]) -> str:
    """One Markdown line per method: forget sets meeting the goal, the worst forget accuracy and
    retain drop over them, and the mean CPU seconds."""
    body = []
    for method in dict.fromkeys(r["method"] for r in records):
        mine = [r for r in records if r["method"] == method]
        worst = max(mine, key=lambda r: r["retain_drop"])
        cpu = [float(r["cpu_seconds"]) for r in mine if r["cpu_seconds"] != ""]
        body.append(
            [
                method,
                f"{sum(r['verdict'] == 'ok' for r in mine)}/{len(mine)}",
                f"{max(r['forget_test_acc'] for r in mine):.1%}",
                f"{worst['retain_drop'] * 100:+.1f} pts ({worst['retrain_retain_drop'] * 100:+.1f})",
                f"{sum(cpu) / len(cpu) if cpu else float('nan'):.1f}",
            ]
        )
    headers = ["method", "goal met", "worst forget acc", "worst retain drop (Retrain's)", "mean CPU s"]
    return markdown_table(headers, body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--methods", help="comma-separated methods, run in this order (default: all, retrain last)")
    parser.add_argument("--forget-sets", default="0;3;7;0,3", help='forget sets separated by ";" (default "0;3;7;0,3")')
    parser.add_argument("--seed", type=int, default=0, help="seed of the original model and of the unlearning")
    parser.add_argument("--cache", help="artifact store root (default: the shared store)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cached-only", action="store_true", help="only report runs already in the store")
    parser.add_argument("--output", help="also write the table to this Markdown file")
    parser.add_argument("--csv", help="also write the tidy rows to this CSV file")
    parser.add_argument(
        "--split",
        choices=("test", "validation"),
        default="test",
        help="score on the test split (default) or on labelleak tune's validation split of the training data",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a parameter of every method but Retrain (repeatable), over the dataset's defaults",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", stream=sys.stderr)

    if args.methods:
        methods = [m for m in args.methods.split(",") if m]
        for method in methods:
            UNLEARNERS.get(method)
    else:
        methods = UNLEARNERS.names()
    # Retrain is every other method's reference, so it runs first on each forget set
    methods = ["retrain", *[m for m in methods if m != "retrain"]]
    forget_sets = forget_sets_arg(args.forget_sets)
    overrides = parse_params(args.param)
    store = ArtifactStore(args.cache)
    dataset = load_dataset(args.dataset)
    if args.split == "validation":
        dataset = validation_split(dataset, seed=args.seed)
    # amnesiac_updates subtracts θ_o's recorded updates; recording leaves θ_o's weights and key unchanged
    original = train_original(
        dataset, seed=args.seed, store=store, record_updates=any(UNLEARNERS.get(m).needs_update_record for m in methods)
    )

    title = (
        f"{dataset.name}: original {original.config['spec']['arch']} (seed {args.seed}), test accuracy "
        f"{original.metrics['test_accuracy']:.2%}, recorded training time "
        f"{original.metrics['seconds_per_epoch']:.1f} s/epoch"
        + (
            "; θ_o trained on 80% of the training split, every accuracy on the other 20%"
            if args.split == "validation"
            else ""
        )
    )
    headers = [
        "method",
        "forget set",
        "forget acc",
        "retain acc (original)",
        "retain drop",
        "test acc",
        "forget-train acc",
        "seconds",
        "CPU s",
        "verdict",
    ]
    print(title + "\n\n" + markdown_header(headers), flush=True)
    rows: list[list[str]] = []
    start = time.perf_counter()
    records: list[dict] = []
    # forget-set-major, so an interrupted run already has every method on the first forget set
    for classes in forget_sets:
        before = utility_metrics(original.model, dataset, classes)
        retrain_drop = 0.0
        for method in methods:
            params = {} if method == "retrain" else overrides
            if args.cached_only:
                config = unlearned_config(
                    original,
                    method=method,
                    params=build_unlearner(method, params, dataset=dataset.name).params(),
                    forget_classes=classes,
                    seed=args.seed,
                )
                if not (store.path("unlearned", config) / "model.json").is_file():
                    continue
            result = unlearn_original(
                original, dataset, method=method, params=params, forget_classes=classes, seed=args.seed, store=store
            )
            m = result.metrics
            drop = before["retain_test_acc"] - m["retain_test_acc"]
            if method == "retrain":
                retrain_drop = drop
            cpu = f"{m['cpu_seconds']:.1f}" if "cpu_seconds" in m else "n/a"
            decided = verdict(m, before, retrain_drop)
            row = [
                method,
                f"{{{', '.join(map(str, result.forget_classes))}}}",
                f"{m['forget_test_acc']:.1%}",
                f"{m['retain_test_acc']:.1%} ({before['retain_test_acc']:.1%})",
                f"{drop * 100:+.1f} pts",
                f"{m['test_acc']:.1%}",
                f"{m['forget_train_acc']:.1%}",
                f"{m['seconds']:.1f}",
                cpu,
                decided,
            ]
            records.append(
                {
                    "dataset": dataset.name,
                    "method": method,
                    "forget": " ".join(map(str, result.forget_classes)),
                    "n_forget": len(result.forget_classes),
                    "forget_test_acc": m["forget_test_acc"],
                    "retain_test_acc": m["retain_test_acc"],
                    "original_retain_test_acc": before["retain_test_acc"],
                    "retain_drop": drop,
                    "retrain_retain_drop": retrain_drop,
                    "test_acc": m["test_acc"],
                    "seconds": m["seconds"],
                    "cpu_seconds": m.get("cpu_seconds", ""),
                    "params": json.dumps(result.params, sort_keys=True),
                    "verdict": decided,
                }
            )
            rows.append(row)
            print(markdown_row(row), flush=True)
    logging.getLogger("benchmark").warning("done in %.0f s", time.perf_counter() - start)
    by_method = markdown_table(headers, sorted(rows, key=lambda row: methods.index(row[0])))
    text = f"{title}\n\n{by_method}\n\n{summarize(records)}"
    print("\nby method:\n" + text)
    if args.output:
        with open(args.output, "w") as handle:
            handle.write(text + "\n")
    if args.csv and records:
        with open(args.csv, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(records[0]))
            writer.writeheader()
            writer.writerows(records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
