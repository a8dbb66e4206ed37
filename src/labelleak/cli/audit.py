"""``labelleak audit``: does a model labelleak did not train reveal which class was unlearned?"""

from __future__ import annotations

import argparse
from pathlib import Path

from labelleak.cli.common import (
    add_data_options,
    add_run_options,
    add_verb,
    default_workers,
    int_at_least,
    print_table,
    store_from,
)

#: the audit library's parameters -> the flags that set them: its errors name the parameters, the
#: command line shows the flags a user types
FLAGS = {
    "spec": "--model-factory",
    "weights": "--weights",
    "original": "--original",
    "num_classes": "--num-classes",
    "mean": "--mean",
    "std": "--std",
    "head": "--head",
    "attacks": "--attacks",
    "query_budget": "--query-budget",
    "seed": "--seed",
    "inversion_reference": "--inversion-reference",
    "inversion_set_decision": "--inversion-set-decision",
    "workers": "--workers",
    "shadow_archs": "--shadow-archs",
    "shadow_methods": "--shadow-methods",
    "shadow_methods_per_set": "--shadow-methods-per-set",
    "shadow_originals": "--shadow-originals",
    "shadow_recipes": "--shadow-recipes",
}

DESCRIPTION = """\
Audit an unlearned model you own: run every label-leakage attack and baseline that the access you
supply permits, and report which class(es) they say were forgotten.

Two ways to supply the model:
  --model-factory FILE.py:CALLABLE --weights W   your architecture + your checkpoint (white box: all
                                                 attacks; --original adds the two-version attacks)
  --onnx MODEL.onnx                              an exported model, queried only (black box)
Add --access queries (probabilities) or --access labels (top-1 label only) to attack either one
only as an API serving it would allow.

WARNING: --model-factory IMPORTS AND RUNS the named Python file or module, then calls CALLABLE()
to build the architecture. Only name code you trust. Weights themselves are never unpickled:
they are read from safetensors, or from a plain tensor state dict via torch.load(weights_only=True).

The model must take float32 images (N, C, H, W) of the dataset's shape and return K logits (or
probabilities) per image. Inputs are in [0, 1]; if your model expects normalised inputs, pass
--mean/--std and the audit normalises for it. The attacker's data (auxiliary set, unrelated set,
shadow models for calibration) come from --dataset's test split; the shadow calibration is cached.

Example:
  labelleak audit --model-factory my_model.py:build --weights unlearned.pt --original original.pt \\
                  --dataset fashion-mnist --json audit.json --report audit.md
"""


def architecture_list(text: str) -> list[str]:
    """``--shadow-archs``: comma-separated names of labelleak's architectures."""
    from labelleak.models import ARCHITECTURES
    from labelleak.models.foreign import FACTORY_PREFIX

    names = [name.strip() for name in text.split(",") if name.strip()]
    known = [name for name in ARCHITECTURES.names() if not name.startswith(FACTORY_PREFIX)]
    if not names or any(name not in known for name in names):
        raise argparse.ArgumentTypeError(f"must name architectures among {', '.join(known)}, got {text!r}")
    return names


def register(subparsers) -> None:
    parser = add_verb(
        subparsers,
        "audit",
        help="audit your own unlearned model (PyTorch code + weights, or ONNX)",
        description=DESCRIPTION,
        handler=run,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--model-factory",
        metavar="FILE.py:CALLABLE",
        help="Python file or package.module and a callable returning your nn.Module (this RUNS that code)",
    )
    source.add_argument(
        "--onnx", metavar="MODEL.onnx", help="ONNX model, audited through queries only (needs onnxruntime)"
    )
    parser.add_argument(
        "--weights",
        metavar="UNLEARNED",
        help="weights of the unlearned model (.safetensors, or a torch.save'd state dict)",
    )
    parser.add_argument(
        "--original", metavar="ORIGINAL", help="weights of the model before unlearning (adds the two-version attacks)"
    )
    parser.add_argument(
        "--access",
        choices=("weights", "gradients", "queries", "labels"),
        help="what the attacks get of the unlearned model: 'weights' (default with --model-factory), "
        "'gradients', 'queries' (probabilities, as an API serves them; default with --onnx) or 'labels' "
        "(top-1 label only). Below 'weights' the audit asks what an API reveals; with --model-factory "
        "its shadow models are still your architecture, and --original stays white-box",
    )
    add_data_options(parser, default=None)
    parser.add_argument(
        "--num-classes",
        type=int,
        metavar="K",
        help="number of classes K the model outputs; must equal the dataset's (default: the dataset's)",
    )
    parser.add_argument(
        "--mean",
        type=float,
        nargs="+",
        metavar="M",
        help="per-channel mean your model subtracts from [0, 1] inputs (default: none)",
    )
    parser.add_argument(
        "--std", type=float, nargs="+", metavar="S", help="per-channel std your model divides by (default: none)"
    )
    parser.add_argument(
        "--head",
        metavar="MODULE_NAME",
        help="name of the last nn.Linear (default: the nn.Linear with K outputs, found automatically)",
    )
    parser.add_argument(
        "--attacks",
        default="default",
        metavar="default|all|NAME,...",
        help="attacks to run: 'default' = every attack the access permits except the paper's genetic "
        "black box invert-bb (the audit's query-based inversion is invert-cma, at a tenth of its queries); "
        "'all' adds it; "
        "or a comma-separated list (see labelleak attacks)",
    )
    parser.add_argument(
        "--query-budget",
        type=int,
        metavar="N",
        help="most queries each black-box attack may spend (default: the attack's own)",
    )
    parser.add_argument(
        "--single-class-shadows",
        action="store_true",
        help="the attacker's shadow models forget single classes only, not also random pairs and triples "
        "(faster first audit; the verdict then learns to name one class: docs/audit.md)",
    )
    parser.add_argument(
        "--inversion-reference",
        choices=("original", "shadows"),
        default="original",
        help="per-class difficulty reference of the inversion attacks when --original is given: the same run "
        "on the original model (default) or the attacker's shadow models (as without --original; docs/audit.md)",
    )
    parser.add_argument(
        "--inversion-set-decision",
        choices=("cut", "calibrated"),
        help="how the inversion attacks name the forgotten set: 'cut' (default: the classes above a threshold "
        "fitted on the shadow models) or 'calibrated' (each class's score read relative to the model's other "
        "classes; docs/audit.md)",
    )
    parser.add_argument(
        "--workers",
        type=int_at_least(1),
        default=default_workers(),
        metavar="N",
        help="processes that build the shadow models a first audit lacks and then fit the attacks on them, one "
        f"torch thread each (default: the usable CPU cores, 1 to 4: {default_workers()} here; 1 does it all in "
        "this process)",
    )
    parser.add_argument(
        "--shadow-archs",
        type=architecture_list,
        metavar="A,B,...",
        help="with --onnx (architecture unknown): labelleak architectures whose shadow models stand in for "
        "the model's, e.g. mlp,lenet,smallcnn; every attack that can be calibrated is then fit on all of them "
        "(default: shadows of the dataset's default architecture, only for the attacks that need them; "
        "docs/audit.md measures both)",
    )
    parser.add_argument(
        "--shadow-methods",
        metavar="M,M,...",
        help="unlearning methods of the shadow models, each with its per-dataset defaults, or with parameters "
        "of your own as name:key=value[:key=value] (default: gradient_ascent,random_labels, and with "
        "--model-factory and --original gradient_ascent:ascend_on=all too); a method your own "
        "unlearning resembles makes the calibration see what it does to the other classes, each method adds "
        "one shadow model per forget set",
    )
    parser.add_argument(
        "--shadow-methods-per-set",
        choices=("all", "one"),
        help="'all' unlearns each forget set of the shadow models by every shadow method; 'one' by one of them "
        "in turn, half the shadow models with two methods (default: one where 3 originals are the default, else "
        "all; docs/audit.md)",
    )
    parser.add_argument(
        "--shadow-originals",
        type=int_at_least(1),
        metavar="N",
        help="how many shadow originals of your architecture the attacker trains, each unlearned like the "
        "first (default: 3 when the shadows are of your --model-factory architecture and there is no --original, "
        "else 1; each adds as many shadow models to the first audit)",
    )
    parser.add_argument(
        "--shadow-recipes",
        choices=("same", "varied"),
        help="'same' trains every shadow original by the dataset's recipe; 'varied' each by its own (as long, "
        "twice as long, half as long at twice the learning rate), for a model trained in a way the attacker "
        "does not know (default: varied where 3 originals are the default, else same; docs/audit.md)",
    )
    parser.add_argument("--json", metavar="OUT.json", help="write the results as JSON")
    parser.add_argument("--report", metavar="OUT.md", help="write a Markdown report with the prototype images")
    add_run_options(parser)


def run(args) -> int:
    """The audit command; the library's errors name its parameters, shown here as the flags."""
    from labelleak.audit import AuditError

    try:
        return _run(args)
    except AuditError as err:
        raise AuditError(err.naming(FLAGS)) from err


def _run(args) -> int:
    from labelleak.audit import (
        INVERSION_SET_DECISION,
        ONNX_LEVELS,
        PROBE_IMAGES,
        AuditError,
        OnnxModel,
        factory_source,
        load_factory,
        load_user_model,
        onnx_target,
        run_audit,
        shadow_architecture,
        weights_target,
        write_json,
        write_markdown,
    )
    from labelleak.data import load_dataset
    from labelleak.store import check_output_file

    # the output files are checked before the audit runs, not when it has finished
    for flag, path in (("--json", args.json), ("--report", args.report)):
        if path:
            check_output_file(path, what=flag)
    dataset = load_dataset(args.dataset, root=args.data_root, download=args.download)
    if args.num_classes is not None and args.num_classes != dataset.num_classes:
        raise AuditError(
            f"--num-classes {args.num_classes} does not match dataset {dataset.name!r}, "
            f"which has {dataset.num_classes} classes"
        )
    k = dataset.num_classes
    sample = dataset.x_test[:PROBE_IMAGES]
    if args.onnx:
        extra = [
            flag
            for flag, value in (
                ("--weights", args.weights),
                ("--original", args.original),
                ("--head", args.head),
                ("--mean", args.mean),
            )
            if value is not None
        ]
        if extra:
            raise AuditError(
                f"{', '.join(extra)} cannot be used with --onnx (an ONNX file holds its own "
                f"weights and is only queried)"
            )
        if args.access not in (None, *ONNX_LEVELS):
            raise AuditError(
                f"--access {args.access} cannot be used with --onnx: an ONNX file is only queried "
                f"(--access {' or '.join(ONNX_LEVELS)})"
            )
        target = onnx_target(
            OnnxModel(Path(args.onnx), num_classes=k, input_shape=dataset.input_shape, sample=sample),
            num_classes=k,
            input_shape=dataset.input_shape,
            level=args.access or "queries",
        )
    else:
        if args.weights is None:
            raise AuditError("--model-factory needs --weights (the unlearned model's weights file)")
        factory = load_factory(args.model_factory)
        options = dict(
            spec=args.model_factory, num_classes=k, sample=sample, mean=args.mean, std=args.std, head=args.head
        )
        unlearned = load_user_model(factory, weights=Path(args.weights), **options)
        original = load_user_model(factory, weights=Path(args.original), **options) if args.original else None
        arch = shadow_architecture(
            factory,
            head=unlearned.user_head_name,
            sample=sample,
            source=factory_source(args.model_factory),
            mean=args.mean,
            std=args.std,
        )
        description = f"{args.model_factory} with weights {args.weights}"
        if original is not None:
            description += f" (original: {args.original})"
        target = weights_target(
            unlearned,
            num_classes=k,
            input_shape=dataset.input_shape,
            description=description,
            original=original,
            arch=arch,
            level=args.access or "weights",
        )
    report = run_audit(
        target,
        dataset=dataset,
        attacks=args.attacks,
        query_budget=args.query_budget,
        seed=args.seed,
        store=store_from(args),
        data_root=args.data_root,
        verbose=not args.quiet,
        multi_class_shadows=not args.single_class_shadows,
        inversion_reference=args.inversion_reference,
        inversion_set_decision=args.inversion_set_decision or INVERSION_SET_DECISION,
        workers=args.workers,
        shadow_archs=args.shadow_archs,
        shadow_methods=args.shadow_methods,
        shadow_methods_per_set=args.shadow_methods_per_set,
        shadow_originals=args.shadow_originals,
        shadow_recipes=args.shadow_recipes,
    )
    print(f"target: {report.target}")
    if target.head_name:
        print(f"head: {target.head_name}")
    print(f"dataset: {report.dataset}")
    print(f"attacker knowledge: {report.knowledge}")
    if report.calibration:
        print(f"calibration: {report.calibration}")
    for source in report.calibration_sources:
        print(f"calibrated on: {source}")
    if report.uncalibrated:
        print(f"warning: these attacks ran uncalibrated, with fixed defaults: {', '.join(report.uncalibrated)}")
    print(f"setup (attacker data and calibration): {report.setup_seconds:.1f} s")
    rows: list[list[object]] = [list(row) for row in report.table_rows()]
    print_table(report.TABLE_HEADERS, rows)
    for name, reason in report.failures.items():
        print(f"attack {name} failed: {reason}")
    print(report.verdict_line())
    if args.json:
        write_json(report, Path(args.json))
        print(f"wrote {args.json}")
    if args.report:
        write_markdown(report, Path(args.report))
        print(f"wrote {args.report}")
    return 0
