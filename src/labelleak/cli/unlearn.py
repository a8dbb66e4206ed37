"""``labelleak unlearn``: unlearn classes from the original model with a registered method (cached)."""

from __future__ import annotations

from typing import Any

from labelleak.cli.common import add_data_options, add_run_options, add_verb, late_help, print_table, store_from
from labelleak.validation import ParameterError, check_classes, parse_value


def _method_names() -> list[str]:
    from labelleak.unlearning import UNLEARNERS

    return sorted(UNLEARNERS.names())


def register(subparsers) -> None:
    parser = add_verb(
        subparsers,
        "unlearn",
        help="unlearn one or more classes from the original model (cached)",
        description="Unlearn the classes given with --forget from the dataset's original model θ_o\n"
        "(trained or loaded from the cache first) and print forget-class, retain and\n"
        "overall test accuracy before and after. The unlearned model is stored under the\n"
        "hash of θ_o's config, the method, its resolved parameters, the classes and the\n"
        "seed; an identical second call loads it.\n\n"
        "example: labelleak unlearn --dataset digits --method finetune --forget 3 \\\n"
        "             --param epochs=20 --param lr=0.05",
        handler=run,
    )
    add_data_options(parser)
    late_help(
        parser,
        parser.add_argument("--method", required=True, metavar="NAME", help="unlearning method"),
        lambda: f"unlearning method: {', '.join(_method_names())} (see `labelleak methods`)",
    )
    parser.add_argument(
        "--forget",
        type=int,
        action="append",
        required=True,
        metavar="CLASS",
        help="class index to forget; repeat for several classes",
    )
    add_param_option(parser)
    add_run_options(parser)


def add_param_option(parser) -> None:
    """``--param KEY=VALUE`` (repeatable): the unlearning method's parameters (``unlearn``, ``attack``)."""
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="method parameter (int, float, true/false, none or text); repeatable; parameters not given "
        "take the dataset's defaults (labelleak/unlearning/defaults.json), else the method's",
    )


def parse_params(items: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"--param must look like KEY=VALUE, got {item!r}")
        params[key.strip()] = parse_value(value)
    return params


def run(args) -> int:
    from labelleak.data import load_dataset
    from labelleak.targets import build_unlearner, train_original, unlearn_original
    from labelleak.unlearning import UNLEARNERS, did_not_forget_warning, utility_metrics

    # validate everything cheap before the original model is trained or loaded
    params = parse_params(args.param)
    build_unlearner(args.method, params, dataset=args.dataset)
    dataset = load_dataset(args.dataset, root=args.data_root, download=args.download)
    check_classes("forget_classes", args.forget, dataset.num_classes)
    store = store_from(args)
    original = train_original(
        dataset,
        seed=args.seed,
        store=store,
        verbose=not args.quiet,
        record_updates=UNLEARNERS.get(args.method).needs_update_record,
    )
    result = unlearn_original(
        original,
        dataset,
        method=args.method,
        params=params,
        forget_classes=args.forget,
        seed=args.seed,
        store=store,
        verbose=not args.quiet,
    )
    before = utility_metrics(original.model, dataset, result.forget_classes)
    after = result.metrics
    names = ", ".join(f"{c} ({dataset.class_names[c]})" for c in result.forget_classes)
    state = "loaded from cache" if result.cached else "computed"
    print(f"{dataset.describe()}\n{args.method} forgetting {names}: {state}: {result.path or '(not stored)'}")
    print("parameters: " + ", ".join(f"{k}={v}" for k, v in result.params.items()))
    rows = [
        [label, f"{before[key]:.2%}", f"{after[key]:.2%}"]
        for key, label in (
            ("forget_test_acc", "forget-class test accuracy"),
            ("retain_test_acc", "retain test accuracy"),
            ("test_acc", "overall test accuracy"),
            ("forget_train_acc", "forget-class train accuracy"),
        )
    ]
    rows.append(
        ["seconds (training / unlearning)", f"{original.metrics['train_seconds']:.1f}", f"{after['seconds']:.1f}"]
    )
    print_table(["metric", "original", "unlearned"], rows)
    warning = did_not_forget_warning(args.method, after["forget_test_acc"], dataset.num_classes)
    if warning:
        print(warning)
    return 0
