"""Exercises made from DMF on one page (:mod:`dmf_numpy.core.one_page`): a student's copy with
equations blanked out, each a clearly marked TODO that names its equation.

The guided tier, two exercises:

- ``backward``: the backward pass. The one-line functions of the backward equations are
  blanked: the sigmoid derivative, the elementwise delta, Eq. 2, Eq. 5, Eqs. 6/8, Eq. 7, and
  the weight and bias gradients. The forward pass and the loop that calls them stay.
- ``forward``: the forward pass. The sigmoid, Eq. 4 (a tower layer) and Eq. 3 (a shared layer)
  are blanked; the backward pass stays, so that the student's forward pass can be checked
  against finite differences once it is written.

A blanked function keeps its signature and a docstring that states its contract and shapes,
never the answer; the module's header is replaced by one that states no equation. The rules are
in ``INSTRUCTIONS.md``, in the exercise's orientation (samples as columns).

The other tiers (:data:`TIERS`) are modules of their own, with the same file format.
:func:`write_exercise` writes any exercise's copy and its instructions;
:mod:`dmf_numpy.course.grader` grades it.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import NamedTuple

from ..core import one_page
from ..core.errors import UserError
from ..files import write_text
from . import full_backward, three_modalities
from .submission import MARKER


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

#: What a blanked function's docstring says in a student's copy: its contract and shapes only.
CONTRACTS = {
    "f": "The sigmoid of the paper, elementwise: M of any shape -> the same shape.",
    "f_prime": "f'(M) from the layer's output out = f(M): out (size, N) -> (size, N).",
    "delta_pre_activation": "dE/dM (size, N), from delta_out = dE/df(M) (size, N) and the output\n"
                            "out = f(M) (size, N).",
    "eq2_modality_path": "Eq. 2: what reaches h^m_l from h^m_{l+1}, (d_l, N).\n\n"
                         "W_m is W^m_l (d_{l+1}, d_l); delta_M_next is dE/dM^m_{l+1} (d_{l+1}, N).\n",
    "eq7_shared_path": "Eq. 7: what reaches h^m_l from s_l, (d_l, N).\n\n"
                       "W_ms is W^{m->s}_l (e_l, d_l); delta_M is dE/dM_l (e_l, N).\n",
    "eq6_shared_chain": "Eqs. 6 and 8: what reaches s_l from s_{l+1}, (e_l, N).\n\n"
                        "W_s is W^s_l (e_{l+1}, e_l); delta_M_next is dE/dM_{l+1} (e_{l+1}, N).\n",
    "eq5_fork": "Eq. 5: dE/dh^m_l (d_l, N), from the modality path and the shared path,\n"
                "each (d_l, N).",
    "weight_gradient": "dE/dW (out, in) of M = W a + b, from delta_M = dE/dM (out, N) and a (in, N).",
    "bias_gradient": "dE/db (out,) of M = W a + b, from delta_M = dE/dM (out, N).",
}

HEADER = '''"""DMF on one page, the exercise '{name}': Dense Multimodal Fusion for a classifier, with {n} blanks.

Fill in every function or line that raises NotImplementedError("TODO ..."); INSTRUCTIONS.md
states the rules. Samples are columns: x is (d^x_1, N), a weight W is (size out, size in), a
bias b is (size out,). Grade your file with:  dmf-numpy grade <this file>
"""'''

#: The rules each guided exercise needs, in its orientation (samples as columns).
RULES = {
    "forward": """- The sigmoid of the paper: f(M) = 1 / (1 + exp(-M)), elementwise.
- Eq. 4, a tower layer of modality m (m is x or y), for l = 1 .. L-1:
  `h^m_{l+1} = f(W^m_l h^m_l + b^m_l)`, where `W^m_l` is `p["W_m.l"]`, (d^m_{l+1}, d^m_l), and the
  bias `b^m_l` is `p["b_m.l"]`, (d^m_{l+1},), added to every column (`b[:, None]` in NumPy).
- Eq. 3, a shared layer, for l = 1 .. L:
  `s_l = f(W^{x->s}_l h^x_l + W^{y->s}_l h^y_l + W^s_{l-1} s_{l-1} + b^s_l)`, with `p["W_xs.l"]`,
  `p["W_ys.l"]`, `p["W_s.(l-1)"]` and `p["b_s.l"]`; at l = 1 there is no shared layer below, so the
  third term is absent.""",
    "backward": """The forward pass (given): `M^m_{l+1} = W^m_l h^m_l + b^m_l`, `h^m_{l+1} = f(M^m_{l+1})` (Eq. 4), and
`M_l = W^{x->s}_l h^x_l + W^{y->s}_l h^y_l + W^s_{l-1} s_{l-1} + b^s_l`, `s_l = f(M_l)` (Eq. 3).
A *delta* is the gradient of the loss E with respect to an array: `dE/dh^x_l` has the shape of
`h^x_l`, (d^x_l, N). The rules, with `@` the matrix product and `*` the elementwise one:
- The sigmoid's derivative, from its output: `f'(M) = f(M) (1 - f(M))`.
- Through a sigmoid (Eqs. 7 and 8): `dE/dM = dE/df(M) * f'(M)`, elementwise (the paper writes a
  plain product; it is elementwise).
- Through `M = W a + b` backwards: what reaches `a` is `W^T dE/dM`, (in, N). This is Eq. 2 for
  `W^m_l` (the modality path), Eq. 7 for `W^{m->s}_l` (the shared path) and Eq. 6 with Eq. 8 for
  `W^s_l` (the shared chain).
- `dE/dW = dE/dM a^T`, (out, in): summed over the N columns (the loss is already the batch
  mean, so no further division). `dE/db` is `dE/dM` summed over the columns: (out,).
- Eq. 5, the fork: `h^m_l` feeds two layers, `h^m_{l+1}` and `s_l`, so its delta is the sum of
  what comes back along both: `dE/dh^m_l = (modality path) + (shared path)`. Gradients add up
  at forks.""",
}

INSTRUCTIONS = """# Exercise: the {name} pass of Dense Multimodal Fusion

`{file}` is the whole of DMF for a classifier, on one page, with {n} blanks. Each raises
`NotImplementedError("TODO ...")` and names its equation:

{todos}

## Conventions

The paper's: column vectors, one column per sample. `x` is `(d^x_1, N)`; a weight `W` is
`(size out, size in)`; a bias `b` is `(size out,)`. `p` is the dict of parameters, named as in the
file (`W_x.1`, `W_xs.2`, `b_s.1`, ...). The paper is Hu, Wang, Nie, Li, *Dense Multimodal Fusion for
Hierarchically Joint Representation*.

## The rules you need

{rules}

These rules are all you need. For more, the derivations in the dmf-numpy repository
(`derivations/02_forward.md`, `derivations/03_backward.md`) work through every step, and give
each rule in this column form too (they mostly write batches with samples as rows).

## Grading

    dmf-numpy grade {file}

Each item says pass or fail, and a failing one says which equation and the likely mistake. Each
item tests one blank, with the reference version of the others, so one mistake fails one item.
The last item tests the code around the blanks against finite differences. Your code runs in a
separate process and may import only numpy and math. Add `--json` for a machine-readable score;
the exit status is 0 when every item passes.
"""

#: The other tiers: exercise name -> module with ``student_copy``, ``INSTRUCTIONS``, ``ITEMS``,
#: ``cases`` and ``judge`` (see :mod:`dmf_numpy.course.grader`).
TIERS = {tier.NAME: tier for tier in (full_backward, three_modalities)}


def student_copy(name):
    """The source of the student's copy of exercise ``name``, its marker line first."""
    if name in TIERS:
        return f"{MARKER}{name}\n" + TIERS[name].student_copy()
    if name not in EXERCISES:
        raise UserError(f"exercise: expected one of {sorted(set(EXERCISES) | set(TIERS))}, got {name!r}")
    lines = inspect.getsource(one_page).splitlines()
    tree = ast.parse("\n".join(lines))
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    for number in range(tree.body[0].lineno - 1, tree.body[0].end_lineno):  # the header states the equations
        lines[number] = None
    lines[0] = HEADER.format(name=name, n=len(EXERCISES[name]))
    for blank in EXERCISES[name]:
        todo = f'raise NotImplementedError("TODO ({blank.todo})")'
        if blank.target in functions:  # keep the signature, state the contract, blank the body
            node = functions[blank.target]
            indent = " " * node.body[0].col_offset
            for number in range(node.body[0].lineno - 1, node.body[-1].end_lineno):
                lines[number] = None
            contract = CONTRACTS[blank.target].replace("\n", "\n" + indent).replace(indent + "\n", "\n")
            lines[node.body[0].lineno - 1] = f'{indent}"""{contract}"""\n{indent}{todo}'
        else:  # a marked line: the statement that ends with the comment
            number = next(k for k, line in enumerate(lines) if line and line.rstrip().endswith(blank.target))
            lines[number] = lines[number][:len(lines[number]) - len(lines[number].lstrip())] + todo
    return f"{MARKER}{name}\n" + "\n".join(line for line in lines if line is not None) + "\n"


def instructions(name, file):
    """The text of ``INSTRUCTIONS.md`` for exercise ``name`` whose copy is ``file``."""
    if name in TIERS:
        return TIERS[name].INSTRUCTIONS.format(file=file)
    todos = "\n".join(f"- {blank.todo}" for blank in EXERCISES[name])
    return INSTRUCTIONS.format(name=name, file=file, n=len(EXERCISES[name]), todos=todos, rules=RULES[name])


def write_exercise(name, out_dir):
    """Write the student's copy ``dmf_<name>.py`` and ``INSTRUCTIONS.md`` into ``out_dir``.

    Returns the path of the copy. A copy already there (a student's work) is never overwritten.
    """
    source = student_copy(name)
    path = Path(out_dir) / f"dmf_{name}.py"
    if path.exists():
        raise FileExistsError(f"{path}: already there; a student's work is never overwritten "
                              "(choose another --out folder)")
    write_text(path, source)
    write_text(Path(out_dir) / "INSTRUCTIONS.md", instructions(name, path.name))
    return path
