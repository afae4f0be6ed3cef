r"""The learning paths of Fig. 2, made measurable.

Fig. 2 in words
---------------
Draw DMF with L = 3 levels. Tower x stands on the left, bottom to top
h^x_1 = x, h^x_2, h^x_3; tower y on the right; between them the
shared stack s_1, s_2, s_3, each s_l wired to the two tower layers of its own
level (W^{x→s}_l, W^{y→s}_l) and to the shared layer below
(W^s_{l-1}). The softmax head sits on s_3.

*Forward* (green, yellow, blue): information from x reaches a shared layer
s_l along three kinds of path. Green climbs the tower to h^x_l and crosses into
s_l (IMF's only path, Eq. 1); yellow crosses at the bottom, x → s_1, and climbs
the shared stack (EMF's only path); blue climbs the tower to a middle level k, crosses
into s_k and climbs the shared stack from there.

*Backward* (purple, red, orange): the error leaves the head, runs down the shared stack to some
level k, crosses into the tower through (W^{x→s}_k)^T and runs down the tower
to h^x_l (so k ≥ l). Every such route is one path; in DMF a tower layer
h^x_l is reached by L - l + 1 of them, one per crossing level
k = l, ..., L. Following the text of Sec. 2.1, red is the error from the top shared
layer that crosses at k = l (the second term of Eq. 5, written out in Eq. 7); purple is
the error propagated down the modality network from the top (k = L, IMF's single path,
Eq. 2); orange runs through both a shared layer and modality layers (l < k < L). Purple
and orange together arrive through h^x_{l+1}: the first term of Eq. 5.

What this module measures
-------------------------
:func:`decompose` runs the model's own hand-written backward pass
(:meth:`~dmf_numpy.core.fusion.FusionNet.backward` with ``paths=``) and returns, for every layer,

* ``deltas[layer]``: the two terms of Eq. 5 and their sum, ``{"modality", "shared", "total"}``,
  each ``(N, size)`` or ``None`` where the path does not exist;
* ``routes[layer][k]``: the finer split of a tower layer's delta by crossing level k;
* ``norms[layer]``: their Frobenius norms over the batch and the shared path's share.

The experiment that tracks these norms while DMF and IMF learn the MNIST halves is
:func:`dmf_numpy.experiments.path_experiment.run_path_experiment`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .fusion import MODALITIES, eq2_modality_path
from .ops import sigmoid_backward, softmax_cross_entropy

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
        The forward cache of the towers, ``h[m][l]`` is h^m_l, ``(N, d^m_l)``.
    deltas : dict
        ``deltas["h_x.l"]["shared"]``, the Eq. 7 term at each fusion level, as in :func:`decompose`.

    Returns
    -------
    dict of str to dict of int to ndarray
        ``routes["h_x.l"][k]``, ``(N, d^x_l)``: what crosses from s_k into
        h^x_k (Eq. 7) and then runs down the tower to h^x_l (Eq. 2 at every
        step), for every fusion level k ≥ l.

    Notes
    -----
    The backward pass is linear in the delta, so the routes add up to the total of Eq. 5:

        ∂ε/∂h^x_l = Σ_{k ≥ l} r^x_{l,k},   r^x_{k,k} = ∂ε/∂s_k · ∂s_k/∂h^x_k,
        r^x_{l,k} = (r^x_{l+1,k} ⊙ h^x_{l+1} ⊙ (1 - h^x_{l+1})) W^x_l.

    DMF has L - l + 1 routes into h^x_l; IMF has one (k = L).
    """
    p = model.params
    routes = {f"h_{m}.{l}": {} for m in MODALITIES for l in range(1, model.tower_depth + 1)}
    for m in MODALITIES:
        for k in model.fusion_levels:
            r = deltas[f"h_{m}.{k}"]["shared"]  # Eq. 7: across from s_k into h^m_k
            routes[f"h_{m}.{k}"][k] = r
            for l in range(k, 1, -1):  # then down the tower, h^m_l -> h^m_{l-1} (Eq. 2)
                r = eq2_modality_path(p[f"W_{m}.{l - 1}"], sigmoid_backward(r, h[m][l]))
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
        path); ``shared_share``: ‖shared‖ / (‖modality‖ + ‖shared‖),
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

        ``deltas`` : dict, one entry per layer, ``"h_x.1"`` .. ``"h_x.<tower_depth>"``, ``"h_y.1"`` ..,
        then ``"s.l"`` for every shared level; each ``{"modality", "shared", "total"}`` with
        arrays ``(N, size of the layer)`` or ``None``. At a tower layer the two parts are the
        terms of Eq. 5 (modality path, Eq. 2; shared path, Eq. 7) and ``total`` is their sum,
        ∂ε/∂h^x_l; at ``h_x.1`` the total is
        ∂ε/∂x. A shared layer's delta has one source, the
        shared stack above it (Eq. 6) or the head at l = L: it is its ``shared`` part.

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
