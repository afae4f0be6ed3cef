"""Two modalities as plain arrays: the :class:`Splits` every loader returns, and the ``.npz``
file of ``dmf-numpy train --arrays``.

A data set for the fusion models is three splits, each a triple ``(x, y, labels)``: modality x
``(N, d_x)``, modality y ``(N, d_y)`` and integer labels ``(N,)``, one row per sample.
:func:`load_arrays` reads them from a NumPy ``.npz`` archive with these names:

==============================  ==========================================================
arrays                          meaning
==============================  ==========================================================
``x``, ``y``, ``labels``        the training split (required)
``x_val``, ``y_val``,           a validation split (optional; all three or none)
``labels_val``
``x_test``, ``y_test``,         a test split (optional; all three or none)
``labels_test``
==============================  ==========================================================

Write one with ``numpy.savez("mine.npz", x=..., y=..., labels=..., x_test=..., ...)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..npz import NpzError, read_npz
from .store import DataError

#: The most classes an arrays file may have (its largest label plus one): class indices are
#: 0..K-1, and a larger one is almost always a label that is not an index (an id, a code).
MAX_CLASSES = 100_000

#: The splits of an arrays file and the suffix of their names.
SPLIT_SUFFIXES = {"train": "", "val": "_val", "test": "_test"}


@dataclass(frozen=True)
class Splits:
    """Train, validation and test splits, each a tuple ``(x, y, labels)`` or None.

    ``x`` is ``(N, d_x)``, ``y`` is ``(N, d_y)`` and ``labels`` is int64 ``(N,)``; for the
    MNIST halves ``x`` is the left half and ``y`` the (possibly damaged) right half, float32
    (N, 392) in [0, 1], and the labels are the digits.
    """

    train: tuple
    val: tuple | None = None
    test: tuple | None = None


def load_arrays(path):
    """Read the two-modality data set of an ``.npz`` file (module docstring) and check it.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    Splits
        ``val`` and ``test`` are None where the file has no such split. Features are float32,
        labels int64.

    Raises
    ------
    DataError
        Naming the file and the array: an unreadable file, a missing or unknown array, a split
        with only some of its three arrays, arrays that are not 2-D numbers (features) or 1-D
        non-negative integers (labels), NaN or infinite features, splits whose sizes disagree,
        or feature widths that differ between splits.
    """
    path = Path(path)
    try:
        arrays = read_npz(path)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (OSError, NpzError) as err:
        raise DataError(f"{path}: cannot read as a NumPy .npz archive of x, y and labels: {err}") from None
    allowed = {f"{kind}{suffix}" for suffix in SPLIT_SUFFIXES.values() for kind in ("x", "y", "labels")}
    unknown = sorted(set(arrays) - allowed)
    if unknown:
        raise DataError(f"{path}: unknown array(s) {', '.join(unknown)}; expected x, y, labels and optionally "
                        "x_val, y_val, labels_val, x_test, y_test, labels_test")
    splits = {}
    for split, suffix in SPLIT_SUFFIXES.items():
        names = [f"{kind}{suffix}" for kind in ("x", "y", "labels")]
        present = [name for name in names if name in arrays]
        if not present and split != "train":
            splits[split] = None
            continue
        if len(present) != 3:
            missing = [name for name in names if name not in arrays]
            raise DataError(f"{path}: missing array(s) {', '.join(missing)} (a split needs all of "
                            f"{', '.join(names)})")
        splits[split] = _checked_split(path, *(arrays[name] for name in names), names)
    for modality, column in (("x", 0), ("y", 1)):
        widths = {split: s[column].shape[1] for split, s in splits.items() if s is not None}
        if len(set(widths.values())) > 1:
            raise DataError(f"{path}: {modality} has {widths} features per split; every split needs the same")
    return Splits(**splits)


def _checked_split(path, x, y, labels, names):
    """One split's ``(x float32, y float32, labels int64)``, or a DataError naming the array."""
    checked = []
    for name, a in zip(names[:2], (x, y)):
        if a.ndim != 2 or a.shape[0] == 0:
            raise DataError(f"{path}: {name} must be a 2-D array (samples, features) with at least one row, "
                            f"got shape {a.shape}")
        if a.shape[1] == 0:
            raise DataError(f"{path}: {name} has 0 columns (shape {a.shape}); each sample needs at least one "
                            "feature")
        if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)) or a.dtype == bool:
            raise DataError(f"{path}: {name} must hold real numbers, got dtype {a.dtype}")
        if not np.isfinite(a).all():
            raise DataError(f"{path}: {name} holds {np.count_nonzero(~np.isfinite(a))} NaN or infinite values")
        with np.errstate(over="ignore"):
            converted = a.astype(np.float32)
        if not np.isfinite(converted).all():
            raise DataError(f"{path}: {name} holds values too large for float32, the features' type (largest "
                            f"magnitude {float(np.abs(a).max()):.3g}, above {float(np.finfo(np.float32).max):.3g}); "
                            "rescale them")
        checked.append(converted)
    name = names[2]
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{path}: {name} must be a 1-D array of integer class indices, got shape "
                        f"{labels.shape} and dtype {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise DataError(f"{path}: {name} holds negative class indices (smallest {labels.min()})")
    if labels.size and int(labels.max()) >= MAX_CLASSES:
        raise DataError(f"{path}: {name} holds the class index {int(labels.max())}, which would make "
                        f"{int(labels.max()) + 1} classes (at most {MAX_CLASSES:,}); class indices run from 0 to "
                        "K-1 for K classes: renumber them, e.g. with np.unique(labels, return_inverse=True)")
    if not x.shape[0] == y.shape[0] == labels.shape[0]:
        raise DataError(f"{path}: {names[0]}, {names[1]} and {name} must have one row per sample, "
                        f"got {x.shape[0]}, {y.shape[0]} and {labels.shape[0]}")
    return checked[0], checked[1], labels.astype(np.int64)
