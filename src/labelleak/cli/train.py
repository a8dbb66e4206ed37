"""``labelleak train``: train (or load from the cache) the original model θ_o."""

from __future__ import annotations

from dataclasses import replace

from labelleak.cli.common import add_data_options, add_run_options, add_verb, late_help, print_table, store_from


def _architecture_names() -> list[str]:
    from labelleak.models import ARCHITECTURES

    return ARCHITECTURES.names()


def register(subparsers) -> None:
    parser = add_verb(
        subparsers,
        "train",
        help="train the original model on a dataset (cached)",
        description="Train the original model θ_o on a dataset's full training split and print its\n"
        "per-class test accuracy. The model is stored under the hash of its config;\n"
        "an identical second call loads it instead of retraining.",
        handler=run,
    )
    add_data_options(parser)
    late_help(
        parser,
        parser.add_argument("--arch", default="auto", help="architecture (default: auto, the dataset's)"),
        lambda: f"architecture: auto (the dataset's default), {', '.join(_architecture_names())}",
    )
    parser.add_argument("--epochs", type=int, help="override the dataset's default number of epochs")
    parser.add_argument("--lr", type=float, help="override the default learning rate")
    parser.add_argument(
        "--record-updates",
        action="store_true",
        help="also record the parameter updates per class set of each batch (for amnesiac_updates; "
        "stored beside θ_o, whose cache key does not change)",
    )
    add_run_options(parser)


def run(args) -> int:
    from labelleak.data import load_dataset
    from labelleak.models import recipe_for
    from labelleak.targets import train_original

    dataset = load_dataset(args.dataset, root=args.data_root, download=args.download)
    recipe = recipe_for(dataset.name, epochs=args.epochs)
    if args.lr is not None:
        recipe = replace(recipe, lr=args.lr)
    result = train_original(
        dataset,
        arch=args.arch,
        seed=args.seed,
        train_config=recipe,
        store=store_from(args),
        verbose=not args.quiet,
        record_updates=args.record_updates,
    )
    state = "loaded from cache" if result.cached else f"trained in {result.metrics['train_seconds']:.1f} s"
    print(f"{dataset.describe()}\nmodel {result.config['spec']['arch']} {state}: {result.path}")
    rows = [[k, dataset.class_names[k], f"{a:.2%}"] for k, a in enumerate(result.metrics["per_class_test_accuracy"])]
    print_table(["class", "name", "test accuracy"], rows)
    print(f"overall test accuracy: {result.metrics['test_accuracy']:.2%}")
    return 0
