"""``labelleak tune``: search a method's parameters with Optuna on a validation split of the training data."""

from __future__ import annotations

import argparse

from labelleak.cli.common import (
    add_data_options,
    add_run_options,
    add_verb,
    late_description,
    late_help,
    print_table,
    store_from,
)

# labelleak.tune imports torch: it is imported when help is shown or the verb runs, not for every command
DESCRIPTION = (
    "Search --method's parameters with Optuna's seeded TPE sampler. The search runs on a\n"
    "validation split carved from the training data (never the test split): θ_o is\n"
    "trained on 80% of it, each trial unlearns --forget (or each of --forget-sets) and is\n"
    "scored on the other 20%, as its worst set.\n"
    "Objective: forget accuracy ≤ Retrain's + {slack:.0%} at a cost ≤ about {budget:g} epochs of\n"
    "the original model's training and a retain accuracy at most {retain:.0%} below Retrain's,\n"
    "then highest retain accuracy, then lowest CPU time. The study is stored in the artifact\n"
    "store and resumes; the best settings are written to the per-dataset defaults\n"
    "(labelleak/unlearning/defaults.json, or --write FILE) over the dataset's other defaults.\n\n"
    "examples: labelleak tune --dataset digits --method scrub --forget 3 --trials 20\n"
    "          labelleak tune --dataset mnist --method scrub --forget-sets '0;3;7;0,3;5,6,8'"
)


def _description() -> str:
    from labelleak.tune import BUDGET_EPOCHS, RETAIN_TOLERANCE, SLACK

    return DESCRIPTION.format(slack=SLACK, budget=BUDGET_EPOCHS, retain=RETAIN_TOLERANCE)


def _method_names() -> list[str]:
    from labelleak.unlearning import UNLEARNERS

    return UNLEARNERS.names()


def register(subparsers) -> None:
    parser = add_verb(
        subparsers,
        "tune",
        help="tune an unlearning method's parameters with Optuna (needs: pip install 'labelleak[tune]')",
        description=DESCRIPTION,
        handler=run,
    )
    late_description(parser, _description)
    add_data_options(parser)
    late_help(
        parser,
        parser.add_argument("--method", required=True, help="unlearning method"),
        lambda: f"unlearning method: {', '.join(_method_names())}",
    )
    forget = parser.add_mutually_exclusive_group()
    forget.add_argument(
        "--forget", type=int, action="append", metavar="CLASS", help="class to forget; repeatable (default: 3)"
    )
    forget.add_argument(
        "--forget-sets",
        type=forget_sets_arg,
        metavar="SETS",
        help="several forget sets tuned at once, ';' between sets and ',' between classes (e.g. '0;3;0,3'): "
        "a trial scores as its worst set",
    )
    parser.add_argument("--trials", type=int, default=20, metavar="N", help="finished trials wanted (default: 20)")
    parser.add_argument(
        "--budget-epochs",
        type=float,
        default=None,
        metavar="E",
        help="most a trial may cost, in epochs of the original model's training (default: 2)",
    )
    parser.add_argument("--write", metavar="FILE", help="defaults file to update (default: the packaged one)")
    parser.add_argument("--no-write", action="store_true", help="print the result only")
    add_run_options(parser)


def forget_sets_arg(text: str) -> list[list[int]]:
    """``--forget-sets``: '0;3;0,3' -> [[0], [3], [0, 3]] (class indices are checked against the dataset later)."""
    try:
        sets = [[int(c) for c in part.split(",")] for part in text.split(";") if part.strip()]
    except ValueError:
        sets = []
    if not sets:
        raise argparse.ArgumentTypeError(f"must be forget sets like '0;3;0,3', got {text!r}")
    return sets


def run(args) -> int:
    from labelleak.data import load_dataset
    from labelleak.tune import BUDGET_EPOCHS, RETAIN_TOLERANCE, SLACK, search_space, tune
    from labelleak.unlearning.defaults import dataset_defaults, defaults_path, write_defaults

    search_space(args.method)  # fails at once for a method with nothing to tune
    dataset = load_dataset(args.dataset, root=args.data_root, download=args.download)
    result = tune(
        dataset,
        method=args.method,
        forget_sets=args.forget_sets or [args.forget or [3]],
        trials=args.trials,
        store=store_from(args),
        seed=args.seed,
        budget_epochs=BUDGET_EPOCHS if args.budget_epochs is None else args.budget_epochs,
    )
    best = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in result.params.items())
    print(
        f"{dataset.describe()}\n{args.method}: {result.trials} trials ({result.stopped_early} stopped early), "
        f"{result.cpu_seconds:.1f} CPU-s of unlearning; "
        f"best parameters: {best}"
    )
    print_table(
        ["forget set", "Retrain's forget acc", "forget acc", "retain acc", "CPU s", "budget CPU s"],
        [
            [
                "{" + ", ".join(map(str, classes)) + "}",
                f"{m['retrain_forget']:.1%}",
                f"{m['forget_test_acc']:.1%}",
                f"{m['retain_test_acc']:.1%}",
                f"{m['cpu_seconds']:.2f}",
                f"{m['budget_cpu_seconds']:.1f}",
            ]
            for classes, m in zip(result.forget_sets, result.per_set)
        ],
    )
    print(f"validation accuracies; feasible on every set: {'yes' if result.feasible else 'NO'}")
    if not result.feasible:
        print(
            f"WARNING: no trial reached Retrain's forget accuracy + {SLACK:.0%} within the cost budget while keeping "
            f"retain accuracy within {RETAIN_TOLERANCE:.0%} of Retrain's; nothing written"
        )
        return 1
    if not args.no_write:
        tuned = {k: float(f"{v:.3g}") if isinstance(v, float) else v for k, v in result.params.items()}
        # the trials ran with the dataset's other defaults (e.g. a batch size): the entry keeps them
        params = {**dataset_defaults(dataset.name, args.method), **tuned}
        path = write_defaults(dataset.name, args.method, params, path=args.write or defaults_path())
        print(f"wrote {dataset.name}/{args.method} = {params} to {path}")
    return 0
