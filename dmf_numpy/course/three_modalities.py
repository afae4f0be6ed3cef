r"""Exercise ``three-modalities``: DMF with three modality towers, forward and backward, written
by the student from the contracts alone.

The student's file (:func:`student_copy`) gives the sigmoid ``f``, ``depth`` and
``init_params`` (which fixes the parameters' names and shapes) and asks for
``forward(p, inputs)`` and ``loss_and_grads(p, inputs, labels)``. The one-page DMF of the package
has two towers, so copying it does not solve this: the shared layer of Eq. 3 sums the terms of
three modalities, and each of the three towers forks at every level (Eq. 5).

The modalities are x, y and z (:data:`MODALITIES`); the parameters, for each modality m:
``W_m.l`` and ``b_m.l`` (the tower, l = 1..L-1), ``W_ms.l`` (into the shared layer, l = 1..L);
shared: ``W_s.l`` (l = 1..L-1) and ``b_s.l`` (l = 1..L); the head ``W_out``, ``b_out``.

Grading. The package holds no backward pass for three modalities: :func:`judge` compares the
student's scores and loss with a reference *forward* pass (:func:`reference_forward`, which
lives only here), and each of the student's gradients with centered finite differences of the
reference loss at the same parameters (:func:`numerical_gradients`; float64, step
:data:`EPS`, every entry within :data:`BOUND` of relative error, see :func:`close`). So a wrong
forward pass fails the forward item only, and the gradients of one tower are judged apart from
the others'. Items:

0. the forward pass: the scores of ``forward`` and the loss of ``loss_and_grads``;
1. the names, shapes and dtypes of the gradients;
2. the head, ``W_out`` and ``b_out``;
3. the shared stack and its chain, ``W_ms.l``, ``b_s.l`` and ``W_s.l``;
4. to 6. the x, y and z towers, ``W_m.l`` and ``b_m.l``.

The cases: one network per depth L = 1, 2, 3 (in a random order) of random unequal sizes, each
called once by ``forward`` and once by ``loss_and_grads``.
"""

from __future__ import annotations

import inspect

import numpy as np

from ..core import one_page
from ..core.gradcheck import numerical_derivatives
from .compare import names_shapes_dtypes, same
from .full_backward import (DEFINITIONS, UPSTREAM, Case, as_shaped, counterpart_names, depth, explain,
                            gradients_dict, real_numbers, right_and_wrong, safely, same_shaped, telling_case,
                            tensor_hint, unequal_sizes)
from .report import Item

NAME = "three-modalities"

MODALITIES = ("x", "y", "z")

ITEMS = [
    "the forward pass: scores and loss (Eqs. 3 and 4 with three modalities)",
    "the gradient names, shapes and dtypes",
    "the softmax head (W_out, b_out)",
    "the shared stack and its chain (W_xs.l, W_ys.l, W_zs.l, b_s.l, W_s.l)",
    "the x tower (W_x.l, b_x.l)",
    "the y tower (W_y.l, b_y.l)",
    "the z tower (W_z.l, b_z.l)",
]

#: The item (an index into ITEMS) of each parameter, by the part of its name before the dot.
ITEM_OF = {"W_out": 2, "b_out": 2, "b_s": 3, "W_s": 3,
           **{f"W_{m}s": 3 for m in MODALITIES},
           **{f"{kind}_{m}": 4 + k for k, m in enumerate(MODALITIES) for kind in ("W", "b")}}

#: The finite-difference step, and the bound on each entry's relative error (see :func:`close`).
EPS, BOUND, FLOOR = 1e-6, 1e-5, 1e-3

#: The depths of the cases, each once, in a random order.
DEPTHS = (1, 2, 3)


# ------------------------------------------------------------------ the network

def init_params(dims, shared_dims, n_classes, seed=0):
    """Glorot-uniform weights ``(out, in)`` and zero biases of DMF with the modalities of ``dims``.

    ``dims`` maps each modality m to its tower's sizes (d^m_1, ..., d^m_L); ``shared_dims`` is
    (d^s_1, ..., d^s_L). The parameters: ``W_m.l`` (d^m_(l+1), d^m_l) and ``b_m.l`` (d^m_(l+1),)
    for l = 1..L-1; ``W_ms.l`` (d^s_l, d^m_l) and ``b_s.l`` (d^s_l,) for l = 1..L; ``W_s.l``
    (d^s_(l+1), d^s_l) for l = 1..L-1; ``W_out`` (n_classes, d^s_L) and ``b_out`` (n_classes,).
    """
    rng, p, L = np.random.default_rng(seed), {}, len(shared_dims)

    def layer(blocks, bias, size_out):  # blocks: [(name, size_in)], the fan-in summed over them
        a = np.sqrt(6 / (sum(size for _, size in blocks) + size_out))
        p.update({name: rng.uniform(-a, a, (size_out, size)) for name, size in blocks})
        p[bias] = np.zeros(size_out)

    for m in dims:
        for l in range(1, L):
            layer([(f"W_{m}.{l}", dims[m][l - 1])], f"b_{m}.{l}", dims[m][l])
    for l in range(1, L + 1):
        blocks = [(f"W_{m}s.{l}", dims[m][l - 1]) for m in dims]
        layer(blocks + ([(f"W_s.{l - 1}", shared_dims[l - 2])] if l > 1 else []), f"b_s.{l}", shared_dims[l - 1])
    layer([("W_out", shared_dims[-1])], "b_out", n_classes)
    return p


def reference_forward(p, inputs, *, leave_out=None, chain=True, tower_biases=True):
    """The scores (C, N) of DMF with the towers of :data:`MODALITIES`: the grader's reference.

    With the defaults, Eq. 4 climbs each tower and Eq. 3 sums, at each level, the terms of all
    the modalities, the shared layer below and the bias. A flag makes one of the mistaken
    forward passes the hints name: ``leave_out``, a modality whose term Eq. 3 misses;
    ``chain=False``, no W^s_(l-1) s_(l-1) term (IMF's fusion); ``tower_biases=False``, Eq. 4
    without its bias.
    """
    f = one_page.f
    h = {m: inputs[m] for m in MODALITIES}  # h^m_l, at the level l of the loop
    s = None
    for l in range(1, depth(p) + 1):
        if l > 1:
            h = {m: f(p[f"W_{m}.{l - 1}"] @ h[m] + tower_biases * p[f"b_{m}.{l - 1}"][:, None])  # Eq. 4
                 for m in MODALITIES}
        M = sum(p[f"W_{m}s.{l}"] @ h[m] for m in MODALITIES if m != leave_out) + p[f"b_s.{l}"][:, None]
        if l > 1 and chain:
            M = M + p[f"W_s.{l - 1}"] @ s
        s = f(M)  # Eq. 3
    return p["W_out"] @ s + p["b_out"][:, None]


def cross_entropy(scores, labels):
    """The mean categorical cross-entropy of softmax(scores) (C, N) for ``labels`` (N ints)."""
    z = scores - scores.max(axis=0)  # shifted, so that exp cannot overflow
    log_prob = z - np.log(np.exp(z).sum(axis=0))
    return -log_prob[labels, np.arange(len(labels))].mean()


def reference_loss(p, inputs, labels):
    return cross_entropy(reference_forward(p, inputs), np.asarray(labels))


#: The mistaken forward passes the forward item names: (flags of reference_forward, hint).
FORWARD_MISTAKES = [({"leave_out": m}, f"the term of modality {m}, W^({m}->s)_l h^{m}_l, is missing from Eq. 3")
                    for m in MODALITIES] + [
    ({"chain": False}, "the term of the shared layer below, W^s_(l-1) s_(l-1), is missing from Eq. 3 (that is how "
                       "IMF fuses, not DMF)"),
    ({"tower_biases": False}, "the tower biases b^m_l are missing from Eq. 4"),
]


# ------------------------------------------------------------------ the student's file

STUDENT_DOCSTRING = '''r"""Dense Multimodal Fusion with three modalities, x, y and z: forward and backward are yours
to write.

The paper's orientation: column vectors, one column per sample; a weight W is (size out, size in)
and a bias b is 1-D, (size out,). For each modality m in MODALITIES, and L shared levels:

    h^m_(l+1) = f(W^m_l h^m_l + b^m_l)                                  l = 1..L-1   (Eq. 4)
    s_l       = f(sum over m of W^(m->s)_l h^m_l + W^s_(l-1) s_(l-1) + b^s_l)   l = 1..L   (Eq. 3)
    scores    = W_out s_L + b_out                          (no s_0 term at l = 1)

h^m_1 is the input of modality m. f, depth and init_params are given; write forward and
loss_and_grads. INSTRUCTIONS.md says what they take, what they return, and how to grade them.
"""

import numpy as np

MODALITIES = ("x", "y", "z")
'''

STUBS = '''def forward(p, inputs):
    """The scores of a batch: DMF's forward pass with the three towers of MODALITIES.

    Parameters
    ----------
    p : dict of str to ndarray
        The parameters, named and shaped as ``init_params`` makes them.
    inputs : dict of str to ndarray
        ``inputs[m]`` is h^m_1, the batch of modality m, (d^m_1, N), for each m in MODALITIES.

    Returns
    -------
    scores : ndarray, (C, N)
        W_out s_L + b_out, before the softmax.
    cache
        Anything your loss_and_grads needs from the forward pass (the grader does not read it).
    """
    raise NotImplementedError("TODO: Eqs. 4 and 3 with three modalities, then the head")


def loss_and_grads(p, inputs, labels):
    """The mean cross-entropy of a batch and the gradient of every parameter.

    Parameters
    ----------
    p : dict of str to ndarray
        The parameters, named and shaped as ``init_params`` makes them.
    inputs : dict of str to ndarray
        As for ``forward``.
    labels : list of int
        The class of each of the N columns, in 0..C-1 (``np.asarray(labels)`` makes it an array).

    Returns
    -------
    loss : float
        The mean over the N columns of -log softmax(scores)[label].
    grads : dict of str to ndarray
        dE/dp for every parameter: exactly the names of ``p``, each a float64 numpy array of its
        parameter's shape (a bias's gradient is 1-D, like the bias).
    """
    raise NotImplementedError("TODO: the forward pass, the softmax's delta, then every gradient")
'''


def student_copy():
    """The student's file, without its first (marker) line: the given functions, taken from the
    source of this module and of :mod:`dmf_numpy.core.one_page`, and the stubs."""
    given = [inspect.getsource(function) for function in (one_page.f, depth, init_params)]
    parts = [STUDENT_DOCSTRING, *given, STUBS]
    return "\n\n\n".join(part.strip("\n") for part in parts) + "\n"


INSTRUCTIONS = """# Exercise three-modalities: Dense Multimodal Fusion with three towers

`{file}` sets up DMF for a classifier with **three** modalities, x, y and z (the paper, Hu, Wang,
Nie, Li, *Dense Multimodal Fusion for Hierarchically Joint Representation*, has two; its Eqs. 3
and 5 extend to any number). The sigmoid `f`, `depth(p)` and `init_params` are given. **You write
`forward(p, inputs)` and `loss_and_grads(p, inputs, labels)`**, forward and backward.

## The network

The paper's orientation: column vectors, one column per sample. For each modality m = x, y, z,
L levels, and f the sigmoid:

    h^m_(l+1) = f(W^m_l h^m_l + b^m_l)                                    l = 1..L-1  (Eq. 4)
    s_l       = f(sum over m of W^(m->s)_l h^m_l + W^s_(l-1) s_(l-1) + b^s_l)     l = 1..L    (Eq. 3)
    scores    = W_out s_L + b_out
    E         = the mean over the N columns of -log softmax(scores)[label]

`h^m_1` is the input of modality m; at l = 1 there is no `s_0`, so Eq. 3 has no `W^s_0` term.

| paper               | in the code                            | shape                                |
|---------------------|----------------------------------------|--------------------------------------|
| `h^m_1`             | `inputs[m]`                            | `(d^m_1, N)`                         |
| `W^m_l`, `b^m_l`    | `p["W_m.l"]`, `p["b_m.l"]`, l = 1..L-1 | `(d^m_(l+1), d^m_l)`, `(d^m_(l+1),)` |
| `W^(m->s)_l`        | `p["W_ms.l"]`, l = 1..L                | `(d^s_l, d^m_l)`                     |
| `W^s_l`             | `p["W_s.l"]`, l = 1..L-1               | `(d^s_(l+1), d^s_l)`                 |
| `b^s_l`             | `p["b_s.l"]`, l = 1..L                 | `(d^s_l,)`                           |
| the head            | `p["W_out"]`, `p["b_out"]`             | `(C, d^s_L)`, `(C,)`                 |

So the names are `W_x.1`, `b_x.1`, `W_xs.1`, ..., `W_z.2`, `W_zs.3`, `W_s.2`, `b_s.3`, `W_out`,
`b_out`. L is `depth(p)`, the number of `b_s.l`; the grader draws networks of depth 1 (no tower
weight, no `W_s`), 2 and 3, of random unequal sizes: nothing about the sizes or the depth may
be written into your code.

## The contracts

- `forward(p, inputs)`: `inputs` is a dict, `inputs[m]` of shape `(d^m_1, N)` for m in
  `MODALITIES`. Returns `(scores, cache)`: `scores` of shape `(C, N)`, and `cache` whatever
  your `loss_and_grads` needs (the grader does not read it).
- `loss_and_grads(p, inputs, labels)`: `labels` is a list of N ints in 0..C-1. Returns
  `(loss, grads)`: `loss` a float, the mean cross-entropy E; `grads` a dict with **one gradient
  per parameter**, the same names as `p`, each a **float64 numpy array of exactly its
  parameter's shape** (a bias's gradient is 1-D), and no other entry. Neither function may
  change its arguments.
- The softmax's delta: dE/dscores = (softmax(scores) - onehot(labels)) / N, column by column.

""" + DEFINITIONS + """
## Grading

    dmf-numpy grade {file}

One point per item:

1. the forward pass: the scores of `forward` and the loss of `loss_and_grads`, against a
   reference forward pass;
2. the gradient names, shapes and dtypes;
3. the softmax head (`W_out`, `b_out`);
4. the shared stack and its chain (`W_xs.l`, `W_ys.l`, `W_zs.l`, `b_s.l`, `W_s.l`);
5. to 7. the x, the y and the z tower (`W_m.l`, `b_m.l`).

Each gradient is checked entry by entry against centered finite differences of the reference
loss (float64, step 1e-6): an entry passes when |yours - numerical| <= 1e-5 * max(|yours| +
|numerical|, 1e-3). So each item judges its own tensors: a wrong forward pass does not fail the
gradients, and a wrong tower does not fail the other towers. (A bug higher up, in the head or
the shared stack, does reach the towers below it: an error flows downwards, so fix the highest
failing level first.)
"""


# ------------------------------------------------------------------ the test cases

def cases(rng):
    """For each depth of :data:`DEPTHS` (in a random order), a network of random unequal sizes
    and a batch, called once by ``forward`` and once by ``loss_and_grads``."""
    drawn = []
    for L in (int(L) for L in rng.permutation(DEPTHS)):
        dims = {}
        for m in MODALITIES:
            dims[m] = unequal_sizes(rng, L, avoid=list(dims.values()), high=6)
        shared_dims = unequal_sizes(rng, L, avoid=list(dims.values()), high=7)  # no square W_ms.l
        n_classes = int(rng.choice([c for c in range(2, 6) if c != shared_dims[-1]]))
        N = int(rng.integers(3, 6))
        p = init_params(dims, shared_dims, n_classes, seed=int(rng.integers(2**31)))
        for name in p:
            p[name] = 2 * p[name] + (rng.uniform(-0.5, 0.5, p[name].shape) if name.startswith("b_") else 0)
        inputs = {m: rng.uniform(size=(dims[m][0], N)) for m in MODALITIES}
        labels = [int(k) for k in rng.integers(0, n_classes, size=N)]
        label = (f"L = {L}, " + ", ".join(f"{m} sizes {dims[m]}" for m in MODALITIES)
                 + f", shared sizes {shared_dims}, {n_classes} classes, N = {N}")
        drawn += [Case("forward", (p, inputs), label), Case("loss_and_grads", (p, inputs, labels), label)]
    return drawn


# ------------------------------------------------------------------ finite differences

def numerical_gradients(p, inputs, labels, eps=EPS):
    """dE/dp of the reference loss for every parameter, by centered differences entry by entry
    (:func:`dmf_numpy.core.gradcheck.numerical_derivatives`), on float64 copies of ``p``."""
    p = {name: np.array(value, dtype=np.float64) for name, value in p.items()}
    return {name: numerical_derivatives(lambda: reference_loss(p, inputs, labels), array, range(array.size),
                                        eps).reshape(array.shape)
            for name, array in p.items()}


def close(value, numeric):
    """Whether ``value`` (any container of the right number of entries) agrees with the finite
    differences ``numeric``: every entry within |g - n| <= BOUND * max(|g| + |n|, FLOOR).

    Round-off makes the differences wrong by up to about 5e-10 (a few ulps of a loss of order
    one, divided by the step EPS); the floor holds the entries that nearly cancel over the batch to an
    absolute error of BOUND * FLOOR = 1e-8, twenty times that, and the right gradients of the
    tests stay below a relative error of 1e-6. A missing term of Eqs. 5-8 is off by orders of
    magnitude more.
    """
    array = as_shaped(value, numeric.shape)
    if array is None or not np.all(np.isfinite(array)):
        return False
    return bool(np.all(np.abs(array - numeric) <= BOUND * np.maximum(np.abs(array) + np.abs(numeric), FLOOR)))


# ------------------------------------------------------------------ the judge

def judge(cases, returned):
    """One :class:`Item` per entry of :data:`ITEMS`, from what the student's functions returned
    for each case (a value, or the exception raised). Never raises."""
    numeric = {n: numerical_gradients(*case.args) for n, case in enumerate(cases) if case.function == "loss_and_grads"}
    answers = [unpack(case, value) for case, value in zip(cases, returned)]
    messages = [safely(lambda: check_forward(cases, answers)), safely(lambda: check_names(cases, answers))]
    messages += [safely(lambda item=item: check_gradients(item, cases, answers, numeric))
                 for item in range(2, len(ITEMS))]
    return [Item(name, not message, message) for name, message in zip(ITEMS, messages)]


def unpack(case, value):
    """``(first, second, "")`` from the pair that ``forward`` or ``loss_and_grads`` returned,
    else ``(None, None, why not)``."""
    what = "(scores, cache)" if case.function == "forward" else "(loss, grads)"
    if isinstance(value, BaseException):
        _, why = gradients_dict(value, case.function)
        return None, None, why
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        return None, None, f"{case.function} returned {type(value).__name__}, expected the pair {what}"
    return value[0], value[1], ""


def check_forward(cases, answers):
    """Item 0: the scores of every ``forward`` case and the loss of every ``loss_and_grads``
    case that answered, against the reference forward pass."""
    answered = 0
    for case, (first, _, why) in zip(cases, answers):
        if why and case.function == "forward":
            return f"in the case with {case.label}: {why}"
        if why:
            continue
        answered += case.function == "loss_and_grads"
        problem = (scores_problem if case.function == "forward" else loss_problem)(case, first)
        if problem:
            return f"in the case with {case.label}: {problem}"
    if not answered:
        why = next(why for case, (_, _, why) in zip(cases, answers) if case.function == "loss_and_grads")
        return f"the loss could not be checked: {why}"
    return ""


def scores_problem(case, scores):
    p, inputs = case.args
    reference = reference_forward(p, inputs)
    if same(scores, reference):
        return ""
    softmax = np.exp(reference - reference.max(axis=0))
    mistakes = [(reference_forward(p, inputs, **flags), says) for flags, says in FORWARD_MISTAKES]
    mistakes += [(softmax / softmax.sum(axis=0), "these are the probabilities softmax(scores): forward returns the "
                                                 "scores W_out s_L + b_out, before the softmax"),
                 (reference.T, "transposed: the scores are (C, N), one column per sample")]
    for value, says in mistakes:
        if same(scores, value):
            return f"the scores of forward: {says}"
    array = real_numbers(scores)
    if array is None or array.shape != reference.shape:
        shape = "not an array of numbers" if array is None else f"of shape {array.shape}"
        return f"the scores of forward are {shape}, expected {reference.shape} (C, N)"
    return f"the scores of forward are wrong (largest difference {np.nanmax(np.abs(array - reference)):.3g})"


def loss_problem(case, loss):
    p, inputs, labels = case.args
    reference = reference_loss(p, inputs, labels)
    array = real_numbers(loss)
    if array is None or array.size != 1:
        return f"the loss of loss_and_grads is {type(loss).__name__}, expected one number (a float)"
    if same(array.reshape(()), reference):
        return ""
    N = len(labels)
    mistakes = [(cross_entropy(reference_forward(p, inputs, **flags), np.asarray(labels)), says)
                for flags, says in FORWARD_MISTAKES]
    mistakes += [(N * reference, f"summed over the N = {N} columns: the loss is the mean"),
                 (-reference, "of the wrong sign: the loss is -log softmax(scores)[label], a positive number")]
    for value, says in mistakes:
        if same(array.reshape(()), value):
            return f"the loss of loss_and_grads: {says}"
    return f"the loss of loss_and_grads is {array.reshape(())!r}, expected {reference:.6g}"


def check_names(cases, answers):
    """Item 1: every ``loss_and_grads`` case returned a dict with one float64 array per
    parameter, of its shape."""
    for case, (_, grads, why) in zip(cases, answers):
        if case.function != "loss_and_grads":
            continue
        grads, problem = (grads, "") if why else gradients_dict(grads, "loss_and_grads")
        problems = [why or problem] if why or grads is None else names_shapes_dtypes(grads, case.args[0])
        if problems:
            return f"in the case with {case.label}: {'; '.join(problems[:4])}"
    return ""


def item_names(case, item):
    return [name for name in case.args[0] if ITEM_OF[name.split(".")[0]] == item]


def wrong_gradients(item, cases, answers, numeric):
    """``(why, wrong, grads_of)``: why the item cannot be judged (a crash, no dict; else ""),
    the names of its wrong gradients and the student's gradients, by case number, over the
    ``loss_and_grads`` cases where the item has tensors."""
    wrong, grads_of = {}, {}
    for n, case in enumerate(cases):
        names = item_names(case, item) if case.function == "loss_and_grads" else []
        if not names:
            continue
        _, grads, why = answers[n]
        grads, problem = (None, why) if why else gradients_dict(grads, "loss_and_grads")
        if grads is None:
            return f"in the case with {case.label}: {problem}", {}, {}
        grads_of[n] = grads
        wrong[n] = [name for name in names if not close(grads.get(name), numeric[n][name])]
    return "", wrong, grads_of


def check_gradients(item, cases, answers, numeric):
    """Items 2 to 6: each gradient of the item against the finite differences, in every
    ``loss_and_grads`` case where the item has tensors; the hint reads the case whose hints say
    the most."""
    why, wrong, grads_of = wrong_gradients(item, cases, answers, numeric)
    if why:
        return why
    hints = {n: [tensor_hint(name, grads_of[n].get(name), numeric[n][name], close, len(cases[n].args[2]),
                             same_shaped(counterpart_names(name, MODALITIES), numeric[n], numeric[n][name]))
                 for name in wrong[n][:3]] for n in wrong if wrong[n]}
    if not hints:
        return ""
    n = telling_case(hints, lambda n: depth(cases[n].args[0]))
    names = item_names(cases[n], item)
    message = f"{right_and_wrong(cases[n].label, names, wrong[n])}: " + explain(
        hints[n], KINDS[item], wrong[n], names, cases[n].args[0], TOWER_OF.get(item))
    shared_wrong = item in TOWER_OF and any(wrong_gradients(3, cases, answers, numeric)[1].values())
    return message + (UPSTREAM if shared_wrong else "")


#: The kind of each gradient item, for the level hint (None: the head), and each tower's modality.
KINDS = {2: None, 3: "shared", 4: "tower", 5: "tower", 6: "tower"}
TOWER_OF = {4 + k: m for k, m in enumerate(MODALITIES)}
