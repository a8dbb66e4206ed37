"""Where models run: ``cpu`` or ``cuda``, one default per process.

The device belongs to the things that own models: :func:`~labelleak.targets.train_original`,
:func:`~labelleak.targets.unlearn_original` and :func:`~labelleak.targets.access_view` place the
models they build or view on their ``device`` argument, and without one on this process's
default, :func:`default_device` (CPU unless :func:`use_device` or :func:`set_default_device`
changed it; ``labelleak --device`` does so for the whole command, and the experiment executors
hand it to their workers). Everything else follows the model's own device (:func:`module_device`):

* data stay on the CPU; the training, unlearning and evaluation loops move each batch to the model;
* random numbers are drawn on the CPU from seeded ``torch.Generator`` objects and the results moved
  to the model, so a seed draws the same noise, inits and batch orders on every device;
* the access views return CPU tensors, so attack code never sees the device.

On the CPU every one of these moves is a no-op, so CPU results are bit-identical to code without
them. A GPU computes the same operations in another order (and dropout draws from the GPU's
generator), so its numbers may differ from the CPU's in the last digits (docs/runner.md, "GPU").
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from labelleak import LabelleakError
from labelleak.validation import check_choice

#: what ``--device`` accepts: ``auto`` is ``cuda`` when CUDA is available, else ``cpu``
DEVICE_CHOICES = ("auto", "cpu", "cuda")

CPU = torch.device("cpu")

#: images per forward pass of inference (evaluation, queries, features) on the CPU: on a 2-core machine
#: the convolutional nets of 28×28 images ran 1.9–3.7× slower per image in batches of 1,024 than of
#: 128 (LeNet 1.0–1.4×), whose activations stay in the cache; MLPs lost a few microseconds per
#: image (benchmarks/inference_batch.py, docs/results/first-audit)
CPU_INFERENCE_BATCH = 128
#: the same on an accelerator, where large batches are what keeps it busy
ACCELERATOR_INFERENCE_BATCH = 1024

_default = CPU


class DeviceUnavailableError(LabelleakError):
    """The device asked for does not exist on this machine (CUDA without a usable GPU)."""


def resolve_device(name: str) -> torch.device:
    """The device ``name`` (one of :data:`DEVICE_CHOICES`) stands for on this machine.

    ``cuda`` is the current CUDA device (the first visible GPU unless ``CUDA_VISIBLE_DEVICES`` or
    ``torch.cuda.set_device`` chose another) and raises :class:`DeviceUnavailableError` when CUDA
    is not available; ``auto`` is that device when CUDA is available, else the CPU.
    """
    check_choice("device", name, DEVICE_CHOICES)
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return CPU
    if not torch.cuda.is_available():
        build = f"torch {torch.__version__}" + ("" if torch.version.cuda else " built without CUDA")
        raise DeviceUnavailableError(
            f"device 'cuda' was requested, but CUDA is not available on this machine ({build}); "
            "use device 'cpu' or 'auto'"
        )
    return torch.device("cuda", torch.cuda.current_device())


def inference_batch(device: torch.device) -> int:
    """Images per forward pass of inference on ``device``."""
    return CPU_INFERENCE_BATCH if device.type == "cpu" else ACCELERATOR_INFERENCE_BATCH


def default_device() -> torch.device:
    """The device of this process's models when none is given (CPU unless set)."""
    return _default


def set_default_device(device: torch.device) -> torch.device:
    """Make ``device`` this process's default (see :func:`default_device`); returns the previous one."""
    global _default
    previous, _default = _default, torch.device(device)
    return previous


@contextmanager
def use_device(device: torch.device) -> Iterator[torch.device]:
    """``device`` as this process's default inside the ``with`` block, the previous one after it."""
    previous = set_default_device(device)
    try:
        yield device
    finally:
        set_default_device(previous)


@contextmanager
def torch_threads(threads: int | None) -> Iterator[int]:
    """torch's CPU threads set to ``threads`` inside the ``with`` block (``None``: left as they are),
    the previous count after it; yields the count inside.

    A model trained at another thread count comes out with other weights in the last digits (the
    reductions of a convolution's gradients split otherwise across the threads), and a long training
    carries such a difference on; code whose models must not depend on ``--threads`` builds them
    inside this block.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(previous if threads is None else threads)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(previous)


def module_device(module: nn.Module) -> torch.device:
    """The device of ``module``'s parameters (of its buffers when it has none; the CPU when it has neither)."""
    for parameter in module.parameters():
        return parameter.device
    for buffer in module.buffers():
        return buffer.device
    return CPU
