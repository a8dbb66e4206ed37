"""The audit verdict on a grid's targets: ``labelleak audit`` as a model owner would run it, on every
unlearned model of an experiment config.

The runner (``labelleak run``) scores each attack on each target; the audit verdict, which fuses
the attacks' calibrated evidence (docs/audit.md), is only computed by ``labelleak audit``. This
script rebuilds each target of CONFIG through the artifact store (θ_o and θ_u are loaded when the
grid ran before, else trained), audits it in this process with the audit's defaults (white box
with θ_o, shadows of the model's own architecture drawn from the test split, seed 0), and tabulates
the exact-set rate of the verdict and of each attack by the number of forgotten classes, over the
targets that forgot (forget-class test accuracy ≤ 10%) and over all targets.

The audit knows nothing of the grid: its knowledge draw, shadows and calibrations are its own,
fit on the attacker's shadow models only.

Resumable: each audit is a JSON file under ``--out``/audits; a re-run skips what exists.

    python benchmarks/grid_audit.py configs/multiclass-fashion.toml --out docs/results/multiclass-fashion --threads 1
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from labelleak.audit import audit_model
from labelleak.audit.report import write_json
from labelleak.data import load_dataset
from labelleak.experiments.config import load_config
from labelleak.experiments.context import Context
from labelleak.experiments.grid import cells
from labelleak.metrics import wilson_interval

#: a target "forgot" when its forget-class test accuracy is at most this (as the zoo benchmark)
FORGOT = 0.10
VERDICT = "audit verdict"


def audit_cells(config_path: str, *, out: Path, cache: str | None, datasets: list[str] | None) -> list[dict]:
    """Audit every target of the config (or of ``datasets``), one JSON each under ``out/audits``."""
    config = load_config(config_path)
    ctx = Context(config, store_root=cache, results_dir=str(out))
    full = {}
    rows = []
    todo = [c for c in cells(config) if datasets is None or c.dataset in datasets]
    for i, cell in enumerate(todo):
        path = out / "audits" / f"{cell.id}.json"
        original = ctx.original(cell.dataset, cell.seed)
        target = ctx.unlearned(cell)
        if not path.exists():
            if cell.dataset not in full:
                # the attacker's data come from the whole test split, as in `labelleak audit --dataset`
                full[cell.dataset] = load_dataset(cell.dataset, root=ctx.dataset_config(cell.dataset).data_root)
            start = time.perf_counter()
            report = audit_model(
                target.model, dataset=full[cell.dataset], original=original.model, seed=0, store=ctx.store
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            write_json(report, path)
            data = json.loads(path.read_text())
            data["wall_seconds"] = time.perf_counter() - start
            path.write_text(json.dumps(data, indent=2) + "\n")
        data = json.loads(path.read_text())
        truth = sorted(cell.forget)
        success = {a["name"]: sorted(a["predicted"]) == truth for a in data["attacks"]}
        success[VERDICT] = sorted(data["verdict"]["forgotten"]) == truth
        rows.append(
            {
                "cell": cell.id,
                "dataset": cell.dataset,
                "method": cell.method,
                "forget": truth,
                "forget_test_acc": float(target.metrics["forget_test_acc"]),
                "verdict": sorted(data["verdict"]["forgotten"]),
                "success": success,
                "audit_seconds": data.get("wall_seconds"),
            }
        )
        print(f"[{i + 1}/{len(todo)}] {cell.id}: verdict {rows[-1]['verdict']} truth {truth}", flush=True)
    return rows


def table(rows: list[dict], *, title: str) -> str:
    """Exact-set rate per attack (verdict last) by |C|, each with its Wilson interval and n."""
    sizes = sorted({len(r["forget"]) for r in rows})
    names = sorted({a for r in rows for a in r["success"]} - {VERDICT}) + [VERDICT]
    lines = [f"### {title}", "", "| attack | " + " | ".join(f"|C| = {s}" for s in sizes) + " |"]
    lines.append("|---" * (len(sizes) + 1) + "|")
    for name in names:
        out = []
        for size in sizes:
            hits = [r["success"][name] for r in rows if len(r["forget"]) == size and name in r["success"]]
            if not hits:
                out.append("–")
                continue
            low, high = wilson_interval(sum(hits), len(hits))
            out.append(f"{sum(hits)}/{len(hits)} = {sum(hits) / len(hits):.0%} [{low:.0%}–{high:.0%}]")
        lines.append(f"| {name} | " + " | ".join(out) + " |")
    return "\n".join(lines) + "\n"


def misses(rows: list[dict]) -> str:
    """Every target that forgot and whose verdict missed: method, truth, verdict."""
    lines = ["### Verdict misses on the targets that forgot", "", "| target | forget acc | verdict |", "|---|---|---|"]
    for r in rows:
        if r["forget_test_acc"] <= FORGOT and not r["success"][VERDICT]:
            lines.append(f"| {r['cell']} | {r['forget_test_acc']:.1%} | {r['verdict']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", help="the experiment's TOML file (the grid whose targets are audited)")
    parser.add_argument("--out", required=True, help="folder for audits/*.json and audit.md")
    parser.add_argument("--cache", help="artifact store (default: $LABELLEAK_CACHE or ~/.cache/labelleak)")
    parser.add_argument("--datasets", help="comma-separated: only these of the config's datasets")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    rows = audit_cells(
        args.config, out=out, cache=args.cache, datasets=args.datasets.split(",") if args.datasets else None
    )
    forgot = [r for r in rows if r["forget_test_acc"] <= FORGOT]
    dataset_option = f" --datasets {args.datasets}" if args.datasets else ""
    seconds = sorted(r["audit_seconds"] for r in rows if r["audit_seconds"] is not None)
    text = "\n".join(
        [
            f"# The audit verdict on the targets of {Path(args.config).name}",
            "",
            f"`python benchmarks/grid_audit.py {args.config}{dataset_option} --out OUT`: {len(rows)} targets, "
            f"{len(forgot)} forgot (forget-class test accuracy ≤ {FORGOT:.0%}).",
            (
                f"Audit wall time, as recorded in each audit's JSON by the run that made it: slowest "
                f"{seconds[-1]:.1f} s (the first of a dataset trains the shadows the store lacks), median "
                f"{seconds[len(seconds) // 2]:.1f} s."
                if seconds
                else "No audit recorded its wall time."
            ),
            "",
            table(forgot, title="Exact set named, on the targets that forgot"),
            table(rows, title="Exact set named, on all targets"),
            misses(rows),
        ]
    )
    (out / "audit.md").write_text(text)
    (out / "audit.json").write_text(json.dumps(rows, indent=1) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
