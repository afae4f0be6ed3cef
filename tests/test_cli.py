"""The command line end to end: one-line errors with exit code 2, and table1 --quick on MNIST."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dmf_numpy.cli import main

from helpers import SHARED_DATA

REPO_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def mnist_root():
    """The data root holding mnist/ (DMF_NUMPY_DATA, else ../shared/data), or None."""
    for candidate in (os.environ.get("DMF_NUMPY_DATA"), REPO_DATA):
        if candidate and (Path(candidate) / "mnist" / "t10k-labels-idx1-ubyte.gz").exists():
            return Path(candidate)
    return None


needs_mnist = pytest.mark.skipif(mnist_root() is None, reason="MNIST not found: set DMF_NUMPY_DATA to a "
                                 "folder holding mnist/ (CI uses ../shared/data)")


#: The fast tier keeps the first of these (a child process, about 0.7 s); the full run, all.
BAD_ARGUMENTS = [
    (["train", "--damage", "1.5"], "expected a fraction in [0, 1), got 1.5"),
    (["train", "--model", "xmf"], "invalid choice: 'xmf'"),
    (["table1", "--seeds", "0", "--data-dir", "."], "argument --seeds: expected a positive integer, got 0"),
    (["table1", "--data-dir", "/nonexistent/mnist"], "argument --data-dir: no such directory: /nonexistent/mnist"),
    (["retrieval", "--epochs", "1", "--data-dir", "/nonexistent"], "argument --data-dir: no such directory"),
    (["retrieval", "--epochs", "0", "--data-dir", "."], "epochs: expected a positive integer, got 0"),
    (["reconstruct", "--epochs", "0", "--data-dir", "."], "epochs: expected a positive integer, got 0"),
    (["retrieval", "--subset", "0", "5", "--data-dir", "."], "argument --subset: expected a positive integer, got 0"),
    (["bench", "--runs", "0"], "runs: expected a positive integer, got 0"),
    # each names its option, before any data is read
    (["gradcheck", "--batch", "-1"], "argument --batch: expected a positive integer, got -1"),
    (["gradcheck", "--seed", "-1"], "argument --seed: expected a non-negative integer, got -1"),
    (["paths", "--seed", "-1"], "argument --seed: expected a non-negative integer, got -1"),
    (["reconstruct", "--seed", "-1"], "argument --seed: expected a non-negative integer, got -1"),
    (["paths", "--epochs", "0"], "argument --epochs: expected a positive integer, got 0"),
    (["audiovisual", "--epochs", "0"], "argument --epochs: expected a positive integer, got 0"),
    (["train", "--epochs", "x"], "argument --epochs: expected a positive integer, got 'x'"),
]


@pytest.mark.parametrize("argv, message", [pytest.param(*case, marks=() if k < 1 else pytest.mark.slow)
                                           for k, case in enumerate(BAD_ARGUMENTS)])
def test_bad_arguments_exit_2_with_one_line(argv, message):
    result = subprocess.run([sys.executable, "-m", "dmf_numpy", *argv], capture_output=True, text=True)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_no_data_anywhere_says_what_to_do(tmp_path, capsys, monkeypatch):
    import dmf_numpy.datasets.store as store

    def offline(url, timeout):
        raise OSError("network unreachable")

    monkeypatch.setattr(store, "_urlopen", offline)
    monkeypatch.delenv("DMF_NUMPY_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert main(["train", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "DMF_NUMPY_DATA" in err
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        assert name in err
    assert not list((tmp_path / "cache").rglob("*.gz"))  # nothing that looks valid was left


@pytest.mark.slow
@needs_mnist
def test_table1_quick_end_to_end(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DMF_NUMPY_DATA", str(mnist_root()))
    out = tmp_path / "quick"
    assert main(["table1", "--quick", "--epochs", "2", "--subset", "1500", "--out", str(out)]) == 0
    progress = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[table 1]")]
    assert len(progress) == 12 and progress[-1].startswith("[table 1] 12/12 trainings done in ")
    assert all("the table's ETA" in line for line in progress)
    for name in ("table1.md", "table1.csv", "fig4.png", "config.json"):
        assert (out / name).stat().st_size > 0, name
    rows = list(csv.DictReader((out / "table1.csv").open()))
    assert len(rows) == 3 * 3 * 4  # conditions x models x damage levels
    assert all(0 <= float(r["error_mean"]) <= 100 for r in rows)
    assert sum(r["best"] == "True" for r in rows) >= 12  # at least one best per column
    config = json.loads((out / "config.json").read_text())
    assert config["status"] == "done" and config["train_config"]["epochs"] == 2
    histories = [json.loads(p.read_text()) for p in out.glob("runs/*/history.json")]
    assert len(histories) == 12 and config["training_seconds_all_invocations"] == pytest.approx(
        sum(r["seconds"] for h in histories for r in h), abs=0.1)
    (out / "table1.md").unlink()
    assert main(["table1", "--quick", "--epochs", "2", "--subset", "1500", "--out", str(out)]) == 0  # all finished
    assert "all 12 runs in" in capsys.readouterr().out  # re-rendered from the histories, nothing trained
    assert json.loads((out / "config.json").read_text()) == config  # still how the table was made
    assert (out / "runs" / "dmf_damage0.70_seed0" / "history.csv").exists()
    assert "DMF" in (out / "table1.md").read_text()


def _has(*paths):
    return all((SHARED_DATA / p).exists() for p in paths)


def nearest_mean_accuracy(train_features, test_features, data):
    """A quick stand-in for audiovisual.svm_accuracy: test accuracy (%) of the nearest class mean."""
    labels = data["digits"]["train"]
    classes = np.unique(labels)
    means = np.stack([train_features[labels == c].mean(axis=0) for c in classes])
    nearest = classes[np.argmin(((test_features[:, None, :] - means) ** 2).sum(axis=2), axis=1)]
    return 100 * float(np.mean(nearest == data["digits"]["test"])), None


# Every experiment command's happy path, on a few hundred images (about 1 s each) in the fast tier;
# the audiovisual one there with a nearest-class-mean classifier in place of the validated SVM
# (whose L-BFGS fits take 18 s; tests/test_svm.py checks it), and with the SVM in the full run.
@pytest.mark.parametrize("argv, needs, written", [
    (["paths", "--epochs", "1", "--subset", "600"], ["mnist"], ["paths.csv", "paths.png"]),
    (["reconstruct", "--epochs", "1", "--subset", "600"], ["mnist"], ["reconstruct.png", "results.json"]),
    (["retrieval", "--epochs", "1", "--seeds", "2", "--subset", "400", "100"], ["wiki"],
     ["table3.md", "table3.csv", "claims.md", "claims.csv", "results.json"]),
    (["table1", "--quick", "--seeds", "1", "--subset", "300", "--epochs", "1", "--compare", "none"], ["mnist"],
     ["table1.md", "table1.csv", "fig4.png", "config.json"]),
    (["audiovisual", "--epochs", "1", "--seeds", "2", "--subset", "2"], ["mnist", "fsdd"],
     ["table2.md", "table2.csv", "claims.md", "claims.csv", "results.json"]),
    pytest.param(["audiovisual", "--epochs", "1", "--seeds", "2", "--subset", "2"], ["mnist", "fsdd"],
                 ["table2.md", "table2.csv", "claims.md", "claims.csv", "results.json"], marks=pytest.mark.slow,
                 id="audiovisual-with-the-svm"),
])
def test_experiment_commands_end_to_end(argv, needs, written, tmp_path, capsys, monkeypatch, request):
    if not _has(*needs):
        pytest.skip(f"needs {', '.join(needs)} under {SHARED_DATA} (set DMF_NUMPY_DATA)")
    if argv[0] == "audiovisual" and "with-the-svm" not in request.node.name:
        import dmf_numpy.experiments.audiovisual as audiovisual
        monkeypatch.setattr(audiovisual, "svm_accuracy", nearest_mean_accuracy)
    out = tmp_path / "out"
    assert main([*argv, "--data-dir", str(SHARED_DATA), "--out", str(out)]) == 0
    for name in written:
        assert (out / name).stat().st_size > 0, name
    assert capsys.readouterr().out.count("wrote ") == 1  # said once, by the experiment itself
    assert not [p for p in out.rglob(".*")]  # no temporary file or lock left behind


@needs_mnist
def test_study_grid_command_end_to_end_on_one_cell(tmp_path, capsys):
    """The fast tier's happy path of `dmf-numpy study`: one cell of the grid, quick; the slow tier
    runs the whole study --quick (test_study.py)."""
    out = tmp_path / "study"
    assert main(["study", "--quick", "--part", "grid", "--protocols", "paper@reduced", "--data-dir",
                 str(mnist_root()), "--out", str(out)]) == 0
    rows = list(csv.DictReader(open(out / "claims.csv")))
    assert {r["protocol"] for r in rows} == {"paper@reduced"} and len(rows) == 2 * 4 + 2
    for name in ("claims.md", "claims.png", "best_table1.csv", "choice.json", "paper@reduced/table1.csv"):
        assert (out / name).stat().st_size > 0, name
    assert not (out / "primary").exists()  # --part grid
    assert "[study] 1/1 protocols done" in capsys.readouterr().out


def test_bench_command_end_to_end(tmp_path, monkeypatch, capsys):
    """The fast tier's happy path of `dmf-numpy bench`: the gradient checks it times on the small
    sizes only, the peak rate on a smaller product (as they are: test_bench.py, slow)."""
    import dmf_numpy.experiments.bench as bench

    setups, peak = bench.gradcheck_setups, bench.peak_gflops
    monkeypatch.setattr(bench, "gradcheck_setups", lambda: setups(small_only=True))
    monkeypatch.setattr(bench, "peak_gflops", lambda: peak(size=500))  # not 2000: a second saved
    path = tmp_path / "bench.json"
    assert main(["bench", "--repeats", "1", "--batch-size", "10", "--json", str(path)]) == 0
    saved = json.loads(path.read_text())
    assert [row["model"] for row in saved["rows"]] == ["emf", "imf", "dmf"] and saved["gradcheck_ok"]
    assert saved["reproducibility"]["blas"]["library"] and "| DMF |" in capsys.readouterr().out


@pytest.mark.parametrize("argv, out", [(["table1", "--quick"], "results/quick"), (["table1"], "runs/table1"),
                                       (["table1", "--quick", "--out", "elsewhere"], "elsewhere")])
def test_quick_table1_does_not_write_over_the_full_results(argv, out, monkeypatch):
    import dmf_numpy.experiments.table1

    calls = []
    monkeypatch.setattr(dmf_numpy.experiments.table1, "run_table1", lambda out_dir, **kwargs: calls.append(out_dir))
    assert main(argv) == 0 and calls == [Path(out)]


@pytest.mark.slow
@needs_mnist
def test_table1_interrupted_exits_130_cleanly_and_resumes(tmp_path):
    """Ctrl-C in a terminal reaches the whole process group: the parent and both workers."""
    import signal
    import time

    env = {**os.environ, "DMF_NUMPY_DATA": str(mnist_root())}
    argv = [sys.executable, "-m", "dmf_numpy", "table1", "--quick", "--epochs", "2", "--subset", "1500", "--jobs", "2",
            "--out", str(tmp_path / "t")]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                               start_new_session=True)
    deadline = time.time() + 60
    while not list((tmp_path / "t").glob("runs/*/checkpoint.npz")) and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert stderr.strip() == ("dmf-numpy table1: interrupted; every finished epoch is saved: run the same command "
                              "again to continue")  # no traceback, no leaked-semaphore warning
    assert not list(tmp_path.rglob(".dmf-numpy.lock")) and not list(tmp_path.rglob(".*.tmp"))
    again = subprocess.run(argv, capture_output=True, text=True, env=env)
    assert again.returncode == 0 and (tmp_path / "t" / "table1.md").exists()
