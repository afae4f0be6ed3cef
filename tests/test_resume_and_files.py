"""Nothing lost on resume (issue 19, items 3, 5 and 6).

- One transaction per epoch: the checkpoint carries the history, and a resume rebuilds
  ``history.json``/``.csv`` from it when a crash (kill -9, a full disk) came between the two,
  even when no epoch is left to train.
- The divergence rule's reference loss is in the checkpoint, so a resumed run stops where an
  uninterrupted one would, and a resume after a divergence stops again.
- A damaged or foreign checkpoint or ``--arrays`` file is one line naming the file and the
  problem (exit 2), never a traceback: every member of the archive is read under guard, the
  generator state is checked as a state of its generator, and every history record is checked.
"""

import json
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import dmf_numpy.training.loop as loop
from dmf_numpy import IMF, fit
from dmf_numpy.cli import main
from dmf_numpy.datasets.arrays import load_arrays
from dmf_numpy.datasets.store import DataError
from dmf_numpy.npz import NpzError, read_npz
from dmf_numpy.training.checkpoint import VERSION, CheckpointError, load_checkpoint, read_checkpoint
from dmf_numpy.training.loop import TrainingDiverged

from helpers import SHARED_DATA, two_modalities

ROOT = Path(__file__).resolve().parents[1]
TIMING = ("seconds",)


def quiet(line):
    pass


def small_model(seed=0):
    return IMF((12, 6), (5, 6), (6, 4), n_classes=4, seed=seed)


def without_timing(history):
    return [{k: v for k, v in record.items() if k not in TIMING} for record in history]


def csv_without_timing(path):
    lines = path.read_text().splitlines()
    column = lines[0].split(",").index("seconds")
    return [[cell for i, cell in enumerate(line.split(",")) if i != column] for line in lines]


def dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def arrays_file(path, n=60):
    x, y, labels = two_modalities(n, 0)
    xt, yt, lt = two_modalities(30, 1)
    np.savez(path, x=x, y=y, labels=labels, x_test=xt, y_test=yt, labels_test=lt)
    return path


def train_argv(tmp_path, out, *more):
    return ["train", "--arrays", str(arrays_file(tmp_path / "mine.npz")), "--epochs", "2", "--batch-size", "20",
            "--out", str(out), *more]


# ---------------------------------------------------------------- 3. one transaction per epoch

def uninterrupted(tmp_path, epochs=3):
    x, y, labels = two_modalities(60, 0)
    fit(small_model(), x, y, labels, epochs=epochs, batch_size=20, out_dir=tmp_path / "whole", log=quiet)
    return tmp_path / "whole"


@pytest.mark.parametrize("fail_at", [2, 3])  # in the middle of the run, and after its last checkpoint
def test_history_lost_between_the_checkpoint_and_the_history_files_is_rebuilt(tmp_path, monkeypatch, fail_at):
    whole = uninterrupted(tmp_path)
    x, y, labels = two_modalities(60, 0)
    out = tmp_path / "crashed"
    calls, write_history = [], loop.write_history

    def full_disk_at_epoch(out_dir, history):
        calls.append(1)
        if len(calls) == fail_at:
            (Path(out_dir) / "history.json").unlink()  # and a history.json that did not survive
            (Path(out_dir) / f".history.json.{dead_pid()}.tmp").write_text('[{"epoch": 1, ')  # a killed write
            raise OSError(28, "No space left on device")
        write_history(out_dir, history)

    monkeypatch.setattr(loop, "write_history", full_disk_at_epoch)
    with pytest.raises(OSError, match="No space"):
        fit(small_model(), x, y, labels, epochs=3, batch_size=20, out_dir=out, log=quiet)
    monkeypatch.setattr(loop, "write_history", write_history)
    assert read_checkpoint(out / "checkpoint.npz")[0]["epoch"] == fail_at  # the checkpoint was written
    lines = []
    history = fit(small_model(), x, y, labels, epochs=3, batch_size=20, out_dir=out, resume=True, log=lines.append)
    assert without_timing(json.loads((out / "history.json").read_text())) == \
        without_timing(json.loads((whole / "history.json").read_text())) == without_timing(history)
    assert csv_without_timing(out / "history.csv") == csv_without_timing(whole / "history.csv")
    assert any("rewrote history.json and history.csv from the checkpoint" in line for line in lines)
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.npz", "history.csv", "history.json"]  # no stray
    twin, other = small_model(5), small_model(5)
    load_checkpoint(out / "checkpoint.npz", twin)
    load_checkpoint(whole / "checkpoint.npz", other)
    assert all(np.array_equal(twin.params[k], other.params[k]) for k in twin.params)


def test_a_finished_runs_current_history_is_left_alone_on_resume(tmp_path):
    whole = uninterrupted(tmp_path)
    before = {name: (whole / name).stat().st_mtime_ns for name in ("history.json", "history.csv")}
    lines = []
    x, y, labels = two_modalities(60, 0)
    fit(small_model(), x, y, labels, epochs=3, batch_size=20, out_dir=whole, resume=True, log=lines.append)
    assert {name: (whole / name).stat().st_mtime_ns for name in before} == before
    assert not any("rewrote" in line for line in lines)


@pytest.mark.parametrize("damage", ["delete json", "truncate json", "delete csv", "csv behind", "empty csv"])
def test_a_finished_runs_history_is_rebuilt_by_resume_however_it_was_lost(tmp_path, damage):
    whole = uninterrupted(tmp_path, epochs=2)
    out = tmp_path / "damaged"
    x, y, labels = two_modalities(60, 0)
    fit(small_model(), x, y, labels, epochs=2, batch_size=20, out_dir=out, log=quiet)
    expected = {name: (out / name).read_text() for name in ("history.json", "history.csv")}
    if damage == "delete json":
        (out / "history.json").unlink()
    elif damage == "truncate json":
        (out / "history.json").write_text(expected["history.json"][:50])
    elif damage == "delete csv":
        (out / "history.csv").unlink()
    elif damage == "csv behind":
        (out / "history.csv").write_text("\n".join(expected["history.csv"].splitlines()[:2]) + "\n")
    else:
        (out / "history.csv").write_text("")
    fit(small_model(), x, y, labels, epochs=2, batch_size=20, out_dir=out, resume=True, log=quiet)
    assert {name: (out / name).read_text() for name in expected} == expected
    assert csv_without_timing(out / "history.csv") == csv_without_timing(whole / "history.csv")


@pytest.mark.slow
def test_kill_9_after_the_last_checkpoint_then_resume_exits_0_with_the_whole_history(tmp_path):
    """The issue's case: a real kill -9 right after the final checkpoint, then `train --resume`."""
    argv = train_argv(tmp_path, tmp_path / "killed")
    whole_argv = train_argv(tmp_path, tmp_path / "whole")
    assert main(whole_argv) == 0
    script = ("import os, sys, dmf_numpy.training.loop as loop\n"
              "from dmf_numpy.cli import main\n"
              "write, calls = loop.write_history, []\n"
              "def killed_at_epoch_2(out_dir, history):\n"
              "    calls.append(1)\n"
              "    if len(calls) == 2:\n"
              "        open(os.path.join(out_dir, f'.history.json.{os.getpid()}.tmp'), 'w').write('[')\n"
              "        os.kill(os.getpid(), 9)\n"
              "    write(out_dir, history)\n"
              "loop.write_history = killed_at_epoch_2\n"
              f"sys.exit(main({argv!r}))\n")
    killed = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert killed.returncode == -9
    out = tmp_path / "killed"
    assert len(json.loads((out / "history.json").read_text())) == 1  # the history is behind the checkpoint
    resumed = subprocess.run([sys.executable, "-m", "dmf_numpy", *argv, "--resume"], cwd=ROOT, capture_output=True,
                             text=True)
    assert resumed.returncode == 0, resumed.stderr
    whole = tmp_path / "whole"
    assert without_timing(json.loads((out / "history.json").read_text())) == \
        without_timing(json.loads((whole / "history.json").read_text()))
    assert csv_without_timing(out / "history.csv") == csv_without_timing(whole / "history.csv")
    assert not list(out.glob(".*.tmp"))
    assert "rewrote history.json and history.csv" in resumed.stdout


# ---------------------------------------------------------------- 5. the divergence rule resumes

#: Scripted mini-batch losses, 3 mini-batches an epoch: the initial weights' loss is 1, so the
#: rule's bound is 10 * 1 + 1 = 11 throughout. Epochs 1 and 2 (means 4.33 and 5) stay under it,
#: epoch 3 (12) does not. Rebuilt from the history alone, the bound would be 10 * 4.33 + 1.
SCRIPT = [1.0, 6.0, 6.0, 5.0, 5.0, 5.0, 12.0, 12.0, 12.0, 3.0, 3.0, 3.0]


def scripted(model, first_call=0):
    """``model`` with its mini-batch losses replaced by :data:`SCRIPT` (the gradients are real)."""
    calls = [first_call]
    original = model.loss_and_grads

    def loss_and_grads(*args, **kwargs):
        _, grads = original(*args, **kwargs)
        calls[0] += 1
        return SCRIPT[calls[0] - 1], grads

    model.loss_and_grads = loss_and_grads
    return model


def stop_after_epoch_2(line):
    if line.startswith("epoch 2/"):
        raise KeyboardInterrupt


def test_a_resumed_run_diverges_where_an_uninterrupted_one_does(tmp_path):
    x, y, labels = two_modalities(60, 0)
    kwargs = dict(epochs=4, batch_size=20)
    with pytest.raises(TrainingDiverged, match=r"epoch 3: its loss 12 is more than 10 times the lowest so far \(1\)"):
        fit(scripted(small_model()), x, y, labels, **kwargs, out_dir=tmp_path / "whole", log=quiet)
    with pytest.raises(KeyboardInterrupt):
        fit(scripted(small_model()), x, y, labels, **kwargs, out_dir=tmp_path / "cut", log=stop_after_epoch_2)
    with pytest.raises(TrainingDiverged, match=r"epoch 3: its loss 12 is more than 10 times the lowest so far \(1\)"):
        fit(scripted(small_model(), first_call=6), x, y, labels, **kwargs, out_dir=tmp_path / "cut", resume=True,
            log=quiet)
    assert read_checkpoint(tmp_path / "cut" / "checkpoint.npz")[0]["lowest_loss"] == 1.0
    # ... and a resume after the divergence stops again, at the same epoch, keeping epoch 2.
    for folder in ("whole", "cut"):
        with pytest.raises(TrainingDiverged, match="epoch 3: .*the checkpoint of epoch 2"):
            fit(scripted(small_model(), first_call=6), x, y, labels, **kwargs, out_dir=tmp_path / folder,
                resume=True, log=quiet)
        assert len(json.loads((tmp_path / folder / "history.json").read_text())) == 2


def version_1(checkpoint):
    """Rewrite a checkpoint as version 1 wrote it: no ``lowest_loss``."""
    meta, arrays = read_checkpoint(checkpoint)
    del meta["lowest_loss"]
    meta["version"] = 1
    with zipfile.ZipFile(checkpoint) as archive:
        assert "meta.npy" in archive.namelist()
    np.savez(checkpoint, **arrays, meta=np.array(json.dumps(meta)))


def test_a_version_1_checkpoint_resumes_with_the_reference_rebuilt_from_its_history(tmp_path):
    x, y, labels = two_modalities(60, 0)
    with pytest.raises(KeyboardInterrupt):
        fit(scripted(small_model()), x, y, labels, epochs=4, batch_size=20, out_dir=tmp_path, log=stop_after_epoch_2)
    version_1(tmp_path / "checkpoint.npz")
    lines = []
    history = fit(scripted(small_model(), first_call=6), x, y, labels, epochs=4, batch_size=20, out_dir=tmp_path,
                  resume=True, log=lines.append)
    # The initial weights' loss (1) is not in a version-1 checkpoint: the rule's reference is the
    # lowest loss of the history, 4.33, as the README says, and the run goes on.
    assert any("written by an older version" in line and "(4.333)" in line for line in lines)
    assert [r["epoch"] for r in history] == [1, 2, 3, 4]
    assert read_checkpoint(tmp_path / "checkpoint.npz")[0]["version"] == VERSION


def test_an_older_checkpoint_without_a_setting_is_refused_naming_its_format_version(tmp_path):
    """A setting added since (here the training data's fingerprint, which version 2 did not
    always hold) has no default: the resume is refused with the version and what to do, not a
    confusing "settings differ", and nothing is loaded or written."""
    x, y, labels = two_modalities(60, 0)
    with pytest.raises(KeyboardInterrupt):
        fit(scripted(small_model()), x, y, labels, epochs=4, batch_size=20, out_dir=tmp_path, log=stop_after_epoch_2)
    meta, arrays = read_checkpoint(tmp_path / "checkpoint.npz")
    del meta["train_config"]["train_data_sha256"]
    meta["version"] = 2
    np.savez(tmp_path / "checkpoint.npz", **arrays, meta=np.array(json.dumps(meta)))
    before = (tmp_path / "checkpoint.npz").read_bytes()
    with pytest.raises(CheckpointError, match="format version 2, written by an older dmf-numpy that did not record "
                                              "train_data_sha256; .* train again into another output folder"):
        fit(small_model(), x, y, labels, epochs=4, batch_size=20, out_dir=tmp_path, resume=True, log=quiet)
    assert (tmp_path / "checkpoint.npz").read_bytes() == before
    # Its parameters still load, for evaluation: only a resume needs every setting.
    assert load_checkpoint(tmp_path / "checkpoint.npz", small_model())["epoch"] == 2


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED_DATA / "mnist").exists(), reason="needs the MNIST files")
def test_the_issues_run_on_mnist_stops_again_when_resumed_after_the_error(tmp_path, capsys):
    argv = ["train", "--subset", "500", "--epochs", "6", "--lr", "0.6", "--lr-decay", "1",
            "--data-dir", str(SHARED_DATA / "mnist"), "--out", str(tmp_path)]
    assert main(argv) == 1
    assert "training diverged in epoch 3" in capsys.readouterr().err
    assert main([*argv, "--resume"]) == 1
    assert "training diverged in epoch 3" in capsys.readouterr().err
    assert len(json.loads((tmp_path / "history.json").read_text())) == 2


# ---------------------------------------------------------------- 6. damaged files, one line each

def zip_headers(path):
    """The offsets of every local and central header of a zip archive."""
    with zipfile.ZipFile(path) as archive:
        infos, start = archive.infolist(), archive.start_dir
    data = path.read_bytes()
    local = [info.header_offset for info in infos]
    central, at = [], start
    for _ in infos:
        assert data[at:at + 4] == b"PK\x01\x02"
        central.append(at)
        name, extra, comment = struct.unpack("<HHH", data[at + 28:at + 34])
        at += 46 + name + extra + comment
    return local, central


def patch_headers(path, local_offset, central_offset, patch):
    data = bytearray(path.read_bytes())
    local, central = zip_headers(path)
    for at in local:
        patch(data, at + local_offset)
    for at in central:
        patch(data, at + central_offset)
    path.write_bytes(bytes(data))


def encrypted(path):
    def set_bit_0(data, at):
        data[at] |= 1
    patch_headers(path, 6, 8, set_bit_0)


def method_99(path):
    def method(data, at):
        data[at:at + 2] = struct.pack("<H", 99)
    patch_headers(path, 8, 10, method)


def npy_file(path):
    with open(path, "wb") as f:
        np.save(f, np.zeros(3))


def not_npy_member(path):
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("param/W_notes.npy", b"hello, this is not an array")


def object_member(path):
    with zipfile.ZipFile(path, "a") as archive:
        with archive.open("extra.npy", "w") as f:
            np.lib.format.write_array(f, np.array([{"a": 1}], dtype=object), allow_pickle=True)


def forged_header(path):
    """A member whose header claims 10**12 float64 entries (8 TB) in a few bytes."""
    header = {"descr": "<f8", "fortran_order": False, "shape": (10 ** 12,)}
    with zipfile.ZipFile(path, "a") as archive:
        with archive.open("huge.npy", "w") as f:
            np.lib.format.write_array_header_1_0(f, header)
            f.write(b"\0" * 16)


def corrupt_deflate(path):
    arrays = read_npz(path)
    np.savez_compressed(path, **arrays)
    data = bytearray(path.read_bytes())
    local, _ = zip_headers(path)
    name, extra = struct.unpack("<HH", data[local[0] + 26:local[0] + 30])
    start = local[0] + 30 + name + extra
    data[start:start + 8] = b"\xff" * 8
    path.write_bytes(bytes(data))


def duplicate_member(path):
    with zipfile.ZipFile(path) as archive:
        first = archive.namelist()[0]
        content = archive.read(first)
    with zipfile.ZipFile(path, "a") as archive:
        with pytest.warns(UserWarning, match="Duplicate name"):
            archive.writestr(first, content)


FILE_DAMAGE = [
    (npy_file, "a single NumPy array (an .npy file, as numpy.save writes), not an .npz archive"),
    (encrypted, "is encrypted (a password is needed to read it)"),
    (method_99, "cannot be read (That compression method is not supported: method 99)"),
    (not_npy_member, "is not NumPy array data (.npy)"),
    (object_member, "member 'extra.npy' holds Python objects, which are never loaded"),
    (forged_header, "member 'huge.npy' claims an array of shape (1000000000000,) and dtype float64"),
    (corrupt_deflate, "cannot be read as an array: corrupt or truncated"),
    (duplicate_member, "appears twice in the archive"),
    (lambda path: path.write_bytes(path.read_bytes()[:-30]), "not an .npz archive"),
]


def edit_meta(change):
    def damage(path):
        meta, arrays = read_checkpoint(path)
        np.savez(path, **arrays, meta=np.array(json.dumps(change(meta))))
    return damage


def edit_rng(field, value):
    def change(meta):
        state = meta["rng_state"]
        (state["state"] if field in ("state", "inc") else state)[field] = value
        return meta
    return edit_meta(change)


def edit_record(field, value):
    def change(meta):
        record = meta["history"][0]
        if value is DROP:
            del record[field]
        else:
            record[field] = value
        return meta
    return edit_meta(change)


DROP = object()


def negative_second_moment(path):
    arrays = read_npz(path)
    arrays["opt/v/W_out"].flat[0] = -1.0
    np.savez(path, **arrays)

META_DAMAGE = [
    (edit_rng("state", -1), "rng_state is not a state of PCG64 (rng_state.state.state: expected an integer from 0 "
                            "to 2**128 - 1, got -1)"),
    (edit_rng("inc", 2 ** 200), "rng_state.state.inc: expected an integer from 0 to 2**128 - 1, got 16069"),
    (edit_rng("uinteger", 2 ** 40), "rng_state is not a state of PCG64"),
    (edit_rng("has_uint32", True), "rng_state.has_uint32: expected an integer from 0 to 2**128 - 1, got True"),
    (edit_rng("state", 1.5), "rng_state.state.state: expected an integer"),
    (edit_meta(lambda m: {**m, "rng_state": {**m["rng_state"], "extra": 1}}), "expected the fields"),
    (edit_meta(lambda m: {**m, "rng_state": {**m["rng_state"], "bit_generator": "os.system"}}),
     "rng_state is not a state of a NumPy bit generator (bit_generator 'os.system')"),
    (edit_meta(lambda m: {**m, "rng_state": {**m["rng_state"], "bit_generator": "BitGenerator"}}),
     "rng_state is not a state of a NumPy bit generator (bit_generator 'BitGenerator')"),
    (edit_record("train_loss", DROP), "history record 1: the field 'train_loss' is missing"),
    (edit_record("train_loss", "abc"), "history record 1: train_loss must be a finite number, got 'abc'"),
    (edit_record("train_loss", None), "history record 1: train_loss must be a finite number, got None"),
    (edit_record("train_loss", float("nan")), "history record 1: train_loss must be a finite number, got nan"),
    (edit_record("epoch", 7), "history record 1: epoch must be the integer 1, got 7"),
    (edit_record("lr", -1), "history record 1: lr must be a positive number, got -1"),
    (edit_record("seconds", "soon"), "history record 1: seconds must be a number >= 0, got 'soon'"),
    (edit_record("test_error", {"x+y": "low"}), "history record 1: test_error must be a number or an object of "
                                                "numbers"),
    (edit_meta(lambda m: {**m, "history": [*m["history"][:1], 5]}), "history record 2: expected a JSON object"),
    (edit_meta(lambda m: {k: v for k, v in m.items() if k != "lowest_loss"}), "the field 'lowest_loss' is missing"),
    (edit_meta(lambda m: {**m, "lowest_loss": "low"}), "lowest_loss must be a finite number after epoch 2, got 'low'"),
    (edit_meta(lambda m: {**m, "version": True}), "version 1 to 3, got 'dmf-numpy-checkpoint' version True"),
    (edit_meta(lambda m: {**m, "optimizer": {**m["optimizer"], "lr": 10 ** 400}}), "optimizer needs a name"),
    (lambda path: np.savez(path, **read_npz(path) | {"meta": np.array(3.0)}), "no 'meta' member holding a JSON"),
    (negative_second_moment, "optimizer state: v/W_out has 1 negative entries, which adam's v never holds"),
]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A folder that ``train --arrays`` wrote (2 epochs), trained once for every damage below, and
    its ``train`` arguments: each test damages a copy of it."""
    tmp_path = tmp_path_factory.mktemp("trained")
    argv = train_argv(tmp_path, tmp_path / "run")
    assert main(argv) == 0
    return tmp_path / "run", argv


#: The damages of the checkpoint's contents that the fast tier keeps, one of each kind (the archive's
#: damages are checked fast by test_a_damaged_arrays_file_is_one_line_naming_it); the full run has all.
FAST_META_DAMAGE = {0, 6, 8, 12, 16, 17, 19, 20, 21, 22}


@pytest.mark.parametrize("damage, message", [
    *[pytest.param(*case, marks=pytest.mark.slow) for case in FILE_DAMAGE],
    *[pytest.param(*case, marks=() if k in FAST_META_DAMAGE else pytest.mark.slow)
      for k, case in enumerate(META_DAMAGE)]])
def test_a_damaged_checkpoint_is_one_line_on_resume_and_changes_nothing(tmp_path, capsys, trained_run, damage,
                                                                        message):
    trained, argv = trained_run
    out = tmp_path / "run"
    shutil.copytree(trained, out)
    argv = [*argv[:argv.index("--out")], "--out", str(out)]
    checkpoint = out / "checkpoint.npz"
    damage(checkpoint)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    assert main([*argv, "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"dmf-numpy train: error: {checkpoint}: " in err
    assert message in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


@pytest.mark.parametrize("damage, message", FILE_DAMAGE)
def test_a_damaged_arrays_file_is_one_line_naming_it(tmp_path, capsys, damage, message):
    path = arrays_file(tmp_path / "mine.npz")
    damage(path)
    with pytest.raises(DataError, match=str(path)):
        load_arrays(path)
    assert main(["train", "--arrays", str(path), "--epochs", "1", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"dmf-numpy train: error: {path}: cannot read as a NumPy .npz archive" in err
    assert message in err
    assert not (tmp_path / "o").exists()


def test_read_npz_reads_what_numpy_writes(tmp_path):
    arrays = {"a": np.arange(6.0).reshape(2, 3), "b": np.array("text"), "c": np.zeros((0, 4), np.int8),
              "d": np.asfortranarray(np.ones((3, 2), np.float32))}
    for save in (np.savez, np.savez_compressed):
        save(tmp_path / "x.npz", **arrays)
        read = read_npz(tmp_path / "x.npz")
        assert list(read) == list(arrays)
        assert all(np.array_equal(read[k], arrays[k]) and read[k].dtype == arrays[k].dtype for k in arrays)
    with pytest.raises(FileNotFoundError):
        read_npz(tmp_path / "missing.npz")
    with pytest.raises(NpzError, match="a folder, not an .npz file"):
        read_npz(tmp_path)


def test_a_checkpoint_of_a_folder_or_a_missing_file_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match=f"{tmp_path}: not a readable checkpoint: a folder"):
        read_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        read_checkpoint(tmp_path / "nothing.npz")
