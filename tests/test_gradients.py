"""Gradient checks (float64, centered differences) for every tensor of every model, and
mutation tests proving that the checks catch a missing term of Eqs. 5-8."""

import numpy as np
import pytest

import dmf_numpy.core.fusion as model_module
from dmf_numpy import DMF, gradcheck
from dmf_numpy.cli import main
from dmf_numpy.core.gradcheck import BOUND, worst_error

from helpers import MODEL_CLASSES, SMALL


@pytest.mark.parametrize("cls", MODEL_CLASSES, ids=lambda c: c.name)
def test_gradcheck_every_entry_of_every_tensor(cls, batch):
    model = cls(**SMALL, seed=0, dtype=np.float64)
    errors = gradcheck(model, *batch)
    print(f"\n{cls.name}: " + ", ".join(f"{k} {v:.1e}" for k, v in errors.items()))
    assert set(errors) == set(model.params) | {"x", "y"}
    assert worst_error(errors) < BOUND, errors


@pytest.mark.parametrize("cls", MODEL_CLASSES, ids=lambda c: c.name)
def test_gradcheck_with_trained_like_weights(cls):
    """Larger weights and a bigger batch: saturated units must not hide an error."""
    rng = np.random.default_rng(7)
    model = cls(**SMALL, seed=3, dtype=np.float64)
    for p in model.params.values():
        p += rng.normal(scale=0.5, size=p.shape)
    x, y = rng.uniform(size=(9, 6)), rng.uniform(size=(9, 7))
    errors = gradcheck(model, x, y, rng.integers(0, 3, size=9))
    assert worst_error(errors) < BOUND, errors


def test_gradcheck_leaves_the_model_unchanged(batch):
    model = DMF(**SMALL, dtype=np.float64)
    before = {k: v.copy() for k, v in model.params.items()}
    gradcheck(model, *batch)
    assert all(np.array_equal(before[k], model.params[k]) for k in before)


# ---------------------------------------------------------------- mutations of Eqs. 5-8

def drop_shared_path(modality_path, shared_path):
    """Eq. 5 without its second term (the shared path, Eq. 7)."""
    return modality_path if modality_path is not None else np.zeros_like(shared_path)


def drop_modality_path(modality_path, shared_path):
    """Eq. 5 without its first term (the modality path, Eq. 2)."""
    return shared_path if shared_path is not None else np.zeros_like(modality_path)


def no_shared_chain(W_s, delta_M_next):
    """Eq. 6 with the W^s term removed: nothing flows from s_{l+1} down to s_l."""
    return np.zeros((delta_M_next.shape[0], W_s.shape[1]))


@pytest.mark.parametrize("helper, mutant, broken", [
    ("eq5_fork", drop_shared_path, {"W_x.1", "W_y.1", "b_x.1", "x", "y"}),
    ("eq5_fork", drop_modality_path, {"W_x.1", "W_y.1", "x", "y"}),
    ("eq6_shared_chain", no_shared_chain, {"W_s.1", "b_s.1", "W_xs.1", "W_xs.2", "W_x.1"}),
])
def test_gradcheck_fails_when_a_term_of_eqs_5_to_8_is_removed(monkeypatch, batch, helper, mutant, broken):
    model = DMF(**SMALL, seed=0, dtype=np.float64)
    assert worst_error(gradcheck(model, *batch)) < BOUND  # the intact code passes...
    monkeypatch.setattr(model_module, helper, mutant)
    errors = gradcheck(model, *batch)  # ...the same check on the mutated backward pass fails
    print(f"\n{helper} -> {mutant.__name__}: " + ", ".join(f"{k} {errors[k]:.1e}" for k in sorted(broken)))
    assert all(errors[name] > 1e-3 for name in broken), errors
    # Tensors above the mutation are untouched by it and still pass.
    assert errors["W_out"] < BOUND and errors["b_s.3"] < BOUND


def test_cli_gradcheck_passes_and_fails(monkeypatch, capsys):
    assert main(["gradcheck", "--model", "all", "--small-only"]) == 0
    out = capsys.readouterr().out
    assert "W_xs.2" in out and "worst relative error" in out and "FAIL" not in out
    monkeypatch.setattr(model_module, "eq6_shared_chain", no_shared_chain)
    assert main(["gradcheck", "--model", "dmf", "--small-only"]) == 1
    assert "FAIL" in capsys.readouterr().out


def nan_shared_chain(W_s, delta_M_next):
    """Eq. 6 gone wrong in the worst way: NaN flows down the shared stack."""
    return np.full((delta_M_next.shape[0], W_s.shape[1]), np.nan)


@pytest.mark.parametrize("errors", [{"a": 1e-9, "b": np.nan, "c": 2e-9}, {"a": np.nan, "b": 1e-9}])
def test_worst_error_is_nan_wherever_a_nan_stands(errors):
    assert np.isnan(worst_error(errors)) and not worst_error(errors) < BOUND


def test_cli_gradcheck_fails_on_a_nan_gradient(monkeypatch, capsys):
    """NaN deltas in the lower layers only: Python's max() would have let them pass."""
    monkeypatch.setattr(model_module, "eq6_shared_chain", nan_shared_chain)
    assert main(["gradcheck", "--model", "dmf", "--small-only"]) == 1
    out = capsys.readouterr().out
    assert "worst relative error nan" in out and out.rstrip().endswith("FAILED")


@pytest.mark.parametrize("kwargs, message", [
    (dict(step=0.0), "step: expected a positive, finite finite-difference step"),
    (dict(step=float("nan")), "step: expected a positive, finite"),
    (dict(max_entries=0), "max_entries: expected a positive integer, got 0"),
    (dict(seed=-1), "seed: expected a non-negative integer"),
])
def test_gradcheck_refuses_bad_settings(batch, kwargs, message):
    with pytest.raises(ValueError, match=message):
        gradcheck(DMF(**SMALL, dtype=np.float64), *batch, **kwargs)
