"""Nothing lost, nothing silent: each fault and bad input that used to get through, reproduced.

One run per output folder (a lock), divergence stops a run and keeps its last good checkpoint,
checkpoints are checked whole before anything is used, output folders are checked before any
work, and every bad input gets a one-line error that names it. Concurrency tests use tiny runs.
"""

import json
import os
import signal
import struct
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

from dmf_numpy import DMF, IMF, GenerativeDMF, fit, fit_generative
from dmf_numpy.core.checks import check_features
from dmf_numpy.core.ops import softmax, softmax_cross_entropy
from dmf_numpy.datasets import mnist, store
from dmf_numpy.datasets.audio import read_wav
from dmf_numpy.datasets.store import DataError
from dmf_numpy.experiments.train_run import TrainConfig, run
from dmf_numpy.files import LOCK_NAME, FolderLocked, atomic_path, run_lock, write_text
from dmf_numpy.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from dmf_numpy.training.loop import TrainingDiverged, check_divergence
from dmf_numpy.training.optim import Adam

from helpers import SMALL_ARCH, synthetic_halves, two_modalities


def quiet(line):
    pass


def dmf_numpy(*argv, **kwargs):
    """Run the command line in a fresh interpreter."""
    return subprocess.run([sys.executable, "-m", "dmf_numpy", *argv], capture_output=True, text=True, **kwargs)


def arrays_file(path, n=200):
    x, y, labels = two_modalities(n, 0)
    xt, yt, lt = two_modalities(50, 1)
    np.savez(path, x=x, y=y, labels=labels, x_test=xt, y_test=yt, labels_test=lt)
    return path


def dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def write_lock(folder, pid, host=None):
    import socket

    folder.mkdir(parents=True, exist_ok=True)
    (folder / LOCK_NAME).write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(),
                                                "started": "2026-11-29 12:00:00", "command": "the other run"}))


# ---------------------------------------------------------------- 1. one run per output folder

def test_a_folder_held_by_a_live_run_is_refused_naming_the_holder(tmp_path):
    from helpers import hold_lock

    holder = hold_lock(tmp_path, "the other run")
    try:
        with pytest.raises(FolderLocked, match=f"process {holder.pid} on .*, started 20.* "
                                               r"\(the other run\); wait for it to end or use another output folder"):
            run(TrainConfig(**SMALL_ARCH, epochs=1), data=synthetic_halves(), out_dir=tmp_path, log=quiet)
        assert sorted(p.name for p in tmp_path.iterdir()) == [LOCK_NAME]  # nothing written, the lock left alone
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_on_another_host_is_never_taken_over(tmp_path):
    write_lock(tmp_path, dead_pid(), host="elsewhere.example")
    with pytest.raises(FolderLocked, match="on elsewhere.example"):
        with run_lock(tmp_path):
            pass


def test_a_lock_left_by_a_dead_process_is_taken_over_with_a_note(tmp_path, capsys):
    pid = dead_pid()
    write_lock(tmp_path, pid)
    run(TrainConfig(**SMALL_ARCH, epochs=1), data=synthetic_halves(), out_dir=tmp_path, log=quiet)
    assert f"was left by process {pid}, which has ended" in capsys.readouterr().err
    assert not (tmp_path / LOCK_NAME).exists() and (tmp_path / "checkpoint.npz").exists()


def test_the_lock_is_released_however_the_run_ends(tmp_path):
    with pytest.raises(KeyError):
        with run_lock(tmp_path, "a run that fails"):
            assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
            raise KeyError("boom")
    assert not (tmp_path / LOCK_NAME).exists()


@pytest.mark.slow
def test_two_runs_into_one_folder_one_is_refused_and_nothing_mixes(tmp_path):
    data = arrays_file(tmp_path / "mine.npz")
    out = tmp_path / "out"
    first = subprocess.Popen([sys.executable, "-m", "dmf_numpy", "train", "--arrays", str(data), "--epochs", "40",
                              "--batch-size", "10", "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    deadline = time.time() + 60
    while not (out / LOCK_NAME).exists() and time.time() < deadline:
        time.sleep(0.05)
    second = dmf_numpy("train", "--arrays", str(data), "--epochs", "40", "--lr", "0.01", "--out", str(out))
    stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    assert second.returncode == 2 and "another run is writing into this folder" in second.stderr
    assert f"process {first.pid}" in second.stderr and "Traceback" not in second.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["lr"] == 0.001 and len(json.loads((out / "history.json").read_text())) == 40
    assert not (out / LOCK_NAME).exists()


def test_settings_are_checked_for_every_training_even_before_its_first_checkpoint(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(TrainConfig(**SMALL_ARCH, epochs=1, lr=0.01).to_dict()))
    with pytest.raises(CheckpointError, match=r"holds a run with other settings \(lr differ"):
        run(TrainConfig(**SMALL_ARCH, epochs=1), data=synthetic_halves(), out_dir=tmp_path, resume=True, log=quiet)


# ---------------------------------------------------------------- 2. divergence

def test_the_divergence_rule():
    check_divergence(3, 2.5, 0.2, 0.1, None)  # 2.5 <= 10 * 0.2 + 1: a rise, not a divergence
    for loss, what in ((float("nan"), "is not finite"), (float("inf"), "is not finite"),
                       (3.1, r"is more than 10 times the lowest so far \(0.2\), plus 1")):
        with pytest.raises(TrainingDiverged, match=f"training diverged in epoch 3: its loss .* {what}; the "
                                                   r"learning rate \(0.1\) is most likely too large; the checkpoint "
                                                   "of epoch 2 in out is kept"):
            check_divergence(3, loss, 0.2, 0.1, "out")


def test_a_diverging_run_stops_keeping_its_last_good_checkpoint(tmp_path):
    x, y, labels = two_modalities(60, 0)
    good = IMF((12, 6), (5, 6), (6, 4), n_classes=4)
    fit(good, x, y, labels, epochs=1, batch_size=20, log=quiet)
    model = IMF((12, 6), (5, 6), (6, 4), n_classes=4)
    steps = []
    original = model.loss_and_grads

    def nan_in_epoch_2(*args, **kwargs):  # 3 mini-batches per epoch; the 5th call is in epoch 2
        steps.append(1)
        loss, grads = original(*args, **kwargs)
        return (float("nan") if len(steps) == 5 else loss), grads

    model.loss_and_grads = nan_in_epoch_2
    with pytest.raises(TrainingDiverged, match="epoch 2: its loss nan is not finite.*the checkpoint of epoch 1"):
        fit(model, x, y, labels, epochs=3, batch_size=20, out_dir=tmp_path, log=quiet)
    saved = IMF((12, 6), (5, 6), (6, 4), n_classes=4, seed=9)
    assert load_checkpoint(tmp_path / "checkpoint.npz", saved)["epoch"] == 1
    assert all(np.array_equal(saved.params[k], good.params[k]) for k in good.params)
    assert len(json.loads((tmp_path / "history.json").read_text())) == 1


def test_a_huge_learning_rate_exits_1_naming_the_epoch_and_the_learning_rate(tmp_path):
    result = dmf_numpy("train", "--arrays", str(arrays_file(tmp_path / "mine.npz")), "--lr", "10", "--epochs", "3",
                       "--batch-size", "10", "--out", str(tmp_path / "out"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "training diverged in epoch 1" in result.stderr and "the learning rate (10)" in result.stderr


def test_the_generative_model_diverging_is_reported_not_returned_as_nan():
    x, y, _ = two_modalities(100, 0)
    model = GenerativeDMF((12, 8), (5, 8), (8, 4), x_output="linear", y_output="linear")
    with pytest.raises(TrainingDiverged):
        fit_generative(model, x, y, epochs=3, batch_size=10, lr=1e6, log=quiet)


# ---------------------------------------------------------------- 3. checkpoints checked whole

def record(epoch):
    """A history record as the training loop writes it."""
    return {"epoch": epoch, "lr": 0.001, "train_loss": 0.7, "seconds": 0.1}


def checkpoint(tmp_path, change=None, arrays_change=None):
    """A valid checkpoint of a small DMF, its metadata and arrays then edited."""
    model = DMF((4, 3), (5, 3), (3, 2), n_classes=2)
    optimizer = Adam(model.params)
    path = tmp_path / "c.npz"
    save_checkpoint(path, model, optimizer, epoch=1, rng=np.random.default_rng(0), history=[record(1)],
                    train_config={"lr": 0.001}, lowest_loss=0.7)
    with np.load(path) as archive:
        arrays = {k: archive[k] for k in archive.files}
    meta = json.loads(str(arrays["meta"]))
    meta = change(meta) if change else meta
    arrays = arrays_change(arrays) if arrays_change else arrays
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)
    return path


def fresh():
    model = DMF((4, 3), (5, 3), (3, 2), n_classes=2, seed=3)
    return model, Adam(model.params), np.random.default_rng(1)


@pytest.mark.parametrize("change, arrays_change, message", [
    (lambda m: [m], None, "meta: expected a JSON object, got list"),
    (lambda m: {k: v for k, v in m.items() if k != "architecture"}, None, "the field 'architecture' is missing"),
    (lambda m: {k: v for k, v in m.items() if k != "train_config"}, None, "the field 'train_config' is missing"),
    (lambda m: {**m, "train_config": None}, None, "train_config is null, so its settings cannot be compared"),
    (lambda m: {**m, "rng_state": {"bit_generator": "PCG64", "state": "garbage"}}, None,
     "rng_state is not a state of PCG64"),
    (lambda m: {**m, "history": "long ago"}, None, "history has the wrong type"),
    (lambda m: {**m, "history": [record(1), record(2)]}, None,
     "epoch 1 does not match the 2 records of its history"),
    (lambda m: {**m, "epoch": "1"}, None, "epoch has the wrong type"),
    (None, lambda a: {**a, "opt/m/W_out": np.zeros((1, 2), np.float32)}, "optimizer state 'm/W_out' is float32[1, 2], "
                                                                       "expected float32[2, 2]"),
    (None, lambda a: {**a, "param/W_out": np.full((2, 2), np.nan, np.float32)}, "param/W_out: holds 4 NaN"),
    (None, lambda a: {**a, "param/W_out": a["param/W_out"].astype(np.float64)},
     "parameter 'W_out' is float64[2, 2], expected float32[2, 2]"),
    (None, lambda a: {k: v for k, v in a.items() if k != "param/b_out"}, "parameter 'b_out' is missing"),
    (None, lambda a: {**a, "param/W_extra": np.zeros(2, np.float32)}, "unexpected parameter 'W_extra'"),
])
def test_a_damaged_checkpoint_is_refused_by_field_and_nothing_is_loaded(tmp_path, change, arrays_change, message):
    path = checkpoint(tmp_path, change, arrays_change)
    model, optimizer, rng = fresh()
    before = ({k: v.copy() for k, v in model.params.items()}, rng.bit_generator.state)
    with pytest.raises(CheckpointError, match=f"{path}: .*{message}".replace("[", r"\[").replace("(", r"\(")
                       .replace(")", r"\)").replace("]", r"\]")):
        load_checkpoint(path, model, optimizer, rng, settings={"lr": 0.001})
    assert all(np.array_equal(before[0][k], model.params[k]) for k in model.params)
    assert rng.bit_generator.state == before[1] and optimizer.t == 0


def test_resuming_from_a_damaged_checkpoint_overwrites_nothing(tmp_path):
    x, y, labels = two_modalities(40, 0)
    fit(IMF((12, 6), (5, 6), (6, 4), n_classes=4), x, y, labels, epochs=1, out_dir=tmp_path, log=quiet)
    with np.load(tmp_path / "checkpoint.npz") as archive:
        arrays = {k: archive[k] for k in archive.files}
    meta = json.loads(str(arrays["meta"]))
    arrays["meta"] = np.array(json.dumps({**meta, "history": meta["history"] * 3}))  # longer than the epochs run
    np.savez(tmp_path / "checkpoint.npz", **arrays)
    before = (tmp_path / "checkpoint.npz").read_bytes()
    with pytest.raises(CheckpointError, match="epoch 1 does not match the 3 records of its history"):
        fit(IMF((12, 6), (5, 6), (6, 4), n_classes=4), x, y, labels, epochs=3, out_dir=tmp_path, resume=True,
            log=quiet)
    assert (tmp_path / "checkpoint.npz").read_bytes() == before


# ---------------------------------------------------------------- 4. output folders checked first

UNWRITABLE = ["a-file", "/proc/dmf-numpy-out"]


@pytest.mark.parametrize("out", UNWRITABLE)
@pytest.mark.parametrize("argv", [pytest.param([command], marks=() if command == "train" else pytest.mark.slow)
                                  for command in ("paths", "reconstruct", "retrieval", "audiovisual", "table1",
                                                  "train")])  # the fast tier: train's; a child each, 0.4 s
def test_an_unwritable_out_is_refused_before_any_work(tmp_path, argv, out):
    (tmp_path / "a-file").write_text("not a folder")
    start = time.perf_counter()
    result = dmf_numpy(*argv, "--data-dir", str(tmp_path), "--out", out, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"--out {out}: " in result.stderr and ("a file, not a folder" in result.stderr
                                                  or "cannot write there" in result.stderr)
    assert time.perf_counter() - start < 20  # refused at once, not after reading data or training
    assert "Errno 17" not in result.stderr


@pytest.mark.parametrize("target, message", [("folder", "a folder, not a file name"),
                                             pytest.param("/proc/dmf-numpy.json", "cannot write there",
                                                          marks=pytest.mark.slow)])
def test_bench_json_is_checked_before_measuring(tmp_path, target, message):
    (tmp_path / "folder").mkdir()
    result = dmf_numpy("bench", "--json", target, cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert "float32, paper sizes" not in result.stdout  # no figure was measured


# ---------------------------------------------------------------- 5. errors, not tracebacks

@pytest.mark.slow  # a child that runs out of memory; test_errors.py checks the same in-process
def test_out_of_memory_is_one_line_with_exit_2():
    result = dmf_numpy("bench", "--batch-size", "100000000")
    assert result.returncode == 2 and "out of memory" in result.stderr and "Traceback" not in result.stderr


def test_any_memory_error_of_a_command_is_one_line(monkeypatch, capsys):
    import dmf_numpy.cli as cli

    def greedy(args):
        raise MemoryError

    monkeypatch.setattr(cli, "cmd_gradcheck", greedy)
    assert cli.main(["gradcheck"]) == 2
    assert "error: out of memory" in capsys.readouterr().err


def test_a_wav_file_of_zero_channels_is_a_data_error(tmp_path):
    fmt = struct.pack("<HHIIHH", 1, 0, 8000, 16000, 2, 16)  # PCM, 0 channels
    data = b"\x00\x00" * 10
    wav = (b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data)) + b"WAVE"
           + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data)
    (tmp_path / "zero.wav").write_bytes(wav)
    with pytest.raises(DataError, match="zero.wav: cannot read as a WAV file"):
        read_wav(tmp_path / "zero.wav", sample_rate=8000)


@pytest.mark.parametrize("inputs, message", [
    (lambda x, y: (x,), r"inputs: expected a pair \(x_in, y_in\) of the encoder's inputs, got tuple of length 1"),
    (lambda x, y: x, r"inputs: expected a pair \(x_in, y_in\) of the encoder's inputs, got ndarray"),
])
def test_generative_inputs_of_the_wrong_kind_are_named(inputs, message):
    model = GenerativeDMF((3, 2), (4, 2), (2, 2))
    x, y = np.full((5, 3), 0.5), np.full((5, 4), 0.5)
    with pytest.raises(ValueError, match=message):
        model.loss_and_grads(x, y, inputs=inputs(x, y))


@pytest.mark.parametrize("kwargs, message", [
    (dict(encoder=["dmf"]), r"encoder: expected one of \['dmf', 'emf', 'imf'\], got \['dmf'\]"),
    (dict(x_output=["sigmoid"]), r"x_output: expected one of \['linear', 'sigmoid'\], got \['sigmoid'\]"),
    (dict(x_weight=1e300), "x_weight: 1e.300 is too large for float32 arithmetic"),
])
def test_generative_settings_of_the_wrong_kind_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GenerativeDMF((3, 2), (4, 2), (2, 2), **kwargs)


def test_float32_softmax_at_the_ends_of_the_range_warns_of_nothing():
    scores = np.array([[3e38, -3e38, 0.0]], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, d_scores = softmax_cross_entropy(scores, np.array([0]))
        p = softmax(scores)
    assert loss == 0.0 and np.array_equal(p, [[1, 0, 0]]) and np.isfinite(d_scores).all()


# ---------------------------------------------------------------- 6. nothing accepted silently

def test_timedelta_features_are_not_numbers():
    with pytest.raises(ValueError, match="x: expected real numbers, got dtype timedelta64"):
        check_features("x", np.ones((2, 3), dtype="timedelta64[s]"), 3, np.float32)


def test_linear_targets_too_large_for_a_finite_loss_are_refused():
    model = GenerativeDMF((3, 2), (4, 2), (2, 2), x_output="linear")
    with pytest.raises(ValueError, match="x: targets up to 1e.20 in magnitude; a linear output in float32 needs "
                                         "them below"):
        model.loss(np.full((5, 3), 1e20), np.full((5, 4), 0.5))


# ---------------------------------------------------------------- 7. smaller

def test_a_temporary_file_left_by_a_killed_write_is_removed_by_the_next(tmp_path):
    stale = tmp_path / f".checkpoint.npz.{dead_pid()}.tmp"
    stale.write_bytes(b"half a checkpoint")
    model = DMF((4, 3), (5, 3), (3, 2), n_classes=2)
    save_checkpoint(tmp_path / "checkpoint.npz", model, Adam(model.params), epoch=0, rng=np.random.default_rng(),
                    history=[])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.npz"]


def test_outputs_get_the_permissions_of_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        write_text(tmp_path / "table.md", "x")
        with atomic_path(tmp_path / "fig.png") as tmp:
            tmp.write_bytes(b"png")
    finally:
        os.umask(old)
    assert {oct((tmp_path / name).stat().st_mode & 0o777) for name in ("table.md", "fig.png")} == {"0o644"}


def test_out_that_is_a_file_is_named_without_an_errno(tmp_path):
    (tmp_path / "taken").write_text("a file")
    result = dmf_numpy("train", "--arrays", str(arrays_file(tmp_path / "mine.npz")), "--out", "taken", cwd=tmp_path)
    assert result.returncode == 2 and "--out taken: a file, not a folder" in result.stderr


def test_a_labels_file_with_the_images_magic_number_says_so(tmp_path, monkeypatch):
    header = bytes([0, 0, 8, 3]) + struct.pack(">III", 60000, 28, 28)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(header + b"\x00" * 100)
    spec = mnist.MNIST_FILES["train_labels"]
    with pytest.raises(DataError, match="bad magic number 2051, expected 2049 \\(labels, 1-D\\)"):
        mnist._read_mnist_file(tmp_path / "train-labels-idx1-ubyte", spec, verify=False)


def test_an_empty_dataset_folder_does_not_hide_the_files_beside_it(tmp_path):
    (tmp_path / "mnist").mkdir()
    assert store.resolve_data_dir("mnist", tmp_path).path == tmp_path
    (tmp_path / "mnist" / "train-images-idx3-ubyte.gz").write_bytes(b"")
    assert store.resolve_data_dir("mnist", tmp_path).path == tmp_path / "mnist"


# ---------------------------------------------------------------- 8. long runs

@pytest.mark.slow
def test_ctrl_c_exits_130_and_says_how_to_resume(tmp_path):
    data = arrays_file(tmp_path / "mine.npz", n=2000)
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "dmf_numpy", "train", "--arrays", str(data), "--epochs", "6",
                                "--batch-size", "10", "--out", str(out)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (out / "checkpoint.npz").exists() and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in stderr
    assert "interrupted; every finished epoch is in the checkpoint: add --resume to the same command" in stderr
    assert not (out / LOCK_NAME).exists()
    resumed = dmf_numpy("train", "--arrays", str(data), "--epochs", "6", "--batch-size", "10", "--out", str(out),
                        "--resume")
    assert resumed.returncode == 0 and "resumed after epoch" in resumed.stdout
