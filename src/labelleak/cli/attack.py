"""``labelleak attack``: unlearn classes from θ_o with one method, then attack the result once."""

from __future__ import annotations

import time

from labelleak.cli.common import add_data_options, add_run_options, add_verb, late_help, print_table, store_from
from labelleak.cli.unlearn import add_param_option, parse_params
from labelleak.validation import ParameterError, check_classes, check_number

#: shadow methods used for calibration unless --shadow-methods says otherwise (the attacked
#: method is removed from them, so the reported number is a transfer result)
DEFAULT_SHADOW_METHODS = ("finetune", "gradient_ascent", "random_labels")


def register(subparsers) -> None:
    parser = add_verb(
        subparsers,
        "attack",
        help="unlearn classes and run one label-leakage attack on the result",
        description="Train (or load) θ_o, unlearn --forget with --method (cached), then run --attack on\n"
        "θ_u and print the per-class scores, the decided set Ĉ, the truth and the time.\n"
        "Deciders youden/tree/calibrated are fit on the attacker's shadow models (its own\n"
        "data, other seeds; the attacked method is left out of the shadow methods).\n\n"
        "example: labelleak attack --dataset digits --method retrain --forget 3 "
        "--attack param-diff --decider kmeans",
        handler=run,
    )
    add_data_options(parser)
    parser.add_argument("--method", required=True, help="unlearning method (registry name)")
    parser.add_argument(
        "--forget",
        type=int,
        action="append",
        required=True,
        metavar="CLASS",
        help="a class to forget; repeat for multi-class unlearning",
    )
    add_param_option(parser)
    late_help(
        parser,
        parser.add_argument("--attack", default="param-diff", metavar="NAME", help="attack name (default: param-diff)"),
        lambda: f"attack: {', '.join(_attack_names())} (default: param-diff; `labelleak attacks` says what each needs)",
    )
    parser.add_argument(
        "--decider",
        choices=("kmeans", "youden", "tree", "calibrated"),
        help="decider of the parameter attacks (default: kmeans; youden, tree and calibrated are fit on shadow models)",
    )
    parser.add_argument("--criterion", choices=("threshold", "entropy"), help="criterion of the inversion attacks")
    parser.add_argument("--queries", type=int, metavar="N", help="query budget of attacks that take one")
    parser.add_argument(
        "--aux-per-class",
        type=int,
        metavar="N",
        help="samples per class in the auxiliary set A (default: 1%% of the training set / K; 0: no A, data-free)",
    )
    parser.add_argument(
        "--aux-classes",
        type=int,
        metavar="N",
        help="A holds samples of N random classes only, drawn from --seed, never from the forgotten classes "
        "(default: every class)",
    )
    parser.add_argument(
        "--unrelated",
        default="noise",
        metavar="noise|DATASET",
        help="unrelated set N: structured noise or another dataset (default: noise)",
    )
    parser.add_argument(
        "--shadow-methods",
        nargs="+",
        metavar="METHOD",
        help=f"unlearning methods of the shadow models (default: {' '.join(DEFAULT_SHADOW_METHODS)} minus --method)",
    )
    parser.add_argument(
        "--shadow-epochs",
        type=int,
        metavar="N",
        help="training epochs of the shadow models (default: the dataset's recipe)",
    )
    for size, name in ((2, "pairs"), (3, "triples")):
        parser.add_argument(
            f"--shadow-{name}",
            type=int,
            default=0,
            metavar="N",
            help=f"random {name} of classes the shadow models also forget (default: 0); fit on shadows that forget "
            f"{size} classes, the youden, tree and calibrated deciders can name {size}",
        )
    add_run_options(parser)


def _attack_names() -> list[str]:
    from labelleak.attacks import ATTACKS

    return ATTACKS.names()


def _attack_options(name: str, args) -> dict:
    """The attack's constructor options from the command line; one it does not take is an error."""
    from labelleak.attacks import ATTACKS

    accepted = ATTACKS.options(name)
    # command-line option -> (constructor keyword, value)
    wanted = {
        "decider": ("decider", args.decider),
        "criterion": ("criterion", args.criterion),
        "queries": ("query_budget", args.queries),
    }
    for option, (keyword, value) in wanted.items():
        if value is not None and keyword not in accepted:
            raise ParameterError(f"attack {name!r} takes no --{option} option")
    return {keyword: value for keyword, value in wanted.values() if value is not None}


def run(args) -> int:
    from labelleak.attacks import ATTACKS, ShadowConfig, Shadows
    from labelleak.attacks.knowledge import draw_aux_classes, draw_knowledge, forgotten_in_aux
    from labelleak.data import load_dataset
    from labelleak.targets import access_view, build_unlearner, train_original, unlearn_original
    from labelleak.unlearning import UNLEARNERS, did_not_forget_warning

    verbose = not args.quiet
    dataset = load_dataset(args.dataset, root=args.data_root, download=args.download)
    classes = check_classes("--forget", args.forget, dataset.num_classes)
    cls = ATTACKS.get(args.attack)
    # built before any training, so that a bad option fails at once
    attack = ATTACKS.build(args.attack, **_attack_options(args.attack, args))
    attack.check_target(num_classes=dataset.num_classes)  # e.g. a query budget too small for K classes
    if hasattr(attack, "verbose"):  # its progress bar; not an option, so not part of any cache key
        attack.verbose = verbose
    if args.aux_per_class is not None:
        check_number("--aux-per-class", args.aux_per_class, low=0, integer=True)
    if args.aux_classes is not None:
        check_number("--aux-classes", args.aux_classes, low=1, high=dataset.num_classes - 1, integer=True)
    data_free = args.aux_per_class == 0
    if data_free and args.aux_classes is not None:
        raise ParameterError(f"--aux-classes needs a non-empty A: give --aux-per-class >= 1, got {args.aux_per_class}")
    if data_free and cls.needs_aux:
        raise ParameterError(f"attack {args.attack!r} needs the auxiliary set A; --aux-per-class 0 gives none")
    # drawn from the seed alone: an A built around --forget would name the forgotten classes
    aux_classes = (
        None if args.aux_classes is None else draw_aux_classes(dataset.num_classes, args.aux_classes, seed=args.seed)
    )
    params = parse_params(args.param)
    build_unlearner(args.method, params, dataset=dataset.name)
    store = store_from(args)

    original = train_original(
        dataset,
        seed=args.seed,
        store=store,
        verbose=verbose,
        record_updates=UNLEARNERS.get(args.method).needs_update_record,
    )
    result = unlearn_original(
        original,
        dataset,
        method=args.method,
        params=params,
        forget_classes=classes,
        seed=args.seed,
        store=store,
        verbose=verbose,
    )
    original_view = access_view(original.model, "weights")
    draw = draw_knowledge(
        dataset,
        aux_per_class=args.aux_per_class,
        only_classes=aux_classes,
        unrelated=args.unrelated if (cls.needs_unrelated or cls.needs_aux) else None,
        original=original_view if cls.needs_original else None,
        seed=args.seed,
        data_root=args.data_root,
    )

    if attack.needs_calibration:
        methods = tuple(args.shadow_methods or [m for m in DEFAULT_SHADOW_METHODS if m != args.method])
        # the shadow pool excludes every image of A and of the training split; the shadows mirror
        # the knowledge setting (a partial A' holds as many random classes, drawn with each shadow seed)
        shadows = Shadows(
            dataset,
            draw,
            config=ShadowConfig(
                methods=methods,
                aux_per_class=args.aux_per_class,
                epochs=args.shadow_epochs,
                pairs=args.shadow_pairs,
                triples=args.shadow_triples,
                aux_classes=args.aux_classes,
                unrelated=args.unrelated,
            ),
            eval_seeds=[args.seed],
            store=store,
            verbose=verbose,
        )
        attack.calibrate(shadows)
        print(f"calibration: {attack.calibration_.describe()}")
    target = access_view(result.model, cls.requires, budget=args.queries if cls.requires != "weights" else None)

    start = time.perf_counter()
    outcome = attack.infer(target, knowledge=draw.knowledge)
    seconds = time.perf_counter() - start
    m = result.metrics
    print(
        f"{dataset.describe()}\nθ_u: {args.method} forgot {list(classes)} ({'cached' if result.cached else 'computed'}); "
        f"forget test acc {m['forget_test_acc']:.2%}, retain test acc {m['retain_test_acc']:.2%}"
    )
    print(f"attack {attack!r} with {outcome.access} access; knowledge: {outcome.knowledge or 'none'}")
    if aux_classes is not None:
        print(
            f"A held classes {list(aux_classes)} ({len(aux_classes)} of {dataset.num_classes}, drawn from --seed); "
            f"forgotten classes among them: {forgotten_in_aux(classes, aux_classes)}"
        )
    rows = [
        [k, dataset.class_names[k], f"{s:.4f}", "Ĉ" if k in outcome.predicted else "", "C" if k in classes else ""]
        for k, s in enumerate(outcome.scores)
    ]
    print_table(["class", "name", "score", "decided", "truth"], rows)
    success = set(outcome.predicted) == set(classes)
    queries = "" if outcome.queries is None else f", {outcome.queries} queries"
    print(
        f"Ĉ = {list(outcome.predicted)}, truth C = {list(classes)}: {'SUCCESS' if success else 'FAILURE'} "
        f"({seconds:.2f} s{queries})"
    )
    warning = did_not_forget_warning(args.method, m["forget_test_acc"], dataset.num_classes)
    if warning:
        print(warning)
    return 0
