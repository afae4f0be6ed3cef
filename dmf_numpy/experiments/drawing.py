r"""Pictures of the architecture (the paper's Fig. 1) and of its learning paths (Fig. 2), drawn
from a model object, and a picture of the fork of Eq. 5.

The paper's figures are missing from our copy, so these are drawn from what the model is:
:func:`architecture` reads a model's layers and weight blocks into nodes and arrows, and
:func:`routes` lists, for a tower layer :math:`h^m_l`, the backward routes that reach it, one per
crossing level :math:`k \ge l` (down the shared stack to :math:`s_k`, across
:math:`(W^{m\to s}_k)^T`, down the tower; see :mod:`dmf_numpy.core.learning_paths`, which
measures the gradient each one carries). Both are plain data, tested without Matplotlib;
:func:`draw` and :func:`draw_fork` turn them into PNG files.

Layout, as in Fig. 1: modality x on the left, the shared stack in the middle, modality y on the
right, level 1 at the bottom, the softmax head on top.
"""

from __future__ import annotations

from typing import NamedTuple

from ..core.fusion import MODALITIES
from .common import PATH_COLORS, ROUTE_COLORS, new_figure, save_figure


class Node(NamedTuple):
    name: str
    """``h_x.l``, ``h_y.l``, ``s.l`` or ``z`` (the head's scores)."""
    label: str
    """The paper's symbol and the layer's size, for the picture."""
    column: float
    level: float


class Arrow(NamedTuple):
    source: str
    target: str
    weight: str
    """The parameter that carries the arrow, as in ``model.params`` (``W_xs.2``, ...)."""


def architecture(model):
    """The nodes and the (forward) arrows of an EMF, IMF or DMF: ``(list of Node, list of Arrow)``."""
    column = {"x": 0.0, "y": 2.0}
    nodes, arrows = [], []
    for m in MODALITIES:
        for l in range(1, model.tower_depth + 1):
            symbol = m if l == 1 else f"h^{m}_{l}"
            nodes.append(Node(f"h_{m}.{l}", f"${symbol}$ ({model.dims[m][l - 1]})", column[m], l))
            if l > 1:
                arrows.append(Arrow(f"h_{m}.{l - 1}", f"h_{m}.{l}", f"W_{m}.{l - 1}"))
    for l in model.shared_levels:
        nodes.append(Node(f"s.{l}", f"$s_{l}$ ({model.shared_dims[l - 1]})", 1.0, l))
        if l in model.fusion_levels:
            arrows += [Arrow(f"h_{m}.{l}", f"s.{l}", f"W_{m}s.{l}") for m in MODALITIES]
        if l - 1 in model.shared_levels:
            arrows.append(Arrow(f"s.{l - 1}", f"s.{l}", f"W_s.{l - 1}"))
    nodes.append(Node("z", f"softmax ({model.n_classes})", 1.0, model.L + 1))
    arrows.append(Arrow(f"s.{model.L}", "z", "W_out"))
    return nodes, arrows


def routes(model, modality="x", level=1):
    """The backward routes into the tower layer ``h^modality_level``, one per crossing level.

    Returns
    -------
    dict of int to list of Arrow
        ``routes[k]``: the arrows the error runs along (forward arrows, walked backwards), from the
        head down the shared stack to :math:`s_k`, across into :math:`h^m_k`, down the tower to
        :math:`h^m_{level}`. DMF has one route for every fusion level :math:`k \\ge` ``level``;
        IMF and EMF have one at most (the single path of Sec. 2.1).
    """
    _, arrows = architecture(model)
    by_target = {(a.source, a.target): a for a in arrows}
    found = {}
    for k in model.fusion_levels:
        if k < level:
            continue
        path = [by_target[(f"s.{model.L}", "z")]]
        path += [by_target[(f"s.{j - 1}", f"s.{j}")] for j in range(model.L, k, -1)]
        path.append(by_target[(f"h_{modality}.{k}", f"s.{k}")])
        path += [by_target[(f"h_{modality}.{j - 1}", f"h_{modality}.{j}")] for j in range(k, level, -1)]
        found[k] = path
    return found


def draw(model, path, *, paths=False, title=None):
    """Draw the architecture of ``model`` into the PNG ``path``; with ``paths``, colour the backward
    routes into :math:`x` (the input of modality x), one colour per crossing level, with a legend."""
    nodes, arrows = architecture(model)
    where = {n.name: (n.column, n.level) for n in nodes}
    fig = new_figure((6.4, 1.55 * (model.L + 1) + 1.2))
    ax = fig.subplots()
    coloured = routes(model, "x", 1) if paths else {}
    for arrow in arrows:
        _arrow(ax, where[arrow.source], where[arrow.target], "0.55", symbol(arrow.weight))
    for k, route in coloured.items():
        offset = 0.05 * (k - (len(coloured) + 1) / 2)
        for arrow in route:  # backwards: from the target to the source
            start, end = where[arrow.target], where[arrow.source]
            _arrow(ax, (start[0] + offset, start[1]), (end[0] + offset, end[1]), ROUTE_COLORS[k], None, width=2.2)
        ax.plot([], [], color=ROUTE_COLORS[k], linewidth=2.2, label=f"route crossing at $s_{k}$")
    for n in nodes:
        ax.text(n.column, n.level, n.label, ha="center", va="center", fontsize=10, zorder=3,
                bbox={"boxstyle": "round,pad=0.35", "facecolor": "white", "edgecolor": "0.2"})
    ax.set_xlim(-0.6, 2.6)
    ax.set_ylim(0.6, model.L + 1.5)
    ax.axis("off")
    if coloured:
        ax.legend(loc="upper left", fontsize=8, title="error reaching $x$ (Eq. 5)", title_fontsize=8)
    ax.set_title(title or f"{type(model).__name__}: {model.n_params:,} parameters", fontsize=11)
    save_figure(fig, path, dpi=110)


def symbol(weight):
    """The paper's symbol of a weight name: ``W_xs.2`` -> ``$W^{x\\to s}_2$``."""
    if weight == "W_out":
        return "$W_{out}$"
    kind, level = weight[2:].split(".")
    superscript = {"xs": "x\\to s", "ys": "y\\to s"}.get(kind, kind)
    return f"$W^{{{superscript}}}_{level}$"


def _arrow(ax, start, end, color, label, width=1.2):
    shrink = 34 if start[1] == end[1] else 16  # points: clear of the (wide) boxes at both ends
    ax.annotate("", xy=end, xytext=start, zorder=1 if label else 2,
                arrowprops={"arrowstyle": "-|>", "color": color, "linewidth": width, "shrinkA": shrink,
                            "shrinkB": shrink})
    if label:
        ax.text((start[0] + end[0]) / 2, (start[1] + end[1]) / 2, label, fontsize=8, color="0.3", ha="center",
                va="center", bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5}, zorder=2)


def draw_fork(path, level=1):
    """The fork of Eq. 5 at :math:`h^x_l`: what arrives along the modality path (Eq. 2, from
    :math:`h^x_{l+1}`) and along the shared path (Eq. 7, from :math:`s_l`), and their sum."""
    fig = new_figure((6.4, 4.2))
    ax = fig.subplots()
    places = {"tower above": (0.0, 2.0), "shared": (2.0, 1.0), "fork": (0.0, 1.0)}
    texts = {"tower above": f"$h^x_{{{level + 1}}}$", "shared": f"$s_{level}$", "fork": f"$h^x_{level}$"}
    for name, (column, row) in places.items():
        ax.text(column, row, texts[name], ha="center", va="center", fontsize=13, zorder=3,
                bbox={"boxstyle": "round,pad=0.4", "facecolor": "white", "edgecolor": "0.2"})
    _arrow(ax, places["tower above"], places["fork"], PATH_COLORS["modality"], None, width=2.5)
    _arrow(ax, places["shared"], places["fork"], PATH_COLORS["shared"], None, width=2.5)
    ax.text(0.1, 1.55, "modality path (Eq. 2)\n" + rf"$\frac{{\partial\varepsilon}}{{\partial h^x_{{{level + 1}}}}}"
            rf"\frac{{\partial h^x_{{{level + 1}}}}}{{\partial h^x_{level}}}$", color=PATH_COLORS["modality"],
            fontsize=10, va="center")
    ax.text(1.0, 0.72, "shared path (Eq. 7)\n" + rf"$\frac{{\partial\varepsilon}}{{\partial s_{level}}}"
            rf"\frac{{\partial s_{level}}}{{\partial h^x_{level}}}$", color=PATH_COLORS["shared"], fontsize=10,
            ha="center", va="center")
    ax.text(0.0, 0.25, rf"Eq. 5: $\frac{{\partial\varepsilon}}{{\partial h^x_{level}}}$ = modality path + shared path"
            "\n(gradients add up at forks)", ha="center", va="center", fontsize=10)
    ax.set_xlim(-0.8, 2.6)
    ax.set_ylim(0.0, 2.4)
    ax.axis("off")
    ax.set_title("The fork of Eq. 5 in DMF (IMF has only the modality path below its top level)", fontsize=10)
    save_figure(fig, path, dpi=110)
