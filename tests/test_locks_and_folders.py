"""One run per folder, and a finished run is never trained over (issue 19, items 1, 2 and 4).

- The lock cannot be taken twice: many takers racing for a lock left by a killed run, in
  threads and in processes, and exactly one of them holds it every time.
- ``fit(out_dir=...)`` holds the folder as ``train`` does: two fits into one folder, or a fit
  into a folder a running ``train`` holds, are refused; ``train``, which holds its folder and
  then calls ``fit`` on it, is not refused by itself.
- A folder that holds a finished run (its history, or its config.json) is refused by ``train``
  whatever file is missing, and ``table1`` re-renders a table whose runs are all finished
  without training anything, even without checkpoints; it compares its table with the committed
  one, cell by cell, within seed noise or not.
"""

import json
import multiprocessing
import os
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from dmf_numpy.files import LOCK_NAME, FolderLocked, run_lock

from helpers import SMALL_ARCH, hold_lock, synthetic_halves


def dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def stale_lock(folder):
    """A lock file left by a process of this host that was killed."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / LOCK_NAME).write_text(json.dumps({"pid": dead_pid(), "host": socket.gethostname(),
                                                "started": "2026-11-29 12:00:00", "command": "a killed run"}))


# ------------------------------------------------------------------ 1. a lock cannot be taken twice

def _take(folder, start, attempted, report, index):
    """Try to take ``folder`` at the same moment as the others; report "held", "refused" or the
    error; a holder keeps the lock until every taker has tried."""
    try:
        start.wait()
        with run_lock(folder, f"taker {index}"):
            report("held")
            attempted.wait()
    except FolderLocked:
        report("refused")
        attempted.wait()
    except BaseException as err:  # anything else is a failure, reported as such (and never a hang)
        report(repr(err))
        with __import__("contextlib").suppress(BaseException):
            attempted.abort()


def _take_in_thread(folder, start, attempted, outcomes, index):
    _take(folder, start, attempted, lambda outcome: outcomes.__setitem__(index, outcome), index)


def race_threads(folder, takers):
    start, attempted = threading.Barrier(takers, timeout=30), threading.Barrier(takers, timeout=30)
    outcomes = [None] * takers
    threads = [threading.Thread(target=_take_in_thread, args=(folder, start, attempted, outcomes, k))
               for k in range(takers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return outcomes


def _take_in_process(folder, start, attempted, queue, index):
    import io
    sys.stderr = io.StringIO()  # the takeover note
    _take(folder, start, attempted, queue.put, index)


def race_processes(folder, takers):
    context = multiprocessing.get_context("fork")  # quick to start: the race is what is tested
    start, attempted, queue = context.Barrier(takers, timeout=30), context.Barrier(takers, timeout=30), context.Queue()
    processes = [context.Process(target=_take_in_process, args=(folder, start, attempted, queue, k))
                 for k in range(takers)]
    for p in processes:
        p.start()
    outcomes = [queue.get(timeout=60) for _ in processes]
    for p in processes:
        p.join(timeout=60)
    return outcomes


def check_races(tmp_path, trials, race, takers):
    for trial in range(trials):
        folder = tmp_path / f"trial{trial}"
        stale_lock(folder)
        outcomes = race(folder, takers)
        assert sorted(outcomes) == ["held"] + ["refused"] * (takers - 1), f"trial {trial}: {outcomes}"
        assert not (folder / LOCK_NAME).exists()  # released and deleted by its one holder


def test_threads_racing_for_a_stale_lock_one_holds_it(tmp_path, capsys):
    check_races(tmp_path, 5, race_threads, 8)
    assert capsys.readouterr().err.count("which has ended (a killed run); taking the folder over") == 5


@pytest.mark.slow
def test_processes_racing_for_a_stale_lock_one_holds_it(tmp_path):
    check_races(tmp_path, 10, race_processes, 8)


@pytest.mark.slow
def test_many_racing_takers_of_a_stale_lock_one_holds_it_every_time(tmp_path, capsys):
    check_races(tmp_path / "threads", 50, race_threads, 12)
    check_races(tmp_path / "processes", 50, race_processes, 8)


@pytest.mark.slow  # 1 s of racing threads; the fast tier has test_threads_racing_for_a_stale_lock_one_holds_it
def test_a_lock_released_while_others_try_is_taken_once_at_a_time(tmp_path):
    """Holders delete the lock file as they end: a taker that opened the deleted file must not
    hold it beside one that made a new one. Every taker takes it in turn; never two at once."""
    folder, inside, overlaps = tmp_path / "f", [], []
    folder.mkdir()

    def taker():
        deadline = time.monotonic() + 1
        while time.monotonic() < deadline:
            try:
                with run_lock(folder):
                    inside.append(1)
                    if len(inside) > 1:
                        overlaps.append(len(inside))
                    time.sleep(0.001)
                    inside.pop()
            except FolderLocked:
                pass

    threads = [threading.Thread(target=taker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == [] and not (folder / LOCK_NAME).exists()


def test_a_killed_holder_releases_the_lock_at_once(tmp_path):
    holder = hold_lock(tmp_path, "the other run")
    with pytest.raises(FolderLocked, match=f"process {holder.pid} on "):
        with run_lock(tmp_path):
            pass
    holder.kill()
    holder.wait()
    with run_lock(tmp_path, "next"):  # kill -9 left the file, but not the lock: taken over
        assert json.loads((tmp_path / LOCK_NAME).read_text())["command"] == "next"
    assert not (tmp_path / LOCK_NAME).exists()


def test_the_lock_is_reentrant_in_its_thread_only(tmp_path):
    with run_lock(tmp_path, "outer"):
        with run_lock(tmp_path, "inner"):  # the holder itself: nothing taken, nothing released
            assert json.loads((tmp_path / LOCK_NAME).read_text())["command"] == "outer"
        assert (tmp_path / LOCK_NAME).exists()
        refused = []

        def other_thread():
            try:
                with run_lock(tmp_path):
                    pass
            except FolderLocked as err:
                refused.append(str(err))

        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
        assert len(refused) == 1 and f"process {os.getpid()} on" in refused[0] and "(outer)" in refused[0]
    assert not (tmp_path / LOCK_NAME).exists()


# ------------------------------------------------------------------ 2. fit(out_dir=...) holds the folder

def small_fit(out_dir, metrics=None, epochs=2, lr=1e-2):
    from dmf_numpy import DMF, fit

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 6)), rng.normal(size=(60, 5))
    labels = (x[:, 0] > 0) + 2 * (y[:, 0] > 0)
    model = DMF(x_dims=(6, 8), y_dims=(5, 8), shared_dims=(8, 8), n_classes=4, seed=0)
    return fit(model, x, y, labels, epochs=epochs, batch_size=20, lr=lr, out_dir=out_dir, metrics=metrics,
               log=None)


def test_two_fits_into_one_folder_the_second_is_refused(tmp_path):
    inside, go_on, failures = threading.Event(), threading.Event(), []

    def waiting(model):  # the first fit waits in its first epoch's evaluation, holding the folder
        inside.set()
        go_on.wait(timeout=60)
        return {}

    def first():
        try:
            small_fit(tmp_path, metrics=waiting, epochs=2)
        except BaseException as err:
            failures.append(err)

    t = threading.Thread(target=first)
    t.start()
    assert inside.wait(timeout=60)
    lock = json.loads((tmp_path / LOCK_NAME).read_text())
    assert lock["pid"] == os.getpid() and lock["command"].startswith(f"fit(out_dir={str(tmp_path)!r}) in ")
    with pytest.raises(FolderLocked, match=f"{tmp_path}: another run is writing into this folder: process "
                                           f"{os.getpid()} on .*fit\\(out_dir="):
        small_fit(tmp_path, lr=0.05)
    go_on.set()
    t.join(timeout=60)
    assert failures == []
    history = json.loads((tmp_path / "history.json").read_text())
    assert len(history) == 2 and history[0]["lr"] == 1e-2  # the first fit's, whole
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_fit_into_a_folder_a_running_train_holds_is_refused_before_writing(tmp_path):
    holder = hold_lock(tmp_path, "dmf-numpy train --out somewhere")
    try:
        with pytest.raises(FolderLocked, match=f"process {holder.pid} on .*\\(dmf-numpy train --out somewhere\\)"):
            small_fit(tmp_path)
        assert sorted(p.name for p in tmp_path.iterdir()) == [LOCK_NAME]
    finally:
        holder.kill()
        holder.wait()


def test_train_passes_its_lock_down_to_fit(tmp_path):
    """``run`` holds its folder and calls ``fit`` on it: the same lock, not a refusal."""
    from dmf_numpy.experiments import train_run

    seen = []
    real_fit = train_run.fit

    def spying_fit(*args, **kwargs):
        def metrics(model):
            seen.append(json.loads((tmp_path / LOCK_NAME).read_text())["command"])
            return kwargs["metrics"](model)
        return real_fit(*args, **{**kwargs, "metrics": metrics})

    train_run.fit = spying_fit
    try:
        result = train_run.run(train_run.TrainConfig(**SMALL_ARCH, epochs=2), data=synthetic_halves(),
                               out_dir=tmp_path, log=lambda line: None, command="the train")
    finally:
        train_run.fit = real_fit
    assert len(result["history"]) == 2 and seen == ["the train", "the train"]
    assert not (tmp_path / LOCK_NAME).exists()


# ------------------------------------------------------------------ 4. a finished run is never trained over

def quiet(line):
    pass


def finished_train_run(out_dir):
    """A finished tiny ``train`` run in ``out_dir``, then its checkpoint deleted (as committed results are)."""
    from dmf_numpy.experiments.train_run import TrainConfig, run

    run(TrainConfig(**SMALL_ARCH, epochs=2), data=synthetic_halves(), out_dir=out_dir, log=quiet)
    (out_dir / "checkpoint.npz").unlink()
    return {p.name: p.read_bytes() for p in out_dir.iterdir()}


@pytest.mark.parametrize("resume, changed", [(False, {"epochs": 3, "lr": 0.01}), (True, {})])
def test_train_into_a_finished_run_without_its_checkpoint_is_refused(tmp_path, resume, changed):
    from dmf_numpy.experiments.train_run import TrainConfig, run
    from dmf_numpy.training.checkpoint import CheckpointError

    before = finished_train_run(tmp_path)
    with pytest.raises(CheckpointError, match=r"holds a run's history.json \(2 epoch\(s\)\) but not its checkpoint.npz, "
                                              r"so that run cannot be resumed, and a new one would write over it; use "
                                              r"another output folder, or delete this one to train again"):
        run(TrainConfig(**{**SMALL_ARCH, "epochs": 2, **changed}), data=synthetic_halves(), out_dir=tmp_path,
            resume=resume, log=quiet)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # not a byte changed, no lock left


def test_train_into_a_finished_run_without_its_checkpoint_exits_2_and_keeps_it(tmp_path):
    data = tmp_path / "mine.npz"
    rng = np.random.default_rng(0)
    np.savez(data, x=rng.normal(size=(40, 6)), y=rng.normal(size=(40, 5)), labels=rng.integers(0, 3, 40))
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "dmf_numpy", "train", "--arrays", str(data), "--epochs", "2", "--out", str(out)]
    assert subprocess.run(argv, capture_output=True, text=True).returncode == 0
    (out / "checkpoint.npz").unlink()
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    again = subprocess.run([*argv, "--lr", "0.01"], capture_output=True, text=True)
    assert again.returncode == 2 and "Traceback" not in again.stderr
    assert again.stderr.startswith(f"dmf-numpy train: error: {out}: this folder holds a run's history.json (2 epoch(s)) "
                                   "but not its checkpoint.npz")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_started_run_is_refused_without_resume_and_continued_with_it(tmp_path):
    """A config.json and no checkpoint yet: the run was killed in its first epoch."""
    from dmf_numpy.experiments.train_run import TrainConfig, run
    from dmf_numpy.training.checkpoint import CheckpointError

    config = TrainConfig(**SMALL_ARCH, epochs=1)
    (tmp_path / "config.json").write_text(json.dumps(config.to_dict()))
    with pytest.raises(CheckpointError, match=r"config.json: a run was started in this folder \(it saved no epoch yet\); "
                                              r"continue it \(--resume, resume=True\) or use another output folder"):
        run(config, data=synthetic_halves(), out_dir=tmp_path, log=quiet)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]
    result = run(config, data=synthetic_halves(), out_dir=tmp_path, resume=True, log=quiet)
    assert len(result["history"]) == 1 and (tmp_path / "checkpoint.npz").exists()


def test_fit_into_a_history_without_its_checkpoint_is_refused(tmp_path):
    from dmf_numpy.training.checkpoint import CheckpointError

    small_fit(tmp_path, epochs=2)
    (tmp_path / "checkpoint.npz").unlink()
    history = (tmp_path / "history.json").read_bytes()
    for resume in (False, True):
        with pytest.raises(CheckpointError, match="but not its checkpoint.npz"):
            from dmf_numpy import DMF, fit
            rng = np.random.default_rng(0)
            x, y = rng.normal(size=(60, 6)), rng.normal(size=(60, 5))
            fit(DMF(x_dims=(6, 8), y_dims=(5, 8), shared_dims=(8, 8), n_classes=4), x, y, rng.integers(0, 4, 60),
                epochs=2, out_dir=tmp_path, resume=resume, log=None)
    assert (tmp_path / "history.json").read_bytes() == history


TABLE_SETTINGS = {"epochs": 2, "subset": 100}


def fake_table(out, seeds=1, error=lambda model, damage, seed: 10.0 + seed, epochs=2, drop=()):
    """A Table 1 folder whose runs are all finished, histories and config.json only (no
    checkpoints, no data needed): test error ``error(model, damage, seed)`` in every condition."""
    from dmf_numpy.experiments.table1 import DAMAGES, MODELS
    from dmf_numpy.experiments.train_run import TrainConfig

    for seed in range(seeds):
        for damage in DAMAGES:
            for model in MODELS:
                config = TrainConfig(model=model, damage=damage, seed=seed, **TABLE_SETTINGS)
                folder = out / "runs" / config.run_name
                folder.mkdir(parents=True)
                (folder / "config.json").write_text(json.dumps(config.to_dict()))
                e = error(model, damage, seed)
                history = [{"epoch": k + 1, "lr": 1e-3, "train_loss": 1.0 / (k + 1),
                            "val_error": {"left+right": e, "right": e, "left": e},
                            "test_error": {"left+right": e, "right": e + 1, "left": e + 2}, "seconds": 1.5}
                           for k in range(epochs)]
                if config.run_name not in drop:
                    (folder / "history.json").write_text(json.dumps(history))


@pytest.mark.slow  # 0.6 s; the fast tier renders a table in test_the_committed_results_are_rendered_again_unchanged
def test_a_table_of_finished_runs_is_rendered_without_training_or_data(tmp_path, capsys):
    from dmf_numpy.experiments.table1 import run_table1

    out = tmp_path / "t"
    fake_table(out, seeds=2, error=lambda model, damage, seed: {"emf": 3.0, "imf": 2.0, "dmf": 1.0}[model] + seed)
    histories = {p: p.read_bytes() for p in out.rglob("history.json")}
    summary = run_table1(out, seeds=2, data_dir=tmp_path / "no-data-here", compare=None, **TABLE_SETTINGS)
    assert summary[("left+right", "dmf", 0.5)] == (1.5, pytest.approx(0.7071, abs=1e-4), 2)
    assert summary[("left", "emf", 0.7)][0] == 5.5
    printed = capsys.readouterr().out
    assert "all 24 runs in" in printed and "nothing is trained" in printed and "Epoch" not in printed
    for name in ("table1.md", "table1.csv", "fig4.png", "config.json"):
        assert (out / name).stat().st_size > 0
    assert "**1.50 ± 0.71**" in (out / "table1.md").read_text()
    assert {p: p.read_bytes() for p in out.rglob("history.json")} == histories
    assert not list(out.rglob("checkpoint.npz")) and not list(tmp_path.rglob(LOCK_NAME))


def test_a_table_with_a_half_run_that_lost_its_checkpoint_is_refused_before_training(tmp_path):
    from dmf_numpy.experiments.table1 import run_table1
    from dmf_numpy.training.checkpoint import CheckpointError

    out = tmp_path / "t"
    fake_table(out)
    half = out / "runs" / "imf_damage0.30_seed0" / "history.json"
    half.write_text(json.dumps(json.loads(half.read_text())[:1]))  # 1 epoch of 2, no checkpoint
    before = {p: p.read_bytes() for p in out.rglob("*")  if p.is_file()}
    with pytest.raises(CheckpointError, match=r"imf_damage0.30_seed0: this folder holds a run's history.json "
                                              r"\(1 epoch\(s\)\) but not its checkpoint.npz"):
        run_table1(out, seeds=1, data_dir=tmp_path / "no-data-here", compare=None, log=quiet, **TABLE_SETTINGS)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before  # nothing written, not config.json


def test_the_committed_results_are_rendered_again_unchanged(tmp_path):
    """The README's main command used to retrain all 36 committed runs over their histories."""
    import shutil

    from dmf_numpy.experiments.table1 import COMMITTED_TABLE, run_table1

    results = COMMITTED_TABLE.parent
    out = tmp_path / "results"
    out.mkdir()
    shutil.copytree(results / "runs", out / "runs")
    for name in ("config.json", "table1.md", "table1.csv"):
        shutil.copy(results / name, out / name)
    lines = []
    run_table1(out, seeds=3, jobs=2, data_dir=tmp_path / "no-data-here", log=lines.append)
    for name in ("config.json", "table1.md", "table1.csv"):
        assert (out / name).read_bytes() == (results / name).read_bytes(), name
    assert lines[1] == (f"[table 1] compared with {COMMITTED_TABLE}: 36 of 36 cells within seed noise (|difference| ≤ 2 "
                        f"standard errors); cell by cell in {out / 'comparison.md'}")


def test_compare_says_cell_by_cell_whether_a_difference_is_seed_noise():
    from dmf_numpy.experiments.table1 import compare_tables

    cells = compare_tables({("right", "dmf", 0.0): (10.0, 1.0, 3), ("right", "imf", 0.0): (10.0, 1.0, 3),
                            ("left", "emf", 0.3): (5.0, 0.0, 1), ("left", "imf", 0.3): (5.0, 0.0, 1),
                            ("left", "dmf", 0.3): (1.0, 0.0, 1)},
                           {("right", "dmf", 0.0): (11.5, 1.0, 3), ("right", "imf", 0.0): (11.7, 1.0, 3),
                            ("left", "emf", 0.3): (6.0, 0.0, 1), ("left", "imf", 0.3): (5.5, 0.5, 3)})
    bound = 2 * (2 / 3) ** 0.5  # 1.633
    assert cells[("right", "dmf", 0.0)] == {"mean": 10.0, "other": 11.5, "diff": -1.5,
                                            "bound": pytest.approx(bound), "within": True}
    assert cells[("right", "imf", 0.0)]["within"] is False  # 1.7 > 1.633
    assert cells[("left", "emf", 0.3)]["within"] is None and cells[("left", "emf", 0.3)]["bound"] is None
    assert cells[("left", "imf", 0.3)]["bound"] == pytest.approx(2 * (0.25 / 1 + 0.25 / 3) ** 0.5)  # std borrowed
    assert ("left", "dmf", 0.3) not in cells  # not in the other table


@pytest.mark.slow
def test_table1_compares_its_table_with_another_and_names_the_cells_beyond_noise(tmp_path, capsys):
    from dmf_numpy.cli import main

    fake_table(tmp_path / "old", seeds=3, error=lambda model, damage, seed: 10.0 + seed)
    fake_table(tmp_path / "new", seeds=3, error=lambda model, damage, seed: 10.0 + seed + 5 * (model == "dmf" and
                                                                                             damage == 0.5))
    common = ["table1", "--epochs", "2", "--subset", "100", "--data-dir", str(tmp_path)]
    assert main([*common, "--out", str(tmp_path / "old"), "--compare", "none"]) == 0
    capsys.readouterr()
    assert main([*common, "--out", str(tmp_path / "new"), "--compare", str(tmp_path / "old" / "table1.csv")]) == 0
    printed = capsys.readouterr().out
    assert (f"[table 1] compared with {tmp_path / 'old' / 'table1.csv'}: 33 of 36 cells within seed noise "
            "(|difference| ≤ 2 standard errors)") in printed
    assert "[table 1] beyond noise: left+right DMF 50% damage: 16.00 against 11.00 (+5.00, bound ±1.63)" in printed
    comparison = (tmp_path / "new" / "comparison.md").read_text()
    assert "| left+right | DMF | +0.00 (±1.63) noise | +0.00 (±1.63) noise | **+5.00 (±1.63) beyond** |" in comparison


@pytest.mark.parametrize("content, message", [
    (None, "cannot be read (No such file or directory)"),
    ("condition,model\nright,EMF\n", "line 2 is not a Table 1 row"),
    ("condition,model,damage,error_mean,error_std,n_seeds\n", "no rows"),
])
def test_a_bad_compare_file_is_refused_before_any_work(tmp_path, capsys, content, message):
    from dmf_numpy.cli import main

    path = tmp_path / "other.csv"
    if content is not None:
        path.write_text(content)
    out = tmp_path / "t"
    fake_table(out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert main(["table1", "--epochs", "2", "--subset", "100", "--seeds", "1", "--data-dir", str(tmp_path),
                 "--out", str(out), "--compare", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"dmf-numpy table1: error: --compare {path}: {message}") and "Traceback" not in err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_the_readme_main_command_trains_into_a_folder_of_its_own():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    first = (root / "README.md").read_text().split("```bash\n")[1].split("```")[0]
    assert "dmf-numpy table1 --seeds 3 --jobs 2 --out runs/table1" in first and "--out results" not in first
    assert "/runs/" in (root / ".gitignore").read_text().splitlines()


@pytest.mark.slow
@pytest.mark.parametrize("checkout", [True, False])
def test_the_default_comparison_is_with_the_committed_table_and_names_other_settings(tmp_path, monkeypatch, checkout):
    """From a checkout: results/table1.csv; from an installed package: the copy it carries."""
    import dmf_numpy.experiments.table1 as table1

    if not checkout:
        monkeypatch.setattr(table1, "COMMITTED_TABLE", tmp_path / "no-checkout" / "results" / "table1.csv")
    out = tmp_path / "t"
    fake_table(out)
    lines = []
    table1.run_table1(out, seeds=1, data_dir=tmp_path, log=lines.append, **TABLE_SETTINGS)
    path = table1.COMMITTED_TABLE if checkout else table1.PACKAGED_TABLE
    assert lines[1].startswith(f"[table 1] compared with {path}: ")
    assert lines[2] == (f"[table 1] note: {path} was made with other settings (epochs, subset differ): its differences "
                        "are not seed noise alone")
    assert "Note: " in (out / "comparison.md").read_text()
    lines.clear()
    table1.run_table1(out, seeds=1, data_dir=tmp_path, log=lines.append, quick=True, **TABLE_SETTINGS)
    assert not any("compared with" in line for line in lines)  # a smoke test is not compared
