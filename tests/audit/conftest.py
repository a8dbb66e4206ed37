"""A model owner's workflow, outside labelleak: train a CNN on digits and unlearn class 3 with
plain PyTorch, save both versions with ``torch.save(state_dict)`` and export the unlearned one to
ONNX. Built once per test session (a few seconds)."""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

HERE = Path(__file__).parent
USER_MODEL = HERE / "user_model.py"
FORGOTTEN = 3


def load_user_module():
    spec = importlib.util.spec_from_file_location("audit_test_user_model", USER_MODEL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fit(model, x, y, *, epochs: int, seed: int, lr: float = 2e-3) -> None:
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=gen).split(64):
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    model.eval()


@dataclass
class OwnerFiles:
    original: Path
    unlearned: Path
    onnx: Path
    forget_test_acc: float
    retain_test_acc: float


@pytest.fixture(scope="session")
def owner_files(tmp_path_factory, digits) -> OwnerFiles:
    out = tmp_path_factory.mktemp("owner")
    user = load_user_module()
    torch.manual_seed(0)
    model = user.build()
    fit(model, digits.x_train, digits.y_train, epochs=12, seed=0, lr=3e-3)
    torch.save(model.state_dict(), out / "original.pt")
    # "Random labels" unlearning: the forget samples get random wrong labels, the retain samples keep
    # theirs, and the model is fine-tuned on both for a few epochs.
    gen = torch.Generator().manual_seed(1)
    y = digits.y_train.clone()
    forget = y == FORGOTTEN
    shift = torch.randint(1, 10, (int(forget.sum()),), generator=gen)
    y[forget] = (FORGOTTEN + shift) % 10
    fit(model, digits.x_train, y, epochs=3, seed=1, lr=1e-3)
    torch.save(model.state_dict(), out / "unlearned.pt")
    with torch.no_grad():
        pred = model(digits.x_test).argmax(1)
    test_forget = digits.y_test == FORGOTTEN
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        torch.onnx.export(
            model,
            (digits.x_test[:1],),
            str(out / "unlearned.onnx"),
            dynamo=False,
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": {0: "batch"}},
        )
    return OwnerFiles(
        original=out / "original.pt",
        unlearned=out / "unlearned.pt",
        onnx=out / "unlearned.onnx",
        forget_test_acc=float((pred[test_forget] == FORGOTTEN).float().mean()),
        retain_test_acc=float((pred[~test_forget] == digits.y_test[~test_forget]).float().mean()),
    )
