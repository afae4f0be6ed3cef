"""The graded exercises: the reference solution scores full marks, classic wrong solutions get the
right diagnosis, and no student's file crashes the grader."""

import inspect
import json
import subprocess
import sys

import pytest

import dmf_numpy.course.grader as grader
from dmf_numpy.core import one_page
from dmf_numpy.course.exercises import EXERCISES, MARKER, student_copy, write_exercise

REFERENCE = inspect.getsource(one_page)


def solution(tmp_path, exercise, replace=(), name="student.py", source=None):
    """The reference solution as a student's file, with each ``(old, new)`` of ``replace`` applied."""
    text = source if source is not None else MARKER + exercise + "\n" + REFERENCE
    for old, new in replace:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / name
    path.write_text(text)
    return path


def failures(report):
    return {item.name: item.message for item in report.items if not item.passed}


@pytest.mark.parametrize("exercise", sorted(EXERCISES))
def test_the_reference_solution_scores_full_marks(tmp_path, exercise):
    report = grader.grade(solution(tmp_path, exercise))
    assert report.passed and report.score == len(grader.ITEMS[exercise]) and failures(report) == {}


@pytest.mark.parametrize("exercise", sorted(EXERCISES))
def test_the_blank_copy_compiles_and_every_item_is_still_to_be_written(tmp_path, exercise):
    report = grader.grade(write_exercise(exercise, tmp_path))
    assert report.score == 0
    assert all("TODO (" in message and "still to be written" in message for message in failures(report).values())
    assert (tmp_path / "INSTRUCTIONS.md").read_text().count("\n- ") == len(EXERCISES[exercise])


def test_every_blank_names_its_equation():
    copy = student_copy("backward")
    todos = [line.strip() for line in copy.splitlines() if "TODO" in line]
    for equation in ("Eq. 2:", "Eq. 5:", "Eq. 7:", "Eqs. 6 and 8:", "Eqs. 7-8:"):
        assert sum(equation in todo for todo in todos) == 1, equation
    for name in ("return W_m.T @ delta_M_next", "return modality_path + shared_path", "return out * (1 - out)"):
        assert name not in copy  # the answers are gone


WRONG_BACKWARD = [
    # (what the student wrote, the item that fails, words of its diagnosis)
    (("return modality_path + shared_path", "return shared_path"), "Eq. 5: the fork",
     "the modality path (Eq. 2) is missing, or overwritten: gradients add up at forks"),
    (("return modality_path + shared_path", "return modality_path"), "Eq. 5: the fork",
     "the shared path (Eq. 7) is missing, or overwritten"),
    (("return delta_out * f_prime(out)", "return delta_out @ f_prime(out)"), "Eqs. 7-8: the elementwise delta dE/dM",
     "a matrix product where the paper's product is elementwise"),
    (("return W_ms.T @ delta_M", "return W_ms @ delta_M"), "Eq. 7: the shared path", "a missing transpose"),
    (("return W_s.T @ delta_M_next", "return W_s @ delta_M_next"), "Eqs. 6 and 8: the shared chain",
     "a missing transpose"),
    (("return W_m.T @ delta_M_next", "return 0 * (W_m.T @ delta_M_next)"), "Eq. 2: the modality path",
     "the path is missing"),
    (("return out * (1 - out)", "return f(out) * (1 - f(out))"), "the sigmoid derivative", "f was applied again"),
    (("return delta_M @ a.T", "return a @ delta_M.T"), "the weight gradients", "transposed: dE/dW has the shape of W"),
    (("return delta_M.sum(axis=1)", "return delta_M.sum(axis=0)"), "the bias gradients",
     "summed over the wrong axis: the samples are the columns"),
    (("return delta_M @ a.T", "return delta_M @ a.T / a.shape[1]"), "the weight gradients",
     "averaged over the samples"),
]


@pytest.mark.parametrize("replace, item, diagnosis", WRONG_BACKWARD, ids=[w[1] for w in WRONG_BACKWARD])
def test_a_classic_mistake_gets_its_diagnosis_and_fails_the_finite_difference_check(tmp_path, replace, item,
                                                                                    diagnosis):
    report = grader.grade(solution(tmp_path, "backward", [replace]))
    failed = failures(report)
    assert item in failed and diagnosis in failed[item], failed
    assert "the whole backward pass against finite differences" in failed
    assert set(failed) == {item, "the whole backward pass against finite differences"}  # nothing else blamed


WRONG_FORWARD = [
    (("below = p[f\"W_s.{l - 1}\"] @ s[l - 1] if l > 1 else 0", "below = 0"), "Eq. 3: the shared layers",
     "the path from the shared layer below, W^s_{l-1} s_{l-1}, is missing (that is how IMF fuses"),
    (("f(p[f\"W_{m}.{l}\"] @ h[m][l] + p[f\"b_{m}.{l}\"][:, None])", "f(p[f\"W_{m}.{l}\"] @ h[m][l])"),
     "Eq. 4: the tower layers", "the bias b is missing"),
    (("return 1 / (1 + np.exp(-M))", "return np.tanh(M)"), "the sigmoid", "tanh: the paper's f is the logistic"),
]


@pytest.mark.parametrize("replace, item, diagnosis", WRONG_FORWARD, ids=[w[1] for w in WRONG_FORWARD])
def test_a_classic_forward_mistake_gets_its_diagnosis(tmp_path, replace, item, diagnosis):
    failed = failures(grader.grade(solution(tmp_path, "forward", [replace])))
    assert item in failed and diagnosis in failed[item], failed
    assert "the whole forward pass against finite differences" in failed


@pytest.mark.parametrize("source, message", [
    (MARKER + "backward\ndef f_prime(out)\n    return out\n",
     "the file does not load: SyntaxError: expected ':' (line 2)"),
    (MARKER + "backward\nraise RuntimeError('no')\n", "the file does not load: RuntimeError: no"),
    (MARKER + "backward\nimport sys\nsys.exit(3)\n", "the file does not load: SystemExit: 3"),
])
def test_a_file_that_does_not_load_gets_a_clean_report(tmp_path, source, message):
    report = grader.grade(solution(tmp_path, "backward", source=source))
    assert report.score == 0 and len(report.items) == len(grader.ITEMS["backward"])
    assert all(item.message == message for item in report.items)


def test_exceptions_nan_and_endless_loops_are_that_items_failure(tmp_path, monkeypatch):
    monkeypatch.setattr(grader, "ITEM_SECONDS", 1)
    report = grader.grade(solution(tmp_path, "backward", [
        ("return out * (1 - out)", "return out * np.nan"),
        ("return modality_path + shared_path", "raise KeyError('mine')"),
        ("return delta_M.sum(axis=1)", "while True:\n        pass"),
    ]))
    failed = failures(report)
    assert failed["the sigmoid derivative"] == "the sigmoid derivative: NaN or infinite values"
    assert failed["Eq. 5: the fork"] == "KeyError: 'mine'"
    assert failed["the bias gradients"] == "TimeoutError: still running after 1 s (an endless loop?)"
    assert "Eq. 2: the modality path" not in failed


def test_a_file_that_is_no_exercise_is_one_failed_item(tmp_path):
    path = tmp_path / "essay.py"
    path.write_text("print('hello')\n")
    report = grader.grade(path)
    assert not report.passed and "not an exercise of dmf-numpy" in report.items[0].message
    assert "cannot read" in grader.grade(tmp_path / "missing.py").items[0].message


def test_the_command_line_writes_grades_and_says_pass_or_fail_by_exit_status(tmp_path):
    def dmf_numpy(*argv):
        return subprocess.run([sys.executable, "-m", "dmf_numpy", *argv], capture_output=True, text=True, cwd=tmp_path)

    written = dmf_numpy("exercise", "backward", "--out", "ex")
    assert written.returncode == 0 and (tmp_path / "ex" / "dmf_backward.py").exists()
    again = dmf_numpy("exercise", "backward", "--out", "ex")
    assert again.returncode == 2 and "a student's work is never overwritten" in again.stderr
    blank = dmf_numpy("grade", "ex/dmf_backward.py", "--json")
    score = json.loads(blank.stdout)
    assert blank.returncode == 1 and score["score"] == 0 and score["total"] == 9 and not score["passed"]
    (tmp_path / "done.py").write_text(MARKER + "backward\n" + REFERENCE)
    done = dmf_numpy("grade", "done.py")
    assert done.returncode == 0 and done.stdout.strip().endswith("score 9/9") and "FAIL" not in done.stdout
    broken = dmf_numpy("grade", "ex/INSTRUCTIONS.md")
    assert broken.returncode == 1 and "Traceback" not in broken.stdout + broken.stderr
