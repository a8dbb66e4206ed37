"""Architectures that labelleak does not ship: a model owner's factory registered as a labelleak
architecture, so the attacker can train and unlearn shadow models *of the owner's architecture*
(the classic shadow-model approach) with labelleak's own training and unlearning code.

The owner's network becomes a :class:`~labelleak.models.architectures.Classifier` by splitting it
at its head: the body is the network with the head replaced by ``nn.Identity``, the head a fresh
``nn.Linear`` of the same shape. That split is only valid when the head is the network's last
operation, applied once to the features; :func:`register_factory` checks it on a sample and
refuses otherwise.

The shadow models see their inputs as the owner's network does: a ``Classifier`` standardises
its input with per-channel statistics before its body, which for labelleak's own architectures
are those of the training data, but the owner's network receives [0, 1] images, or images
normalised by the ``mean``/``std`` the owner declares. A registered factory therefore carries the
owner's normalisation (:func:`input_normalisation`; none: the identity), and its shadows are
built with it. Why: standardising an MLP's inputs changes which classes it learns to give to
inputs far from the data; standardised, the attacker's shadow MLPs reached every class from
noise-like inputs while the owner's MLPs, trained on raw pixels, hardly reached a few, and the
queries-only audit named those classes as forgotten. Fed as the owner's, the shadows name far
fewer such classes, not none (docs/audit.md, "Through an API: shadows fed as your model is").
"""

from __future__ import annotations

import copy
import hashlib
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from labelleak import LabelleakError
from labelleak.models.architectures import ARCHITECTURES, ModelSpec

#: how the names of registered factories begin (``factory-<hash>``), unlike labelleak's own architectures
FACTORY_PREFIX = "factory-"


class ForeignArchitectureError(LabelleakError):
    """A model factory cannot be split into features and a last linear layer."""


def _split(net: nn.Module, head: str) -> tuple[nn.Module, nn.Linear]:
    """(the network with ``head`` replaced by nn.Identity, the head module)."""
    module = dict(net.named_modules()).get(head)
    if not isinstance(module, nn.Linear):
        raise ForeignArchitectureError(f"head {head!r} does not name an nn.Linear of the model")
    parent_name, _, attr = head.rpartition(".")
    parent = dict(net.named_modules())[parent_name] if parent_name else net
    setattr(parent, attr, nn.Identity())
    return net, module


def factory_fingerprint(
    factory: Callable[[], nn.Module],
    *,
    head: str,
    source: str,
    normalisation: tuple[tuple[float, ...], tuple[float, ...]] | None = None,
) -> str:
    """A short hash naming the architecture: its parameter and buffer names and shapes, its head,
    ``source`` (e.g. the factory file's content) and the input normalisation its shadows are built
    with, so two different architectures, or one fed differently, never share shadows."""
    net = factory()
    digest = hashlib.sha256(f"{source}\n{head}\ninputs:{normalisation}".encode())
    for name, tensor in net.state_dict().items():
        digest.update(f"{name}:{tuple(tensor.shape)};".encode())
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class FactoryRegistration:
    """What :func:`register_factory` was given: enough to register the same architecture in another
    process (a worker that builds shadow models), when the factory pickles."""

    factory: Callable[[], nn.Module]
    head: str
    sample: torch.Tensor
    source: str
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def register(self) -> str:
        return register_factory(
            self.factory, head=self.head, sample=self.sample, source=self.source, mean=self.mean, std=self.std
        )


_REGISTRATIONS: dict[str, FactoryRegistration] = {}


def shippable_registration(name: str) -> FactoryRegistration | None:
    """The registration of architecture ``name``, to send to another process: None for labelleak's
    own architectures (nothing to register); :class:`ForeignArchitectureError` for a factory that
    does not pickle (e.g. a lambda)."""
    registration = _REGISTRATIONS.get(name)
    if registration is None:
        return None
    try:
        pickle.dumps(registration)
    except Exception as err:  # whatever the user's factory holds may refuse to pickle, in any way
        raise ForeignArchitectureError(
            f"the model factory of {name} cannot be sent to another process ({type(err).__name__})"
        ) from None
    return registration


def register_factory(
    factory: Callable[[], nn.Module],
    *,
    head: str,
    sample: torch.Tensor,
    source: str = "",
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> str:
    """Register ``factory`` as a labelleak architecture and return its name (``factory-<hash>``).

    ``sample`` (a batch of inputs in [0, 1]) checks that head(body(x)) equals the network's output,
    i.e. that the head is the network's last operation. ``mean`` and ``std`` (per channel, given
    together) are what the owner's network expects its [0, 1] inputs to be normalised by; without
    them it takes them as they are. Its shadow models are fed the same way
    (:func:`input_normalisation`). Registering the same architecture again returns the same name.
    """
    if (mean is None) != (std is None):
        raise ForeignArchitectureError("mean and std must be given together")
    normalisation = (
        None if mean is None or std is None else (tuple(float(m) for m in mean), tuple(float(v) for v in std))
    )
    name = f"{FACTORY_PREFIX}{factory_fingerprint(factory, head=head, source=source, normalisation=normalisation)}"
    if name in ARCHITECTURES:
        return name
    net = factory().eval()
    expected = net(sample).detach()
    body, module = _split(copy.deepcopy(net), head)
    try:
        with torch.no_grad():
            rebuilt = module(body.eval()(sample))
    except RuntimeError:  # the network uses the head's output shape after the head: not splittable
        rebuilt = None
    if (
        rebuilt is None
        or rebuilt.shape != expected.shape
        or not torch.allclose(rebuilt, expected, atol=1e-5, rtol=1e-4)
    ):
        raise ForeignArchitectureError(
            f"the model's output is not its head {head!r} applied to the features entering it, so shadow "
            f"models of this architecture cannot be built"
        )

    def build(spec: ModelSpec) -> tuple[nn.Module, int]:
        body, module = _split(factory(), head)
        if module.out_features != spec.num_classes:
            raise ForeignArchitectureError(
                f"head {head!r} has {module.out_features} outputs, the dataset has {spec.num_classes} classes"
            )
        return body, module.in_features

    ARCHITECTURES.register(name)(build)
    _REGISTRATIONS[name] = FactoryRegistration(
        factory, head, sample, source, *(normalisation if normalisation is not None else (None, None))
    )
    return name


def input_normalisation(arch: str, *, channels: int) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """The (mean, std) per channel that the shadow models of ``arch`` standardise their [0, 1] inputs
    by, when ``arch`` is a registered factory: the owner's declared normalisation, else the identity
    (zeros and ones). None for labelleak's own architectures (their inputs are standardised by the
    training data's statistics)."""
    registration = _REGISTRATIONS.get(arch)
    if registration is None:
        return None
    mean, std = registration.mean, registration.std
    if mean is None or std is None:
        return (0.0,) * channels, (1.0,) * channels
    if len(mean) != channels or len(std) != channels:
        raise ForeignArchitectureError(
            f"{arch} normalises {len(mean)} input channel(s), the dataset's images have {channels}"
        )
    return mean, std
