"""``labelleak demo``: the main job on the embedded default dataset (scikit-learn's digits)."""

from __future__ import annotations

from labelleak.cli.common import add_run_options, add_verb, print_table, store_from
from labelleak.data import load_dataset
from labelleak.experiments.stages import train_original


def register(subparsers) -> None:
    parser = add_verb(subparsers, "demo", help="run the pipeline on scikit-learn's digits (no download)",
                      description="Train a model on scikit-learn's bundled 8x8 digits and report its per-class\n"
                                  "accuracy. Needs no download and runs in well under two minutes on a CPU.",
                      handler=run)
    add_run_options(parser)


def run(args) -> int:
    dataset = load_dataset("digits")
    result = train_original(dataset, seed=args.seed, store=store_from(args), verbose=not args.quiet)
    print(dataset.describe())
    rows = [[k, f"{a:.2%}"] for k, a in enumerate(result.metrics["per_class_test_accuracy"])]
    print_table(["class", "test accuracy"], rows)
    print(f"overall test accuracy: {result.metrics['test_accuracy']:.2%}")
    return 0
