"""Fixtures and hooks only (shared constants and functions are in helpers.py): a batch for the
gradient checks' small sizes, and the "slow" marker of the tests that ``-m "not slow"`` leaves out."""

import numpy as np
import pytest


@pytest.fixture
def batch():
    """A float64 batch of 4 samples for the SMALL sizes: (x (4, 6), y (4, 7), labels (4,))."""
    rng = np.random.default_rng(1)
    return rng.uniform(size=(4, 6)), rng.uniform(size=(4, 7)), np.array([0, 1, 2, 1])


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long or a repetition of a fast test's case; the full run (CI) "
                                       "keeps it, -m 'not slow' (the fast tier) leaves it out")
