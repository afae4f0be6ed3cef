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


@pytest.mark.slow
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


def import_worked_example():
    sys.path.insert(0, str(EXAMPLES))
    try:
        import worked_example
    finally:
        sys.path.remove(str(EXAMPLES))
    return worked_example


def test_the_worked_example_matches_the_code():
    """derivations/06_worked_example.md holds exactly the numbers examples/worked_example.py computes,
    in every one of its generated parts."""
    worked_example = import_worked_example()
    document = worked_example.DOCUMENT.read_text(encoding="utf-8")
    assert worked_example.with_tables(document) == document
    assert list(worked_example.PARTS) == ["parameters", "by hand", "fork", "numbers"]
    for name in worked_example.PARTS:  # a drifted number in any part is caught, and rewritten
        start = document.index(worked_example.begin(name)) + len(worked_example.begin(name))
        number = re.compile(r"\d\.\d+").search(document, start)
        assert number.end() < document.index(worked_example.end(name)), name
        digit = number.end() - 1
        drifted = document[:digit] + str((int(document[digit]) + 1) % 10) + document[digit + 1:]
        assert drifted != document and worked_example.with_tables(drifted) == document, name
    result = run_example("worked_example.py")
    assert result.returncode == 0, result.stderr
    parts = worked_example.parts()
    assert all(text in result.stdout and text in document for text in parts.values())
    # what the document says of the fork at h^x_2, in numbers the test reads back from it
    fork = re.findall(r"^\| (\d) \| .* = (-?\d\.\d{4}) \| .* = (-?\d\.\d{4}) \| .* = (-?\d\.\d{4}) \|$",
                      parts["fork"], re.MULTILINE)
    assert [unit for unit, *_ in fork] == ["1", "2"]
    for _, modality, shared, total in fork:  # Eq. 5: the sum, to one unit in the last decimal
        assert abs(float(modality) + float(shared) - float(total)) <= 1.0001e-4


def test_the_worked_example_fails_when_the_code_or_its_claims_are_wrong(monkeypatch):
    from dmf_numpy.core import one_page

    worked_example = import_worked_example()
    with pytest.raises(AssertionError, match="within one unit|off by"):
        worked_example.check_by_hand(0.0123, 0.0125, "a sum two units off")
    worked_example.check_by_hand(0.0124, 0.01254, "one unit off")  # what the document allows
    # without the shared path of Eq. 5 the gradients of W^x_1, b^x_1, W^y_1, ... are wrong
    monkeypatch.setattr(one_page, "eq5_fork", lambda modality_path, shared_path: modality_path)
    with pytest.raises(AssertionError, match="finite differences"):
        worked_example.parts()
