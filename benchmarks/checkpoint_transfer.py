"""Which checkpoint a shadow-calibrated inversion attack should read, when its per-class reference
also comes from the shadows (the single-version setting: no θ_o run as the reference).

The calibration reads one checkpoint of each inversion run and a per-class reference: the median
statistic over shadow runs that kept the class (labelleak.attacks.criteria). With one shadow
original θ_o′, the reference and the runs it is checked on share θ_o′, so the checkpoint that names
the shadows' sets best can be one whose reference fits θ_o′'s classes and not the target's θ_o
(docs/inversion_attacks.md, "Choosing the checkpoint across originals"). This script measures it
on a grid's own targets, read from the store:

- the grid's shadows, with ``--shadow-originals N`` shadow originals θ_o′ (seeds 1000, 1001, ...;
  the first one is the grid's own), each unlearned by the grid's shadow methods on the grid's
  shadow forget sets;
- the attack variant's run on every shadow model and on every grid target that forgot
  (forget-class test accuracy ≤ 10%);
- three calibrations, each scored on the targets by forget-set size: "one original" (the first
  θ_o′'s runs: what the grid does), "pooled" (every θ_o′, chosen in-sample) and "across originals"
  (every θ_o′, checkpoint and threshold chosen on runs scored against the other originals'
  reference, ``fit_calibration(groups=...)``);
- the targets' exact-set rate at every checkpoint, each with the threshold the pooled fit would
  choose there: a diagnostic of where the targets are named, never used to choose.

    python benchmarks/checkpoint_transfer.py configs/multiclass-methods.toml --dataset mnist --out OUT

Writes OUT/checkpoint_transfer_DATASET.md and .json (every run's readings are kept in the store).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import torch

from labelleak.attacks.criteria import (
    InversionAttack,
    InversionCalibration,
    InversionReading,
    InversionRun,
    fit_calibration,
    make_criterion,
)
from labelleak.cli.common import int_at_least
from labelleak.experiments.config import ExperimentConfig, load_config
from labelleak.experiments.context import Context
from labelleak.experiments.grid import attack_variants, cells
from labelleak.metrics import wilson_interval
from labelleak.report.markdown import markdown_table
from labelleak.store import atomic_write_bytes
from labelleak.targets import access_view

FORGOT = 0.10


def runs(attack: InversionAttack, ctx: Context, config: ExperimentConfig, dataset: str, n_originals: int) -> dict:
    """The attack's readings (every checkpoint) on every shadow model and every grid target that forgot."""
    setting = config.knowledge[0]
    wide = Context(
        replace(config, shadow=replace(config.shadow, n_models=n_originals)),
        store_root=str(ctx.store.root),
        results_dir=ctx.results_dir,
    )
    shadows = wide.shadows(dataset, config.seeds[0], setting)
    shadow_rows, steps = [], []
    for shadow in shadows.targets():
        key = {"attack": attack.calibration_key(), "shadow": shadow.identity}
        summary = shadows.cached(
            "checkpoint-transfer-run", key, lambda shadow=shadow: attack.shadow_run(shadow).summary()
        )
        steps = summary["checkpoints"]
        shadow_rows.append(
            {"original": shadow.seed, "forget": list(shadow.forget_classes), "readings": readings(summary)}
        )
    targets = []
    for cell in (c for c in cells(config) if c.dataset == dataset):
        target = ctx.unlearned(cell)
        if float(target.metrics["forget_test_acc"]) > FORGOT:
            continue
        key = {"attack": attack.calibration_key(), "target": ctx.target_key(cell)}
        summary, _ = ctx.store.cached(
            "checkpoint-transfer-run",
            key,
            lambda target=target: attack.run(access_view(target.model, attack.requires)).summary(),
        )
        targets.append(
            {"cell": cell.id, "method": cell.method, "forget": list(cell.forget), "readings": readings(summary)}
        )
    return {"shadows": shadow_rows, "targets": targets, "steps": steps}


def readings(summary: dict) -> list[InversionReading]:
    """Every checkpoint's reading of a stored run summary."""
    return InversionRun.from_summary(summary, prototypes=None).readings()


def score(calibration: InversionCalibration, targets: list[dict]) -> dict[int, list[bool]]:
    """Exact-set success of ``calibration`` on each target, by forget-set size."""
    criterion = make_criterion(calibration.criterion)
    out: dict[int, list[bool]] = {}
    for row in targets:
        reading = row["readings"][calibration.checkpoint]
        _, predicted = criterion.decide(reading, calibration=calibration)
        out.setdefault(len(row["forget"]), []).append(sorted(predicted) == sorted(row["forget"]))
    return out


def fmt(successes: list[bool]) -> str:
    k, n = sum(successes), len(successes)
    low, high = wilson_interval(k, n)
    return f"{k}/{n} = {k / n:.0%} [{low:.0%}–{high:.0%}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", help="the grid's TOML file")
    parser.add_argument("--dataset", required=True, help="one of the config's datasets")
    parser.add_argument("--attack", default="invert-wb", help="the config's inversion attack (default: invert-wb)")
    parser.add_argument(
        "--shadow-originals",
        type=int_at_least(2),
        default=2,
        help="shadow originals θ_o′, at least two: the fit across originals leaves one out (default: 2)",
    )
    parser.add_argument("--cache", help="artifact store (default: $LABELLEAK_CACHE or ~/.cache/labelleak)")
    parser.add_argument("--out", required=True, help="folder for the table and the JSON")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = load_config(args.config)
    ctx = Context(config, store_root=args.cache, results_dir=args.out)
    variants = [v for v in attack_variants(config) if v.name == args.attack]
    if len(variants) != 1:
        parser.error(f"--attack {args.attack}: the config has {len(variants)} variants of it, this needs exactly one")
    if args.dataset not in {d.name for d in config.datasets}:
        parser.error(
            f"--dataset {args.dataset}: not one of the config's ({', '.join(d.name for d in config.datasets)})"
        )
    attack = ctx.uncalibrated(variants[0])
    if not isinstance(attack, InversionAttack):
        parser.error(f"--attack {args.attack} is not an inversion attack")
    start = time.perf_counter()
    data = runs(attack, ctx, config, args.dataset, args.shadow_originals)
    shadows, targets = data["shadows"], data["targets"]
    first = min(r["original"] for r in shadows)
    own = [r for r in shadows if r["original"] == first]

    def fit(rows: list[dict], **options) -> InversionCalibration:
        return fit_calibration(
            [r["readings"] for r in rows], [r["forget"] for r in rows], criterion=attack.criterion, **options
        )

    fits = {
        "one original (the grid's)": fit(own),
        "pooled, chosen in-sample": fit(shadows),
        "across originals (leave one out)": fit(shadows, groups=[r["original"] for r in shadows]),
    }
    sizes = sorted({len(r["forget"]) for r in targets})
    lines = [
        f"# Checkpoint choice across shadow originals: {args.attack} on {args.dataset}",
        "",
        f"`python benchmarks/checkpoint_transfer.py {args.config} --dataset {args.dataset} "
        f"--shadow-originals {args.shadow_originals} --out OUT`: {len(shadows)} shadow runs from "
        f"{args.shadow_originals} shadow originals, {len(targets)} grid targets that forgot "
        f"(forget-class test accuracy ≤ {FORGOT:.0%}); {time.perf_counter() - start:.0f} s.",
        "",
        "Exact set named on the targets, per calibration:",
        "",
    ]
    size_headers = [f"|C| = {s}" for s in sizes]
    record: dict = {"fits": {}, "checkpoints": []}
    body = []
    for name, calibration in fits.items():
        by_size = score(calibration, targets)
        body.append(
            [
                name,
                calibration.checkpoint,
                f"{calibration.threshold:.3f}",
                f"{calibration.shadow_asr:.2f}",
                *(fmt(by_size[s]) for s in sizes),
            ]
        )
        record["fits"][name] = {**calibration.to_dict(), "targets": {str(s): by_size[s] for s in sizes}}
    lines += [
        markdown_table(["calibration", "checkpoint", "threshold", "shadow rate", *size_headers], body),
        "",
        "Diagnostic, never used to choose: each checkpoint with the pooled fit restricted to it.",
        "",
    ]
    steps = data["steps"]
    body = []
    for c in range(len(steps)):
        pooled = fit(shadows, checkpoints=[c])
        across = fit(shadows, checkpoints=[c], groups=[r["original"] for r in shadows])
        by_size = score(pooled, targets)
        body.append(
            [c, steps[c], f"{pooled.shadow_asr:.2f}", f"{across.shadow_asr:.2f}", *(fmt(by_size[s]) for s in sizes)]
        )
        record["checkpoints"].append(
            {
                "checkpoint": c,
                "pooled": pooled.to_dict(),
                "across": across.to_dict(),
                "targets": {str(s): by_size[s] for s in sizes},
            }
        )
    lines.append(
        markdown_table(
            ["checkpoint", "step", "pooled shadow rate", "across-originals shadow rate", *size_headers], body
        )
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines) + "\n"
    atomic_write_bytes(out / f"checkpoint_transfer_{args.dataset}.md", text.encode())
    atomic_write_bytes(out / f"checkpoint_transfer_{args.dataset}.json", (json.dumps(record, indent=1) + "\n").encode())
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
