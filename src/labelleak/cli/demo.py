"""``labelleak demo``: the whole pipeline on scikit-learn's bundled digits, in about a minute.

Train θ_o (an MLP), unlearn five single classes with three methods, run every attack family
(parameter with k-means and a shadow-calibrated Youden threshold, the two-version difference,
white-box and black-box inversion, the query-efficient and the label-only black box) and every baseline on each of the 15 targets, and print the
ASR table (attack × method, n and 95% Wilson intervals) and the unlearning utility. It is a small
grid run by the same runner as ``labelleak run``, so everything is cached and a second call is fast.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from labelleak.cli.common import add_run_options, add_verb, print_table, store_from

#: the demo's experiment (see docs/runner.md for the file format it mirrors)
DEMO_CONFIG: dict[str, Any] = {
    "name": "demo",
    # the methods take their digits defaults from labelleak/unlearning/defaults.json (finetune's
    # LeNet-scaled defaults barely forget on the digits MLP: docs/unlearning.md)
    "datasets": [{"name": "digits", "singles": [0, 2, 4, 6, 8]}],
    "unlearning": {"methods": ["retrain", "random_labels", "finetune"]},
    "knowledge": [{"name": "default", "unrelated": "noise", "unrelated_size": 64}],
    "shadow": {"methods": ["retrain", "random_labels"], "n_models": 1, "seed": 1000},
    "attacks": [
        {"name": "param-diff", "vary": {"decider": ["kmeans", "youden"]}},
        {"name": "param-dot", "vary": {"decider": ["kmeans"]}},
        {"name": "param-diff-orig", "vary": {"decider": ["kmeans"]}},
        {
            "name": "invert-wb",
            "params": {"steps": 30, "read_step": 10},
            "vary": {"criterion": ["threshold", "entropy"]},
        },
        {"name": "invert-bb", "vary": {"criterion": ["threshold"], "query_budget": [2560]}},
        {"name": "invert-cma", "vary": {"query_budget": [1000]}},
        {"name": "label-reach", "vary": {"query_budget": [1000]}},
        {"name": "random-guess"},
        {"name": "noise-frequency"},
        {"name": "noise-logprob"},
        {"name": "accuracy-probe"},
        {"name": "hu-probe"},
    ],
}


def register(subparsers) -> None:
    parser = add_verb(
        subparsers,
        "demo",
        help="run the whole pipeline on scikit-learn's digits (no download)",
        description="Train an MLP on scikit-learn's bundled 8x8 digits, unlearn five classes one at a\n"
        "time with three unlearning methods, run every attack and baseline on the 15\n"
        "targets and print the ASR table. No download; about a minute on 2 CPU cores.",
        handler=run,
    )
    parser.add_argument("--out", metavar="DIR", help="keep the results (CSV, run.json) in DIR (default: a temp dir)")
    add_run_options(parser)


def run(args) -> int:
    from labelleak.experiments.config import parse_config
    from labelleak.experiments.runner import run_experiment
    from labelleak.report.tables import asr_matrix, fmt_asr, load_results, utility_table
    from labelleak.unlearning import forget_bound

    data = {**DEMO_CONFIG, "seeds": [args.seed], "shadow": {**DEMO_CONFIG["shadow"], "seed": 1000 + args.seed}}
    config = parse_config(data, source="labelleak demo")
    if args.out:
        from labelleak.store import check_output_dir

        check_output_dir(args.out, what="--out")  # before any work
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="labelleak-demo-") as scratch:
        out = Path(args.out) if args.out else Path(scratch)
        run_experiment(
            config, results_dir=out, store=store_from(args), verbose=not args.quiet, command="labelleak demo"
        )
        rows, utility = load_results(out)
    seconds = time.perf_counter() - start

    labels, methods, cells = asr_matrix(rows)
    print(
        f"\nASR on digits (chance 10%): {len(rows['cell'].unique())} targets = 5 single classes x "
        f"{len(config.methods)} methods; each cell: ASR [95% interval] n\n"
    )
    print_table(
        ["attack"] + methods,
        [[label] + [fmt_asr(cells[(label, m)]) if (label, m) in cells else "–" for m in methods] for label in labels],
    )
    print("\nUnlearning utility (mean over targets):\n")
    print_table(
        ["method", "forget test acc", "retain test acc", "seconds"],
        [
            [r["method"], f"{r['forget_test_acc']:.1%}", f"{r['retain_test_acc']:.1%}", f"{r['seconds']:.2f}"]
            for r in utility_table(utility).to_dict("records")
        ],
    )
    if "forgot" in utility:
        for method, group in utility.groupby("method", sort=False):
            missed = group[~group["forgot"].astype(bool)]
            if len(missed):
                print(
                    f"WARNING: DID NOT FORGET: {method} kept forget-class test accuracy above "
                    f"{forget_bound(10):.0%} = max(20%, 2/K) on {len(missed)} of {len(group)} targets "
                    f"(classes {', '.join(str(c) for c in missed['forget'])}); its ASR says nothing about unlearning"
                )
    print(
        f"\n{seconds:.0f} s in all; Youden thresholds were fit on the attacker's shadow models only."
        + (f" Results: {args.out}" if args.out else "")
    )
    return 0
