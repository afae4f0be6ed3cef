"""A ready autograder folder for Gradescope: ``dmf-numpy autograder EXERCISE --out DIR``.

Gradescope builds an image from a zip of the folder's contents: it runs ``setup.sh`` once, then
``run_autograder`` for each submission, with the student's files in ``/autograder/submission``,
and reads ``/autograder/results/results.json``. The folder holds:

- ``source/``: this version of dmf-numpy, which ``setup.sh`` installs with pip (no index needed
  for the package itself; numpy, scipy and matplotlib come from the image's package index);
- ``setup.sh`` and ``run_autograder``: the latter grades the submission with
  ``dmf-numpy grade FILE --exercise EXERCISE --gradescope /autograder/results/results.json``, so a
  student cannot choose an easier exercise by editing the marker line.
"""

from __future__ import annotations

import os
import shutil
from importlib.metadata import version
from pathlib import Path

from ..files import write_text

PYPROJECT = """[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "dmf-numpy"
version = "{version}"
requires-python = ">=3.10"
dependencies = ["numpy>=1.22", "scipy>=1.8", "matplotlib>=3.5"]

[project.scripts]
dmf-numpy = "dmf_numpy.cli:main"

[tool.setuptools.packages.find]
include = ["dmf_numpy", "dmf_numpy.*"]
"""

SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder's image.
set -euo pipefail
apt-get install -y python3 python3-pip >/dev/null 2>&1 || true
python3 -m pip install --quiet /autograder/source/source
"""

RUN = """#!/usr/bin/env bash
# Gradescope runs this for every submission: grade it, write results.json.
set -uo pipefail
root="${{AUTOGRADER_ROOT:-/autograder}}"  # Gradescope's; another root for a dry run
mkdir -p "$root/results"
cd "$root/submission"
file="{file}"
if [ ! -f "$file" ]; then  # another name: the only .py or .ipynb file handed in
    file="$(find . -maxdepth 2 -type f \\( -name '*.py' -o -name '*.ipynb' \\) | head -n 1)"
fi
dmf-numpy grade "${{file:-{file}}}" --exercise {exercise} --gradescope "$root/results/results.json"
exit 0  # the score is in results.json; a failed item is not a failed autograder
"""


def write_autograder(exercise, expected_file, out_dir):
    """Write the autograder folder for ``exercise`` into ``out_dir`` (which must not hold one yet);
    ``expected_file`` is the name students hand in. Returns the folder."""
    out_dir = Path(out_dir)
    if (out_dir / "run_autograder").exists() or (out_dir / "source").exists():
        raise FileExistsError(f"{out_dir}: already holds an autograder (choose another --out folder)")
    staging = out_dir / ".source.tmp"  # renamed to source/ once whole
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(Path(__file__).resolve().parents[1], staging / "dmf_numpy",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (staging / "pyproject.toml").write_text(PYPROJECT.format(version=version("dmf-numpy")), encoding="utf-8")
    os.replace(staging, out_dir / "source")
    write_text(out_dir / "setup.sh", SETUP)
    write_text(out_dir / "run_autograder", RUN.format(file=expected_file, exercise=exercise))
    for script in ("setup.sh", "run_autograder"):
        (out_dir / script).chmod(0o755)
    return out_dir
