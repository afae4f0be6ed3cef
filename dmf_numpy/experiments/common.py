"""What every experiment needs: one run per output folder, mean ± std over seeds, a description
of the machine, figures written atomically, settings checked by name, and features standardized
on the training set."""

from __future__ import annotations

import functools
import os
import platform

import numpy as np

from ..files import atomic_path, run_lock


#: The colour of each term of Eq. 5, in every picture: the modality path (Eq. 2) and the shared
#: path (Eq. 7).
PATH_COLORS = {"modality": "tab:purple", "shared": "tab:orange"}
#: The colour of each backward route into a tower layer, by the level k where it crosses from the
#: shared stack into the tower (Fig. 2; :func:`dmf_numpy.core.learning_paths.crossing_routes`).
ROUTE_COLORS = {1: "tab:blue", 2: "tab:green", 3: "tab:red", 4: "tab:brown", 5: "tab:pink", 6: "tab:olive"}


def holds_output_folder(run):
    """Decorate an experiment ``run(out_dir, ...)``: before it computes anything, its output
    folder is created, checked to be writable and locked for this run alone
    (:func:`dmf_numpy.files.run_lock`); it is released when the run ends, however it ends."""
    @functools.wraps(run)
    def locked(out_dir, *args, **kwargs):
        with run_lock(out_dir, f"{run.__name__}({str(out_dir)!r})"):
            return run(out_dir, *args, **kwargs)

    return locked


def mean_std(values):
    """``(mean, std)`` of a sequence of numbers; the std with ``ddof=1``, 0 for a single value."""
    values = [float(v) for v in values]
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def machine_description():
    """One line on what ran an experiment: processor kind, cores, system, Python and NumPy."""
    return (f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}, "
            f"Python {platform.python_version()}, NumPy {np.__version__}")


def new_figure(figsize):
    """A Matplotlib figure drawn off-screen (no display needed), in constrained layout."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, path, *, dpi=100):
    """Write ``fig`` as a PNG to ``path`` atomically (never a half-written image)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)


def check_settings(settings, defaults):
    """Return ``defaults`` updated with ``settings``, or raise ValueError naming unknown keys."""
    unknown = set(settings) - set(defaults)
    if unknown:
        raise ValueError(f"settings: unknown {sorted(unknown)}; expected some of {sorted(defaults)}")
    return {**defaults, **settings}


def as_json_settings(settings):
    """``settings`` with tuples as lists, as JSON writes them."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()}


def standardize(train, *others):
    """Standardize features with the training set's statistics.

    Parameters
    ----------
    train : ndarray, (N, d)
    *others : ndarray, (M, d)

    Returns
    -------
    list of ndarray
        ``(a - mean) / std`` for ``train`` and each of ``others``, mean and std (ddof 0) taken
        per feature over ``train``; a feature constant on ``train`` is only centered.
    """
    mean, std = train.mean(axis=0), train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return [(a - mean) / std for a in (train, *others)]
