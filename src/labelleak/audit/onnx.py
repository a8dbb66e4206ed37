"""An ONNX file audited as a black box: run by onnxruntime (imported only when one is audited)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from labelleak.audit.errors import AuditError, one_line
from labelleak.audit.loading import check_outputs, looks_like_probabilities

logger = logging.getLogger(__name__)


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
            raise AuditError(f"onnxruntime cannot load {path}: {one_line(err)}") from None
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
        check_outputs(raw, num_classes=num_classes, batch=len(sample), what=what)
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
            raise AuditError(f"onnxruntime failed on {self.path}: {one_line(err)}") from None

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        out = self._run(x)
        return out if self.outputs == "probabilities" else torch.softmax(out, dim=1)
