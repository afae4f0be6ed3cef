"""Input validation: bad input fails early with a :class:`~dmf_numpy.core.errors.UserError` (a
``ValueError``) that names the argument, what was expected and what was given, instead of a
broadcasting accident deep in the backward pass or a silently wrong loss. One helper per kind of
value; each entry point checks its arguments with them once, before any work."""

from __future__ import annotations

import math
import numbers
import operator

import numpy as np

from .errors import UserError


def check_features(name, a, n_features, dtype):
    """Return ``a`` as a C-ordered ``(N, n_features)`` array of ``dtype``, or raise.

    Parameters
    ----------
    name : str
        The argument's name, used in the error message (``"x"``, ``"y"``).
    a : array_like, (N, n_features)
    n_features : int or None
        The input size the model was built for; ``None`` accepts any.
    dtype : numpy dtype
        The model's dtype; the data is converted (without a copy when it already matches).

    Raises
    ------
    UserError
        If ``a`` is ragged or not 2-D, has no rows, has the wrong number of columns, is not
        numeric, holds NaN or infinite values, or holds values too large for ``dtype``, or is a
        masked array (:func:`check_not_masked`).
    """
    check_not_masked(name, a)
    try:
        a = np.asarray(a)
    except ValueError as err:  # ragged nested lists
        raise UserError(f"{name}: not a rectangular array ({err})") from None
    if a.ndim != 2:
        raise UserError(f"{name}: expected a 2-D array (N, {n_features or 'd'}), got shape {a.shape}")
    if a.shape[0] == 0:
        raise UserError(f"{name}: empty batch (shape {a.shape}); expected at least one sample")
    if n_features is not None and a.shape[1] != n_features:
        raise UserError(
            f"{name}: expected {n_features} features per sample (shape (N, {n_features})), "
            f"got {a.shape[1]} (shape {a.shape})"
        )
    if a.dtype.kind not in "biuf":  # bool, integers, floats: not complex, datetime, timedelta, text
        raise UserError(f"{name}: expected real numbers, got dtype {a.dtype}")
    if not np.isfinite(a).all():
        n_bad = int(a.size - np.count_nonzero(np.isfinite(a)))
        raise UserError(f"{name}: expected finite values, got {n_bad} NaN or infinite entries")
    with np.errstate(over="ignore"):
        converted = np.ascontiguousarray(a, dtype=dtype)
    if converted is not a and not np.isfinite(converted).all():
        raise UserError(f"{name}: values too large for {np.dtype(dtype).name} "
                        f"(largest magnitude {float(np.abs(a).max()):.3g})")
    return converted


def check_labels(labels, n_samples, n_classes):
    """Return ``labels`` as an int64 ``(N,)`` array of class indices, or raise.

    Parameters
    ----------
    labels : array_like of int, (N,)
    n_samples : int
        The batch size N of the features the labels belong to.
    n_classes : int
        Labels must lie in ``[0, n_classes)``.

    Raises
    ------
    UserError
        If ``labels`` is not 1-D of length ``n_samples``, not of an integer dtype, out of range,
        or a masked array.
    """
    if labels is None:
        raise UserError(f"labels: expected integer class indices of shape ({n_samples},), got None")
    check_not_masked("labels", labels)
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != n_samples:
        raise UserError(f"labels: expected shape ({n_samples},) to match x and y, got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise UserError(f"labels: expected integer class indices, got dtype {labels.dtype}")
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 0 or hi >= n_classes:
        raise UserError(
            f"labels: expected class indices in [0, {n_classes - 1}], got values in [{lo}, {hi}]"
        )
    return labels.astype(np.int64, copy=False)


def check_same_batch(x, y):
    """Raise unless the two modalities hold the same number of samples."""
    if x.shape[0] != y.shape[0]:
        raise UserError(
            f"x and y: expected the same batch size, got {x.shape[0]} samples in x "
            f"and {y.shape[0]} in y"
        )


def check_dims(name, dims):
    """Return ``dims`` as a tuple of positive ints, or raise."""
    try:
        if any(isinstance(d, (bool, np.bool_)) for d in dims):
            raise TypeError
        dims = tuple(operator.index(d) for d in dims)
    except TypeError:
        raise UserError(f"{name}: expected a sequence of integer layer sizes, got {dims!r}") from None
    if len(dims) == 0 or any(d <= 0 for d in dims):
        raise UserError(f"{name}: expected one or more positive layer sizes, got {dims}")
    return dims


def check_integer(name, value, minimum, expected):
    """Return ``value`` as an int if it is an integer (not a bool) of at least ``minimum``, else
    raise a UserError saying it ``expected`` (e.g. "a positive integer")."""
    try:
        if isinstance(value, (bool, np.bool_)):
            raise TypeError
        number = operator.index(value)
    except TypeError:
        raise UserError(f"{name}: expected {expected}, got {value!r}") from None
    if number < minimum:
        raise UserError(f"{name}: expected {expected}, got {number}")
    return number


def check_real(name, value, expected, within=lambda number: True):
    """Return ``value`` as a float if it is a finite real number for which ``within`` holds, else
    raise a UserError saying it ``expected`` (e.g. "a fraction in [0, 1)").

    A real number is a Python ``int`` or ``float`` or a NumPy integer or floating scalar
    (``np.float32(0.9)``); a bool, a string, None or an array is not one.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise UserError(f"{name}: expected {expected}, got {value!r}")
    number = float(value)
    if not (math.isfinite(number) and within(number)):
        raise UserError(f"{name}: expected {expected}, got {value}")
    return number


def check_callable(name, value, expected, optional=True):
    """Return ``value`` if it is callable (or None, when ``optional``), else raise a UserError
    saying it ``expected`` (e.g. "a function metrics(model) -> dict")."""
    if (value is None and optional) or callable(value):
        return value
    raise UserError(f"{name}: expected {expected}{' or None' if optional else ''}, got {value!r}")


def check_not_masked(name, a):
    """Raise UserError if ``a`` is a masked array (:mod:`numpy.ma`), whose mask NumPy would drop
    without a word when converting it."""
    if isinstance(a, np.ma.MaskedArray):
        raise UserError(f"{name}: a masked array (numpy.ma) with {int(np.ma.count_masked(a))} masked entries; "
                        f"fill them ({name}.filled(value)) or remove those samples, and pass a plain array")


def check_positive_int(name, value):
    """Return ``value`` as an int if it is a positive integer, else raise UserError."""
    return check_integer(name, value, 1, "a positive integer")


def check_seed(seed):
    """Return ``seed`` if NumPy can seed a generator with it (a non-negative integer), else raise."""
    return check_integer("seed", seed, 0, "a non-negative integer")
