r"""Pictures of the three fusion strategies (the paper's Fig. 1), of the backward learning routes
into a modality (Fig. 2), and of the fork of Eq. 5, drawn from model objects.

The paper's figures are missing from our copy, so these are drawn from what the model is:
:func:`architecture` reads a model's layers and weight blocks into nodes and arrows, and
:func:`routes` lists, for a tower layer h^m_l, the backward routes that reach it, one per
crossing level k ≥ l (down the shared stack to s_k, across
(W^{m→s}_k)^T, down the tower; see :mod:`dmf_numpy.core.learning_paths`, which
measures the gradient each one carries). :func:`layout` turns both into plain geometry, in data
units (one unit between two levels): the box of every node, and every forward arrow, weight label
and route segment exactly as it is drawn. It is tested without looking at pixels; :func:`picture`
draws it with Matplotlib, and :func:`draw`, :func:`draw_side_by_side` and :func:`draw_fork` write
PNG files.

Layout, as in Fig. 1: modality x on the left, the shared stack in the middle, modality y on the
right, level 1 at the bottom, the softmax head on top. The routes into a modality run in the
corridor between its tower and the shared stack, each in its own lane beside the forward arrows,
never on them; every weight label sits on the other side of its arrow, so no line crosses a
label. The colours are those of :func:`dmf_numpy.experiments.common.route_color`, the same in
every picture. The figures are sized for a slide (``UNIT_INCHES`` inches per data unit), with no
text smaller than ``MIN_FONT_SIZE`` points.
"""

from __future__ import annotations

from typing import NamedTuple

from ..core.fusion import MODALITIES
from .common import PATH_COLORS, new_figure, route_color, save_figure

#: Data units between the tower of x, the shared stack and the tower of y (one unit between levels).
COLUMN_SPACING = 1.45
#: The size of a node's box, in data units; the head's box is wider, for its word.
BOX_WIDTH, HEAD_BOX_WIDTH, BOX_HEIGHT = 0.9, 1.25, 0.36
#: Data units left free between an arrow's ends and the boxes it joins.
CLEARANCE = 0.03
#: Data units between a forward arrow and the first route beside it, and between two routes.
LANE = 0.09
#: Data units between a forward arrow and its weight label.
LABEL_GAP = 0.06
#: Inches per data unit in every picture: with the fonts below, a picture the size of a slide.
UNIT_INCHES = 1.0
#: The data units each model's panel spans across (its three columns and room for the labels),
#: and below its level 1 and above its head.
PANEL_WIDTH, PANEL_BELOW, PANEL_ABOVE = 2 * COLUMN_SPACING + 1.2, 0.45, 0.3
#: The width of the figure of one model, in inches: room for its widest legend.
MIN_SINGLE_WIDTH = 5.2
#: The smallest font in any picture, in points: readable on a projected slide.
MIN_FONT_SIZE = 10
#: The width of a slide, in inches (16:9): the side-by-side figure's width.
SLIDE_WIDTH = 13.33
#: The forward arrows: thin and grey, so that the coloured routes stand out.
FORWARD_STYLE = {"color": "0.6", "linewidth": 1.4}
#: The width of the coloured route lines, in points.
ROUTE_WIDTH = 2.2
#: The paper's names of the strategies (the caption of Fig. 1).
STRATEGIES = {"EMF": "early fusion", "IMF": "intermediate fusion", "DMF": "dense fusion"}


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


class Box(NamedTuple):
    """A node's box: its centre and size, in data units."""
    x: float
    y: float
    width: float
    height: float


class Segment(NamedTuple):
    """A straight line of the picture, in data units, drawn as an arrow from ``start`` to ``end``
    (the arrowhead's tip is at ``end``)."""
    start: tuple
    end: tuple


class Label(NamedTuple):
    """A weight label: its text, where it is anchored and how it is aligned there."""
    text: str
    x: float
    y: float
    ha: str
    va: str


class Layout(NamedTuple):
    """The geometry of one model's picture (see :func:`layout`)."""
    boxes: dict
    """Node name to its :class:`Box`."""
    arrows: dict
    """Weight name to the :class:`Segment` of its forward arrow, from the source's box to the
    target's."""
    labels: dict
    """Weight name to its :class:`Label`."""
    routes: dict
    """Crossing level ``k`` to the list of :class:`Segment` of that backward route, each beside
    one forward arrow and pointing the other way (empty without routes)."""


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
        head down the shared stack to s_k, across into h^m_k, down the tower to
        h^m_level. DMF has one route for every fusion level k ≥ ``level``;
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


def layout(model, modality="x", level=1, *, paths=True):
    """Where everything of ``model``'s picture goes, in data units: a :class:`Layout`.

    Every arrow runs straight from the edge of one box to the edge of the other. With ``paths``,
    the backward routes into ``h^modality_level`` (:func:`routes`) are laid out too: each route
    segment runs beside the forward arrow it walks back along, on the side of the corridor
    between the tower of ``modality`` and the shared stack (below, for an arrow across). Route
    ``k`` keeps lane ``k - level + 1`` beside a vertical arrow, so routes that share an arrow never
    coincide; an arrow across has one route beside it (only route ``k`` crosses at level ``k``), in
    the first lane. Every weight label goes on the other side of its arrow.
    """
    nodes, arrows = architecture(model)
    boxes = {n.name: Box(COLUMN_SPACING * n.column, float(n.level), HEAD_BOX_WIDTH if n.name == "z" else BOX_WIDTH,
                         BOX_HEIGHT) for n in nodes}
    stack_x, modality_x = COLUMN_SPACING, boxes[f"h_{modality}.1"].x

    def label_side(arrow):
        """The unit step (dx, dy) from ``arrow`` to the side where its label goes and no route runs."""
        source = boxes[arrow.source]
        if source.y == boxes[arrow.target].y:  # an arrow across, from a tower into the stack
            return 0.0, 1.0
        if source.x == stack_x:  # away from the corridor of the routes
            return (1.0 if modality_x < stack_x else -1.0), 0.0
        return (1.0 if source.x > stack_x else -1.0), 0.0  # a tower: outwards

    segments = {a.weight: between(boxes[a.source], boxes[a.target]) for a in arrows}
    labels = {}
    for a in arrows:
        (x0, y0), (x1, y1) = segments[a.weight]
        dx, dy = label_side(a)
        labels[a.weight] = Label(symbol(a.weight), (x0 + x1) / 2 + LABEL_GAP * dx, (y0 + y1) / 2 + LABEL_GAP * dy,
                                 ha={1.0: "left", -1.0: "right"}.get(dx, "center"), va="bottom" if dy else "center")
    laid = {}
    for k, route in (routes(model, modality, level) if paths else {}).items():
        laid[k] = []
        for a in route:  # walked backwards: from the arrow's target to its source
            dx, dy = label_side(a)
            lanes = 1 if dy else k - level + 1
            laid[k].append(between(boxes[a.target], boxes[a.source], shift=(-LANE * lanes * dx, -LANE * lanes * dy)))
    return Layout(boxes, segments, labels, laid)


def between(a, b, shift=(0.0, 0.0)):
    """The :class:`Segment` from box ``a`` to box ``b`` (in the same column or on the same level),
    moved sideways by ``shift``, ending ``CLEARANCE`` short of both boxes."""
    if a.x == b.x:
        sign = 1.0 if b.y > a.y else -1.0
        x = a.x + shift[0]
        return Segment((x, a.y + sign * (a.height / 2 + CLEARANCE)), (x, b.y - sign * (b.height / 2 + CLEARANCE)))
    sign = 1.0 if b.x > a.x else -1.0
    y = a.y + shift[1]
    return Segment((a.x + sign * (a.width / 2 + CLEARANCE), y), (b.x - sign * (b.width / 2 + CLEARANCE), y))


def symbol(weight):
    """The paper's symbol of a weight name: ``W_xs.2`` -> ``$W^{x\\to s}_2$``."""
    if weight == "W_out":
        return "$W_{out}$"
    kind, level = weight[2:].split(".")
    superscript = {"xs": "x\\to s", "ys": "y\\to s"}.get(kind, kind)
    return f"$W^{{{superscript}}}_{level}$"


def route_legend_entry(k, level, top):
    """The legend's words for the route into h_level that crosses at s_k, in a
    model whose top level is ``top`` (the cases of :func:`~dmf_numpy.experiments.common.route_color`)."""
    if k == level:
        return f"via $s_{k}$: the shared path (Eq. 7)"
    if k == top:
        return f"via $s_{k}$ (top), down the whole tower (Eq. 2)"
    return f"via $s_{k}$, down the tower (Eq. 2)"


def picture(models, *, paths=False):
    """A Matplotlib figure with one panel per model of ``models``, side by side, each as in Fig. 1
    (one model: a figure of its own). With ``paths``, the backward routes into x (the input
    of modality x) are drawn in the colours of :func:`~dmf_numpy.experiments.common.route_color`,
    with a legend listing the routes the model has; only a model with both paths into x
    (DMF) has its legend mention the fork of Eq. 5.

    Every panel is ``UNIT_INCHES`` inches per data unit, whatever the model, so the text always
    fits its boxes: the axes are placed by hand, between a band for the titles on top and, with
    ``paths``, one for the legends below.
    """
    tallest = max(model.L for model in models)
    bottom, top = 1 - PANEL_BELOW, tallest + 1 + PANEL_ABOVE  # data units: level 1 to the head of the tallest
    panel = (PANEL_WIDTH * UNIT_INCHES, (top - bottom) * UNIT_INCHES)  # inches
    entries = max(len(routes(model, "x", 1)) for model in models) if paths else 0
    title_band, legend_band, gap = 0.8, (0.27 * entries + 0.75 if paths else 0.15), 0.25  # inches
    width = max(len(models) * (panel[0] + gap), SLIDE_WIDTH if len(models) > 1 else MIN_SINGLE_WIDTH)
    height = title_band + panel[1] + legend_band
    fig = new_figure((width, height), layout="none")
    left = (width - len(models) * (panel[0] + gap) + gap) / 2
    for i, model in enumerate(models):
        ax = fig.add_axes(((left + i * (panel[0] + gap)) / width, legend_band / height, panel[0] / width,
                           panel[1] / height))
        ax.set_xlim(COLUMN_SPACING - PANEL_WIDTH / 2, COLUMN_SPACING + PANEL_WIDTH / 2)
        ax.set_ylim(bottom, top)
        _draw_model(ax, model, paths)
    return fig



def _draw_model(ax, model, paths):
    geometry = layout(model, "x", 1, paths=paths)
    nodes, _ = architecture(model)
    for n in nodes:
        _draw_box(ax, geometry.boxes[n.name], n.label, gid=n.name, fontsize=MIN_FONT_SIZE + 2)
    for weight, segment in geometry.arrows.items():
        _arrow(ax, segment, gid=f"forward {weight}", **FORWARD_STYLE)
        label = geometry.labels[weight]
        ax.text(label.x, label.y, label.text, ha=label.ha, va=label.va, fontsize=MIN_FONT_SIZE + 1, color="0.25",
                gid=f"weight {weight}")
    handles = []
    for k, segments in geometry.routes.items():
        color = route_color(k, 1, model.L)
        for segment in segments:
            _arrow(ax, segment, gid=f"route {k}", color=color, linewidth=ROUTE_WIDTH)
        handles.append(ax.plot([], [], color=color, linewidth=ROUTE_WIDTH, label=route_legend_entry(k, 1, model.L))[0])
    if handles:
        fork = 1 in geometry.routes and len(geometry.routes) > 1  # the shared path and the modality path
        title = "backward routes into $x$,\nadded up at the fork (Eq. 5)" if fork else "the one backward route into $x$"
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), fontsize=MIN_FONT_SIZE + 1,
                  title=title, title_fontsize=MIN_FONT_SIZE + 1, frameon=False)
    name = type(model).__name__
    ax.set_title(f"{name}: {STRATEGIES[name]}\n{model.n_params:,} parameters", fontsize=MIN_FONT_SIZE + 3)
    ax.set_aspect("equal")
    ax.axis("off")


def _draw_box(ax, box, text, *, gid, fontsize):
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((box.x - box.width / 2, box.y - box.height / 2), box.width, box.height,
                                boxstyle="round,pad=0,rounding_size=0.06", facecolor="white", edgecolor="0.2",
                                linewidth=1.2, zorder=3, gid=f"box {gid}"))
    ax.text(box.x, box.y, text, ha="center", va="center", fontsize=fontsize, zorder=4, gid=f"node {gid}")


def _arrow(ax, segment, *, gid, color, linewidth):
    from matplotlib.patches import FancyArrowPatch

    ax.add_patch(FancyArrowPatch(segment.start, segment.end, arrowstyle="-|>", mutation_scale=12, color=color,
                                 linewidth=linewidth, shrinkA=0, shrinkB=0, zorder=2, gid=gid))


def draw(model, path, *, paths=False):
    """Draw the architecture of ``model`` into the PNG ``path``; with ``paths``, its backward
    routes into x, one colour per crossing level, with a legend (see :func:`picture`)."""
    save_figure(picture([model], paths=paths), path, dpi=150)


def draw_side_by_side(models, path, *, paths=False):
    """Draw ``models`` side by side into the PNG ``path``, as in Fig. 1 (EMF, IMF, DMF); with
    ``paths``, each with its routes into x (see :func:`picture`)."""
    save_figure(picture(list(models), paths=paths), path, dpi=150)


def fork_picture(level=1):
    """The figure of :func:`draw_fork`."""
    fig = new_figure((7.5, 4.8))
    ax = fig.subplots()
    boxes = {"above": Box(0.0, 2.0, 0.5, 0.4), "shared": Box(2.4, 1.0, 0.5, 0.4), "fork": Box(0.0, 1.0, 0.5, 0.4)}
    texts = {"above": f"$h^x_{{{level + 1}}}$", "shared": f"$s_{level}$", "fork": f"$h^x_{level}$"}
    for name, box in boxes.items():
        _draw_box(ax, box, texts[name], gid=name, fontsize=MIN_FONT_SIZE + 6)
    for source, path in (("above", "modality"), ("shared", "shared")):
        _arrow(ax, between(boxes[source], boxes["fork"]), gid=f"{path} path", color=PATH_COLORS[path],
               linewidth=ROUTE_WIDTH + 0.8)
    ax.text(0.15, 1.5, "modality path (Eq. 2)\n" + rf"$\dfrac{{\partial\varepsilon}}{{\partial h^x_{{{level + 1}}}}}"
            rf"\dfrac{{\partial h^x_{{{level + 1}}}}}{{\partial h^x_{level}}}$", color=PATH_COLORS["modality"],
            fontsize=MIN_FONT_SIZE + 3, va="center")
    ax.text(1.2, 0.55, "shared path (Eq. 7)\n" + rf"$\dfrac{{\partial\varepsilon}}{{\partial s_{level}}}"
            rf"\dfrac{{\partial s_{level}}}{{\partial h^x_{level}}}$", color=PATH_COLORS["shared"],
            fontsize=MIN_FONT_SIZE + 3, ha="center", va="center")
    ax.text(1.1, -0.15, rf"Eq. 5: $\dfrac{{\partial\varepsilon}}{{\partial h^x_{level}}}$ = modality path + shared path:"
            " gradients add up at a fork.\nIMF has only the modality path below its top level, EMF only the shared path.",
            ha="center", va="center", fontsize=MIN_FONT_SIZE + 2)
    ax.set_xlim(-0.6, 2.8)
    ax.set_ylim(-0.45, 2.3)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.suptitle(f"The fork of Eq. 5 at $h^x_{level}$ (DMF)", fontsize=MIN_FONT_SIZE + 4)
    return fig


def draw_fork(path, level=1):
    """The fork of Eq. 5 at h^x_l, into the PNG ``path``: what arrives along the modality
    path (Eq. 2, from h^x_{l+1}) and along the shared path (Eq. 7, from s_l), in
    their colours (:data:`~dmf_numpy.experiments.common.PATH_COLORS`), and their sum."""
    save_figure(fork_picture(level), path, dpi=150)
