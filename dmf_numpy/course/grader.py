"""Grading a student's copy of an exercise (:mod:`dmf_numpy.course.exercises`), one item at a time.

Each item calls the student's code on random arrays and compares the result with the one-page
DMF (:mod:`dmf_numpy.core.one_page`). A wrong result is compared with the classic mistakes of
that equation (a missing path, a matrix product where the paper's product is elementwise, a
missing transpose, an overwrite where the fork should sum, ...) so that the hint can name the
likely one. The last item checks the student's whole pass against finite differences.

The grader never crashes on a student's file: a syntax error, an exception, a wrong shape, a
NaN, or a call that runs too long is that item's failure, and the report shows its message.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import types
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..core import one_page as ref
from ..core.gradcheck import BOUND, check_tensors, worst_error
from .exercises import EXERCISES, MARKER

#: Seconds one item may run.
ITEM_SECONDS = 20
#: Small, unequal sizes (x, y, shared, classes) and batch: every shape mismatch shows.
SIZES, BATCH = ((5, 4, 3), (6, 4, 2), (4, 3, 5), 3), 7


class Item(NamedTuple):
    name: str
    passed: bool
    message: str


class Report(NamedTuple):
    exercise: str
    items: list

    @property
    def score(self):
        return sum(item.passed for item in self.items)

    @property
    def passed(self):
        return self.score == len(self.items)

    def as_dict(self):
        return {"exercise": self.exercise, "score": self.score, "total": len(self.items), "passed": self.passed,
                "items": [item._asdict() for item in self.items]}

    def text(self):
        lines = [f"PASS  {item.name}" if item.passed else f"FAIL  {item.name}\n      {item.message}"
                 for item in self.items]
        return "\n".join(lines + [f"score {self.score}/{len(self.items)}"])


class Wrong(Exception):
    """A wrong answer; its text is the hint."""


# ------------------------------------------------------------------ loading and guarding

def load(path):
    """``(exercise name, student module or the error that stopped it)``."""
    path = Path(path)
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        return None, f"cannot read {path}: {err}"
    first = source.splitlines()[0] if source else ""
    name = first[len(MARKER):].strip() if first.startswith(MARKER) else None
    if name not in EXERCISES:
        return None, f"{path}: not an exercise of dmf-numpy (its first line should be '{MARKER}<name>')"
    module = types.ModuleType(f"student_{name}")
    try:
        with time_limit():
            exec(compile(source, str(path), "exec"), module.__dict__)  # noqa: S102 -- the student's own file
    except BaseException as err:  # a syntax error, or anything the file raises at import
        if isinstance(err, KeyboardInterrupt):
            raise
        return name, f"the file does not load: {describe(err)}"
    return name, module


@contextlib.contextmanager
def time_limit(seconds=None):
    """Raise TimeoutError in the block after ``seconds`` (default :data:`ITEM_SECONDS`), where
    signals can be used: in the main thread, on POSIX."""
    seconds = seconds or ITEM_SECONDS
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGALRM"):
        yield
        return

    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s (an endless loop?)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def describe(err):
    if isinstance(err, SyntaxError):
        return f"SyntaxError: {err.msg} (line {err.lineno})"
    return f"{type(err).__name__}: {err}"


def run_item(name, check, module):
    try:
        with time_limit():
            check(module)
    except Wrong as err:
        return Item(name, False, str(err))
    except BaseException as err:
        if isinstance(err, KeyboardInterrupt):
            raise
        return Item(name, False, describe(err) + hint_for_exception(err))
    return Item(name, True, "")


def hint_for_exception(err):
    text = str(err)
    if isinstance(err, NotImplementedError) and "TODO" in text:
        return " -- still to be written"
    if "matmul" in text or "shapes" in text or "broadcast" in text:
        return (" -- the shapes do not fit: a missing transpose (the error flows backwards, through W^T), or a "
                "matrix product where the paper's product is elementwise?")
    return ""


# ------------------------------------------------------------------ comparing with the reference

def same(a, b):
    a = np.asarray(a)
    return a.shape == np.shape(b) and bool(np.all(np.isfinite(a))) and np.allclose(a, b, rtol=1e-9, atol=1e-12)


def expect(student, reference, what, mistakes=()):
    """Raise Wrong unless ``student`` equals ``reference``; name the first mistake it equals."""
    student = np.asarray(student)
    if same(student, reference):
        return
    for value, hint in mistakes:
        if same(student, value):
            raise Wrong(f"{what}: {hint}")
    if student.shape != np.shape(reference):
        raise Wrong(f"{what}: shape {student.shape}, expected {np.shape(reference)}")
    if not np.all(np.isfinite(student)):
        raise Wrong(f"{what}: NaN or infinite values")
    raise Wrong(f"{what}: wrong values (largest difference {np.max(np.abs(student - reference)):.3g})")


def arrays(*shapes, seed=0, low=-1.0, high=1.0):
    rng = np.random.default_rng(seed)
    return [rng.uniform(low, high, size=shape) for shape in shapes]


ELEMENTWISE = "a matrix product where the paper's product is elementwise (Eqs. 7 and 8 write it as a plain product)"
TRANSPOSE = "a missing transpose: the error flows backwards through W, so it is multiplied by W^T"


# ------------------------------------------------------------------ the backward exercise

def check_f_prime(m):
    (out,) = arrays((4, 6), low=0.05, high=0.95)
    expect(m.f_prime(out), ref.f_prime(out), "the sigmoid derivative", [
        (ref.f(out) * (1 - ref.f(out)), "f was applied again: f'(M) = f(M)(1 - f(M)) is out * (1 - out), from the "
                                        "output out = f(M)"),
        (out * (1 + out), "a sign: f'(M) = out * (1 - out)")])


def check_delta(m):
    """dE/dM = dE/df(M) * f'(M), judged with the student's own f' (whose item is the one above)."""
    def f_prime(out):
        try:
            return np.asarray(m.f_prime(out), dtype=float)
        except Exception:  # noqa: BLE001 -- a broken f' is its own item's failure, not this one's
            return ref.f_prime(out)

    for shape, seed in (((4, 6), 0), ((5, 5), 1)):  # unequal sizes, then square ones
        delta_out, out = arrays(shape, shape, seed=seed)
        out = (out + 1) / 2
        mistakes = [(delta_out, "the factor f'(M) is missing"),
                    (delta_out * out, "the factor is f'(M) = out * (1 - out), not out")]
        if shape[0] == shape[1]:
            mistakes += [(delta_out @ f_prime(out), ELEMENTWISE), (f_prime(out) @ delta_out, ELEMENTWISE)]
        expect(m.delta_pre_activation(delta_out, out), delta_out * f_prime(out), "Eqs. 7-8, dE/dM", mistakes)


def check_path(function_name, what):
    def check(m):
        student = getattr(m, function_name)
        for shape_w, seed in (((3, 5), 0), ((4, 4), 1)):  # unequal sizes, then a square weight
            W, delta = arrays(shape_w, (shape_w[0], 6), seed=seed)
            mistakes = [(np.zeros((shape_w[1], 6)), "the path is missing: it carries a gradient"),
                        (-(W.T @ delta), "a sign")]
            if shape_w[0] == shape_w[1]:  # only a square W lets the untransposed product through
                mistakes.append((W @ delta, TRANSPOSE))
            expect(student(W, delta), getattr(ref, function_name)(W, delta), what, mistakes)
    return check


def check_fork(m):
    modality, shared = arrays((4, 6), (4, 6))
    expect(m.eq5_fork(modality, shared), ref.eq5_fork(modality, shared), "Eq. 5", [
        (shared, "the modality path (Eq. 2) is missing, or overwritten: gradients add up at forks, so sum both"),
        (modality, "the shared path (Eq. 7) is missing, or overwritten: gradients add up at forks, so sum both"),
        ((modality + shared) / 2, "averaged: the fork is a sum, not a mean"),
        (modality * shared, "multiplied: the fork is a sum")])


def check_weight_gradient(m):
    delta, a = arrays((3, 6), (5, 6))
    expect(m.weight_gradient(delta, a), ref.weight_gradient(delta, a), "the weight gradient", [
        (a @ delta.T, "transposed: dE/dW has the shape of W, (out, in) = delta a^T"),
        (delta @ a.T / 6, "averaged over the samples: the loss is already a mean, so sum over the columns")])


def check_bias_gradient(m):
    (delta,) = arrays((3, 6))
    expect(m.bias_gradient(delta), ref.bias_gradient(delta), "the bias gradient", [
        (delta.sum(axis=0), "summed over the wrong axis: the samples are the columns (axis 1)"),
        (delta.mean(axis=1), "averaged over the samples: sum over the columns"),
        (delta.sum(), "summed over everything: one number per unit, summed over the samples")])


def batch():
    x_dims, y_dims, shared_dims, n_classes = SIZES
    rng = np.random.default_rng(3)
    params = ref.init_params(x_dims, y_dims, shared_dims, n_classes, seed=3)
    params.update({k: rng.uniform(-0.5, 0.5, size=v.shape) for k, v in params.items() if k.startswith("b_")})
    x, y = rng.uniform(size=(x_dims[0], BATCH)), rng.uniform(size=(y_dims[0], BATCH))
    return params, x, y, rng.integers(0, n_classes, size=BATCH)


def check_finite_differences(m):
    """The student's loss and gradients against finite differences of the student's own loss."""
    params, x, y, labels = batch()
    _, grads = m.loss_and_grads(params, x, y, labels)
    if set(grads) != set(params):
        raise Wrong(f"the gradients' names: missing {sorted(set(params) - set(grads))}")
    errors = check_tensors(lambda: m.loss_and_grads(params, x, y, labels)[0], params, grads)
    worst = worst_error(errors)
    if not worst < BOUND:
        name = max(errors, key=lambda k: errors[k] if np.isfinite(errors[k]) else np.inf)
        raise Wrong(f"finite differences disagree: worst relative error {worst:.2e} (bound {BOUND:.0e}), in "
                    f"{name}; the items above say which equation")


# ------------------------------------------------------------------ the forward exercise

def check_sigmoid(m):
    (M,) = arrays((4, 6), low=-5, high=5)
    expect(m.f(M), ref.f(M), "the sigmoid", [(np.tanh(M), "tanh: the paper's f is the logistic sigmoid "
                                                         "1 / (1 + e^-M)"),
                                             (1 / (1 + np.exp(M)), "a sign: f(M) = 1 / (1 + exp(-M))")])


def check_layers(prefix, what, mistakes_of):
    def check(m):
        params, x, y, _ = batch()
        _, (h, s) = m.forward(params, x, y)
        _, (h_ref, s_ref) = ref.forward(params, x, y)
        computed, expected = (h["x"], h_ref["x"]) if prefix == "h" else (s, s_ref)
        for l in sorted(k for k in expected if expected[k] is not None):
            expect(computed.get(l), expected[l], f"{what} at l = {l}", mistakes_of(params, h_ref, s_ref, l))
    return check


def tower_mistakes(params, h, s, l):
    if l == 1:
        return []
    W, b, below = params[f"W_x.{l - 1}"], params[f"b_x.{l - 1}"], h["x"][l - 1]
    return [(ref.f(W @ below), "the bias b is missing"), (W @ below + b[:, None], "the sigmoid f is missing")]


def shared_mistakes(params, h, s, l):
    terms = {"x": params[f"W_xs.{l}"] @ h["x"][l], "y": params[f"W_ys.{l}"] @ h["y"][l],
             "s": params[f"W_s.{l - 1}"] @ s[l - 1] if l > 1 else 0, "b": params[f"b_s.{l}"][:, None]}

    def without(name):
        return ref.f(sum(v for k, v in terms.items() if k != name))

    mistakes = [(without("x"), "the term of modality x, W^{x->s}_l h^x_l, is missing"),
                (without("y"), "the term of modality y, W^{y->s}_l h^y_l, is missing"),
                (without("b"), "the bias b^s_l is missing")]
    if l > 1:
        mistakes.insert(0, (without("s"), "the path from the shared layer below, W^s_{l-1} s_{l-1}, is missing "
                                          "(that is how IMF fuses, not DMF)"))
    return mistakes


def check_loss_by_finite_differences(m):
    """The student's forward pass, differentiated by the one-page backward pass, against finite
    differences of the student's loss."""
    check_finite_differences(m)


#: The items of each exercise, in order.
ITEMS = {
    "backward": [
        ("the sigmoid derivative", check_f_prime),
        ("Eqs. 7-8: the elementwise delta dE/dM", check_delta),
        ("Eq. 2: the modality path", check_path("eq2_modality_path", "Eq. 2")),
        ("Eq. 5: the fork", check_fork),
        ("Eqs. 6 and 8: the shared chain", check_path("eq6_shared_chain", "Eqs. 6 and 8")),
        ("Eq. 7: the shared path", check_path("eq7_shared_path", "Eq. 7")),
        ("the weight gradients", check_weight_gradient),
        ("the bias gradients", check_bias_gradient),
        ("the whole backward pass against finite differences", check_finite_differences),
    ],
    "forward": [
        ("the sigmoid", check_sigmoid),
        ("Eq. 4: the tower layers", check_layers("h", "Eq. 4", tower_mistakes)),
        ("Eq. 3: the shared layers", check_layers("s", "Eq. 3", shared_mistakes)),
        ("the whole forward pass against finite differences", check_loss_by_finite_differences),
    ],
}


def grade(path):
    """Grade the student's file at ``path``: a :class:`Report`. Never raises for the file's sake."""
    name, module = load(path)
    if name is None:
        return Report("unknown", [Item("the file", False, module)])
    if isinstance(module, str):
        return Report(name, [Item(item, False, module) for item, _ in ITEMS[name]])
    with np.errstate(all="ignore"):
        return Report(name, [run_item(item, check, module) for item, check in ITEMS[name]])
