"""Exercises made from DMF on one page (:mod:`dmf_numpy.core.one_page`): a student's copy with
equations blanked out, each a clearly marked TODO that names its equation.

Two exercises:

- ``backward``: the backward pass. The one-line functions of the backward equations are
  blanked: the sigmoid derivative, the elementwise delta, Eq. 2, Eq. 5, Eqs. 6/8, Eq. 7, and
  the weight and bias gradients. The forward pass and the loop that calls them stay.
- ``forward``: the forward pass. The sigmoid, Eq. 4 (a tower layer) and Eq. 3 (a shared layer)
  are blanked; the backward pass stays, so that the student's forward pass can be checked
  against finite differences once it is written.

:func:`write_exercise` writes the copy and its instructions; :mod:`dmf_numpy.course.grader`
grades it.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import NamedTuple

from ..core import one_page
from ..files import write_text

#: The first line of every student's copy; the grader reads the exercise's name from it.
MARKER = "# dmf-numpy exercise: "


class Blank(NamedTuple):
    """One TODO: a function of the one-page DMF whose body is removed, or one marked line."""

    target: str
    """A function name, or the ``# Eq. N`` comment that ends the line to blank."""
    todo: str
    """What the TODO says: the equation and what to compute."""


EXERCISES = {
    "backward": [
        Blank("f_prime", "the sigmoid derivative f'(M), from the layer's output out = f(M)"),
        Blank("delta_pre_activation", "Eqs. 7-8: dE/dM from dE/df(M) (delta_out) and the output out = f(M)"),
        Blank("eq2_modality_path", "Eq. 2: the modality path, what reaches h^m_l from h^m_{l+1}"),
        Blank("eq7_shared_path", "Eq. 7: the shared path, what reaches h^m_l from s_l"),
        Blank("eq6_shared_chain", "Eqs. 6 and 8: what reaches s_l from s_{l+1}"),
        Blank("eq5_fork", "Eq. 5: the delta at h^m_l, from the modality path and the shared path"),
        Blank("weight_gradient", "dE/dW of M = W a + b, for all the samples (the columns) at once"),
        Blank("bias_gradient", "dE/db of M = W a + b, for all the samples (the columns) at once"),
    ],
    "forward": [
        Blank("f", "the sigmoid f(M) of the paper"),
        Blank("# Eq. 4", "Eq. 4: h[m][l + 1], the tower layer above h[m][l] (with its bias b_{m}.{l})"),
        Blank("# Eq. 3", "Eq. 3: s[l], from h^x_l, h^y_l, the shared layer below (none at l = 1) and b_s.{l}"),
    ],
}

INSTRUCTIONS = """# Exercise: the {name} pass of Dense Multimodal Fusion

`{file}` is the whole of DMF for a classifier, on one page, with {n} equations blanked out.
Each blank raises `NotImplementedError("TODO ...")` and names its equation:

{todos}

Conventions (those of the paper): column vectors, one column per sample, so `x` is
`(d_x, N)` and a weight `W` is `(size out, size in)`; `@` is the matrix product and `*` the
elementwise one. The paper is Hu, Wang, Nie, Li, *Dense Multimodal Fusion for Hierarchically
Joint Representation*; its Eqs. 3-8 are written out at the top of the file, and the
derivations in `derivations/` work through every step.

Fill in the blanks, then grade your file, one item at a time:

    dmf-numpy grade {file}

Each item says pass or fail, and a failing one says which equation and the likely mistake.
The last item checks your whole {name} pass against finite differences. Add `--json` for a
machine-readable score; the exit status is 0 when every item passes.
"""


def student_copy(name):
    """The source of the one-page DMF with the blanks of exercise ``name`` (see :data:`EXERCISES`)."""
    if name not in EXERCISES:
        raise ValueError(f"exercise: expected one of {sorted(EXERCISES)}, got {name!r}")
    lines = inspect.getsource(one_page).splitlines()
    functions = {node.name: node for node in ast.parse("\n".join(lines)).body if isinstance(node, ast.FunctionDef)}
    for blank in EXERCISES[name]:
        todo = f'raise NotImplementedError("TODO ({blank.todo})")'
        if blank.target in functions:  # keep the signature and the docstring, blank the body
            node = functions[blank.target]
            body = node.body[1:] if ast.get_docstring(node) else node.body
            indent = " " * body[0].col_offset
            for number in range(body[0].lineno - 1, body[-1].end_lineno):
                lines[number] = None
            lines[body[0].lineno - 1] = indent + todo
        else:  # a marked line: the statement that ends with the comment
            number = next(k for k, line in enumerate(lines) if line and line.rstrip().endswith(blank.target))
            lines[number] = lines[number][:len(lines[number]) - len(lines[number].lstrip())] + todo
    return f"{MARKER}{name}\n" + "\n".join(line for line in lines if line is not None) + "\n"


def write_exercise(name, out_dir):
    """Write the student's copy ``dmf_<name>.py`` and ``INSTRUCTIONS.md`` into ``out_dir``.

    Returns the path of the copy. A copy already there (a student's work) is never overwritten.
    """
    source = student_copy(name)
    path = Path(out_dir) / f"dmf_{name}.py"
    if path.exists():
        raise FileExistsError(f"{path}: already there; a student's work is never overwritten "
                              "(choose another --out folder)")
    todos = "\n".join(f"- {blank.todo}" for blank in EXERCISES[name])
    write_text(path, source)
    write_text(Path(out_dir) / "INSTRUCTIONS.md", INSTRUCTIONS.format(name=name, file=path.name,
                                                                      n=len(EXERCISES[name]), todos=todos))
    return path
