"""Audit a model labelleak did not train: the model owner's own architecture and checkpoint, or an
ONNX file served as a black box (DESIGN §1, issue 7).

The audit answers the model owner's question "does my unlearned model reveal which class I
removed?" by running every attack and baseline that the supplied access permits and reporting
where they agree:

* ``--model-factory`` + ``--weights``: the owner's code builds the architecture, the weights are
  loaded safely (safetensors, or a plain tensor state dict via ``torch.load(weights_only=True)``).
  This is full white-box access (A-weights), so every attack runs; ``--original`` adds the
  two-version attacks (A-weights+orig).
* ``--onnx``: the model is only queried through onnxruntime (A-queries), so only the black-box
  attacks and query baselines run.

The attacker's auxiliary set A, unrelated set N and the shadow calibration come from a named
dataset (``--dataset``), never from the target: the audit asks what an outsider holding data of
the same distribution could learn.

Conventions a user model must follow (checked, with one-line errors):

* it takes a float32 batch (N, C, H, W) with pixels in [0, 1] — or, with ``mean``/``std``, the
  audit normalises first — and returns one row of K numbers per input. Logits are expected;
  outputs that are already probabilities (non-negative rows summing to one) are detected and
  turned back into log-probabilities, which give the same softmax;
* its last layer is an ``nn.Linear`` with K outputs (the "head"), whose input is the feature
  vector φ(x); it is found automatically or named explicitly.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import json
import logging
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from labelleak import LabelleakError
from labelleak.access import ACCESS_LEVELS, QueryAccess, WeightsAccess
from labelleak.data import ImageDataset
from labelleak.experiments.cache import ArtifactStore
from labelleak.models.io import atomic_write_bytes, load_into, read_state_dict
from labelleak.validation import check_number

logger = logging.getLogger(__name__)

#: unlearning methods of the audit's shadow experiments: two that differ in kind (ascent on the
#: forget set alone; relabelling it while passing over the retain set) and are the cheapest —
#: fine-tuning on the retain set would cost two retain-set epochs per shadow class, several times
#: the others, and the first audit of a dataset pays for every shadow
SHADOW_METHODS = ("gradient_ascent", "random_labels")
#: decider of the parameter attacks once calibrated: Youden's threshold on the family's score
PARAMETER_DECIDER = "youden"

#: how many dataset images are pushed through the model at load time to check shapes and outputs
PROBE_IMAGES = 16


class AuditError(LabelleakError):
    """The model, weights or options given to an audit do not fit together."""


# ----------------------------------------------------------------------------------------- loading


def load_factory(spec: str) -> Callable[[], nn.Module]:
    """Resolve ``FILE.py:CALLABLE`` or ``package.module:CALLABLE`` to the named callable.

    This imports and therefore **runs** the named file or module: only point it at code you trust.
    """
    path_text, sep, name = spec.rpartition(":")
    if not sep or not path_text or not name:
        raise AuditError(f"--model-factory must look like FILE.py:CALLABLE or package.module:CALLABLE, got {spec!r}")
    if path_text.endswith(".py") or "/" in path_text or "\\" in path_text:
        path = Path(path_text).expanduser()
        if not path.is_file():
            raise AuditError(f"model factory file not found: {path}")
        # A unique module name per file, so two different files called model.py never collide.
        digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
        module_name = f"labelleak_user_factory_{digest}"
        module_spec = importlib.util.spec_from_file_location(module_name, path)
        if module_spec is None or module_spec.loader is None:
            raise AuditError(f"cannot import {path} as Python code")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as err:  # the user's code may raise anything; report it in one line
            sys.modules.pop(module_name, None)
            raise AuditError(f"importing {path} failed: {_one_line(err)}") from None
        where = str(path)
    else:
        try:
            module = importlib.import_module(path_text)
        except ModuleNotFoundError as err:
            raise AuditError(f"cannot import module {path_text!r} for --model-factory: {_one_line(err)}") from None
        except Exception as err:
            raise AuditError(f"importing module {path_text!r} failed: {_one_line(err)}") from None
        where = f"module {path_text!r}"
    factory = getattr(module, name, None)
    if factory is None or not callable(factory):
        raise AuditError(f"{where} has no callable named {name!r}")
    return factory


def build_user_model(factory: Callable[[], nn.Module], *, spec: str) -> nn.Module:
    """Call the factory (no arguments) and check it returned an ``nn.Module``."""
    try:
        model = factory()
    except Exception as err:
        raise AuditError(f"calling the model factory {spec} failed: {_one_line(err)}") from None
    if not isinstance(model, nn.Module):
        raise AuditError(f"the model factory {spec} returned {type(model).__name__}, expected a torch.nn.Module")
    return model


class AuditedModel(nn.Module):
    """The user's model as the audit sees it: inputs in [0, 1], logits out.

    ``mean``/``std`` (per channel) are applied before the user's model when it expects normalised
    inputs; ``log_outputs`` turns probability outputs back into log-probabilities (valid logits).
    """

    def __init__(
        self,
        net: nn.Module,
        *,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        log_outputs: bool = False,
    ) -> None:
        super().__init__()
        self.net = net
        self.normalise = mean is not None
        if mean is not None and std is not None:
            self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1))
            self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1))
        self.log_outputs = log_outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.normalise:
            x = (x - self.mean) / self.std
        out = self.net(x)
        return torch.log(out.clamp_min(1e-12)) if self.log_outputs else out


def check_normalisation(mean: Sequence[float] | None, std: Sequence[float] | None, *, channels: int) -> None:
    """``--mean`` and ``--std`` come together, one value per channel (or one for all), std > 0."""
    if (mean is None) != (std is None):
        raise AuditError("--mean and --std must be given together")
    if mean is None or std is None:
        return
    for flag, values in (("--mean", mean), ("--std", std)):
        if len(values) != channels:
            raise AuditError(f"{flag} needs {channels} value(s), one per input channel, got {len(values)}")
        if not all(math.isfinite(v) for v in values):
            raise AuditError(f"{flag} values must be finite, got {list(values)}")
    if min(std) <= 0:
        raise AuditError(f"--std values must be positive, got {list(std)}")


def looks_like_probabilities(out: torch.Tensor) -> bool:
    """True when every row is non-negative and sums to one (softmax outputs rather than logits)."""
    if out.ndim != 2 or not torch.isfinite(out).all():
        return False
    return bool((out >= -1e-6).all() and (out <= 1 + 1e-6).all() and ((out.sum(1) - 1).abs() < 1e-3).all())


def linear_candidates(model: nn.Module, num_classes: int) -> list[str]:
    """Names of the ``nn.Linear`` modules with ``num_classes`` outputs, in registration order."""
    return [name for name, m in model.named_modules() if isinstance(m, nn.Linear) and m.out_features == num_classes]


def find_head(model: nn.Module, *, num_classes: int, sample: torch.Tensor, head: str | None = None) -> str:
    """The name of the head: ``head`` when given (checked), else the ``nn.Linear`` with K outputs.

    With several candidates, the one whose output *is* the model's output (checked on ``sample``)
    wins; if that does not single one out, the choice is ambiguous and the error lists them.
    """
    modules = dict(model.named_modules())
    if head is not None:
        module = modules.get(head)
        if module is None:
            linears = [n for n, m in modules.items() if isinstance(m, nn.Linear)]
            raise AuditError(
                f"--head {head!r} names no module of the model; its nn.Linear layers are: "
                f"{', '.join(linears) or 'none'}"
            )
        if not isinstance(module, nn.Linear):
            raise AuditError(f"--head {head!r} is a {type(module).__name__}, not an nn.Linear")
        if module.out_features != num_classes:
            raise AuditError(
                f"--head {head!r} has {module.out_features} outputs, but the audit expects K={num_classes}"
            )
        return head
    candidates = linear_candidates(model, num_classes)
    if not candidates:
        raise AuditError(
            f"the model has no nn.Linear with {num_classes} outputs to use as the head; name the last layer with --head"
        )
    if len(candidates) == 1:
        return candidates[0]
    outputs: dict[str, torch.Tensor] = {}
    handles = [
        modules[n].register_forward_hook(lambda _m, _i, out, n=n: outputs.__setitem__(n, out.detach()))
        for n in candidates
    ]
    try:
        with torch.no_grad():
            final = model(sample)
    finally:
        for handle in handles:
            handle.remove()
    producing = [
        n for n in candidates if n in outputs and outputs[n].shape == final.shape and torch.equal(outputs[n], final)
    ]
    if len(producing) == 1:
        return producing[0]
    raise AuditError(
        f"cannot tell which nn.Linear with {num_classes} outputs is the head; "
        f"name one with --head: {', '.join(candidates)}"
    )


def _probe(model: nn.Module, sample: torch.Tensor, *, what: str) -> torch.Tensor:
    try:
        with torch.no_grad():
            out = model(sample)
    except Exception as err:
        raise AuditError(
            f"{what} does not accept the dataset's inputs of shape {tuple(sample.shape[1:])}: {_one_line(err)}"
        ) from None
    if not isinstance(out, torch.Tensor):
        raise AuditError(f"{what} returned {type(out).__name__}, expected a tensor of shape (N, K)")
    return out


def _check_outputs(out: torch.Tensor, *, num_classes: int, batch: int, what: str) -> None:
    if out.ndim != 2 or out.shape[0] != batch:
        raise AuditError(f"{what} returned shape {tuple(out.shape)} for {batch} inputs, expected ({batch}, K)")
    if out.shape[1] != num_classes:
        raise AuditError(f"{what} has {out.shape[1]} outputs, but the dataset has K={num_classes} classes")
    if not torch.isfinite(out).all():
        raise AuditError(f"{what} returned NaN or infinite outputs on the dataset's images")


@dataclass
class LoadedModel:
    """A user model wrapped for the audit, with the name of its head inside the wrapper."""

    model: AuditedModel
    head_name: str
    outputs: str  # "logits" or "probabilities"

    @property
    def user_head_name(self) -> str:
        return self.head_name.removeprefix("net.")


def load_user_model(
    factory: Callable[[], nn.Module],
    *,
    spec: str,
    weights: Path,
    num_classes: int,
    sample: torch.Tensor,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    head: str | None = None,
) -> LoadedModel:
    """Build the factory's model, load ``weights`` safely, wrap and check it on ``sample``."""
    net = build_user_model(factory, spec=spec)
    load_into(net, read_state_dict(Path(weights)), source=str(weights))
    net.eval()
    check_normalisation(mean, std, channels=sample.shape[1])
    wrapped = AuditedModel(net, mean=mean, std=std).eval()
    what = f"the model built by {spec} with {weights}"
    out = _probe(wrapped, sample, what=what)
    _check_outputs(out, num_classes=num_classes, batch=len(sample), what=what)
    outputs = "logits"
    if looks_like_probabilities(out):
        wrapped.log_outputs = True
        outputs = "probabilities"
        logger.info("%s returns probabilities; the audit uses their logarithm as logits", spec)
    net_sample = (sample - wrapped.mean) / wrapped.std if wrapped.normalise else sample
    head_name = "net." + find_head(net, num_classes=num_classes, sample=net_sample, head=head)
    return LoadedModel(model=wrapped, head_name=head_name, outputs=outputs)


# -------------------------------------------------------------------------------------------- ONNX


class OnnxModel:
    """An ONNX classifier run by onnxruntime, exposed as a predict-proba callable.

    Whether the graph ends in logits or in probabilities is detected once, on the dataset's
    images: rows that are non-negative and sum to one are taken as probabilities and passed
    through; anything else is treated as logits and softmax-ed.
    """

    def __init__(self, path: Path, *, num_classes: int, input_shape: Sequence[int], sample: torch.Tensor) -> None:
        try:
            import onnxruntime
        except ImportError:
            raise AuditError("auditing an ONNX file needs onnxruntime: pip install 'labelleak[onnx]'") from None
        path = Path(path)
        if not path.is_file():
            raise AuditError(f"ONNX file not found: {path}")
        options = onnxruntime.SessionOptions()
        # Honour the caller's thread budget (torch's setting) instead of claiming every core.
        options.intra_op_num_threads = max(1, torch.get_num_threads())
        options.inter_op_num_threads = 1
        try:
            self._session = onnxruntime.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as err:
            raise AuditError(f"onnxruntime cannot load {path}: {_one_line(err)}") from None
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise AuditError(f"{path} takes {len(inputs)} inputs; the audit supports models with one image input")
        self._input = inputs[0].name
        declared = list(inputs[0].shape)
        expected = [None, *input_shape]
        fits = len(declared) == len(expected) and all(
            not isinstance(d, int) or e is None or d == e for d, e in zip(declared, expected)
        )
        if not fits:
            shown = ", ".join(str(d) if isinstance(d, int) else "N" for d in declared)
            raise AuditError(
                f"{path} expects inputs of shape ({shown}), but the dataset's images are "
                f"(N, {', '.join(map(str, input_shape))})"
            )
        # A graph exported with a fixed batch size gets exactly that many rows per call.
        self._fixed_batch = declared[0] if isinstance(declared[0], int) and declared[0] > 0 else None
        self.path = path
        self.outputs = "logits"
        raw = self._run(sample)
        what = f"the ONNX model {path}"
        _check_outputs(raw, num_classes=num_classes, batch=len(sample), what=what)
        if looks_like_probabilities(raw):
            self.outputs = "probabilities"
        logger.info("%s returns %s", path, self.outputs)

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        array = x.detach().to(torch.float32).contiguous().numpy()
        try:
            if self._fixed_batch is None:
                return torch.from_numpy(np.asarray(self._session.run(None, {self._input: array})[0], dtype=np.float32))
            parts = []
            for i in range(0, len(array), self._fixed_batch):
                chunk = array[i : i + self._fixed_batch]
                pad = self._fixed_batch - len(chunk)
                if pad:
                    chunk = np.concatenate([chunk, np.zeros((pad, *chunk.shape[1:]), dtype=np.float32)])
                parts.append(
                    np.asarray(self._session.run(None, {self._input: chunk})[0], dtype=np.float32)[: len(chunk) - pad]
                )
            return torch.from_numpy(np.concatenate(parts))
        except Exception as err:
            raise AuditError(f"onnxruntime failed on {self.path}: {_one_line(err)}") from None

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        out = self._run(x)
        return out if self.outputs == "probabilities" else torch.softmax(out, dim=1)


# ----------------------------------------------------------------------------------------- targets


@dataclass
class AuditTarget:
    """What the audit may do with the model: build fresh access views and, optionally, θ_o."""

    level: str
    num_classes: int
    input_shape: tuple[int, ...]
    description: str
    make_view: Callable[[int | None], Any]
    original: WeightsAccess | None = None
    head_name: str | None = None

    def view(self, *, budget: int | None = None) -> Any:
        """A fresh access view (its own query counter), so every attack is charged only its queries."""
        return self.make_view(budget)


def weights_target(
    loaded: LoadedModel,
    *,
    num_classes: int,
    input_shape: Sequence[int],
    description: str,
    original: LoadedModel | None = None,
) -> AuditTarget:
    """White-box target (A-weights); with ``original`` the two-version setting (A-weights+orig)."""
    shape = tuple(input_shape)

    def make(budget: int | None) -> WeightsAccess:
        return WeightsAccess(
            loaded.model, num_classes=num_classes, input_shape=shape, head_name=loaded.head_name, budget=budget
        )

    theta_o = None
    if original is not None:
        theta_o = WeightsAccess(
            original.model, num_classes=num_classes, input_shape=shape, head_name=original.head_name
        )
    return AuditTarget(
        level="weights",
        num_classes=num_classes,
        input_shape=shape,
        description=description,
        make_view=make,
        original=theta_o,
        head_name=loaded.user_head_name,
    )


def onnx_target(onnx: OnnxModel, *, num_classes: int, input_shape: Sequence[int]) -> AuditTarget:
    """Black-box target (A-queries) backed by onnxruntime."""
    shape = tuple(input_shape)

    def make(budget: int | None) -> QueryAccess:
        return QueryAccess(onnx.predict_proba, num_classes=num_classes, input_shape=shape, budget=budget)

    return AuditTarget(
        level="queries",
        num_classes=num_classes,
        input_shape=shape,
        description=f"ONNX model {onnx.path} (queries only; outputs {onnx.outputs})",
        make_view=make,
    )


# ----------------------------------------------------------------------------------------- attacks


def permitted(attack_cls: type, *, level: str, has_original: bool) -> str | None:
    """None when the audit's access permits ``attack_cls``, else the reason it does not."""
    needs = getattr(attack_cls, "requires", "weights")
    if ACCESS_LEVELS.index(needs) > ACCESS_LEVELS.index(level):
        return f"needs {needs} access, the audit has only {level}"
    if getattr(attack_cls, "needs_original", False) and not has_original:
        return "needs the original model (--original)"
    return None


def select_attacks(names: str | Sequence[str], *, level: str, has_original: bool) -> list[str]:
    """Attack names to run: ``"all"`` = every registered attack the access permits, in registry order.

    Explicitly named attacks must exist and be permitted; otherwise a one-line error says why.
    """
    from labelleak.attacks import ATTACKS

    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()] if names != "all" else ["all"]
    if list(names) == ["all"]:
        chosen = [
            n for n in ATTACKS.names() if permitted(ATTACKS.get(n), level=level, has_original=has_original) is None
        ]
        if not chosen:
            raise AuditError(f"no registered attack can run with {level} access")
        return chosen
    if not names:
        raise AuditError("--attacks must be 'all' or a comma-separated list of attack names")
    for name in names:
        reason = permitted(ATTACKS.get(name), level=level, has_original=has_original)
        if reason is not None:
            raise AuditError(f"attack {name!r} cannot run in this audit: {reason}")
    return list(dict.fromkeys(names))


def construct_attack(name: str, *, options: dict[str, Any]) -> Any:
    """Instantiate attack ``name`` with those of ``options`` its constructor accepts."""
    from labelleak.attacks import ATTACKS

    cls = ATTACKS.get(name)
    params = inspect.signature(cls.__init__).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    return cls(**{k: v for k, v in options.items() if v is not None and (takes_any or k in params)})


# ----------------------------------------------------------------------------------------- results


def score_margin(scores: np.ndarray, predicted: Sequence[int]) -> float:
    """Gap between the decided set and the rest, in units of the scores' spread across classes:
    (min over Ĉ − max over the other classes) / std(s). Positive = Ĉ stands above every other class;
    comparable across attacks whose raw scores live on different scales. 0 when scores are flat."""
    scores = np.asarray(scores, dtype=np.float64)
    inside = [int(c) for c in predicted]
    outside = [k for k in range(len(scores)) if k not in inside]
    spread = float(scores.std())
    if not inside or not outside or spread == 0 or not np.isfinite(spread):
        return 0.0
    return float((scores[inside].min() - scores[outside].max()) / spread)


@dataclass
class AuditVerdict:
    forgotten: list[int]
    agreeing_attacks: int
    attacks_run: int


def votes_in_verdict(result: Any) -> bool:
    """False for a chance reference: a query-level attack that asked the model nothing (e.g.
    ``random-guess``) carries no evidence about it, so it is shown but does not vote."""
    return not (result.access == "queries" and result.queries == 0)


def verdict(results: Sequence[Any], *, num_classes: int) -> AuditVerdict:
    """The classes named by the most attacks (ties all reported) and how many attacks named them.

    Every attack that looked at the model votes for each class in its predicted set;
    ``attacks_run`` counts every attack run, chance references included.
    """
    votes = np.zeros(num_classes, dtype=int)
    for result in results:
        if votes_in_verdict(result):
            for c in result.predicted:
                votes[int(c)] += 1
    if votes.max(initial=0) == 0:
        return AuditVerdict(forgotten=[], agreeing_attacks=0, attacks_run=len(results))
    top = int(votes.max())
    return AuditVerdict(
        forgotten=[int(c) for c in np.flatnonzero(votes == top)], agreeing_attacks=top, attacks_run=len(results)
    )


@dataclass
class AuditReport:
    """Everything an audit found: per-attack results, failures, the verdict and the setting."""

    num_classes: int
    class_names: tuple[str, ...]
    target: str
    level: str
    dataset: str
    knowledge: str
    results: list[Any]
    failures: dict[str, str] = field(default_factory=dict)
    setup_seconds: float = 0.0
    calibration: str = ""

    @property
    def verdict(self) -> AuditVerdict:
        return verdict(self.results, num_classes=self.num_classes)

    def to_json(self) -> dict[str, Any]:
        """The machine-readable shape promised by the CLI (``--json``), nothing more."""
        v = self.verdict
        return {
            "num_classes": self.num_classes,
            "verdict": {"forgotten": v.forgotten, "agreeing_attacks": v.agreeing_attacks, "attacks_run": v.attacks_run},
            "attacks": [
                {
                    "name": r.attack,
                    "access": r.access,
                    "scores": [float(s) for s in r.scores],
                    "predicted": [int(c) for c in r.predicted],
                    "queries": r.queries,
                    "seconds": float(r.seconds),
                }
                for r in self.results
            ],
        }

    def table_rows(self) -> list[list[str]]:
        rows = []
        for r in self.results:
            rows.append(
                [
                    r.attack,
                    r.access,
                    ", ".join(self._class_label(c) for c in r.predicted),
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

    def _class_label(self, c: int) -> str:
        name = self.class_names[c] if c < len(self.class_names) else ""
        return f"{c} ({name})" if name and name != str(c) else str(c)

    def verdict_line(self) -> str:
        v = self.verdict
        if not v.forgotten:
            return f"verdict: no attack named a class ({v.attacks_run} attacks run)"
        classes = ", ".join(self._class_label(c) for c in v.forgotten)
        return (
            f"verdict: class {classes} — named by {v.agreeing_attacks} of {v.attacks_run} attacks"
            if len(v.forgotten) == 1
            else f"verdict: classes {classes} — each named by {v.agreeing_attacks} of {v.attacks_run} attacks"
        )


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


# ----------------------------------------------------------------------------------- calibration


@dataclass
class AttackCalibration:
    """Constructor options an attack gets from shadow calibration, and what they were fit on."""

    options: dict[str, Any]
    description: str = ""


def shadow_calibrations(
    names: Sequence[str], *, dataset: ImageDataset, draw: Any, store: ArtifactStore | None, seed: int, verbose: bool
) -> dict[str, AttackCalibration]:
    """Shadow calibration for the parameter attacks among ``names`` (cached in ``store``).

    The shadows are labelleak's default architecture for ``dataset``, trained on the attacker's
    shadow pool and unlearned with :data:`SHADOW_METHODS`; the parameter attacks' features are
    z-scored across classes, which is what lets a Youden threshold fit on them transfer to the
    owner's architecture. The inversion attacks keep their fixed, data-free defaults: their
    calibration is a per-class difficulty reference of one architecture, which would not transfer
    from labelleak's shadows to the owner's model.
    """
    from labelleak.attacks import ATTACKS
    from labelleak.attacks.parameter import ParameterAttack, ReferenceConfig
    from labelleak.attacks.shadow import ShadowConfig, calibrate

    parametric = [n for n in names if issubclass(ATTACKS.get(n), ParameterAttack)]
    if not parametric:
        return {}
    calibration = calibrate(
        dataset,
        draw,
        config=ShadowConfig(methods=SHADOW_METHODS),
        eval_seeds=(),
        reference=ReferenceConfig(seed=seed),
        store=store,
        verbose=verbose,
    )
    found = AttackCalibration(
        options={"decider": PARAMETER_DECIDER, "calibration": calibration}, description=calibration.description
    )
    return dict.fromkeys(parametric, found)


# ------------------------------------------------------------------------------------------- run


def run_audit(
    target: AuditTarget,
    *,
    dataset: ImageDataset,
    attacks: str | Sequence[str] = "all",
    query_budget: int | None = None,
    seed: int = 0,
    store: ArtifactStore | None = None,
    data_root: str | None = None,
    verbose: bool = False,
) -> AuditReport:
    """Run the permitted attacks on ``target`` with attacker knowledge drawn from ``dataset``.

    Args:
        target: from :func:`weights_target` or :func:`onnx_target`.
        dataset: supplies A and N (from its test split, see
            :func:`~labelleak.attacks.knowledge.draw_knowledge`) and the shadow calibration.
        attacks: ``"all"`` (every permitted attack) or names.
        query_budget: the most queries each black-box attack may spend (None = its own default).
        seed: every random choice of the audit derives from it.
        store: artifact store caching the shadow calibration (None = no caching).
        verbose: progress bars.

    An attack that fails is reported in ``failures`` and the others still run; the audit fails only
    when none could run.
    """
    from labelleak.attacks import ATTACKS
    from labelleak.attacks.knowledge import draw_knowledge

    check_number("seed", seed, low=0, integer=True)
    if query_budget is not None:
        check_number("query_budget", query_budget, low=1, integer=True)
    if tuple(dataset.input_shape) != tuple(target.input_shape):
        raise AuditError(
            f"the model takes inputs of shape {target.input_shape}, dataset {dataset.name!r} has "
            f"{tuple(dataset.input_shape)}"
        )
    if dataset.num_classes != target.num_classes:
        raise AuditError(
            f"the model has K={target.num_classes} classes, dataset {dataset.name!r} has {dataset.num_classes}"
        )
    names = select_attacks(attacks, level=target.level, has_original=target.original is not None)
    start = time.perf_counter()
    draw = draw_knowledge(dataset, original=target.original, seed=seed, data_root=data_root)
    calibrations = shadow_calibrations(names, dataset=dataset, draw=draw, store=store, seed=seed, verbose=verbose)
    setup_seconds = time.perf_counter() - start
    report = AuditReport(
        num_classes=target.num_classes,
        class_names=tuple(dataset.class_names),
        target=target.description,
        level=target.level,
        dataset=dataset.describe(),
        knowledge=draw.knowledge.description,
        results=[],
        setup_seconds=setup_seconds,
        calibration=next((c.description for c in calibrations.values() if c.description), ""),
    )
    for name in tqdm(names, desc="audit", disable=not verbose):
        cls = ATTACKS.get(name)
        calibration = calibrations.get(name)
        # One seed for every attack: the parameter attacks' reference settings (seed included) must
        # equal those the shadow calibration was extracted with.
        options = {"seed": seed, "query_budget": query_budget, "verbose": verbose}
        if calibration is not None:
            options.update(calibration.options)
        try:
            attack = construct_attack(name, options=options)
            view = target.view(budget=query_budget if cls.requires == "queries" else None)
            report.results.append(attack.infer(view, knowledge=draw.knowledge))
        except Exception as err:  # one broken or over-budget attack must not hide the others' findings
            logger.info("attack %s failed: %s", name, _one_line(err))
            logger.debug("attack %s failed", name, exc_info=True)
            report.failures[name] = _one_line(err)
    if not report.results:
        raise AuditError(f"no attack could run: {'; '.join(f'{k}: {v}' for k, v in report.failures.items())}")
    return report


# --------------------------------------------------------------------------------------- outputs


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
    lines += [
        "",
        "## Verdict",
        "",
        report.verdict_line(),
        "",
        "Every attack that looked at the model votes for the classes it predicts; a chance reference "
        "that made no query (random-guess) is listed but does not vote.",
        "",
        "## Attacks",
        "",
        "Score margin: (lowest score inside the predicted set − highest score outside it) / standard "
        "deviation of the K scores; positive means the predicted classes stand clear of the rest.",
        "",
        "| " + " | ".join(report.TABLE_HEADERS) + " |",
        "|" + " --- |" * len(report.TABLE_HEADERS),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in report.table_rows()]
    if report.failures:
        lines += ["", "Attacks that failed:", ""] + [f"- {name}: {reason}" for name, reason in report.failures.items()]
    lines += [
        "",
        "## Per-class scores",
        "",
        "Higher = more likely forgotten, on each attack's own scale.",
        "",
        "| attack | " + " | ".join(str(k) for k in range(report.num_classes)) + " |",
        "|" + " --- |" * (report.num_classes + 1),
    ]
    lines += ["| " + r.attack + " | " + " | ".join(f"{s:.3g}" for s in r.scores) + " |" for r in report.results]
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


def write_markdown(report: AuditReport, path: Path) -> None:
    """Write the Markdown report; each inversion attack's prototype grid goes to
    ``<report name>_<attack>.png`` beside it and is embedded by relative link."""
    from labelleak.report.prototypes import save_prototype_grid

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
    atomic_write_bytes(path, markdown(report, images=images).encode())
