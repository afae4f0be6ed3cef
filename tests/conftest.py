"""Shared fixtures: the small, unequal sizes of the gradient checks, a batch for them, and where
the real data sets are."""

import os
from pathlib import Path

import numpy as np
import pytest

from dmf_numpy import DMF, EMF, IMF
from dmf_numpy.core.gradcheck import SMALL_SIZES
from dmf_numpy.experiments.paper import PAPER_SIZES

SMALL = SMALL_SIZES  # small, unequal sizes: every entry of every tensor is checked on them
PAPER = PAPER_SIZES  # the paper's MNIST sizes (Sec. 3.1)
MODEL_CLASSES = [EMF, IMF, DMF]
#: The root holding mnist/, wiki/ and fsdd/: $DMF_NUMPY_DATA, else ../shared/data beside the checkout.
SHARED_DATA = Path(os.environ.get("DMF_NUMPY_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")


@pytest.fixture
def batch():
    """A float64 batch of 4 samples for the SMALL sizes: (x (4, 6), y (4, 7), labels (4,))."""
    rng = np.random.default_rng(1)
    return rng.uniform(size=(4, 6)), rng.uniform(size=(4, 7)), np.array([0, 1, 2, 1])


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than about 2 s (deselect with -m 'not slow')")
