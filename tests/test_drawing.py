"""The pictures of the architecture and of its paths are drawn from the model: every weight block
is one arrow, and the coloured routes are those that core.learning_paths measures."""

import numpy as np
import pytest

from dmf_numpy import DMF, EMF, IMF
from dmf_numpy.cli import main
from dmf_numpy.core.learning_paths import decompose
from dmf_numpy.experiments.drawing import architecture, draw, draw_fork, routes, symbol

from conftest import SMALL

PNG = b"\x89PNG\r\n\x1a\n"


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
