"""Training on a user's own arrays: ``fit``, ``evaluate`` and ``fit_generative`` with any sizes
and any number of classes, ``dmf-numpy train --arrays``, other IDX files, and the README's
example run as written."""

import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dmf_numpy import DMF, EMF, IMF, GenerativeDMF, evaluate, fit, fit_generative
from dmf_numpy.cli import build_parser, main
from dmf_numpy.datasets import halves, mnist, store
from dmf_numpy.datasets.arrays import load_arrays
from dmf_numpy.training.checkpoint import CheckpointError, load_checkpoint

from helpers import two_modalities

ROOT = Path(__file__).resolve().parents[1]


def quiet(line):
    pass


@pytest.mark.parametrize("cls", [EMF, IMF, DMF])
def test_fit_trains_any_sizes_and_classes_and_reports_validation(cls):
    x, y, labels = two_modalities(400, 0)
    xv, yv, lv = two_modalities(200, 1)
    model = cls((12, 16, 8), (5, 8, 8), (16, 8, 6), n_classes=4, seed=0)
    before = evaluate(model, xv, yv, lv)
    history = fit(model, x, y, labels, epochs=30, batch_size=50, lr=1e-2, validation=(xv, yv, lv), log=quiet)
    assert [r["epoch"] for r in history] == list(range(1, 31))
    assert set(history[-1]) == {"epoch", "lr", "train_loss", "val_loss", "val_error", "seconds"}
    after = evaluate(model, xv, yv, lv)
    assert after == (history[-1]["val_loss"], history[-1]["val_error"])
    assert after.loss < 0.2 * before.loss and after.error < 10 < 50 < before.error


def test_evaluate_is_the_mean_loss_and_the_error_of_predict():
    x, y, labels = two_modalities(250, 2)
    model = DMF((12, 7, 6), (5, 6, 6), (6, 5, 4), n_classes=4, dtype=np.float64)
    result = evaluate(model, x, y, labels, batch_size=64)  # batches of unequal size
    assert result.loss == pytest.approx(model.loss(x, y, labels), rel=1e-12)
    assert result.error == 100 * np.mean(model.predict(x, y) != labels)


def test_fit_is_seeded_and_the_seed_matters():
    x, y, labels = two_modalities(100, 0)
    runs = []
    for seed in (0, 0, 1):
        model = IMF((12, 6), (5, 6), (6, 4), n_classes=4)
        fit(model, x, y, labels, epochs=2, batch_size=16, seed=seed, log=quiet)
        runs.append(model.params["W_out"])
    assert np.array_equal(runs[0], runs[1]) and not np.array_equal(runs[0], runs[2])


def test_fit_resumes_from_its_folder_bit_for_bit_and_never_overwrites_one(tmp_path):
    x, y, labels = two_modalities(120, 0)
    whole = DMF((12, 6), (5, 6), (6, 4), n_classes=4)
    fit(whole, x, y, labels, epochs=3, batch_size=32, out_dir=tmp_path / "whole", log=quiet)

    def stop_after_epoch_1(line):
        if line.startswith("epoch 1/3"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(DMF((12, 6), (5, 6), (6, 4), n_classes=4), x, y, labels, epochs=3, batch_size=32,
            out_dir=tmp_path / "cut", log=stop_after_epoch_1)
    with pytest.raises(CheckpointError, match="a run is already in this folder"):
        fit(DMF((12, 6), (5, 6), (6, 4), n_classes=4), x, y, labels, epochs=3, batch_size=32,
            out_dir=tmp_path / "cut", log=quiet)
    resumed = DMF((12, 6), (5, 6), (6, 4), n_classes=4)
    history = fit(resumed, x, y, labels, epochs=3, batch_size=32, out_dir=tmp_path / "cut", resume=True, log=quiet)
    assert len(history) == 3 and len(json.loads((tmp_path / "cut" / "history.json").read_text())) == 3
    assert all(np.array_equal(whole.params[k], resumed.params[k]) for k in whole.params)


def test_fit_generative_has_the_shape_of_fit_and_resumes(tmp_path):
    x, y, _ = two_modalities(90, 0)
    x = 1 / (1 + np.exp(-x))  # a sigmoid output needs targets in [0, 1]

    def model():
        return GenerativeDMF((12, 8), (5, 8), (8, 4), y_output="linear", seed=2)

    options = dict(epochs=2, batch_size=30, validation=(x[:20], y[:20]))
    whole = model()
    history = fit_generative(whole, x, y, **options, log=quiet)
    assert set(history[-1]) == {"epoch", "lr", "train_loss", "val_loss", "seconds"}

    def stop_after_epoch_1(line):
        if line.startswith("epoch 1/2"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit_generative(model(), x, y, **options, out_dir=tmp_path, log=stop_after_epoch_1)
    resumed, lines = model(), []
    fit_generative(resumed, x, y, **options, out_dir=tmp_path, resume=True, log=lines.append)
    assert lines[0].startswith("resumed after epoch 1")
    assert all(np.array_equal(whole.params[k], resumed.params[k]) for k in whole.params)
    with pytest.raises(CheckpointError, match="written with other settings \\(drop_rates differ"):
        fit_generative(model(), x, y, **options, drop_rates=(1, 0, 0), out_dir=tmp_path, resume=True, log=quiet)


@pytest.mark.parametrize("call, message", [
    (lambda: fit(GenerativeDMF((3, 2), (3, 2), (2, 2)), np.ones((4, 3)), np.ones((4, 3)), [0, 1, 0, 1], epochs=1),
     "model: expected EMF, IMF or DMF, got GenerativeDMF \\(train it with fit_generative\\)"),
    (lambda: fit_generative(DMF((3, 2), (3, 2), (2, 2), 2), np.ones((4, 3)), np.ones((4, 3)), epochs=1),
     "model: expected a GenerativeDMF, got DMF"),
    (lambda: fit(DMF((3, 2), (3, 2), (2, 2), 2), np.ones((4, 3)), np.ones((4, 3)), [0, 1, 0, 1], epochs=0),
     "epochs: expected a positive integer, got 0"),
    (lambda: fit(DMF((3, 2), (3, 2), (2, 2), 2), np.ones((4, 3)), np.ones((4, 3)), [0, 1, 0, 1], epochs=1,
                 optimizer="rmsprop"), "optimizer: expected one of"),
    (lambda: fit(DMF((3, 2), (3, 2), (2, 2), 2), np.ones((4, 3)), np.ones((4, 3)), [0, 1, 0, 2], epochs=1),
     r"labels: expected class indices in \[0, 1\], got values in \[0, 2\]"),
    (lambda: fit(DMF((3, 2), (3, 2), (2, 2), 2), np.ones((4, 3)), np.ones((4, 3)), [0, 1, 0, 1], epochs=1,
                 validation=(np.ones((2, 3)), np.ones((2, 3)))), r"validation: expected a triple \(x, y, labels\)"),
    (lambda: fit(DMF((3, 2), (3, 2), (2, 2), 2), np.ones((4, 3)), np.ones((4, 3)), [0, 1, 0, 1], epochs=1,
                 validation=(np.ones((2, 4)), np.ones((2, 3)), [0, 1])), "x: expected 3 features per sample"),
])
def test_fit_refuses_bad_input_by_name(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ---------------------------------------------------------------- dmf-numpy train --arrays

def save_arrays(path, **splits):
    np.savez(path, **{k: v for k, v in splits.items()})
    return path


def arrays_file(tmp_path, n=300):
    x, y, labels = two_modalities(n, 0)
    xt, yt, lt = two_modalities(100, 1)
    return save_arrays(tmp_path / "mine.npz", x=x, y=y, labels=labels, x_test=xt, y_test=yt, labels_test=lt)


def test_train_on_arrays_end_to_end(tmp_path, capsys):
    path = arrays_file(tmp_path)
    out = tmp_path / "run"
    assert main(["train", "--arrays", str(path), "--epochs", "3", "--batch-size", "10", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["x_dims"] == [12, 512, 128] and config["y_dims"] == [5, 512, 128] and config["n_classes"] == 4
    assert config["arrays"] == str(path)
    blas = config["reproducibility"]["blas"]  # what a bit-for-bit rerun needs besides the settings
    assert set(blas) == {"library", "version", "kernel", "threads"} and config["reproducibility"]["numpy"]
    history = json.loads((out / "history.json").read_text())
    assert len(history) == 3 and history[-1]["val_error"] == {}  # the file has no validation split
    # The test conditions are what they say: the trained model, with x or y zero-filled.
    model = DMF(**{k: config[k] for k in ("x_dims", "y_dims", "shared_dims", "n_classes")})
    load_checkpoint(out / "checkpoint.npz", model)
    _, _, _, xt, yt, lt = (np.load(path)[k] for k in ("x", "y", "labels", "x_test", "y_test", "labels_test"))
    zeros_x, zeros_y = np.zeros_like(xt), np.zeros_like(yt)
    assert history[-1]["test_error"] == {"x+y": evaluate(model, xt, yt, lt).error,
                                         "y": evaluate(model, zeros_x, yt, lt).error,
                                         "x": evaluate(model, xt, zeros_y, lt).error}
    printed = capsys.readouterr().out
    assert "[dmf_mine_seed0] epoch 3/3" in printed and "final epoch:" in printed


@pytest.mark.parametrize("arrays, message", [
    (dict(x=np.ones((4, 3)), y=np.ones((4, 2))), "missing array(s) labels"),
    (dict(x=np.ones((4, 3)), y=np.ones((5, 2)), labels=np.zeros(4, int)), "one row per sample, got 4, 5 and 4"),
    (dict(x=np.ones((4, 3)), y=np.ones((4, 2)), labels=np.zeros(4, int), z=np.ones(3)), "unknown array(s) z"),
    (dict(x=np.ones((4, 3)), y=np.ones((4, 2)), labels=np.zeros(4, int), x_val=np.ones((2, 3))),
     "missing array(s) y_val, labels_val"),
    (dict(x=np.ones((4, 3)), y=np.ones((4, 2)), labels=np.zeros(4, int), x_test=np.ones((2, 4)),
          y_test=np.ones((2, 2)), labels_test=np.zeros(2, int)), "x has {'train': 3, 'test': 4} features"),
    (dict(x=np.ones((4, 3)), y=np.ones((4, 2)), labels=np.full(4, 0.5)), "labels must be a 1-D array of integer"),
    (dict(x=np.full((4, 3), np.nan), y=np.ones((4, 2)), labels=np.zeros(4, int)), "x holds 12 NaN or infinite"),
])
def test_train_on_bad_arrays_exits_2_naming_the_array(tmp_path, capsys, arrays, message):
    path = save_arrays(tmp_path / "bad.npz", **arrays)
    assert main(["train", "--arrays", str(path), "--epochs", "1", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()  # nothing written before the data was checked


def test_train_on_arrays_refuses_the_mnist_only_options(tmp_path, capsys):
    path = arrays_file(tmp_path)
    assert main(["train", "--arrays", str(path), "--damage", "0.3", "--out", str(tmp_path / "o")]) == 2
    assert "damage: only for the MNIST halves, not with arrays" in capsys.readouterr().err


def test_load_arrays_reads_all_three_splits(tmp_path):
    x, y, labels = two_modalities(10, 0)
    data = load_arrays(save_arrays(tmp_path / "a.npz", x=x, y=y, labels=labels, x_val=x[:3], y_val=y[:3],
                                   labels_val=labels[:3], x_test=x[:4], y_test=y[:4], labels_test=labels[:4]))
    assert [len(s[2]) for s in (data.train, data.val, data.test)] == [10, 3, 4]
    assert data.train[0].dtype == np.float32 and data.train[2].dtype == np.int64


# ---------------------------------------------------------------- other IDX files

def idx_bytes(array):
    return bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">u4").tobytes() + array.tobytes()


def test_another_idx_data_set_trains_through_the_documented_functions(tmp_path):
    rng = np.random.default_rng(0)
    files = {"train-images-idx3-ubyte": rng.integers(0, 256, (120, 28, 28), dtype=np.uint8),
             "train-labels-idx1-ubyte": rng.integers(0, 3, 120).astype(np.uint8),
             "t10k-images-idx3-ubyte": rng.integers(0, 256, (30, 28, 28), dtype=np.uint8),
             "t10k-labels-idx1-ubyte": rng.integers(0, 3, 30).astype(np.uint8)}
    for name, array in files.items():
        (tmp_path / name).write_bytes(idx_bytes(array))
    images = mnist.read_idx_folder(tmp_path)  # 120 and 30 images: not MNIST's counts, no checksum
    splits = halves.make_halves(images, n_val=20, damage_p=0.3, seed=1)
    assert [len(s[2]) for s in (splits.train, splits.val, splits.test)] == [100, 20, 30]
    model = DMF((392, 16, 8), (392, 16, 8), (16, 8, 8), n_classes=3)
    history = fit(model, *splits.train, epochs=1, validation=splits.val, log=quiet)
    assert np.isfinite(history[0]["train_loss"])
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(files["t10k-labels-idx1-ubyte"][:29]))
    with pytest.raises(store.DataError, match="30 test images but 29 test labels"):
        mnist.read_idx_folder(tmp_path)


@pytest.mark.slow  # 0.4 s
def test_a_checksum_error_suggests_only_options_that_exist(tmp_path):
    for spec in mnist.MNIST_FILES.values():
        (tmp_path / spec.raw_name).write_bytes(idx_bytes(np.zeros(spec.shape, dtype=np.uint8)))
    with pytest.raises(store.DataError, match="checksum mismatch") as info:
        mnist.load_mnist(tmp_path)
    message = str(info.value)
    assert "read_idx_folder" in message and hasattr(mnist, "read_idx_folder")
    assert "verify=False to load_mnist or load_halves" in message
    assert "verify" in inspect.signature(mnist.load_mnist).parameters
    assert "verify" in inspect.signature(halves.load_halves).parameters
    assert "dmf-numpy train --arrays" in message
    train = next(a for a in build_parser()._subparsers._group_actions[0].choices["train"]._actions
                 if "--arrays" in a.option_strings)
    assert train.dest == "arrays"
    halves.load_halves(tmp_path, verify=False, n_val=10, subset=5)  # what the message says works


# ---------------------------------------------------------------- the README's example

def readme_example():
    """The Python block under the README's heading "Your own data"."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Your own data"):]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def test_the_readme_example_runs_as_written_in_at_most_10_lines(tmp_path):
    code = readme_example()
    assert len(code.strip().splitlines()) <= 10
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    error = float(re.fullmatch(r"Evaluation\(loss=[0-9.e-]+, error=([0-9.]+)\)", last).group(1))
    assert error < 15  # learned: a single modality alone can do no better than 50 %


def test_a_refused_resume_leaves_the_model_as_it_was(tmp_path):
    x, y, labels = two_modalities(60, 0)
    fit(IMF((12, 6), (5, 6), (6, 4), n_classes=4), x, y, labels, epochs=1, out_dir=tmp_path, log=quiet)
    model = IMF((12, 6), (5, 6), (6, 4), n_classes=4, seed=5)
    before = {k: v.copy() for k, v in model.params.items()}
    with pytest.raises(CheckpointError, match=r"written with other settings \(lr differ"):
        fit(model, x, y, labels, epochs=1, lr=0.5, out_dir=tmp_path, resume=True, log=quiet)
    assert all(np.array_equal(before[k], model.params[k]) for k in before)
