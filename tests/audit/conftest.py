"""A model owner's workflow, outside labelleak: train a CNN on digits and unlearn class 3 with
plain PyTorch, save both versions with ``torch.save(state_dict)`` (``owner_files``) and export the
unlearned one to ONNX (``owner_onnx``). Built once per test session (a few seconds).

Only the ONNX fixtures need onnx and onnxruntime (the ``onnx`` extra, also in the ``test`` extra):
without them the tests that use those fixtures are skipped, and every other audit test still runs.
With ``LABELLEAK_REQUIRE_ONNX=1`` (set by CI, ``.ci/run``) a missing package fails them instead, so
CI cannot pass with the ONNX tests silently skipped. The export uses the TorchScript exporter
(``dynamo=False``), which needs neither ``onnxscript`` nor the dynamo exporter's extra packages."""

from __future__ import annotations

import importlib.util
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

HERE = Path(__file__).parent
USER_MODEL = HERE / "user_model.py"
FORGOTTEN = 3
FORGOTTEN_PAIR = (1, 6)


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
    forget_test_acc: float
    retain_test_acc: float


def owner_workflow(out: Path, digits, forgotten: tuple[int, ...]) -> OwnerFiles:
    user = load_user_module()
    torch.manual_seed(0)
    model = user.build()
    fit(model, digits.x_train, digits.y_train, epochs=12, seed=0, lr=3e-3)
    torch.save(model.state_dict(), out / "original.pt")
    # "Random labels" unlearning: the forget samples get random labels of the retained classes, the
    # retain samples keep theirs, and the model is fine-tuned on both for a few epochs.
    gen = torch.Generator().manual_seed(1)
    y = digits.y_train.clone()
    forget = torch.isin(y, torch.tensor(forgotten))
    retained = torch.tensor([c for c in range(10) if c not in forgotten])
    y[forget] = retained[torch.randint(len(retained), (int(forget.sum()),), generator=gen)]
    fit(model, digits.x_train, y, epochs=3, seed=1, lr=1e-3)
    torch.save(model.state_dict(), out / "unlearned.pt")
    with torch.no_grad():
        pred = model(digits.x_test).argmax(1)
    test_forget = torch.isin(digits.y_test, torch.tensor(forgotten))
    return OwnerFiles(
        original=out / "original.pt",
        unlearned=out / "unlearned.pt",
        forget_test_acc=float((pred[test_forget] == digits.y_test[test_forget]).float().mean()),
        retain_test_acc=float((pred[~test_forget] == digits.y_test[~test_forget]).float().mean()),
    )


@pytest.fixture(scope="session")
def owner_files(tmp_path_factory, digits) -> OwnerFiles:
    """The owner's model, unlearned of class :data:`FORGOTTEN`."""
    return owner_workflow(tmp_path_factory.mktemp("owner"), digits, (FORGOTTEN,))


@pytest.fixture(scope="session")
def owner_pair_files(tmp_path_factory, digits) -> OwnerFiles:
    """The owner's model, unlearned of the two classes :data:`FORGOTTEN_PAIR`."""
    return owner_workflow(tmp_path_factory.mktemp("owner_pair"), digits, FORGOTTEN_PAIR)


#: set (to anything but "" or "0") where the ONNX tests must run, not skip
REQUIRE_ONNX = "LABELLEAK_REQUIRE_ONNX"


def need(module: str, reason: str):
    """``pytest.importorskip(module)``, except that it fails when :data:`REQUIRE_ONNX` is set."""
    if os.environ.get(REQUIRE_ONNX, "") not in ("", "0") and importlib.util.find_spec(module) is None:
        pytest.fail(f"{REQUIRE_ONNX} is set but {module} is not installed: {reason}", pytrace=False)
    return pytest.importorskip(module, reason=reason)


@pytest.fixture(scope="session")
def export_onnx():
    """``export(net, example, path, *, input_name="x", output_name="y")``: ``net`` written as an ONNX
    graph with a dynamic batch axis (unless ``dynamic_batch=False``); skips without onnx/onnxruntime."""
    need("onnx", reason="exporting ONNX models needs the onnx package (pip install 'labelleak[onnx]')")
    need("onnxruntime", reason="auditing ONNX models needs onnxruntime (pip install 'labelleak[onnx]')")

    def export(net, example, path, *, input_name="x", output_name="y", dynamic_batch=True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
            torch.onnx.export(
                net,
                (example,),
                str(path),
                dynamo=False,
                input_names=[input_name],
                output_names=[output_name],
                dynamic_axes={input_name: {0: "batch"}} if dynamic_batch else None,
            )
        return path

    return export


@pytest.fixture(scope="session")
def owner_onnx(owner_files, export_onnx, digits, tmp_path_factory) -> Path:
    """The owner's unlearned model exported to ONNX, as an owner serving it would."""
    model = load_user_module().build()
    model.load_state_dict(torch.load(owner_files.unlearned, weights_only=True))
    model.eval()
    out = tmp_path_factory.mktemp("owner_onnx") / "unlearned.onnx"
    return export_onnx(model, digits.x_test[:1], out, input_name="image", output_name="logits")
