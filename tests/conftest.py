"""Shared fixtures: the small, unequal sizes of the gradient checks, a batch for them, and where
the real data sets are."""

import os
from pathlib import Path

import numpy as np
import pytest

from dmf_numpy import DMF, EMF, IMF

SMALL = dict(x_dims=(6, 5, 4), y_dims=(7, 5, 3), shared_dims=(5, 4, 3), n_classes=3)
PAPER = dict(x_dims=(392, 512, 128), y_dims=(392, 512, 128), shared_dims=(512, 256, 64), n_classes=10)
MODEL_CLASSES = [EMF, IMF, DMF]
#: The root holding mnist/, wiki/ and fsdd/: $DMF_NUMPY_DATA, else ../shared/data beside the checkout.
SHARED_DATA = Path(os.environ.get("DMF_NUMPY_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")


@pytest.fixture
def batch():
    """A float64 batch of 4 samples for the SMALL sizes: (x (4, 6), y (4, 7), labels (4,))."""
    rng = np.random.default_rng(1)
    return rng.uniform(size=(4, 6)), rng.uniform(size=(4, 7)), np.array([0, 1, 2, 1])
