"""Running a student's code apart from the grader: one child process per graded item.

:class:`Student` starts :mod:`dmf_numpy.course.child` as a separate Python process (``python
-I``: no environment variables of Python's, no user site, not the grader's folder on the path),
in its own process group, with

- a fresh, empty temporary working folder, removed afterwards;
- a scrubbed environment (``PATH``, ``HOME`` and ``TMPDIR`` in that folder, one BLAS thread);
- resource limits it sets on itself before the student's code runs: CPU seconds, memory,
  file size and processes (:data:`LIMITS`), where the OS has them;
- a wall-clock limit that this process enforces by killing the child's whole process group,
  so no signal the submission turns off can stop it.

The grader sends arguments and receives raw values (:mod:`~dmf_numpy.course.child` holds the
format); every verdict is made here. The child's stdout and stderr go to files that are read
back as text, at most :data:`MAX_OUTPUT` characters per item.

A child process is not a sandbox of the machine: code in it runs as the user who grades. The
static check (:mod:`dmf_numpy.course.submission`) and the child's import guard keep honest
mistakes and casual cheating out; marked work belongs in a container (see the README).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import child
from .child import ProtocolError

#: Wall-clock seconds one item may run, loading the submission included.
ITEM_SECONDS = 20
#: The limits the child puts on itself (``resource`` names; a value per limit).
LIMITS = {"RLIMIT_CPU": ITEM_SECONDS + 5, "RLIMIT_AS": 2 * 2**30, "RLIMIT_FSIZE": 2**20, "RLIMIT_NPROC": 64,
          "RLIMIT_CORE": 0}
#: Characters of the student's printed output kept per item.
MAX_OUTPUT = 2000
#: Environment variables passed on to the child as they are (BLAS settings that keep numpy right).
PASSED_ON = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "LANG", "LC_ALL")


class StudentError(Exception):
    """The student's code raised, ran out of time, died, or answered with something that is not a
    value; the text says which, for the report."""


class Student:
    """A submission loaded in a child process, for one item: ``student.name(*args)`` calls the
    student's function ``name`` there and returns (a copy of) what it returned, or raises
    :class:`StudentError`. Use it as a context manager; leaving it kills the child.

    Parameters
    ----------
    source : str
        The submission's code (already past the static check).
    plug : str
        The reference's definitions, run after the submission so that they replace the
        student's functions of the same names ('' for none).
    seconds : float
        The item's wall-clock limit, from the start of the child.
    """

    def __init__(self, source, plug="", seconds=None):
        self.seconds = seconds or ITEM_SECONDS
        self.source, self.plug = source, plug
        self.output = ""

    def __enter__(self):
        self.deadline = time.monotonic() + self.seconds
        self.folder = tempfile.TemporaryDirectory(prefix="dmf-numpy-grade-")
        work, logs = Path(self.folder.name) / "work", Path(self.folder.name) / "logs"
        work.mkdir()
        logs.mkdir()
        self.logs = [open(logs / "stdout", "wb"), open(logs / "stderr", "wb")]  # noqa: SIM115 -- closed on exit
        to_child, self.to_child = os.pipe()
        self.from_child, from_parent = os.pipe()
        env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "TMPDIR": str(work), "OPENBLAS_NUM_THREADS": "1",
               "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               **{k: os.environ[k] for k in PASSED_ON if k in os.environ}}
        limits = dict(LIMITS, RLIMIT_CPU=int(self.seconds) + 5)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-B", child.__file__, str(to_child), str(from_parent)],
                cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=self.logs[0], stderr=self.logs[1],
                pass_fds=(to_child, from_parent), start_new_session=True)
        finally:
            os.close(to_child)
            os.close(from_parent)
        try:
            self.loaded = self._exchange({"limits": limits, "source": self.source, "plug": self.plug})
        except StudentError as err:  # out of time or killed while loading
            self.loaded = {"error": f"the file does not load: {err}"}
        return self

    def __exit__(self, *exc):
        for fd in (self.to_child, self.from_child):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # the child and anything it started
        except ProcessLookupError:
            pass
        self.process.wait()
        for log in self.logs:
            log.close()
        self.output = read_output(Path(self.folder.name) / "logs")
        self.folder.cleanup()
        return False

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args: self.call(name, *args)

    def call(self, name, *args):
        """``name(*args)`` in the child: its return value, or StudentError."""
        if "error" in self.loaded:
            raise StudentError(self.loaded["error"])
        reply = self._exchange({"function": name, "args": list(args)})
        if "error" in reply:
            raise StudentError(reply["error"])
        return reply.get("value")

    def _exchange(self, message):
        """Send one message and wait for the answer, within the item's deadline."""
        try:
            child.send(self.to_child, message, self.deadline)
            reply = child.receive(self.from_child, self.deadline)
            if reply is None:
                raise EOFError
        except TimeoutError:
            raise StudentError(f"still running after {self.seconds:g} s (an endless loop?)") from None
        except (BrokenPipeError, EOFError):
            raise StudentError(self._death()) from None
        except ProtocolError as err:
            raise StudentError(f"the submission's process answered with {err}") from None
        if not isinstance(reply, dict) or not ({"error", "value", "ok"} & set(reply)):
            raise StudentError("the submission's process answered with something that is not an answer")
        return reply

    def _death(self):
        """Why the child stopped without answering."""
        try:
            code = self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            return "the submission's process closed its channel to the grader"
        if code == -signal.SIGKILL or code == -signal.SIGXCPU:
            return "stopped by the limit on CPU time or memory"
        if code < 0:
            return f"the submission's process died ({signal.Signals(-code).name})"
        return f"the submission's process exited (status {code}) before it answered"


def read_output(logs):
    """What the child printed, as text: stdout, then stderr, cut to :data:`MAX_OUTPUT` characters."""
    parts = []
    for name in ("stdout", "stderr"):
        with open(logs / name, "rb") as log:
            text = log.read(4 * MAX_OUTPUT).decode("utf-8", errors="replace")
        if text.strip():
            cut = len(text) > MAX_OUTPUT
            parts.append(text[:MAX_OUTPUT] + ("\n[... cut]" if cut else ""))
    return "\n".join(parts)
