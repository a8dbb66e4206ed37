"""Where models run: resolving ``auto``/``cpu``/``cuda``, the process default, and that the CPU path
gives exactly the numbers of a run that never names a device."""

from __future__ import annotations

import pytest
import torch

from labelleak.access import QueryAccess
from labelleak.device import (
    ACCELERATOR_INFERENCE_BATCH,
    CPU_INFERENCE_BATCH,
    DeviceUnavailableError,
    default_device,
    inference_batch,
    module_device,
    resolve_device,
    set_default_device,
    torch_threads,
    use_device,
)
from labelleak.models import TrainConfig
from labelleak.models.training import predict_logits
from labelleak.targets import access_view, train_original, unlearn_original
from labelleak.validation import ParameterError

CPU = torch.device("cpu")


@pytest.fixture()
def no_cuda(monkeypatch):
    """This machine as one without CUDA, whatever it has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_cpu_and_auto_without_cuda_are_the_cpu(no_cuda):
    assert resolve_device("cpu") == CPU
    assert resolve_device("auto") == CPU


def test_a_bad_name_names_the_allowed_values():
    with pytest.raises(ParameterError, match=r"device must be one of 'auto', 'cpu', 'cuda', got 'tpu'"):
        resolve_device("tpu")


def test_cuda_without_cuda_is_one_clear_error(no_cuda):
    with pytest.raises(DeviceUnavailableError, match=r"device 'cuda' was requested, but CUDA is not available") as info:
        resolve_device("cuda")
    assert "\n" not in str(info.value) and "'cpu' or 'auto'" in str(info.value)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_auto_is_cuda_where_available():
    assert resolve_device("auto").type == resolve_device("cuda").type == "cuda"


def test_use_device_sets_the_default_for_its_block_only():
    assert default_device() == CPU
    with use_device(torch.device("meta")) as device:
        assert default_device() == device == torch.device("meta")
    assert default_device() == CPU
    with pytest.raises(RuntimeError), use_device(torch.device("meta")):
        raise RuntimeError("left the block")
    assert default_device() == CPU
    assert set_default_device(CPU) == CPU


def test_module_device():
    assert module_device(torch.nn.Linear(2, 2)) == CPU
    assert module_device(torch.nn.Identity()) == CPU
    assert module_device(torch.nn.Linear(2, 2, device="meta")) == torch.device("meta")


@pytest.fixture(scope="module")
def small(digits):
    return train_original(digits, seed=0, train_config=TrainConfig(epochs=3, lr=1e-3, batch_size=64))


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())


def test_device_cpu_trains_and_unlearns_exactly_as_the_default(digits, small, store):
    explicit = train_original(
        digits, seed=0, train_config=TrainConfig(epochs=3, lr=1e-3, batch_size=64), device=CPU, store=store
    )
    assert (
        _same_weights(explicit.model, small.model)
        and explicit.metrics["test_accuracy"] == small.metrics["test_accuracy"]
    )
    # the device is in no cache key: the default call finds what the explicit one stored
    assert train_original(
        digits, seed=0, train_config=TrainConfig(epochs=3, lr=1e-3, batch_size=64), store=store
    ).cached
    for method in ("finetune", "unsir", "salun"):
        default = unlearn_original(small, digits, method=method, forget_classes=[3], seed=1)
        on_cpu = unlearn_original(small, digits, method=method, forget_classes=[3], seed=1, device=CPU)
        assert _same_weights(default.model, on_cpu.model), method
        assert module_device(on_cpu.model) == CPU


@pytest.mark.parametrize("level", ["queries", "gradients", "weights"])
def test_a_cpu_view_answers_exactly_as_the_default_view(digits, small, level):
    x = digits.x_test[:32]
    default, on_cpu = access_view(small.model, level), access_view(small.model, level, device=CPU)
    assert torch.equal(default.query(x), on_cpu.query(x))
    if level == "queries":
        return
    grads = []
    for view in (default, on_cpu):
        xg = x.clone().requires_grad_(True)
        log_probs = view.log_probs(xg)
        log_probs[:, 0].sum().backward()
        assert log_probs.device == CPU
        grads.append((log_probs.detach(), xg.grad))
    assert torch.equal(grads[0][0], grads[1][0]) and torch.equal(grads[0][1], grads[1][1])
    if level == "weights":
        assert torch.equal(default.features(x), on_cpu.features(x))
        assert torch.equal(default.head_weight, on_cpu.head_weight)
        assert on_cpu.device == CPU and module_device(on_cpu.copy_model()[0]) == CPU


def test_views_follow_the_default_device(small):
    # the meta device stands in for a GPU: it holds tensors without computing anything
    meta = torch.device("meta")
    with use_device(meta):
        for level in ("gradients", "weights"):
            view = access_view(small.model, level)
            assert view.device == meta and module_device(view._model) == meta
    assert module_device(small.model) == CPU
    assert access_view(small.model, "weights", device=meta).device == meta


class _CountingNet(torch.nn.Module):
    """A linear net that records the size of every batch it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 3)
        self.batches: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.batches.append(len(x))
        return self.linear(x.flatten(1))


def test_inference_runs_in_the_devices_batches():
    assert inference_batch(CPU) == CPU_INFERENCE_BATCH
    assert inference_batch(torch.device("cuda", 0)) == ACCELERATOR_INFERENCE_BATCH
    net = _CountingNet()
    x = torch.rand(300, 1, 2, 2)
    assert torch.allclose(predict_logits(net, x), net.linear(x.flatten(1)), atol=1e-6)
    assert net.batches == [128, 128, 44]
    view = QueryAccess.from_model(net, num_classes=3, input_shape=(1, 2, 2))
    assert view.batch_size == CPU_INFERENCE_BATCH and view.query(x).shape == (300, 3)


def test_torch_threads_sets_the_count_inside_the_block_and_restores_it_after_an_error():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError), torch_threads(before + 1) as threads:
        assert threads == torch.get_num_threads() == before + 1
        raise RuntimeError("inside")
    assert torch.get_num_threads() == before


def test_torch_threads_of_none_leaves_the_count():
    before = torch.get_num_threads()
    with torch_threads(None) as threads:
        assert threads == torch.get_num_threads() == before
