r"""The learning paths of Fig. 2, measured while DMF and IMF learn the MNIST halves.

:func:`dmf_numpy.core.learning_paths.decompose` splits the gradient that reaches every tower
layer into the two terms of Eq. 5 (and the routes by crossing level); this experiment tracks
their norms on a fixed probe batch, epoch by epoch, into ``paths.csv`` and ``paths.png``.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from ..core.checks import check_positive_int
from ..core.fusion import MODALITIES, build_model
from ..core.learning_paths import decompose
from ..datasets.halves import load_halves
from ..files import write_csv
from ..training.loop import fit
from .common import PATH_COLORS, holds_output_folder, new_figure, route_color, save_figure
from .train_run import TrainConfig

#: The models the path experiment compares (the two of Fig. 4).
EXPERIMENT_MODELS = ("dmf", "imf")
#: The marker of each tower level in the row that colours by path.
LAYER_MARKERS = {1: "o", 2: "s", 3: "^", 4: "v", 5: "D", 6: "x"}


@holds_output_folder
def run_path_experiment(out_dir, *, damage=0.5, epochs=3, subset=None, seed=0, n_probe=500,
                        data_dir=None, data=None, log=print):
    """Train DMF and IMF on the MNIST halves and measure, after every epoch, how much gradient
    reaches each layer along each path.

    Both models use the defaults of :class:`~dmf_numpy.experiments.train_run.TrainConfig` (the
    paper's sizes, Adam, batch 100, learning rate decay 0.9 per epoch) and are trained by
    :func:`~dmf_numpy.training.loop.fit`. Before training (epoch 0) and after every epoch,
    :func:`~dmf_numpy.core.learning_paths.decompose` is applied to a fixed probe batch, the first
    ``n_probe`` validation samples with their damaged right halves, and one CSV row per layer is
    recorded.

    Parameters
    ----------
    out_dir : str or Path
        Folder for ``paths.csv`` and ``paths.png`` (written atomically).
    damage : float in [0, 1)
        Fraction of right-half pixels zeroed (the y modality).
    epochs : int
    subset : int, optional
        Use only this many samples of each split.
    seed : int
        Seeds initialization, damage, split and shuffling.
    n_probe : int
        Size of the probe batch.
    data_dir : str or Path, optional
        Where MNIST is; see :func:`dmf_numpy.datasets.mnist.load_mnist`.
    data : Splits, optional
        Already loaded data (skips loading; it should match ``damage``, ``seed`` and ``subset``).
    log : callable
        Receives progress lines per model and epoch.

    Returns
    -------
    list of dict
        The rows of ``paths.csv``: ``model``, ``epoch``, ``probe_loss``, ``layer`` and the
        keys of :func:`~dmf_numpy.core.learning_paths.path_norms`.
    """
    epochs = check_positive_int("epochs", epochs)
    if data is None:
        data = load_halves(data_dir, damage_p=damage, seed=seed, subset=subset)
    probe = tuple(a[:n_probe] for a in data.val)
    rows = []
    for name in EXPERIMENT_MODELS:
        config = TrainConfig(model=name, damage=damage, epochs=epochs, seed=seed, subset=subset)
        model = build_model(config.to_dict())
        epoch_numbers = itertools.count()  # 0: the initial weights, then one per trained epoch

        def measure(model):
            epoch, result = next(epoch_numbers), decompose(model, *probe)
            rows.extend({"model": config.model, "epoch": epoch, "probe_loss": result.loss, "layer": layer,
                         **norms} for layer, norms in result.norms.items())
            shares = {layer: norms["shared_share"] for layer, norms in result.norms.items() if layer.startswith("h_")}
            return {"probe_loss": result.loss, "shared_path_share": shares}

        initial = measure(model)
        log(f"[{config.model}] epoch 0/{epochs}  initial weights  probe loss {initial['probe_loss']:.4f}  "
            "shared-path share: " + ", ".join(f"{k} {v:.2f}" for k, v in initial["shared_path_share"].items()))
        fit(model, *data.train, epochs=epochs, batch_size=config.batch_size, optimizer=config.optimizer,
            lr=config.lr, lr_decay=config.lr_decay, seed=seed, metrics=measure,
            log=lambda line: log(f"[{config.model}] {line}"))
    out_dir = Path(out_dir)
    fieldnames = list(dict.fromkeys(key for row in rows for key in row))
    write_csv(out_dir / "paths.csv", rows, fieldnames)
    plot_paths(rows, out_dir / "paths.png",
               title=f"right half {damage:.0%} damaged, {len(data.train[2])} training samples, "
                     f"probe batch of {len(probe[2])} validation samples, seed {seed}")
    log(f"wrote {out_dir / 'paths.csv'} and {out_dir / 'paths.png'}")
    return rows


def _history(rows, model, layer):
    """The rows of one model and layer in epoch order: ``(epochs (E,), {column: values (E,)})``."""
    picked = sorted((r for r in rows if r["model"] == model and r["layer"] == layer), key=lambda r: r["epoch"])
    columns = {key: np.array([r[key] for r in picked], dtype=float) for key in picked[0]
               if key not in ("model", "layer")}
    return columns.pop("epoch"), columns


def plot_paths(rows, path, title=""):
    """The figure of :func:`run_path_experiment`: one column per modality, five rows.

    1. the shared path's share of Eq. 5 at each tower layer below the top;
    2. the cosine between the two terms of Eq. 5 there (DMF only: IMF has one term);
    3. the share of each route (crossing level k) in the delta at the input layer h_1;
    4. the norm of the total delta at each tower layer;
    5. the norm of each of the two terms of Eq. 5 in DMF, the modality path and the shared path
       (told apart by colour), at each tower layer below the top.

    In rows 1-4 DMF is drawn solid, IMF dashed. Colours mean what they mean in the pictures of
    :mod:`dmf_numpy.experiments.drawing`: a route has the colour
    :func:`~dmf_numpy.experiments.common.route_color` gives it (row 3: the shared path red, the
    route from the top purple, those between orange), and each term of Eq. 5 its path's colour
    (row 5, ``PATH_COLORS``: modality purple, shared red; the marker tells the layers apart); rows
    1, 2 and 4 are about a layer, not a path, and go from light to dark grey with the level.
    """
    from matplotlib.ticker import MaxNLocator

    levels = sorted({int(r["layer"].split(".")[1]) for r in rows if r["layer"].startswith("h_x.")})
    fig = new_figure((11, 16))
    axes = fig.subplots(5, len(MODALITIES), sharex=True)
    for col, m in enumerate(MODALITIES):
        for model in dict.fromkeys(r["model"] for r in rows):
            style = {"linestyle": "-" if model == "dmf" else "--", "marker": "."}
            for l in levels:
                epochs, columns = _history(rows, model, f"h_{m}.{l}")
                label, grey = f"{model.upper()} $h^{m}_{l}$", str(0.65 - 0.55 * (l - 1) / max(1, levels[-1] - 1))
                axes[3, col].plot(epochs, columns["total"], color=grey, label=label, **style)
                if l < levels[-1]:
                    axes[0, col].plot(epochs, columns["shared_share"], color=grey, label=label, **style)
                if model == "dmf" and l < levels[-1]:
                    axes[1, col].plot(epochs, columns["cosine"], color=grey, label=label, **style)
                    for term in ("modality", "shared"):
                        axes[4, col].plot(epochs, columns[term], color=PATH_COLORS[term], marker=LAYER_MARKERS[l],
                                          label=f"{term} path at $h^{m}_{l}$")
            epochs, columns = _history(rows, model, f"h_{m}.1")
            routes = {int(key[len("route_"):]): v for key, v in columns.items() if key.startswith("route_")}
            route_sum = sum(routes.values())
            for k, r in routes.items():
                axes[2, col].plot(epochs, r / route_sum, color=route_color(k, 1, levels[-1]),
                                  label=f"{model.upper()} crossing at $s_{k}$", **style)
        half = "left half" if m == "x" else "right half (damaged)"
        axes[0, col].set_title(f"modality {m}: {half}")
        axes[0, col].set_ylabel(f"shared path's share of Eq. 5 at $h^{m}_l$")
        axes[1, col].set_ylabel("cosine(modality path, shared path)")
        axes[2, col].set_ylabel(f"share of each route into $h^{m}_1$")
        axes[3, col].set_ylabel(rf"$\|\partial\varepsilon/\partial h^{m}_l\|$ on the probe batch")
        axes[4, col].set_ylabel(f"norm of each term of Eq. 5 at $h^{m}_l$ (DMF)")
        for ax in axes[3:, col]:
            ax.set_yscale("log")
        axes[4, col].set_xlabel("epoch")
        axes[4, col].xaxis.set_major_locator(MaxNLocator(integer=True))
        for ax in axes[[0, 2], col]:
            ax.set_ylim(-0.05, 1.05)
        axes[1, col].set_ylim(-1.05, 1.05)
        for ax in axes[:, col]:
            ax.legend(fontsize="x-small", ncol=2)
    fig.suptitle(f"Learning paths of Fig. 2, measured: DMF (solid) vs IMF (dashed)\n{title}")
    save_figure(fig, path, dpi=100)
