"""The pictures of the architecture and of its paths are drawn from the model: every weight block
is one arrow, and the coloured routes are those that core.learning_paths measures. They are made
for slides: no route on top of an arrow or of another route, no line or label over a label, no
text under 10 pt, legends that list only what the model has, and one colour per path in every
picture."""

import csv
import struct
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_rgba
from matplotlib.legend import Legend
from matplotlib.patches import FancyArrowPatch
from matplotlib.text import Text

from dmf_numpy import DMF, EMF, IMF
from dmf_numpy.cli import main
from dmf_numpy.core.learning_paths import decompose
from dmf_numpy.experiments import path_experiment
from dmf_numpy.experiments.common import PATH_COLORS, route_color
from dmf_numpy.experiments.drawing import (
    MIN_FONT_SIZE, SLIDE_WIDTH, architecture, draw, draw_fork, fork_picture, layout, picture, routes, symbol)

from helpers import SMALL

PNG = b"\x89PNG\r\n\x1a\n"
ROOT = Path(__file__).resolve().parents[1]
#: The paper's sizes (Sec. 3.1), and the same network one level deeper.
PAPER = {"x_dims": (392, 512, 128), "y_dims": (392, 512, 128), "shared_dims": (512, 256, 64), "n_classes": 10}
FOUR_LEVELS = {"x_dims": (392, 512, 256, 128), "y_dims": (392, 512, 256, 128), "shared_dims": (512, 256, 128, 64),
               "n_classes": 10}


@pytest.mark.parametrize("cls", [EMF, IMF, DMF])
def test_every_weight_block_of_the_model_is_one_arrow(cls):
    model = cls(**SMALL)
    nodes, arrows = architecture(model)
    assert sorted(a.weight for a in arrows) == sorted(k for k in model.params if k.startswith("W_"))
    names = {n.name for n in nodes}
    assert all(a.source in names and a.target in names for a in arrows)
    assert {n.name for n in nodes if n.name.startswith("s.")} == {f"s.{l}" for l in model.shared_levels}


@pytest.mark.parametrize("cls, crossings", [(DMF, [1, 2, 3]), (IMF, [3]), (EMF, [1])])
def test_the_coloured_routes_are_the_routes_whose_gradient_is_measured(cls, crossings):
    model = cls(**SMALL, dtype=np.float64)
    drawn = routes(model, "x", 1)
    assert sorted(drawn) == crossings
    rng = np.random.default_rng(0)
    measured = decompose(model, rng.uniform(size=(4, 6)), rng.uniform(size=(4, 7)), [0, 1, 2, 1]).routes["h_x.1"]
    assert sorted(measured) == crossings
    for k, route in drawn.items():  # from the head down to x: W_out first, a tower weight or W_xs.1 last
        assert route[0].weight == "W_out" and route[-1].target in ("h_x.2", "s.1")
        assert sum(a.weight == f"W_xs.{k}" for a in route) == 1  # it crosses exactly once, at s_k


def test_routes_into_a_higher_layer_cross_no_lower():
    assert sorted(routes(DMF(**SMALL), "y", 2)) == [2, 3]


def test_symbols_are_the_papers():
    assert [symbol(w) for w in ("W_xs.2", "W_ys.1", "W_s.1", "W_x.2", "W_out")] == [
        "$W^{x\\to s}_2$", "$W^{y\\to s}_1$", "$W^{s}_1$", "$W^{x}_2$", "$W_{out}$"]


@pytest.mark.slow  # 0.3 s; the fast tier has test_the_draw_command
def test_the_pictures_are_written(tmp_path):
    draw(DMF(**SMALL), tmp_path / "dmf.png", paths=True)
    draw_fork(tmp_path / "fork.png")
    assert all((tmp_path / name).read_bytes()[:8] == PNG for name in ("dmf.png", "fork.png"))


def test_the_draw_command(tmp_path, capsys):
    assert main(["draw", "--model", "imf", "--x-dims", "6", "5", "--y-dims", "7", "5", "--shared-dims", "4", "3",
                 "--classes", "3", "--paths", "--out", str(tmp_path / "imf.png")]) == 0
    assert (tmp_path / "imf.png").read_bytes()[:8] == PNG
    assert main(["draw", "--x-dims", "6", "--out", str(tmp_path / "bad.png")]) == 2
    assert "x_dims: expected 3 layer sizes" in capsys.readouterr().err and not (tmp_path / "bad.png").exists()


def test_the_draw_command_refuses_an_output_that_is_not_png(tmp_path, capsys):
    assert main(["draw", "--out", str(tmp_path / "x.txt")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out" in err and ".png" in err and not (tmp_path / "x.txt").exists()


@pytest.mark.slow  # 0.4 s; the fast tier has test_the_draw_command
def test_draw_all_writes_one_slide_wide_png_of_emf_imf_and_dmf(tmp_path):
    out = tmp_path / "all.png"
    assert main(["draw", "--model", "all", "--out", str(out)]) == 0
    data = out.read_bytes()
    width, height = struct.unpack(">II", data[16:24])  # the PNG's IHDR chunk
    assert data[:8] == PNG and abs(width - SLIDE_WIDTH * 150) <= 1 and height < width / 2
    fig = picture([EMF(**PAPER), IMF(**PAPER), DMF(**PAPER)])
    assert [ax.get_title().split(":")[0] for ax in fig.axes] == ["EMF", "IMF", "DMF"]


def _segments_overlap(a, b, tolerance=1e-9):
    """Whether two axis-parallel segments lie on one line and share a stretch of it."""
    (ax0, ay0), (ax1, ay1) = a.start, a.end
    (bx0, by0), (bx1, by1) = b.start, b.end
    if ax0 == ax1 and bx0 == bx1 and abs(ax0 - bx0) < tolerance:  # both vertical, one line
        return min(max(ay0, ay1), max(by0, by1)) - max(min(ay0, ay1), min(by0, by1)) > tolerance
    if ay0 == ay1 and by0 == by1 and abs(ay0 - by0) < tolerance:  # both across, one line
        return min(max(ax0, ax1), max(bx0, bx1)) - max(min(ax0, ax1), min(bx0, bx1)) > tolerance
    return False


@pytest.mark.parametrize("cls", [EMF, IMF, DMF])
@pytest.mark.parametrize("sizes", [PAPER, FOUR_LEVELS])
def test_no_route_is_drawn_on_a_forward_arrow_or_on_another_route(cls, sizes):
    geometry = layout(cls(**sizes), "x", 1)
    laid = [(k, segment) for k, segments in geometry.routes.items() for segment in segments]
    assert sum(len(route) for route in routes(cls(**sizes), "x", 1).values()) == len(laid) > 0
    for k, segment in laid:
        assert not any(_segments_overlap(segment, arrow) for arrow in geometry.arrows.values())
        assert not any(_segments_overlap(segment, other) for j, other in laid if j != k)
        for end in segment:  # it starts and ends at a box, inside its width or height
            assert any(abs(end[0] - box.x) < box.width / 2 and abs(end[1] - box.y) < box.height / 2 + 0.05
                       or abs(end[1] - box.y) < box.height / 2 and abs(end[0] - box.x) < box.width / 2 + 0.05
                       for box in geometry.boxes.values())


def test_a_route_runs_beside_the_arrow_it_walks_back_along():
    model = DMF(**FOUR_LEVELS)
    geometry = layout(model, "x", 1)
    for k, route in routes(model, "x", 1).items():
        for arrow, segment in zip(route, geometry.routes[k]):
            forward = geometry.arrows[arrow.weight]
            # the other way, parallel, a lane or more away
            assert np.dot(np.subtract(forward.end, forward.start), np.subtract(segment.end, segment.start)) < 0
            gap = np.abs(np.subtract(forward.start, segment.end))
            assert min(gap) < 1e-9 and 0.05 < max(gap) < 0.45


def _legend_texts(fig):
    return [t.get_text() for legend in fig.findobj(Legend) for t in [legend.get_title(), *legend.get_texts()]]


@pytest.mark.parametrize("cls, has_fork", [(EMF, False), (IMF, False), (DMF, True)])
def test_a_legend_lists_only_what_the_model_has(cls, has_fork):
    model = cls(**PAPER)
    texts = _legend_texts(picture([model], paths=True))
    assert len(texts) == 1 + len(routes(model, "x", 1))
    assert any("Eq. 5" in t or "fork" in t for t in texts) == has_fork
    assert any("shared path" in t for t in texts) == (1 in routes(model, "x", 1))
    assert _legend_texts(picture([model])) == []  # without routes, nothing to explain


def _slide_figures():
    return {"one model": picture([DMF(**FOUR_LEVELS)], paths=True),
            "side by side": picture([EMF(**FOUR_LEVELS), IMF(**FOUR_LEVELS), DMF(**FOUR_LEVELS)], paths=True),
            "fork": fork_picture()}


@pytest.mark.slow  # draws every slide figure: 0.7 s
def test_every_text_is_at_least_10_pt_and_inside_a_slide_sized_figure():
    for name, fig in _slide_figures().items():
        width, height = fig.get_size_inches()
        assert width <= SLIDE_WIDTH + 0.01 and height <= 7.5, name
        renderer = fig.canvas.get_renderer()
        fig.canvas.draw()
        texts = [t for t in fig.findobj(Text) if t.get_text() and t.get_visible()]
        assert len(texts) > 5, name
        for t in texts:
            assert t.get_fontsize() >= MIN_FONT_SIZE, (name, t.get_text())
            box = t.get_window_extent(renderer)
            assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= fig.bbox.x1 and box.y1 <= fig.bbox.y1, (name, t.get_text())


def _extents(fig, prefix):
    """The display extents of the artists whose gid starts with ``prefix``: {gid: [Bbox, ...]}."""
    renderer = fig.canvas.get_renderer()
    found = {}
    for artist in fig.findobj(lambda a: (a.get_gid() or "").startswith(prefix)):
        box = artist.get_window_extent(renderer)
        if not isinstance(artist, Text):  # a line's extent leaves out half its width
            box = box.padded(artist.get_linewidth() * fig.dpi / 72 / 2)
        found.setdefault(artist.get_gid(), []).append(box)
    return found


@pytest.mark.slow  # draws and measures every label: 0.3-0.5 s a figure
@pytest.mark.parametrize("figure", ["one model", "side by side"])
def test_weight_labels_are_clear_of_every_line_box_and_other_label_at_4_levels(figure):
    fig = _slide_figures()[figure]
    fig.canvas.draw()
    labels = [(gid, box) for gid, boxes in _extents(fig, "weight ").items() for box in boxes]
    lines = [box for prefix in ("route ", "forward ", "box ") for boxes in _extents(fig, prefix).values()
             for box in boxes]
    assert len(labels) >= 18 and len(lines) > 40  # DMF at 4 levels has 18 weight blocks
    for i, (gid, label) in enumerate(labels):
        assert not any(label.overlaps(line) for line in lines), gid
        assert not any(label.overlaps(other) for _, other in labels[i + 1:]), gid


@pytest.mark.slow  # measures every box of every figure: 0.4 s
def test_the_name_of_every_layer_fits_in_its_box():
    fig = _slide_figures()["side by side"]
    fig.canvas.draw()
    names, boxes = _extents(fig, "node "), _extents(fig, "box ")
    assert len(names) == len(boxes) > 10
    for gid, texts in names.items():
        for text, box in zip(texts, boxes["box " + gid[len("node "):]]):
            assert box.x0 < text.x0 and text.x1 < box.x1 and box.y0 < text.y0 and text.y1 < box.y1, gid


def _arrow_colors(fig, prefix):
    """The colour of each arrow whose gid starts with ``prefix``: {gid: RGBA}."""
    return {arrow.get_gid(): arrow.get_edgecolor() for arrow in fig.findobj(FancyArrowPatch)
            if arrow.get_gid().startswith(prefix)}


@pytest.mark.slow  # draws three figures: 0.3 s
def test_each_path_has_one_colour_in_the_drawing_the_fork_and_the_path_plot(monkeypatch):
    # the two terms of Eq. 5 are the routes into h_1 that cross at level 1 and at the top
    assert route_color(1, 1, 3) == PATH_COLORS["shared"] and route_color(3, 1, 3) == PATH_COLORS["modality"]
    assert len({route_color(k, 1, 4) for k in (1, 2, 3, 4)}) == 4  # at 4 levels, four colours
    model = DMF(**PAPER)
    drawn = picture([model], paths=True)
    assert _arrow_colors(drawn, "route ") == {f"route {k}": to_rgba(route_color(k, 1, 3)) for k in (1, 2, 3)}
    legend = drawn.findobj(Legend)[0]
    assert [to_rgba(h.get_color()) for h in legend.legend_handles] == [to_rgba(route_color(k, 1, 3)) for k in (1, 2, 3)]
    assert _arrow_colors(fork_picture(), "") == {f"{path} path": to_rgba(PATH_COLORS[path]) for path in PATH_COLORS}

    figures = []
    monkeypatch.setattr(path_experiment, "save_figure", lambda fig, path, dpi: figures.append(fig))
    with open(ROOT / "results" / "paths" / "paths.csv") as f:
        rows = [{key: value if key in ("model", "layer") else float(value) for key, value in row.items() if value}
                for row in csv.DictReader(f)]
    path_experiment.plot_paths(rows, "unused.png")
    plotted = {line.get_label(): to_rgba(line.get_color()) for ax in figures[0].axes for line in ax.get_lines()}
    for k in (1, 2, 3):
        assert plotted[f"DMF crossing at $s_{k}$"] == to_rgba(route_color(k, 1, 3))
    assert plotted["IMF crossing at $s_3$"] == to_rgba(PATH_COLORS["modality"])
    for path in PATH_COLORS:
        assert plotted[f"{path} path at $h^x_1$"] == to_rgba(PATH_COLORS[path])


def test_the_derivations_name_the_colours_the_pictures_use():
    """The table of colours in 04_single_path.md says what common.py's mapping does."""
    text = (ROOT / "derivations" / "04_single_path.md").read_text()
    table = text[text.index("| colour | what it shows"):].split("\n\n")[0].splitlines()[2:]
    meaning = dict(tuple(cell.strip() for cell in row.strip("|").split("|")) for row in table)
    word = {path: color.removeprefix("tab:") for path, color in PATH_COLORS.items()}
    assert len(meaning) == 3
    assert meaning[word["shared"]].startswith("the shared path")
    assert meaning[word["modality"]].startswith("the modality path")
    assert meaning[route_color(2, 1, 3).removeprefix("tab:")].startswith("a route between")
