"""Parameter attacks (param-dot, param-diff, param-diff-orig) × deciders on real unlearned targets.

For every unlearning method and forget set it trains (or loads from the shared artifact store) the
target θ_u = unlearn_original(θ_o, method, C, seed=0), runs each attack (k-means decider, timed
end to end through ``Attack.infer``) and applies the shadow-calibrated Youden and tree deciders to
the same features. Calibration is by transfer: the deciders used on method M are fit on shadow
targets of the *other* shadow methods only. Prints a Markdown table (ASR with n and Wilson 95%
interval, chance, AUC, precision/recall for multi-class) and per-target seconds; writes every
per-target record to ``--out`` as JSON.

Example (the commands behind docs/parameter_attacks.md):
    python benchmarks/parameter_attacks.py --dataset mnist --threads 1 --out P_mnist.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from labelleak.access import WeightsAccess
from labelleak.attacks import parameter  # noqa: F401  (registers the parameter attacks)
from labelleak.attacks.base import ATTACKS
from labelleak.attacks.knowledge import draw_aux_classes, draw_knowledge, forgotten_in_aux
from labelleak.attacks.parameter import ATTACK_FAMILIES, primary_score
from labelleak.attacks.shadow import ShadowConfig, calibrate
from labelleak.data import load_dataset
from labelleak.metrics import random_guess_rate, summarize
from labelleak.report.markdown import markdown_header, markdown_row
from labelleak.seeding import numpy_generator
from labelleak.store import ArtifactStore
from labelleak.targets import build_unlearner, train_original, unlearn_original, unlearned_config

EVAL_SEED = 0


def forget_sets(k: int, *, pairs: int, triples: int, seed: int) -> list[tuple[int, ...]]:
    """Every class singly, then random distinct pairs and triples (seeded)."""
    rng = numpy_generator(seed)
    sets: list[tuple[int, ...]] = [(c,) for c in range(k)]
    for size, count in ((2, pairs), (3, triples)):
        pool = list(itertools.combinations(range(k), size))
        sets += [pool[i] for i in sorted(rng.choice(len(pool), size=min(count, len(pool)), replace=False))]
    return sets


def is_cached(store: ArtifactStore, original, method: str, classes: tuple[int, ...]) -> bool:
    config = unlearned_config(
        original, method=method, params=build_unlearner(method).params(), forget_classes=classes, seed=EVAL_SEED
    )
    return (store.path("unlearned", config) / "model.json").is_file()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--methods", nargs="+", default=["retrain", "finetune", "gradient_ascent", "random_labels"])
    parser.add_argument("--shadow-methods", nargs="+", default=["finetune", "gradient_ascent", "random_labels"])
    parser.add_argument("--shadow-epochs", type=int, default=None, help="epochs of shadow θ_o' (default: recipe)")
    parser.add_argument("--pairs", type=int, default=0, help="random forgotten pairs per method")
    parser.add_argument("--triples", type=int, default=0, help="random forgotten triples per method")
    parser.add_argument("--shadow-pairs", type=int, default=0, help="random forgotten pairs per shadow method")
    parser.add_argument("--shadow-triples", type=int, default=0, help="random forgotten triples per shadow method")
    parser.add_argument("--summarize", type=Path, metavar="JSON", help="only print the table of a (partial) --out file")
    parser.add_argument("--compact", action="store_true", help="with --summarize: one row per method and |C|")
    parser.add_argument(
        "--multi-methods", nargs="+", default=None, help="methods for pairs/triples (default: --methods)"
    )
    parser.add_argument("--aux-per-class", type=int, default=None)
    parser.add_argument(
        "--aux-classes",
        type=int,
        default=None,
        help="A holds N random classes, drawn from the evaluation seed (default: every class)",
    )
    parser.add_argument("--unrelated", default="noise")
    parser.add_argument("--cached-only", action="store_true", help="skip targets not yet in the artifact store")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.summarize:
        saved = json.loads(args.summarize.read_text())
        print(f"# knowledge: {saved['knowledge']}\n# calibration: {saved['calibration']}")
        (print_compact if args.compact else print_summary)(saved["records"], int(saved["num_classes"]))
        return 0

    store = ArtifactStore()
    data = load_dataset(args.dataset)
    original = train_original(data, seed=EVAL_SEED, store=store)
    k = data.num_classes
    # a partial A's classes come from the seed alone, never from a target's forgotten classes
    aux_classes = None if args.aux_classes is None else draw_aux_classes(k, args.aux_classes, seed=EVAL_SEED)
    base = draw_knowledge(
        data,
        aux_per_class=args.aux_per_class,
        only_classes=aux_classes,
        unrelated=args.unrelated,
        original=WeightsAccess.of_classifier(original.model),
        seed=EVAL_SEED,
    )
    shadow_sets = tuple(forget_sets(k, pairs=args.shadow_pairs, triples=args.shadow_triples, seed=1))
    start = time.perf_counter()
    calibration = calibrate(
        data,
        base,
        config=ShadowConfig(
            methods=tuple(args.shadow_methods),
            forget_sets=shadow_sets,
            epochs=args.shadow_epochs,
            aux_per_class=args.aux_per_class,
            aux_classes=args.aux_classes,
            unrelated=args.unrelated,
        ),
        eval_seeds=[EVAL_SEED],
        store=store,
    )
    print(
        f"# {data.describe()}\n# θ_o test accuracy {original.metrics['test_accuracy']:.4f}\n"
        f"# knowledge: {base.knowledge.description}\n"
        f"# calibration: {calibration.description} ({time.perf_counter() - start:.1f} s)",
        flush=True,
    )

    attacks = {name: ATTACKS.get(name)(decider="kmeans") for name in ATTACK_FAMILIES}
    records = []
    multi_methods = args.multi_methods or args.methods
    transfers, deciders = {}, {}
    for method in dict.fromkeys(args.methods + multi_methods):
        transfers[method] = (
            calibration.select(exclude_methods=(method,)) if set(args.shadow_methods) - {method} else calibration
        )
        for name, family in ATTACK_FAMILIES.items():
            for d in ("youden", "tree"):
                deciders[(method, name, d)] = transfers[method].fit(d, family)
    # method by method (cheapest first on the command line), singles then pairs and triples
    jobs = [
        (method, classes)
        for method in dict.fromkeys(args.methods + multi_methods)
        for classes in forget_sets(k, pairs=args.pairs, triples=args.triples, seed=0)
        if (len(classes) == 1 and method in args.methods) or (len(classes) > 1 and method in multi_methods)
    ]
    for method, classes in jobs:
        transfer = transfers[method]
        if args.cached_only and not is_cached(store, original, method, classes):
            continue
        result = unlearn_original(original, data, method=method, forget_classes=classes, seed=EVAL_SEED, store=store)
        knowledge = base.knowledge
        target = WeightsAccess.of_classifier(result.model)
        record = {
            "method": method,
            "forget": list(classes),
            "forgotten_in_aux": forgotten_in_aux(classes, range(k) if aux_classes is None else aux_classes),
            "utility": result.metrics,
            "calibrated_on": sorted(set(transfer.methods)),
            "attacks": {},
        }
        for name, attack in attacks.items():
            outcome = attack.infer(target, knowledge=knowledge)
            z = outcome.artifacts["features"]
            primary = primary_score(z, ATTACK_FAMILIES[name])
            record["attacks"][f"{name}/kmeans"] = {
                "scores": outcome.scores.tolist(),
                "predicted": list(outcome.predicted),
                "seconds": outcome.seconds,
            }
            for d in ("youden", "tree"):
                scores, predicted = deciders[(method, name, d)].decide(z, primary)
                record["attacks"][f"{name}/{d}"] = {"scores": np.asarray(scores).tolist(), "predicted": list(predicted)}
        records.append(record)
        diff = record["attacks"]["param-diff/kmeans"]
        print(
            f"{method:16s} C={list(classes)} forget_acc={result.metrics['forget_test_acc']:.3f} "
            f"param-diff/kmeans Ĉ={diff['predicted']} ({diff['seconds']:.2f} s/attack, "
            f"dot {record['attacks']['param-dot/kmeans']['seconds']:.2f} s)",
            flush=True,
        )
        if args.out:
            args.out.write_text(
                json.dumps(
                    {
                        "args": {k2: str(v) for k2, v in vars(args).items()},
                        "knowledge": base.knowledge.description,
                        "num_classes": k,
                        "calibration": calibration.description,
                        "records": records,
                    }
                )
            )
    print_summary(records, k)
    return 0


def print_summary(records: list[dict], k: int) -> None:
    keys = sorted({key for r in records for key in r["attacks"]})
    print()
    print(
        markdown_header(
            [
                "method",
                "|C|",
                "attack/decider",
                "n",
                "ASR",
                "95% CI",
                "chance",
                "AUC",
                "precision",
                "recall",
                "s/attack",
            ]
        )
    )
    groups = sorted({(r["method"], len(r["forget"])) for r in records})
    for method, size in groups:
        rows = [r for r in records if r["method"] == method and len(r["forget"]) == size]
        for key in keys:
            s = summarize(
                scores=[r["attacks"][key]["scores"] for r in rows],
                predicted=[r["attacks"][key]["predicted"] for r in rows],
                truths=[r["forget"] for r in rows],
                num_classes=k,
            )
            seconds = [r["attacks"][key]["seconds"] for r in rows if "seconds" in r["attacks"][key]]
            print(
                markdown_row(
                    [
                        method,
                        size,
                        key,
                        s["n"],
                        f"{s['asr']:.1%}",
                        f"[{s['asr_low']:.1%}, {s['asr_high']:.1%}]",
                        f"{s['chance']:.1%}",
                        f"{s['auc']:.3f}",
                        f"{s['precision']:.2f}",
                        f"{s['recall']:.2f}",
                        f"{np.mean(seconds) if seconds else float('nan'):.2f}",
                    ]
                )
            )


def print_compact(records: list[dict], k: int) -> None:
    """ASR [Wilson 95% CI] of every attack/decider, one row per (method, |C|)."""
    keys = sorted({key for r in records for key in r["attacks"]})
    print()
    print(markdown_header(["method", "|C|", "n", "chance", *keys]))
    for method, size in sorted({(r["method"], len(r["forget"])) for r in records}):
        rows = [r for r in records if r["method"] == method and len(r["forget"]) == size]
        cells = []
        for key in keys:
            s = summarize(
                scores=[r["attacks"][key]["scores"] for r in rows],
                predicted=[r["attacks"][key]["predicted"] for r in rows],
                truths=[r["forget"] for r in rows],
                num_classes=k,
            )
            cells.append(f"{s['asr']:.0%} [{s['asr_low']:.0%}, {s['asr_high']:.0%}]")
        forget_acc = np.mean([r["utility"]["forget_test_acc"] for r in rows])
        print(
            markdown_row(
                [
                    f"{method} (forget acc {forget_acc:.2f})",
                    size,
                    len(rows),
                    f"{random_guess_rate(k, size):.1%}",
                    *cells,
                ]
            )
        )


if __name__ == "__main__":
    sys.exit(main())
