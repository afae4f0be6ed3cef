"""The lecture notebooks run: every code cell, in order, with a small runner that reads the
notebook's JSON (no Jupyter needed) in a fresh interpreter whose working folder is examples/,
as a notebook server's would be."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))

RUNNER = """
import json, sys
import matplotlib
matplotlib.use("Agg")  # no screen: plt.show() draws nothing
cells = [c for c in json.load(open(sys.argv[1]))["cells"] if c["cell_type"] == "code"]
namespace = {"__name__": "__main__"}
for number, cell in enumerate(cells, 1):
    try:
        exec(compile("".join(cell["source"]), f"code cell {number}", "exec"), namespace)
    except BaseException:
        print(f"code cell {number} of {len(cells)} failed", file=sys.stderr)
        raise
print(f"{len(cells)} code cells ran")
"""


def test_there_are_two_or_three_lectures():
    assert 2 <= len(NOTEBOOKS) <= 3


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_code_cell_runs_in_order(notebook):
    result = subprocess.run([sys.executable, "-c", RUNNER, str(notebook)], capture_output=True, text=True,
                            cwd=EXAMPLES, timeout=300)
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
    result = subprocess.run([sys.executable, "-c", RUNNER, str(tmp_path / "broken.ipynb")], capture_output=True,
                            text=True)
    assert result.returncode != 0 and "code cell 2 of 2 failed" in result.stderr and "boom" in result.stderr
