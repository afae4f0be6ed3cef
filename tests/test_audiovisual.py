"""The audio-visual experiment: pairing clips with images, EMF/IMF/DMF in the encoder-decoder
framework (gradients checked), the input conditions, and the run end to end on a subset."""

import csv
import json
import math

import numpy as np
import pytest

from dmf_numpy.experiments.audiovisual import (CONDITIONS, PAPER_TABLE2, ROWS, condition_inputs,
                                   pair_images, run_audiovisual)
from dmf_numpy.core.gradcheck import BOUND, worst_error
from dmf_numpy import GenerativeDMF, gradcheck
from dmf_numpy import EMF, IMF

from helpers import SHARED_DATA as SHARED

HAVE_DATA = (SHARED / "fsdd" / "recordings").is_dir() and (SHARED / "mnist").is_dir()

SIZES = dict(x_dims=(6, 5, 4), y_dims=(7, 5, 3), shared_dims=(5, 4, 3))


def test_pair_images_draws_an_image_of_the_same_digit_uniformly():
    image_labels = np.array([2, 0, 1, 2, 0, 2, 1, 0, 2])
    digits = np.repeat([0, 1, 2], 3000)
    index = pair_images(digits, image_labels, np.random.default_rng(0))
    np.testing.assert_array_equal(image_labels[index], digits)
    # Digit 2 has 4 images (indices 0, 3, 5, 8): each drawn about a quarter of the time.
    counts = np.bincount(index[digits == 2], minlength=9)[[0, 3, 5, 8]]
    assert counts.sum() == 3000 and np.abs(counts / 3000 - 0.25).max() < 0.03
    again = pair_images(digits, image_labels, np.random.default_rng(0))
    np.testing.assert_array_equal(index, again)  # the seed decides
    assert not np.array_equal(index, pair_images(digits, image_labels, np.random.default_rng(1)))
    with pytest.raises(ValueError, match=r"no image of digit\(s\) \[3\]"):
        pair_images(np.array([3]), image_labels, np.random.default_rng(0))


@pytest.mark.parametrize("fusion, encoder_class", [("emf", EMF), ("imf", IMF)])
def test_generative_model_swaps_only_the_encoder(fusion, encoder_class):
    model = GenerativeDMF(**SIZES, encoder=fusion, seed=4)
    reference = GenerativeDMF(**SIZES, seed=4)
    assert isinstance(model.encoder, encoder_class)
    twin = encoder_class(**SIZES, n_classes=2, seed=4)
    encoder_keys = set(twin.params) - {"W_out", "b_out"}
    decoder_keys = {k for k in reference.params if k not in reference.encoder.params}
    assert set(model.params) == encoder_keys | decoder_keys
    for k in encoder_keys:  # initialized as the plain encoder would be, and shared with it
        np.testing.assert_array_equal(model.params[k], twin.params[k])
        assert model.params[k] is model.encoder.params[k]
    for k in decoder_keys:  # the decoder is GenerativeDMF's, whatever the encoder
        np.testing.assert_array_equal(model.params[k], reference.params[k])
    rng = np.random.default_rng(0)
    x, y = rng.uniform(size=(3, 6)), rng.uniform(size=(3, 7))
    np.testing.assert_allclose(model.encode(x, y), twin.forward_joint(*twin.check_inputs(x, y))[0])


@pytest.mark.parametrize("fusion", ["emf", "imf", "dmf"])
def test_generative_model_gradients_match_finite_differences_for_every_encoder(fusion):
    rng = np.random.default_rng(1)
    model = GenerativeDMF(**SIZES, encoder=fusion, x_output="linear", y_output="sigmoid", x_weight=0.5, seed=2)
    x, y = rng.normal(size=(4, 6)), rng.uniform(size=(4, 7))
    errors = gradcheck(model, x, y, inputs=(x * [[1], [0], [1], [1]], y * [[1], [1], [0], [1]]))
    assert set(errors) == set(model.params) | {"x_in", "y_in"}
    assert worst_error(errors) < BOUND
    assert model.astype(np.float64).config() == {**model.config(), "dtype": "float64"}


def test_generative_model_rejects_an_unknown_encoder():
    with pytest.raises(ValueError, match="encoder: expected one of"):
        GenerativeDMF(**SIZES, encoder="late")


def test_condition_inputs_zero_the_withheld_modality():
    audio, image = np.ones((2, 3)), np.full((2, 4), 2.0)
    a, v = condition_inputs(audio, image, "A")
    assert a is audio and not v.any() and v.shape == image.shape
    a, v = condition_inputs(audio, image, "V")
    assert not a.any() and v is image
    assert condition_inputs(audio, image, "A+V") == (audio, image)
    with pytest.raises(ValueError, match="condition: expected one of"):
        condition_inputs(audio, image, "AV")


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_DATA, reason=f"FSDD and MNIST are absent (looked for fsdd/ and mnist/ in {SHARED})")
def test_run_audiovisual_end_to_end_on_a_subset(tmp_path):
    result = run_audiovisual(tmp_path, seeds=2, epochs=2, data_dir=SHARED, subset=4, log=lambda line: None,
                             x_dims=(200, 16), y_dims=(784, 16), shared_dims=(16, 8))
    assert result["n_train"] == 4 * 10 * 4 and result["n_test"] == 2 * 10 * 4
    for seed in result["per_seed"]:
        assert set(seed) == set(ROWS) and all(set(seed[row]) == set(CONDITIONS) for row in ROWS)
        assert all(0 <= seed[row][c] <= 100 for row in ROWS for c in CONDITIONS)
        # Raw pixels of MNIST digits: far above the 10 % of chance even with 160 training images.
        assert seed["raw SVM"]["V"] > 40
    # The audio baseline does not depend on the seed (same clips, same SVM); the image pairing does.
    assert result["per_seed"][0]["raw SVM"]["A"] == result["per_seed"][1]["raw SVM"]["A"]
    assert result["per_seed"][0]["raw SVM"]["V"] != result["per_seed"][1]["raw SVM"]["V"]
    table = (tmp_path / "table2.md").read_text()
    assert "| generative DMF + SVM |" in table and "not** the paper's data set" in table
    assert f"{PAPER_TABLE2['DMF']['A']:.2f}" in table and "Subset: takes 0..3" in table
    rows = (tmp_path / "table2.csv").read_text().splitlines()
    assert rows[0] == "model,condition,accuracy_mean,accuracy_std,n_seeds" and len(rows) == 1 + 3 * len(ROWS)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["per_seed"] == result["per_seed"] and saved["settings"]["shared_dims"] == [16, 8]
    assert saved["reproducibility"]["numpy"] == np.__version__ and "kernel" in saved["reproducibility"]["blas"]
    claims = list(csv.DictReader(open(tmp_path / "claims.csv")))
    assert [(r["claim"], r["family"]) for r in claims] == (
        [(f"DMF > {o}, {c}", "table2") for c in CONDITIONS for o in ("EMF", "IMF")] + [("DMF > raw SVM, A+V", "context")])
    for r in claims:  # the effect is DMF's mean accuracy minus the other's, over the paired seeds
        other, condition = r["claim"][len("DMF > "):].split(", ")
        effect = np.mean([s["DMF"][condition] - s[other][condition] for s in result["per_seed"]])
        p, p_holm = float(r["p_value"]), float(r["p_holm"])  # nan: no spread over the seeds, no test
        assert float(r["effect"]) == pytest.approx(effect, abs=1e-4) and (p_holm >= p or math.isnan(p))
