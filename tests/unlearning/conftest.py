"""Shared fixtures for the unlearning tests (digits θ_o comes from the top-level conftest)."""

from __future__ import annotations

import pytest

from labelleak.unlearning.defaults import load_defaults

#: Digits has 1,347 training images (about 135 per class), so one pass over D_f or D_r is a handful
#: of optimiser steps; the Fashion-MNIST-scaled defaults of several methods barely move the MLP in
#: that many steps. The packaged per-dataset defaults (labelleak/unlearning/defaults.json, also
#: used by `labelleak unlearn`, the demo and the quick profile) give each method a comparable
#: amount of work on digits; the tests read them from there instead of repeating them.
DIGITS_PARAMS: dict[str, dict] = load_defaults()["digits"]


def digits_params(method: str) -> dict:
    return dict(DIGITS_PARAMS.get(method, {}))


@pytest.fixture(scope="session")
def digits_record(digits):
    """The parameter-update record of the digits θ_o's training (replayed; same weights as ``digits_model``)."""
    from labelleak.targets import train_original

    return train_original(digits, seed=0, record_updates=True).extra["update_record"]
