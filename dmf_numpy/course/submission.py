"""Reading a submission, and refusing one that reaches beyond the exercise before it runs.

A submission is a student's ``.py`` copy of an exercise (its first line names the exercise) or
an assignment notebook (``.ipynb``: its metadata names the exercise, and the code cells tagged
``student`` are the submission). A UTF-8 byte-order mark and CRLF line endings are accepted.

:func:`static_check` reads the code without running it and refuses an import of anything but
numpy and a few harmless modules (dmf_numpy itself included: the reference is not the
student's), and the names through which Python code reaches the system or the grader
(``open``, ``eval``, ``__import__``, ``getattr``, dunder attributes such as ``__class__``,
numpy's file functions, ...). It is a first fence, not a sandbox: see
:mod:`dmf_numpy.course.sandbox`.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import NamedTuple

from ..core.errors import UserError
from .child import ALLOWED_IMPORTS, REMOVED_BUILTINS

#: The first line of every student's copy; the grader reads the exercise's name from it.
MARKER = "# dmf-numpy exercise: "
#: The tag of a notebook's code cells that make up the submission.
STUDENT_TAG = "student"
#: Names a submission may not use: the builtins that reach the system or the interpreter.
REFUSED_NAMES = frozenset(REMOVED_BUILTINS) | {"__import__", "__builtins__", "__loader__", "__spec__"}
#: Attributes a submission may not use: numpy's ways to files, C and the system.
REFUSED_ATTRIBUTES = frozenset({
    "load", "save", "savez", "savez_compressed", "savetxt", "loadtxt", "genfromtxt", "fromfile", "tofile",
    "fromregex", "memmap", "ctypeslib", "ctypes", "DataSource", "f2py", "distutils", "testing", "os", "sys",
    "system", "lib"})


class SubmissionError(UserError):
    """The file is no submission (missing, unreadable, not an exercise): a usage error."""


class Submission(NamedTuple):
    exercise: str
    """The exercise's name, as ``dmf-numpy exercise`` knows it."""
    source: str
    """The code to grade, with LF line endings and no byte-order mark."""


def read_submission(path, exercises):
    """The :class:`Submission` at ``path`` (``.py`` or ``.ipynb``); SubmissionError when there is
    no readable file there, or it names no exercise of ``exercises``."""
    path = Path(path)
    if not path.is_file():
        raise SubmissionError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise SubmissionError(f"cannot read {path}: {err}") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if path.suffix == ".ipynb":
        name, source = notebook_code(path, text)
    else:
        first = text.split("\n", 1)[0]
        name, source = (first[len(MARKER):].strip() if first.startswith(MARKER) else None), text
    if name not in exercises:
        raise SubmissionError(f"{path}: not an exercise of dmf-numpy (its first line should be "
                              f"'{MARKER}<name>', with a name among {', '.join(sorted(exercises))})")
    return Submission(name, source)


def notebook_code(path, text):
    """``(exercise, code)`` of an assignment notebook: its metadata (``{"dmf_numpy": {"exercise": NAME}}``) and
    the code cells tagged :data:`STUDENT_TAG`, in order, without IPython magics."""
    try:
        notebook = json.loads(text)
        name = notebook.get("metadata", {}).get("dmf_numpy", {}).get("exercise")
        cells = [cell for cell in notebook["cells"] if cell.get("cell_type") == "code"
                 and STUDENT_TAG in cell.get("metadata", {}).get("tags", [])]
        code = ["".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"] for cell in cells]
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise SubmissionError(f"{path}: not a notebook ({type(err).__name__}: {err})") from None
    if not cells:
        raise SubmissionError(f"{path}: no code cell is tagged '{STUDENT_TAG}', so there is nothing to grade")
    return name, "\n\n".join(without_magics(cell) for cell in code)


def without_magics(cell):
    """A cell's code with its IPython magics and shell escapes (lines that start with ``%`` or
    ``!``, which Jupyter runs and Python cannot parse) blanked, so line numbers stay."""
    return "\n".join("" if line.startswith(("%", "!")) else line for line in cell.split("\n"))


def static_check(source):
    """Why ``source`` may not run (a syntax error, or every refused import and name, with their
    lines), or None when it may."""
    try:
        tree = ast.parse(source, filename="submission")
    except SyntaxError as err:  # TabError (mixed tabs and spaces) is one
        return f"{type(err).__name__}: {err.msg} (line {err.lineno})"
    refused = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            refused += [(node.lineno, f"import {a.name}") for a in node.names if not allowed_module(a.name)]
        elif isinstance(node, ast.ImportFrom) and (node.level or not allowed_module(node.module or "")):
            refused.append((node.lineno, f"from {'.' * node.level}{node.module or ''} import ..."))
        elif isinstance(node, ast.Name) and node.id in REFUSED_NAMES:
            refused.append((node.lineno, node.id))
        elif isinstance(node, ast.Attribute) and (is_dunder(node.attr) or node.attr in REFUSED_ATTRIBUTES):
            refused.append((node.lineno, f".{node.attr}"))
    if not refused:
        return None
    listed = "; ".join(f"{what} (line {line})" for line, what in sorted(set(refused)))
    return (f"refused before it ran, no marks: {listed}. A submission may import only "
            f"{', '.join(ALLOWED_IMPORTS[:2])} (and {', '.join(ALLOWED_IMPORTS[2:])}), and may not reach files, "
            "the system or the grader")


def allowed_module(name):
    return name.partition(".")[0] in ALLOWED_IMPORTS


def is_dunder(name):
    return name.startswith("__") and name.endswith("__")
