"""What a grading says: one :class:`Item` per thing checked, gathered in a :class:`Report`.

Every verdict is made by the grader's own process from the arrays the student's code returned;
the report also carries what the student's code printed, as plain text, so that a ``print`` left
in a submission can never break the report's format.
"""

from __future__ import annotations

from typing import NamedTuple


class Wrong(Exception):
    """A wrong answer; its text is the hint shown to the student."""


class Item(NamedTuple):
    """One graded item: its name, whether it passed, and the message (empty when it passed)."""

    name: str
    passed: bool
    message: str


class Report(NamedTuple):
    """The grading of one submission: its exercise, its items, the seed that drew the test cases,
    and what the student's code printed (stdout and stderr, as text)."""

    exercise: str
    items: list
    seed: int | None = None
    output: str = ""

    @property
    def score(self):
        return sum(item.passed for item in self.items)

    @property
    def passed(self):
        return self.score == len(self.items)

    def as_dict(self):
        """The report as one JSON-ready dict (``dmf-numpy grade --json``)."""
        return {"exercise": self.exercise, "score": self.score, "total": len(self.items), "passed": self.passed,
                "seed": self.seed, "items": [item._asdict() for item in self.items],
                "student_output": self.output}

    def gradescope(self):
        """The results format of Gradescope's autograder (``results.json``): ``score``,
        ``max_score``, and one test per item with ``name``, ``score``, ``max_score``, ``output``
        and ``visibility``."""
        tests = [{"name": item.name, "score": float(item.passed), "max_score": 1.0,
                  "output": "passed" if item.passed else item.message, "visibility": "visible"}
                 for item in self.items]
        return {"score": float(self.score), "max_score": float(len(self.items)), "tests": tests,
                "output": self.summary(), "visibility": "visible", "stdout_visibility": "visible"}

    def summary(self):
        lines = [f"exercise {self.exercise}: score {self.score}/{len(self.items)}"]
        if self.seed is not None:
            lines.append(f"test cases drawn with --seed {self.seed}")
        if self.output:
            lines.append("what your code printed:\n" + self.output)
        return "\n".join(lines)

    def text(self):
        """The report for a terminal: PASS or FAIL per item, its hint, then the score."""
        lines = [f"PASS  {item.name}" if item.passed else f"FAIL  {item.name}\n      {item.message}"
                 for item in self.items]
        if self.output:
            lines.append("your code printed:\n" + "\n".join("    | " + line for line in self.output.splitlines()))
        if self.seed is not None:
            lines.append(f"(test cases drawn with --seed {self.seed})")
        return "\n".join(lines + [f"score {self.score}/{len(self.items)}"])
