"""Classifier architectures. Every model is a :class:`Classifier`: normalisation, a feature
extractor φ (``features``) and a final ``nn.Linear`` named ``head``, so attacks find the last
layer by contract rather than by guessing layer names."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from labelleak.registry import Registry
from labelleak.validation import ParameterError, check_number


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild an architecture (weights aside)."""

    arch: str
    in_channels: int
    image_size: int
    num_classes: int
    mean: tuple[float, ...] = field(default=(0.0,))
    std: tuple[float, ...] = field(default=(1.0,))

    def __post_init__(self) -> None:
        ARCHITECTURES.get(self.arch)
        check_number("in_channels", self.in_channels, low=1, integer=True)
        check_number("image_size", self.image_size, low=4, integer=True)
        check_number("num_classes", self.num_classes, low=2, integer=True)
        if len(self.mean) != self.in_channels or len(self.std) != self.in_channels:
            raise ParameterError(
                f"mean and std must have one value per input channel ({self.in_channels}), "
                f"got {len(self.mean)} and {len(self.std)}"
            )
        if min(self.std) <= 0:
            raise ParameterError(f"std must be positive, got {self.std}")

    def to_dict(self) -> dict:
        return {**asdict(self), "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, data: dict) -> ModelSpec:
        return cls(**{**data, "mean": tuple(data["mean"]), "std": tuple(data["std"])})


class Classifier(nn.Module):
    """f(x) = head(φ((x - mean) / std)); inputs are images in [0, 1]."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, spec: ModelSpec, body: nn.Module, feature_dim: int) -> None:
        super().__init__()
        self.spec = spec
        self.register_buffer("mean", torch.tensor(spec.mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(spec.std, dtype=torch.float32).view(1, -1, 1, 1))
        self.body = body
        self.head = nn.Linear(feature_dim, spec.num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body((x - self.mean) / self.std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


#: builders take a spec and return (feature extractor, feature dimension)
ARCHITECTURES: Registry[Callable[[ModelSpec], tuple[nn.Module, int]]] = Registry("architecture")


@ARCHITECTURES.register("mlp")
def _mlp(spec: ModelSpec) -> tuple[nn.Module, int]:
    """Two hidden layers (256, 128): the default for scikit-learn's 8x8 digits."""
    inputs = spec.in_channels * spec.image_size**2
    return nn.Sequential(nn.Flatten(), nn.Linear(inputs, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU()), 128


@ARCHITECTURES.register("lenet")
def _lenet(spec: ModelSpec) -> tuple[nn.Module, int]:
    """LeNet-style CNN for 28x28 inputs: two 5x5 conv/pool stages, then a 128-unit layer."""
    side = spec.image_size // 4
    body = nn.Sequential(
        nn.Conv2d(spec.in_channels, 32, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * side * side, 128),
        nn.ReLU(),
    )
    return body, 128


@ARCHITECTURES.register("smallcnn")
def _smallcnn(spec: ModelSpec) -> tuple[nn.Module, int]:
    """Small VGG-style CNN with BatchNorm for 32x32 inputs: three conv/BN/pool stages, a 256-unit layer."""
    layers: list[nn.Module] = []
    channels = spec.in_channels
    for width in (32, 64, 128):
        layers += [nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2)]
        channels = width
    side = spec.image_size // 8
    layers += [nn.Flatten(), nn.Dropout(0.3), nn.Linear(128 * side * side, 256), nn.ReLU()]
    return nn.Sequential(*layers), 256


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


@ARCHITECTURES.register("resnet18")
def _resnet18(spec: ModelSpec) -> tuple[nn.Module, int]:
    """ResNet-18, CIFAR variant (3x3 stem, no max-pool): the paper-scale option, slow on a CPU."""
    layers: list[nn.Module] = [nn.Conv2d(spec.in_channels, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU()]
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [_BasicBlock(cin, cout, stride), _BasicBlock(cout, cout, 1)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers), 512


DEFAULT_ARCH = {"digits": "mlp", "mnist": "lenet", "fashion-mnist": "lenet", "cifar10": "smallcnn", "svhn": "smallcnn"}


def resolve_arch(arch: str, dataset: str) -> str:
    """``auto`` -> the default architecture for ``dataset``; anything else must be registered."""
    if arch == "auto":
        return DEFAULT_ARCH.get(dataset, "smallcnn")
    ARCHITECTURES.get(arch)
    return arch


def build_model(spec: ModelSpec, *, seed: int | None = None) -> Classifier:
    """A freshly initialised model; with ``seed`` the initial weights are reproducible."""
    builder = ARCHITECTURES.get(spec.arch)
    with torch.random.fork_rng(enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        body, dim = builder(spec)
        return Classifier(spec, body, dim)
