"""One step of each optimizer against a hand-computed update."""

import numpy as np
import pytest

from dmf_numpy.training.optim import SGD, Adam, decayed_lr


def test_sgd_momentum_two_steps_by_hand():
    params = {"w": np.array([1.0, 2.0])}
    opt = SGD(params, lr=0.1, momentum=0.9)
    g = {"w": np.array([0.5, -1.0])}
    opt.step(g)  # v = -0.1 g = [-0.05, 0.1]
    np.testing.assert_allclose(params["w"], [0.95, 2.1], rtol=1e-15)
    opt.step(g)  # v = 0.9 v - 0.1 g = [-0.095, 0.19]
    np.testing.assert_allclose(params["w"], [0.855, 2.29], rtol=1e-14)


def test_adam_two_steps_match_the_textbook_update():
    params = {"w": np.array([1.0, 2.0, -3.0])}
    opt = Adam(params, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8)
    g1, g2 = np.array([0.5, -1.0, 0.0]), np.array([0.1, 0.3, -2.0])
    opt.step({"w": g1})
    # Step 1: m_hat = g, v_hat = g^2, so each entry moves by lr * g / (|g| + eps).
    np.testing.assert_allclose(params["w"], [1.0 - 0.01 * 0.5 / (0.5 + 1e-8), 2.0 + 0.01 / (1 + 1e-8), -3.0])
    expected = params["w"].copy()
    m = 0.9 * (0.1 * g1) + 0.1 * g2
    v = 0.999 * (0.001 * g1**2) + 0.001 * g2**2
    expected -= 0.01 * (m / (1 - 0.9**2)) / (np.sqrt(v / (1 - 0.999**2)) + 1e-8)
    opt.step({"w": g2})
    np.testing.assert_allclose(params["w"], expected, rtol=1e-12)


def test_updates_are_in_place_and_keep_float32():
    w = np.ones(3, dtype=np.float32)
    params = {"w": w}
    Adam(params).step({"w": np.ones(3, dtype=np.float32)})
    assert params["w"] is w and w.dtype == np.float32 and np.all(w < 1)


def test_optimizer_state_round_trip():
    params = {"w": np.array([1.0, 2.0])}
    opt = Adam(params, lr=0.1)
    opt.step({"w": np.array([1.0, 1.0])})
    scalars, arrays = opt.state()
    twin = Adam({"w": params["w"].copy()}, lr=0.5)
    twin.load_state(scalars, arrays)
    assert twin.t == 1 and twin.lr == 0.1
    np.testing.assert_array_equal(twin.slots["m"]["w"], opt.slots["m"]["w"])
    with pytest.raises(ValueError, match="optimizer state: expected 'sgd', got 'adam'"):
        SGD({"w": params["w"]}).load_state(scalars, arrays)


def test_lr_decay_and_bad_settings():
    assert decayed_lr(0.1, 0.5, 2) == pytest.approx(0.025)
    with pytest.raises(ValueError, match="lr: expected a positive"):
        SGD({"w": np.zeros(1)}, lr=0)
    for lr in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="lr: expected a positive, finite learning rate"):
            Adam({"w": np.zeros(1)}, lr=lr)
    with pytest.raises(ValueError, match="beta2: expected a value in"):
        Adam({"w": np.zeros(1)}, beta2=1.0)
    with pytest.raises(ValueError, match="grads: expected the keys"):
        SGD({"w": np.zeros(1)}).step({"v": np.zeros(1)})
