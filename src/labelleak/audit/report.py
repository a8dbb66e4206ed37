"""What an audit found (:class:`AuditReport`) and its outputs: JSON, Markdown and the prototype grids."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from labelleak.attacks.base import AttackResult
from labelleak.audit.verdict import AuditVerdict, VerdictModel, score_margin, verdict
from labelleak.report.markdown import markdown_table
from labelleak.report.prototypes import save_prototype_grid
from labelleak.store import atomic_write_bytes

UNCALIBRATED = "uncalibrated (fixed defaults)"


@dataclass
class AuditReport:
    """Everything an audit found: per-attack results, failures, the verdict and the setting."""

    num_classes: int
    class_names: tuple[str, ...]
    target: str
    level: str
    dataset: str
    knowledge: str
    results: list[AttackResult]
    failures: dict[str, str] = field(default_factory=dict)
    setup_seconds: float = 0.0
    calibration: str = ""
    #: per attack: what it was calibrated on, :data:`UNCALIBRATED` when it could have been but ran
    #: with its fixed defaults, "" when it has nothing to calibrate
    calibrations: dict[str, str] = field(default_factory=dict)
    #: how the verdict fuses the attacks (fit on the shadows); None: majority vote
    verdict_model: VerdictModel | None = None

    @property
    def calibration_sources(self) -> list[str]:
        """What the calibrated attacks were fit on, each source once."""
        return sorted({c for c in self.calibrations.values() if c and c != UNCALIBRATED})

    @property
    def uncalibrated(self) -> list[str]:
        """The attacks that could be calibrated on shadows but ran with fixed defaults."""
        return [r.attack for r in self.results if self.calibrations.get(r.attack) == UNCALIBRATED]

    @property
    def verdict(self) -> AuditVerdict:
        return verdict(self.results, num_classes=self.num_classes, model=self.verdict_model)

    def to_json(self) -> dict[str, Any]:
        """The machine-readable shape promised by the CLI (``--json``), nothing more."""
        v = self.verdict
        return {
            "num_classes": self.num_classes,
            "verdict": {
                "forgotten": v.forgotten,
                "agreeing_attacks": v.agreeing_attacks,
                "attacks_run": v.attacks_run,
                "rule": v.rule,
                "confidence": v.confidence,
                "fused_attacks": v.fused_attacks,
                "fusion": v.fusion,
                "abstained": v.abstained,
                "unsupported": v.unsupported,
            },
            "attacks": [
                {
                    "name": r.attack,
                    "access": r.access,
                    "scores": [float(s) for s in r.scores],
                    "predicted": [int(c) for c in r.predicted],
                    "queries": r.queries,
                    "seconds": float(r.seconds),
                    "calibration": self.calibrations.get(r.attack, ""),
                    "probabilities": self._probabilities(r),
                    "abstains": r.abstains,
                }
                for r in self.results
            ],
        }

    def _probabilities(self, result: AttackResult) -> list[float] | None:
        """P(forgotten) per class of ``result`` by the verdict's model (None outside the fused verdict)."""
        p = None if self.verdict_model is None else self.verdict_model.probabilities(result)
        return None if p is None else [round(float(x), 6) for x in p]

    def table_rows(self) -> list[list[str]]:
        rows = []
        for r in self.results:
            rows.append(
                [
                    r.attack,
                    r.access,
                    ", ".join(self.class_label(c) for c in r.predicted) + (" (abstains)" if r.abstains else ""),
                    f"{score_margin(r.scores, r.predicted):+.2f}",
                    "-" if r.queries is None else str(r.queries),
                    f"{r.seconds:.2f}",
                ]
            )
        return rows

    TABLE_HEADERS: ClassVar[tuple[str, ...]] = (
        "attack",
        "access",
        "predicted forgotten",
        "score margin",
        "queries",
        "seconds",
    )

    def class_label(self, c: int) -> str:
        name = self.class_names[c] if c < len(self.class_names) else ""
        return f"{c} ({name})" if name and name != str(c) else str(c)

    def verdict_line(self) -> str:
        v = self.verdict
        if not v.forgotten:
            return f"verdict: no attack named a class ({v.attacks_run} attacks run)"
        classes = ", ".join(self.class_label(c) for c in v.forgotten)
        confidence = (
            f"fused confidence {', '.join(f'{v.confidence[c]:.2f}' for c in v.forgotten)}; " if v.confidence else ""
        )
        return (
            f"verdict: class {classes} — {confidence}named by {v.agreeing_attacks} of {v.attacks_run} attacks"
            if len(v.forgotten) == 1
            else f"verdict: classes {classes} — {confidence}each named by at least {v.agreeing_attacks} "
            f"of {v.attacks_run} attacks"
        )


def verdict_rule(report: AuditReport) -> str:
    """How the verdict was reached, in a sentence or two for the Markdown report."""
    v, model = report.verdict, report.verdict_model
    if v.rule == "fused" and model is not None:
        confidence = ", ".join(f"{report.class_label(c)}: {v.confidence[c]:.2f}" for c in range(report.num_classes))
        stacked = v.fusion == "stacked"
        rate = model.stacked_exact if stacked else model.shadow_exact
        fit = (
            f" on {model.n_shadow} shadow models, where it named the forgotten set exactly on {rate:.0%}"
            if model.n_shadow
            else ""
        )
        combination = (
            "combined by a logistic regression fit on the shadows (it named their sets exactly more often than "
            f"the plain average, {model.shadow_exact:.0%})"
            if stacked
            else "averaged"
        )
        return (
            f"Fused: each of {', '.join(v.fused_attacks)} turns its scores into a probability per class that the "
            "class was forgotten (fit on the attacker's shadow models); the verdict names the classes whose "
            f"log-odds, {combination}, clear a cut fit{fit}, among the classes at least one attack named. "
            f"Confidence per class (above 0.5: above the cut): {confidence}."
            + (
                f" Above the cut but named by no attack, so left out: {', '.join(map(report.class_label, v.unsupported))}."
                if v.unsupported
                else ""
            )
            + (f" Abstained: {'; '.join(abstention_reasons(report, v))}." if v.abstained else "")
        )
    return (
        "Majority vote: every attack that looked at the model votes for the classes it predicts; the verdict "
        "is every class more than half of them name (else the most-named). A chance reference that made no "
        "query (random-guess) is listed but does not vote."
        + (f" Abstained: {'; '.join(abstention_reasons(report, v))}." if v.abstained else "")
    )


def abstention_reasons(report: AuditReport, v: AuditVerdict) -> list[str]:
    """Each attack the verdict ``v`` of ``report`` left out, with why: "attack (reason)"."""
    why = {r.attack: r.abstains for r in report.results if r.abstains}
    return [f"{name} ({why.get(name) or 'decided more classes than any shadow model forgot'})" for name in v.abstained]


def write_json(report: AuditReport, path: Path) -> None:
    """Write :meth:`AuditReport.to_json` atomically (no half-written file on failure)."""
    atomic_write_bytes(Path(path), (json.dumps(report.to_json(), indent=2) + "\n").encode())


def markdown(report: AuditReport, *, images: dict[str, str] | None = None) -> str:
    """The audit as Markdown: setting, per-attack table, verdict and the prototype image grids
    (``images`` maps an attack name to an image path relative to the report)."""
    lines = [
        "# labelleak audit",
        "",
        f"- target: {report.target}",
        f"- access: {report.level}",
        f"- dataset (attacker's data): {report.dataset}",
        f"- attacker knowledge: {report.knowledge}",
    ]
    if report.calibration:
        lines.append(f"- calibration: {report.calibration}")
    lines += [f"- calibrated on: {source}" for source in report.calibration_sources]
    if report.uncalibrated:
        lines.append(f"- **warning**: uncalibrated (fixed defaults): {', '.join(report.uncalibrated)}")
    lines += [
        "",
        "## Verdict",
        "",
        report.verdict_line(),
        "",
        verdict_rule(report),
        "",
        "## Attacks",
        "",
        "Score margin: (lowest score inside the predicted set − highest score outside it) / standard "
        "deviation of the K scores; positive means the predicted classes stand clear of the rest.",
        "",
        markdown_table(report.TABLE_HEADERS, report.table_rows()),
    ]
    if report.failures:
        lines += ["", "Attacks that failed:", ""] + [f"- {name}: {reason}" for name, reason in report.failures.items()]
    lines += [
        "",
        "## Per-class scores",
        "",
        "Higher = more likely forgotten, on each attack's own scale.",
        "",
        markdown_table(
            ["attack", *map(str, range(report.num_classes))],
            [[r.attack, *(f"{s:.3g}" for s in r.scores)] for r in report.results],
        ),
    ]
    if images:
        lines += [
            "",
            "## Prototypes",
            "",
            "One synthesised input per class (rows), with its achieved confidence p_k(x_k) and its "
            "prediction profile p(x_k); a class the model cannot be driven to predict is a candidate "
            "for the forgotten one.",
            "",
        ]
        for name, image in images.items():
            lines += [f"### {name}", "", f"![{name} prototypes]({image})", ""]
    return "\n".join(lines).rstrip() + "\n"


def write_prototype_grids(report: AuditReport, path: Path) -> dict[str, str]:
    """Each inversion attack's prototype grid as ``<report name>_<attack>.png`` beside the report at
    ``path``; returns attack name -> image name (relative to the report). Matplotlib is imported
    only when there is a grid to draw."""
    path = Path(path)
    images = {}
    for result in report.results:
        prototypes, confidence = result.artifacts.get("prototypes"), result.artifacts.get("confidence")
        if prototypes is None or confidence is None:
            continue
        image = path.with_name(f"{path.stem}_{result.attack}.png")
        save_prototype_grid(
            image,
            prototypes=prototypes,
            confidence=confidence,
            profiles=result.artifacts.get("profiles"),
            class_names=report.class_names,
            highlight=result.predicted,
            title=f"{result.attack}: prototypes (predicted forgotten in red)",
        )
        images[result.attack] = image.name
    return images


def write_markdown(report: AuditReport, path: Path) -> None:
    """Write the Markdown report; each inversion attack's prototype grid goes to
    ``<report name>_<attack>.png`` beside it and is embedded by relative link."""
    path = Path(path)
    images = write_prototype_grids(report, path)
    atomic_write_bytes(path, markdown(report, images=images).encode())
