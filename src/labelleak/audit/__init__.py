"""Audit a model labelleak did not train: the model owner's own architecture and checkpoint, or an
ONNX file served as a black box (docs/audit.md).

The audit answers the model owner's question "does my unlearned model reveal which class I
removed?" by running the attacks and baselines that the supplied access permits (all of them but
the paper's genetic black box, unless asked: :func:`select_attacks`) and reporting where they
agree:

* a model factory + weights (:func:`load_factory`, :func:`load_user_model`,
  :func:`weights_target`; ``--model-factory`` + ``--weights`` on the command line): the owner's
  code builds the architecture, the weights are loaded safely (safetensors, or a plain tensor
  state dict via ``torch.load(weights_only=True)``). This is full white-box access (A-weights), so
  every kind of attack runs; the ``original`` weights (``--original``) add the two-version attacks
  (A-weights+orig). A lower ``level`` (``--access queries`` or ``labels``) audits what an API serving
  the model reveals, still with shadow models of the owner's architecture.
* an ONNX file (:class:`OnnxModel`, :func:`onnx_target`; ``--onnx``): the model is only queried
  through onnxruntime (A-queries, or its top-1 labels with ``--access labels``), so only the
  black-box attacks and query baselines run.

The attacker's auxiliary set A, unrelated set N and the shadow calibration come from a named
dataset, never from the target: the audit asks what an outsider holding data of the same
distribution could learn. :func:`run_audit` runs the attacks and returns an :class:`AuditReport`.

Conventions a user model must follow (checked, with one-line errors that name the parameters of
these functions; the command line names its flags instead):

* it takes a float32 batch (N, C, H, W) with pixels in [0, 1] — or, with ``mean``/``std``, the
  audit normalises first — and returns one row of K numbers per input. Logits are expected;
  outputs that are already probabilities (non-negative rows summing to one) are detected and
  turned back into log-probabilities, which give the same softmax;
* its last layer is an ``nn.Linear`` with K outputs (the "head"), whose input is the feature
  vector φ(x); it is found automatically or named explicitly (``head``).

The modules: :mod:`~labelleak.audit.loading` (factory, user model, head, normalisation),
:mod:`~labelleak.audit.onnx` (onnxruntime, imported only when an ONNX file is audited),
:mod:`~labelleak.audit.target`, :mod:`~labelleak.audit.run` (attack selection, calibration,
:func:`run_audit`), :mod:`~labelleak.audit.verdict` and :mod:`~labelleak.audit.report` (JSON,
Markdown and the prototype grids; matplotlib is imported only to draw them).
"""

from labelleak.audit.errors import AuditError
from labelleak.audit.loading import (
    PROBE_IMAGES,
    AuditedModel,
    LoadedModel,
    build_user_model,
    check_normalisation,
    factory_source,
    find_head,
    fresh_copy,
    linear_candidates,
    load_factory,
    load_user_model,
    looks_like_probabilities,
    shadow_architecture,
    wrap_user_model,
)
from labelleak.audit.onnx import OnnxModel
from labelleak.audit.report import AuditReport, markdown, write_json, write_markdown, write_prototype_grids
from labelleak.audit.run import (
    INVERSION_SET_DECISION,
    PARAMETER_DECIDER,
    SHADOW_METHODS,
    SHADOW_METHODS_PER_SET,
    SHADOW_METHODS_WITH_ORIGINAL,
    SHADOW_ORIGINALS,
    SHADOW_RECIPES,
    ShadowSetting,
    audit_model,
    calibrate_attacks,
    construct_attack,
    default_shadow_setting,
    run_audit,
    select_attacks,
)
from labelleak.audit.target import ONNX_LEVELS, AuditTarget, onnx_target, weights_target
from labelleak.audit.verdict import AuditVerdict, score_margin, verdict, votes_in_verdict

__all__ = [
    "INVERSION_SET_DECISION",
    "ONNX_LEVELS",
    "PARAMETER_DECIDER",
    "PROBE_IMAGES",
    "SHADOW_METHODS",
    "SHADOW_METHODS_PER_SET",
    "SHADOW_METHODS_WITH_ORIGINAL",
    "SHADOW_ORIGINALS",
    "SHADOW_RECIPES",
    "AuditError",
    "AuditReport",
    "AuditTarget",
    "AuditVerdict",
    "AuditedModel",
    "LoadedModel",
    "OnnxModel",
    "ShadowSetting",
    "audit_model",
    "build_user_model",
    "calibrate_attacks",
    "check_normalisation",
    "construct_attack",
    "default_shadow_setting",
    "factory_source",
    "find_head",
    "fresh_copy",
    "linear_candidates",
    "load_factory",
    "load_user_model",
    "looks_like_probabilities",
    "markdown",
    "onnx_target",
    "run_audit",
    "score_margin",
    "select_attacks",
    "shadow_architecture",
    "verdict",
    "votes_in_verdict",
    "weights_target",
    "wrap_user_model",
    "write_json",
    "write_markdown",
    "write_prototype_grids",
]
