"""The foreign-model zoo: targets labelleak did not train, audited as a model owner would.

Architectures from ``benchmarks/zoo_models.py`` (a BatchNorm CNN, a small residual net, a VGG-style
net with BatchNorm, an MLP with dropout) are trained and unlearned here by deliberately
independent plain-PyTorch code (none of labelleak's training or unlearning code), with five
methods by default: retrain, fine-tune, NegGrad+ (ascent on D_f, descent on D_r), random labels
and a bad-teacher distillation. On request (``--methods``): Amnesiac (D_f relabelled, trained
with all of D_r), SCRUB (away from θ_o on D_f, close to it on D_r) and SalUn (relabelling confined
to the half of the weights most salient to D_f). Each target is then audited through the command line,
``labelleak audit --model-factory benchmarks/zoo_models.py:FACTORY --weights θ_u --original θ_o
--dataset D --json OUT``, and the script tabulates exact-match ASR per attack × architecture ×
dataset, over all targets and over the targets that forgot (forget-class test accuracy ≤ 10%),
with the audit verdict beside them.

With ``--onnx`` each target is exported to ONNX and audited as ``labelleak audit --onnx FILE``
(queries only, architecture unknown), with ``--shadow-archs`` passed on: how far the black-box
attacks' calibrations transfer to architectures the attacker never saw.

With ``--access queries`` (or ``labels``), ``--without-original`` and ``--query-budget N`` each target
is audited as an API attacker would audit it: the audit gets what the served model reveals (its
probabilities, or top-1 labels), no θ_o, and at most N queries per black-box attack; the shadows
stay of the owner's architecture.

Resumable: every model and every audit JSON is a file under ``--out``; a re-run skips what exists,
except an audit made under an older verdict rule (``labelleak.audit.verdict.VERDICT_REVISION``,
recorded in each audit JSON), which it audits again.

    python benchmarks/foreign_zoo.py --datasets mnist --out runs/zoo --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from labelleak.access import ACCESS_LEVELS
from labelleak.attacks import AttackResult
from labelleak.attacks.criteria import REFERENCES, SET_DECISIONS
from labelleak.attacks.setsize import flag, log_odds
from labelleak.attacks.shadow import METHODS_PER_SET, RECIPE_CHOICES
from labelleak.audit import load_factory, load_user_model, run_audit, verdict, weights_target
from labelleak.audit.verdict import VERDICT_REVISION
from labelleak.cli.common import int_at_least
from labelleak.data import load_dataset
from labelleak.metrics import wilson_interval
from labelleak.report.markdown import markdown_table
from labelleak.unlearning import met_goal

sys.path.insert(0, str(Path(__file__).resolve().parent))
from zoo_models import ZOO

METHODS = ("retrain", "finetune", "neggrad_plus", "random_labels", "bad_teacher")
#: every method ``unlearn`` knows; the default run keeps ``METHODS`` so that earlier zoos rebuild as they were
ALL_METHODS = (*METHODS, "amnesiac", "scrub", "salun")
#: a target "forgot" when its forget-class test accuracy is at most this
FORGOT = 0.10


# --------------------------------------------------------------------------- independent training


def batches(n: int, size: int, gen: torch.Generator):
    order = torch.randperm(n, generator=gen)
    for i in range(0, n, size):
        yield order[i : i + size]


def step(opt: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    opt.zero_grad()
    loss.backward()
    opt.step()


def fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int, lr: float, seed: int) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        for idx in batches(len(y), 128, gen):
            step(opt, F.cross_entropy(model(x[idx]), y[idx]))
    return model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    if len(y) == 0:
        return float("nan")
    model.eval()
    hits = sum(int((model(x[i : i + 1024]).argmax(1) == y[i : i + 1024]).sum()) for i in range(0, len(y), 1024))
    return hits / len(y)


def other_labels(y: torch.Tensor, num_classes: int, gen: torch.Generator) -> torch.Tensor:
    """Each label replaced by one of the other classes, uniformly."""
    return (y + torch.randint(1, num_classes, y.shape, generator=gen)) % num_classes


def relabelled_with_retained(xf, yf, xr, yr, num_classes: int, gen: torch.Generator):
    """The random-labels training set: D_f under other labels, then 4 × |D_f| retained images."""
    relabelled = other_labels(yf, num_classes, gen)
    keep = torch.randperm(len(yr), generator=gen)[: 4 * len(yf)]
    return torch.cat([xf, xr[keep]]), torch.cat([relabelled, yr[keep]])


def divergence(
    student_out: torch.Tensor, teacher: nn.Module, x: torch.Tensor, temperature: float = 2.0
) -> torch.Tensor:
    """SCRUB's KL(teacher ‖ student) at temperature T, scaled by T²."""
    with torch.no_grad():
        target = (teacher(x) / temperature).softmax(1)
    log_student = (student_out / temperature).log_softmax(1)
    return F.kl_div(log_student, target, reduction="batchmean") * temperature**2


def saliency_mask(model: nn.Module, xf: torch.Tensor, yf: torch.Tensor, *, fraction: float) -> list[torch.Tensor]:
    """SalUn's mask: the ``fraction`` of all parameter entries with the largest |∂CE/∂θ| on D_f, ranked across
    layers, at θ_o in eval mode."""
    model.eval()
    model.zero_grad()
    for i in range(0, len(yf), 256):
        F.cross_entropy(model(xf[i : i + 256]), yf[i : i + 256], reduction="sum").backward()
    grads = [p.grad.abs() for p in model.parameters()]
    flat = torch.cat([g.reshape(-1) for g in grads])
    cut = torch.topk(flat, max(1, int(fraction * len(flat)))).values.min()
    model.zero_grad()
    return [g >= cut for g in grads]


def unlearn(method: str, original: nn.Module, factory, x, y, forget: list[int], *, epochs: int, seed: int):
    """θ_u from θ_o by ``method``; plain loops, hyper-parameters of the methods' papers scaled to this zoo."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    is_forget = torch.isin(y, torch.tensor(forget))
    xf, yf, xr, yr = x[is_forget], y[is_forget], x[~is_forget], y[~is_forget]
    k = int(y.max()) + 1
    model = factory()
    model.load_state_dict(original.state_dict())
    if method == "retrain":
        return fit(factory(), xr, yr, epochs=epochs, lr=1e-3, seed=seed)
    if method == "finetune":  # catastrophic forgetting: D_r only, a hotter learning rate
        return fit(model, xr, yr, epochs=2, lr=3e-3, seed=seed)
    if method == "neggrad_plus":  # Kurmanji et al. 2023: descent on D_r, ascent on D_f, until D_f is forgotten
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        for _ in range(5):
            model.train()
            for idx in batches(len(yr), 128, gen):
                f = torch.randint(0, len(yf), (64,), generator=gen)
                loss = F.cross_entropy(model(xr[idx]), yr[idx]) - 0.5 * F.cross_entropy(model(xf[f]), yf[f])
                step(opt, loss)
                if accuracy(model, xf[:256], yf[:256]) < 0.05:
                    return model.eval()
        return model.eval()
    if method == "random_labels":  # Graves et al. 2021 relabelling: D_f gets random other labels, with D_r
        xs, ys = relabelled_with_retained(xf, yf, xr, yr, k, gen)
        return fit(model, xs, ys, epochs=2, lr=1e-3, seed=seed)
    if method == "amnesiac":  # Graves et al. 2021 as the SSD and bad-teacher papers run it: all of D_r
        return fit(model, torch.cat([xf, xr]), torch.cat([other_labels(yf, k, gen), yr]), epochs=3, lr=1e-4, seed=seed)
    if method == "scrub":  # Kurmanji et al. 2023: away from θ_o on D_f, then CE and near θ_o on D_r, per epoch
        # 3 epochs with max steps in the first 2 (their large-scale recipe); Adam at 5e-4, α = 0.5 and T = 2
        # (their small-scale one); each min epoch on 4 × |D_f| retained images, as this zoo's relabelling
        teacher = original.eval()
        opt = torch.optim.Adam(model.parameters(), lr=5e-4)
        for epoch in range(3):
            model.train()
            if epoch < 2:
                for idx in batches(len(yf), 128, gen):
                    step(opt, -divergence(model(xf[idx]), teacher, xf[idx]))
            keep = torch.randperm(len(yr), generator=gen)[: 4 * len(yf)]
            for idx in batches(len(keep), 128, gen):
                b = keep[idx]
                out = model(xr[b])
                step(opt, F.cross_entropy(out, yr[b]) + 0.5 * divergence(out, teacher, xr[b]))
        return model.eval()
    if method == "salun":  # Fan et al. 2024: relabelling, on the half of the weights most salient to D_f only
        # (their default sparsity); the relabelling is this zoo's random-labels recipe (2 epochs, Adam at 1e-3)
        mask = saliency_mask(model, xf, yf, fraction=0.5)
        start = [p.detach().clone() for p in model.parameters()]
        xs, ys = relabelled_with_retained(xf, yf, xr, yr, k, gen)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        for _ in range(2):
            model.train()
            for idx in batches(len(ys), 128, gen):
                opt.zero_grad()
                F.cross_entropy(model(xs[idx]), ys[idx]).backward()
                for p, m in zip(model.parameters(), mask):
                    p.grad.mul_(m)
                opt.step()
                with torch.no_grad():  # non-salient weights stay θ_o's exactly
                    for p, m, p0 in zip(model.parameters(), mask, start):
                        p.copy_(torch.where(m, p, p0))
        return model.eval()
    if method == "bad_teacher":  # Chundawat et al. 2023: distil θ_o on D_r and a random net on D_f
        teacher, dumb = original.eval(), factory().eval()
        keep = torch.randperm(len(yr), generator=gen)[: 3 * len(yf)]
        xs = torch.cat([xf, xr[keep]])
        forgotten = torch.cat([torch.ones(len(yf), dtype=torch.bool), torch.zeros(len(keep), dtype=torch.bool)])
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        for _ in range(3):
            model.train()
            for idx in batches(len(xs), 128, gen):
                with torch.no_grad():
                    target = torch.where(forgotten[idx, None], dumb(xs[idx]), teacher(xs[idx])).softmax(1)
                loss = F.kl_div(model(xs[idx]).log_softmax(1), target, reduction="batchmean")
                step(opt, loss)
        return model.eval()
    raise ValueError(f"unknown method {method!r}")


# --------------------------------------------------------------------------- the zoo


def forget_sets(seed: int) -> list[list[int]]:
    """Two single classes, a pair outside them, then a second pair and a triple of any classes
    (drawn after the first three, so that adding them left the earlier targets as they were). A
    second pair equal to the first is left out: its targets would be the first pair's again, and
    every table would count them twice."""
    rng = np.random.default_rng(seed)
    singles = sorted(int(c) for c in rng.choice(10, size=2, replace=False))
    pair = sorted(int(c) for c in rng.choice([c for c in range(10) if c not in singles], size=2, replace=False))
    second_pair = sorted(int(c) for c in rng.choice(10, size=2, replace=False))
    triple = sorted(int(c) for c in rng.choice(10, size=3, replace=False))
    sets = [[singles[0]], [singles[1]], pair, second_pair, triple]
    return [forget for i, forget in enumerate(sets) if forget not in sets[:i]]


def multiclass_sets(seed: int, *, pairs: int = 10, triples: int = 5) -> list[list[int]]:
    """``pairs`` distinct random pairs, then ``triples`` distinct random triples, of any classes."""
    rng = np.random.default_rng(seed)
    sets: list[list[int]] = []
    for size, count in ((2, pairs), (3, triples)):
        drawn: list[list[int]] = []
        while len(drawn) < count:
            forget = sorted(int(c) for c in rng.choice(10, size=size, replace=False))
            if forget not in drawn:
                drawn.append(forget)
        sets += drawn
    return sets


def zoo_factory(arch: str, data) -> Callable[[], nn.Module]:
    """The zoo's factory of ``arch`` for ``data``'s images (28×28 grey or 32×32 colour)."""
    return ZOO[arch][1]["g28" if data.input_shape[0] == 1 else "c32"]


def build_targets(args, dataset: str, arch: str, out: Path) -> list[dict]:
    data = load_dataset(dataset)
    factory = zoo_factory(arch, data)
    gen = torch.Generator().manual_seed(args.seed)
    subset = torch.randperm(len(data.y_train), generator=gen)[: args.train_size]
    x, y = data.x_train[subset], data.y_train[subset]
    models = out / "models"
    models.mkdir(parents=True, exist_ok=True)
    original_path = models / f"{dataset}_{arch}_original.safetensors"
    original = factory()
    if original_path.exists():
        original.load_state_dict(load_file(str(original_path)))
    else:
        torch.manual_seed(args.seed)
        original = fit(factory(), x, y, epochs=args.epochs, lr=1e-3, seed=args.seed)
        save_file({k: v.contiguous() for k, v in original.state_dict().items()}, str(original_path))
    original.eval()
    targets = []
    sets = forget_sets(args.seed + len(dataset))
    if args.sets == "multiclass":
        sets = multiclass_sets(args.seed + len(dataset))
    elif args.sets == "singles":
        sets = [forget for forget in sets if len(forget) == 1]
    for forget in sets:
        for method in args.methods:
            name = f"{dataset}_{arch}_{method}_f{'-'.join(map(str, forget))}"
            path = models / f"{name}.safetensors"
            meta = models / f"{name}.json"
            if not meta.exists():
                start = time.process_time()
                model = unlearn(method, original, factory, x, y, forget, epochs=args.epochs, seed=args.seed)
                seconds = time.process_time() - start
                save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
                is_f = torch.isin(data.y_test, torch.tensor(forget))
                meta.write_text(
                    json.dumps(
                        {
                            "forget_test_acc": accuracy(model, data.x_test[is_f], data.y_test[is_f]),
                            "retain_test_acc": accuracy(model, data.x_test[~is_f], data.y_test[~is_f]),
                            "original_test_acc": accuracy(original, data.x_test, data.y_test),
                            "cpu_seconds": seconds,
                        }
                    )
                )
            targets.append(
                {
                    "name": name,
                    "dataset": dataset,
                    "arch": arch,
                    "batchnorm": ZOO[arch][0],
                    "method": method,
                    "forget": forget,
                    "factory": f"benchmarks/zoo_models.py:{factory.__name__}",
                    "weights": str(path),
                    "original": str(original_path),
                    **json.loads(meta.read_text()),
                }
            )
    return targets


def served(args) -> str:
    """The suffix of what the audit is handed of the target: its access level, whether θ_o, and the
    query budget; "" for the default (weights and θ_o, each attack's own budget)."""
    return (
        (f"-access-{args.access}" if args.access else "")
        + ("-without-original" if args.without_original else "")
        + (f"-budget-{args.query_budget}" if args.query_budget else "")
    )


def variant(args) -> str:
    """The suffix of this run's audit folder and tables: "" for the audit as it is, else the ablation's
    name, followed by the shadows' setting when one was asked for (without: one original, by the
    dataset's recipe, every forget set by every shadow method). ``--shadow-methods-per-set`` on its own
    is an ablation named as such; beside what the audit is handed (or ``--onnx``) it is part of the
    shadows' setting."""
    per_set = args.shadow_methods_per_set if served(args) or args.onnx else None
    shadows = (
        (f"-shadow-originals-{args.shadow_originals}" if args.shadow_originals else "")
        + (f"-recipes-{args.shadow_recipes}" if args.shadow_recipes else "")
        + (f"-methods-per-set-{per_set}" if per_set else "")
    )
    return ablation(args) + shadows


def ablation(args) -> str:
    """The ablation's part of :func:`variant`."""
    if args.uncalibrated:
        return "-uncalibrated"
    attacks = "-attacks-" + args.attacks.replace(",", "-") if args.attacks else ""
    if args.onnx:
        return (
            "-onnx" + (f"-{args.shadow_archs.replace(',', '-')}" if args.shadow_archs else "") + attacks + served(args)
        )
    if served(args):
        return served(args) + attacks
    if args.shadow_methods:
        return "-shadow-methods-" + args.shadow_methods.replace(",", "-")
    if args.shadow_methods_per_set:
        return f"-shadow-methods-per-set-{args.shadow_methods_per_set}"
    if args.inversion_set_decision:
        return f"-inversion-set-decision-{args.inversion_set_decision}"
    if attacks:
        return attacks
    return "-shadow-reference" if args.inversion_reference == "shadows" else ""


def export_onnx(target: dict, out: Path) -> Path:
    """The unlearned model as an ONNX file (what an owner serving it would hand over), written once."""
    path = out / "onnx" / f"{target['name']}.onnx"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        data = load_dataset(target["dataset"])
        model = zoo_factory(target["arch"], data)()
        model.load_state_dict(load_file(target["weights"]))
        model.eval()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
            torch.onnx.export(
                model,
                (data.x_test[:1],),
                str(path),
                dynamo=False,
                input_names=["image"],
                output_names=["logits"],
                dynamic_axes={"image": {0: "batch"}},
            )
    return path


def stored(result: Path) -> dict | None:
    """The audit JSON at ``result`` when it was made under today's verdict rule; None when there is
    none or its verdict is an older rule's (a JSON without the record predates revision 2)."""
    if not result.exists():
        return None
    data = json.loads(result.read_text())
    return data if data.get("verdict_revision", 1) == VERDICT_REVISION else None


def audit(target: dict, args, out: Path) -> dict:
    result = out / f"audits{variant(args)}" / f"{target['name']}.json"
    data = stored(result)
    if data is None and args.uncalibrated:
        result.parent.mkdir(parents=True, exist_ok=True)
        data = {**uncalibrated_inversion(target, args), "verdict_revision": VERDICT_REVISION}
        result.write_text(json.dumps(data))
    if data is None:
        result.parent.mkdir(parents=True, exist_ok=True)
        model = (
            ["--onnx", str(export_onnx(target, out))]
            if args.onnx
            else [
                "--model-factory",
                target["factory"],
                "--weights",
                target["weights"],
                *([] if args.without_original else ["--original", target["original"]]),
            ]
        )
        command = [
            "labelleak", "audit", *model, "--dataset", target["dataset"], "--json", str(result),
            "--quiet", "--threads", str(args.threads), "--workers", str(args.threads),
        ]  # fmt: skip
        if args.shadow_archs:
            command += ["--shadow-archs", args.shadow_archs]
        if args.cache:
            command += ["--cache", args.cache]
        if args.single_class_shadows:
            command += ["--single-class-shadows"]
        if args.inversion_reference == "shadows":
            command += ["--inversion-reference", "shadows"]
        if args.shadow_methods:
            command += ["--shadow-methods", args.shadow_methods]
        if args.attacks:
            command += ["--attacks", args.attacks]
        # named even when not asked for: the folders without a shadows' suffix hold audits with one
        # original, by the dataset's recipe, unlearned by every shadow method, whatever the audit's
        # default for this setting
        command += [
            "--shadow-originals",
            str(args.shadow_originals or 1),
            "--shadow-recipes",
            args.shadow_recipes or "same",
            "--shadow-methods-per-set",
            args.shadow_methods_per_set or "all",
        ]
        if args.inversion_set_decision:
            command += ["--inversion-set-decision", args.inversion_set_decision]
        if args.access:
            command += ["--access", args.access]
        if args.query_budget:
            command += ["--query-budget", str(args.query_budget)]
        start = time.time()
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"audit of {target['name']} failed: {done.stderr.strip()[-300:]}", file=sys.stderr)
            return {}
        data = json.loads(result.read_text())
        data["wall_seconds"] = time.time() - start
        data["calibration_lines"] = [
            ln for ln in done.stdout.splitlines() if ln.startswith(("calibrated on", "warning"))
        ]
        data["verdict_revision"] = VERDICT_REVISION
        result.write_text(json.dumps(data))
    return data


def uncalibrated_inversion(target: dict, args) -> dict:
    """The ablation: the inversion attacks with their fixed, data-free defaults (no shadows), which is
    how the audit ran them on every model before it calibrated on shadows of the owner's architecture."""
    data = load_dataset(target["dataset"])
    factory = load_factory(target["factory"])
    sample = data.x_test[:16]

    def load(path: str):
        return load_user_model(factory, spec=target["factory"], weights=Path(path), num_classes=10, sample=sample)

    report = run_audit(
        weights_target(
            load(target["weights"]), num_classes=10, input_shape=data.input_shape, description=target["name"]
        ),
        dataset=data,
        attacks="invert-wb,invert-bb",
        seed=0,
    )
    attacks = [{"name": r.attack, "predicted": [int(c) for c in r.predicted]} for r in report.results]
    return {"attacks": attacks, "verdict": {"forgotten": report.verdict.forgotten}}


def majority_verdict(result: dict) -> list[int]:
    """The majority vote of :func:`labelleak.audit.verdict` (what it returns without a fused model)
    over an audit JSON's per-attack decisions: the verdict rule before the fused one, on the same run."""
    results = [
        AttackResult(
            attack=a["name"],
            access=a.get("access", ""),
            scores=np.zeros(result.get("num_classes", 10)),
            predicted=tuple(a["predicted"]),
            queries=a.get("queries"),
            seconds=0.0,
        )
        for a in result["attacks"]
    ]
    return sorted(verdict(results, num_classes=result.get("num_classes", 10)).forgotten)


def unabstained_verdict(result: dict) -> list[int] | None:
    """The fused verdict with every calibrated attack averaged in, the attacks that abstained too,
    recomputed from an audit JSON: the verdict as run when nothing abstained, None when it cannot
    be recomputed (an abstention beside a stacked combination, whose weights the JSON lacks).

    The JSON holds each attack's calibrated probabilities and, per class, the confidence
    σ(mean log-odds − cut), so the cut is the mean log-odds minus logit(confidence) of any class
    (the median over classes absorbs the JSON's rounding)."""
    v = result["verdict"]
    if not v.get("abstained"):
        return sorted(v["forgotten"])
    if v.get("fusion") != "mean":
        return None
    probabilities = {a["name"]: np.asarray(a["probabilities"]) for a in result["attacks"]}
    fused = np.mean([log_odds(probabilities[name]) for name in v["fused_attacks"]], axis=0)
    cut = float(np.median(fused - log_odds(np.asarray(v["confidence"]))))
    every = np.mean([log_odds(probabilities[name]) for name in v["fused_attacks"] + v["abstained"]], axis=0)
    return sorted(flag(every, cut))


def table(rows: list[dict], *, columns: list[str], column_of, title: str) -> str:
    recorded = {a for r in rows for a in r["success"]}
    verdicts = [name for name in ("verdict (as run)", "no abstention", "majority vote") if name in recorded]
    attacks = sorted(recorded - set(verdicts)) + verdicts
    body = []
    for attack in attacks:
        cells = []
        for column in columns:
            hits = [r["success"][attack] for r in rows if column_of(r) == column and attack in r["success"]]
            if not hits:
                cells.append("–")
                continue
            low, high = wilson_interval(sum(hits), len(hits))
            cells.append(f"{sum(hits) / len(hits):.0%} [{low:.0%}–{high:.0%}] n={len(hits)}")
        body.append([attack, *cells])
    return f"### {title}\n\n" + markdown_table(["attack", *columns], body) + "\n"


def successes(result: dict, truth: list[int]) -> dict[str, bool]:
    """Per attack (and the verdict as run): did the audit name exactly the forgotten set?"""
    success = {a["name"]: sorted(a["predicted"]) == truth for a in result["attacks"]}
    success["verdict (as run)"] = sorted(result["verdict"]["forgotten"]) == truth
    return success


def comparison(rows: list[dict], before: Path) -> str:
    """Exact-set ASR before (the audit JSONs in ``before``: written by an earlier labelleak, another
    setting, or another build of the same zoo) and now, on the targets of the same names audited by
    both, by the number of forgotten classes, over all targets and over the targets that forgot
    (as this zoo's models did)."""
    pairs = []
    for row in rows:
        path = before / f"{row['name']}.json"
        if path.exists():
            pairs.append((row, successes(json.loads(path.read_text()), sorted(row["forget"]))))
    lines = [
        f"### Before ({before.parent.name}/{before.name}) → now, exact set, on the {len(pairs)} targets audited by both",
        "",
    ]
    groups = [(size, forgot) for size in (1, 2, 3) for forgot in (False, True)]
    header = [f"|C|={size}{', forgot' if forgot else ''}" for size, forgot in groups]
    body = []
    attacks = sorted({a for row, _ in pairs for a in row["success"]} & {a for _, old in pairs for a in old})
    for attack in attacks:
        cells = []
        for size, forgot in groups:
            chosen = [
                (old[attack], row["success"][attack])
                for row, old in pairs
                if len(row["forget"]) == size
                and (not forgot or row["forget_test_acc"] <= FORGOT)
                and attack in old
                and attack in row["success"]
            ]
            cells.append(
                f"{sum(o for o, _ in chosen)}/{len(chosen)} → {sum(n for _, n in chosen)}/{len(chosen)}"
                if chosen
                else "–"
            )
        body.append([attack, *cells])
    return "\n".join([*lines, markdown_table(["attack", *header], body)]) + "\n"


def met_unlearning_goal(rows: list[dict]) -> list[dict]:
    """The rows whose target met the unlearning goal of docs/unlearning.md (``labelleak.unlearning.met_goal``),
    against the retain accuracy of the zoo's own Retrain of the same dataset, architecture and forget set."""
    reference = {
        (r["dataset"], r["arch"], tuple(r["forget"])): r["retain_test_acc"] for r in rows if r["method"] == "retrain"
    }
    return [
        r
        for r in rows
        if (r["dataset"], r["arch"], tuple(r["forget"])) in reference
        and met_goal(
            forget_test_acc=r["forget_test_acc"],
            retain_test_acc=r["retain_test_acc"],
            reference_retain_acc=reference[(r["dataset"], r["arch"], tuple(r["forget"]))],
        )
    ]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, checked: ablations that cannot go together are refused (exit status 2)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="mnist,fashion-mnist,cifar10")
    parser.add_argument("--archs", default=",".join(ZOO))
    parser.add_argument(
        "--methods",
        default=",".join(METHODS),
        help=f"unlearning methods, comma-separated, of {', '.join(ALL_METHODS)}",
    )
    parser.add_argument("--out", default="runs/zoo")
    parser.add_argument(
        "--sets",
        choices=("all", "singles", "multiclass"),
        default="all",
        help="forget sets per architecture: all (two single classes, two pairs, a triple), the singles only, or "
        "multiclass (10 random pairs and 5 random triples)",
    )
    parser.add_argument("--cache", help="labelleak's artifact store for the audits (default: its own default)")
    parser.add_argument("--train-size", type=int, default=20000, help="training images per θ_o (a seeded subset)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads for building and for each audit (and its shadow workers); the models depend on it "
        "(sums in another order train other models), so rebuild a zoo with the value it was built with",
    )
    parser.add_argument("--build-only", action="store_true", help="train and unlearn, do not audit")
    parser.add_argument(
        "--single-class-shadows",
        action="store_true",
        help="audit with labelleak audit --single-class-shadows (shadows forget no pairs or triples)",
    )
    parser.add_argument(
        "--uncalibrated",
        action="store_true",
        help="ablation: run only the inversion attacks, uncalibrated (fixed defaults), into OUT/audits-uncalibrated",
    )
    parser.add_argument(
        "--inversion-reference",
        choices=REFERENCES,
        default="original",
        help="ablation with 'shadows': labelleak audit --inversion-reference shadows (the inversion attacks' "
        "per-class reference from the shadows, not from θ_o), into OUT/audits-shadow-reference",
    )
    parser.add_argument(
        "--onnx",
        action="store_true",
        help="audit each target as an ONNX export (labelleak audit --onnx: queries only, architecture unknown) "
        "into OUT/audits-onnx[-ARCHS]",
    )
    parser.add_argument(
        "--shadow-archs",
        help="with --onnx: labelleak audit --shadow-archs (labelleak architectures whose shadows stand in for "
        "the unknown one)",
    )
    parser.add_argument(
        "--shadow-methods",
        help="ablation: labelleak audit --shadow-methods (the shadows' unlearning methods), into "
        "OUT/audits-shadow-methods-M-M",
    )
    parser.add_argument(
        "--shadow-methods-per-set",
        choices=METHODS_PER_SET,
        help="labelleak audit --shadow-methods-per-set (every shadow method on each forget set, or one in turn; "
        "default here 'all', whatever the audit's own default): alone an ablation, into OUT/audits-shadow-methods-per-set-CHOICE; with --access, --without-original, "
        "--query-budget or --onnx a shadow setting, into OUT/audits...-methods-per-set-CHOICE",
    )
    parser.add_argument(
        "--shadow-originals",
        type=int_at_least(1),
        help="labelleak audit --shadow-originals (how many shadow originals the attacker trains; default here 1, "
        "whatever the audit's own default); combines with the other settings, into OUT/audits...-shadow-originals-N",
    )
    parser.add_argument(
        "--shadow-recipes",
        choices=RECIPE_CHOICES,
        help="labelleak audit --shadow-recipes (how the shadow originals are trained; default here 'same'), into "
        "OUT/audits...-recipes-CHOICE",
    )
    parser.add_argument(
        "--inversion-set-decision",
        choices=SET_DECISIONS,
        help="ablation: labelleak audit --inversion-set-decision (how the inversion attacks name the set), into "
        "OUT/audits-inversion-set-decision-CHOICE",
    )
    parser.add_argument(
        "--attacks",
        help="ablation: labelleak audit --attacks (e.g. all: the default's attacks and the paper's genetic "
        "black box), into OUT/audits-attacks-NAMES",
    )
    parser.add_argument(
        "--access",
        choices=ACCESS_LEVELS,
        help="labelleak audit --access (what the audit is handed of each target: e.g. queries, as an API "
        "serving it reveals), into OUT/audits-access-LEVEL...",
    )
    parser.add_argument(
        "--without-original",
        action="store_true",
        help="audit without θ_o (no --original), as an attacker who holds only the served model would",
    )
    parser.add_argument(
        "--query-budget",
        type=int,
        help="labelleak audit --query-budget (the most queries each black-box attack spends)",
    )
    parser.add_argument(
        "--from-json",
        action="store_true",
        help="only rewrite the tables from OUT/zoo.json (the recorded targets and their audits' successes)",
    )
    parser.add_argument(
        "--before",
        type=Path,
        help="a folder of audit JSONs of targets of the same names (by an earlier labelleak, in another setting, "
        "or of another build of the zoo): adds a before → now table",
    )
    args = parser.parse_args(argv)
    if args.shadow_archs and not args.onnx:
        parser.error("--shadow-archs needs --onnx (the audit of a model whose architecture is known uses its own)")
    ablations = (
        args.uncalibrated,
        args.inversion_reference == "shadows",
        args.shadow_methods,
        args.shadow_methods_per_set and not (served(args) or args.onnx),
        args.inversion_set_decision,
        args.attacks and not served(args),
        served(args) and not args.onnx,
    )
    if sum(map(bool, ablations)) > 1:
        parser.error(
            "--uncalibrated, --inversion-reference shadows, --shadow-methods, --shadow-methods-per-set, "
            "--inversion-set-decision, --attacks and what the audit is handed (--access, --without-original, "
            "--query-budget, which combine with --attacks) are separate ablations"
        )
    if args.onnx and args.without_original:
        parser.error("--without-original: an --onnx audit has no original model already")
    if args.onnx and (args.uncalibrated or args.inversion_reference == "shadows"):
        parser.error(
            "--onnx audits have no original model and run calibrated: --uncalibrated and "
            "--inversion-reference do not apply"
        )
    args.methods = args.methods.split(",")
    unknown = sorted(set(args.methods) - set(ALL_METHODS))
    if unknown:
        parser.error(f"--methods: unknown {', '.join(unknown)}; choose from {', '.join(ALL_METHODS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    stem = f"zoo{variant(args)}"
    rows = json.loads((out / f"{stem}.json").read_text()) if args.from_json else []
    for dataset in args.datasets.split(",") if not args.from_json else []:
        for arch in args.archs.split(","):
            for target in build_targets(args, dataset, arch, out):
                if args.build_only:
                    print(
                        f"{target['name']}: forget {target['forget_test_acc']:.1%}, retain {target['retain_test_acc']:.1%}"
                    )
                    continue
                result = audit(target, args, out)
                if not result:
                    continue
                truth = sorted(target["forget"])
                success = successes(result, truth)
                # the majority vote over the same per-attack decisions (the rule the fused verdict replaced)
                success["majority vote"] = majority_verdict(result) == truth
                if "abstained" in result["verdict"]:
                    # the fused verdict with every abstaining attack averaged back in (docs/audit.md), same run
                    unabstained = unabstained_verdict(result)
                    if unabstained is not None:
                        success["no abstention"] = unabstained == truth
                rows.append({**target, "success": success, "audit_seconds": result.get("wall_seconds")})
                print(
                    f"{target['name']}: forget {target['forget_test_acc']:.1%} retain {target['retain_test_acc']:.1%}"
                    f" verdict {result['verdict']['forgotten']} truth {truth}",
                    flush=True,
                )
    if not rows:
        return 0
    if not args.from_json:
        # model files relative to --out, so the record names no machine's folders
        files = [
            {**r, "weights": os.path.relpath(r["weights"], out), "original": os.path.relpath(r["original"], out)}
            for r in rows
        ]
        (out / f"{stem}.json").write_text(json.dumps(files, indent=1))
    singles = [r for r in rows if len(r["forget"]) == 1]
    forgot = [r for r in singles if r["forget_test_acc"] <= FORGOT]
    arch_cols = [f"{d}/{a}" for d in args.datasets.split(",") for a in args.archs.split(",")]
    report = [
        f"Targets: {len(rows)} ({len(singles)} single-class, {len(forgot)} of them forgot, forget acc <= {FORGOT:.0%}).",
        "",
        table(
            forgot,
            columns=["BatchNorm", "no BatchNorm"],
            column_of=lambda r: "BatchNorm" if r["batchnorm"] else "no BatchNorm",
            title="Single-class targets that forgot, by BatchNorm",
        ),
        table(
            forgot,
            columns=arch_cols,
            column_of=lambda r: f"{r['dataset']}/{r['arch']}",
            title="Single-class targets that forgot, per dataset/architecture",
        ),
        table(
            singles,
            columns=arch_cols,
            column_of=lambda r: f"{r['dataset']}/{r['arch']}",
            title="All single-class targets",
        ),
    ]
    for size, name in ((2, "Pairs"), (3, "Triples")):
        sets = [r for r in rows if len(r["forget"]) == size]
        report.append(
            table(
                sets, columns=arch_cols, column_of=lambda r: f"{r['dataset']}/{r['arch']}", title=f"{name} (exact set)"
            )
        )
        report.append(
            table(
                [r for r in sets if r["forget_test_acc"] <= FORGOT],
                columns=["all architectures"],
                column_of=lambda r: "all architectures",
                title=f"{name} (exact set), targets that forgot",
            )
        )
    report.append(
        table(
            met_unlearning_goal(rows),
            columns=["|C|=1", "|C|=2", "|C|=3"],
            column_of=lambda r: f"|C|={len(r['forget'])}",
            title="Targets that met the unlearning goal (forget-class test accuracy ≤ 5%, retain test accuracy "
            "at most 3 points below the zoo's Retrain of the same architecture and forget set), by |C|",
        ).replace("|C|=", "\\|C\\|=")
    )
    if args.before:
        report.append(comparison(rows, args.before))
    (out / f"{stem}.md").write_text("\n".join(report))
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
