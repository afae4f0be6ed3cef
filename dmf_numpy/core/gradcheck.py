"""Finite-difference check of the hand-written gradients.

Every parameter tensor and both inputs are checked against centered differences in float64,
using the fourth-order centered stencil

    ĝ_i = (8 [ε(θ + h e_i) - ε(θ - h e_i)] - [ε(θ + 2h e_i) - ε(θ - 2h e_i)]) / (12 h),

whose truncation error is O(h^4) instead of the O(h^2) of the two-point
difference. That lets the step be large, h = 5 · 10^{-3}, which keeps the round-off
of the difference quotient near 10 ε_64/(12h) ≈ 4 · 10^{-14}
absolute while the truncation error stays below that on networks of this size. The relative
error of an entry is

    rel_i = |g_i - ĝ_i| / max(|g_i| + |ĝ_i|, τ),   τ = 10^-6 max(1, |ε|),

with g the analytic gradient. The floor τ means that entries smaller than
1e-6 (gradients that nearly cancel over the batch) are held to an *absolute* error of
``bound * tau`` = 1e-13 (for a loss of order one), just above the round-off floor, instead
of a relative error that round-off alone would push past the bound. The figure reported per tensor is the maximum over
the entries checked; a missing term of Eqs. 5-8 makes it orders of magnitude larger (see the
mutation tests).
"""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np

from .checks import check_positive_int, check_seed
from .errors import UserError
from .fusion import MODELS
from .generative import GenerativeDMF
from .ops import softmax_cross_entropy

#: Max relative error a gradient check accepts (float64, centered differences).
BOUND = 1e-7

#: Small, unequal sizes on which every entry of every tensor is checked.
SMALL_SIZES = {"x_dims": (6, 5, 4), "y_dims": (7, 5, 3), "shared_dims": (5, 4, 3), "n_classes": 3}

_FLOOR = 1e-6


def gradcheck(model, x, y, labels=None, *, inputs=None, step=5e-3, max_entries=None, seed=0):
    """Compare analytic and finite-difference gradients of every tensor of either kind of model.

    Parameters
    ----------
    model : FusionNet or GenerativeDMF
        Checked on a float64 copy; the model itself is not modified.
    x : array_like, (N, d^x_1)
    y : array_like, (N, d^y_1)
        The inputs of a classifier; the targets (the complete pair) of a generative model.
    labels : array_like of int, (N,)
        The classes; required for a classifier (EMF, IMF, DMF), refused for a generative model,
        which is trained without labels.
    inputs : tuple ``(x_in, y_in)``, optional
        Generative model only: what its encoder sees (default ``(x, y)``). Only the inputs are
        perturbed, the targets stay fixed.
    step : float
        Finite-difference step h.
    max_entries : int, optional
        Check at most this many entries of each tensor, a sample drawn with ``seed`` (for large
        models). ``None`` checks every entry.
    seed : int
        Seeds the choice of entries when ``max_entries`` is set.

    Returns
    -------
    dict of str to float
        Max relative error per tensor: every key of ``model.params``, then the inputs: ``"x"``
        and ``"y"`` for a classifier, ``"x_in"`` and ``"y_in"`` (the encoder's inputs) for a
        generative model.
    """
    model = model.astype(np.float64)
    if isinstance(model, GenerativeDMF):
        if labels is not None:
            raise UserError("labels: a GenerativeDMF is trained without labels; pass None")
        loss, tensors, analytic = _generative_problem(model, x, y, inputs)
    else:
        if inputs is not None:
            raise UserError("inputs: only a GenerativeDMF has encoder inputs apart from x and y")
        loss, tensors, analytic = _classifier_problem(model, x, y, labels)
    return check_tensors(loss, tensors, analytic, step=step, max_entries=max_entries, seed=seed)


def _as_float64(*arrays):
    return tuple(np.array(a, dtype=np.float64) for a in arrays)


def _classifier_problem(model, x, y, labels):
    """``(loss(), tensors, analytic gradients)`` of a float64 EMF, IMF or DMF on one batch."""
    x, y, labels = model.check_inputs(*_as_float64(x, y), labels)
    _, grads, input_grads = model.loss_and_grads(x, y, labels, wrt_inputs=True)

    def loss():
        return softmax_cross_entropy(model.forward(x, y)[0], labels)[0]

    return loss, {**model.params, "x": x, "y": y}, {**grads, **input_grads}


def _generative_problem(model, x, y, inputs):
    """``(loss(), tensors, analytic gradients)`` of a float64 GenerativeDMF on one batch."""
    targets = model.check_targets(*_as_float64(x, y))
    inputs = model.check_inputs(*_as_float64(*(inputs or (x, y))))
    _, grads, input_grads = model.loss_and_grads(*targets, inputs=inputs, wrt_inputs=True)

    def loss():
        return model._loss(targets, inputs)[0]

    tensors = {**model.params, "x_in": inputs[0], "y_in": inputs[1]}
    return loss, tensors, {**grads, "x_in": input_grads["x"], "y_in": input_grads["y"]}


def check_tensors(loss, tensors, analytic, *, step=5e-3, max_entries=None, seed=0):
    r"""Finite-difference check of any scalar function of any tensors (the engine of
    :func:`gradcheck`).

    Parameters
    ----------
    loss : callable
        ``loss() -> float``, computed from the current values of ``tensors``.
    tensors : dict of str to ndarray (float64)
        The live arrays ``loss`` reads; each checked entry is perturbed in place and restored.
    analytic : dict of str to ndarray
        The gradient of ``loss`` with respect to each tensor, same keys and shapes.
    step : float
        Finite-difference step h.
    max_entries : int, optional
        Check at most this many entries of each tensor, a sample drawn with ``seed``; ``None``
        checks every entry.
    seed : int

    Returns
    -------
    dict of str to float
        Max relative error per tensor, in the order of ``tensors``.

    Notes
    -----
    The floor of the denominator scales with the loss, τ = 10^{-6} max(1, |ε|),
    because the round-off of the difference quotient is proportional to |ε|
    (a reconstruction loss summed over features is larger than a cross-entropy over classes).
    """
    if not (np.isfinite(step) and step > 0):
        raise UserError(f"step: expected a positive, finite finite-difference step, got {step}")
    if max_entries is not None:
        max_entries = check_positive_int("max_entries", max_entries)
    rng = np.random.default_rng(check_seed(seed))
    floor = _FLOOR * max(1.0, abs(loss()))
    errors = {}
    for name, array in tensors.items():
        entries = np.arange(array.size)
        if max_entries is not None and array.size > max_entries:
            entries = np.sort(rng.choice(array.size, size=max_entries, replace=False))
        numeric = numerical_derivatives(loss, array, entries, step)
        exact = analytic[name].reshape(-1)[entries]
        rel = np.abs(exact - numeric) / np.maximum(np.abs(exact) + np.abs(numeric), floor)
        errors[name] = float(rel.max())
    return errors


def numerical_derivatives(loss, array, entries, step):
    """dε/d(array.flat[i]) for each i of ``entries``, by the centered five-point difference
    (8 (ε(+h) - ε(-h)) - (ε(+2h) - ε(-2h))) / 12h; ``array`` is perturbed in place and restored.

    ``loss() -> float`` is computed from the current values of ``array``. Returns (len(entries),).
    """
    flat = array.reshape(-1)  # a view: writing to it perturbs the live array
    numeric = np.empty(len(entries))
    for k, i in enumerate(entries):
        original = flat[i]
        loss_at = {}
        for offset in (-2, -1, 1, 2):
            flat[i] = original + offset * step
            loss_at[offset] = loss()
        flat[i] = original
        numeric[k] = (8 * (loss_at[1] - loss_at[-1]) - (loss_at[2] - loss_at[-2])) / (12 * step)
    return numeric


def worst_error(errors):
    """The largest of the relative errors ``errors`` (a dict or an iterable); NaN if any is NaN.

    A NaN error (a NaN in the analytic or the numerical gradient) must fail a check. Python's
    ``max`` drops a NaN that does not come first; ``np.max`` propagates it, so that
    ``worst_error(errors) < bound`` is False whenever one error is NaN.
    """
    values = np.asarray(list(errors.values() if isinstance(errors, dict) else errors), dtype=float)
    return float(np.max(values))  # np.max propagates NaN


def format_errors(errors, bound=BOUND):
    """A plain-text table of ``errors`` (tensor, max relative error, ok/FAIL)."""
    width = max(len(name) for name in errors)
    lines = [f"{'tensor':<{width}}  max rel. error  (bound {bound:.0e})"]
    for name, err in errors.items():
        lines.append(f"{name:<{width}}  {err:14.2e}  {'ok' if err < bound else 'FAIL'}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# The check suite of ``dmf-numpy gradcheck``
# --------------------------------------------------------------------------------------------


class SuiteResult(NamedTuple):
    """One model checked at one set of sizes (see :func:`check_suite`)."""

    model: str
    label: str
    sizes: dict
    batch: int
    max_entries: int | None
    errors: dict
    seconds: float


#: The batch of :func:`check_suite` (and ``dmf-numpy gradcheck``) unless told: a few samples
#: exercise every term of the gradients.
SUITE_BATCH = 4


def check_suite(models, setups, *, batch=SUITE_BATCH, seed=0):
    """Check every model at every set of sizes on a random float64 batch.

    Parameters
    ----------
    models : sequence of str
        Names among ``"emf"``, ``"imf"``, ``"dmf"``.
    setups : sequence of ``(label, sizes, max_entries)``
        ``sizes`` holds the keyword arguments of the model (``x_dims``, ``y_dims``,
        ``shared_dims``, ``n_classes``); ``max_entries`` as in :func:`gradcheck` (None: all).
    batch : int
        Samples in the batch.
    seed : int
        Seeds the batch, the initialization and the sampled entries.

    Returns
    -------
    list of SuiteResult
        One per model and setup, models in the outer loop.
    """
    batch, seed = check_positive_int("batch", batch), check_seed(seed)
    results = []
    for name in models:
        for label, sizes, max_entries in setups:
            rng = np.random.default_rng(seed)
            x = rng.uniform(size=(batch, sizes["x_dims"][0]))
            y = rng.uniform(size=(batch, sizes["y_dims"][0]))
            labels = rng.integers(0, sizes["n_classes"], size=batch)
            model = MODELS[name](**sizes, seed=seed, dtype=np.float64)
            start = time.perf_counter()
            errors = gradcheck(model, x, y, labels, max_entries=max_entries, seed=seed)
            results.append(SuiteResult(name, label, sizes, batch, max_entries, errors,
                                       time.perf_counter() - start))
    return results


def format_suite(results, bound=BOUND):
    """The report of :func:`check_suite`: a table per check, then the worst error and the verdict."""
    blocks = []
    for r in results:
        entries = "all entries" if r.max_entries is None else f"{r.max_entries} sampled entries per tensor"
        blocks.append(f"{r.model.upper()}, {r.label} sizes {r.sizes['x_dims']}/{r.sizes['y_dims']}/"
                      f"{r.sizes['shared_dims']}, batch {r.batch}, {entries} ({r.seconds:.1f} s)\n"
                      + format_errors(r.errors, bound))
    worst = suite_worst_error(results)
    blocks.append(f"worst relative error {worst:.2e} (bound {bound:.0e}): {'ok' if worst < bound else 'FAILED'}")
    return "\n\n".join(blocks)


def suite_worst_error(results):
    """The worst relative error over every check of a suite (NaN if any is NaN)."""
    return worst_error(worst_error(r.errors) for r in results)
