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


def name_list(names):
    """``"A"``, ``"A and B"``, ``"A, B and C"``."""
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def names_shapes_dtypes(grads, params):
    """The problems of a dict of gradients as a container: missing or extra names, values that
    are not float64 numpy arrays of their parameter's shape. Empty when there is none."""
    problems = []
    missing = [name for name in params if name not in grads]
    extra = [str(name) for name in grads if name not in params]
    if missing:
        problems.append(f"missing {name_list(missing)}")
    if extra:
        problems.append(f"unexpected {name_list(extra)} (one gradient per parameter, named as the parameter)")
    for name in params:
        value = grads.get(name)
        if name in missing:
            continue
        if not isinstance(value, np.ndarray):
            problems.append(f"{name} is a {type(value).__name__}, expected a float64 numpy array")
        elif value.shape != params[name].shape:
            problems.append(f"{name} has shape {value.shape}, expected {params[name].shape} (the shape of "
                            f"{name}{', 1-D like the bias' if params[name].ndim == 1 else ''})")
        elif value.dtype != np.float64:
            problems.append(f"{name} is {value.dtype}, expected float64")
    return problems


def shapes_do_not_fit(message):
    """Whether an exception's ``message`` is NumPy's word for arrays whose shapes do not fit (a
    matrix product, a broadcast), which the hints explain in their exercise's terms."""
    return any(word in message for word in ("matmul", "shapes", "broadcast", "aligned"))
