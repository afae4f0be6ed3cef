"""The Wikipedia loader: finding the file, reading .npz or .mat, and refusing bad files.

The tests write small files of their own (so they check with ``verify=False``, the checksums
being those of the real files); the real data is needed only by the last test.
"""


import numpy as np
import pytest
import scipy.io

from dmf_numpy.datasets import store
from dmf_numpy.datasets.store import DataError, MissingDataError
from dmf_numpy.datasets.wiki import load_wiki

from helpers import SHARED_DATA as SHARED

REAL_WIKI = SHARED / "wiki" if (SHARED / "wiki").is_dir() else SHARED


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No DMF_NUMPY_DATA, and a user cache inside tmp_path."""
    monkeypatch.delenv(store.DATA_ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


def fake_arrays(n_train=12, n_test=5):
    """A tiny data set in the .npz layout; labels cycle through the 10 categories."""
    rng = np.random.default_rng(0)
    return {"image_train": rng.uniform(size=(n_train, 128)), "text_train": rng.uniform(size=(n_train, 10)),
            "label_train": np.arange(n_train) % 10, "image_test": rng.uniform(size=(n_test, 128)),
            "text_test": rng.uniform(size=(n_test, 10)), "label_test": np.arange(n_test) % 10}


def write_npz(folder, **changes):
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {k: v for k, v in {**fake_arrays(), **changes}.items() if v is not None}
    np.savez(folder / "wiki_rasiwasia2010.npz", **arrays)
    return arrays


def test_reads_npz_and_mat_alike(tmp_path):
    arrays = write_npz(tmp_path / "npz")
    mat = {"I_tr": arrays["image_train"], "T_tr": arrays["text_train"],
           "L_tr": (arrays["label_train"] + 1).astype(np.uint8)[:, None],
           "I_te": arrays["image_test"], "T_te": arrays["text_test"],
           "L_te": (arrays["label_test"] + 1).astype(np.uint8)[:, None]}
    (tmp_path / "mat").mkdir()
    scipy.io.savemat(tmp_path / "mat" / "wiki_data.mat", mat)
    for folder, name in (("npz", "wiki_rasiwasia2010.npz"), ("mat", "wiki_data.mat")):
        wiki = load_wiki(tmp_path / folder, verify=False)
        assert wiki.path.name == name
        for key, value in arrays.items():
            np.testing.assert_array_equal(getattr(wiki, key), value)  # .mat labels 1..10 -> 0..9
        assert wiki.label_train.dtype == np.int64 and wiki.image_test.dtype == np.float64


def test_found_through_the_environment_variable_at_a_root(tmp_path, monkeypatch):
    write_npz(tmp_path / "root" / "wiki")
    monkeypatch.setenv(store.DATA_ENV_VAR, str(tmp_path / "root"))
    assert load_wiki(verify=False).path == tmp_path / "root" / "wiki" / "wiki_rasiwasia2010.npz"


def test_missing_data_says_where_it_comes_from_and_where_to_put_it(tmp_path):
    with pytest.raises(MissingDataError) as err:
        load_wiki()  # the (empty) user cache
    message = str(err.value)
    for needle in ("missing wiki_", "wiki_rasiwasia2010.npz", "wiki_data.mat", "Either file",
                   "Rasiwasia", "cuilimeng/MCTD", "no download URL", str(tmp_path / "xdg-cache" / "dmf_numpy" / "wiki"),
                   "--data-dir", store.DATA_ENV_VAR):
        assert needle in message, needle
    with pytest.raises(MissingDataError, match="is not an existing directory"):
        load_wiki(tmp_path / "typo")


def test_checksum_mismatch(tmp_path):
    write_npz(tmp_path)
    with pytest.raises(DataError, match=r"wiki_rasiwasia2010.npz: checksum mismatch.*verify=False"):
        load_wiki(tmp_path)


@pytest.mark.parametrize("changes, match", [
    (dict(text_test=None), "missing array.*text_test"),
    (dict(image_train=np.zeros((12, 127))), r"image_train has shape \(12, 127\), expected \(12, 128\)"),
    (dict(text_train=np.zeros((11, 10))), r"text_train has shape \(11, 10\), expected \(12, 10\)"),
    (dict(text_test=np.full((5, 10), np.nan)), "text_test holds 50 NaN or infinite"),
    (dict(label_test=np.array([0, 1, 2, 3, 10])), r"label_test out of range: values in \[0, 10\]"),
    (dict(label_train=-np.ones(12, dtype=int)), "label_train out of range"),
    (dict(label_train=np.full(12, 0.5)), "label_train must be a vector of integer labels"),
    (dict(label_test=np.zeros((5, 2), dtype=int)), "label_test must be a vector"),
    (dict(image_test=np.full((5, 128), "a")), "image_test must hold real numbers"),
])
def test_malformed_files_are_data_errors_naming_file_and_array(tmp_path, changes, match):
    write_npz(tmp_path, **changes)
    with pytest.raises(DataError, match=match) as err:
        load_wiki(tmp_path, verify=False)
    assert str(tmp_path / "wiki_rasiwasia2010.npz") in str(err.value)


@pytest.mark.parametrize("name, content", [
    ("wiki_rasiwasia2010.npz", b"PK\x03\x04 not really a zip"),
    ("wiki_data.mat", b"MATLAB 5.0 MAT-file, but truncated"),
])
def test_unreadable_files_are_data_errors(tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DataError, match=f"{name}: cannot read"):
        load_wiki(tmp_path, verify=False)


@pytest.mark.skipif(not (REAL_WIKI / "wiki_rasiwasia2010.npz").is_file(),
                    reason=f"the real Wikipedia features are absent (looked in {REAL_WIKI})")
def test_real_data_matches_its_published_description():
    wiki = load_wiki(REAL_WIKI)  # checksum verified
    assert wiki.image_train.shape == (2173, 128) and wiki.text_test.shape == (693, 10)
    # per-category counts of SOURCE.md
    assert np.bincount(wiki.label_train).tolist() == [138, 272, 244, 248, 202, 178, 186, 144, 214, 347]
    assert np.bincount(wiki.label_test).tolist() == [34, 88, 96, 85, 65, 58, 51, 41, 71, 104]
    np.testing.assert_allclose(wiki.text_train.sum(axis=1), 1, atol=1e-6)  # LDA proportions


def test_mat_labels_must_be_1_to_10(tmp_path):
    arrays = fake_arrays()
    labels = arrays["label_train"].astype(np.uint8)[:, None]  # 0..9 where 1..10 belong
    scipy.io.savemat(tmp_path / "wiki_data.mat", {
        "I_tr": arrays["image_train"], "T_tr": arrays["text_train"], "L_tr": labels,
        "I_te": arrays["image_test"], "T_te": arrays["text_test"], "L_te": labels[:5] + 1})
    with pytest.raises(DataError, match=r"wiki_data.mat: label_train out of range: values in \[-1, 8\]"):
        load_wiki(tmp_path, verify=False)
