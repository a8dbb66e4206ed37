"""Loading the owner's model: the factory, the weights, the normalisation wrapper and the head."""

from __future__ import annotations

import copy
import hashlib
import importlib
import importlib.util
import logging
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from labelleak.audit.errors import AuditError, one_line
from labelleak.models.foreign import ForeignArchitectureError, register_factory
from labelleak.models.io import load_into, read_state_dict

logger = logging.getLogger(__name__)

#: how many dataset images are pushed through the model at load time to check shapes and outputs
PROBE_IMAGES = 16


def load_factory(spec: str) -> Callable[[], nn.Module]:
    """Resolve ``spec``, ``FILE.py:CALLABLE`` or ``package.module:CALLABLE``, to the named callable.

    This imports and therefore **runs** the named file or module: only point it at code you trust.
    """
    path_text, sep, name = spec.rpartition(":")
    if not sep or not path_text or not name:
        raise AuditError(
            "{spec} must look like FILE.py:CALLABLE or package.module:CALLABLE, got {given!r}",
            parameters=("spec",),
            given=spec,
        )
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
            raise AuditError(f"importing {path} failed: {one_line(err)}") from None
        where = str(path)
        spec = f"{path.resolve()}:{name}"  # what a worker process in another folder loads again
    else:
        try:
            module = importlib.import_module(path_text)
        except ModuleNotFoundError as err:
            raise AuditError(
                "cannot import module {module!r} for {spec}: {reason}",
                parameters=("spec",),
                module=path_text,
                reason=one_line(err),
            ) from None
        except Exception as err:
            raise AuditError(f"importing module {path_text!r} failed: {one_line(err)}") from None
        where = f"module {path_text!r}"
    factory = getattr(module, name, None)
    if factory is None or not callable(factory):
        raise AuditError(f"{where} has no callable named {name!r}")
    return _SpecFactory(spec, factory)


class _SpecFactory:
    """A factory loaded from its spec that pickles as the spec: a worker process that builds shadow
    models imports the file or module again instead of needing the (unimportable) loaded module."""

    def __init__(self, spec: str, factory: Callable[[], nn.Module]) -> None:
        self.spec, self._factory = spec, factory

    def __call__(self) -> nn.Module:
        return self._factory()

    def __reduce__(self) -> tuple[Callable[[str], Callable[[], nn.Module]], tuple[str]]:
        return load_factory, (self.spec,)


def build_user_model(factory: Callable[[], nn.Module], *, spec: str) -> nn.Module:
    """Call the factory (no arguments) and check it returned an ``nn.Module``."""
    try:
        model = factory()
    except Exception as err:
        raise AuditError(f"calling the model factory {spec} failed: {one_line(err)}") from None
    if not isinstance(model, nn.Module):
        raise AuditError(f"the model factory {spec} returned {type(model).__name__}, expected a torch.nn.Module")
    return model


class AuditedModel(nn.Module):
    """The user's model as the audit sees it: inputs in [0, 1], logits out.

    ``mean``/``std`` (per channel) are applied before the user's model when it expects normalised
    inputs; ``log_outputs`` turns probability outputs back into log-probabilities (valid logits).
    """

    # buffers, present when ``normalise`` is True
    mean: torch.Tensor
    std: torch.Tensor

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
    """``mean`` and ``std`` come together, one value per channel (or one for all), std > 0."""
    if (mean is None) != (std is None):
        raise AuditError("{mean} and {std} must be given together", parameters=("mean", "std"))
    if mean is None or std is None:
        return
    for name, values in (("mean", mean), ("std", std)):
        if len(values) != channels:
            raise AuditError(
                "{" + name + "} needs {channels} value(s), one per input channel, got {count}",
                parameters=(name,),
                channels=channels,
                count=len(values),
            )
        if not all(math.isfinite(v) for v in values):
            raise AuditError(
                "{" + name + "} values must be finite, got {values}", parameters=(name,), values=list(values)
            )
    if min(std) <= 0:
        raise AuditError("{std} values must be positive, got {values}", parameters=("std",), values=list(std))


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
                "{head} {name!r} names no module of the model; its nn.Linear layers are: {linears}",
                parameters=("head",),
                name=head,
                linears=", ".join(linears) or "none",
            )
        if not isinstance(module, nn.Linear):
            raise AuditError(
                "{head} {name!r} is a {kind}, not an nn.Linear",
                parameters=("head",),
                name=head,
                kind=type(module).__name__,
            )
        if module.out_features != num_classes:
            raise AuditError(
                "{head} {name!r} has {outputs} outputs, but the audit expects K={k}",
                parameters=("head",),
                name=head,
                outputs=module.out_features,
                k=num_classes,
            )
        return head
    candidates = linear_candidates(model, num_classes)
    if not candidates:
        raise AuditError(
            "the model has no nn.Linear with {k} outputs to use as the head; name the last layer with {head}",
            parameters=("head",),
            k=num_classes,
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
        "cannot tell which nn.Linear with {k} outputs is the head; name one with {head}: {candidates}",
        parameters=("head",),
        k=num_classes,
        candidates=", ".join(candidates),
    )


def probe(model: nn.Module, sample: torch.Tensor, *, what: str) -> torch.Tensor:
    """``model(sample)``, or a one-line error when the model refuses the dataset's inputs."""
    try:
        with torch.no_grad():
            out = model(sample)
    except Exception as err:
        raise AuditError(
            f"{what} does not accept the dataset's inputs of shape {tuple(sample.shape[1:])}: {one_line(err)}"
        ) from None
    if not isinstance(out, torch.Tensor):
        raise AuditError(f"{what} returned {type(out).__name__}, expected a tensor of shape (N, K)")
    return out


def check_outputs(out: torch.Tensor, *, num_classes: int, batch: int, what: str) -> None:
    """One row of K finite numbers per input, or a one-line error."""
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
    return wrap_user_model(
        net,
        num_classes=num_classes,
        sample=sample,
        mean=mean,
        std=std,
        head=head,
        what=f"the model built by {spec} with {weights}",
    )


def wrap_user_model(
    net: nn.Module,
    *,
    num_classes: int,
    sample: torch.Tensor,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    head: str | None = None,
    what: str = "the model",
) -> LoadedModel:
    """Wrap a model already in memory for the audit and check it on ``sample`` (see :func:`load_user_model`)."""
    net.eval()
    check_normalisation(mean, std, channels=sample.shape[1])
    wrapped = AuditedModel(net, mean=mean, std=std).eval()
    out = probe(wrapped, sample, what=what)
    check_outputs(out, num_classes=num_classes, batch=len(sample), what=what)
    outputs = "logits"
    if looks_like_probabilities(out):
        wrapped.log_outputs = True
        outputs = "probabilities"
        logger.info("%s returns probabilities; the audit uses their logarithm as logits", what)
    net_sample = (sample - wrapped.mean) / wrapped.std if wrapped.normalise else sample
    head_name = "net." + find_head(net, num_classes=num_classes, sample=net_sample, head=head)
    return LoadedModel(model=wrapped, head_name=head_name, outputs=outputs)


def shadow_architecture(
    factory: Callable[[], nn.Module],
    *,
    head: str,
    sample: torch.Tensor,
    source: str,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> str | None:
    """The owner's architecture registered for shadow models (:func:`~labelleak.models.foreign.register_factory`),
    or None, with a warning, when the model cannot be split at its head (the audit then calibrates
    on labelleak's own architecture: a transfer). ``source`` names the factory's code in the
    architecture's fingerprint (a factory file's content, or a class's qualified name); ``mean`` and
    ``std`` are the normalisation the owner's model expects (as for :func:`load_user_model`), which
    its shadows get too."""
    try:
        return register_factory(factory, head=head, sample=sample, source=source, mean=mean, std=std)
    except ForeignArchitectureError as err:
        logger.warning("%s; calibrating on labelleak's own architecture instead", err)
        return None


def factory_source(spec: str) -> str:
    """What identifies a factory's code: the content of its file, or its module and name."""
    path_text, _, name = spec.rpartition(":")
    path = Path(path_text).expanduser()
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest() + ":" + name
    return spec


def fresh_copy(model: nn.Module) -> nn.Module:
    """A re-initialised copy of ``model`` (every submodule with ``reset_parameters`` is reset)."""
    clone = copy.deepcopy(model)
    for module in clone.modules():
        reset = getattr(module, "reset_parameters", None)
        if callable(reset):
            reset()
    return clone
