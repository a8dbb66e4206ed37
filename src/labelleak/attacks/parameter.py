"""Parameter-based label-leakage attacks (Zheng et al., arXiv 2604.07386, 2026): compare the target's last layer with
reference models, row by row, and decide which class rows moved like a forgotten class's.

Reference models (built from θ_u by the attacker):

* R — θ_u fine-tuned on the auxiliary set A ("relearning": a forgotten class's row moves far
  towards its class mean, retained rows little);
* U — θ_u fine-tuned on the unrelated set N labelled by θ_u's own predictions (a control for
  the drift any fine-tuning causes);
* θ_o — in the two-version setting.

The fast default fine-tunes the head only, on features φ_u(·) computed once: a convex problem
solved with ``steps`` full-batch gradient-descent steps (deterministic). ``full_finetune=True`` fine-tunes the
whole network instead (seeded mini-batches; much slower).

Per-class features, z-scored across the K classes of one target so they transfer between models:

* family ``dot`` (attack ``param-dot``): ⟨w_k^u, w_k^R⟩, ⟨w_k^u, w_k^U⟩, cos(w_k^u, w_k^R), cos(w_k^u, w_k^U);
* family ``diff`` (attack ``param-diff``): ‖w_k^R − w_k^u‖, ‖w_k^U − w_k^u‖, their ratio,
  b_k^R − b_k^u, b_k^U − b_k^u;
* family ``orig`` (attack ``param-diff-orig``, the two-version variant, a separate name because it
  needs θ_o and no data at all): ‖w_k^o − w_k^u‖, cos(w_k^o, w_k^u), b_k^o − b_k^u.

The ``orig`` family compares the two head rows of a class coordinate by coordinate, which means
something only when θ_u's features are θ_o's, i.e. θ_u was made from θ_o by unlearning. A model
retrained from scratch has its hidden units in another order, so ``param-diff-orig`` checks that
premise on every target (:func:`aligned_units`) and abstains when it fails. On the foreign-model
zoos of docs/audit.md it named 5 of the 120 models retrained from scratch that forgot, against 278
of 360 fine-tuned, random-label and NegGrad+ ones.

Each family also defines a signed scalar ``primary`` score (higher = more likely forgotten) that
Youden's threshold, AUC and tie-breaking use: see :data:`PRIMARY`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, cast

import numpy as np
import torch
import torch.nn.functional as F

from labelleak.access import WeightsAccess
from labelleak.attacks.base import ABSTAINS, ATTACKS, Attack, AttackerKnowledge, CalibrationError, ShadowScores
from labelleak.attacks.deciders import (
    DECIDERS,
    CalibratedDecider,
    Decider,
    KMeansDecider,
    TreeDecider,
    YoudenDecider,
)
from labelleak.models.training import batches
from labelleak.seeding import derive_seed, torch_generator
from labelleak.validation import check_choice, check_number

if TYPE_CHECKING:
    from labelleak.attacks.shadow import Shadows

FEATURE_NAMES: dict[str, tuple[str, ...]] = {
    "dot": ("dot_R", "dot_U", "cos_R", "cos_U"),
    "diff": ("dist_R", "dist_U", "ratio_RU", "bias_R", "bias_U"),
    "orig": ("dist_O", "cos_O", "bias_O"),
}

#: the primary score of each family: ("signed" | "abs", weights on its z-scored features).
#: diff (signed): relearning moves a forgotten row farthest, also relative to the control U.
#: dot and orig ("abs": how much of an outlier the row is, in either direction): which way a
#: forgotten row deviates depends on the unlearning method (measured on digits: retraining
#: leaves it with the *lowest* ⟨w^u, w^R⟩ and the smallest distance to θ_o, relabelling with
#: the highest and the largest), but it deviates.
PRIMARY: dict[str, tuple[str, dict[str, float]]] = {
    "dot": ("abs", {"dot_R": 0.5, "cos_R": 0.5}),
    "diff": ("signed", {"dist_R": 0.5, "ratio_RU": 0.5}),
    "orig": ("abs", {"dist_O": 0.5, "cos_O": 0.5}),
}


DEFAULT_DECIDER = "kmeans"


@dataclass(frozen=True)
class ReferenceConfig:
    """How the reference models R and U are built (part of every shadow-calibration cache key)."""

    steps: int = 100
    lr: float = 1.0
    full_finetune: bool = False
    finetune_epochs: int = 5
    finetune_lr: float = 1e-3
    batch_size: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        check_number("steps", self.steps, low=1, high=100_000, integer=True)
        check_number("lr", self.lr, low=0, low_inclusive=False)
        check_number("finetune_epochs", self.finetune_epochs, low=1, high=1000, integer=True)
        check_number("finetune_lr", self.finetune_lr, low=0, low_inclusive=False)
        check_number("batch_size", self.batch_size, low=1, integer=True)
        check_number("seed", self.seed, low=0, integer=True)
        if not isinstance(self.full_finetune, bool):
            raise TypeError(f"full_finetune must be a bool, got {self.full_finetune!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Head:
    weight: torch.Tensor
    bias: torch.Tensor


def finetune_head(head: Head, features: torch.Tensor, labels: torch.Tensor, *, steps: int, lr: float) -> Head:
    """Cross-entropy fine-tuning of a linear head on fixed features by full-batch gradient descent.

    Plain gradient descent, not Adam: how far a row moves must reflect how large its gradient is
    (a forgotten class's row gets the largest), which Adam's per-coordinate normalisation erases.
    The step is ``lr`` divided by the mean squared feature norm (about the curvature of the
    loss), so one ``lr`` suits features of any scale. Deterministic.
    """
    step = lr / float(features.pow(2).sum(1).mean() + 1.0)
    weight = head.weight.clone().requires_grad_(True)
    bias = head.bias.clone().requires_grad_(True)
    for _ in range(steps):
        loss = F.cross_entropy(features @ weight.T + bias, labels)
        grad_w, grad_b = torch.autograd.grad(loss, (weight, bias))
        with torch.no_grad():
            weight -= step * grad_w
            bias -= step * grad_b
    return Head(weight.detach(), bias.detach())


def finetune_full(
    target: WeightsAccess, x: torch.Tensor, y: torch.Tensor, *, config: ReferenceConfig, label: str
) -> Head:
    """Fine-tune a copy of the whole target on (x, y) with seeded mini-batch Adam; return its head.

    The copy trains on the view's device (batch order and dropout seeded as on the CPU); the head
    comes back on the CPU like everything a view returns.
    """
    model, head = target.copy_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.finetune_lr)
    gen = torch_generator(derive_seed(config.seed, "full-finetune", label))
    model.train()
    with torch.random.fork_rng():
        torch.manual_seed(derive_seed(config.seed, "full-finetune-dropout", label))
        for _ in range(config.finetune_epochs):
            for idx in batches(len(x), config.batch_size, generator=gen):
                loss = F.cross_entropy(model(x[idx].to(target.device)), y[idx].to(target.device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
    model.eval()
    return Head(head.weight.detach().cpu().clone(), head.bias.detach().cpu().clone())


def reference_heads(
    target: WeightsAccess, knowledge: AttackerKnowledge, config: ReferenceConfig, *, families: tuple[str, ...]
) -> dict[str, Head]:
    """Heads of θ_u ("u") and the references the families need: R, U (from A and N) and θ_o ("O")."""
    heads = {"u": Head(target.head_weight, target.head_bias)}
    if any(f in ("dot", "diff") for f in families):
        aux_x, aux_y, unrelated_x = knowledge.aux_x, knowledge.aux_y, knowledge.unrelated_x
        if aux_x is None or unrelated_x is None or len(aux_x) == 0 or len(unrelated_x) == 0:
            raise CalibrationError("the dot/diff features need a non-empty auxiliary set A and unrelated set N")
        unrelated_features = target.features(unrelated_x)
        # θ_u's own predictions on N, from the features already computed (one forward pass fewer)
        pseudo = (unrelated_features @ heads["u"].weight.T + heads["u"].bias).argmax(1)
        # A is drawn as labelled pairs: aux_y is set whenever aux_x is
        assert aux_y is not None
        if config.full_finetune:
            heads["R"] = finetune_full(target, aux_x, aux_y, config=config, label="R")
            heads["U"] = finetune_full(target, unrelated_x, pseudo, config=config, label="U")
        else:
            heads["R"] = finetune_head(heads["u"], target.features(aux_x), aux_y, steps=config.steps, lr=config.lr)
            heads["U"] = finetune_head(heads["u"], unrelated_features, pseudo, steps=config.steps, lr=config.lr)
    if "orig" in families:
        if knowledge.original is None:
            raise CalibrationError("the orig features need the original model θ_o (two-version setting)")
        original = knowledge.original
        if original.head_weight.shape != heads["u"].weight.shape:
            raise CalibrationError(
                f"θ_o's head {tuple(original.head_weight.shape)} does not match θ_u's {tuple(heads['u'].weight.shape)}"
            )
        heads["O"] = Head(original.head_weight, original.head_bias)
    return heads


def _cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return F.cosine_similarity(a, b, dim=1, eps=1e-12)


def raw_features(heads: dict[str, Head], family: str) -> np.ndarray:
    """The un-normalised (K, m) feature matrix of ``family`` (columns as in :data:`FEATURE_NAMES`)."""
    u = heads["u"]
    if family == "dot":
        r, c = heads["R"], heads["U"]
        cols = [
            (u.weight * r.weight).sum(1),
            (u.weight * c.weight).sum(1),
            _cos(u.weight, r.weight),
            _cos(u.weight, c.weight),
        ]
    elif family == "diff":
        r, c = heads["R"], heads["U"]
        dist_r = (r.weight - u.weight).norm(dim=1)
        dist_u = (c.weight - u.weight).norm(dim=1)
        cols = [dist_r, dist_u, dist_r / dist_u.clamp_min(1e-12), r.bias - u.bias, c.bias - u.bias]
    elif family == "orig":
        o = heads["O"]
        cols = [(o.weight - u.weight).norm(dim=1), _cos(u.weight, o.weight), o.bias - u.bias]
    else:
        raise ValueError(f"unknown feature family {family!r}")
    return torch.stack(cols, dim=1).double().numpy()


def zscore(matrix: np.ndarray) -> np.ndarray:
    """Standardise each column across the K classes of one target (constant columns become 0)."""
    mean = matrix.mean(axis=0, keepdims=True)
    std = matrix.std(axis=0, keepdims=True)
    return np.where(std > 1e-12, (matrix - mean) / np.where(std > 1e-12, std, 1.0), 0.0)


def primary_score(z: np.ndarray, family: str) -> np.ndarray:
    """The family's scalar score per class from its z-scored features (see :data:`PRIMARY`)."""
    names = FEATURE_NAMES[family]
    mode, weights = PRIMARY[family]
    columns = [weight * z[:, names.index(name)] for name, weight in weights.items()]
    # every family weighs at least one feature, so the sums are arrays, never the empty sum 0
    return cast(np.ndarray, sum(np.abs(c) for c in columns) if mode == "abs" else sum(columns))


def extract_features(
    target: WeightsAccess, knowledge: AttackerKnowledge, *, config: ReferenceConfig, families: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """z-scored (K, m) features per family for one target (reference models built once)."""
    heads = reference_heads(target, knowledge, config, families=families)
    return {family: zscore(raw_features(heads, family)) for family in families}


@dataclass
class Calibration:
    """Per-class features of shadow targets with their known forgotten classes.

    Built by :mod:`labelleak.attacks.shadow`; a decider fit from it never sees an evaluation target.

    Attributes:
        reference: the :class:`ReferenceConfig` (as a dict) the features were extracted with.
        features: family -> array (n_shadow_targets, K, m) of z-scored features.
        forgotten: (n_shadow_targets, K) booleans, True for each shadow's forgotten classes.
        methods: the unlearning method of each shadow target (for transfer reports).
        description: what the shadows were (methods, data, knowledge setting).
    """

    reference: dict[str, Any]
    features: dict[str, np.ndarray]
    forgotten: np.ndarray
    methods: list[str] = field(default_factory=list)
    description: str = ""
    #: each shadow target's :attr:`~labelleak.attacks.shadow.ShadowTarget.identity`
    ids: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line for result tables: what the shadows were."""
        return self.description

    def select(self, *, exclude_methods: tuple[str, ...] = ()) -> Calibration:
        """The shadow targets of other methods only (to measure transfer: calibrate on M1, attack M2)."""
        keep = np.array([m not in exclude_methods for m in self.methods], dtype=bool)
        if not keep.any():
            raise CalibrationError(f"no shadow target is left after excluding methods {list(exclude_methods)}")
        kept = sorted({m for m, k in zip(self.methods, keep) if k})
        return Calibration(
            reference=self.reference,
            features={f: v[keep] for f, v in self.features.items()},
            forgotten=self.forgotten[keep],
            methods=[m for m, k in zip(self.methods, keep) if k],
            description=f"{self.description}; restricted to methods {kept}",
            ids=[i for i, k in zip(self.ids, keep) if k],
        )

    def fit(self, decider: str, family: str, *, seed: int = 0) -> Decider:
        """A Youden, tree or calibrated decider fit on the shadow features of ``family``."""
        if family not in self.features:
            raise CalibrationError(f"the calibration holds no {family!r} features (it has {sorted(self.features)})")
        z = self.features[family]
        primary = np.stack([primary_score(t, family) for t in z])
        labels = self.forgotten.reshape(-1)
        if decider == "youden":
            return YoudenDecider().fit(primary.reshape(-1), labels)
        if decider == "tree":
            return TreeDecider(seed=seed).fit(z.reshape(-1, z.shape[-1]), labels)
        if decider == "calibrated":
            return CalibratedDecider().fit(z, primary, self.forgotten)
        raise CalibrationError(f"decider {decider!r} is not calibrated on shadows")


class ParameterAttack(Attack):
    """Shared machinery of the parameter attacks; subclasses fix the feature ``family``."""

    family: ClassVar[str]
    category = "parameter"
    requires = "weights"

    @classmethod
    def revision(cls, options: dict[str, Any]) -> int:
        return DECIDERS[options.get("decider", DEFAULT_DECIDER)].revision

    def __init__(
        self,
        *,
        decider: str = DEFAULT_DECIDER,
        steps: int = 100,
        lr: float = 1.0,
        full_finetune: bool = False,
        finetune_epochs: int = 5,
        seed: int = 0,
    ) -> None:
        self.decider = check_choice("decider", decider, DECIDERS)
        self.reference = ReferenceConfig(
            steps=steps, lr=lr, full_finetune=full_finetune, finetune_epochs=finetune_epochs, seed=seed
        )
        self._decider: Decider | None = None if self.needs_calibration else KMeansDecider()

    @property
    def needs_calibration(self) -> bool:
        return DECIDERS[self.decider].needs_calibration

    @property
    def calibratable(self) -> bool:
        # only the Youden, tree and calibrated deciders are fit on shadows; k-means decides from the target alone
        return self.needs_calibration

    def calibration_key(self) -> dict[str, Any]:
        # the shadow features are shared by every decider and family: only the reference models matter
        return {"reference": self.reference.to_dict()}

    def _calibrate(self, shadows: Shadows) -> Calibration:
        calibration = shadows.features(self.reference)
        self._decider = calibration.fit(self.decider, self.family, seed=self.reference.seed)
        return calibration

    def shadow_scores(self, shadows: Shadows) -> ShadowScores:
        """The decider's scores on the shadow features it was fit on (already extracted: no rerun)."""
        if self._decider is None:
            raise CalibrationError(f"attack {self!r} needs calibrate(shadows) before its shadow scores")
        calibration = shadows.features(self.reference)
        features = calibration.features[self.family]
        scores = [self._decider.decide(z, primary_score(z, self.family))[0] for z in features]
        return ShadowScores(ids=list(calibration.ids), scores=np.stack(scores), forgotten=calibration.forgotten)

    def _infer(self, target: WeightsAccess, knowledge: AttackerKnowledge) -> tuple[np.ndarray, Any, dict[str, Any]]:
        z = extract_features(target, knowledge, config=self.reference, families=(self.family,))[self.family]
        primary = primary_score(z, self.family)
        assert self._decider is not None  # infer() refuses an uncalibrated attack that needs a decider fit
        scores, predicted = self._decider.decide(z, primary)
        artifacts = {
            "features": z,
            "feature_names": FEATURE_NAMES[self.family],
            "primary": primary,
            "decider": self._decider.describe(),
        }
        return scores, predicted, artifacts


@ATTACKS.register("param-dot")
class DotProductAttack(ParameterAttack):
    """Dot-product features of θ_u's head rows against relearned (R) and control (U) references."""

    name = "param-dot"
    family = "dot"
    needs_aux = True
    needs_unrelated = True


@ATTACKS.register("param-diff")
class DifferenceAttack(ParameterAttack):
    """Difference features: how far each head row moves under relearning (R) versus the control (U)."""

    name = "param-diff"
    family = "diff"
    needs_aux = True
    needs_unrelated = True


#: the share of hidden units that must sit where θ_o has them for θ_u to count as made from θ_o
DESCENT_MAJORITY = 0.5


@torch.no_grad()
def aligned_units(model: torch.nn.Module, original: torch.nn.Module) -> float:
    """The share of ``model``'s units whose incoming weights are closest (cosine) to those of the unit
    with the same index in ``original``, over every weight matrix and convolution kernel with at least
    two units; 0.0 when the two do not have the same weight shapes.

    A model made from ``original`` by fine-tuning, gradient steps or pruning keeps its units in place
    (close to 1 even after its weights moved far); an independently trained one holds them in an
    arbitrary order (about 1 / units by chance)."""
    weights = [p for p in model.parameters() if p.dim() >= 2]
    references = [p for p in original.parameters() if p.dim() >= 2]
    if len(weights) != len(references) or any(w.shape != r.shape for w, r in zip(weights, references)):
        return 0.0
    matched = total = 0
    for w, r in zip(weights, references):
        if w.shape[0] < 2:
            continue
        similarity = F.normalize(w.flatten(1).float(), dim=1) @ F.normalize(r.flatten(1).float(), dim=1).T
        matched += int((similarity.argmax(dim=1) == torch.arange(len(w), device=w.device)).sum())
        total += len(w)
    return matched / total if total else 0.0


@ATTACKS.register("param-diff-orig")
class OriginalDifferenceAttack(ParameterAttack):
    """Two-version variant: how far each head row of θ_u moved from θ_o (needs θ_o, no data).

    Abstains (:attr:`~labelleak.attacks.base.AttackResult.abstains`) on a θ_u whose units do not sit
    where θ_o has them (:func:`aligned_units` below :data:`DESCENT_MAJORITY`), e.g. a model retrained
    from scratch: its head rows are not comparable with θ_o's."""

    name = "param-diff-orig"
    family = "orig"
    needs_original = True

    def _infer(self, target: WeightsAccess, knowledge: AttackerKnowledge) -> tuple[np.ndarray, Any, dict[str, Any]]:
        scores, predicted, artifacts = super()._infer(target, knowledge)
        assert knowledge.original is not None  # infer() refuses an attack that needs θ_o without it
        share = aligned_units(target.model, knowledge.original.model)
        artifacts["aligned_units"] = share
        if share < DESCENT_MAJORITY:
            artifacts[ABSTAINS] = (
                f"θ_u does not descend from θ_o: {share:.0%} of its units sit where θ_o has them "
                "(a model retrained from scratch?), so their head rows are not comparable"
            )
        return scores, predicted, artifacts


ATTACK_FAMILIES: dict[str, str] = {
    cls.name: cls.family for cls in (DotProductAttack, DifferenceAttack, OriginalDifferenceAttack)
}
