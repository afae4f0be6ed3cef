"""Grading a submission, one item at a time, with the student's code kept out of this process.

How a grading goes (:func:`grade`):

1. The submission is read (:mod:`~dmf_numpy.course.submission`): a ``.py`` copy or a notebook.
2. A static check refuses imports and names that reach beyond the exercise; such a submission
   gets no marks, and nothing of it runs.
3. Each item starts the submission afresh in a child process (:mod:`~dmf_numpy.course.sandbox`),
   sends it new random arrays, at sizes drawn from the grading's seed, and gets raw arrays back.
   Every verdict is made here, by comparing them with the one-page DMF
   (:mod:`dmf_numpy.core.one_page`).
4. Blame lands on one item: an item tests one function, with the reference version of every
   other blank plugged into the child (``plug``), and the last item tests the code around the
   blanks with every blank the reference's. A wrong value is compared with the classic mistakes
   of that equation (a missing path, a missing transpose, an overwrite where the fork should sum,
   ...) so that the hint can name the likely one.

The exercises ``backward`` and ``forward`` (the guided tier) are graded by the items of
:data:`ITEMS`; the other tiers (:data:`TIERS`) by their module's ``cases`` and ``judge``.
"""

from __future__ import annotations

import ast
import inspect
import os
import secrets
import textwrap
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, NamedTuple

import numpy as np

from ..core import one_page as ref
from .compare import expect, names_shapes_dtypes, shapes_do_not_fit
from .exercises import EXERCISES, TIERS
from .report import Item, Report, Wrong
from .sandbox import ITEM_SECONDS, Student, StudentError
from .submission import read_submission, static_check


class Check(NamedTuple):
    """One item of a guided exercise."""

    name: str
    run: Callable
    """``run(student, rng)``: raises Wrong (or StudentError) unless the student's code is right."""
    plug: tuple = ()
    """The reference's functions plugged in for this item, so that their blanks cannot fail it."""
    plug_lines: bool = False
    """Also plug the reference's marked lines (Eqs. 3 and 4 of the forward pass)."""


def random_shape(rng, rows=None, square=False):
    """An (out, in)-like pair of unequal sizes from 2 to 7 (equal when ``square``)."""
    a = rows or int(rng.integers(2, 8))
    b = a if square else int(rng.choice([k for k in range(2, 8) if k != a]))
    return a, b


def columns(rng):
    return int(rng.integers(3, 9))


ELEMENTWISE = "a matrix product where the paper's product is elementwise (Eqs. 7 and 8 write it as a plain product)"
TRANSPOSE = "a missing transpose: the error flows backwards through W, so it is multiplied by W^T"


# ------------------------------------------------------------------ the backward exercise

def check_f_prime(m, rng):
    out = rng.uniform(0.05, 0.95, size=(int(rng.integers(2, 8)), columns(rng)))
    expect(m.f_prime(out.copy()), ref.f_prime(out), "the sigmoid derivative", [
        (ref.f(out) * (1 - ref.f(out)), "f was applied again: f'(M) = f(M)(1 - f(M)) is out * (1 - out), from the "
                                        "output out = f(M)"),
        (out * (1 + out), "a sign: f'(M) = out * (1 - out)")])


def check_delta(m, rng):
    """dE/dM = dE/df(M) * f'(M), with the reference f' plugged in."""
    for square in (False, True):  # unequal sizes, then square ones, where a matrix product fits
        shape = random_shape(rng, square=square)
        delta_out, out = rng.uniform(-1, 1, size=shape), rng.uniform(0.05, 0.95, size=shape)
        mistakes = [(delta_out, "the factor f'(M) is missing"),
                    (delta_out * out, "the factor is f'(M) = out * (1 - out), not out")]
        if square:
            mistakes += [(delta_out @ ref.f_prime(out), ELEMENTWISE), (ref.f_prime(out) @ delta_out, ELEMENTWISE)]
        expect(m.delta_pre_activation(delta_out.copy(), out.copy()), delta_out * ref.f_prime(out), "Eqs. 7-8, dE/dM",
               mistakes)


def check_path(function_name, what):
    def check(m, rng):
        for square in (False, True):  # only a square W lets the untransposed product through
            shape_w = random_shape(rng, square=square)
            W, delta = rng.uniform(-1, 1, size=shape_w), rng.uniform(-1, 1, size=(shape_w[0], columns(rng)))
            mistakes = [(np.zeros((shape_w[1], delta.shape[1])), "the path is missing: it carries a gradient"),
                        (-(W.T @ delta), "a sign")]
            if square:
                mistakes.append((W @ delta, TRANSPOSE))
            expect(getattr(m, function_name)(W.copy(), delta.copy()), getattr(ref, function_name)(W, delta), what,
                   mistakes)
    return check


def check_fork(m, rng):
    shape = (int(rng.integers(2, 8)), columns(rng))
    modality, shared = rng.uniform(-1, 1, size=shape), rng.uniform(-1, 1, size=shape)
    expect(m.eq5_fork(modality.copy(), shared.copy()), ref.eq5_fork(modality, shared), "Eq. 5", [
        (shared, "the modality path (Eq. 2) is missing, or overwritten: gradients add up at forks, so sum both"),
        (modality, "the shared path (Eq. 7) is missing, or overwritten: gradients add up at forks, so sum both"),
        ((modality + shared) / 2, "averaged: the fork is a sum, not a mean"),
        (modality * shared, "multiplied: the fork is a sum")])


def check_weight_gradient(m, rng):
    size_out, size_in = random_shape(rng)
    n = columns(rng)
    delta, a = rng.uniform(-1, 1, size=(size_out, n)), rng.uniform(-1, 1, size=(size_in, n))
    expect(m.weight_gradient(delta.copy(), a.copy()), ref.weight_gradient(delta, a), "the weight gradient", [
        (a @ delta.T, "transposed: dE/dW has the shape of W, (out, in) = delta a^T"),
        (delta @ a.T / n, "averaged over the samples: the loss is already a mean, so sum over the columns")])


def check_bias_gradient(m, rng):
    delta = rng.uniform(-1, 1, size=random_shape(rng))
    expect(m.bias_gradient(delta.copy()), ref.bias_gradient(delta), "the bias gradient", [
        (delta.sum(axis=0), "summed over the wrong axis: the samples are the columns (axis 1)"),
        (delta.mean(axis=1), "averaged over the samples: sum over the columns"),
        (delta.sum(axis=1, keepdims=True), "shape (out, 1): a bias and its gradient are 1-D, (out,)"),
        (delta.sum(), "summed over everything: one number per unit, summed over the samples")])


def random_batch(rng):
    """A one-page DMF of 2 or 3 levels at random, unequal sizes, with nonzero biases, and a batch."""
    L = int(rng.integers(2, 4))
    x_dims, y_dims, shared_dims = ([int(k) for k in rng.integers(2, 7, size=L)] for _ in range(3))
    n_classes, n = int(rng.integers(2, 5)), columns(rng)
    params = ref.init_params(x_dims, y_dims, shared_dims, n_classes, seed=int(rng.integers(2**31)))
    params.update({k: rng.uniform(-0.5, 0.5, size=v.shape) for k, v in params.items() if k.startswith("b_")})
    x, y = rng.uniform(size=(x_dims[0], n)), rng.uniform(size=(y_dims[0], n))
    return params, x, y, rng.integers(0, n_classes, size=n)


#: The largest relative error of a directional derivative that passes.
BOUND = 1e-6
#: The step of the centered differences.
STEP = 1e-5


def directional_errors(loss, params, grads, rng):
    """Per tensor, the relative error between the centered difference of ``loss`` along a random
    unit direction ``v`` of that tensor and ``<grad, v>`` (NaN counts as infinitely wrong).

    One direction per tensor catches a wrong gradient with probability 1, for two calls of the
    loss instead of two per entry; ``params`` are perturbed in place and restored.
    """
    errors = {}
    for name in sorted(params):
        v = rng.standard_normal(params[name].shape)
        v /= np.linalg.norm(v)
        original = params[name].copy()
        params[name] = original + STEP * v
        plus = loss()
        params[name] = original - STEP * v
        minus = loss()
        params[name] = original
        numerical, analytic = (plus - minus) / (2 * STEP), float(np.sum(np.asarray(grads[name]) * v))
        error = abs(numerical - analytic) / max(abs(numerical) + abs(analytic), 1e-3)
        errors[name] = error if np.isfinite(error) else np.inf
    return errors


def check_whole_pass(around):
    """The code around the blanks, with the reference's blanks plugged in: its gradients have the
    parameters' names, shapes and dtype, and agree with finite differences of its own loss. Not
    awarded while a blank of the student's copy is still to be written."""
    def check(m, rng):
        if (todo := m.source.count('raise NotImplementedError("TODO')) > 0:
            raise Wrong(f"graded once every blank is written ({todo} still raise NotImplementedError(\"TODO ...\"))")
        params, x, y, labels = random_batch(rng)

        def loss():
            try:
                value = m.loss_and_grads(params, x, y, labels)
            except StudentError as err:
                raise Wrong(f"{err}. Every blank was the reference's here, so the mistake is in {around}") from None
            if not isinstance(value, tuple) or len(value) != 2:
                raise Wrong("loss_and_grads should return (loss, grads)")
            if np.ndim(value[0]) != 0:
                raise Wrong(f"the loss should be one number, got shape {np.shape(value[0])}")
            return value

        value, grads = loss()
        problems = (names_shapes_dtypes(grads, params) if isinstance(grads, dict)
                    else [f"a {type(grads).__name__}, expected a dict of them"])
        if problems:
            raise Wrong(f"the gradients: {'; '.join(problems[:4])}. Each must have the parameter's shape and dtype, "
                        "float64, and its name")
        errors = directional_errors(lambda: float(loss()[0]), params, grads, rng)
        worst = max(errors, key=errors.get)
        if not errors[worst] < BOUND:
            raise Wrong(f"finite differences disagree: relative error {errors[worst]:.2e} (bound {BOUND:.0e}) in "
                        f"{worst}. Every blank was replaced by the reference here, so the mistake is in {around}")
    return check


# ------------------------------------------------------------------ the forward exercise

def check_sigmoid(m, rng):
    M = rng.uniform(-8, 8, size=(int(rng.integers(2, 8)), columns(rng)))
    expect(m.f(M.copy()), ref.f(M), "the sigmoid", [
        (np.tanh(M), "tanh: the paper's f is the logistic sigmoid 1 / (1 + e^-M)"),
        (1 / (1 + np.exp(M)), "a sign: f(M) = 1 / (1 + exp(-M))")])


def student_cache(m, params, x, y):
    """The student's ``(h, s)`` from their forward pass, checked for its structure."""
    value = m.forward(params, x, y)
    try:
        _, (h, s) = value
        h["x"], h["y"], s.get  # noqa: B018 -- the structure the items read
    except (TypeError, ValueError, KeyError, AttributeError):
        raise Wrong("forward should return (z, (h, s)), with h[m][l] and s[l] as in the given code") from None
    return h, s


def layer_input(student, reference):
    """The student's value of a layer below, when it has the right shape; else the reference's
    (so that a wrong layer below is blamed once, at its own level)."""
    try:
        value = np.asarray(student, dtype=float)
    except (TypeError, ValueError):
        return reference
    return value if value.shape == np.shape(reference) and np.all(np.isfinite(value)) else reference


def check_towers(m, rng):
    """Eq. 4 at every level of both towers, from the student's own layer below (reference f)."""
    params, x, y, _ = random_batch(rng)
    h, _ = student_cache(m, params, x, y)
    _, (h_ref, _) = ref.forward(params, x, y)
    for mod in "xy":
        for l in sorted(h_ref[mod])[1:]:
            W, b = params[f"W_{mod}.{l - 1}"], params[f"b_{mod}.{l - 1}"]
            below = layer_input(h[mod].get(l - 1), h_ref[mod][l - 1])
            expect(h[mod].get(l), ref.f(W @ below + b[:, None]), f"Eq. 4, h^{mod}_{l}", [
                (ref.f(W @ below), "the bias b is missing"), (W @ below + b[:, None], "the sigmoid f is missing")])


def check_shared(m, rng):
    """Eq. 3 at every level, from the student's own h and s below (reference f)."""
    params, x, y, _ = random_batch(rng)
    h, s = student_cache(m, params, x, y)
    _, (h_ref, s_ref) = ref.forward(params, x, y)
    for l in sorted(k for k in s_ref if s_ref[k] is not None):
        terms = {mod: params[f"W_{mod}s.{l}"] @ layer_input(h[mod].get(l), h_ref[mod][l]) for mod in "xy"}
        terms["s"] = params[f"W_s.{l - 1}"] @ layer_input(s.get(l - 1), s_ref[l - 1]) if l > 1 else 0
        terms["b"] = params[f"b_s.{l}"][:, None]

        def without(name):
            return ref.f(sum(v for k, v in terms.items() if k != name))

        mistakes = [(without("x"), "the term of modality x, W^{x->s}_l h^x_l, is missing"),
                    (without("y"), "the term of modality y, W^{y->s}_l h^y_l, is missing"),
                    (without("b"), "the bias b^s_l is missing"), (sum(terms.values()), "the sigmoid f is missing")]
        if l > 1:
            mistakes.insert(0, (without("s"), "the path from the shared layer below, W^s_{l-1} s_{l-1}, is missing "
                                              "(that is how IMF fuses, not DMF)"))
        expect(s.get(l), ref.f(sum(terms.values())), f"Eq. 3, s_{l}", mistakes)


#: The reference's marked lines of the forward exercise, plugged in by :func:`plug_marked_lines`:
#: the assignment to ``h[m][l + 1]`` (Eq. 4) and to ``s[l]`` (Eq. 3), self-contained.
MARKED_LINES = {
    "h": 'h[m][l + 1] = f(p[f"W_{m}.{l}"] @ h[m][l] + p[f"b_{m}.{l}"][:, None])',
    "s": 's[l] = f(p[f"W_xs.{l}"] @ h["x"][l] + p[f"W_ys.{l}"] @ h["y"][l] + '
         '(p[f"W_s.{l - 1}"] @ s[l - 1] if l > 1 else 0) + p[f"b_s.{l}"][:, None])',
}


def plug_marked_lines(source):
    """``source`` with the student's Eq. 4 and Eq. 3 statements in ``forward`` (the assignments to
    ``h[..][..]`` and to ``s[..]``) replaced by the reference's; unchanged where none is found."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    lines = source.split("\n")
    forward = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "forward"]
    for node in (ast.walk(forward[0]) if forward else ()):
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Subscript)):
            continue
        target = node.targets[0]
        root = target.value.value if isinstance(target.value, ast.Subscript) else target.value
        name = root.id if isinstance(root, ast.Name) else None
        if (name == "h" and isinstance(target.value, ast.Subscript)) or (name == "s" and root is target.value):
            indent = " " * node.col_offset
            lines[node.lineno - 1] = indent + MARKED_LINES[name]
            for k in range(node.lineno, node.end_lineno):
                lines[k] = ""
    return "\n".join(lines)


#: The items of each guided exercise, in order.
ITEMS = {
    "backward": [
        Check("the sigmoid derivative", check_f_prime),
        Check("Eqs. 7-8: the elementwise delta dE/dM", check_delta, plug=("f_prime",)),
        Check("Eq. 2: the modality path", check_path("eq2_modality_path", "Eq. 2")),
        Check("Eq. 5: the fork", check_fork),
        Check("Eqs. 6 and 8: the shared chain", check_path("eq6_shared_chain", "Eqs. 6 and 8")),
        Check("Eq. 7: the shared path", check_path("eq7_shared_path", "Eq. 7")),
        Check("the weight gradients", check_weight_gradient),
        Check("the bias gradients", check_bias_gradient),
        Check("the whole backward pass against finite differences",
              check_whole_pass("the code that calls them: the loop of backward(), or loss_and_grads()"),
              plug=tuple(blank.target for blank in EXERCISES["backward"])),
    ],
    "forward": [
        Check("the sigmoid", check_sigmoid),
        Check("Eq. 4: the tower layers", check_towers, plug=("f",)),
        Check("Eq. 3: the shared layers", check_shared, plug=("f",)),
        Check("the whole forward pass against finite differences",
              check_whole_pass("the code around them: the loops of forward(), its head, or loss_and_grads()"),
              plug=("f",), plug_lines=True),
    ],
}


def reference_source(names):
    """The one-page DMF's definitions of ``names``, as source to plug into a child (after numpy's
    import, which they use as ``np``)."""
    if not names:
        return ""
    return "\n\n".join(["import numpy as np"] + [textwrap.dedent(inspect.getsource(getattr(ref, name)))
                                                  for name in names])


def hint_for_failure(message, exercise):
    """A hint for an exception of the student's code, in the words of the exercise."""
    if "TODO" in message and "NotImplementedError" in message:
        return " -- still to be written"
    if shapes_do_not_fit(message):
        if exercise == "forward":
            return (" -- the shapes do not fit: W is (size out, size in) and multiplies the layer below, one column "
                    "per sample; a bias is (size out,) and needs b[:, None] to reach every column")
        return (" -- the shapes do not fit: a missing transpose (the error flows backwards, through W^T), or a "
                "matrix product where the paper's product is elementwise?")
    return ""


def grade_item(check, submission, rng, seconds):
    """``(Item, the student's output, whether the submission failed to load)`` for one guided item."""
    source = plug_marked_lines(submission.source) if check.plug_lines else submission.source
    with Student(source, plug=reference_source(check.plug), seconds=seconds) as m:
        try:
            if "error" in m.loaded:
                raise StudentError(m.loaded["error"])
            with np.errstate(all="ignore"):
                check.run(m, rng)
            item = Item(check.name, True, "")
        except Wrong as err:
            item = Item(check.name, False, str(err))
        except StudentError as err:
            item = Item(check.name, False, str(err) + hint_for_failure(str(err), submission.exercise))
        except (TypeError, ValueError, KeyError, AttributeError, IndexError) as err:  # garbage returned
            item = Item(check.name, False, f"what your code returned cannot be read as the exercise asks "
                                           f"({type(err).__name__}: {err})")
    return item, m.output, "error" in m.loaded


def grade_tier(tier, submission, rng, seconds):
    """The items of a tier module (``cases`` and ``judge``): every case's call in one child."""
    cases = tier.cases(rng)
    returned = []
    with Student(submission.source, seconds=seconds) as m:
        for case in cases:
            try:
                returned.append(m.call(case.function, *case.args))
            except StudentError as err:
                returned.append(err)
    with np.errstate(all="ignore"):
        return tier.judge(cases, returned), m.output


def grade(path, seed=None, seconds=None, exercise=None):
    """Grade the submission at ``path`` (a ``.py`` copy or an assignment notebook): a
    :class:`~dmf_numpy.course.report.Report`.

    ``seed`` draws the test cases (sizes, depths, values); by default a fresh one, which the report
    names so that a grading can be replayed. ``seconds`` is each item's limit (default
    :data:`~dmf_numpy.course.sandbox.ITEM_SECONDS`). ``exercise``, when given, is the exercise the
    file must be: a file that names another gets no marks (an autograder sets it). Raises
    :class:`~dmf_numpy.course.submission.SubmissionError` only when there is no submission to grade;
    whatever the submission's code does is a failed item.
    """
    submission = read_submission(path, set(ITEMS) | set(TIERS))
    seed = secrets.randbelow(2**31) if seed is None else int(seed)
    seconds = seconds or ITEM_SECONDS
    names = [check.name for check in ITEMS[submission.exercise]] if submission.exercise in ITEMS \
        else list(TIERS[submission.exercise].ITEMS)
    refusal = static_check(submission.source)
    if exercise is not None and exercise != submission.exercise:
        names = [check.name for check in ITEMS[exercise]] if exercise in ITEMS else list(TIERS[exercise].ITEMS)
        refusal = (f"this file is the exercise '{submission.exercise}', and the exercise to hand in is "
                   f"'{exercise}': no marks")
        return Report(exercise, [Item(name, False, refusal) for name in names], seed)
    if refusal:
        return Report(submission.exercise, [Item(name, False, refusal) for name in names], seed)
    if submission.exercise in TIERS:
        items, output = grade_tier(TIERS[submission.exercise], submission, np.random.default_rng(seed), seconds)
        return Report(submission.exercise, items, seed, output)
    checks = ITEMS[submission.exercise]

    def run(index):
        return grade_item(checks[index], submission, np.random.default_rng([seed, index]), seconds)

    first = run(0)
    if first[2]:  # the file does not load: the same failure for every item, without running it again
        results = [first] + [(Item(c.name, False, first[0].message), "", True) for c in checks[1:]]
    else:  # the other items at once, one child each: they wait on their children, not on this process
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            results = [first, *pool.map(run, range(1, len(checks)))]
    items = [item for item, _, _ in results]
    outputs = list(dict.fromkeys(output for _, output, _ in results if output))
    return Report(submission.exercise, items, seed, "\n".join(outputs))
