"""The benchmark's instruments: the matmul recorder sees every product of a step."""

import json

import numpy as np
import pytest

from dmf_numpy.experiments.bench import _operand, format_table, median_rows, run_bench, step_gemms
from dmf_numpy.core.fusion import MODELS

from helpers import SMALL


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
    row = dict(model="dmf", step_ms=1.0, gemm_ms=0.9, adam_ms=0.05, step_over_gemm=1.1, gemm_gflops=100.0,
               backprop_ms=0.95, backprop_over_gemm=1.05, step_sgd_over_gemm=1.08,
               train_samples_per_s=1e5, epoch_60k_s=0.6, eval_samples_per_s=3e5,
               train_peak_extra_mb=10.0, eval_10k_peak_mb=5.0)
    table = format_table([row, {**row, "model": "imf"}])
    assert table.count("\n") == 3 and "| IMF |" in table
    assert "| DMF | 0.90 | 0.95 | 1.05 | 0.05 | 1.00 | 1.10 | 1.08 |" in table


def test_median_rows_takes_each_figure_over_the_runs():
    runs = [[{"model": "dmf", "params": 7, "step_ms": t, "gemm_ms": 2 * t}] for t in (3.0, 1.0, 2.0)]
    assert median_rows(runs) == [{"model": "dmf", "params": 7, "step_ms": 2.0, "gemm_ms": 4.0}]


@pytest.mark.slow
def test_run_bench_writes_every_run_and_their_medians(tmp_path):
    lines = []
    result = run_bench(models=("imf",), repeats=1, runs=2, json_path=tmp_path / "bench.json", log=lines.append)
    saved = json.loads((tmp_path / "bench.json").read_text())
    assert len(saved["runs"]) == 2 and saved["gradcheck_ok"] and result["gradcheck_ok"]
    (row,) = saved["rows"]
    for key in ("step_ms", "adam_ms", "gemm_of_peak"):
        values = sorted(run[0][key] for run in saved["runs"])
        assert values[0] <= row[key] <= values[1] and row[key] > 0
    assert 0 < row["gemm_of_peak"] < 1.5  # a step's small products cannot run far above a large one's rate
    assert "| IMF |" in "\n".join(lines) and "median over 2 runs" in lines[2]


@pytest.mark.parametrize("option", ["runs", "repeats", "batch_size"])
def test_run_bench_refuses_a_count_below_one(option):
    with pytest.raises(ValueError, match=option):
        run_bench(**{option: 0}, log=lambda line: None)
