"""Shadow experiments and priors on digits shared by the attacks that start from shadow priors."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def digit_shadows(digits, tmp_path_factory):
    """Retrained shadows forgetting 1, 4, 7 and {2, 6}, in a store of their own (trained once)."""
    from labelleak.attacks.knowledge import draw_knowledge
    from labelleak.attacks.shadow import ShadowConfig, Shadows
    from labelleak.store import ArtifactStore

    config = ShadowConfig(methods=("retrain",), forget_sets=((1,), (4,), (7,), (2, 6)), epochs=5, aux_per_class=3)
    draw = draw_knowledge(digits, aux_per_class=3, seed=0)
    store = ArtifactStore(tmp_path_factory.mktemp("shadow-store"))
    return Shadows(digits, draw, config=config, eval_seeds=[0], store=store)


@pytest.fixture(scope="session")
def forgot_three(digits, digits_model):
    """θ_o on digits retrained without class 3."""
    from labelleak.targets import unlearn_original

    return unlearn_original(digits_model, digits, method="retrain", forget_classes=[3], seed=0).model


@pytest.fixture(scope="session")
def priors(digits_model):
    """Two 4×4 genomes per class inverted on θ_o of digits (a quick stand-in for shadow priors)."""
    from labelleak.attacks.evolution import invert_priors
    from labelleak.targets import access_view

    return invert_priors(
        [access_view(digits_model.model, "gradients")], genome=4, restarts=2, steps=30, lr=0.1, tv=0.01, seed=0
    )
