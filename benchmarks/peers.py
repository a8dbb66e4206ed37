"""labelleak's inversion attacks beside IBM ART peers on the same unlearned targets, in one run.

White-box (A-gradients): labelleak's ``invert-wb`` against ART's MIFace
(``art.attacks.inference.model_inversion.MIFace``, Fredrikson et al., CCS 2015) on an
``art.estimators.classification.PyTorchClassifier`` wrapping θ_u. MIFace gives one inverted input
x_k per class; θ_u's prediction profile p(x_k) is read into an
:class:`~labelleak.attacks.criteria.InversionReading` and decided by labelleak's own
:class:`~labelleak.attacks.criteria.ThresholdCriterion` (τ = 0.5), so both attacks are read
identically. Both are also reported with the argmax-only decision (the attacker is told |C| = 1).
Reported: ASR (exact match of the decided set) and seconds per target.

Black-box (A-queries): every registered ``--attacks`` name of category "inversion" that needs
only queries (``invert-bb``; ``invert-cma`` when it is registered), run at each ``--budgets``
query budget, against the ZOO probe of Hu et al. (IEEE S&P 2024, "Learn what you want to
unlearn"): in the two-version setting, one high-confidence probe per class is built on θ_o with
ART's targeted ``ZooAttack`` (zeroth order: θ_o's probabilities only) from seeded noise, θ_u is
queried on the probes, and the class whose probe confidence drops most is predicted — the
decision of labelleak's ``hu-probe`` (which builds the same probes with θ_o's gradients), reused
by subclassing it. Every input evaluated on θ_o or θ_u is a counted query. Reported: ASR against
queries per target, the cheapest budget whose ASR reaches ``--asr-level``, and the ratio of
queries.

Targets are those of benchmarks/inversion_attacks.py: θ_o = train_original(dataset, seed=0),
θ_u = unlearn_original(θ_o, method, [c], seed=0), both from the shared artifact store. ASR counts
only targets that forgot (forget-class test accuracy ≤ ``--max-forget-acc``).

Results are cached per target and attack setting in ``--out``/cache/<dataset>.json, written after
every attack run: a rerun skips what is done, and processes given disjoint ``--datasets`` can
share one ``--out`` (``--report-only`` then tabulates them together). Prints Markdown tables and
writes ``--out``/peers.csv and peers.md.

Needs IBM ART: ``pip install labelleak[peers]``.

Example (the commands behind docs/results/peers/RUN.md):
    python benchmarks/peers.py --datasets mnist fashion-mnist cifar10 --methods gradient_ascent salun \\
        --classes 0 3 7 --threads 1 --out docs/results/peers
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from labelleak.access import QueryAccess, WeightsAccess
from labelleak.attacks import ATTACKS, AttackerKnowledge, AttackResult
from labelleak.attacks.baselines import HuProbe
from labelleak.attacks.criteria import InversionReading, ThresholdCriterion
from labelleak.data import load_dataset
from labelleak.metrics import summarize
from labelleak.models import Classifier
from labelleak.report.markdown import markdown_table
from labelleak.seeding import derive_seed
from labelleak.store import ArtifactStore, atomic_write_json, config_hash
from labelleak.targets import (
    access_view,
    build_unlearner,
    original_config,
    train_original,
    unlearn_original,
    unlearned_config,
)
from labelleak.validation import check_number

#: the seed of θ_o and of every θ_u, as in benchmarks/inversion_attacks.py, so the targets are shared
EVAL_SEED = 0
#: bump when a recorded run would change for the same settings, so cached results are not reused
RECORD_VERSION = 1
INSTALL_HINT = "benchmarks/peers.py needs IBM ART (adversarial-robustness-toolbox): pip install labelleak[peers]"
DECISIONS = ("own", "argmax")


def require_art() -> None:
    """Exit with one line naming the extra when ART is not installed."""
    try:
        import art  # noqa: F401
    except ImportError:
        sys.exit(INSTALL_HINT)


def argmax_decision(*, scores: Sequence[float]) -> tuple[int, ...]:
    """The decision of an attacker told |C| = 1: the single highest-scoring class."""
    return (int(np.argmax(np.asarray(scores, dtype=np.float64))),)


def cheapest_reaching(*, points: Sequence[tuple[float, float]], level: float) -> tuple[float, float] | None:
    """(queries, ASR) of the point with the fewest queries whose ASR is at least ``level``; None if none is."""
    reaching = [p for p in points if p[1] >= level]
    return min(reaching, key=lambda p: p[0]) if reaching else None


def result_record(*, result: AttackResult, queries: int | None) -> dict[str, Any]:
    return {
        "scores": [float(s) for s in result.scores],
        "predicted": [int(c) for c in result.predicted],
        "seconds": float(result.seconds),
        "queries": queries,
    }


# --- ART peers -------------------------------------------------------------------------------------


class ConfidenceGate(nn.Module):
    """θ_o's log-probabilities, read through a counting query view, plus one constant output log(level).

    ART's targeted ZooAttack keeps the least-distorted input *classified as* the target, which is a
    probe just across θ_o's decision boundary; Hu et al. probe with high-confidence inputs. With the
    constant extra output, "classified as t" means p_t(x; θ_o) > level, so ZOO's own success test
    asks for a confident probe. Inputs are clamped to the image domain [0, 1] because ART's ZOO
    perturbs without projecting x + δ (it clips δ alone to ``clip_values``, which with (0, 1) would
    only ever brighten pixels); the returned probes are clamped the same way, so the probe queried on
    θ_u is the input ZOO scored.
    """

    def __init__(self, *, view: QueryAccess, level: float) -> None:
        super().__init__()
        self.view = view
        self.log_level = math.log(level)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        log_probs = self.view.query(x.float().clamp(0.0, 1.0)).clamp_min(1e-30).log()
        return torch.cat([log_probs, torch.full((len(x), 1), self.log_level)], dim=1)


def zoo_estimator(*, view: QueryAccess, level: float) -> Any:
    """An ART PyTorchClassifier over :class:`ConfidenceGate` that predicts in large batches.

    ART's ZooAttack must run with ``batch_size=1`` (its Adam state is sized for one input: a larger
    batch fails in ``_reset_adam``) and passes that batch size on to ``predict``, which would then
    evaluate its 2·nb_parallel coordinate probes one forward pass at a time; batching ``predict``
    changes no output (θ_o is in eval mode), only the speed.
    """
    from art.estimators.classification import PyTorchClassifier

    class BatchedPredict(PyTorchClassifier):
        def predict(self, x: np.ndarray, batch_size: int = 128, **kwargs: Any) -> np.ndarray:
            return super().predict(x, batch_size=max(batch_size, 4096), **kwargs)

    return BatchedPredict(
        model=ConfidenceGate(view=view, level=level),
        loss=nn.NLLLoss(),
        input_shape=view.input_shape,
        nb_classes=view.num_classes + 1,
        clip_values=None,
    )


class ZooProbe(HuProbe):
    """``hu-probe`` with θ_o's probes built by ART's targeted ZooAttack from θ_o's probabilities alone
    (Hu et al., IEEE S&P 2024): the decision (grouping, confidence drop, ``min_drop``) is hu-probe's."""

    name = "zoo-probe"

    def __init__(
        self,
        *,
        max_iter: int,
        nb_parallel: int,
        learning_rate: float = 0.1,
        initial_const: float = 100.0,
        level: float = 0.9,
        probes_per_class: int = 1,
        min_drop: float = 0.5,
        seed: int = 0,
    ) -> None:
        super().__init__(probes_per_class=probes_per_class, min_drop=min_drop, seed=seed)
        self.max_iter = check_number("max_iter", max_iter, low=1, high=100_000, integer=True)
        self.nb_parallel = check_number("nb_parallel", nb_parallel, low=1, high=100_000, integer=True)
        self.learning_rate = check_number("learning_rate", learning_rate, low=0.0, low_inclusive=False)
        self.initial_const = check_number("initial_const", initial_const, low=0.0, low_inclusive=False)
        self.level = check_number("level", level, low=0.5, high=1.0, high_inclusive=False)

    def build_probes(self, original: Any) -> torch.Tensor:
        from art.attacks.evasion import ZooAttack

        k = original.num_classes
        starts = self.probe_starts(num_classes=k, input_shape=original.input_shape).numpy()
        targets = np.eye(k + 1, dtype=np.float32)[np.arange(k).repeat(self.probes_per_class)]
        zoo = ZooAttack(
            zoo_estimator(view=original, level=self.level),
            targeted=True,
            learning_rate=self.learning_rate,
            max_iter=self.max_iter,
            binary_search_steps=1,
            initial_const=self.initial_const,
            # a fixed iteration count makes the query budget a setting, not an outcome
            abort_early=False,
            # resizing and importance sampling are ZOO's tools for large inputs; ART's resize path
            # assumes channels-last images, and importance sampling only acts after a resize
            use_resize=False,
            use_importance=False,
            nb_parallel=self.nb_parallel,
            batch_size=1,
            verbose=False,
        )
        # ART draws ZOO's coordinates from NumPy's global generator: seed it for a repeatable run
        np.random.seed(derive_seed(self.seed, "zoo-probe"))
        probes = zoo.generate(starts, y=targets)
        return torch.from_numpy(np.asarray(probes, dtype=np.float32)).clamp(0.0, 1.0)


def run_miface(*, model: Classifier, max_iter: int) -> dict[str, Any]:
    """MIFace on θ_u (one inversion per class from ART's default zero start), read by labelleak's criterion."""
    from art.attacks.inference.model_inversion import MIFace
    from art.estimators.classification import PyTorchClassifier

    spec = model.spec
    k = spec.num_classes
    # MIFace's stopping cost is 1 − predict(x)[k], so the estimator must output probabilities
    estimator = PyTorchClassifier(
        model=nn.Sequential(copy.deepcopy(model).eval(), nn.Softmax(dim=1)),
        loss=nn.NLLLoss(),
        input_shape=(spec.in_channels, spec.image_size, spec.image_size),
        nb_classes=k,
        clip_values=(0.0, 1.0),
    )
    start = time.perf_counter()
    inverted = MIFace(estimator, max_iter=max_iter, batch_size=k, verbose=False).infer(None, y=np.arange(k))
    profiles = access_view(model, "queries").query(torch.from_numpy(np.asarray(inverted, dtype=np.float32)))
    seconds = time.perf_counter() - start
    profiles_np = profiles.double().numpy()
    reading = InversionReading(confidence=np.diag(profiles_np).copy(), profiles=profiles_np)
    scores, predicted = ThresholdCriterion(tau=0.5).decide(reading)
    return {
        "scores": scores.tolist(),
        "predicted": list(predicted),
        "seconds": seconds,
        "queries": None,
        "confidence": reading.confidence.tolist(),
    }


# --- the attack settings of one run ------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One attack at one setting: ``run(unlearned=θ_u, original=θ_o)`` returns its per-target record."""

    access: str
    source: str
    attack: str
    setting: str
    run: Callable[..., dict[str, Any]]

    @property
    def key(self) -> str:
        return config_hash({"attack": self.attack, "setting": self.setting, "version": RECORD_VERSION})


def parse_zoo_setting(text: str) -> tuple[int, int]:
    """ "ITERxPARALLEL" (e.g. "10x128") -> (max_iter, nb_parallel)."""
    try:
        max_iter, nb_parallel = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a ZOO setting is MAX_ITERxNB_PARALLEL, e.g. 10x128; got {text!r}") from None
    if max_iter < 1 or nb_parallel < 1:
        raise argparse.ArgumentTypeError(f"max_iter and nb_parallel must be positive, got {text!r}")
    return max_iter, nb_parallel


def labelleak_variants(*, names: Sequence[str], budgets: Sequence[int]) -> list[Variant]:
    """The requested registered inversion attacks: white-box ones once, query-only ones at every budget."""
    out: list[Variant] = []
    for name in names:
        if name not in ATTACKS:
            print(f"# note: attack {name!r} is not registered here; skipped", flush=True)
            continue
        cls = ATTACKS.get(name)
        if cls.category != "inversion" or cls.requires not in ("gradients", "queries"):
            print(f"# note: {name!r} is not a gradients or queries inversion attack; skipped", flush=True)
            continue
        if cls.requires == "gradients":
            run = _labelleak_run(name=name, level="gradients", options={})
            out.append(Variant(access="gradients", source="labelleak", attack=name, setting="defaults", run=run))
            continue
        if "query_budget" not in ATTACKS.options(name) and not ATTACKS.open_ended(name):
            print(f"# note: {name!r} takes no query_budget; skipped", flush=True)
            continue
        for budget in budgets:
            run = _labelleak_run(name=name, level="queries", options={"query_budget": budget})
            out.append(
                Variant(access="queries", source="labelleak", attack=name, setting=f"query_budget={budget}", run=run)
            )
    return out


def _labelleak_run(*, name: str, level: str, options: dict[str, Any]) -> Callable[..., dict[str, Any]]:
    def run(*, unlearned: Classifier, original: Classifier) -> dict[str, Any]:
        result = ATTACKS.build(name, **options).infer(access_view(unlearned, level))
        return result_record(result=result, queries=result.queries)

    return run


def peer_variants(*, miface_iters: int, zoo_settings: Sequence[tuple[int, int]], with_white_box: bool) -> list[Variant]:
    out = []
    if with_white_box:
        out.append(
            Variant(
                access="gradients",
                source="ART",
                attack="MIFace",
                setting=f"max_iter={miface_iters}",
                run=lambda *, unlearned, original: run_miface(model=unlearned, max_iter=miface_iters),
            )
        )
    for max_iter, nb_parallel in zoo_settings:
        probe = ZooProbe(max_iter=max_iter, nb_parallel=nb_parallel)

        def run(*, unlearned: Classifier, original: Classifier, probe: ZooProbe = probe) -> dict[str, Any]:
            # θ_o is held by the attacker (two-version setting) but ZOO only calls its query view
            original_view = WeightsAccess.of_classifier(original)
            result = probe.infer(access_view(unlearned, "queries"), knowledge=AttackerKnowledge(original=original_view))
            record = result_record(result=result, queries=(result.queries or 0) + original_view.queries_used)
            record["queries_original"] = original_view.queries_used
            record["mean_probe_confidence_original"] = float(result.artifacts["mean_probe_confidence_original"])
            return record

        setting = f"max_iter={max_iter} nb_parallel={nb_parallel}"
        out.append(Variant(access="queries", source="ART", attack="ZOO probe", setting=setting, run=run))
    return out


# --- running and caching -------------------------------------------------------------------------------


def run_dataset(
    *,
    name: str,
    methods: Sequence[str],
    classes: Sequence[int] | None,
    variants: Sequence[Variant],
    max_forget_acc: float,
    out: Path,
    store: ArtifactStore,
) -> dict[str, Any]:
    """Attack every target of one dataset (skipping cached runs); returns the dataset's cache."""
    data = load_dataset(name)
    cache_path = out / "cache" / f"{data.name}.json"
    cache = _read_json(cache_path) or {"dataset": data.name, "num_classes": data.num_classes, "targets": {}}
    base_config = original_config(data)
    original = None
    for method in methods:
        params = build_unlearner(method, dataset=data.name).params()
        for c in classes if classes is not None else range(data.num_classes):
            config = unlearned_config(base_config, method=method, params=params, forget_classes=[c], seed=EVAL_SEED)
            entry = cache["targets"].get(config_hash(config))
            forgot = entry is not None and entry["forget_test_acc"] <= max_forget_acc
            missing = [v for v in variants if entry is None or v.key not in entry["runs"]]
            if entry is not None and (not forgot or not missing):
                continue
            if original is None:
                original = train_original(data, seed=EVAL_SEED, store=store)
                print(f"# {data.describe()}; θ_o test accuracy {original.metrics['test_accuracy']:.4f}", flush=True)
            target = unlearn_original(original, data, method=method, forget_classes=[c], seed=EVAL_SEED, store=store)
            if entry is None:
                entry = {
                    "method": method,
                    "forget": [c],
                    "forget_test_acc": float(target.metrics["forget_test_acc"]),
                    "test_acc": float(target.metrics["test_acc"]),
                    "runs": {},
                }
                cache["targets"][config_hash(config)] = entry
                atomic_write_json(cache_path, cache)
            if entry["forget_test_acc"] > max_forget_acc:
                print(f"{data.name} {method} C=[{c}]: did not forget (forget acc {entry['forget_test_acc']:.3f})")
                continue
            for variant in missing:
                record = variant.run(unlearned=target.model, original=original.model)
                entry["runs"][variant.key] = {"attack": variant.attack, "setting": variant.setting, **record}
                atomic_write_json(cache_path, cache)
                queries = "" if record["queries"] is None else f", {record['queries']} queries"
                print(
                    f"{data.name} {method} C=[{c}] {variant.attack} ({variant.setting}): Ĉ={record['predicted']} "
                    f"in {record['seconds']:.1f} s{queries}",
                    flush=True,
                )
    return cache


def _read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


# --- reporting -----------------------------------------------------------------------------------------


def summary_rows(
    *,
    cache: dict[str, Any],
    variants: Sequence[Variant],
    methods: Sequence[str],
    classes: Sequence[int] | None,
    max_forget_acc: float,
    num_classes: int,
) -> list[dict[str, Any]]:
    """One row per (variant, decision) over the dataset's forgotten targets of this run."""
    targets = [
        t
        for t in cache["targets"].values()
        if t["method"] in methods
        and (classes is None or t["forget"][0] in classes)
        and t["forget_test_acc"] <= max_forget_acc
    ]
    rows = []
    for variant in variants:
        records = [(t["forget"], t["runs"][variant.key]) for t in targets if variant.key in t["runs"]]
        if not records:
            continue
        for decision in DECISIONS:
            predicted = [
                r["predicted"] if decision == "own" else argmax_decision(scores=r["scores"]) for _, r in records
            ]
            s = summarize(
                scores=[r["scores"] for _, r in records],
                predicted=predicted,
                truths=[f for f, _ in records],
                num_classes=num_classes,
            )
            queries = [r["queries"] for _, r in records]
            rows.append(
                {
                    "dataset": cache["dataset"],
                    "access": variant.access,
                    "source": variant.source,
                    "attack": variant.attack,
                    "setting": variant.setting,
                    "decision": decision,
                    "n": s["n"],
                    "asr": s["asr"],
                    "asr_low": s["asr_low"],
                    "asr_high": s["asr_high"],
                    "chance": s["chance"],
                    "seconds_per_target": float(np.mean([r["seconds"] for _, r in records])),
                    "queries_per_target": None if None in queries else float(np.mean(queries)),
                }
            )
    return rows


def comparison_rows(*, rows: Sequence[dict[str, Any]], level: float) -> list[dict[str, Any]]:
    """labelleak attack vs its ART peer per dataset, access and decision: ASR and cost, and the cost ratio.

    White-box cost is seconds per target. Black-box cost is queries per target at the cheapest
    setting whose ASR reaches ``level`` (else the setting with the best ASR, marked unreached)."""
    out = []
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        for access, peer in (("gradients", "MIFace"), ("queries", "ZOO probe")):
            for decision in DECISIONS:
                group = [r for r in rows if (r["dataset"], r["access"], r["decision"]) == (dataset, access, decision)]
                peers = [r for r in group if r["attack"] == peer]
                if not peers:
                    continue
                for attack in dict.fromkeys(r["attack"] for r in group if r["source"] == "labelleak"):
                    mine = [r for r in group if r["attack"] == attack]
                    a, b = _pick(rows=mine, access=access, level=level), _pick(rows=peers, access=access, level=level)
                    cost = "seconds_per_target" if access == "gradients" else "queries_per_target"
                    both_reach = access == "gradients" or (a["reached"] and b["reached"])
                    out.append(
                        {
                            "dataset": dataset,
                            "access": access,
                            "decision": decision,
                            "n": a["row"]["n"],
                            "labelleak": attack,
                            "labelleak_setting": a["row"]["setting"],
                            "labelleak_asr": a["row"]["asr"],
                            "labelleak_cost": a["row"][cost],
                            "labelleak_reached": a["reached"],
                            "peer": peer,
                            "peer_n": b["row"]["n"],
                            "peer_setting": b["row"]["setting"],
                            "peer_asr": b["row"]["asr"],
                            "peer_cost": b["row"][cost],
                            "peer_reached": b["reached"],
                            "cost_ratio": b["row"][cost] / a["row"][cost] if both_reach and a["row"][cost] else None,
                        }
                    )
    return out


def _pick(*, rows: Sequence[dict[str, Any]], access: str, level: float) -> dict[str, Any]:
    if access == "gradients":
        return {"row": rows[0], "reached": rows[0]["asr"] >= level}
    best = cheapest_reaching(points=[(r["queries_per_target"], r["asr"]) for r in rows], level=level)
    if best is not None:
        row = next(r for r in rows if (r["queries_per_target"], r["asr"]) == best)
        return {"row": row, "reached": True}
    return {"row": max(rows, key=lambda r: (r["asr"], -r["queries_per_target"])), "reached": False}


def markdown(*, comparisons: Sequence[dict[str, Any]], rows: Sequence[dict[str, Any]], level: float) -> str:
    decision_name = {"own": "own (τ = 0.5 / min_drop)", "argmax": "argmax (told |C| = 1)"}
    comparison_rows = []
    for c in comparisons:
        unit = "s" if c["access"] == "gradients" else "q"
        mine, peer = _cost_cell(c, "labelleak", unit, level), _cost_cell(c, "peer", unit, level)
        ratio = "—" if c["cost_ratio"] is None else f"{c['cost_ratio']:.2f}×"
        n = str(c["n"]) if c["n"] == c["peer_n"] else f"{c['n']} / {c['peer_n']}"
        comparison_rows.append(
            [
                c["dataset"],
                c["access"],
                decision_name[c["decision"]],
                n,
                c["labelleak"],
                f"{c['labelleak_asr']:.2f}",
                mine,
                c["peer"],
                f"{c['peer_asr']:.2f}",
                peer,
                ratio,
            ]
        )
    attack_rows = []
    for r in rows:
        queries = "—" if r["queries_per_target"] is None else f"{r['queries_per_target']:,.0f}"
        attack_rows.append(
            [
                r["dataset"],
                f"{r['attack']} ({r['source']})",
                r["setting"],
                r["decision"],
                r["n"],
                f"{r['asr']:.2f}",
                f"[{r['asr_low']:.2f}, {r['asr_high']:.2f}]",
                f"{r['seconds_per_target']:.1f}",
                queries,
            ]
        )
    comparison_header = ["dataset", "access", "decision", "n", "labelleak", "ASR", "cost", "ART peer", "ASR", "cost"]
    attack_header = ["dataset", "attack", "setting", "decision", "n", "ASR", "95% CI", "s/target", "queries/target"]
    return (
        markdown_table([*comparison_header, "peer / labelleak"], comparison_rows)
        + "\n\n"
        + markdown_table(attack_header, attack_rows)
        + "\n"
    )


def _cost_cell(c: dict[str, Any], side: str, unit: str, level: float) -> str:
    value = c[f"{side}_cost"]
    text = f"{value:.1f} s" if unit == "s" else f"{value:,.0f} q"
    if unit == "q":
        text += f" ({c[f'{side}_setting']})"
        if not c[f"{side}_reached"]:
            text += f", ASR < {level:.0%} at every budget"
    return text


def write_csv(*, path: Path, rows: Sequence[dict[str, Any]]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["mnist", "fashion-mnist", "cifar10"])
    parser.add_argument("--methods", nargs="+", default=["gradient_ascent", "salun"])
    parser.add_argument("--classes", nargs="+", type=int, default=[0, 3, 7], help="forgotten classes, one per target")
    parser.add_argument(
        "--attacks",
        nargs="+",
        default=["invert-wb", "invert-bb", "invert-cma"],
        help="labelleak inversion attacks by registered name; unknown names are skipped with a note",
    )
    parser.add_argument("--budgets", nargs="+", type=int, default=[1000, 4000, 16000], help="black-box query budgets")
    parser.add_argument(
        "--zoo-settings",
        nargs="+",
        type=parse_zoo_setting,
        default=[(5, 64), (10, 64), (10, 128)],
        help="ZOO probe settings MAX_ITERxNB_PARALLEL (θ_o queries ≈ K·max_iter·(2·nb_parallel + 1))",
    )
    parser.add_argument("--miface-iters", type=int, default=100, help="MIFace max_iter (invert-wb's step budget)")
    parser.add_argument("--asr-level", type=float, default=0.8, help="the ASR whose cheapest budget is compared")
    parser.add_argument("--max-forget-acc", type=float, default=0.1, help="targets above it did not forget")
    parser.add_argument(
        "--report-only", action="store_true", help="tabulate what --out has cached; train and attack nothing"
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True, help="directory: cache/, peers.csv, peers.md")
    args = parser.parse_args(argv)
    require_art()
    torch.set_num_threads(args.threads)

    mine = labelleak_variants(names=args.attacks, budgets=args.budgets)
    variants = mine + peer_variants(
        miface_iters=args.miface_iters,
        zoo_settings=args.zoo_settings,
        with_white_box=any(v.access == "gradients" for v in mine),
    )
    store = ArtifactStore()
    rows: list[dict[str, Any]] = []
    for name in args.datasets:
        start = time.perf_counter()
        if args.report_only:
            cache = _read_json(args.out / "cache" / f"{name}.json")
            if cache is None:
                print(f"# note: nothing cached for {name!r} in {args.out}; skipped", flush=True)
                continue
        else:
            cache = run_dataset(
                name=name,
                methods=args.methods,
                classes=args.classes,
                variants=variants,
                max_forget_acc=args.max_forget_acc,
                out=args.out,
                store=store,
            )
            print(f"# {name}: {time.perf_counter() - start:.0f} s", flush=True)
        rows += summary_rows(
            cache=cache,
            variants=variants,
            methods=args.methods,
            classes=args.classes,
            max_forget_acc=args.max_forget_acc,
            num_classes=cache["num_classes"],
        )
    if not rows:
        print("no target forgot: nothing to report")
        return 1
    comparisons = comparison_rows(rows=rows, level=args.asr_level)
    text = markdown(comparisons=comparisons, rows=rows, level=args.asr_level)
    print("\n" + text)
    write_csv(path=args.out / "peers.csv", rows=rows)
    (args.out / "peers.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
