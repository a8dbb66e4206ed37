"""Architectures labelleak does not ship, for the foreign-model zoo (``benchmarks/foreign_zoo.py``).

Plain PyTorch, written independently of ``labelleak.models``: the audit sees them exactly as it sees
a model owner's code, through ``--model-factory benchmarks/zoo_models.py:NAME``. Each factory takes
no argument; its name ends with the input it expects (``_g28``: 1×28×28 grey, ``_c32``: 3×32×32
colour). None of them normalises its input: they take pixels in [0, 1].
"""

from __future__ import annotations

import torch
from torch import nn


class BNCNN(nn.Module):
    """Two conv/BatchNorm/ReLU/pool stages and a 128-unit layer."""

    def __init__(self, channels: int, size: int, classes: int = 10) -> None:
        super().__init__()
        self.stages = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.dense = nn.Sequential(nn.Flatten(), nn.Linear(64 * (size // 4) ** 2, 128), nn.ReLU())
        self.out = nn.Linear(128, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.dense(self.stages(x)))


class Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.a = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.na = nn.BatchNorm2d(cout)
        self.b = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.nb = nn.BatchNorm2d(cout)
        self.skip = (
            nn.Identity()
            if stride == 1 and cin == cout
            else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.nb(self.b(torch.relu(self.na(self.a(x))))) + self.skip(x))


class TinyResNet(nn.Module):
    """A stem and three residual blocks (16, 32, 64 channels), global average pooling."""

    def __init__(self, channels: int, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(channels, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.blocks = nn.Sequential(Block(16, 16, 1), Block(16, 32, 2), Block(32, 64, 2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.blocks(self.stem(x))), 1))


class VGGBN(nn.Module):
    """VGG-style: two double-conv/BatchNorm blocks, a 256-unit layer with dropout."""

    def __init__(self, channels: int, size: int, classes: int = 10) -> None:
        super().__init__()

        def conv(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]

        self.features = nn.Sequential(
            *conv(channels, 32), *conv(32, 32), nn.MaxPool2d(2), *conv(32, 64), *conv(64, 64), nn.MaxPool2d(2)
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * (size // 4) ** 2, 256), nn.ReLU(), nn.Dropout(0.5), nn.Linear(256, classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class DropoutMLP(nn.Module):
    """Three dense layers (512, 256) with dropout."""

    def __init__(self, channels: int, size: int, classes: int = 10) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * size * size, 512),
            nn.ReLU(),
            nn.Dropout(0.2),
            nn.Linear(512, 256),
            nn.ReLU(),
            nn.Dropout(0.2),
        )
        self.last = nn.Linear(256, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last(self.net(x))


def bn_cnn_g28() -> nn.Module:
    return BNCNN(1, 28)


def bn_cnn_c32() -> nn.Module:
    return BNCNN(3, 32)


def resnet_g28() -> nn.Module:
    return TinyResNet(1)


def resnet_c32() -> nn.Module:
    return TinyResNet(3)


def vgg_bn_g28() -> nn.Module:
    return VGGBN(1, 28)


def vgg_bn_c32() -> nn.Module:
    return VGGBN(3, 32)


def mlp_g28() -> nn.Module:
    return DropoutMLP(1, 28)


def mlp_c32() -> nn.Module:
    return DropoutMLP(3, 32)


#: architecture name -> (uses BatchNorm, factory per input kind)
ZOO = {
    "bn_cnn": (True, {"g28": bn_cnn_g28, "c32": bn_cnn_c32}),
    "resnet": (True, {"g28": resnet_g28, "c32": resnet_c32}),
    "vgg_bn": (True, {"g28": vgg_bn_g28, "c32": vgg_bn_c32}),
    "mlp": (False, {"g28": mlp_g28, "c32": mlp_c32}),
}
