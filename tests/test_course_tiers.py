"""The exercise tiers ``backward-full`` and ``three-modalities`` (their ``cases`` and ``judge``):
the reference solutions (tests/submissions/<tier>/solution.py) and solutions written otherwise
score full marks, classic wrong solutions fail only their own items with the right diagnosis,
a hard-coded depth fails, and garbage never makes a judge raise.

A student's file is run here in-process by :func:`run` (the child-process harness is the
grader's, not tested here)."""

import ast
import copy
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import dmf_numpy.course.grader as grader
from dmf_numpy.core import one_page
from dmf_numpy.course import full_backward, three_modalities

from helpers import RUNNER

SUBMISSIONS = Path(__file__).resolve().parent / "submissions"
TIERS = {module.NAME: module for module in (full_backward, three_modalities)}
NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "assignment_multipath_backward.ipynb"


def source(tier, name="solution", replace=()):
    """A submission's text, with each ``(old, new)`` of ``replace`` applied once (and present)."""
    text = (SUBMISSIONS / tier / f"{name}.py").read_text()
    for old, new in replace:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def run(text, cases, path="student.py"):
    """What the student's functions return for each case, or the exception they raise."""
    namespace = {}
    exec(compile(text, path, "exec"), namespace)  # noqa: S102 -- the test's own submissions
    returned = []
    for case in cases:
        try:
            returned.append(namespace[case.function](*copy.deepcopy(case.args)))
        except Exception as error:  # noqa: BLE001 -- what the harness reports to the judge
            returned.append(error)
    return returned


def grade(tier, text, seed=0):
    module = TIERS[tier]
    cases = module.cases(np.random.default_rng(seed))
    return module.judge(cases, run(text, cases))


def failures(items):
    return {item.name: item.message for item in items if not item.passed}


# ---------------------------------------------------------------- the contract of a tier

@pytest.mark.parametrize("tier", TIERS)
def test_a_tier_follows_the_contract(tier):
    module = TIERS[tier]
    assert module.NAME == tier and len(module.ITEMS) == len(set(module.ITEMS)) >= 5
    assert module.INSTRUCTIONS.format(file="mine.py") == module.INSTRUCTIONS.replace("{file}", "mine.py")
    for words in ("dmf-numpy grade mine.py", "derivations/03_backward.md", "Gradients add up at forks", "float64"):
        assert words in module.INSTRUCTIONS.format(file="mine.py"), words
    cases = module.cases(np.random.default_rng(5))
    allowed = (np.ndarray, int, float, type(None), list, tuple, dict)

    def plain(value):
        if isinstance(value, np.ndarray):
            return value.dtype == np.float64
        if isinstance(value, (list, tuple)):
            return all(plain(v) for v in value)
        if isinstance(value, dict):
            return all(isinstance(k, (str, int)) and plain(v) for k, v in value.items())
        return isinstance(value, allowed) and not isinstance(value, bool)

    assert all(isinstance(case.function, str) and isinstance(case.args, tuple) and plain(case.args) for case in cases)


@pytest.mark.parametrize("tier", TIERS)
def test_the_student_copy_imports_only_numpy_and_holds_no_answer(tier):
    text = TIERS[tier].student_copy()
    assert not text.startswith("# dmf-numpy exercise")
    imported = {alias.name for node in ast.walk(ast.parse(text)) if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in node.names}
    assert imported == {"numpy"}
    for answer in ("f_prime", "eq5_fork", "delta_pre_activation", "weight_gradient", ".T @"):
        assert answer not in text, answer
    blank = TIERS[tier].judge(TIERS[tier].cases(np.random.default_rng(0)),
                              run(text, TIERS[tier].cases(np.random.default_rng(0))))
    assert not any(item.passed for item in blank)
    assert all("NotImplementedError: TODO" in item.message for item in blank)


def test_the_mistaken_backward_without_mistakes_is_the_reference():
    for case in full_backward.cases(np.random.default_rng(3)):
        reference, mine = one_page.backward(*case.args), full_backward.mistaken_backward(*case.args)
        assert reference.keys() == mine.keys() and all(np.array_equal(reference[k], mine[k]) for k in reference)


def test_every_mistake_changes_some_gradient():
    case = max(full_backward.cases(np.random.default_rng(1)), key=lambda c: full_backward.depth(c.args[0]))
    reference = one_page.backward(*case.args)
    for mistake in full_backward.MISTAKES:
        mistaken = full_backward.mistaken_backward(*case.args, **mistake.flags)
        assert not all(np.allclose(mistaken[k], reference[k]) for k in reference), mistake.flags


def test_the_cases_draw_every_depth_and_no_square_weight():
    """A hard-coded depth meets another one; a missing transpose meets a shape that does not fit."""
    for tier, depths in (("backward-full", {1, 2, 3, 4}), ("three-modalities", {1, 2, 3})):
        for seed in range(5):
            cases = TIERS[tier].cases(np.random.default_rng(seed))
            assert {full_backward.depth(case.args[0]) for case in cases} == depths
            assert all(value.shape[0] != value.shape[1] for case in cases
                       for name, value in case.args[0].items() if name.startswith("W_"))


def test_three_modalities_keeps_its_finite_differences_fast():
    cases = three_modalities.cases(np.random.default_rng(0))
    start = time.perf_counter()
    three_modalities.judge(cases, [None] * len(cases))
    assert time.perf_counter() - start < 1.5


# ---------------------------------------------------------------- right answers

CORRECT = [("backward-full", "solution"), ("backward-full", "einsum"), ("backward-full", "loops"),
           ("three-modalities", "solution"), ("three-modalities", "stable")]


@pytest.mark.parametrize("tier, name", CORRECT, ids=[f"{t}/{n}" for t, n in CORRECT])
@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow), pytest.param(7, marks=pytest.mark.slow)])
def test_a_right_submission_scores_full_marks(tier, name, seed):
    items = grade(tier, source(tier, name), seed)
    assert [item.name for item in items] == TIERS[tier].ITEMS
    assert failures(items) == {}


@pytest.mark.slow  # the fast tier grades them at one seed
def test_the_reference_solutions_score_full_marks_at_many_seeds():
    for seed in range(10, 30):
        assert failures(grade("backward-full", source("backward-full"), seed)) == {}
    for seed in range(10, 14):
        assert failures(grade("three-modalities", source("three-modalities"), seed)) == {}


# ---------------------------------------------------------------- wrong answers

B = full_backward.ITEMS
T = three_modalities.ITEMS
TOWERS_B, SHARED_B = {B[4], B[5]}, {B[2], B[3]}

WRONG = [
    # (tier, what the student wrote, the items that fail, words of the diagnosis of each)
    ("backward-full", [("delta_M + shared_path[m][l - 1]  # Eq. 5", "delta_M  # Eq. 5")], TOWERS_B,
     ["every shared-layer gradient is right", "misses one of the two paths of Eq. 5 (the shared path, Eq. 7)"]),
    ("backward-full", [("delta_h = p[f\"W_{m}.{l - 1}\"].T @ delta_M + shared_path[m][l - 1]",
                        "delta_h = shared_path[m][l - 1]")], TOWERS_B,
     ["misses one of the two paths of Eq. 5 (the modality path, Eq. 2)"]),
    ("backward-full", [("delta_s = p[f\"W_s.{l - 1}\"].T @ delta_M", "delta_s = np.zeros_like(s[l - 1])")],
     SHARED_B | TOWERS_B, ["the shared chain of Eqs. 6 and 8 is missing"]),
    ("backward-full", [("delta_M = delta_h * h[m][l] * (1 - h[m][l])", "delta_M = delta_h")], TOWERS_B,
     ["the factor f' is missing in the tower"]),
    ("backward-full", [("delta_M = delta_s * s[l] * (1 - s[l])", "delta_M = delta_s")], SHARED_B | TOWERS_B,
     ["the factor f' is missing in the shared stack"]),
    ("backward-full", [("delta_h = shared_path[m][L]", "delta_h = 2 * shared_path[m][L]")], TOWERS_B,
     ["the top of the tower, h^m_L, feeds only s_L"]),
    ("backward-full", [('g[f"b_s.{l}"] = delta_M.sum(axis=1)', 'g[f"b_s.{l}"] = delta_M.sum(axis=1, keepdims=True)')],
     {B[0]}, ["1-D like the bias"]),
    ("backward-full", [("    return g\n", "    return {name: np.float32(value) for name, value in g.items()}\n")],
     {B[0]}, ["float32, expected float64"]),
    ("backward-full", [('"b_out": d_z.sum(axis=1)', '"b_out": d_z.mean(axis=1)')], {B[1]},
     ["b_out is averaged over the N"]),
    ("backward-full", [('"W_out": d_z @ s[L].T', '"W_out": s[L] @ d_z.T')], {B[0], B[1]},
     ["W_out has shape", "W_out is transposed"]),
    ("backward-full", [('g[f"W_{m}s.{l}"] = delta_M @ h[m][l].T',
                        'g[f"W_{m}s.{l}"] = delta_M @ h["y" if m == "x" else "x"][l].T')], {B[0], B[2]},
     ["has shape", "W_xs.1 is the gradient of W_ys.1: the arrays of the two are mixed up"]),
    ("backward-full", [("delta_s = p[\"W_out\"].T @ d_z  # dE/ds_L\n",
                        "delta_s = p[\"W_out\"].T @ d_z  # dE/ds_L\n    top = p[f\"W_s.{L - 1}\"]\n")],
     {B[0], B[1], B[2]}, ["L = 1, ", "KeyError: 'W_s.0'"] * 2),
    ("three-modalities", [("loss = -log_prob[labels, np.arange(N)].mean()",
                           "loss = -log_prob[labels, np.arange(N)].sum()")], {T[0]},
     ["the loss of loss_and_grads: summed over the N"]),
    ("three-modalities", [("+ shared_path[m][l - 1]  # Eq. 5", "+ (shared_path[m][l - 1] if m != 'z' else 0)  #")],
     {T[6]}, ["W_z.2 and b_z.2 are right, but W_z.1 and b_z.1 are wrong", "W_z.2 is right and W_z.1 is wrong",
              "the fork of Eq. 5"]),
    ("three-modalities", [('"b_out": d_z.sum(axis=1)', '"b_out": d_z.mean(axis=1)')], {T[2]},
     ["b_out is averaged over the N"]),
    ("three-modalities", [("    return loss, g\n", "    g.pop('W_z.1', None)\n    return loss, g\n")], {T[1], T[6]},
     ["missing W_z.1", "W_z.1 is missing"]),
    ("three-modalities", [("delta_s = p[f\"W_s.{l - 1}\"].T @ delta_M", "delta_s = np.zeros_like(s[l - 1])")],
     {T[3], T[4], T[5], T[6]}, ["level 3 is right and level 2 is wrong: look at what reaches s_2 from s_3",
                                "the shared stack is wrong too"]),
    ("three-modalities", [('g[f"W_{m}.{l - 1}"] = delta_M @ h[m][l - 1].T',
                           'g[f"W_{m}.{l - 1}"] = h[m][l - 1] @ delta_M.T if m == "x" else delta_M @ h[m][l - 1].T')],
     {T[1], T[4]}, ["has shape", "W_x.1 is transposed"]),
]


@pytest.mark.parametrize("tier, replace, failing, words", [  # the fast tier: every third
    pytest.param(*wrong, id=f"{wrong[0]}-{k}", marks=() if k % 3 == 0 else pytest.mark.slow)
    for k, wrong in enumerate(WRONG)])
def test_a_classic_mistake_fails_only_its_own_items_with_its_diagnosis(tier, replace, failing, words):
    failed = failures(grade(tier, source(tier, replace=replace)))
    assert set(failed) == failing, failed
    said = " | ".join(failed.values())
    for word in words:
        assert word in said, (word, failed)


@pytest.mark.parametrize("tier, replace", [
    ("backward-full", [('(h, s), L = cache, sum(name.startswith("b_s.") for name in p)', "(h, s), L = cache, 2")]),
    ("three-modalities", [("N, L = labels.size, depth(p)", "N, L = labels.size, 2")]),
])
def test_a_hard_coded_depth_fails(tier, replace):
    failed = failures(grade(tier, source(tier, replace=replace)))
    assert TIERS[tier].ITEMS[1 if tier == "three-modalities" else 0] in failed
    assert len(failed) >= 3


def test_hard_coded_sizes_fail():
    text = source("backward-full", replace=[('"b_out": d_z.sum(axis=1)', '"b_out": d_z.sum(axis=1)[:3]')])
    failed = set(failures(grade("backward-full", text)))
    assert B[0] in failed or B[1] in failed


def test_a_crash_at_depth_one_fails_neither_the_towers_nor_the_chain():
    text = source("backward-full", replace=[("delta_h = shared_path[m][L]",
                                             "delta_h = shared_path[m][L] + 0 * p[f\"W_{m}.{L - 1}\"][0, 0]")])
    failed = failures(grade("backward-full", text))
    assert set(failed) == {B[0], B[1], B[2]} and all("L = 1, " in message for message in failed.values())


# ---------------------------------------------------------------- garbage

def garbage(cases, params_of):
    """Every kind of nonsense a student's function may return, one list per kind."""
    first = params_of(cases[0])
    kinds = [[None] * len(cases), [[1, 2]] * len(cases), ["text"] * len(cases), [{}] * len(cases),
             [RuntimeError("boom")] * len(cases), [Exception("timed out after 20 s")] * len(cases),
             [{name: "abc" for name in first}] * len(cases), [{1: 2, (3,): None}] * len(cases),
             [{name: np.full(value.shape, np.nan) for name, value in params_of(c).items()} for c in cases],
             [{name: np.zeros((7, 9, 2)) for name in params_of(c)} for c in cases],
             [{name: [[1, 2], [3]] for name in params_of(c)} for c in cases],
             [{name: object() for name in params_of(c)} for c in cases],
             [{name: np.array(["a", "b"]) for name in params_of(c)} for c in cases],
             [{name: value.astype(complex) for name, value in params_of(c).items()} for c in cases]]
    return kinds


@pytest.mark.parametrize("tier", [pytest.param(tier, marks=[pytest.mark.slow] * (tier == "three-modalities"))
                                  for tier in TIERS])  # three-modalities: 29 finite-difference judgings, 4 s
def test_a_judge_never_raises_on_garbage(tier):
    module = TIERS[tier]
    cases = module.cases(np.random.default_rng(2))
    kinds = garbage(cases, lambda case: case.args[0])
    if tier == "three-modalities":  # the same nonsense, inside the pair, and as the pair
        kinds = kinds + [[(np.nan, value) for value in kind] for kind in kinds] + [[(None, None, None)] * len(cases)]
    for kind in kinds:
        items = module.judge(cases, kind)
        assert [item.name for item in items] == module.ITEMS
        assert all(isinstance(item.message, str) for item in items)
        assert all(not item.passed and item.message for item in items
                   if item.name != "the gradient names, shapes and dtypes")  # which NaNs of the right shape pass


# ---------------------------------------------------------------- the assignment notebook

def solved_notebook():
    """The assignment with the reference solution in its TODO cells (each tagged "student" and
    "todo"; the solution's backward replaces the one with the TODO of backward)."""
    notebook = json.loads(NOTEBOOK.read_text())
    solution = ast.parse(source("backward-full"))
    backward = next(node for node in solution.body if isinstance(node, ast.FunctionDef) and node.name == "backward")
    lines = source("backward-full").splitlines(keepends=True)[backward.lineno - 1:backward.end_lineno]
    for cell in notebook["cells"]:
        if "todo" in cell.get("metadata", {}).get("tags", []):
            cell["source"] = lines
    return notebook


def test_the_notebook_is_committed_without_outputs_and_names_its_exercise():
    notebook = json.loads(NOTEBOOK.read_text())
    assert notebook["metadata"]["dmf_numpy"] == {"exercise": "backward-full"}
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert all(cell.get("execution_count") is None and not cell.get("outputs") for cell in code)
    student = "".join("".join(c["source"]) + "\n" for c in code if "student" in c["metadata"].get("tags", []))
    imported = {alias.name.split(".")[0] for node in ast.walk(ast.parse(student))
                if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}
    assert imported <= {"numpy", "math"}
    assert sum("todo" in c["metadata"].get("tags", []) for c in code) == 1


def test_the_notebooks_student_cells_with_the_solution_score_full_marks_here():
    notebook = solved_notebook()
    student = "".join("".join(c["source"]) + "\n" for c in notebook["cells"]
                      if c["cell_type"] == "code" and "student" in c["metadata"].get("tags", []))
    assert failures(grade("backward-full", student)) == {}


@pytest.mark.slow  # a child running the whole notebook
@pytest.mark.skipif(not hasattr(grader, "read_submission"),
                    reason="the grader cannot read a notebook yet (dmf_numpy.course.grader.read_submission)")
def test_the_solved_notebook_runs_top_to_bottom_outside_the_repository(tmp_path):
    path = tmp_path / NOTEBOOK.name
    path.write_text(json.dumps(solved_notebook()))
    result = subprocess.run([sys.executable, "-c", RUNNER, str(path)], capture_output=True, text=True,
                            cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"score {len(full_backward.ITEMS)}/{len(full_backward.ITEMS)}" in result.stdout
