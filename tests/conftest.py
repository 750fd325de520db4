"""Shared fixtures. Hypothesis is derandomized so that every run draws the same examples."""

import numpy as np
import pytest
from hypothesis import settings

settings.register_profile("deterministic", derandomize=True, deadline=None,
                          print_blob=True, max_examples=60)
settings.load_profile("deterministic")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261124)
