"""The models' structure, forward pass, numerics and input validation."""

import warnings

import numpy as np
import pytest

from dmf_numpy import DMF, EMF, IMF
from dmf_numpy.core.fusion import build_model
from dmf_numpy.core.ops import sigmoid, softmax_cross_entropy

from helpers import MODEL_CLASSES, PAPER, SMALL


@pytest.mark.parametrize("cls, count", [(DMF, 1_362_634), (IMF, 550_858), (EMF, 550_346)])
def test_parameter_counts_with_the_papers_sizes(cls, count):
    assert cls(**PAPER).n_params == count


def f(M):
    """The logistic sigmoid written the textbook way, independent of dmf_numpy.core.ops."""
    return 1.0 / (1.0 + np.exp(-M))


def test_dmf_forward_equals_eqs_3_and_4_evaluated_one_sample_at_a_time(batch):
    """Evaluate Eqs. 4 and 3 as the paper writes them: column vectors, W h."""
    x, y, _ = batch
    model = DMF(**SMALL, seed=2, dtype=np.float64)
    p = model.params
    scores, (h_cache, s_cache) = model.forward(x, y)
    for n in range(x.shape[0]):
        h = {"x": [x[n]], "y": [y[n]]}
        for m in "xy":
            h[m].append(f(p[f"W_{m}.1"] @ h[m][0] + p[f"b_{m}.1"]))  # Eq. 4, l = 2
            h[m].append(f(p[f"W_{m}.2"] @ h[m][1] + p[f"b_{m}.2"]))  # Eq. 4, l = 3
        s1 = f(p["W_xs.1"] @ h["x"][0] + p["W_ys.1"] @ h["y"][0] + p["b_s.1"])
        s2 = f(p["W_xs.2"] @ h["x"][1] + p["W_ys.2"] @ h["y"][1] + p["W_s.1"] @ s1 + p["b_s.2"])  # Eq. 3
        s3 = f(p["W_xs.3"] @ h["x"][2] + p["W_ys.3"] @ h["y"][2] + p["W_s.2"] @ s2 + p["b_s.3"])  # Eq. 3
        z = p["W_out"] @ s3 + p["b_out"]
        np.testing.assert_allclose(scores[n], z, rtol=1e-12)
        np.testing.assert_allclose(s_cache[2][n], s2, rtol=1e-12)
        np.testing.assert_allclose(h_cache["y"][3][n], h["y"][2], rtol=1e-12)


def test_imf_and_emf_forward_are_eq_1_and_the_early_stack(batch):
    x, y, _ = batch
    imf = IMF(**SMALL, seed=4, dtype=np.float64)
    p = imf.params
    hx = f(f(x @ p["W_x.1"].T + p["b_x.1"]) @ p["W_x.2"].T + p["b_x.2"])
    hy = f(f(y @ p["W_y.1"].T + p["b_y.1"]) @ p["W_y.2"].T + p["b_y.2"])
    s3 = f(hx @ p["W_xs.3"].T + hy @ p["W_ys.3"].T + p["b_s.3"])  # Eq. 1
    np.testing.assert_allclose(imf.forward(x, y)[0], s3 @ p["W_out"].T + p["b_out"], rtol=1e-12)

    emf = EMF(**SMALL, seed=4, dtype=np.float64)
    p = emf.params
    s = f(x @ p["W_xs.1"].T + y @ p["W_ys.1"].T + p["b_s.1"])
    s = f(f(s @ p["W_s.1"].T + p["b_s.2"]) @ p["W_s.2"].T + p["b_s.3"])
    np.testing.assert_allclose(emf.forward(x, y)[0], s @ p["W_out"].T + p["b_out"], rtol=1e-12)


@pytest.mark.parametrize("cls", MODEL_CLASSES, ids=lambda c: c.name)
def test_grads_have_exactly_the_keys_shapes_and_dtype_of_params(cls, batch):
    model = cls(**SMALL)  # float32
    loss, grads = model.loss_and_grads(*batch)
    assert isinstance(loss, float) and np.isfinite(loss)
    assert grads.keys() == model.params.keys()
    for name, g in grads.items():
        assert g.shape == model.params[name].shape and g.dtype == np.float32, name
    _, _, d_inputs = model.loss_and_grads(*batch, wrt_inputs=True)
    assert d_inputs["x"].shape == (4, 6) and d_inputs["y"].shape == (4, 7)


def test_params_are_the_live_arrays_the_model_computes_with(batch):
    model = DMF(**SMALL, dtype=np.float64)
    before = model.loss(*batch)
    model.params["W_s.2"] *= 0.0  # an optimizer updates in place
    model.params["b_out"] += 1.0
    assert model.loss(*batch) != before


def test_glorot_initialization_is_seeded_and_bounded():
    a, b, c = DMF(**SMALL, seed=5), DMF(**SMALL, seed=5), DMF(**SMALL, seed=6)
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    assert not np.array_equal(a.params["W_xs.2"], c.params["W_xs.2"])
    # s_2 is fed by h^x_2 (5), h^y_2 (5) and s_1 (5): fan_in 15, fan_out 4.
    bound = np.sqrt(6 / (15 + 4))
    assert np.abs(a.params["W_s.1"]).max() <= bound and np.abs(a.params["W_s.1"]).max() > 0.5 * bound
    assert not a.params["b_s.2"].any()


def test_predict_proba_is_batched_and_consistent(batch):
    x, y, _ = batch
    model = IMF(**SMALL, seed=1, dtype=np.float64)
    proba = model.predict_proba(x, y)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(model.predict_proba(x, y, batch_size=3), proba, rtol=1e-14)
    assert np.array_equal(model.predict(x, y), proba.argmax(axis=1))


def test_astype_and_build_model_round_trip(batch):
    model = EMF(**SMALL, seed=3)
    twin = build_model(model.config()).astype(np.float64)
    assert twin.dtype == np.float64 and type(twin) is EMF
    assert all(np.allclose(model.params[k], twin.params[k]) for k in model.params)


# ---------------------------------------------------------------- numerics

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_stable_at_extreme_pre_activations(dtype):
    M = np.array([-1e4, -100.0, -1.0, 0.0, 1.0, 100.0, 1e4], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = sigmoid(M)
    assert out.dtype == dtype and np.all(np.isfinite(out))
    np.testing.assert_allclose(out, [0.0, 0.0, f(-1.0), 0.5, f(1.0), 1.0, 1.0], atol=1e-7)


def test_softmax_cross_entropy_uses_log_sum_exp():
    scores = np.array([[1e4, 0.0, -1e4], [0.0, 0.0, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, d = softmax_cross_entropy(scores, np.array([1, 2]))
    np.testing.assert_allclose(loss, (1e4 + np.log(3)) / 2)
    np.testing.assert_allclose(d.sum(axis=1), 0.0, atol=1e-12)


def test_float32_model_with_huge_inputs_stays_finite():
    model = DMF(**SMALL)
    x, y = np.full((2, 6), 1e4), np.full((2, 7), -1e4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, grads = model.loss_and_grads(x, y, [0, 1])
    assert np.isfinite(loss) and all(np.all(np.isfinite(g)) for g in grads.values())


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("x, y, labels, message", [
    (np.zeros((4, 5)), np.zeros((4, 7)), [0, 1, 2, 1], r"x: expected 6 features .* got 5"),
    (np.zeros((4, 6)), np.zeros((4, 8)), [0, 1, 2, 1], r"y: expected 7 features .* got 8"),
    (np.zeros(6), np.zeros((4, 7)), [0, 1, 2, 1], r"x: expected a 2-D array"),
    (np.zeros((4, 6)), np.zeros((3, 7)), [0, 1, 2, 1], r"x and y: expected the same batch size, got 4 .* 3"),
    (np.zeros((0, 6)), np.zeros((0, 7)), [], r"x: empty batch"),
    (np.full((4, 6), np.nan), np.zeros((4, 7)), [0, 1, 2, 1], r"x: expected finite values, got 24 NaN"),
    (np.zeros((4, 6)), np.full((4, 7), np.inf), [0, 1, 2, 1], r"y: expected finite values"),
    (np.zeros((4, 6)), np.zeros((4, 7)), [0, 1, 3, 1], r"labels: expected class indices in \[0, 2\], got values in \[0, 3\]"),
    (np.zeros((4, 6)), np.zeros((4, 7)), [0, -1, 2, 1], r"labels: expected class indices in \[0, 2\]"),
    (np.zeros((4, 6)), np.zeros((4, 7)), [0.0, 1.0, 2.0, 1.0], r"labels: expected integer class indices, got dtype float64"),
    (np.zeros((4, 6)), np.zeros((4, 7)), [0, 1, 2], r"labels: expected shape \(4,\)"),
    (np.array([["a"] * 6] * 4), np.zeros((4, 7)), [0, 1, 2, 1], r"x: expected real numbers"),
    ([[0.0] * 6, [0.0] * 5], np.zeros((2, 7)), [0, 1], r"x: not a rectangular array"),
    (np.full((4, 6), 1e300), np.zeros((4, 7)), [0, 1, 2, 1], r"x: values too large for float32 \(largest magnitude 1e\+300\)"),
    (np.zeros((4, 6)), np.zeros((4, 7)), None, r"labels: expected integer class indices of shape \(4,\), got None"),
])
def test_bad_input_raises_a_value_error_naming_the_argument(x, y, labels, message):
    model = DMF(**SMALL)
    with pytest.raises(ValueError, match=message):
        model.loss_and_grads(x, y, labels)


@pytest.mark.parametrize("kwargs, message", [
    (dict(SMALL, x_dims=(6, 5)), r"x_dims: expected 3 layer sizes"),
    (dict(SMALL, shared_dims=(5, 0, 3)), r"shared_dims: expected one or more positive"),
    (dict(SMALL, y_dims=(7.5, 5, 3)), r"y_dims: expected a sequence of integer"),
    (dict(SMALL, n_classes=1), r"n_classes: expected at least 2"),
    (dict(SMALL, dtype=np.int32), r"dtype: expected float32 or float64"),
    (dict(SMALL, dtype="bogus"), r"dtype: expected float32 or float64, got 'bogus'"),
    (dict(SMALL, x_dims=(True, 5, 4)), r"x_dims: expected a sequence of integer"),
    (dict(SMALL, seed=-1), r"seed: expected a non-negative integer, got -1"),
    (dict(SMALL, seed="a"), r"seed: expected a non-negative integer, got 'a'"),
])
def test_bad_architecture_raises(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DMF(**kwargs)


def test_build_model_rejects_unknown_model():
    with pytest.raises(ValueError, match=r"model: expected one of \['dmf', 'emf', 'imf'\], got 'xmf'"):
        build_model({"model": "xmf"})


@pytest.mark.parametrize("batch_size", [0, -5, 2.5, True])
def test_predict_refuses_a_batch_size_that_is_not_a_positive_integer(batch, batch_size):
    with pytest.raises(ValueError, match="batch_size: expected a positive integer"):
        DMF(**SMALL).predict(batch[0], batch[1], batch_size=batch_size)
