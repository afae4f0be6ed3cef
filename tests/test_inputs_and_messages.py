"""Issue 19, items 7-10: the Python API checks its arguments at the call, the command line
accepts nothing silently, nothing hangs or prints a traceback, and every message names what the
user gave and what to change."""

import errno
import io
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from dmf_numpy import DMF, GenerativeDMF, fit, fit_generative
from dmf_numpy.cli import MAX_GRADCHECK_BATCH, main
from dmf_numpy.datasets.arrays import MAX_CLASSES
from dmf_numpy.experiments.train_run import TrainConfig
from dmf_numpy.training.checkpoint import CheckpointError

ROOT = Path(__file__).resolve().parents[1]


def data(n=40, seed=0, d_x=5, d_y=4):
    rng = np.random.default_rng(seed)
    return rng.uniform(size=(n, d_x)), rng.uniform(size=(n, d_y)), rng.integers(0, 3, size=n)


def model():
    return DMF((5, 4), (4, 3), (4, 3), 3, seed=0)


class Calls:
    """A log or metrics function that records that it was called (so: that an epoch ran)."""

    def __init__(self):
        self.count = 0

    def __call__(self, *args):
        self.count += 1
        return {}


# ---------------------------------------------------------------- item 7: the Python API


@pytest.mark.parametrize("where", ["a file", "under a file"])
def test_fit_refuses_an_unusable_out_dir_before_the_first_epoch(tmp_path, where):
    (tmp_path / "f").write_text("not a folder")
    out_dir = tmp_path / "f" if where == "a file" else tmp_path / "f" / "run"
    calls = Calls()
    with pytest.raises(OSError, match=f"out_dir {out_dir}: "):
        fit(model(), *data(), epochs=2, out_dir=out_dir, metrics=calls, log=calls)
    assert calls.count == 0  # no epoch was trained


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into any folder")
def test_fit_refuses_an_unwritable_out_dir_before_the_first_epoch(tmp_path):
    tmp_path.chmod(0o500)
    calls = Calls()
    try:
        with pytest.raises(PermissionError, match="out_dir .*cannot write there"):
            fit(model(), *data(), epochs=2, out_dir=tmp_path / "run", metrics=calls, log=calls)
    finally:
        tmp_path.chmod(0o700)
    assert calls.count == 0


def test_fit_takes_numpy_scalars_as_numbers_and_records_numpy_metrics_as_json(tmp_path):
    def metrics(model):
        return {"np_error": np.float32(12.5), "by_condition": {"both": np.float64(1.5), "count": np.int64(3)}}

    history = fit(model(), *data(), epochs=np.int64(2), batch_size=np.int32(10), optimizer="sgd", lr=np.float32(0.1),
                  momentum=np.float32(0.9), lr_decay=np.float32(1.0), modality_dropout=np.float32(0.2),
                  seed=np.uint8(3), out_dir=tmp_path, metrics=metrics, log=None)
    saved = json.loads((tmp_path / "history.json").read_text())
    assert saved == history and saved[-1]["np_error"] == 12.5 and saved[-1]["by_condition"]["count"] == 3
    fit_generative(GenerativeDMF((5, 4), (4, 3), (3, 2), seed=0), *data()[:2], epochs=1, momentum=np.float32(0.5),
                   out_dir=tmp_path / "gen", metrics=metrics, log=None)
    assert json.loads((tmp_path / "gen" / "history.json").read_text())[0]["np_error"] == 12.5


@pytest.mark.parametrize("kwargs, message", [
    (dict(momentum=None), "momentum: expected a value in \\[0, 1\\), got None"),
    (dict(momentum="0.9"), "momentum: expected a value in \\[0, 1\\), got '0.9'"),
    (dict(lr_decay=None), "lr_decay: expected a factor in \\(0, 1\\], got None"),
    (dict(lr_decay="1"), "lr_decay: expected a factor in \\(0, 1\\], got '1'"),
    (dict(modality_dropout=None), "modality_dropout: expected a fraction in \\[0, 1\\), got None"),
    (dict(modality_dropout="0.2"), "modality_dropout: expected a fraction in \\[0, 1\\), got '0.2'"),
    (dict(optimizer=["adam"]), "optimizer: expected one of \\['adam', 'sgd'\\], got \\['adam'\\]"),
    (dict(metrics=lambda model: [1.0]), "metrics: expected a function returning a dict of numbers, got a list"),
    (dict(metrics=lambda model: {"error": "low"}), "metrics\\['error'\\]: expected a number"),
    (dict(metrics="error"), "metrics: expected a function metrics\\(model\\) -> dict or None, got 'error'"),
    (dict(log=5), "log: expected a function log\\(line\\) or None, got 5"),
    (dict(settings=[1]), "settings: expected a dict of named settings"),
    (dict(out_dir=5), "out_dir: expected a folder path \\(a non-empty str or a Path\\) or None, got 5"),
    (dict(out_dir=""), "out_dir: expected a folder path"),
    (dict(lr=True), "lr: expected a positive, finite learning rate, got True"),
    (dict(resume=True), "resume=True: there is nothing to resume without out_dir"),
    (dict(resume="yes"), "resume: expected True or False, got 'yes'"),
])
def test_fit_refuses_a_bad_argument_by_name(kwargs, message):
    with pytest.raises(ValueError, match=f"^{message}"):
        fit(model(), *data(), **{"epochs": 1, "log": None, **kwargs})


def test_train_config_takes_numpy_scalars_and_refuses_other_types_by_name():
    config = TrainConfig(momentum=np.float32(0.9), lr=np.float64(0.01), epochs=np.int64(3), damage=np.float32(0.5))
    assert json.loads(json.dumps(config.to_dict()))["momentum"] == pytest.approx(0.9)
    for kwargs, message in [(dict(epochs="3"), "epochs: expected a positive integer, got '3'"),
                            (dict(lr=True), "lr: expected a positive, finite learning rate, got True"),
                            (dict(momentum=None), "momentum: expected a value in"),
                            (dict(damage="0.3"), "damage: expected a fraction in"),
                            (dict(subset=0), "subset: expected a positive integer, got 0"),
                            (dict(damage_kind="blur"), "damage_kind: expected one of"),
                            (dict(x_dims=(0, 3)), "x_dims: expected one or more positive layer sizes")]:
        with pytest.raises(ValueError, match=message):
            TrainConfig(**kwargs)


# ---------------------------------------------------------------- item 8: nothing accepted silently


def run_cli(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse
        code = exit_.code
    except KeyboardInterrupt:  # not handled: a failure, not the end of the test session
        code = "KeyboardInterrupt"
    return code, capsys.readouterr().err


@pytest.mark.parametrize("argv, option", [
    (["train", "--out", ""], "--out"),
    (["train", "--arrays", "", "--out", "x"], "--arrays"),
    (["table1", "--out", ""], "--out"),
    (["paths", "--out", ""], "--out"),
    (["draw", "--out", ""], "--out"),
    (["train", "--data-dir", ""], "--data-dir"),
])
def test_an_empty_path_is_refused_not_taken_for_the_current_folder(tmp_path, monkeypatch, capsys, argv, option):
    monkeypatch.chdir(tmp_path)
    code, err = run_cli(argv, capsys)
    assert code == 2 and option in err and "empty" in err
    assert list(tmp_path.iterdir()) == []


def test_study_refuses_an_empty_protocol_selection(monkeypatch, capsys):
    import dmf_numpy.experiments.study as study

    monkeypatch.setattr(study, "run_study", lambda *a, **k: pytest.fail("the whole grid was started"))
    for protocols in ("", ",", "paper@"):
        code, err = run_cli(["study", "--quick", "--protocols", protocols], capsys)
        assert code == 2 and "--protocols: expected PROTOCOL@SCALE" in err


def test_draw_refuses_an_out_that_is_not_png(tmp_path, capsys):
    code, err = run_cli(["draw", "--out", str(tmp_path / "x.txt")], capsys)
    assert code == 2 and "--out" in err and ".png" in err and not (tmp_path / "x.txt").exists()


def test_a_resume_on_other_data_of_the_same_size_is_refused(tmp_path):
    x, y, labels = data()

    def stop_after_epoch_1(line):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(model(), x, y, labels, epochs=2, out_dir=tmp_path, log=stop_after_epoch_1)
    other = x.copy()
    other[0, 0] += 0.25
    with pytest.raises(CheckpointError, match="train_data_sha256"):
        fit(model(), other, y, labels, epochs=2, out_dir=tmp_path, resume=True, log=None)
    with pytest.raises(CheckpointError, match="train_data_sha256"):
        fit(model(), x, y, (labels + 1) % 3, epochs=2, out_dir=tmp_path, resume=True, log=None)
    assert len(fit(model(), x, y, labels, epochs=2, out_dir=tmp_path, resume=True, log=None)) == 2


def test_a_run_whose_folder_disappears_stops_instead_of_recreating_it(tmp_path):
    out_dir = tmp_path / "run"

    def delete_after_epoch_1(line):
        if line.startswith("epoch 1/"):
            shutil.rmtree(out_dir)

    with pytest.raises(FileNotFoundError, match="the output folder was deleted or moved during the run"):
        fit(model(), *data(), epochs=3, out_dir=out_dir, log=delete_after_epoch_1)
    assert not out_dir.exists()


def test_masked_arrays_are_refused_not_unmasked(tmp_path):
    x, y, labels = data()
    masked = np.ma.array(x, mask=np.zeros_like(x, dtype=bool))
    masked[3, 2] = np.ma.masked
    with pytest.raises(ValueError, match=r"^x: a masked array \(numpy.ma\) with 1 masked entries; fill them"):
        fit(model(), masked, y, labels, epochs=1, log=None)
    with pytest.raises(ValueError, match=r"^labels: a masked array"):
        fit(model(), x, y, np.ma.array(labels), epochs=1, log=None)


# ---------------------------------------------------------------- item 9: hangs and noise


def test_gradcheck_refuses_a_batch_that_would_run_for_hours(monkeypatch, capsys):
    import dmf_numpy.cli as cli

    monkeypatch.setattr(cli, "check_suite", lambda *a, **k: pytest.fail("the hours-long check was started"))
    code, err = run_cli(["gradcheck", "--batch", "100000"], capsys)
    assert code == 2 and f"--batch 100000: at most {MAX_GRADCHECK_BATCH}" in err


def test_ctrl_c_while_the_package_loads_is_one_line_and_exit_130():
    # A Ctrl-C at the moment the package's modules are imported (the first fraction of a second).
    program = ("import sys, builtins\n"
               "sys.argv[0] = 'dmf-numpy'\n"
               "real = builtins.__import__\n"
               "def interrupted(name, *args, **kwargs):\n"
               "    if name.endswith('gradcheck'):\n"
               "        raise KeyboardInterrupt\n"
               "    return real(name, *args, **kwargs)\n"
               "builtins.__import__ = interrupted\n"
               "from dmf_numpy.cli import main\n"
               "sys.exit(main())\n")
    done = subprocess.run([sys.executable, "-c", program, "gradcheck"], capture_output=True, text=True, cwd=ROOT,
                          timeout=60)
    assert done.returncode == 130 and "Traceback" not in done.stderr
    assert done.stderr.strip() == "dmf-numpy: interrupted; nothing was written"


def test_ctrl_c_while_parsing_the_arguments_is_exit_130(monkeypatch, capsys):
    import dmf_numpy.cli as cli

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    code, err = run_cli(["gradcheck"], capsys)
    assert code == 130 and err.strip() == "dmf-numpy: interrupted; nothing was written"


# ---------------------------------------------------------------- item 10: messages


def save_arrays(path, **arrays):
    base = data()
    np.savez(path, **{"x": base[0], "y": base[1], "labels": base[2], **arrays})
    return path


@pytest.mark.parametrize("arrays, expected, wrong", [
    (dict(x=np.full((40, 5), 1e39)), "x holds values too large for float32", "NaN"),
    (dict(x=np.ones((40, 0))), "x has 0 columns (shape (40, 0))", "x_dims"),
    (dict(labels=np.full(40, 2**63 + 5, dtype=np.uint64)), "class index 9223372036854775813", "-9223"),
    (dict(labels=np.full(40, 10**9)), f"class index 1000000000, which would make 1000000001 classes (at most "
                                       f"{MAX_CLASSES:,})", "memory"),
])
def test_train_on_arrays_names_the_real_problem(tmp_path, capsys, arrays, expected, wrong):
    path = save_arrays(tmp_path / "mine.npz", **arrays)
    code, err = run_cli(["train", "--arrays", str(path), "--out", str(tmp_path / "run"), "--epochs", "1"], capsys)
    assert code == 2 and expected in err and wrong not in err


def test_an_npy_header_claiming_a_huge_array_is_named_not_out_of_memory(tmp_path, capsys):
    path = save_arrays(tmp_path / "mine.npz")
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)})
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("x_val.npy", header.getvalue() + b"\0" * 64)
    code, err = run_cli(["train", "--arrays", str(path), "--out", str(tmp_path / "run"), "--epochs", "1"], capsys)
    assert code == 2 and "x_val" in err and "out of memory" not in err


def test_draw_names_the_sizes_that_do_not_fit_in_memory(tmp_path, capsys):
    code, err = run_cli(["draw", "--x-dims", "1000000", "1000000", "1000000", "--out", str(tmp_path / "a.png")],
                        capsys)
    assert code == 2 and "--x-dims 1000000 1000000 1000000" in err and "smaller layer sizes" in err


def test_validation_errors_say_they_concern_the_validation_set():
    x, y, labels = data()
    with pytest.raises(ValueError, match=r"^validation x: expected 5 features per sample"):
        fit(model(), x, y, labels, epochs=1, validation=(np.ones((4, 6)), y[:4], labels[:4]), log=None)
    with pytest.raises(ValueError, match=r"^validation labels: expected class indices"):
        fit(model(), x, y, labels, epochs=1, validation=(x[:4], y[:4], [0, 1, 2, 7]), log=None)


def test_a_bad_damage_value_is_not_named_by_an_internal_function(capsys):
    code, err = run_cli(["train", "--damage", "abc"], capsys)
    assert code == 2 and "_damage" not in err and "expected a fraction in [0, 1), got 'abc'" in err


@pytest.mark.parametrize("number, hint", [(errno.ENOSPC, "the disk is full"),
                                          (errno.EFBIG, "ulimit -f"),
                                          (errno.EACCES, "not writable")])
def test_a_failed_write_names_the_file_and_says_how_to_resume(tmp_path, monkeypatch, capsys, number, hint):
    import dmf_numpy.files as files

    def full(self, *args, **kwargs):
        raise OSError(number, os.strerror(number))  # as a write to a full disk: no file named

    monkeypatch.setattr(files.Path, "write_text", full)
    code, err = run_cli(["train", "--arrays", str(save_arrays(tmp_path / "mine.npz")), "--out", str(tmp_path / "run"),
                         "--epochs", "1"], capsys)
    assert code == 2 and "[Errno" not in err and hint in err and "--resume" in err
    assert str(tmp_path / "run" / "config.json") in err


def test_the_missing_data_message_is_short(tmp_path):
    from dmf_numpy.datasets import mnist
    from dmf_numpy.datasets.store import MissingDataError

    with pytest.raises(MissingDataError) as info:
        mnist.load_mnist(tmp_path)
    message = str(info.value)
    assert len(message.splitlines()) <= 2
    assert "train-images-idx3-ubyte.gz" in message and "--data-dir" in message and str(tmp_path) in message


ORPHANED_POOL = """
import multiprocessing, time
from dmf_numpy.experiments.table1 import _ignore_interrupts

def work(_):
    time.sleep(60)

if __name__ == "__main__":
    pool = multiprocessing.get_context("spawn").Pool(2, initializer=_ignore_interrupts)
    print(" ".join(str(p.pid) for p in pool._pool), flush=True)
    pool.map(work, range(2))
"""


def _alive(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            return "\\tZ" not in next(line for line in status if line.startswith("State:"))
    except (FileNotFoundError, StopIteration):
        return False


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_table1_workers_stop_quietly_when_their_parent_is_killed(tmp_path):
    script = tmp_path / "pool.py"
    script.write_text(ORPHANED_POOL)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, cwd=tmp_path)
    workers = [int(pid) for pid in parent.stdout.readline().split()]
    time.sleep(1)  # the workers are inside work()
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in workers)
    assert "BrokenPipeError" not in parent.stderr.read()
