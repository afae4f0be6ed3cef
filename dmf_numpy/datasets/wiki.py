"""The Wikipedia image-text data set of Rasiwasia et al. (2010), for Table 3 (Sec. 3.3).

2,866 image-text pairs from Wikipedia featured articles in 10 categories, split into the
standard 2,173 training and 693 test pairs. Each image is a 128-bin bag-of-words histogram of
SIFT descriptors, each text a 10-topic LDA vector. The features come in one of two files
(either is enough; provenance and checksums in ``shared/data/wiki/SOURCE.md``):

- ``wiki_rasiwasia2010.npz``: ``image_train`` (2173, 128), ``text_train`` (2173, 10),
  ``label_train`` (2173,) in 0..9, and the same for ``_test`` (693 rows); read with
  ``np.load(allow_pickle=False)``, preferred because it needs nothing but NumPy;
- ``wiki_data.mat``, the file as found (MATLAB v5, read with ``scipy.io.loadmat``): ``I_tr``,
  ``T_tr``, ``L_tr`` (labels 1..10, shape (N, 1)) and ``I_te``, ``T_te``, ``L_te``.

They are looked for as MNIST is (:func:`dmf_numpy.datasets.store.resolve_data_dir`): the ``data_dir``
argument, then ``DMF_NUMPY_DATA``, then the user cache, each a folder holding the file or a
root holding ``wiki/``. The data set has no download URL, so nothing is ever downloaded: a
missing file raises :class:`~dmf_numpy.datasets.store.MissingDataError` saying where the features come
from and where to put them; a damaged or malformed one raises
:class:`~dmf_numpy.datasets.store.DataError` naming the file and the problem.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .store import DataError, check_sha256, missing_data_error, read_bytes, resolve_data_dir

IMAGE_SIZE = 128
"""Bins of the SIFT bag-of-words histogram of an image."""

TEXT_SIZE = 10
"""LDA topics of a text."""

N_CLASSES = 10
"""Wikipedia categories (art & architecture, biology, ..., warfare)."""

WIKI_FILES = {
    "wiki_rasiwasia2010.npz": "068501a8d32d9ef26c969833779b239674d29f2a8f7ce6a469b430d684c465e6",
    "wiki_data.mat": "618dda68117816abb1264ca8dcf4350a547467d856ff6581d3d874bbf757dfc0",
}
"""The accepted files, in order of preference, with the SHA-256 of the canonical copies."""

_MAT_NAMES = {"image_train": "I_tr", "text_train": "T_tr", "label_train": "L_tr",
              "image_test": "I_te", "text_test": "T_te", "label_test": "L_te"}
"""Array names of the ``.mat`` file for each array of the ``.npz`` file."""

PROVENANCE = (
    "The features are those released by the authors (N. Rasiwasia et al., \"A New Approach to "
    "Cross-Modal Multimedia Retrieval\", ACM MM 2010; SVCL, UC San Diego); a copy is the file "
    "wiki_data.mat at the root of the public GitHub repository cuilimeng/MCTD. There is no "
    "download URL: copy wiki_data.mat or wiki_rasiwasia2010.npz (either is enough) by hand."
)


@dataclass(frozen=True)
class WikiData:
    """The Wikipedia features, as float64 arrays, and integer labels in 0..9.

    Attributes
    ----------
    image_train : ndarray, (N_train, 128)
    text_train : ndarray, (N_train, 10)
    label_train : ndarray of int64, (N_train,)
    image_test : ndarray, (N_test, 128)
    text_test : ndarray, (N_test, 10)
    label_test : ndarray of int64, (N_test,)
    path : Path
        The file they were read from.
    """

    image_train: np.ndarray
    text_train: np.ndarray
    label_train: np.ndarray
    image_test: np.ndarray
    text_test: np.ndarray
    label_test: np.ndarray
    path: Path


def load_wiki(data_dir=None, *, verify=True):
    """Find, read and check the Wikipedia features.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        A folder holding ``wiki_rasiwasia2010.npz`` or ``wiki_data.mat``, or a root holding
        ``wiki/`` with them. If None, ``DMF_NUMPY_DATA`` and then the user cache are used.
    verify : bool
        Check the file's SHA-256 against :data:`WIKI_FILES` (turn off to read another copy,
        e.g. a subset of the data in the same format).

    Returns
    -------
    WikiData

    Raises
    ------
    MissingDataError
        If neither file is found.
    DataError
        If the file cannot be read, fails its checksum, lacks an array, or holds arrays of the
        wrong shape, non-finite features or labels outside the 10 categories.
    """
    where = resolve_data_dir("wiki", data_dir)
    path = next((where.path / name for name in WIKI_FILES if (where.path / name).is_file()), None)
    if path is None:
        raise missing_data_error("wiki", list(WIKI_FILES), set(WIKI_FILES), where,
                                 ["(Either file is enough.)", PROVENANCE])
    if verify:
        check_sha256(path, read_bytes(path), WIKI_FILES[path.name], "canonical",
                     "to read another copy on purpose, from Python, pass verify=False to load_wiki")
    arrays = _read_npz(path) if path.suffix == ".npz" else _read_mat(path)
    return WikiData(**_checked(path, arrays), path=path)


def _read_npz(path):
    """The six arrays of the ``.npz`` file (missing ones absent from the dict)."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in _MAT_NAMES if key in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise DataError(f"{path}: cannot read as a NumPy .npz archive: {err}") from err


def _read_mat(path):
    """The six arrays of the ``.mat`` file under the ``.npz`` names, labels shifted to 0..9."""
    import scipy.io

    try:
        mat = scipy.io.loadmat(path)
    except Exception as err:  # a malformed file can fail in loadmat in many ways (even IndexError)
        raise DataError(f"{path}: cannot read as a MATLAB v5 file: {err}") from err
    arrays = {key: mat[name] for key, name in _MAT_NAMES.items() if name in mat}
    for key in ("label_train", "label_test"):
        if key in arrays and np.issubdtype(arrays[key].dtype, np.number):
            labels = arrays[key]
            labels = labels.reshape(-1) if labels.ndim == 2 and labels.shape[1] == 1 else labels
            arrays[key] = labels - np.int64(1)  # int64: a stray label 0 in uint8 becomes -1, not 255
    return arrays


def _checked(path, arrays):
    """Check the six arrays read from ``path``; return them as float64 features, int64 labels."""
    missing = [key for key in _MAT_NAMES if key not in arrays]
    if missing:
        raise DataError(f"{path}: missing array(s) {', '.join(missing)} "
                        f"(found: {', '.join(sorted(arrays)) or 'none'})")
    checked = {}
    for split in ("train", "test"):
        labels = arrays[f"label_{split}"]
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.number) or \
                not np.array_equal(labels, np.round(labels)):
            raise DataError(f"{path}: label_{split} must be a vector of integer labels, got "
                            f"shape {labels.shape} and dtype {labels.dtype}")
        if labels.size == 0:
            raise DataError(f"{path}: the {split} split is empty")
        if not (labels.min() >= 0 and labels.max() < N_CLASSES):
            raise DataError(f"{path}: label_{split} out of range: values in [{labels.min()}, "
                            f"{labels.max()}], expected the {N_CLASSES} categories 0..{N_CLASSES - 1}")
        n = labels.shape[0]
        for modality, size in (("image", IMAGE_SIZE), ("text", TEXT_SIZE)):
            key = f"{modality}_{split}"
            a = arrays[key]
            if a.shape != (n, size):
                raise DataError(f"{path}: {key} has shape {a.shape}, expected ({n}, {size}) "
                                f"({n} {split} pairs, as in label_{split})")
            if not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
                raise DataError(f"{path}: {key} must hold real numbers, got dtype {a.dtype}")
            if not np.isfinite(a).all():
                raise DataError(f"{path}: {key} holds {np.count_nonzero(~np.isfinite(a))} NaN or "
                                "infinite values")
            checked[key] = a.astype(np.float64)
        checked[f"label_{split}"] = labels.astype(np.int64)
    return checked
