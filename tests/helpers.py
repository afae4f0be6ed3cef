"""Helpers shared by test modules: no test module imports another, and conftest.py keeps only
fixtures and hooks. Import them as ``from helpers import ...`` (pytest puts tests/ on the path)."""

import os
from pathlib import Path

import numpy as np

from dmf_numpy import DMF, EMF, IMF
from dmf_numpy.core.gradcheck import SMALL_SIZES
from dmf_numpy.datasets.arrays import Splits
from dmf_numpy.experiments.paper import PAPER_SIZES

SMALL = SMALL_SIZES  # small, unequal sizes: every entry of every tensor is checked on them
PAPER = PAPER_SIZES  # the paper's MNIST sizes (Sec. 3.1)
MODEL_CLASSES = [EMF, IMF, DMF]
#: The root holding mnist/, wiki/ and fsdd/: $DMF_NUMPY_DATA, else ../shared/data beside the checkout.
SHARED_DATA = Path(os.environ.get("DMF_NUMPY_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")

#: Layer sizes of a small MNIST-halves model (392 inputs per half), quick to train.
SMALL_ARCH = dict(x_dims=(392, 16, 8), y_dims=(392, 16, 8), shared_dims=(16, 8, 8))


def two_modalities(n, seed, d_x=12, d_y=5):
    """Four classes, one bit from each modality: neither alone can tell them apart."""
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, d_x)), rng.normal(size=(n, d_y))
    return x, y, (x[:, 0] > 0) + 2 * (y[:, 0] > 0)


def synthetic_halves(n=400, seed=0):
    """MNIST-shaped halves whose label is a linear function of both halves (learnable)."""
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(784, 10))

    def split(k):
        left, right = rng.uniform(size=(k, 392)).astype(np.float32), rng.uniform(size=(k, 392)).astype(np.float32)
        labels = (np.hstack([left, right]) @ W).argmax(axis=1).astype(np.int64)
        return left, right, labels

    return Splits(train=split(n), val=split(100), test=split(100))


#: Runs every code cell of the notebook argv[1], in order, in one namespace, without Jupyter;
#: names the failing cell, and ends by printing how many cells ran.
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


#: Holds run_lock(argv[1], argv[2]) until killed; prints "ready" once it holds it.
LOCK_HOLDER = """
import sys, time
from dmf_numpy.files import run_lock
with run_lock(sys.argv[1], sys.argv[2]):
    print("ready", flush=True)
    time.sleep(120)
"""


def hold_lock(folder, command="the other run"):
    """Start a process that holds ``folder``'s run lock (a live run); return it once it holds it."""
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(folder), command],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    return process


def _function_code(source, name):
    """The (first, last) line numbers, 1-based, of the code of the top-level function ``name`` of
    ``source``, after its docstring; an AssertionError that says what to update if it is gone."""
    import ast

    found = [node for node in ast.parse(source).body if isinstance(node, ast.FunctionDef) and node.name == name]
    assert found, f"the source has no function {name}(): update the test that edits it"
    body = found[0].body
    if len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]  # the docstring is not code: editing it changes nothing here
    return body[0].lineno, found[0].end_lineno


def with_function(source, name, new_body):
    """``source`` with the code of the function ``name`` (its signature and docstring kept) replaced
    by ``new_body``, written without indentation: ``with_function(src, "f", "return np.tanh(M)")``."""
    import textwrap

    first, last = _function_code(source, name)
    lines = source.splitlines(keepends=True)
    body = textwrap.indent(textwrap.dedent(new_body).strip("\n") + "\n", "    ")
    return "".join(lines[:first - 1]) + body + "".join(lines[last:])


def in_function(source, name, old, new):
    """``source`` with ``old``, which must occur exactly once in the code of the function ``name``
    (its docstring and the rest of the file are not searched), replaced by ``new``; each line of
    ``new`` after the first is indented like the line where ``old`` starts."""
    first, last = _function_code(source, name)
    lines = source.splitlines(keepends=True)
    code = "".join(lines[first - 1:last])
    assert code.count(old) == 1, (f"{old!r} occurs {code.count(old)} times in the code of {name}(), not once: "
                                  f"update this test's edit to the code as it is now")
    start = code.rfind("\n", 0, code.index(old)) + 1
    indent = code[start:len(code) - len(code[start:].lstrip(" "))]
    code = code.replace(old, new.replace("\n", "\n" + indent))
    return "".join(lines[:first - 1]) + code + "".join(lines[last:])


def edited(source, edits):
    """``source`` with each edit applied: ``(function, new_body)`` replaces the code of a function
    (:func:`with_function`), ``(function, old, new)`` one piece of it (:func:`in_function`)."""
    for edit in edits:
        source = with_function(source, *edit) if len(edit) == 2 else in_function(source, *edit)
    return source
