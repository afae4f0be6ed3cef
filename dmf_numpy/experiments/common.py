"""What every experiment needs: one run per output folder, mean ± std over seeds, a description
of the machine, figures written atomically, settings checked by name, and features standardized
on the training set."""

from __future__ import annotations

import ctypes
import functools
import os
import platform

import numpy as np

from ..core.errors import UserError
from ..files import atomic_path, run_lock


#: The seeds Tables 2 and 3 train by default: five paired seeds, the fewest their verdicts rest on.
PAIRED_SEEDS = 5

#: The colours of the learning paths, one meaning in every picture (the drawings of
#: :mod:`dmf_numpy.experiments.drawing`, the path experiment's figure) and in the text of
#: ``derivations/``. They are the colours of the paper's Fig. 2 as we read Sec. 2.1: purple, the
#: error that comes down the modality network (the modality path, first term of Eq. 5, Eq. 2);
#: red, the error that comes across from a shared layer (the shared path, second term, Eq. 7).
PATH_COLORS = {"modality": "tab:purple", "shared": "tab:red"}
#: The paper's orange, for the routes that run through both a shared layer and tower layers
#: without being either of the two above (DMF only): one shade for each crossing level, the first
#: for the lowest (repeating after four); see :func:`route_color`.
BETWEEN_ROUTE_COLORS = ("tab:orange", "#8c4a00", "#e6b400", "#5c3000")


def route_color(crossing, level, top):
    """The colour of a backward route into the tower layer h_level: the route that leaves
    the shared stack at s_crossing (:func:`dmf_numpy.core.learning_paths.crossing_routes`)
    in a model whose top level is ``top``.

    - ``crossing == level``: the route *is* the shared path into h_level (Eq. 7), red;
    - ``crossing == top`` (above ``level``): the route down the whole tower from the top, the one
      IMF has too, in the modality path's purple;
    - in between: the paper's orange, a shade of ``BETWEEN_ROUTE_COLORS`` by ``crossing - level``.

    The routes above ``level`` (purple and orange) together make up the modality path, the first
    term of Eq. 5 (Eq. 2); the red one is its second term.
    """
    if not level <= crossing <= top:
        raise UserError(f"a route into level {level} crosses at a level from {level} to {top}, not {crossing}")
    if crossing == level:
        return PATH_COLORS["shared"]
    if crossing == top:
        return PATH_COLORS["modality"]
    return BETWEEN_ROUTE_COLORS[(crossing - level - 1) % len(BETWEEN_ROUTE_COLORS)]


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


def machine_record(threads=None):
    """What decides whether a rerun is bit for bit the same, as a dict for ``config.json``: the
    CPU model, NumPy's version, and its BLAS library with the kernel it chose for this CPU (its
    "core type") and the threads each training's matrix products use (``threads``, default what
    this process uses). Two runs agree bit for bit only on the same kernel and thread count; pin
    them with ``OPENBLAS_CORETYPE`` and ``OPENBLAS_NUM_THREADS``. Fields that cannot be read on
    this system are None."""
    blas = blas_info()
    if threads is not None:
        blas["threads"] = threads
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "system": platform.system(),
            "python": platform.python_version(), "numpy": np.__version__, "blas": blas,
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE")}


def cpu_model():
    """The CPU's model name (from ``/proc/cpuinfo`` on Linux), else Python's best guess."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or None


def blas_info():
    """NumPy's BLAS: ``library`` and ``version`` (from its build configuration), and, for an
    OpenBLAS loaded in this process, the ``kernel`` it runs and its ``threads``."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info = {"library": blas.get("name"), "version": blas.get("version")}
    except (TypeError, KeyError, AttributeError):
        info = {"library": None, "version": None}
    info.update(kernel=None, threads=None)
    library = _loaded_openblas()
    if library is not None:
        for prefix in ("scipy_openblas_", "openblas_"):
            for suffix in ("64_", ""):
                corename = getattr(library, f"{prefix}get_corename{suffix}", None)
                threads = getattr(library, f"{prefix}get_num_threads{suffix}", None)
                if corename is not None and threads is not None:
                    corename.restype = ctypes.c_char_p
                    return {**info, "kernel": corename().decode(), "threads": int(threads())}
    return info


def _loaded_openblas():
    """The OpenBLAS shared library this process has loaded (Linux: read from ``/proc/self/maps``),
    NumPy's own where SciPy has loaded another beside it; or None."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            paths = sorted({line.split()[-1] for line in f if "openblas" in line.lower() and ".so" in line},
                           key=lambda path: ("numpy" not in path, path))
        return ctypes.CDLL(paths[0]) if paths else None
    except (OSError, IndexError):
        return None


def new_figure(figsize, *, layout="constrained"):
    """A Matplotlib figure drawn off-screen (no display needed), in constrained layout unless
    ``layout`` is ``"none"`` (for a figure that places its axes itself)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, path, *, dpi=100):
    """Write ``fig`` as a PNG to ``path`` atomically (never a half-written image)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)


def check_settings(settings, defaults):
    """Return ``defaults`` updated with ``settings``, or raise UserError naming unknown keys."""
    unknown = set(settings) - set(defaults)
    if unknown:
        raise UserError(f"settings: unknown {sorted(unknown)}; expected some of {sorted(defaults)}")
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
