"""The generative DMF: forward equations, gradient checks with mutations, training with dropped
modalities, the encode/reconstruct API and the copy of its encoder into a discriminative DMF."""

import numpy as np
import pytest

import dmf_numpy.core.generative as generative
import dmf_numpy.core.fusion as model_module
from dmf_numpy import DMF, EMF, IMF
from dmf_numpy.core.gradcheck import BOUND, worst_error
from dmf_numpy import GenerativeDMF, fit_generative, gradcheck
from dmf_numpy.core.ops import bernoulli_cross_entropy, squared_error
from dmf_numpy.training.loop import drop_modalities
from dmf_numpy.training.pretrain import pretrain, pretrain_encoder

from helpers import SMALL

SIZES = {k: SMALL[k] for k in ("x_dims", "y_dims", "shared_dims")}  # (6, 5, 4), (7, 5, 3), (5, 4, 3)
OUTPUT_PAIRS = [("sigmoid", "linear"), ("linear", "sigmoid")]


def f(M):
    """The logistic sigmoid written the textbook way, independent of dmf_numpy.core.ops."""
    return 1.0 / (1.0 + np.exp(-M))


@pytest.fixture
def pair():
    """Targets (x (5, 6), y (5, 7)) in [0, 1], and encoder inputs with modalities dropped:
    samples 0-1 have x zeroed, 2-3 have y zeroed, 4 keeps both."""
    rng = np.random.default_rng(1)
    x, y = rng.uniform(size=(5, 6)), rng.uniform(size=(5, 7))
    x_in, y_in = x.copy(), y.copy()
    x_in[:2] = 0
    y_in[2:4] = 0
    return x, y, (x_in, y_in)


def small_model(outputs=("sigmoid", "linear"), seed=0, **kwargs):
    return GenerativeDMF(**SIZES, x_output=outputs[0], y_output=outputs[1], seed=seed,
                         dtype=np.float64, **kwargs)


# ---------------------------------------------------------------- forward


def test_forward_equals_eqs_g1_to_g3_evaluated_one_sample_at_a_time(pair):
    """The decoder as derivations/05_generative.md writes it: column vectors, V h."""
    x, y, (x_in, y_in) = pair
    model = small_model(seed=2)
    p = model.params
    M_out, _ = model.forward(x_in, y_in)
    dmf = DMF(**SMALL, dtype=np.float64)
    for name in dmf.params:
        if name not in ("W_out", "b_out"):
            dmf.params[name][...] = p[name]
    s_L = dmf.forward(x_in, y_in)[1][1][3]  # the encoder is the discriminative DMF's s_L
    for n in range(x.shape[0]):
        s3 = s_L[n]
        s2 = f(p["V_s.2"] @ s3 + p["c_s.2"])  # Eq. G1
        s1 = f(p["V_s.1"] @ s2 + p["c_s.1"])
        for m in "xy":
            h3 = f(p[f"V_s{m}.3"] @ s3 + p[f"c_{m}.3"])  # Eq. G2, l = L: no h_{L+1}
            h2 = f(p[f"V_{m}.2"] @ h3 + p[f"V_s{m}.2"] @ s2 + p[f"c_{m}.2"])  # Eq. G2
            M1 = p[f"V_{m}.1"] @ h2 + p[f"V_s{m}.1"] @ s1 + p[f"c_{m}.1"]  # Eq. G3
            np.testing.assert_allclose(M_out[m][n], M1, rtol=1e-12)
    x_hat, y_hat = model.reconstruct(x_in, y_in)
    np.testing.assert_allclose(x_hat, f(M_out["x"]), rtol=1e-12)  # sigmoid output
    np.testing.assert_array_equal(y_hat, M_out["y"])  # linear output


def test_losses_of_eq_g4_by_hand():
    M = np.array([[0.0, 2.0], [-1.0, 3.0]])
    t = np.array([[1.0, 0.0], [0.5, 1.0]])
    loss, delta = bernoulli_cross_entropy(M, t)
    p = f(M)
    bce = -(t * np.log(p) + (1 - t) * np.log(1 - p)).sum() / 2
    assert loss == pytest.approx(bce, rel=1e-12)
    np.testing.assert_allclose(delta, (p - t) / 2, rtol=1e-12)
    assert np.isfinite(bernoulli_cross_entropy(np.array([[-800.0, 800.0]]), np.array([[1.0, 0.0]]))[0])
    loss, delta = squared_error(M, t)
    assert loss == pytest.approx(0.5 * ((M - t) ** 2).sum() / 2, rel=1e-12)
    np.testing.assert_allclose(delta, (M - t) / 2, rtol=1e-12)


def test_loss_is_the_weighted_sum_over_both_modalities(pair):
    x, y, inputs = pair
    model = small_model(x_weight=0.25, y_weight=3.0)
    M_out, _ = model.forward(*model.check_inputs(*inputs))
    expected = 0.25 * bernoulli_cross_entropy(M_out["x"], x)[0] + 3.0 * squared_error(M_out["y"], y)[0]
    assert model.loss(x, y, inputs=inputs) == pytest.approx(expected, rel=1e-12)


# ---------------------------------------------------------------- gradient checks


@pytest.mark.parametrize("outputs", OUTPUT_PAIRS, ids="/".join)
def test_gradcheck_every_entry_of_every_tensor(pair, outputs):
    x, y, inputs = pair
    model = small_model(outputs, x_weight=0.7, y_weight=1.3)
    before = {k: v.copy() for k, v in model.params.items()}
    errors = gradcheck(model, x, y, inputs=inputs)
    assert all(np.array_equal(before[k], model.params[k]) for k in before)  # checked on a copy
    print(f"\n{outputs}: worst {worst_error(errors):.1e} ({max(errors, key=errors.get)})")
    assert set(errors) == set(model.params) | {"x_in", "y_in"}
    assert {"V_s.1", "V_sx.3", "V_y.2", "c_s.2", "W_xs.1", "W_s.2"} <= set(errors)
    assert worst_error(errors) < BOUND, errors


def test_gradcheck_with_trained_like_weights_and_full_inputs():
    """Larger weights (saturated units) and inputs equal to the targets (an autoencoder)."""
    rng = np.random.default_rng(7)
    model = small_model(("sigmoid", "sigmoid"), seed=3)
    for p in model.params.values():
        p += rng.normal(scale=0.5, size=p.shape)
    x, y = rng.uniform(size=(6, 6)), rng.uniform(size=(6, 7))
    errors = gradcheck(model, x, y)
    assert worst_error(errors) < BOUND, errors


def drop_chain_path(chain_path, tower_paths):
    """Eq. G7 without the term from the shared layer below."""
    return tower_paths[0] + tower_paths[1]


def drop_y_tower_path(chain_path, tower_paths):
    """Eq. G7 without the term from the y tower."""
    return tower_paths[0] + (chain_path if chain_path is not None else 0)


def drop_encoder_shared_path(modality_path, shared_path):
    """Eq. 5 of the encoder without its shared path (Eq. 7)."""
    return modality_path if modality_path is not None else np.zeros_like(shared_path)


@pytest.mark.parametrize("module, helper, mutant, broken, intact", [  # the fast tier: the encoder's
    pytest.param(generative, "decoder_fork", drop_chain_path,
                 {"V_s.2", "c_s.2", "W_xs.3", "W_s.2", "W_x.1"}, {"V_s.1", "c_s.1", "V_sx.1", "V_y.2"},
                 marks=pytest.mark.slow),
    pytest.param(generative, "decoder_fork", drop_y_tower_path,
                 {"V_s.1", "c_s.1", "V_s.2", "W_ys.3", "b_s.1", "y_in"}, {"V_sy.1", "V_sx.3", "c_y.2"},
                 marks=pytest.mark.slow),
    (model_module, "eq5_fork", drop_encoder_shared_path,
     {"W_x.1", "W_y.1", "b_x.1", "x_in", "y_in"}, {"V_s.1", "V_sx.1", "W_xs.3", "b_s.3"}),
], ids=["decoder chain", "decoder y tower", "encoder Eq. 5"])
def test_gradcheck_fails_when_a_path_is_removed_from_a_fork(monkeypatch, pair, module, helper, mutant,
                                                           broken, intact):
    x, y, inputs = pair
    model = small_model(("sigmoid", "sigmoid"))
    assert max(gradcheck(model, x, y, inputs=inputs).values()) < BOUND  # the intact code passes...
    monkeypatch.setattr(module, helper, mutant)
    errors = gradcheck(model, x, y, inputs=inputs)  # ...the same check on the mutant fails
    print(f"\n{helper} -> {mutant.__name__}: " + ", ".join(f"{k} {errors[k]:.1e}" for k in sorted(broken)))
    assert all(errors[name] > 1e-3 for name in broken), errors
    assert all(errors[name] < BOUND for name in intact), errors  # upstream of the fork: unaffected


# ---------------------------------------------------------------- API


def test_params_and_grads_have_the_same_keys_shapes_and_dtype(pair):
    model = GenerativeDMF(**SIZES)  # float32, sigmoid outputs
    loss, grads = model.loss_and_grads(pair[0], pair[1], inputs=pair[2])
    assert isinstance(loss, float) and np.isfinite(loss)
    assert list(grads) == list(model.params)
    assert all(g.shape == model.params[k].shape and g.dtype == np.float32 for k, g in grads.items())
    assert "W_out" not in model.params and model.params["V_sx.1"].shape == (6, 5)
    assert model.params["V_y.2"].shape == (5, 3) and model.params["V_s.2"].shape == (4, 3)
    # the encoder's arrays are the live ones the model computes with
    model.params["W_xs.3"] *= 0.0
    assert model.loss(pair[0], pair[1], inputs=pair[2]) != loss


def test_encode_and_reconstruct_shapes_and_batching():
    rng = np.random.default_rng(0)
    model = GenerativeDMF(**SIZES, x_output="sigmoid", y_output="linear")
    x, y = rng.uniform(size=(11, 6)), rng.normal(size=(11, 7))
    s_L = model.encode(x, y)
    assert s_L.shape == (11, 3) and s_L.dtype == np.float32 and (0 < s_L).all() and (s_L < 1).all()
    np.testing.assert_array_equal(model.encode(x, y, batch_size=4), s_L)
    x_hat, y_hat = model.reconstruct(x, np.zeros_like(y))
    assert x_hat.shape == (11, 6) and y_hat.shape == (11, 7)
    assert (0 <= x_hat).all() and (x_hat <= 1).all() and (y_hat < 0).any()  # sigmoid / linear
    for a, b in zip(model.reconstruct(x, np.zeros_like(y), batch_size=3), (x_hat, y_hat)):
        np.testing.assert_array_equal(a, b)
    for method in (model.encode, model.reconstruct):
        with pytest.raises(ValueError, match="batch_size: expected a positive integer, got 0"):
            method(x, y, batch_size=0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(x_output="softmax"), "x_output"),
    (dict(y_weight=-1.0), "y_weight"),
    (dict(x_weight="heavy"), "x_weight"),
    (dict(shared_dims=(5, 0, 3)), "shared_dims"),
    (dict(x_dims=(6, 5)), "x_dims"),
])
def test_constructor_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GenerativeDMF(**{**SIZES, **kwargs})


def test_bad_batches_are_rejected_naming_the_argument(pair):
    x, y, inputs = pair
    model = small_model(("sigmoid", "linear"))
    with pytest.raises(ValueError, match=r"^x: a sigmoid output needs targets in \[0.0, 1.0\]"):
        model.loss(x + 1, y)
    model.loss(x, y + 1)  # a linear output takes any real target
    with pytest.raises(ValueError, match="^inputs: expected 5 samples"):
        model.loss_and_grads(x, y, inputs=(inputs[0][:3], inputs[1][:3]))
    with pytest.raises(ValueError, match="^y: expected 7 features"):
        model.encode(x, y[:, :6])
    with pytest.raises(ValueError, match="^x: expected finite values"):
        model.reconstruct(np.full_like(x, np.nan), y)


def test_astype_copies_the_values():
    model = GenerativeDMF(**SIZES, x_output="linear", y_weight=2.0, seed=5)
    twin = model.astype(np.float64)
    assert twin.dtype == np.float64 and twin.config() == {**model.config(), "dtype": "float64"}
    assert all(np.array_equal(twin.params[k], v) for k, v in model.params.items())


# ---------------------------------------------------------------- training


def test_drop_modalities_rates_and_seeding():
    x, y = np.ones((3000, 2), dtype=np.float32), np.ones((3000, 3), dtype=np.float32)
    x_in, y_in = drop_modalities(x, y, np.random.default_rng(0))
    kept_x, kept_y = x_in[:, 0] == 1, y_in[:, 0] == 1
    assert (kept_x | kept_y).all() and x_in.dtype == np.float32  # never both dropped
    for share in (kept_x & kept_y, kept_x & ~kept_y, ~kept_x & kept_y):  # 1/3 each
        assert abs(share.mean() - 1 / 3) < 0.03
    assert ((x_in == 0) | (x_in == 1)).all() and (x == 1).all()  # whole rows; inputs untouched
    again = drop_modalities(x, y, np.random.default_rng(0))
    assert np.array_equal(again[0], x_in) and np.array_equal(again[1], y_in)
    x_only = drop_modalities(x, y, np.random.default_rng(0), (0, 1, 0))
    assert (x_only[0] == 1).all() and (x_only[1] == 0).all()
    with pytest.raises(ValueError, match="drop_rates"):
        drop_modalities(x, y, np.random.default_rng(0), (0.5, 0.5, 0.5))


def latent_pairs(n, seed):
    """Two modalities driven by one shared factor z in {0, 1}: x and y are noisy codes of z."""
    rng = np.random.default_rng(seed)
    z = rng.integers(0, 2, size=n)
    x = np.clip(np.where(z[:, None], [0.9, 0.9, 0.1, 0.1], [0.1, 0.1, 0.9, 0.9]) + rng.normal(0, 0.05, (n, 4)), 0, 1)
    y = np.where(z[:, None], [2.0, -1.0, 0.5], [-2.0, 1.0, 0.5]) + rng.normal(0, 0.1, (n, 3))
    return x, y


def test_fit_learns_to_infer_each_modality_from_the_other():
    x, y = latent_pairs(300, 0)
    model = GenerativeDMF((4, 8), (3, 8), (8, 4), x_output="sigmoid", y_output="linear", seed=0)
    history = fit_generative(model, x, y, epochs=40, batch_size=20, lr=1e-2, log=lambda line: None)
    assert [h["epoch"] for h in history] == list(range(1, 41))
    assert history[-1]["train_loss"] < 0.6 * history[0]["train_loss"]
    x_test, y_test = latent_pairs(200, 1)
    _, y_from_x = model.reconstruct(x_test, np.zeros_like(y_test))
    x_from_y, _ = model.reconstruct(np.zeros_like(x_test), y_test)
    # Each inferred modality is far closer to the truth than the best constant guess.
    assert np.mean((y_from_x - y_test) ** 2) < 0.1 * np.mean((y.mean(axis=0) - y_test) ** 2)
    assert np.mean((x_from_y - x_test) ** 2) < 0.1 * np.mean((x.mean(axis=0) - x_test) ** 2)


def test_fit_is_seeded():
    x, y = latent_pairs(60, 0)
    runs = []
    for _ in range(2):
        model = GenerativeDMF((4, 5), (3, 5), (5, 2), y_output="linear", seed=1)
        fit_generative(model, x, y, epochs=2, batch_size=16, seed=3, log=lambda line: None)
        runs.append(model.params)
    assert all(np.array_equal(runs[0][k], runs[1][k]) for k in runs[0])


# ---------------------------------------------------------------- pretraining


def test_pretrain_encoder_makes_both_encoders_compute_the_same_s_L(pair):
    x, y, inputs = pair
    gen = GenerativeDMF(**SIZES, seed=4)
    dmf = DMF(**SMALL, seed=9)
    head = {k: dmf.params[k].copy() for k in ("W_out", "b_out")}
    assert not np.allclose(dmf.forward(*dmf.check_inputs(*inputs))[1][1][3], gen.encode(*inputs))
    pretrain_encoder(dmf, gen)
    np.testing.assert_array_equal(dmf.forward(*dmf.check_inputs(*inputs))[1][1][3], gen.encode(*inputs))
    assert all(np.array_equal(head[k], dmf.params[k]) for k in head)  # the head is left alone


def test_pretrain_encoder_rejects_other_models_and_sizes():
    gen = GenerativeDMF(**SIZES)
    with pytest.raises(ValueError, match="shared_dims"):
        pretrain_encoder(DMF(**{**SMALL, "shared_dims": (5, 4, 2)}), gen)
    with pytest.raises(ValueError, match="model: IMF cannot take the encoder of a generative model whose encoder is DMF"):
        pretrain_encoder(IMF(**SMALL), gen)


@pytest.mark.parametrize("cls", [EMF, IMF, DMF])
def test_pretrain_trains_and_copies_the_encoder_of_every_model(cls):
    x, y = latent_pairs(40, 0)
    model = cls((4, 5), (3, 5), (5, 2), n_classes=2, seed=0)
    before = {k: v.copy() for k, v in model.params.items()}
    history = pretrain(model, x, y, epochs=2, y_output="linear", batch_size=10, log=lambda line: None)
    assert len(history) == 2
    first_fusion = f"W_xs.{model.fusion_levels[0]}"
    assert not np.array_equal(before[first_fusion], model.params[first_fusion])
    assert np.array_equal(before["W_out"], model.params["W_out"])
