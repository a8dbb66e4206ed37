"""Inversion attacks (invert-wb, invert-bb) × criteria (threshold, entropy) on real unlearned targets.

For every unlearning method and forgotten class it loads (or trains) the target
θ_u = unlearn_original(θ_o, method, [c], seed=0) from the shared artifact store, runs the white-box
inversion (gradients view) and the black-box genetic inversion (queries view, one run per query
budget), caches each run's trajectory, and applies the criteria:

* fixed defaults chosen a priori: threshold τ = 0.5, entropy robust z > 3.5; white-box read at
  the first step where the median class confidence reaches 0.9 ("auto"); black-box read at the
  end of its budget ("final") and "auto";
* ``--shadow``: calibrated on the attacker's shadow targets (attacks/shadow.py, the same shadow
  models the parameter attacks use), leave-method-out: the calibration used on method M is fit
  on shadow targets of the other shadow methods only (all of them for Retrain, not a shadow method).

Prints Markdown tables (ASR with n, Wilson 95% interval, chance; AUC; mean seconds and queries)
and writes every per-target record to ``--out``.

Example (the commands behind docs/inversion_attacks.md):
    python benchmarks/inversion_attacks.py --dataset fashion-mnist --shadow --threads 1 --out I_fmnist.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from labelleak.access import GradientAccess, QueryAccess
from labelleak.attacks.criteria import InversionRun, fit_calibration, make_criterion
from labelleak.attacks.genetic import BlackBoxInversion
from labelleak.attacks.inversion import WhiteBoxInversion
from labelleak.data import load_dataset
from labelleak.metrics import summarize
from labelleak.report.markdown import markdown_header, markdown_row
from labelleak.store import ArtifactStore
from labelleak.targets import build_unlearner, train_original, unlearn_original, unlearned_config

EVAL_SEED = 0
SHADOW_METHODS = ("finetune", "gradient_ascent", "random_labels")
READ_LEVEL = 0.9


def views(model) -> tuple[QueryAccess, GradientAccess]:
    spec = model.spec
    shape = (spec.in_channels, spec.image_size, spec.image_size)
    return (
        QueryAccess.from_model(model, num_classes=spec.num_classes, input_shape=shape),
        GradientAccess(model, num_classes=spec.num_classes, input_shape=shape),
    )


def cached_run(store: ArtifactStore, key: dict[str, Any], attack, access_fn) -> tuple[InversionRun, float]:
    """The attack's run on ``access_fn()`` (from the store when this exact target and attack ran before)."""
    hit = store.load_json("inversion-run", key)
    if hit is not None:
        tensors = store.load_tensors("inversion-run", key)
        return InversionRun.from_summary(hit["run"], tensors["prototypes"]), float(hit["seconds"])
    access = access_fn()
    start = time.perf_counter()
    run = attack.run(access)
    seconds = time.perf_counter() - start
    store.save_tensors("inversion-run", key, {"prototypes": run.prototypes})
    store.save_json("inversion-run", key, {"run": run.summary(), "seconds": seconds})
    return run, seconds


def attack_runs(
    store: ArtifactStore,
    target_key: dict[str, Any],
    model_fn,
    *,
    wb: WhiteBoxInversion,
    bbs: dict[int, BlackBoxInversion],
) -> dict[str, tuple[InversionRun, float]]:
    """White-box and black-box runs on one target; ``model_fn()`` loads the target only on a cache miss."""
    runs = {}
    runs["wb"] = cached_run(
        store,
        {"target": target_key, "attack": "invert-wb", "params": wb_params(wb), "version": 1},
        wb,
        lambda: views(model_fn())[1],
    )
    for budget, bb in bbs.items():
        runs[f"bb{budget}"] = cached_run(
            store,
            {
                "target": target_key,
                "attack": "invert-bb",
                "budget": budget,
                "settings": bb.settings.to_dict(),
                "seed": bb.seed,
                "version": 1,
            },
            bb,
            lambda: views(model_fn())[0],
        )
    return runs


def cached_multi_targets(store: ArtifactStore, original, methods: list[str]) -> list[tuple[str, tuple[int, ...]]]:
    """(method, forget set) of every cached multi-class target of ``original`` unlearned with default parameters."""
    found = []
    for sidecar in sorted((store.root / "unlearned").glob("*/model.json")):
        config = json.loads(sidecar.read_text()).get("config", {})
        forget = tuple(config.get("forget_classes", ()))
        method = config.get("method")
        if (
            len(forget) > 1
            and method in methods
            and config.get("seed") == EVAL_SEED
            and config.get("original") == original.config
            and config.get("params") == build_unlearner(method).params()
        ):
            found.append((method, forget))
    return sorted(found)


def _missing(key: dict[str, Any]):
    raise RuntimeError(
        f"shadow run missing from the store for {key}; delete the inversion-shadow-index entry "
        "to recompute the shadow runs"
    )


def wb_params(wb: WhiteBoxInversion) -> dict[str, Any]:
    return {
        "steps": wb.steps,
        "lr": wb.lr,
        "restarts": wb.restarts,
        "start": wb.start,
        "tv": wb.tv,
        "l2": wb.l2,
        "checkpoints": list(wb.checkpoints),
        "levels": list(wb.levels),
        "seed": wb.seed,
    }


def variants(budgets: list[int]) -> list[tuple[str, str, str]]:
    """(name, run key, read rule) of every reported attack variant."""
    out = [("invert-wb", "wb", "auto")]
    for b in budgets:
        out += [(f"invert-bb@{b}", f"bb{b}", "final"), (f"invert-bb@{b}/auto", f"bb{b}", "auto")]
    return out


def read_index(run: InversionRun, rule: str) -> int:
    return run.auto_index(READ_LEVEL) if rule == "auto" else len(run.checkpoints) - 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--methods", nargs="+", default=["retrain", "finetune", "gradient_ascent", "random_labels"])
    parser.add_argument("--classes", nargs="+", type=int, default=None, help="forgotten classes (default all)")
    parser.add_argument("--budgets", nargs="+", type=int, default=[10_000], help="black-box query budgets per target")
    parser.add_argument("--steps", type=int, default=100, help="white-box step budget")
    parser.add_argument(
        "--include-multi",
        action="store_true",
        help="also attack every cached multi-class target (pairs, triples) of these methods",
    )
    parser.add_argument("--shadow", action="store_true", help="also report shadow-calibrated criteria")
    parser.add_argument("--cached-only", action="store_true", help="skip targets not yet in the artifact store")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--figures", type=Path, help="write one prototype grid per method here")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    store = ArtifactStore()
    data = load_dataset(args.dataset)
    original = train_original(data, seed=EVAL_SEED, store=store)
    k = data.num_classes
    wb = WhiteBoxInversion(steps=args.steps)
    bbs = {b: BlackBoxInversion(query_budget=b) for b in args.budgets}
    names = variants(args.budgets)
    print(f"# {data.describe()}\n# θ_o test accuracy {original.metrics['test_accuracy']:.4f}", flush=True)

    shadow_records: list[dict[str, Any]] = []
    if args.shadow:
        from labelleak.access import WeightsAccess
        from labelleak.attacks.knowledge import draw_knowledge
        from labelleak.attacks.shadow import ShadowConfig, shadow_targets

        # the same draw and shadow config as benchmarks/parameter_attacks.py, so its shadow models are reused
        base = draw_knowledge(
            data, unrelated="noise", original=WeightsAccess.of_classifier(original.model), seed=EVAL_SEED
        )
        config = ShadowConfig(methods=SHADOW_METHODS, forget_sets=tuple((c,) for c in range(k)))
        start = time.perf_counter()
        # the list of shadow targets is cached too: enumerating shadow_targets reloads every model
        index_key = {
            "dataset": data.name,
            "shadow": config.to_dict(),
            "eval_seed": EVAL_SEED,
            "wb": wb_params(wb),
            "budgets": sorted(bbs),
            "version": 1,
        }
        shadow_keys = store.load_json("inversion-shadow-index", index_key)
        if shadow_keys is None:
            shadow_keys = []
            for shadow in shadow_targets(data, base, config=config, eval_seeds=[EVAL_SEED], store=store):
                key = {
                    "shadow": True,
                    "dataset": data.name,
                    "method": shadow.method,
                    "forget": list(shadow.forget_classes),
                    "seed": shadow.seed,
                    "utility": shadow.metrics,
                }
                attack_runs(store, key, lambda shadow=shadow: shadow.unlearned, wb=wb, bbs=bbs)
                shadow_keys.append(key)
            store.save_json("inversion-shadow-index", index_key, shadow_keys)
        for key in shadow_keys:
            runs = attack_runs(store, key, lambda key=key: _missing(key), wb=wb, bbs=bbs)
            shadow_records.append({"method": key["method"], "forget": key["forget"], "runs": runs})
        print(
            f"# shadow runs: {len(shadow_records)} shadow targets ({', '.join(SHADOW_METHODS)}; classes singly; "
            f"seed {config.seed}) in {time.perf_counter() - start:.0f} s",
            flush=True,
        )

    def calibration_for(method: str, run_key: str, criterion: str):
        pool = [r for r in shadow_records if r["method"] != method] or shadow_records
        return fit_calibration(
            [r["runs"][run_key][0].readings() for r in pool], [r["forget"] for r in pool], criterion=criterion
        )

    calibrations: dict[tuple[str, str, str], Any] = {}
    records = []
    classes = args.classes if args.classes is not None else list(range(k))
    jobs = [(method, (c,)) for method in args.methods for c in classes]
    if args.include_multi:
        jobs += cached_multi_targets(store, original, args.methods)
    for method, forget in jobs:
        config = unlearned_config(
            original, method=method, params=build_unlearner(method).params(), forget_classes=forget, seed=EVAL_SEED
        )
        if args.cached_only and not (store.path("unlearned", config) / "model.json").is_file():
            continue
        result = unlearn_original(original, data, method=method, forget_classes=forget, seed=EVAL_SEED, store=store)
        runs = attack_runs(store, config, lambda result=result: result.model, wb=wb, bbs=bbs)
        record = {"method": method, "forget": list(forget), "utility": result.metrics, "attacks": {}}
        for name, run_key, rule in names:
            run, seconds = runs[run_key]
            for criterion in ("threshold", "entropy"):
                index = read_index(run, rule)
                scores, predicted = make_criterion(criterion).decide(run.reading(index))
                record["attacks"][f"{name}/{criterion}"] = {
                    "scores": scores.tolist(),
                    "predicted": list(predicted),
                    "seconds": seconds,
                    "queries": run.queries,
                    "read_at": int(run.checkpoints[index]),
                }
                if shadow_records and not name.endswith("/auto"):
                    ckey = (method, run_key, criterion)
                    if ckey not in calibrations:
                        calibrations[ckey] = calibration_for(method, run_key, criterion)
                    cal = calibrations[ckey]
                    index = min(cal.checkpoint, len(run.checkpoints) - 1)
                    scores, predicted = make_criterion(criterion).decide(run.reading(index), calibration=cal)
                    record["attacks"][f"{name}/{criterion}/shadow"] = {
                        "scores": scores.tolist(),
                        "predicted": list(predicted),
                        "seconds": seconds,
                        "queries": run.queries,
                        "read_at": int(run.checkpoints[index]),
                    }
        if args.figures is not None and forget == (classes[0],):
            from labelleak.report.prototypes import save_prototype_grid

            run = runs["wb"][0]
            save_prototype_grid(
                args.figures / f"{data.name}_{method}_{forget[0]}_wb.png",
                prototypes=run.prototypes,
                confidence=run.confidence[-1],
                profiles=run.profiles[-1],
                class_names=data.class_names,
                highlight=list(forget),
                title=f"{data.name}, {method} forgot {forget[0]}: invert-wb prototypes after "
                f"{run.checkpoints[-1]} steps",
            )
        records.append(record)
        wbt = record["attacks"]["invert-wb/threshold"]
        print(
            f"{method:16s} C={list(forget)} forget_acc={result.metrics['forget_test_acc']:.3f} "
            f"wb/threshold={wbt['predicted']} (read at step {wbt['read_at']}, {wbt['seconds']:.1f} s) "
            + " ".join(
                f"{n}={record['attacks'][n]['predicted']}" for n in record["attacks"] if n != "invert-wb/threshold"
            ),
            flush=True,
        )

    if not records:
        print("no targets (use without --cached-only to train them)")
        return 1
    attack_names = list(records[0]["attacks"])
    print()
    print(
        markdown_header(
            ["method", "attack/criterion", "n", "ASR", "95% CI", "chance", "AUC", "s/target", "queries/target"]
        )
    )
    for method in [*args.methods, "all"]:
        subset = [r for r in records if method in ("all", r["method"])]
        if not subset:
            continue
        for name in attack_names:
            s = summarize(
                scores=[r["attacks"][name]["scores"] for r in subset],
                predicted=[r["attacks"][name]["predicted"] for r in subset],
                truths=[r["forget"] for r in subset],
                num_classes=k,
            )
            secs = np.mean([r["attacks"][name]["seconds"] for r in subset])
            qs = np.mean([r["attacks"][name]["queries"] for r in subset])
            print(
                markdown_row(
                    [
                        method,
                        name,
                        s["n"],
                        f"{s['asr']:.3f}",
                        f"[{s['asr_low']:.3f}, {s['asr_high']:.3f}]",
                        f"{s['chance']:.3f}",
                        f"{s['auc']:.3f}",
                        f"{secs:.1f}",
                        f"{qs:.0f}",
                    ]
                )
            )
    if calibrations:
        print(
            "\n# calibrations (leave-method-out on shadows): "
            + "; ".join(
                f"{m}/{rk}/{cr}: checkpoint {cal.checkpoint} thr {cal.threshold:.3f} shadow ASR {cal.shadow_asr:.2f} n {cal.n_shadow}"
                for (m, rk, cr), cal in calibrations.items()
            )
        )
    if args.out:
        args.out.write_text(json.dumps({"dataset": data.name, "records": records}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
