"""Path analysis (dmf_numpy.core.learning_paths): every path's contribution is checked against finite
differences of the loss along that path alone, and the single path of IMF and EMF is shown."""

import csv

import numpy as np
import pytest

import dmf_numpy.core.fusion as model_module
from dmf_numpy import DMF, EMF, IMF
from dmf_numpy.datasets.arrays import Splits
from dmf_numpy.core.learning_paths import decompose, path_norms
from dmf_numpy.experiments.path_experiment import EXPERIMENT_MODELS, run_path_experiment

from helpers import MODEL_CLASSES, SMALL

SIGMOID_LAYER = model_module._sigmoid_layer  # the unpatched layer, wrapped by nudged_loss


def centered_difference(loss, shape, step=5e-3):
    """d loss(v) / dv at v = 0, for v of ``shape``, one entry at a time, with the fourth-order
    centered stencil of :mod:`dmf_numpy.core.gradcheck`."""
    grad = np.empty(shape)
    for i in np.ndindex(*shape):
        at = {}
        for k in (-2, -1, 1, 2):
            v = np.zeros(shape)
            v[i] = k * step
            at[k] = loss(v)
        grad[i] = (8 * (at[1] - at[-1]) - (at[2] - at[-2])) / (12 * step)
    return grad


def nudged_loss(monkeypatch, model, batch, targets):
    """The model's loss as a function of a nudge ``v`` added at ``targets`` inside its forward pass.

    A target weight (e.g. ``params["W_xs.2"]``) nudges one *edge*: ``v`` is added to the input of
    that weight only, ``h^x_2`` as seen by ``s_2``. A target bias (e.g. ``params["b_x.1"]``) nudges
    a *node*: ``v`` is added to the output of the layer it belongs to, ``h^x_2`` as seen by all.
    The returned function is valid until the next call (each call patches the model's layer anew).
    """
    nudge = {}

    def layer(terms, b):
        terms = [(a + nudge["v"] if any(W is t for t in targets) else a, W) for a, W in terms]
        out = SIGMOID_LAYER(terms, b)
        return out + nudge["v"] if any(b is t for t in targets) else out

    monkeypatch.setattr(model_module, "_sigmoid_layer", layer)

    def loss(v):
        nudge["v"] = v
        return model.loss(*batch)
    return loss


def assert_matches(analytic, numeric):
    np.testing.assert_allclose(analytic, numeric, rtol=1e-7, atol=1e-12)


def tower_layers(model):
    return [(m, l) for m in "xy" for l in range(1, model.tower_depth + 1)]


@pytest.mark.parametrize("cls", MODEL_CLASSES, ids=lambda c: c.name)
def test_the_paths_add_up_to_the_total_at_every_layer(cls, batch):
    model = cls(**SMALL, seed=1, dtype=np.float64)
    result = decompose(model, *batch)
    expected = {f"h_{m}.{l}" for m, l in tower_layers(model)} | {f"s.{l}" for l in model.shared_levels}
    assert set(result.deltas) == expected
    for layer, delta in result.deltas.items():
        parts = [delta[p] for p in ("modality", "shared") if delta[p] is not None]
        np.testing.assert_allclose(sum(parts), delta["total"], rtol=1e-15, atol=0)
        if layer.startswith("h_"):  # the finer split by crossing level adds up too
            np.testing.assert_allclose(sum(result.routes[layer].values()), delta["total"],
                                       rtol=1e-12, atol=1e-18)


@pytest.mark.parametrize("cls", MODEL_CLASSES, ids=lambda c: c.name)
def test_total_equals_finite_differences_at_inputs_hidden_and_shared_layers(cls, batch, monkeypatch):
    model = cls(**SMALL, seed=2, dtype=np.float64)
    x, y, labels = batch
    result = decompose(model, *batch)
    np.testing.assert_allclose(result.loss, model.loss(*batch), rtol=1e-15)
    # The inputs, through the public API only.
    d_x = centered_difference(lambda v: model.loss(x + v, y, labels), x.shape)
    d_y = centered_difference(lambda v: model.loss(x, y + v, labels), y.shape)
    assert_matches(result.deltas["h_x.1"]["total"], d_x)
    assert_matches(result.deltas["h_y.1"]["total"], d_y)
    # Hidden tower layers h^m_l (bias b^m_{l-1}) and shared layers s_l (bias b^s_l), nudged as nodes.
    nodes = {f"h_{m}.{l}": f"b_{m}.{l - 1}" for m, l in tower_layers(model) if l > 1}
    nodes.update({f"s.{l}": f"b_s.{l}" for l in model.shared_levels})
    for layer, bias in nodes.items():
        delta = result.deltas[layer]["total"]
        loss = nudged_loss(monkeypatch, model, batch, [model.params[bias]])
        assert_matches(delta, centered_difference(loss, delta.shape))


@pytest.mark.parametrize("cls", [DMF, IMF], ids=lambda c: c.name)
def test_each_term_of_eq_5_is_the_derivative_along_its_own_edge(cls, batch, monkeypatch):
    """Modality path: nudge h^m_l only where h^m_{l+1} reads it (W^m_l); shared path: only where
    s_l reads it (W^{m->s}_l); the total: both edges at once."""
    model = cls(**SMALL, seed=3, dtype=np.float64)
    p = model.params
    result = decompose(model, *batch)
    for m, l in tower_layers(model):
        delta = result.deltas[f"h_{m}.{l}"]
        edges = {"modality": p.get(f"W_{m}.{l}"), "shared": p.get(f"W_{m}s.{l}")}
        for part, W in edges.items():
            assert (delta[part] is None) == (W is None), (m, l, part)
            if W is not None:
                numeric = centered_difference(nudged_loss(monkeypatch, model, batch, [W]), delta[part].shape)
                assert_matches(delta[part], numeric)
        both = [W for W in edges.values() if W is not None]
        assert_matches(delta["total"], centered_difference(nudged_loss(monkeypatch, model, batch, both),
                                                           delta["total"].shape))


@pytest.mark.parametrize("cls", MODEL_CLASSES, ids=lambda c: c.name)
def test_eq_6_delta_at_every_shared_layer_comes_along_the_shared_stack_alone(cls, batch, monkeypatch):
    """s_l feeds only s_{l+1} (or the head): nudging that one edge gives the whole delta."""
    model = cls(**SMALL, seed=4, dtype=np.float64)
    result = decompose(model, *batch)
    for l in model.shared_levels[:-1]:
        delta = result.deltas[f"s.{l}"]
        assert delta["modality"] is None and delta["shared"] is delta["total"]
        loss = nudged_loss(monkeypatch, model, batch, [model.params[f"W_s.{l}"]])
        assert_matches(delta["total"], centered_difference(loss, delta["total"].shape))


def test_eqs_2_7_and_8_in_the_papers_column_orientation_match_the_row_major_code(batch):
    """The corrected Eqs. 2, 7 and 8 of derivations/03_backward.md, evaluated as the paper writes
    them: one column per sample, W acting from the left, transposes where the paper puts them."""
    model = DMF(**SMALL, seed=5, dtype=np.float64)
    p = model.params
    x, y, labels = batch
    result = decompose(model, *batch)
    scores, (h, s) = model.forward(x, y)
    softmax = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    d_z = (softmax - np.eye(3)[labels]).T / len(labels)  # (C, N): one column per sample
    d_s = p["W_out"].T @ d_z  # d eps / d s_L
    for l in range(model.L, 0, -1):
        g = d_s * s[l].T * (1 - s[l].T)  # d eps / d M_l, elementwise
        np.testing.assert_allclose(result.deltas[f"s.{l}"]["total"], d_s.T, rtol=1e-12)
        for m in "xy":  # Eq. 7: (W^{m->s}_l)^T (d eps/d s_l * f(M_l)(1 - f(M_l)))
            eq7 = p[f"W_{m}s.{l}"].T @ g
            np.testing.assert_allclose(result.deltas[f"h_{m}.{l}"]["shared"], eq7.T, rtol=1e-12)
        if l > 1:  # Eq. 6 with Eq. 8: d eps/d s_{l-1} = (W^s_{l-1})^T (d eps/d s_l * f(M_l)(1 - f(M_l)))
            d_s = p[f"W_s.{l - 1}"].T @ g
    for m, l in tower_layers(model):
        if l < model.L:  # Eq. 2: (W^m_l)^T (d eps/d h^m_{l+1} * h^m_{l+1} (1 - h^m_{l+1}))
            d_h = result.deltas[f"h_{m}.{l + 1}"]["total"].T
            g = d_h * h[m][l + 1].T * (1 - h[m][l + 1].T)
            eq2 = p[f"W_{m}.{l}"].T @ g
            np.testing.assert_allclose(result.deltas[f"h_{m}.{l}"]["modality"], eq2.T, rtol=1e-12)


def test_imf_has_only_the_eq_2_modality_path_below_the_top(batch):
    model = IMF(**SMALL, seed=6, dtype=np.float64)
    result = decompose(model, *batch)
    L = model.L
    assert [k for k in result.deltas if k.startswith("s.")] == [f"s.{L}"]
    for m in "xy":
        for l in range(1, L):
            delta = result.deltas[f"h_{m}.{l}"]
            assert delta["shared"] is None and delta["modality"] is delta["total"]
            assert result.norms[f"h_{m}.{l}"]["shared_share"] == 0.0
            assert list(result.routes[f"h_{m}.{l}"]) == [L]  # everything crossed over at the top
        top = result.deltas[f"h_{m}.{L}"]
        assert top["modality"] is None and top["shared"] is top["total"]  # Eq. 1's backward pass


def test_emf_has_no_modality_path(batch):
    model = EMF(**SMALL, seed=6, dtype=np.float64)
    result = decompose(model, *batch)
    assert [k for k in result.deltas if k.startswith("h_")] == ["h_x.1", "h_y.1"]  # no towers
    for m in "xy":
        delta = result.deltas[f"h_{m}.1"]
        assert delta["modality"] is None and delta["shared"] is delta["total"]
        assert list(result.routes[f"h_{m}.1"]) == [1]


def test_dmf_tower_layer_l_is_reached_by_L_minus_l_plus_1_routes_all_carrying_gradient(batch):
    model = DMF(**SMALL, seed=7, dtype=np.float64)
    result = decompose(model, *batch)
    for m, l in tower_layers(model):
        assert sorted(result.routes[f"h_{m}.{l}"]) == list(range(l, model.L + 1))
        norms = result.norms[f"h_{m}.{l}"]
        assert all(norms[f"route_{k}"] > 0 for k in range(l, model.L + 1))
        if l < model.L:
            assert 0 < norms["shared_share"] < 1 and norms["route_{}".format(l)] == norms["shared"]


def test_path_norms_by_hand():
    modality, shared = np.array([[3.0, 0.0]]), np.array([[0.0, 4.0]])
    norms = path_norms({"modality": modality, "shared": shared, "total": modality + shared},
                       {1: shared, 2: modality})
    assert norms == pytest.approx({"modality": 3.0, "shared": 4.0, "total": 5.0, "shared_share": 4 / 7,
                                   "cosine": 0.0, "route_1": 4.0, "route_2": 3.0})
    opposite = path_norms({"modality": modality, "shared": -2 * modality, "total": -modality})
    assert opposite["cosine"] == pytest.approx(-1.0) and opposite["shared_share"] == pytest.approx(2 / 3)
    alone = path_norms({"modality": None, "shared": shared, "total": shared})
    assert alone["shared_share"] == 1.0 and np.isnan(alone["cosine"]) and alone["modality"] == 0.0


def fake_halves(n, seed=0):
    """Random stand-ins for the MNIST halves: (n, 392) pixels in [0, 1], labels 0..9."""
    rng = np.random.default_rng(seed)
    split = (rng.uniform(size=(n, 392)).astype(np.float32), rng.uniform(size=(n, 392)).astype(np.float32),
             rng.integers(0, 10, size=n))
    return Splits(train=split, val=split, test=split)


@pytest.mark.slow  # 1 s; the fast tier runs the paths command end to end in test_cli.py
def test_run_path_experiment_writes_the_csv_and_figure(tmp_path):
    lines = []
    rows = run_path_experiment(tmp_path, epochs=1, n_probe=50, data=fake_halves(150), log=lines.append)
    assert (tmp_path / "paths.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open(tmp_path / "paths.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == len(rows) and {r["model"] for r in table} == set(EXPERIMENT_MODELS)
    assert {r["epoch"] for r in table} == {"0", "1"}
    share = {(r["model"], r["epoch"], r["layer"]): float(r["shared_share"]) for r in table}
    for epoch in ("0", "1"):
        for l in (1, 2):
            assert share[("imf", epoch, f"h_y.{l}")] == 0.0
            assert 0 < share[("dmf", epoch, f"h_y.{l}")] < 1
        assert share[("dmf", epoch, "h_x.3")] == share[("imf", epoch, "h_x.3")] == 1.0
    assert len(lines) == 2 * 2 + 1 and "shared-path share" in lines[0] and "paths.png" in lines[-1]
