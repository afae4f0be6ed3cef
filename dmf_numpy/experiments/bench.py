"""Benchmark: how close a training step is to the machine's matrix-multiply limit.

For EMF, IMF and DMF at the paper's MNIST sizes (float32, batch 100 by default) it measures

- the training step (``loss_and_grads`` plus an Adam update) as the median of several timed
  repetitions after a warm-up, the throughput in samples/s and the implied time of a
  60,000-sample epoch; the same with SGD-momentum's cheaper update, ``loss_and_grads``
  alone (the hand-written backprop without any update), and each update alone;
- the *same step's* matrix products run bare: every ``@`` of one step is recorded with its
  operand shapes and memory layouts (:class:`_MatmulRecorder`) and replayed on fresh arrays;
  the ratio step / GEMM says how much of the step is spent outside BLAS;
- the machine's matrix-multiply rate on one large square product (:func:`peak_gflops`), so
  that the rate of the step's own, smaller products can be read as a fraction of it;
- evaluation throughput (``predict_proba``, batched), and peak memory (``tracemalloc``, which
  sees NumPy's allocations) of training steps and of evaluating 10,000 samples;
- the time of the full gradient-check suite (``dmf-numpy gradcheck --model all``).

All figures are medians of ``repeats`` runs measured in the same process, so ratios compare
like with like.
"""

from __future__ import annotations

import os
import platform
import time
import tracemalloc

import numpy as np

from ..core.checks import check_positive_int
from ..core.fusion import MODELS
from ..core.gradcheck import BOUND, check_suite, suite_worst_error
from ..files import check_writable_file, write_json
from ..training.optim import SGD, Adam
from .common import machine_description, machine_record
from .paper import PAPER_SIZES, gradcheck_setups


class _MatmulRecorder(np.ndarray):
    """An ndarray that logs every matrix product it takes part in (shapes and layouts)."""

    log = []

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        plain = [i.view(np.ndarray) if isinstance(i, _MatmulRecorder) else i for i in inputs]
        if ufunc is np.matmul:
            _MatmulRecorder.log.append(tuple((a.shape, a.flags.f_contiguous and not a.flags.c_contiguous)
                                             for a in plain))
        if "out" in kwargs:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, _MatmulRecorder) else o
                                  for o in kwargs["out"])
        result = getattr(ufunc, method)(*plain, **kwargs)
        return result.view(_MatmulRecorder) if isinstance(result, np.ndarray) else result


def step_gemms(model, x, y, labels):
    """The matrix products of one training step: a list of ``((shape, transposed), (shape, transposed))``."""
    saved = model.params
    model.params = {k: v.view(_MatmulRecorder) for k, v in saved.items()}
    _MatmulRecorder.log = []
    try:
        model.loss_and_grads(x.view(_MatmulRecorder), y.view(_MatmulRecorder), labels)
    finally:
        model.params = saved
    return list(_MatmulRecorder.log)


def _operand(rng, shape, transposed, dtype):
    """A random array of ``shape``, stored transposed (Fortran order) if the original was a ``.T`` view."""
    if transposed:
        return rng.standard_normal(shape[::-1]).astype(dtype).T
    return rng.standard_normal(shape).astype(dtype)


def _median_seconds(fns, repeats, number):
    """Median over ``repeats`` of the mean time of ``number`` calls of each of ``fns``.

    The functions take turns within every repetition, so that a machine whose speed drifts
    (other load, clock changes) slows them alike and their ratios stay meaningful.
    """
    times = np.empty((repeats, len(fns)))
    for r in range(repeats):
        for k, fn in enumerate(fns):
            start = time.perf_counter()
            for _ in range(number):
                fn()
            times[r, k] = (time.perf_counter() - start) / number
    return [float(t) for t in np.median(times, axis=0)]


def bench_model(name, *, batch_size=100, repeats=7, number=20, eval_samples=10_000, seed=0):
    """Figures for one model at the paper's sizes, float32. Returns a dict."""
    rng = np.random.default_rng(seed)
    model = MODELS[name](**PAPER_SIZES, seed=seed, dtype=np.float32)
    optimizer, sgd = Adam(model.params), SGD(model.params, lr=1e-6)
    x = rng.uniform(size=(batch_size, 392)).astype(np.float32)
    y = rng.uniform(size=(batch_size, 392)).astype(np.float32)
    labels = rng.integers(0, 10, size=batch_size)

    def train_step():
        optimizer.step(model.loss_and_grads(x, y, labels)[1])

    def sgd_step():
        sgd.step(model.loss_and_grads(x, y, labels)[1])

    def grads_only():
        model.loss_and_grads(x, y, labels)

    grads = model.loss_and_grads(x, y, labels)[1]

    def adam_only():
        optimizer.step(grads)

    def sgd_only():
        sgd.step(grads)

    gemms = [(_operand(rng, *a, np.float32), _operand(rng, *b, np.float32))
             for a, b in step_gemms(model, x, y, labels)]

    def gemms_only():
        for a, b in gemms:
            a @ b

    timed = (train_step, sgd_step, grads_only, gemms_only, adam_only, sgd_only)
    _median_seconds(timed, 1, 5)  # warm-up
    step, step_sgd, backprop, gemm, adam, sgd_update = _median_seconds(timed, repeats, number)
    flops = sum(2 * a.shape[0] * a.shape[1] * b.shape[1] for a, b in gemms)

    ex = rng.uniform(size=(eval_samples, 392)).astype(np.float32)
    ey = rng.uniform(size=(eval_samples, 392)).astype(np.float32)
    (evaluate,) = _median_seconds([lambda: model.predict_proba(ex, ey)], max(3, repeats // 2), 1)

    tracemalloc.start()
    model.predict_proba(ex, ey)
    eval_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    for _ in range(3):
        train_step()
    train_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    state_bytes = sum(p.nbytes for p in model.params.values()) * 3  # params + Adam's m and v

    return {
        "model": name, "params": model.n_params, "batch_size": batch_size,
        "step_ms": 1e3 * step, "step_sgd_ms": 1e3 * step_sgd, "backprop_ms": 1e3 * backprop,
        "gemm_ms": 1e3 * gemm, "adam_ms": 1e3 * adam, "sgd_ms": 1e3 * sgd_update,
        "step_over_gemm": step / gemm, "step_sgd_over_gemm": step_sgd / gemm,
        "backprop_over_gemm": backprop / gemm, "gemm_gflops": flops / gemm / 1e9,
        "mflop_per_sample": flops / batch_size / 1e6,
        "train_samples_per_s": batch_size / step, "epoch_60k_s": 60_000 * step / batch_size,
        "eval_samples_per_s": eval_samples / evaluate,
        "state_mb": state_bytes / 2**20,
        "train_peak_extra_mb": train_peak / 2**20,
        "eval_10k_peak_mb": eval_peak / 2**20,
    }


def peak_gflops(*, size=2000, repeats=5, dtype=np.float32, seed=0):
    """The machine's matrix-multiply rate in GFLOP/s: median over ``repeats`` of one
    ``(size, size) @ (size, size)`` product, large enough for BLAS to run near its peak."""
    rng = np.random.default_rng(seed)
    a, b = (rng.standard_normal((size, size)).astype(dtype) for _ in range(2))
    a @ b  # warm-up
    (seconds,) = _median_seconds([lambda: a @ b], repeats, 1)
    return 2 * size**3 / seconds / 1e9


def bench_gradcheck():
    """Seconds taken by the gradient-check suite of ``dmf-numpy gradcheck --model all``, and
    whether it passed."""
    start = time.perf_counter()
    results = check_suite(list(MODELS), gradcheck_setups())
    return time.perf_counter() - start, suite_worst_error(results) < BOUND


def format_table(rows):
    """The benchmark figures as a Markdown table."""
    columns = [("model", "{}"), ("gemm_ms", "{:.2f}"), ("backprop_ms", "{:.2f}"), ("backprop_over_gemm", "{:.2f}"),
               ("adam_ms", "{:.2f}"), ("step_ms", "{:.2f}"), ("step_over_gemm", "{:.2f}"),
               ("step_sgd_over_gemm", "{:.2f}"), ("gemm_gflops", "{:.0f}"), ("train_samples_per_s", "{:,.0f}"),
               ("epoch_60k_s", "{:.2f}"), ("eval_samples_per_s", "{:,.0f}"), ("train_peak_extra_mb", "{:.1f}"),
               ("eval_10k_peak_mb", "{:.1f}")]
    headers = ["model", "GEMMs (ms)", "backprop (ms)", "backprop / GEMM", "Adam update (ms)", "step (ms)",
               "step / GEMM", "SGD step / GEMM", "GEMM GFLOP/s", "train samples/s", "60k epoch (s)",
               "eval samples/s", "train peak (MiB)", "eval 10k peak (MiB)"]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for r in rows:
        lines.append("| " + " | ".join(fmt.format(r[k].upper() if k == "model" else r[k])
                                       for k, fmt in columns) + " |")
    return "\n".join(lines)


def median_rows(runs):
    """Per model, the median over ``runs`` (a list of row lists, one per run) of every figure."""
    return [{k: v if isinstance(v, (str, int)) else float(np.median([run[i][k] for run in runs]))
             for k, v in first.items()} for i, first in enumerate(runs[0])]


def run_bench(*, batch_size=100, repeats=7, runs=1, json_path=None, models=("emf", "imf", "dmf"), log=print):
    """Run the benchmark ``runs`` times, print the table of medians, optionally write JSON.

    Returns the result dict: ``rows`` holds the medians over the runs, ``runs`` every run's rows.
    """
    for name, value in (("batch_size", batch_size), ("repeats", repeats), ("runs", runs)):
        check_positive_int(name, value)
    if json_path is not None:
        check_writable_file(json_path)  # before minutes of measuring
    per_run = []
    for r in range(runs):
        peak = peak_gflops()
        rows = [bench_model(m, batch_size=batch_size, repeats=repeats) for m in models]
        for row in rows:
            row["peak_gflops"], row["gemm_of_peak"] = peak, row["gemm_gflops"] / peak
        per_run.append(rows)
        if runs > 1:
            log(f"run {r + 1}/{runs}: " + ", ".join(f"{row['model'].upper()} step {row['step_ms']:.2f} ms"
                                                   for row in rows))
    rows = median_rows(per_run)
    gradcheck_s, gradcheck_ok = bench_gradcheck()
    result = {
        "machine": machine_description(), "processor": platform.processor(),
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"), "reproducibility": machine_record(),
        "repeats": repeats,
        "rows": rows, "runs": per_run, "gradcheck_all_s": gradcheck_s, "gradcheck_ok": gradcheck_ok,
    }
    over_runs = f", then the median over {runs} runs" if runs > 1 else ""
    log(f"float32, paper sizes, batch {batch_size}, Adam; medians of {repeats} repetitions{over_runs} "
        f"({result['machine']}, BLAS threads {result['blas_threads']})")
    log(format_table(rows))
    log("GEMMs = the matrix products of one step, run bare; backprop = loss_and_grads; step = backprop + "
        "Adam update (the training default; throughput and epoch time are for it); SGD step = backprop + "
        "SGD-momentum update. "
        "Model state (params + Adam moments): " + ", ".join(f"{r['model'].upper()} {r['state_mb']:.1f} MiB"
                                                           for r in rows))
    log(f"machine's GEMM rate (one 2000 x 2000 float32 product): {rows[0]['peak_gflops']:.0f} GFLOP/s; the "
        "steps' own products run at " + ", ".join(f"{r['model'].upper()} {100 * r['gemm_of_peak']:.0f} %"
                                                 for r in rows) + " of it")
    log(f"gradient-check suite (dmf-numpy gradcheck --model all): {gradcheck_s:.1f} s")
    if json_path is not None:
        write_json(json_path, result)
    return result
