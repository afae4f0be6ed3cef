"""The guided exercises and their grader: the reference scores full marks, each classic mistake
fails its own item and no other with the right diagnosis, correct work written differently scores
full marks, and no submission can fool the grader, hang it or reach beyond its process."""

import inspect
import json
import subprocess
import sys
import time

import pytest

import dmf_numpy.course.grader as grader
from dmf_numpy.core import one_page
from dmf_numpy.course.exercises import EXERCISES, MARKER, student_copy, write_exercise
from dmf_numpy.course.sandbox import Student, StudentError
from dmf_numpy.course.submission import SubmissionError, static_check

from helpers import edited

REFERENCE = inspect.getsource(one_page)
FD_BACKWARD = "the whole backward pass against finite differences"
FD_FORWARD = "the whole forward pass against finite differences"


def solution(tmp_path, exercise, edits=(), name="student.py", source=None):
    """The reference solution as a student's file, with ``edits`` applied to its functions by name
    (helpers.edited: a function's code, or one piece of it, never its docstring)."""
    text = source if source is not None else MARKER + exercise + "\n" + edited(REFERENCE, edits)
    path = tmp_path / name
    path.write_text(text)
    return path


def failures(report):
    return {item.name: item.message for item in report.items if not item.passed}


def grade(path, **kwargs):
    return grader.grade(path, seed=kwargs.pop("seed", 7), **kwargs)


@pytest.mark.parametrize("exercise", sorted(EXERCISES))
def test_the_reference_solution_scores_full_marks(tmp_path, exercise):
    report = grade(solution(tmp_path, exercise))
    assert report.passed and report.score == len(grader.ITEMS[exercise]) and failures(report) == {}


@pytest.mark.parametrize("exercise", [pytest.param(exercise, marks=pytest.mark.slow if exercise == "backward" else ())
                                      for exercise in sorted(EXERCISES)])  # the fast tier grades the blank
def test_the_blank_copy_compiles_and_every_item_is_still_to_be_written(tmp_path, exercise):
    report = grade(write_exercise(exercise, tmp_path))
    assert report.score == 0
    for name, message in failures(report).items():
        assert ("TODO (" in message and "still to be written" in message) or \
            (name.startswith("the whole") and "once every blank is written" in message)
    assert "## The rules you need" in (tmp_path / "INSTRUCTIONS.md").read_text()


def test_every_blank_names_its_equation_and_no_docstring_states_its_answer():
    copy = student_copy("backward")
    todos = [line.strip() for line in copy.splitlines() if "TODO" in line]
    for equation in ("Eq. 2:", "Eq. 5:", "Eq. 7:", "Eqs. 6 and 8:", "Eqs. 7-8:"):
        assert sum(equation in todo for todo in todos) == 1, equation
    for answer in ("return W_m.T @ delta_M_next", "return modality_path + shared_path", "return out * (1 - out)",
                   "is (W^{x->s}_l)^T", "sum of both paths", "summed over the samples", "elementwise (Eqs. 7",
                   "(W^s_l)^T (dE/ds_{l+1}", "[modality path, Eq. 2] + [shared path, Eq. 7]"):
        assert answer not in copy, answer
    forward = student_copy("forward")
    for answer in ("h^x_{l+1} = f(W^x_l h^x_l + b^x_l)", "1 / (1 + np.exp(-M))", "# Eq. 4", "# Eq. 3"):
        assert answer not in forward, answer


def test_the_instructions_give_every_rule_in_columns_and_stand_alone(tmp_path):
    write_exercise("backward", tmp_path)
    text = (tmp_path / "INSTRUCTIONS.md").read_text()
    for rule in ("W^T dE/dM", "dE/dM a^T", "summed over the columns", "f(M) (1 - f(M))", "Gradients add up"):
        assert rule in text, rule
    assert "../derivations" not in text and "in the dmf-numpy repository" in text


# ------------------------------------------------------------------ blame lands on one item

# The fast tier (-m "not slow") keeps two representative mistakes: a path missing at the fork of
# Eq. 5 (backward) and the wrong f (forward).
FAST_WRONG = {0, 16}
WRONG = [
    # (exercise, what the student wrote, the one item that fails, words of its diagnosis)
    ("backward", ("eq5_fork", "return shared_path"), "Eq. 5: the fork",
     "the modality path (Eq. 2) is missing, or overwritten: gradients add up at forks"),
    ("backward", ("eq5_fork", "return modality_path"), "Eq. 5: the fork",
     "the shared path (Eq. 7) is missing, or overwritten"),
    ("backward", ("eq5_fork", "return (modality_path + shared_path) / 2"), "Eq. 5: the fork",
     "averaged: the fork is a sum"),
    ("backward", ("delta_pre_activation", "return delta_out @ f_prime(out)"),
     "Eqs. 7-8: the elementwise delta dE/dM", "a matrix product where the paper's product is elementwise"),
    ("backward", ("delta_pre_activation", "return delta_out"),
     "Eqs. 7-8: the elementwise delta dE/dM", "the factor f'(M) is missing"),
    ("backward", ("eq7_shared_path", "return W_ms @ delta_M"), "Eq. 7: the shared path", "a missing transpose"),
    ("backward", ("eq6_shared_chain", "return W_s @ delta_M_next"), "Eqs. 6 and 8: the shared chain",
     "a missing transpose"),
    ("backward", ("eq2_modality_path", "return 0 * (W_m.T @ delta_M_next)"), "Eq. 2: the modality path",
     "the path is missing"),
    ("backward", ("f_prime", "return f(out) * (1 - f(out))"), "the sigmoid derivative", "f was applied again"),
    ("backward", ("weight_gradient", "return a @ delta_M.T"), "the weight gradients", "dE/dW has the shape of W"),
    ("backward", ("weight_gradient", "return delta_M @ a.T / a.shape[1]"), "the weight gradients",
     "averaged over the samples"),
    ("backward", ("bias_gradient", "return delta_M.sum(axis=0)"), "the bias gradients",
     "the samples are the columns"),
    ("backward", ("bias_gradient", "return delta_M.sum(axis=1, keepdims=True)"), "the bias gradients",
     "shape (out, 1)"),
    ("backward", ("bias_gradient", "return delta_M.reshape(3, -1).sum(axis=1)"), "the bias gradients",
     ""),  # hard-coded for one size: fails at the drawn sizes
    # the code around the blanks: the loop routes the wrong level's shared path into the fork
    ("backward", ("backward", "shared[m][l - 1])", "shared[m][l])"), FD_BACKWARD, "the loop of backward()"),
    # ... or hands back (out, 1) bias gradients: shapes are checked, not only flattened values
    ("backward", ("backward", "return g", 'g["b_out"] = g["b_out"][:, None]\nreturn g'), FD_BACKWARD,
     "must have the parameter's shape and dtype, float64"),
    ("forward", ("f", "return np.tanh(M)"), "the sigmoid", "tanh: the paper's f is the logistic"),
    ("forward", ("forward", 'f(p[f"W_{m}.{l}"] @ h[m][l] + p[f"b_{m}.{l}"][:, None])', 'f(p[f"W_{m}.{l}"] @ h[m][l])'),
     "Eq. 4: the tower layers", "the bias b is missing"),
    ("forward", ("forward", 'below = p[f"W_s.{l - 1}"] @ s[l - 1] if l > 1 else 0', "below = 0"),
     "Eq. 3: the shared layers",
     "the path from the shared layer below, W^s_{l-1} s_{l-1}, is missing (that is how IMF fuses"),
    ("forward", ("forward", ' + below + p[f"b_s.{l}"][:, None])', " + below)"), "Eq. 3: the shared layers",
     "the bias b^s_l is missing"),
    ("forward", ("forward", 'return p["W_out"] @ s[L] + p["b_out"][:, None], (h, s)',
                 'return p["W_out"] @ s[L], (h, s)'),
     FD_FORWARD, "the code around them"),
]


@pytest.mark.parametrize("exercise, edit, item, diagnosis", [
    pytest.param(*wrong, id=f"{wrong[0]}-{k}", marks=() if k in FAST_WRONG else pytest.mark.slow)
    for k, wrong in enumerate(WRONG)])
def test_a_mistake_fails_its_own_item_and_no_other(tmp_path, exercise, edit, item, diagnosis):
    failed = failures(grade(solution(tmp_path, exercise, [edit])))
    assert set(failed) == {item}, failed
    assert diagnosis in failed[item]


@pytest.mark.slow
def test_a_wrong_f_prime_does_not_fail_a_right_delta(tmp_path):
    failed = failures(grade(solution(tmp_path, "backward", [("f_prime", "return out")])))
    assert set(failed) == {"the sigmoid derivative"}


CORRECT = [
    ("backward", [("eq5_fork", "modality_path += shared_path\nreturn modality_path")]),
    ("backward", [("eq2_modality_path", "return np.einsum('ji,jn->in', W_m, delta_M_next)"),
                  ("weight_gradient", "return np.einsum('on,in->oi', delta_M, a)"),
                  ("eq6_shared_chain", "return np.dot(delta_M_next.T, W_s).T")]),
    ("backward", [("bias_gradient", "total = np.zeros(delta_M.shape[0])\nfor column in delta_M.T:\n"
                                    "    total += column\nreturn total"),
                  ("f_prime", "return out - out ** 2"),
                  ("delta_pre_activation", "return np.multiply(delta_out, f_prime(out))")]),
    ("forward", [("f", "E = np.exp(-np.abs(M))\nreturn np.where(M >= 0, 1 / (1 + E), E / (1 + E))")]),
    ("forward", [("f", "return 0.5 * (1 + np.tanh(M / 2))"),
                 ("forward", 'f(p[f"W_{m}.{l}"] @ h[m][l] + p[f"b_{m}.{l}"][:, None])',
                  'f(np.einsum(\'oi,in->on\', p[f"W_{m}.{l}"], h[m][l]) + p[f"b_{m}.{l}"].reshape(-1, 1))')]),
]
#: All slow: the fast tier grades the reference, written as it is.
FAST_CORRECT = set()


@pytest.mark.parametrize("exercise, edits", [
    pytest.param(*correct, id=f"{correct[0]}-{k}", marks=() if k in FAST_CORRECT else pytest.mark.slow)
    for k, correct in enumerate(CORRECT)])
def test_correct_work_written_differently_scores_full_marks(tmp_path, exercise, edits):
    report = grade(solution(tmp_path, exercise, edits))
    assert failures(report) == {} and report.passed


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_test_cases_are_drawn_from_the_seed_and_the_report_names_it(tmp_path, seed):
    path = solution(tmp_path, "backward", [("bias_gradient", "return delta_M.reshape(3, -1).sum(1)")])
    first, again = grade(path, seed=seed), grade(path, seed=seed)
    assert first == again and first.seed == seed and f"--seed {seed}" in first.text()


# ------------------------------------------------------------------ what the grader protects against

ATTACKS = {
    "imports the reference": "from dmf_numpy.core.one_page import *\n",
    "patches the grader": "import dmf_numpy.course.grader as g\ng.ITEMS['backward'] = []\n",
    "forges a report and exits": "import os\nprint('{\"score\": 9, \"total\": 9, \"passed\": true}')\nos._exit(0)\n",
    "turns off the alarm, then loops": "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
                                       "def f_prime(out):\n    while True:\n        pass\n",
    "runs a shell command": "import subprocess\nsubprocess.run(['touch', 'pwned'])\n",
    "reaches os through a builtin": "__import__('os').system('touch pwned')\n",
    "reaches os through an attribute chain": "().__class__.__base__.__subclasses__()\n",
    "deletes files": "import shutil\nshutil.rmtree('.')\n",
    "reads files through numpy": "secret = np.loadtxt('/etc/passwd')\n",
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_an_attack_gets_no_marks_and_names_what_was_refused(tmp_path, attack):
    path = solution(tmp_path, "backward", source=MARKER + "backward\n" + REFERENCE + ATTACKS[attack])
    started = time.monotonic()
    report = grade(path)
    assert report.score == 0 and time.monotonic() - started < 5
    assert all(item.message.startswith("refused before it ran, no marks") for item in report.items)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("source, refused", [
    ("import numpy as np\nimport math\nfrom numpy.linalg import norm\nfrom functools import reduce\n", None),
    ("import os.path\n", "import os.path (line 1)"),
    ("from . import one_page\n", "from .one_page import ..."[:6]),
    ("x = open\n", "open (line 1)"),
    ("import numpy as np\nnp.save('a', 1)\n", ".save (line 2)"),
])
def test_the_static_check_names_each_refused_import_or_name(source, refused):
    message = static_check(source)
    assert (message is None) if refused is None else refused in message


def test_the_child_refuses_imports_at_run_time_too_when_the_static_check_is_bypassed(tmp_path, monkeypatch):
    monkeypatch.setattr(grader, "static_check", lambda source: None)
    path = solution(tmp_path, "backward", source=MARKER + "backward\n" + REFERENCE + ATTACKS["turns off the alarm, "
                                                                                            "then loops"])
    started = time.monotonic()
    report = grade(path, seconds=3)
    assert report.score == 0 and time.monotonic() - started < 10
    assert "ImportError: import of 'signal' refused" in report.items[0].message


@pytest.mark.slow
def test_an_endless_loop_is_killed_by_the_wall_clock_and_fails_only_its_item(tmp_path):
    started = time.monotonic()
    report = grade(solution(tmp_path, "backward", [("bias_gradient", "while True:\n    pass")]),
                   seconds=2)
    failed = failures(report)
    assert set(failed) == {"the bias gradients"} and "still running after 2 s" in failed["the bias gradients"]
    assert time.monotonic() - started < 20


@pytest.mark.slow
def test_the_wall_clock_holds_even_for_a_child_that_ignores_every_signal_it_can():
    started = time.monotonic()
    with Student("def spin():\n    while True:\n        pass\n", seconds=1) as m:
        with pytest.raises(StudentError, match="still running after 1 s"):
            m.spin()
    assert time.monotonic() - started < 5


@pytest.mark.slow
def test_the_student_gets_copies_and_exceptions_nan_and_garbage_are_that_items_failure(tmp_path):
    report = grade(solution(tmp_path, "backward", [
        ("f_prime", "return out * np.nan"),
        ("eq5_fork", "raise KeyError('mine')"),
        ("eq6_shared_chain", "return {1, 2}"),
        ("weight_gradient", "return 'a string'"),
    ]))
    failed = failures(report)
    assert failed["the sigmoid derivative"] == "the sigmoid derivative: NaN or infinite values"
    assert failed["Eq. 5: the fork"] == "KeyError: 'mine'"
    assert "returned a set" in failed["Eqs. 6 and 8: the shared chain"]
    assert "expected an array of numbers, got str" in failed["the weight gradients"]
    assert set(failed) == {"the sigmoid derivative", "Eq. 5: the fork", "Eqs. 6 and 8: the shared chain",
                           "the weight gradients"}


def test_a_file_that_does_not_load_gets_a_clean_report(tmp_path):
    report = grade(solution(tmp_path, "backward", source=MARKER + "backward\nraise RuntimeError('no')\n"))
    assert report.score == 0 and len(report.items) == len(grader.ITEMS["backward"])
    assert all(item.message == "the file does not load: RuntimeError: no" for item in report.items)


@pytest.mark.parametrize("source, message", [
    (MARKER + "backward\ndef f_prime(out)\n    return out\n", "SyntaxError: expected ':' (line 2)"),
    (MARKER + "backward\ndef f_prime(out):\n\tif out:\n\t\treturn 1\n        return out\n", "TabError"),
])
def test_syntax_errors_and_mixed_tabs_fail_cleanly(tmp_path, source, message):
    report = grade(solution(tmp_path, "backward", source=source))
    assert report.score == 0 and all(message in item.message for item in report.items)


@pytest.mark.slow
def test_a_byte_order_mark_and_crlf_line_endings_are_accepted(tmp_path):
    path = tmp_path / "windows.py"
    path.write_bytes(b"\xef\xbb\xbf" + (MARKER + "backward\n" + REFERENCE).replace("\n", "\r\n").encode())
    assert grade(path).passed


def test_no_file_or_no_exercise_is_a_usage_error(tmp_path):
    (tmp_path / "essay.py").write_text("print('hello')\n")
    for path, words in [(tmp_path / "essay.py", "not an exercise of dmf-numpy"), (tmp_path / "missing.py",
                                                                                 "no such file"),
                        (tmp_path, "not a file")]:
        with pytest.raises(SubmissionError, match=words):
            grader.grade(path)


@pytest.mark.slow
def test_a_forward_exercise_is_never_told_about_the_backward_pass(tmp_path):
    report = grade(solution(tmp_path, "forward", [("forward", 'p[f"b_{m}.{l}"][:, None])', 'p[f"b_{m}.{l}"])')]))
    text = " ".join(failures(report).values())
    assert failures(report) and not any(word in text for word in ("backward", "flows back", "W^T", "transpose"))


@pytest.mark.slow
def test_a_notebook_is_graded_on_its_student_cells(tmp_path):
    def cell(source, tags=()):
        return {"cell_type": "code", "metadata": {"tags": list(tags)}, "source": source, "outputs": [],
                "execution_count": None}

    notebook = {"metadata": {"dmf_numpy": {"exercise": "backward"}}, "nbformat": 4, "nbformat_minor": 5, "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": "# An assignment"},
        cell("from dmf_numpy.course.grader import grade  # untagged: not part of the submission"),
        cell("%matplotlib inline\n!pip list\n" + REFERENCE, tags=["student"])]}  # magics, as Jupyter has them
    path = tmp_path / "assignment.ipynb"
    path.write_text(json.dumps(notebook))
    assert grade(path).passed
    notebook["cells"][2]["source"] = edited(REFERENCE, [("eq5_fork", "return shared_path")])
    path.write_text(json.dumps(notebook))
    assert set(failures(grade(path))) == {"Eq. 5: the fork"}


# ------------------------------------------------------------------ the command line and autograders

def dmf_numpy(cwd, *argv, env=None):
    return subprocess.run([sys.executable, "-m", "dmf_numpy", *argv], capture_output=True, text=True, cwd=cwd,
                          env=env)


def test_the_command_line_writes_grades_and_says_pass_or_fail_by_exit_status(tmp_path):
    written = dmf_numpy(tmp_path, "exercise", "backward", "--out", "ex")
    assert written.returncode == 0 and (tmp_path / "ex" / "dmf_backward.py").exists()
    again = dmf_numpy(tmp_path, "exercise", "backward", "--out", "ex")
    assert again.returncode == 2 and "a student's work is never overwritten" in again.stderr
    blank = dmf_numpy(tmp_path, "grade", "ex/dmf_backward.py", "--json")
    score = json.loads(blank.stdout)
    assert blank.returncode == 1 and score["score"] == 0 and score["total"] == 9 and not score["passed"]
    (tmp_path / "done.py").write_text(MARKER + "backward\n" + REFERENCE)
    done = dmf_numpy(tmp_path, "grade", "done.py")
    assert done.returncode == 0 and done.stdout.strip().endswith("score 9/9") and "FAIL" not in done.stdout
    refused = dmf_numpy(tmp_path, "grade", "ex/INSTRUCTIONS.md")
    assert refused.returncode == 2 and "Traceback" not in refused.stdout + refused.stderr


@pytest.mark.slow
@pytest.mark.parametrize("not_a_submission", ["ex", "missing.py", "/dev/null"])
def test_grading_what_is_not_a_submission_exits_2_without_a_traceback(tmp_path, not_a_submission):
    (tmp_path / "ex").mkdir()
    refused = dmf_numpy(tmp_path, "grade", not_a_submission)
    assert refused.returncode == 2 and "Traceback" not in refused.stdout + refused.stderr


@pytest.mark.slow
def test_json_stays_one_document_whatever_the_submission_prints(tmp_path):
    (tmp_path / "noisy.py").write_text(MARKER + "backward\n" + REFERENCE + "print('debug: {not json')\n"
                                       "import numpy\nprint(numpy.ones(3))\n")
    result = dmf_numpy(tmp_path, "grade", "noisy.py", "--json", "--seed", "3")
    report = json.loads(result.stdout)
    assert report["passed"] and "debug: {not json" in report["student_output"]


def test_a_file_of_another_exercise_gets_no_marks_when_the_exercise_is_set(tmp_path):
    report = grade(solution(tmp_path, "forward"), exercise="backward")
    assert report.score == 0 and len(report.items) == 9 and "'forward'" in report.items[0].message


#: The fields of Gradescope's results.json, as its autograder specification documents them.
GRADESCOPE_TOP = {"score": float, "max_score": float, "output": str, "visibility": str, "stdout_visibility": str,
                  "tests": list}
GRADESCOPE_TEST = {"name": str, "score": float, "max_score": float, "output": str, "visibility": str}
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}


def check_gradescope(results):
    assert set(results) <= set(GRADESCOPE_TOP) | {"execution_time", "extra_data", "leaderboard"}
    for key, kind in GRADESCOPE_TOP.items():
        assert isinstance(results[key], kind), key
    assert results["visibility"] in VISIBILITIES and results["stdout_visibility"] in VISIBILITIES
    for test in results["tests"]:
        assert set(test) == set(GRADESCOPE_TEST)
        assert all(isinstance(test[key], kind) for key, kind in GRADESCOPE_TEST.items())
        assert 0 <= test["score"] <= test["max_score"] and test["visibility"] in VISIBILITIES
    assert results["score"] == sum(test["score"] for test in results["tests"])


@pytest.mark.slow
def test_gradescope_results_have_the_documented_fields(tmp_path):
    path = solution(tmp_path, "backward", [("eq5_fork", "return shared_path")])
    result = dmf_numpy(tmp_path, "grade", path.name, "--gradescope", "results.json")
    results = json.loads((tmp_path / "results.json").read_text())
    check_gradescope(results)
    assert result.returncode == 1 and results["score"] == 8.0 and results["max_score"] == 9.0
    failed = [test for test in results["tests"] if test["score"] == 0]
    assert [test["name"] for test in failed] == ["Eq. 5: the fork"] and "gradients add up" in failed[0]["output"]


def test_the_autograder_folder_grades_a_submission_as_gradescope_runs_it(tmp_path):
    made = dmf_numpy(tmp_path, "autograder", "backward", "--out", "ag")
    assert made.returncode == 0, made.stderr
    folder = tmp_path / "ag"
    assert (folder / "source" / "pyproject.toml").exists() and (folder / "source" / "dmf_numpy" / "cli.py").exists()
    assert all((folder / script).stat().st_mode & 0o111 for script in ("setup.sh", "run_autograder"))
    root = tmp_path / "root"
    (root / "submission").mkdir(parents=True)
    (root / "submission" / "dmf_backward.py").write_text(MARKER + "backward\n" + REFERENCE)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "dmf-numpy").write_text(f"#!/bin/sh\nexec {sys.executable} -m dmf_numpy \"$@\"\n")
    (bin_dir / "dmf-numpy").chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "AUTOGRADER_ROOT": str(root)}
    ran = subprocess.run(["bash", str(folder / "run_autograder")], capture_output=True, text=True, env=env)
    assert ran.returncode == 0, ran.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    check_gradescope(results)
    assert results["score"] == results["max_score"] == 9.0
    (root / "submission" / "dmf_backward.py").write_text(MARKER + "forward\n" + REFERENCE)  # an easier exercise
    subprocess.run(["bash", str(folder / "run_autograder")], capture_output=True, text=True, env=env)
    assert json.loads((root / "results" / "results.json").read_text())["score"] == 0.0
    again = dmf_numpy(tmp_path, "autograder", "backward", "--out", "ag")
    assert again.returncode == 2 and "already holds an autograder" in again.stderr


def test_a_missing_submission_still_writes_a_gradescope_report(tmp_path):
    result = dmf_numpy(tmp_path, "grade", "nothing.py", "--gradescope", "results.json")
    results = json.loads((tmp_path / "results.json").read_text())
    assert result.returncode == 2 and results["score"] == 0.0 and "no such file" in results["tests"][0]["output"]
    check_gradescope(results)
