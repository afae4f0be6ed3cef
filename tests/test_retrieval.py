"""Table 3 machinery: average precision, cosine similarity, standardization, the CCA baseline,
and the retrieval run end to end on the real Wikipedia features (when present)."""

import csv
import json

import numpy as np
import pytest

from dmf_numpy.experiments.retrieval import (CCA, ENCODERS, PAPER_TABLE3, average_precision, cosine_similarity,
                                 cross_modal_map, mean_average_precision, run_retrieval, standardize)

from helpers import SHARED_DATA as SHARED

HAVE_WIKI = any((folder / name).is_file() for folder in (SHARED, SHARED / "wiki")
                for name in ("wiki_rasiwasia2010.npz", "wiki_data.mat"))


# ---------------------------------------------------------------- mAP


def test_average_precision_of_a_hand_made_ranking():
    item_labels = np.array([1, 0, 1, 0, 2])
    # Query 0 (label 1) ranks the items 0, 1, 2, 3, 4: relevant at ranks 1 and 3,
    #   AP = (1/1 + 2/3) / 2 = 5/6.
    # Query 1 (label 0) ranks them 4, 2, 3, 0, 1: relevant at ranks 3 and 5,
    #   AP = (1/3 + 2/5) / 2 = 11/30.
    # Query 2 (label 2): the single relevant item first, AP = 1.
    similarity = np.array([[0.9, 0.8, 0.7, 0.6, 0.5],
                           [0.2, 0.1, 0.4, 0.3, 0.5],
                           [0.0, 0.0, 0.0, 0.0, 1.0]])
    ap = average_precision(similarity, np.array([1, 0, 2]), item_labels)
    np.testing.assert_allclose(ap, [5 / 6, 11 / 30, 1.0], rtol=1e-12)
    assert mean_average_precision(similarity, [1, 0, 2], item_labels) == pytest.approx((5 / 6 + 11 / 30 + 1) / 3)


def test_ties_keep_the_retrieval_set_order():
    similarity = np.zeros((2, 3))  # everything tied: the order of the retrieval set decides
    ap = average_precision(similarity, np.array([0, 1]), np.array([1, 0, 0]))
    np.testing.assert_allclose(ap, [(1 / 2 + 2 / 3) / 2, 1.0])


def test_average_precision_agrees_with_a_loop_over_the_ranking():
    rng = np.random.default_rng(0)
    similarity, q_labels, i_labels = rng.normal(size=(7, 40)), rng.integers(0, 3, 7), rng.integers(0, 3, 40)
    for q in range(7):
        hits, precisions = 0, []
        for k, item in enumerate(np.argsort(-similarity[q]), start=1):
            if i_labels[item] == q_labels[q]:
                hits += 1
                precisions.append(hits / k)
        assert average_precision(similarity, q_labels, i_labels)[q] == pytest.approx(np.mean(precisions))


def test_average_precision_rejects_bad_input():
    with pytest.raises(ValueError, match="query 1 .label 5. has no relevant item"):
        average_precision(np.zeros((2, 2)), np.array([0, 5]), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"similarity: expected shape \(n queries, n items\) = \(2, 3\)"):
        average_precision(np.zeros((3, 2)), np.array([0, 1]), np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="similarity: expected finite values, got 4 NaN"):
        average_precision(np.full((2, 2), np.nan), np.array([0, 1]), np.array([0, 1]))


def test_cosine_similarity_and_standardize():
    a = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    np.testing.assert_allclose(cosine_similarity(a, a[:2]), [[1, 2 ** -0.5], [2 ** -0.5, 1], [0, 0]])
    train, test = np.array([[1.0, 5.0], [3.0, 5.0]]), np.array([[2.0, 6.0]])
    train_z, test_z = standardize(train, test)
    np.testing.assert_allclose(train_z, [[-1, 0], [1, 0]])  # a constant feature is only centered
    np.testing.assert_allclose(test_z, [[0, 1]])


def test_cross_modal_map_is_one_for_codes_that_name_the_category():
    labels = np.array([0, 1, 2, 0, 1, 2])
    codes = {"x": np.eye(3)[labels] + 0.1, "y": 2 * np.eye(3)[labels]}  # offsets vanish when centered
    assert cross_modal_map(codes, codes, labels, labels) == {"I2T": 1.0, "T2I": 1.0}
    flipped = {"x": codes["x"], "y": np.eye(3)[(labels + 1) % 3]}  # texts point at another category
    assert cross_modal_map(flipped, flipped, labels, labels)["I2T"] < 0.6


# ---------------------------------------------------------------- CCA


def test_cca_recovers_a_planted_correlated_direction():
    """x and y share one latent signal z along known directions a and b, plus independent noise
    that is larger than the signal in every other direction."""
    rng = np.random.default_rng(0)
    n, a, b = 2000, np.array([1.0, 2.0, 0.0, -1.0]), np.array([0.0, 1.0, 1.0])
    z = rng.normal(size=n)
    x = np.outer(z, a) + rng.normal(scale=[0.3, 0.3, 3.0, 0.3], size=(n, 4))
    y = np.outer(z, b) + rng.normal(scale=[2.0, 0.3, 0.3], size=(n, 3))
    cca = CCA(n_components=2).fit(x, y)
    u, v = cca.transform(x, "x"), cca.transform(y, "y")
    assert cca.correlations[0] > 0.95 and cca.correlations[1] < 0.1
    assert abs(np.corrcoef(u[:, 0], z)[0, 1]) > 0.97 and abs(np.corrcoef(v[:, 0], z)[0, 1]) > 0.97
    assert np.corrcoef(u[:, 0], v[:, 0])[0, 1] == pytest.approx(cca.correlations[0], abs=1e-3)
    assert np.std(u[:, 0], ddof=1) == pytest.approx(1, abs=1e-2)  # canonical variates: unit variance
    # The direction found is the planted one: A's first column ∝ C_xx^{-1} C_xz.
    direction = np.linalg.solve(np.cov(x.T), np.cov(x.T, z)[:4, 4])
    cosine = direction @ cca.projection["x"][:, 0] / np.linalg.norm(direction) / np.linalg.norm(cca.projection["x"][:, 0])
    assert abs(cosine) > 0.999


def test_cca_handles_singular_covariances_and_rejects_bad_arguments():
    rng = np.random.default_rng(1)
    x = rng.dirichlet(np.ones(5), size=50)  # rows sum to 1: a singular covariance, as for the SIFT histograms
    y = rng.dirichlet(np.ones(3), size=50)
    cca = CCA(n_components=3).fit(x, y)
    assert np.isfinite(cca.transform(x, "x")).all() and (cca.correlations <= 1 + 1e-9).all()
    with pytest.raises(ValueError, match="n_components: at most min"):
        CCA(n_components=4).fit(x, y)
    with pytest.raises(ValueError, match="x and y: expected paired"):
        CCA(n_components=2).fit(x, y[:10])
    with pytest.raises(ValueError, match="reg"):
        CCA(reg=0)
    with pytest.raises(ValueError, match="x: expected finite values"):
        CCA(n_components=2).fit(np.where(x > 0.5, np.nan, x), y)
    with pytest.raises(ValueError, match="CCA: not fitted yet"):
        CCA().transform(x, "x")
    with pytest.raises(ValueError, match="modality: expected 'x' or 'y', got 'z'"):
        cca.transform(x, "z")
    with pytest.raises(ValueError, match=r"y: expected 3 features .* got 5"):
        cca.transform(x, "y")


# ---------------------------------------------------------------- the whole run


@pytest.mark.skipif(not HAVE_WIKI, reason=f"the Wikipedia features are absent (looked in {SHARED})")
def test_run_retrieval_end_to_end_on_a_subset(tmp_path):
    result = run_retrieval(tmp_path, seeds=2, epochs=3, data_dir=SHARED, subset=(300, 80),
                           log=lambda line: None, x_dims=(128, 16), y_dims=(10, 8), shared_dims=(16, 8))
    assert result["n_items"] == 300 and result["n_queries"] == 80
    for scores in (result["cca"], *result["dmf"]["per_seed"], result["dmf"]["mean"]):
        assert set(scores) == {"I2T", "T2I"} and all(0.1 < v < 1 for v in scores.values())
    assert result["dmf"]["std"]["I2T"] > 0  # two different seeds
    table = (tmp_path / "table3.md").read_text()
    assert "| I2T |" in table and f"{PAPER_TABLE3['DMF']['T2I']:.4f}" in table and "Subset" in table
    rows = (tmp_path / "table3.csv").read_text().splitlines()
    assert rows[0] == "method,direction,map_mean,map_std,n_seeds,paper_map" and len(rows) == 1 + 2 * 4
    saved = json.loads((tmp_path / "results.json").read_text())
    assert all(saved[e]["per_seed"] == result[e]["per_seed"] and len(result[e]["per_seed"]) == 2 for e in ENCODERS)
    assert result["imf"]["per_seed"] != result["dmf"]["per_seed"]  # the encoders differ
    claims = list(csv.DictReader(open(tmp_path / "claims.csv")))
    assert [(r["claim"], r["family"]) for r in claims] == (
        [(f"DMF > {o}, {d}", "table3") for d in ("I2T", "T2I") for o in ("IMF", "EMF", "CCA")]
        + [(f"DMF > the paper's DMF ({PAPER_TABLE3['DMF'][d]:g}), {d}", "context") for d in ("I2T", "T2I")])
    for r in claims:  # DMF's mean, from the per-seed scores, in every claim
        direction = r["claim"].split(", ")[-1]
        assert float(r["dmf_mean"]) == pytest.approx(result["dmf"]["mean"][direction], abs=1e-4)
    assert "| DMF > CCA, I2T | table3 |" in (tmp_path / "claims.md").read_text()
    assert saved["dmf_settings"]["epochs"] == 3 and saved["dmf_settings"]["shared_dims"] == [16, 8]
