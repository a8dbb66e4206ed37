"""A model owner's own code, outside labelleak: a small CNN for 8x8 grey images.

It is loaded by file path (``--model-factory tests/audit/user_model.py:build``), never imported
as part of labelleak. Its last layer is ``classifier.2`` — not called ``head`` — so the audit must
find it on its own. The other factories exist to exercise the audit's error paths.
"""

import torch
from torch import nn


class DigitsCNN(nn.Module):
    def __init__(self, num_classes: int = 10, width: int = 16) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(2 * width * 4 * 4, 64), nn.ReLU(), nn.Linear(64, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.conv(x))


def build() -> nn.Module:
    return DigitsCNN()


def build_wider() -> nn.Module:
    """Another architecture: the same layers, twice as wide (weights of ``build`` do not fit)."""
    return DigitsCNN(width=32)


class TwoHeads(nn.Module):
    """Two 10-output linear layers averaged: neither alone produces the output."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU())
        self.head_a = nn.Linear(32, 10)
        self.head_b = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.body(x)
        return (self.head_a(z) + self.head_b(z)) / 2


def build_two_heads() -> nn.Module:
    return TwoHeads()


def build_softmax() -> nn.Module:
    """The CNN followed by a softmax: it returns probabilities, not logits."""
    return nn.Sequential(DigitsCNN(), nn.Softmax(dim=1))


def not_a_model() -> str:
    return "not a model"
