"""Seconds of one attack on one 28×28 target, after calibration (goals: the parameter attack
< 2 s and the white-box inversion < 10 s on 2 CPU cores; the black-box inversion's seconds and
queries at each budget).

θ_o is the default LeNet of ``--dataset`` and θ_u = θ_o with class ``--forget`` unlearned by
``--method`` (both from the shared artifact store, trained on first use). Each attack runs
``--repeats`` times through ``Attack.infer`` on its own access view, after one untimed warm-up
run, so torch's one-off start-up is not counted. The Youden and tree deciders are left out: they
reuse the k-means attack's features and add a threshold or a depth-3 tree (milliseconds) once
the shadow calibration exists. Prints one row per attack: median and min wall seconds, CPU
seconds of the process per run, queries per run.

Run:  python benchmarks/attack_speed.py --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from labelleak.access import GradientAccess, QueryAccess, WeightsAccess
from labelleak.attacks import parameter
from labelleak.attacks.genetic import BlackBoxInversion
from labelleak.attacks.inversion import WhiteBoxInversion
from labelleak.attacks.knowledge import draw_knowledge
from labelleak.data import load_dataset
from labelleak.report.markdown import markdown_header, markdown_row
from labelleak.store import ArtifactStore
from labelleak.targets import train_original, unlearn_original


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--method", default="random_labels")
    parser.add_argument("--forget", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--budgets",
        nargs="+",
        type=int,
        default=[1_000, 4_000, 10_000, 100_000],
        help="black-box query budgets per target",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    store = ArtifactStore()
    data = load_dataset(args.dataset)
    original = train_original(data, seed=0, store=store)
    target = unlearn_original(
        original, data, method=args.method, forget_classes=(args.forget,), seed=0, store=store
    ).model
    draw = draw_knowledge(data, unrelated="noise", seed=0)
    spec = target.spec
    shape = (spec.in_channels, spec.image_size, spec.image_size)
    attacks = [
        ("param-diff (kmeans)", parameter.DifferenceAttack(), lambda: WeightsAccess.of_classifier(target)),
        ("param-dot (kmeans)", parameter.DotProductAttack(), lambda: WeightsAccess.of_classifier(target)),
        (
            "invert-wb (100 steps)",
            WhiteBoxInversion(steps=100),
            lambda: GradientAccess(target, num_classes=spec.num_classes, input_shape=shape),
        ),
    ]
    attacks += [
        (
            f"invert-bb ({budget} queries)",
            BlackBoxInversion(query_budget=budget),
            lambda: QueryAccess.from_model(target, num_classes=spec.num_classes, input_shape=shape),
        )
        for budget in args.budgets
    ]

    print(
        f"# {data.describe()}; θ_u: {args.method} forgot class {args.forget}; torch threads {args.threads}; "
        f"{args.repeats} timed runs per attack after one warm-up"
    )
    print(markdown_header(["attack", "median s", "min s", "CPU s per run", "queries", "Ĉ"]))
    for label, attack, view in attacks:
        attack.infer(view(), knowledge=draw.knowledge)
        walls, cpus = [], []
        for _ in range(args.repeats):
            access = view()
            wall, cpu = time.perf_counter(), time.process_time()
            outcome = attack.infer(access, knowledge=draw.knowledge)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        queries = "–" if outcome.queries is None else str(outcome.queries)
        print(
            markdown_row(
                [
                    label,
                    f"{statistics.median(walls):.2f}",
                    f"{min(walls):.2f}",
                    f"{statistics.median(cpus):.2f}",
                    queries,
                    list(outcome.predicted),
                ]
            ),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
