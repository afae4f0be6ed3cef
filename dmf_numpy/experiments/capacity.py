"""Capacity-matched baselines: EMF and IMF widened until they have as many parameters as DMF.

DMF's shared layers at every level, fed by both towers, give it more weights than EMF or IMF of
the same layer sizes (1,362,634 against about 550,000 at the paper's sizes). A lead of DMF may
then be capacity, not dense fusion. :func:`matched_sizes` multiplies every *hidden* layer size
of a baseline (the towers' and the shared pathway's, never the inputs or the classes) by one
factor, found by bisection, until its parameter count is within :data:`TOLERANCE` of DMF's.
"""

from __future__ import annotations

from ..core.errors import UserError
from ..core.fusion import MODELS, build_model
from .paper import PAPER_SIZES
from .train_run import TrainConfig

#: The largest relative difference from the reference's parameter count a matched model may have.
TOLERANCE = 0.02


def widened_sizes(sizes, factor):
    """``sizes`` (``x_dims``, ``y_dims``, ``shared_dims``, ``n_classes``) with every hidden
    layer size multiplied by ``factor`` and rounded: the input sizes ``x_dims[0]``, ``y_dims[0]``
    and ``n_classes`` stay."""
    def wider(dims):
        return [int(d) for d in dims[:1]] + [max(1, round(factor * d)) for d in dims[1:]]

    return {"x_dims": tuple(wider(sizes["x_dims"])), "y_dims": tuple(wider(sizes["y_dims"])),
            "shared_dims": tuple(max(1, round(factor * e)) for e in sizes["shared_dims"]),
            "n_classes": sizes["n_classes"]}


def n_params(model, sizes):
    """The parameter count of ``model`` (``"emf"``, ``"imf"`` or ``"dmf"``) with ``sizes``."""
    return build_model({"model": model, **sizes}).n_params


def matched_sizes(model, sizes=PAPER_SIZES, reference="dmf", tolerance=TOLERANCE):
    """The sizes that give ``model`` the parameter count of ``reference`` at ``sizes``.

    Parameters
    ----------
    model, reference : str
        Names of :data:`dmf_numpy.core.fusion.MODELS`.
    sizes : dict
        ``x_dims``, ``y_dims``, ``shared_dims``, ``n_classes`` (default: the paper's).
    tolerance : float
        The largest relative difference of the two counts.

    Returns
    -------
    dict
        ``factor`` (the width multiplier), ``sizes`` (:func:`widened_sizes`), ``n_params`` and
        ``reference_n_params``.

    Raises
    ------
    UserError
        If no factor up to 16 brings the count within ``tolerance``.
    """
    for name in (model, reference):
        if name not in MODELS:
            raise UserError(f"model: expected one of {sorted(MODELS)}, got {name!r}")
    target = n_params(reference, sizes)
    low, high = 0.0, 16.0  # n_params grows with the factor: bisect on it
    for _ in range(20):  # to within 16 / 2^20 of the factor: a fraction of a unit in every width
        middle = (low + high) / 2
        if n_params(model, widened_sizes(sizes, middle)) < target:
            low = middle
        else:
            high = middle
    count, factor = min(((n_params(model, widened_sizes(sizes, f)), f) for f in (low, high)),
                        key=lambda pair: abs(pair[0] - target))
    if abs(count - target) > tolerance * target:
        raise UserError(f"{model}: no width factor up to 16 gives {reference}'s {target:,} parameters within "
                        f"{tolerance:.0%} (closest: {count:,} at factor {factor:.3f})")
    return {"factor": round(factor, 4), "sizes": widened_sizes(sizes, factor), "n_params": count,
            "reference_n_params": target}


def matched_settings(model, overrides=None):
    """The :class:`~dmf_numpy.experiments.train_run.TrainConfig` overrides ``x_dims``,
    ``y_dims`` and ``shared_dims`` that match ``model`` to DMF's parameter count at the sizes of
    a run with ``overrides`` (default: the paper's sizes; :func:`matched_sizes`). DMF itself, the
    reference, keeps those sizes."""
    config = TrainConfig(**(overrides or {})).to_dict()
    sizes = {k: config[k] for k in ("x_dims", "y_dims", "shared_dims", "n_classes")}
    matched = sizes if model == "dmf" else matched_sizes(model, sizes)["sizes"]
    return {k: tuple(matched[k]) for k in ("x_dims", "y_dims", "shared_dims")}
