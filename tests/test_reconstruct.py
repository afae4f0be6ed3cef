"""MNIST cross-modal inference: the figure, the errors and the run, on a synthetic stand-in for
the MNIST halves (and on the real MNIST when present)."""

import json

import numpy as np
import pytest
from matplotlib.image import imread

import dmf_numpy.experiments.reconstruct as reconstruct
from dmf_numpy.datasets.arrays import Splits
from dmf_numpy.experiments.reconstruct import join_halves, run_reconstruct

from helpers import SHARED_DATA as SHARED

HAVE_MNIST = any((folder / "train-images-idx3-ubyte.gz").is_file() for folder in (SHARED, SHARED / "mnist"))
TINY = dict(x_dims=(392, 24), y_dims=(392, 24), shared_dims=(24, 12))


def synthetic_split(n, seed):
    """Ten classes of 28 x 28 'digits' whose left half is the mirror image of the right half, so
    that the left half can be inferred from the right; pixels in [0, 1]."""
    templates = np.random.default_rng(100).uniform(size=(10, 28, 14)) > 0.6
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    right = np.clip(templates[labels] + rng.normal(0, 0.1, (n, 28, 14)), 0, 1)
    left = right[:, :, ::-1]
    return (left.reshape(n, 392).astype(np.float32), right.reshape(n, 392).astype(np.float32), labels)


@pytest.fixture
def synthetic(monkeypatch):
    halves = Splits(train=synthetic_split(300, 0), val=synthetic_split(10, 1), test=synthetic_split(50, 2))
    monkeypatch.setattr(reconstruct, "load_halves", lambda *args, **kwargs: halves)
    return halves


def test_join_halves_puts_left_then_right():
    left, right = np.zeros((2, 392)), np.ones((2, 392))
    images = join_halves(left, right)
    assert images.shape == (2, 28, 28)
    assert (images[:, :, :14] == 0).all() and (images[:, :, 14:] == 1).all()
    rows = np.arange(392).reshape(1, 392)
    np.testing.assert_array_equal(join_halves(rows, rows + 1000)[0, 1], [*range(14, 28), *range(1014, 1028)])


@pytest.mark.slow  # 0.7 s; the fast tier runs the reconstruct command end to end in test_cli.py
def test_run_reconstruct_infers_the_left_half_and_writes_its_outputs(tmp_path, synthetic):
    result = run_reconstruct(tmp_path, epochs=20, log=lambda line: None, **TINY, lr=1e-2, batch_size=20)
    errors = result["errors"]
    assert set(errors) == {"right only", "left+right", "mean image"}
    # Inferred from the right half alone, the left half is much closer than the mean image.
    assert errors["right only"] < 0.5 * errors["mean image"], errors
    image = imread(tmp_path / "reconstruct.png")
    assert image.ndim == 3 and image.shape[1] > image.shape[0]  # a wide grid: 10 columns, 3 rows
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["errors"] == errors and len(saved["history"]) == 20
    assert saved["settings"]["shared_dims"] == [24, 12] and saved["settings"]["damage"] == 0.0


def test_run_reconstruct_rejects_unknown_settings(tmp_path, synthetic):
    with pytest.raises(ValueError, match="settings: unknown .'hidden'."):
        run_reconstruct(tmp_path, hidden=3)


@pytest.mark.slow  # the fast tier runs reconstruct on real MNIST in test_cli.py's end-to-end test
@pytest.mark.skipif(not HAVE_MNIST, reason=f"the real MNIST files are absent (looked in {SHARED})")
def test_run_reconstruct_on_real_mnist_with_damage(tmp_path):
    result = run_reconstruct(tmp_path, epochs=1, damage=0.5, subset=300, data_dir=SHARED,
                             log=lambda line: None, **TINY)
    assert result["settings"]["damage"] == 0.5 and result["settings"]["subset"] == 300
    assert np.isfinite(list(result["errors"].values())).all() and (tmp_path / "reconstruct.png").is_file()
