"""Architectures (features + ``head`` contract), seeded training, evaluation and safe model files."""

from labelleak.models.architectures import (
    ARCHITECTURES,
    DEFAULT_ARCH,
    Classifier,
    ModelSpec,
    build_model,
    resolve_arch,
)
from labelleak.models.io import ModelFileError, load_model, read_state_dict, save_model
from labelleak.models.training import (
    DEFAULT_RECIPES,
    TrainConfig,
    accuracy,
    per_class_accuracy,
    predict_logits,
    recipe_for,
    train,
)

__all__ = [
    "ARCHITECTURES",
    "DEFAULT_ARCH",
    "DEFAULT_RECIPES",
    "Classifier",
    "ModelFileError",
    "ModelSpec",
    "TrainConfig",
    "accuracy",
    "build_model",
    "load_model",
    "per_class_accuracy",
    "predict_logits",
    "read_state_dict",
    "recipe_for",
    "resolve_arch",
    "save_model",
    "train",
]
