"""Comparing what a student's code returned with the reference, and naming the likely mistake.

A student's value may be anything (a list, None, a wrong shape, NaN); :func:`expect` never
crashes on it: it raises :class:`~dmf_numpy.course.report.Wrong` with a hint.
"""

from __future__ import annotations

import numpy as np

from .report import Wrong


def as_array(value):
    """``value`` as a float array, or None when it is not numbers."""
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return None
    return array


def same(student, reference, rtol=1e-9, atol=1e-12):
    """True when ``student`` has the reference's shape, is finite and equals it to ``rtol``."""
    a = as_array(student)
    return (a is not None and a.shape == np.shape(reference) and bool(np.all(np.isfinite(a)))
            and np.allclose(a, reference, rtol=rtol, atol=atol))


def expect(student, reference, what, mistakes=()):
    """Raise Wrong unless ``student`` equals ``reference``; name the first of ``mistakes``
    (``(value, hint)`` pairs) that it equals, else say what differs."""
    if same(student, reference):
        return
    for value, hint in mistakes:
        if same(student, value):
            raise Wrong(f"{what}: {hint}")
    a = as_array(student)
    if a is None:
        raise Wrong(f"{what}: expected an array of numbers, got {type(student).__name__}")
    if a.shape != np.shape(reference):
        raise Wrong(f"{what}: shape {a.shape}, expected {np.shape(reference)}")
    if not np.all(np.isfinite(a)):
        raise Wrong(f"{what}: NaN or infinite values")
    raise Wrong(f"{what}: wrong values (largest difference {np.max(np.abs(a - reference)):.3g})")
