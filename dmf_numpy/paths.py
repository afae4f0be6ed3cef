r"""The learning paths of Fig. 2, made measurable.

Fig. 2 in words
---------------
Draw DMF with :math:`L = 3` levels. Tower :math:`x` stands on the left, bottom to top
:math:`h^x_1 = x`, :math:`h^x_2`, :math:`h^x_3`; tower :math:`y` on the right; between them the
shared stack :math:`s_1, s_2, s_3`, each :math:`s_l` wired to the two tower layers of its own
level (:math:`W^{x\to s}_l`, :math:`W^{y\to s}_l`) and to the shared layer below
(:math:`W^s_{l-1}`). The softmax head sits on :math:`s_3`.

*Forward* (green, yellow, blue): information from :math:`x` reaches a shared layer
:math:`s_l` along three kinds of path. Green climbs the tower to :math:`h^x_l` and crosses into
:math:`s_l` (IMF's only path, Eq. 1); yellow crosses at the bottom, :math:`x \to s_1`, and climbs
the shared stack (EMF's only path); blue climbs the tower to a middle level :math:`k`, crosses
into :math:`s_k` and climbs the shared stack from there.

*Backward* (purple, red, orange): the error leaves the head, runs down the shared stack to some
level :math:`k`, crosses into the tower through :math:`(W^{x\to s}_k)^T` and runs down the tower
to :math:`h^x_l` (so :math:`k \ge l`). Every such route is one path; in DMF a tower layer
:math:`h^x_l` is reached by :math:`L - l + 1` of them, one per crossing level
:math:`k = l, \dots, L`. Following the text of Sec. 2.1, red is the error from the top shared
layer that crosses at :math:`k = l` (the second term of Eq. 5, written out in Eq. 7); purple is
the error propagated down the modality network from the top (:math:`k = L`, IMF's single path,
Eq. 2); orange runs through both a shared layer and modality layers (:math:`l < k < L`). Purple
and orange together arrive through :math:`h^x_{l+1}`: the first term of Eq. 5.

What this module measures
-------------------------
:func:`decompose` runs the model's own hand-written backward pass
(:meth:`~dmf_numpy.model.FusionNet.backward` with ``paths=``) and returns, for every layer,

* ``deltas[layer]``: the two terms of Eq. 5 and their sum, ``{"modality", "shared", "total"}``,
  each ``(N, size)`` or ``None`` where the path does not exist;
* ``routes[layer][k]``: the finer split of a tower layer's delta by crossing level :math:`k`;
* ``norms[layer]``: their Frobenius norms over the batch and the shared path's share.

:func:`run_path_experiment` trains DMF and IMF on the MNIST halves and tracks these norms on a
fixed probe batch, epoch by epoch, into ``paths.csv`` and ``paths.png``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .data import load_halves
from .files import atomic_path, write_csv
from .model import MODALITIES, eq2_modality_path
from .ops import sigmoid_backward, softmax_cross_entropy
from .train import TrainConfig, build, train_epoch

#: The models the path experiment compares (the two of Fig. 4).
EXPERIMENT_MODELS = ("dmf", "imf")
#: The two terms of Eq. 5 and their sum, the keys of every ``deltas[layer]``.
PARTS = ("modality", "shared", "total")


class PathDecomposition(NamedTuple):
    """What :func:`decompose` returns (see there)."""

    loss: float
    deltas: dict
    routes: dict
    norms: dict


def crossing_routes(model, h, deltas):
    r"""Split the delta at every tower layer by the level where its route left the shared stack.

    Parameters
    ----------
    model : FusionNet
    h : dict
        The forward cache of the towers, ``h[m][l]`` is :math:`h^m_l`, ``(N, d^m_l)``.
    deltas : dict
        ``deltas["h_x.l"]["shared"]``, the Eq. 7 term at each fusion level, as in :func:`decompose`.

    Returns
    -------
    dict of str to dict of int to ndarray
        ``routes["h_x.l"][k]``, ``(N, d^x_l)``: what crosses from :math:`s_k` into
        :math:`h^x_k` (Eq. 7) and then runs down the tower to :math:`h^x_l` (Eq. 2 at every
        step), for every fusion level :math:`k \ge l`.

    Notes
    -----
    The backward pass is linear in the delta, so the routes add up to the total of Eq. 5:

    .. math:: \frac{\partial\varepsilon}{\partial h^x_l} = \sum_{k \ge l} r^x_{l,k}, \qquad
              r^x_{k,k} = \frac{\partial\varepsilon}{\partial s_k}\frac{\partial s_k}{\partial h^x_k},
              \qquad r^x_{l,k} = \big(r^x_{l+1,k} \odot h^x_{l+1} \odot (1 - h^x_{l+1})\big) W^x_l.

    DMF has :math:`L - l + 1` routes into :math:`h^x_l`; IMF has one (:math:`k = L`).
    """
    p = model.params
    routes = {f"h_{m}.{l}": {} for m in MODALITIES for l in range(1, model.tower_depth + 1)}
    for m in MODALITIES:
        for k in model.fusion_levels:
            r = deltas[f"h_{m}.{k}"]["shared"]  # Eq. 7: across from s_k into h^m_k
            routes[f"h_{m}.{k}"][k] = r
            for l in range(k, 1, -1):  # then down the tower, h^m_l -> h^m_{l-1} (Eq. 2)
                r = eq2_modality_path(sigmoid_backward(r, h[m][l]), p[f"W_{m}.{l - 1}"])
                routes[f"h_{m}.{l - 1}"][k] = r
    return routes


def path_norms(delta, routes=None):
    r"""Summary numbers of one layer's delta.

    Parameters
    ----------
    delta : dict
        ``{"modality": (N, d) or None, "shared": (N, d) or None, "total": (N, d)}``.
    routes : dict of int to ndarray (N, d), optional
        The split by crossing level, see :func:`crossing_routes`.

    Returns
    -------
    dict of str to float
        ``modality``, ``shared``, ``total``: Frobenius norms over the batch (0 for an absent
        path); ``shared_share``: :math:`\|\text{shared}\| / (\|\text{modality}\| + \|\text{shared}\|)`,
        0 with only the modality path, 1 with only the shared path; ``cosine``: the cosine
        between the two terms (NaN unless both exist), +1 when they pull the same way and -1
        when they cancel; ``route_k``: the norm of each route.
    """
    norms = {part: 0.0 if delta[part] is None else float(np.linalg.norm(delta[part])) for part in PARTS}
    both = norms["modality"] + norms["shared"]
    norms["shared_share"] = norms["shared"] / both if both > 0 else math.nan
    if norms["modality"] > 0 and norms["shared"] > 0:
        inner = float(np.vdot(delta["modality"], delta["shared"]))
        norms["cosine"] = inner / (norms["modality"] * norms["shared"])
    else:
        norms["cosine"] = math.nan
    for k, r in sorted((routes or {}).items()):
        norms[f"route_{k}"] = float(np.linalg.norm(r))
    return norms


def decompose(model, x, y, labels):
    r"""The gradient arriving at every layer, split by the path it came along.

    Parameters
    ----------
    model : FusionNet
        Any of EMF, IMF, DMF; its dtype is used (float64 for exact comparisons).
    x : array_like, (N, d^x_1)
    y : array_like, (N, d^y_1)
    labels : array_like of int, (N,)

    Returns
    -------
    PathDecomposition
        ``loss`` : float, the mean cross-entropy of the batch.

        ``deltas`` : dict, one entry per layer, ``"h_x.1"`` .. ``"h_x.T"``, ``"h_y.1"`` ..,
        then ``"s.l"`` for every shared level; each ``{"modality", "shared", "total"}`` with
        arrays ``(N, size of the layer)`` or ``None``. At a tower layer the two parts are the
        terms of Eq. 5 (modality path, Eq. 2; shared path, Eq. 7) and ``total`` is their sum,
        :math:`\partial\varepsilon/\partial h^x_l`; at ``h_x.1`` the total is
        :math:`\partial\varepsilon/\partial x`. A shared layer's delta has one source, the
        shared stack above it (Eq. 6) or the head at :math:`l = L`: it is its ``shared`` part.

        ``routes`` : dict, ``routes["h_x.l"][k]`` for tower layers, see :func:`crossing_routes`.

        ``norms`` : dict, ``norms[layer]`` from :func:`path_norms`.
    """
    x, y, labels = model.check_inputs(x, y, labels)
    scores, (h, s) = model.forward(x, y)
    loss, d_scores = softmax_cross_entropy(scores, labels)
    paths = {}
    model.backward(d_scores, (h, s), paths=paths)
    deltas = {f"h_{m}.{l}": paths[f"h_{m}.{l}"] for m in MODALITIES for l in range(1, model.tower_depth + 1)}
    deltas.update({f"s.{l}": paths[f"s.{l}"] for l in model.shared_levels})
    routes = crossing_routes(model, h, deltas)
    norms = {layer: path_norms(delta, routes.get(layer)) for layer, delta in deltas.items()}
    return PathDecomposition(loss, deltas, routes, norms)


# --------------------------------------------------------------------------------------------
# The path experiment: how much gradient each path carries while DMF and IMF learn.
# --------------------------------------------------------------------------------------------


def run_path_experiment(out_dir, *, damage=0.5, epochs=3, subset=None, seed=0, n_probe=500,
                        data_dir=None, data=None, log=print):
    """Train DMF and IMF on the MNIST halves and measure, after every epoch, how much gradient
    reaches each layer along each path.

    Both models use the defaults of :class:`~dmf_numpy.train.TrainConfig` (the paper's sizes,
    Adam, batch 100, learning rate decay 0.9 per epoch). Before training (epoch 0) and after
    every epoch, :func:`decompose` is applied to a fixed probe batch, the first ``n_probe``
    validation samples with their damaged right halves, and one CSV row per layer is recorded.

    Parameters
    ----------
    out_dir : str or Path
        Folder for ``paths.csv`` and ``paths.png`` (written atomically).
    damage : float in [0, 1)
        Fraction of right-half pixels zeroed (the :math:`y` modality).
    epochs : int
    subset : int, optional
        Use only this many samples of each split.
    seed : int
        Seeds initialization, damage, split and shuffling.
    n_probe : int
        Size of the probe batch.
    data_dir : str or Path, optional
        Where MNIST is; see :func:`dmf_numpy.data.load_mnist`.
    data : MNISTHalves, optional
        Already loaded data (skips loading; it should match ``damage``, ``seed`` and ``subset``).
    log : callable
        Receives one progress line per model and epoch.

    Returns
    -------
    list of dict
        The rows of ``paths.csv``: ``model``, ``epoch``, ``probe_loss``, ``layer`` and the
        keys of :func:`path_norms`.
    """
    if data is None:
        data = load_halves(data_dir, damage_p=damage, seed=seed, subset=subset)
    probe = tuple(a[:n_probe] for a in data.val)
    rows = []
    for name in EXPERIMENT_MODELS:
        config = TrainConfig(model=name, damage=damage, epochs=epochs, seed=seed, subset=subset)
        model, optimizer = build(config)
        rng = np.random.default_rng([seed, 2])  # the shuffling stream of train.fit
        for epoch in range(epochs + 1):  # epoch 0 measures the initial weights
            if epoch:
                train_loss = train_epoch(model, optimizer, data.train, config, epoch - 1, rng)
            trained = f"train loss {train_loss:.4f}" if epoch else "initial weights"
            result = decompose(model, *probe)
            rows += [{"model": name, "epoch": epoch, "probe_loss": result.loss, "layer": layer, **norms}
                     for layer, norms in result.norms.items()]
            shares = ", ".join(f"{layer} {norms['shared_share']:.2f}" for layer, norms in result.norms.items()
                               if layer.startswith("h_"))
            log(f"[{name}] epoch {epoch}/{epochs}  {trained}  probe loss {result.loss:.4f}  "
                f"shared-path share: {shares}")
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
    3. the share of each route (crossing level k) in the delta at the input layer :math:`h_1`;
    4. the norm of the total delta at each tower layer;
    5. the norm of each of the two terms of Eq. 5 in DMF, the modality path (solid) and the
       shared path (dotted), at each tower layer below the top.

    In rows 1-4 DMF is drawn solid, IMF dashed; the colour is the layer (rows 1, 2, 4, 5) or
    the route (row 3).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    levels = sorted({int(r["layer"].split(".")[1]) for r in rows if r["layer"].startswith("h_x.")})
    fig = Figure(figsize=(11, 16), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(5, len(MODALITIES), sharex=True)
    for col, m in enumerate(MODALITIES):
        for model in dict.fromkeys(r["model"] for r in rows):
            style = {"linestyle": "-" if model == "dmf" else "--", "marker": "."}
            for l in levels:
                epochs, columns = _history(rows, model, f"h_{m}.{l}")
                label = f"{model.upper()} $h^{m}_{l}$"
                axes[3, col].plot(epochs, columns["total"], color=f"C{l - 1}", label=label, **style)
                if l < levels[-1]:
                    axes[0, col].plot(epochs, columns["shared_share"], color=f"C{l - 1}", label=label, **style)
                if model == "dmf" and l < levels[-1]:
                    axes[1, col].plot(epochs, columns["cosine"], color=f"C{l - 1}", label=label, **style)
                    for term, linestyle in (("modality", "-"), ("shared", ":")):
                        axes[4, col].plot(epochs, columns[term], color=f"C{l - 1}", linestyle=linestyle,
                                          marker=".", label=f"{term} path at $h^{m}_{l}$")
            epochs, columns = _history(rows, model, f"h_{m}.1")
            routes = {int(key[len("route_"):]): v for key, v in columns.items() if key.startswith("route_")}
            route_sum = sum(routes.values())
            for k, r in routes.items():
                axes[2, col].plot(epochs, r / route_sum, color=f"C{k - 1}",
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
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
