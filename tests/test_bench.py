"""The benchmark's instruments: the matmul recorder sees every product of a step."""

import numpy as np
import pytest

from dmf_numpy.bench import _operand, format_table, step_gemms
from dmf_numpy.model import MODELS

from conftest import SMALL


@pytest.mark.parametrize("name", ["emf", "imf", "dmf"])
def test_recorded_products_account_for_every_flop_of_a_step(name):
    model = MODELS[name](**SMALL)
    n = 5
    x, y = np.ones((n, 6), np.float32), np.ones((n, 7), np.float32)
    gemms = step_gemms(model, x, y, np.zeros(n, dtype=int))
    flops = sum(2 * a[0][0] * a[0][1] * b[0][1] for a, b in gemms)
    weights = {k: p.size for k, p in model.params.items() if k.startswith("W")}
    reading_inputs = sum(v for k, v in weights.items() if k.split(".")[0] in ("W_x", "W_y", "W_xs", "W_ys")
                         and k.endswith(".1"))
    total = sum(weights.values())
    # forward (every weight once) + weight gradients (once) + deltas to every layer but the inputs
    assert flops == 2 * n * (2 * total + total - reading_inputs)
    assert isinstance(model.params["W_out"], np.ndarray) and type(model.params["W_out"]) is np.ndarray


def test_replayed_operands_keep_the_memory_layout():
    rng = np.random.default_rng(0)
    a = _operand(rng, (3, 4), True, np.float32)
    assert a.shape == (3, 4) and a.flags.f_contiguous and not a.flags.c_contiguous


def test_format_table_has_a_row_per_model():
    row = dict(model="dmf", step_ms=1.0, gemm_ms=0.9, adam_ms=0.05, step_over_gemm=1.1, gemm_gflops=100.0, backprop_ms=0.95,
               backprop_over_gemm=1.05, step_sgd_over_gemm=1.08,
               train_samples_per_s=1e5, epoch_60k_s=0.6, eval_samples_per_s=3e5,
               train_peak_extra_mb=10.0, eval_10k_peak_mb=5.0)
    table = format_table([row, {**row, "model": "imf"}])
    assert table.count("\n") == 3 and "| DMF | 0.90 | 0.95 | 1.05 | 0.05 | 1.00 | 1.10 | 1.08 |" in table and "| IMF |" in table
