"""The audit verdict on a grid's targets: ``labelleak audit`` as a model owner would run it, on every
unlearned model of an experiment config.

The runner (``labelleak run``) scores each attack on each target; the audit verdict, which fuses
the attacks' calibrated evidence (docs/audit.md), is only computed by ``labelleak audit``. This
script rebuilds each target of CONFIG through the artifact store (θ_o and θ_u are loaded when the
grid ran before, else trained), audits it in this process with the audit's defaults (white box
with θ_o, shadows of the model's own architecture drawn from the test split, seed 0), and tabulates
the exact-set rate of the verdict and of each attack by the number of forgotten classes, over the
targets that forgot (forget-class test accuracy ≤ 10%) and over all targets, per dataset. Each
verdict miss is listed with the test accuracy, on θ_o and on θ_u, of every class it named wrongly
or left out: a retained class whose accuracy the unlearning itself cut (collateral forgetting)
looks forgotten to every attack that reads behaviour, and the listing tells it from the verdict's own errors.

The audit knows nothing of the grid: its knowledge draw, shadows and calibrations are its own,
fit on the attacker's shadow models only.

Resumable: each audit is a JSON file under ``--out``/audits that records a hash of what it depends on
(the cache key of the θ_u it audited, the options and revision of each attack it ran, the
parameters its shadow models are unlearned with on the dataset, and the revision of the verdict's
rule); a re-run keeps an audit only while all four are unchanged (a changed default of a grid method
or of a shadow method, a new revision of an attack or of the verdict, audits the target again). The audit JSON also keeps the audited θ_u's test
accuracies (``target_metrics``), so a re-run whose audits are all current loads no θ_u.

    python benchmarks/grid_audit.py configs/multiclass-methods.toml --datasets fashion-mnist,mnist --out docs/results/multiclass-methods --threads 1

``--access queries`` (or ``labels``) audits what an API serving each target reveals, as
``labelleak audit --access`` does (shadows still of the targets' architecture); ``--attacks`` and
``--query-budget`` are the audit's own options, and ``--without-original`` withholds θ_o (the
data-free API attacker holds no earlier model; the audits keep one shadow original by the dataset's
recipe, unlearned by every shadow method, as when the published folders were made, where
``labelleak audit`` without θ_o now trains three of varied recipes, each forget set unlearned by one
method in turn). Each row records the queries the audit's attacks
spent on the target, summed, and the report gives their median and maximum:

    python benchmarks/grid_audit.py configs/query-budget.toml --access queries --without-original \
        --attacks invert-cma,label-reach,noise-frequency,noise-logprob --query-budget 400 --out OUT

``--tables-only`` audits nothing and writes ``audit.md`` again from the rows of ``OUT/audit.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from labelleak.access import ACCESS_LEVELS
from labelleak.attacks.shadow import ShadowConfig
from labelleak.audit import AuditError, audit_model
from labelleak.audit.run import INVERSION_REFERENCE, SHADOW_METHODS, attack_options, construct_attack, select_attacks
from labelleak.audit.verdict import VERDICT_REVISION
from labelleak.data import ImageDataset, load_dataset
from labelleak.experiments.config import load_config
from labelleak.experiments.context import Context
from labelleak.experiments.grid import cells
from labelleak.metrics import wilson_interval
from labelleak.models import per_class_accuracy
from labelleak.report.markdown import markdown_table
from labelleak.store import atomic_write_bytes, config_hash
from labelleak.unlearning import forget_bound

#: a target "forgot" when its forget-class test accuracy is at most this (as the zoo benchmark)
FORGOT = 0.10
VERDICT = "audit verdict"


@dataclass(frozen=True)
class AuditSetting:
    """What each audit is run with: the access to θ_u, the attacks, their query budget, θ_o or not."""

    access: str = "weights"
    attacks: str = "default"
    query_budget: int | None = None
    with_original: bool = True

    def command_options(self) -> str:
        """The command-line options that select this setting (empty for the default)."""
        options = []
        if self.access != "weights":
            options.append(f"--access {self.access}")
        if not self.with_original:
            options.append("--without-original")
        if self.attacks != "default":
            options.append(f"--attacks {self.attacks}")
        if self.query_budget is not None:
            options.append(f"--query-budget {self.query_budget}")
        return "".join(f" {o}" for o in options)


#: the key of an audit JSON under which the audited θ_u's test accuracies are kept, so that a
#: re-run whose audits are all current reads its rows without loading any θ_u
TARGET_METRICS = "target_metrics"


def audit_cells(
    config_path: str, *, out: Path, cache: str | None, datasets: list[str] | None, setting: AuditSetting
) -> list[dict]:
    """Audit every target of the config (or of ``datasets``), one JSON each under ``out/audits``."""
    config = load_config(config_path)
    ctx = Context(config, store_root=cache, results_dir=str(out))
    full = {}
    rows = []
    todo = [c for c in cells(config) if datasets is None or c.dataset in datasets]
    for i, cell in enumerate(todo):
        path = out / "audits" / f"{cell.id}.json"
        original = ctx.original(cell.dataset, cell.seed)
        key = audit_key(ctx.target_key(cell), dataset=cell.dataset, setting=setting)
        truth = sorted(cell.forget)
        data = stored_audit(path, key=key)
        target = None
        if data is None or TARGET_METRICS not in data:
            target = ctx.unlearned(cell)
            metrics = {
                "forget_test_acc": float(target.metrics["forget_test_acc"]),
                "class_test_acc": class_accuracy(target.model, ctx.dataset(cell.dataset)),
            }
        else:
            metrics = data[TARGET_METRICS]
        row = {
            "cell": cell.id,
            "dataset": cell.dataset,
            "method": cell.method,
            "forget": truth,
            "forget_test_acc": metrics["forget_test_acc"],
        }
        if data is None:
            assert target is not None
            if cell.dataset not in full:
                # the attacker's data come from the whole test split, as in `labelleak audit --dataset`
                full[cell.dataset] = load_dataset(cell.dataset, root=ctx.dataset_config(cell.dataset).data_root)
            start = time.perf_counter()
            try:
                report = audit_model(
                    target.model,
                    dataset=full[cell.dataset],
                    original=original.model if setting.with_original else None,
                    access=setting.access,
                    attacks=setting.attacks,
                    query_budget=setting.query_budget,
                    seed=0,
                    store=ctx.store,
                    # the setting its published folders were audited with, whatever the audit's default
                    shadow_originals=1,
                    shadow_recipes="same",
                    shadow_methods_per_set="all",
                )
            except AuditError as err:  # the audit refuses the model, as `labelleak audit` would: listed, not counted
                rows.append({**row, "refused": str(err)})
                print(f"[{i + 1}/{len(todo)}] {cell.id}: not audited: {err}", flush=True)
                continue
            data = {**report.to_json(), "wall_seconds": time.perf_counter() - start, "audit_key": key}
        if TARGET_METRICS not in data:
            data[TARGET_METRICS] = metrics
            atomic_write_bytes(path, (json.dumps(data, indent=2) + "\n").encode())
        success = {a["name"]: sorted(a["predicted"]) == truth for a in data["attacks"]}
        success[VERDICT] = sorted(data["verdict"]["forgotten"]) == truth
        rows.append(
            {
                **row,
                "class_test_acc": metrics["class_test_acc"],
                # measured on the same test split when θ_o was trained, and stored with it
                "original_class_test_acc": [round(a, 4) for a in original.metrics["per_class_test_accuracy"]],
                "verdict": sorted(data["verdict"]["forgotten"]),
                "success": success,
                "queries": sum(a["queries"] for a in data["attacks"] if a["access"] in ("labels", "queries")),
                "audit_seconds": data.get("wall_seconds"),
            }
        )
        print(f"[{i + 1}/{len(todo)}] {cell.id}: verdict {rows[-1]['verdict']} truth {truth}", flush=True)
    return rows


def audit_key(target_key: dict, *, dataset: str, setting: AuditSetting = AuditSetting()) -> str:
    """A hash of what an audit of the θ_u with cache key ``target_key`` depends on besides the code:
    that θ_u, the access the audit had, the attacks it runs (name, options and revision of each, as
    the audit builds them for a model of known architecture in ``setting``), the parameters with
    which it unlearns its shadows on ``dataset`` and the revision of the verdict's rule."""
    options = attack_options(
        seed=0,
        query_budget=setting.query_budget,
        verbose=False,
        inversion_reference=INVERSION_REFERENCE if setting.with_original else None,
    )
    attacks = [
        construct_attack(name, options=options).result_key()
        for name in select_attacks(setting.attacks, level=setting.access, has_original=setting.with_original)
    ]
    shadows = ShadowConfig(methods=SHADOW_METHODS).method_params(dataset)
    key: dict = {
        "target": target_key,
        "attacks": attacks,
        "shadow_methods": shadows,
        "verdict_revision": VERDICT_REVISION,
    }
    if setting != AuditSetting():  # the default's key is the one its audits were stored under
        key["access"] = setting.access
        key["with_original"] = setting.with_original
    return config_hash(key)


def stored_audit(path: Path, *, key: str) -> dict | None:
    """The audit stored at ``path`` when its :func:`audit_key` is ``key``; None when there is none,
    or when it audited another model or with other shadows (or predates the record of its key)."""
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    return data if data.get("audit_key") == key else None


def class_accuracy(model: torch.nn.Module, data: ImageDataset) -> list[float]:
    """Test accuracy of each class, to four decimals."""
    return [round(a, 4) for a in per_class_accuracy(model, data.x_test, data.y_test, data.num_classes)]


def table(rows: list[dict], *, title: str) -> str:
    """Exact-set rate per attack (verdict last) by |C|, each with its Wilson interval and n."""
    sizes = sorted({len(r["forget"]) for r in rows})
    names = sorted({a for r in rows for a in r["success"]} - {VERDICT}) + [VERDICT]
    body = []
    for name in names:
        out = [name]
        for size in sizes:
            hits = [r["success"][name] for r in rows if len(r["forget"]) == size and name in r["success"]]
            if not hits:
                out.append("–")
                continue
            low, high = wilson_interval(sum(hits), len(hits))
            out.append(f"{sum(hits)}/{len(hits)} = {sum(hits) / len(hits):.0%} [{low:.0%}–{high:.0%}]")
        body.append(out)
    return f"### {title}\n\n" + markdown_table(["attack", *(f"|C| = {s}" for s in sizes)], body) + "\n"


def wrong_classes(row: dict) -> str:
    """The classes the verdict added or left out, each as "+k" or "−k" with its test accuracy on θ_o → θ_u."""
    truth, named = set(row["forget"]), set(row["verdict"])
    before, after = row["original_class_test_acc"], row["class_test_acc"]
    return ", ".join(
        f"{'+' if k in named else '−'}{k} ({before[k]:.0%} → {after[k]:.0%})" for k in sorted(truth ^ named)
    )


def collateral(row: dict) -> bool:
    """True when the verdict names every forgotten class and adds only classes that the unlearning
    itself left at or below the forgetting bound max(20%, 2/K): forgotten too, though not asked for."""
    truth, named = set(row["forget"]), set(row["verdict"])
    bound = forget_bound(len(row["class_test_acc"]))
    return truth < named and all(row["class_test_acc"][k] <= bound for k in named - truth)


def misses(rows: list[dict]) -> str:
    """Every target that forgot and whose verdict missed, with the accuracy of each class it got wrong."""
    missed = [r for r in rows if r["forget_test_acc"] <= FORGOT and not r["success"][VERDICT]]
    heading = "### Verdict misses on the targets that forgot"
    if not missed:
        return f"{heading}\n\nNone: the verdict named the exact set of every target that forgot.\n"
    lines = [
        heading,
        "",
        "Classes named wrongly (+) or left out (−), with their test accuracy on θ_o → θ_u. "
        f"{sum(map(collateral, missed))} of {len(missed)} misses only add classes that the unlearning itself "
        f"left at or below the forgetting bound max(20%, 2/K) (collateral forgetting).",
        "",
        markdown_table(
            ["target", "forget acc", "verdict", "wrong classes"],
            [[r["cell"], f"{r['forget_test_acc']:.1%}", r["verdict"], wrong_classes(r)] for r in missed],
        ),
    ]
    return "\n".join(lines) + "\n"


def size_confusion(rows: list[dict], *, title: str) -> str:
    """How many classes the verdict named against how many were forgotten, with its micro-averaged
    precision and recall of the named set per forget-set size."""
    sizes = sorted({len(r["forget"]) for r in rows})
    named = sorted({len(r["verdict"]) for r in rows})
    body = []
    for size in sizes:
        mine = [r for r in rows if len(r["forget"]) == size]
        counts = [sum(len(r["verdict"]) == n for r in mine) for n in named]
        right = sum(len(set(r["verdict"]) & set(r["forget"])) for r in mine)
        precision = right / max(1, sum(len(r["verdict"]) for r in mine))
        recall = right / sum(len(r["forget"]) for r in mine)
        body.append([size, *counts, f"{precision:.1%}", f"{recall:.1%}"])
    headers = ["|C|", *(f"named {n}" for n in named), "precision", "recall"]
    return f"### {title}\n\n" + markdown_table(headers, body) + "\n"


def tables(rows: list[dict]) -> list[str]:
    """The two exact-set tables (targets that forgot, all targets) of each dataset in turn."""
    out = []
    for dataset in sorted({r["dataset"] for r in rows}):
        mine = [r for r in rows if r["dataset"] == dataset]
        forgot = [r for r in mine if r["forget_test_acc"] <= FORGOT]
        out.append(f"## {dataset}: {len(mine)} targets, {len(forgot)} forgot\n")
        out.append(table(forgot, title=f"{dataset}: exact set named, on the targets that forgot"))
        out.append(size_confusion(forgot, title=f"{dataset}: classes the verdict named, on the targets that forgot"))
        out.append(table(mine, title=f"{dataset}: exact set named, on all targets"))
    return out


def query_line(rows: list[dict]) -> str:
    """The queries the audits' black-box attacks spent per target, summed over the attacks."""
    spent = sorted(r["queries"] for r in rows if "queries" in r)
    if not spent or not spent[-1]:
        return ""
    return (
        f"Queries to θ_u per target, summed over the attacks that query it: median {spent[len(spent) // 2]:,}, "
        f"most {spent[-1]:,}."
    )


def refused_line(rows: list[dict]) -> str:
    """The targets the audit refused (listed in audit.json, left out of every table)."""
    refused = [r for r in rows if "refused" in r]
    if not refused:
        return ""
    return (
        "Not audited, the audit refused the model: " + "; ".join(f"{r['cell']} ({r['refused']})" for r in refused) + "."
    )


def report(rows: list[dict], *, config: str, datasets: str | None, setting: AuditSetting) -> str:
    """audit.md: how it was made, the tables of each dataset and the verdict's misses."""
    refused = refused_line(rows)
    rows = [r for r in rows if "refused" not in r]
    forgot = [r for r in rows if r["forget_test_acc"] <= FORGOT]
    options = (f" --datasets {datasets}" if datasets else "") + setting.command_options()
    seconds = sorted(r["audit_seconds"] for r in rows if r["audit_seconds"] is not None)
    return "\n".join(
        [
            f"# The audit verdict on the targets of {Path(config).name}",
            "",
            f"`python benchmarks/grid_audit.py {config}{options} --out OUT`: {len(rows)} targets audited, "
            f"{len(forgot)} forgot (forget-class test accuracy ≤ {FORGOT:.0%}). {query_line(rows)} {refused}".rstrip(),
            (
                f"Audit wall time, as recorded in each audit's JSON by the run that made it: slowest "
                f"{seconds[-1]:.1f} s (the first of a dataset trains the shadows the store lacks), median "
                f"{seconds[len(seconds) // 2]:.1f} s."
                if seconds
                else "No audit recorded its wall time."
            ),
            "",
            *tables(rows),
            misses(rows),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", help="the experiment's TOML file (the grid whose targets are audited)")
    parser.add_argument("--out", required=True, help="folder for audits/*.json and audit.md")
    parser.add_argument("--cache", help="artifact store (default: $LABELLEAK_CACHE or ~/.cache/labelleak)")
    parser.add_argument("--datasets", help="comma-separated: only these of the config's datasets")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    parser.add_argument(
        "--access",
        choices=ACCESS_LEVELS,
        default="weights",
        help="what the audit's attacks get of each target (labelleak audit --access; default: weights)",
    )
    parser.add_argument("--attacks", default="default", help="the audit's attacks (labelleak audit --attacks)")
    parser.add_argument("--query-budget", type=int, help="most queries per black-box attack (labelleak audit)")
    parser.add_argument(
        "--without-original", action="store_true", help="audit without θ_o (default: the grid's θ_o is given)"
    )
    parser.add_argument(
        "--tables-only",
        action="store_true",
        help="audit nothing: write audit.md again from the rows of OUT/audit.json (after a change of the tables)",
    )
    args = parser.parse_args(argv)
    setting = AuditSetting(
        access=args.access,
        attacks=args.attacks,
        query_budget=args.query_budget,
        with_original=not args.without_original,
    )
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    if args.tables_only:
        saved = out / "audit.json"
        if not saved.is_file():
            print(f"grid_audit.py: error: --tables-only reads {saved}, which does not exist", file=sys.stderr)
            return 2
        rows = json.loads(saved.read_text())
    else:
        rows = audit_cells(
            args.config,
            out=out,
            cache=args.cache,
            datasets=args.datasets.split(",") if args.datasets else None,
            setting=setting,
        )
        (out / "audit.json").write_text(json.dumps(rows, indent=1) + "\n")
    text = report(rows, config=args.config, datasets=args.datasets, setting=setting)
    (out / "audit.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
