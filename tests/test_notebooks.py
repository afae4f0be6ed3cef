"""The lecture notebooks run: every code cell, in order, with a small runner that reads the
notebook's JSON (no Jupyter needed) in a fresh interpreter, once with examples/ as the working
folder, as a notebook server's would be, and once from a copy in a temporary folder outside the
repository, as a student's copy would run. They read no file of the repository: the results
lecture 3 reads are copies the package carries, checked here against the originals.

Only the notebooks named ``lecture*.ipynb`` are run here (others, such as assignments, have tests
of their own); every notebook in examples/ must be committed without outputs."""

import configparser
import fnmatch
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import RUNNER

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
LECTURES = sorted(EXAMPLES.glob("lecture*.ipynb"))
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
#: The results the package carries for the lectures (package data), and the originals they copy.
SHIPPED = {"dmf_numpy/experiments/data/table1.csv": "results/table1.csv",
           "dmf_numpy/experiments/data/paths.csv": "results/paths/paths.csv"}



def run_notebook(notebook, cwd):
    """Run every code cell of ``notebook`` in a fresh interpreter working in ``cwd``. The checkout
    comes first on the import path, so that its package is the one tested, installed or not."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-c", RUNNER, str(notebook)], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)


def test_the_lectures_are_found():
    assert LECTURES, f"no lecture*.ipynb in {EXAMPLES}"
    assert all(nb in NOTEBOOKS for nb in LECTURES)


@pytest.mark.slow
@pytest.mark.parametrize("where", ["examples", "elsewhere"])
@pytest.mark.parametrize("notebook", LECTURES, ids=lambda p: p.stem)
def test_every_code_cell_runs_in_order(notebook, where, tmp_path):
    if where == "elsewhere":  # a copy alone in a folder outside the repository
        notebook = Path(shutil.copy(notebook, tmp_path))
        assert ROOT not in tmp_path.parents
    result = run_notebook(notebook, cwd=EXAMPLES if where == "examples" else tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    cells = json.loads(notebook.read_text())["cells"]
    assert result.stdout.strip().endswith(f"{sum(c['cell_type'] == 'code' for c in cells)} code cells ran")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_are_committed_without_outputs(notebook):
    cells = json.loads(notebook.read_text())["cells"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in cells if c["cell_type"] == "code")


def test_the_runner_reports_the_failing_cell(tmp_path):
    broken = {"cells": [{"cell_type": "code", "source": ["x = 1\n"]}, {"cell_type": "markdown", "source": ["#"]},
                        {"cell_type": "code", "source": ["raise ValueError('boom')"]}]}
    (tmp_path / "broken.ipynb").write_text(json.dumps(broken))
    result = run_notebook(tmp_path / "broken.ipynb", cwd=tmp_path)
    assert result.returncode != 0 and "code cell 2 of 2 failed" in result.stderr and "boom" in result.stderr


@pytest.mark.slow  # runs a notebook in a child
def test_a_notebook_that_reads_the_repository_fails_elsewhere(tmp_path):
    """What the run from a temporary folder catches: a path relative to examples/."""
    reader = {"cells": [{"cell_type": "code", "source": ["open('../results/table1.csv').read()"]}]}
    (tmp_path / "reader.ipynb").write_text(json.dumps(reader))
    assert run_notebook(tmp_path / "reader.ipynb", cwd=EXAMPLES).returncode == 0
    result = run_notebook(tmp_path / "reader.ipynb", cwd=tmp_path)
    assert result.returncode != 0 and "FileNotFoundError" in result.stderr


@pytest.mark.parametrize("copy", SHIPPED)
def test_the_results_the_package_carries_are_the_committed_ones(copy):
    assert (ROOT / copy).read_bytes() == (ROOT / SHIPPED[copy]).read_bytes(), \
        f"{copy} differs from {SHIPPED[copy]}: copy it again"


def test_the_results_the_package_carries_are_declared_and_listed():
    """Each file of the data folder is a listed copy, and setup.cfg installs it with the package."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    declared = {package: value.split() for package, value in config["options.package_data"].items()}
    folder = ROOT / "dmf_numpy" / "experiments" / "data"
    assert {f"dmf_numpy/experiments/data/{p.name}" for p in folder.iterdir() if p.suffix == ".csv"} == set(SHIPPED)
    for copy in SHIPPED:
        package, _, inside = copy.rpartition("/data/")
        assert any(fnmatch.fnmatch("data/" + inside, pattern) for pattern in declared.get(package.replace("/", "."), []))
