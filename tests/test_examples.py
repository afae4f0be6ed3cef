"""The lecture examples run and print what they promise, so that they cannot rot."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dmf_numpy.datasets.mnist import MNIST_FILES
from dmf_numpy.datasets.store import DATA_ENV_VAR, MissingDataError, resolve_data_dir

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name, *args):
    """Run ``examples/<name>`` in a fresh interpreter; the completed process, output as text."""
    return subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True,
                          timeout=300)


def mnist_available():
    """True if ``DMF_NUMPY_DATA`` names a folder holding the four MNIST files (or a root with mnist/)."""
    if not os.environ.get(DATA_ENV_VAR):
        return False
    try:
        folder = resolve_data_dir("mnist").path
    except MissingDataError:
        return False
    return all((folder / f.gz_name).is_file() or (folder / f.raw_name).is_file() for f in MNIST_FILES.values())


def test_walkthrough_prints_every_delta_with_its_equation_and_eq_5_adds_up():
    result = run_example("walkthrough.py")
    assert result.returncode == 0, result.stderr
    deltas = {}
    for layer, source, values in re.findall(r"^d eps/d (\S+)\s+(.+?)\s+\[(.*)\]$", result.stdout, re.MULTILINE):
        deltas.setdefault(layer, {})[source] = np.array(values.split(), dtype=float)
    towers = [f"h_{m}.{l}" for m in "xy" for l in (3, 2, 1)]
    assert list(deltas) == ["z", "s.3", "s.2", "s.1", *towers]  # top to bottom, as backprop runs
    assert set(deltas["s.3"]) == {"head: d_scores @ W_out"} and set(deltas["s.1"]) == {"Eqs. 6 and 8"}
    for layer in towers:
        fork = deltas[layer]
        if layer.endswith(".3"):  # the top of a tower: the shared path alone
            assert set(fork) == {"shared path (Eq. 7)", "total (Eq. 5)"}
            np.testing.assert_array_equal(fork["shared path (Eq. 7)"], fork["total (Eq. 5)"])
        else:  # Eq. 5: the two printed terms add up to the printed total (to the 5 digits printed)
            total = fork["modality path (Eq. 2)"] + fork["shared path (Eq. 7)"]
            np.testing.assert_allclose(total, fork["total (Eq. 5)"], rtol=1e-3, atol=1e-8)


def gradient_check_sections(stdout):
    """``{model: {tensor: "ok" or "FAIL"}}`` from the tables the example prints."""
    sections = {}
    for block in stdout.split("\n\n"):
        header = re.match(r"(\w+): \d+ parameters", block.strip())
        if header:
            sections[header.group(1)] = dict(re.findall(r"^(\S+)\s+\S+\s+(ok|FAIL)$", block, re.MULTILINE))
    return sections


def test_gradient_check_passes_and_fails_without_the_shared_path():
    result = run_example("gradient_check.py")
    assert result.returncode == 0, result.stderr
    sections = gradient_check_sections(result.stdout)
    assert list(sections) == ["EMF", "IMF", "DMF"]
    assert {"W_x.1", "W_xs.2", "W_s.1", "x", "y"} <= set(sections["DMF"])
    assert all(status == "ok" for table in sections.values() for status in table.values())

    broken = run_example("gradient_check.py", "--drop-shared-path")
    assert broken.returncode == 1 and "FAILED" in broken.stdout
    sections = gradient_check_sections(broken.stdout)
    # EMF and IMF have one path at every layer, so they lose nothing; DMF's lower layers fail.
    assert all(status == "ok" for model in ("EMF", "IMF") for status in sections[model].values())
    failed = {name for name, status in sections["DMF"].items() if status == "FAIL"}
    assert failed >= {"W_x.1", "W_y.1", "x", "y"}
    assert sections["DMF"]["W_out"] == sections["DMF"]["W_xs.3"] == "ok"


@pytest.mark.skipif(not mnist_available(), reason=f"MNIST not found: set {DATA_ENV_VAR} to a folder holding "
                    "mnist/ (CI uses ../shared/data)")
def test_path_plot_on_a_small_subset(tmp_path):
    result = run_example("path_plot.py", "--damage", "0.5", "--epochs", "1", "--subset", "300",
                         "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "paths.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "paths.csv").read_text().startswith("model,epoch,probe_loss,layer,")
    shares = {layer: (float(dmf), float(imf)) for layer, dmf, imf in
              re.findall(r"^  (h_[xy]\.\d):  DMF (\S+)   IMF (\S+)$", result.stdout, re.MULTILINE)}
    assert sorted(shares) == [f"h_{m}.{l}" for m in "xy" for l in (1, 2, 3)]
    for layer, (dmf, imf) in shares.items():
        if layer.endswith(".3"):
            assert dmf == imf == 1.0  # the top of a tower is reached by the shared path alone
        else:
            assert imf == 0.0 and 0 < dmf < 1  # IMF: Eq. 2 alone; DMF: both terms of Eq. 5


def test_the_worked_example_matches_the_code():
    """derivations/06_worked_example.md holds exactly the numbers examples/worked_example.py computes."""
    sys.path.insert(0, str(EXAMPLES))
    try:
        import worked_example
    finally:
        sys.path.remove(str(EXAMPLES))
    document = worked_example.DOCUMENT.read_text(encoding="utf-8")
    assert worked_example.with_tables(document) == document
    drifted = document.replace("| (0.6225, 0.6792) |", "| (0.6225, 0.6793) |", 1)
    assert drifted != document and worked_example.with_tables(drifted) != drifted  # a drifted number is caught
    result = run_example("worked_example.py")
    assert result.returncode == 0 and result.stdout.strip() in document
