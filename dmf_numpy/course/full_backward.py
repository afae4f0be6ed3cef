r"""Exercise ``backward-full``: the student writes DMF's whole backward pass.

The student's file (:func:`student_copy`) is DMF on one page (:mod:`dmf_numpy.core.one_page`)
with ``f``, ``init_params``, ``forward`` (and its cache) and ``loss_and_grads`` given, and
``backward(p, cache, d_z)`` to write whole: the routing through every level, the fork of
Eq. 5, the shared chain of Eqs. 6 and 8, and every gradient. Its docstring states the contract
and the shapes only; no helper of the file holds an answer.

Grading, per gradient tensor. :func:`cases` draws networks of random depth (L = 1 to 4, each
depth once, so that a hard-coded depth fails, and one more with x and y of the same sizes, so
that a mix-up of the towers shows in the values) and random unequal sizes. :func:`judge`
compares each returned gradient with the reference (:func:`dmf_numpy.core.one_page.backward`);
a wrong group of gradients is then compared with the gradients of classic mistaken backward
passes (:func:`mistaken_backward`, one flag per mistake, listed in :data:`MISTAKES`), so that
the hint can name the mistake; when none matches, the hint describes the pattern: which tensors
are right, which wrong, and the highest wrong level, which locates the bug, because an error
flows downwards. Items:

0. the names, shapes and dtypes of the returned gradients;
1. the head, ``W_out`` and ``b_out``;
2. the shared stack, ``W_xs.l``, ``W_ys.l`` and ``b_s.l``;
3. the shared chain, ``W_s.l``;
4. and 5. the x and the y tower, ``W_m.l`` and ``b_m.l``.

Each values item judges only the cases in which it has tensors (a crash at L = 1 fails neither
a tower nor the chain, which have none there), and reads a tensor whatever its container: a
gradient of the right values in the wrong shape or dtype fails item 0 only.

The judging helpers below (:func:`gradients_dict`, :func:`tensor_hint`, :func:`level_hint`, ...) also serve :mod:`.three_modalities`.
"""

from __future__ import annotations

import inspect
from typing import NamedTuple

import numpy as np

from ..core import one_page
from .compare import as_array, name_list, names_shapes_dtypes, same, shapes_do_not_fit
from .report import Item

NAME = "backward-full"

ITEMS = [
    "the gradient names, shapes and dtypes",
    "the softmax head (W_out, b_out)",
    "the shared stack (W_xs.l, W_ys.l, b_s.l at every level)",
    "the shared chain (W_s.l: Eqs. 6 and 8)",
    "the x tower (W_x.l, b_x.l: Eqs. 2, 5 and 7)",
    "the y tower (W_y.l, b_y.l: Eqs. 2, 5 and 7)",
]

#: The item (an index into ITEMS) of each parameter, by the part of its name before the dot.
ITEM_OF = {"W_out": 1, "b_out": 1, "W_xs": 2, "W_ys": 2, "b_s": 2, "W_s": 3, "W_x": 4, "b_x": 4, "W_y": 5, "b_y": 5}

#: The depths of the cases: each of 1 to 4 once (in a random order), then the mix-up case.
DEPTHS = (1, 2, 3, 4)


class Case(NamedTuple):
    """One call of the student's function: ``function(*args)``, and ``label``, the network it
    runs on, for the hints."""

    function: str
    args: tuple
    label: str


# ------------------------------------------------------------------ the student's file

STUDENT_DOCSTRING = '''r"""Dense Multimodal Fusion on one page: the whole backward pass is yours to write.

The paper's orientation: column vectors, one column per sample, so the input x is (d^x_1, N), a
weight W is (size out, size in) and a bias b is 1-D, (size out,). For m in "x", "y":

    h^m_{l+1} = f(W^m_l h^m_l + b^m_l),                                    l = 1..L-1   (Eq. 4)
    s_l       = f(W^{x->s}_l h^x_l + W^{y->s}_l h^y_l + W^s_{l-1} s_{l-1} + b^s_l),  l = 1..L   (Eq. 3)
    z         = W_out s_L + b_out                  (the scores; no s_0 term at l = 1)

f is the sigmoid; f'(M) = f(M) (1 - f(M)). forward, init_params and loss_and_grads are given;
write backward. INSTRUCTIONS.md says what it takes, what it returns, and how to grade it.
"""

import numpy as np
'''

BACKWARD_STUB = '''def backward(p, cache, d_z):
    """Every gradient of the loss, from dE/dz: DMF's whole backward pass.

    Parameters
    ----------
    p : dict of str to ndarray
        The parameters, named as ``init_params`` names them: ``W_x.l``, ``b_x.l``, ``W_y.l``,
        ``b_y.l`` and ``W_s.l`` for l = 1..L-1; ``W_xs.l``, ``W_ys.l`` and ``b_s.l`` for
        l = 1..L; ``W_out`` and ``b_out``. A weight is (size out, size in), a bias (size out,).
        L is the number of ``b_s.l``; it may be 1 (no tower weight and no W_s) to 4.
    cache : tuple (h, s)
        What ``forward`` returns beside the scores: ``h[m][l]`` is h^m_l, (d^m_l, N), for
        m = "x", "y" and l = 1..L (``h[m][1]`` is the input); ``s[l]`` is s_l, (d^s_l, N), for
        l = 1..L, and ``s[0]`` is None.
    d_z : ndarray, (C, N)
        dE/dz, the gradient of the loss E with respect to the scores z. It already holds the
        1/N of the mean over the batch.

    Returns
    -------
    dict of str to ndarray
        dE/dp for every parameter p: exactly the names of ``p``, each gradient a float64 numpy
        array of its parameter's shape (a bias's gradient is 1-D, like the bias).
    """
    raise NotImplementedError("TODO: the whole backward pass")
'''


def student_copy():
    """The student's file, without its first (marker) line: the given parts of
    :mod:`dmf_numpy.core.one_page`, taken from its source, and the stub of ``backward``."""
    given = [inspect.getsource(function) for function in (one_page.f, one_page.init_params, one_page.forward)]
    parts = [STUDENT_DOCSTRING, *given, BACKWARD_STUB, inspect.getsource(one_page.loss_and_grads)]
    return "\n\n\n".join(part.strip("\n") for part in parts) + "\n"


#: The rules a student needs, stated as definitions; shared by the instructions of both tiers.
DEFINITIONS = """## Definitions you need

- **A delta** is the gradient of the loss E with respect to one array of the network, of that
  array's shape: the delta at `s_l` is dE/ds_l, `(d^s_l, N)`; the delta at a pre-activation `M`
  is dE/dM.
- **The sigmoid**: if `a = f(M)` elementwise, then dE/dM = dE/da * f'(M), an elementwise
  product, and f'(M) = a * (1 - a) is computed from the stored output `a`.
- **An affine map** `M = W a + b` (one column per sample), with the delta dE/dM: the delta at
  its input is dE/da = W^T dE/dM; the gradient of `W` is dE/dW = dE/dM a^T, of the shape of
  `W`; the gradient of `b` is dE/dM summed over the columns. Both sum over the samples by
  themselves.
- **A fork**: when an array feeds several layers, its delta is the **sum** of what comes back
  from each of them. Gradients add up at forks.

Which arrays of DMF are forks, and what reaches each of them, is for you to work out: draw the
network first (which layers does `h^x_l` feed? and `s_l`?). The paper's Eqs. 2 and 5-8 describe
the paths; the derivations of the dmf-numpy repository (`derivations/03_backward.md`) work
through them in batch form, if you want to check your reasoning afterwards.
"""

INSTRUCTIONS = """# Exercise backward-full: the whole backward pass of Dense Multimodal Fusion

`{file}` is DMF for a classifier (Hu, Wang, Nie, Li, *Dense Multimodal Fusion for
Hierarchically Joint Representation*) on one page. The forward pass, its cache and the loss are
written. **You write `backward(p, cache, d_z)`, whole**: every gradient, at every level.

## The network

The paper's orientation: column vectors, one column per sample. With two modalities m = x, y,
L levels, and f the sigmoid:

    h^m_(l+1) = f(W^m_l h^m_l + b^m_l)                                        l = 1..L-1  (Eq. 4)
    s_l       = f(W^(x->s)_l h^x_l + W^(y->s)_l h^y_l + W^s_(l-1) s_(l-1) + b^s_l)   l = 1..L    (Eq. 3)
    z         = W_out s_L + b_out

`h^m_1` is the input of modality m; at l = 1 there is no `s_0`, so Eq. 3 has no `W^s_0` term.
The loss E is the mean cross-entropy of softmax(z) over the N columns.

| paper               | in the code                            | shape                                |
|---------------------|----------------------------------------|--------------------------------------|
| `h^m_l`             | `h[m][l]`, l = 1..L                    | `(d^m_l, N)`                         |
| `s_l`               | `s[l]`, l = 1..L (`s[0]` is None)      | `(d^s_l, N)`                         |
| `W^m_l`, `b^m_l`    | `p["W_m.l"]`, `p["b_m.l"]`, l = 1..L-1 | `(d^m_(l+1), d^m_l)`, `(d^m_(l+1),)` |
| `W^(m->s)_l`        | `p["W_ms.l"]`, l = 1..L                | `(d^s_l, d^m_l)`                     |
| `W^s_l`             | `p["W_s.l"]`, l = 1..L-1               | `(d^s_(l+1), d^s_l)`                 |
| `b^s_l`             | `p["b_s.l"]`, l = 1..L                 | `(d^s_l,)`                           |
| the head            | `p["W_out"]`, `p["b_out"]`             | `(C, d^s_L)`, `(C,)`                 |

L is the number of `b_s.l` in `p`. The grader draws networks of every depth from 1 to 4 (at
L = 1 there is no tower weight and no `W_s`) and of random, unequal sizes: nothing about the
sizes or the depth may be written into your code.

## The contract of `backward(p, cache, d_z)`

- `p`: the parameters (the table above).
- `cache = (h, s)`: what `forward` returns beside the scores.
- `d_z`: dE/dz, `(C, N)`; it already holds the 1/N of the mean loss.
- It returns a dict with **one gradient per parameter**: the same names as `p`, each a
  **float64 numpy array of exactly its parameter's shape** (a bias's gradient is 1-D), and no
  other entry. It must not change its arguments.

""" + DEFINITIONS + """
## Grading

    dmf-numpy grade {file}

One point per item:

1. the gradient names, shapes and dtypes;
2. the softmax head (`W_out`, `b_out`);
3. the shared stack (`W_xs.l`, `W_ys.l`, `b_s.l` at every level);
4. the shared chain (`W_s.l`: Eqs. 6 and 8);
5. the x tower (`W_x.l`, `b_x.l`: Eqs. 2, 5 and 7);
6. the y tower (`W_y.l`, `b_y.l`).

Every gradient is compared with the reference on several networks; a failing item says which
tensors are wrong, at which levels, and, when your gradients match a classic mistake, which one.
An error flows downwards: the highest wrong level is where to look first.
"""


# ------------------------------------------------------------------ the test cases

def depth(params):
    """L, the number of shared levels: the number of ``b_s.l`` among the parameters."""
    return sum(name.startswith("b_s.") for name in params)


def unequal_sizes(rng, levels, avoid=(), low=2, high=8):
    """``levels`` sizes in ``low..high-1``, each unlike the one before it (so that no weight
    between levels is square) and unlike the sizes at the same level of each tuple of ``avoid``
    (the other towers')."""
    sizes = []
    for l in range(levels):
        banned = {sizes[-1]} if sizes else set()
        banned |= {other[l] for other in avoid}
        sizes.append(int(rng.choice([k for k in range(low, high) if k not in banned])))
    return tuple(sizes)


def random_network(rng, L, same_towers=False):
    """Parameters of a random DMF of depth ``L`` and random sizes (float64, nonzero biases)."""
    x_dims = unequal_sizes(rng, L)
    y_dims = x_dims if same_towers else unequal_sizes(rng, L, avoid=[x_dims])
    shared_dims = unequal_sizes(rng, L, avoid=[x_dims, y_dims])
    n_classes = int(rng.choice([c for c in range(2, 6) if c != shared_dims[-1]]))
    p = one_page.init_params(x_dims, y_dims, shared_dims, n_classes, seed=int(rng.integers(2**31)))
    for name in p:
        p[name] = 2 * p[name] + (rng.uniform(-0.5, 0.5, p[name].shape) if name.startswith("b_") else 0)
    return p, (x_dims, y_dims, shared_dims, n_classes)


def cases(rng):
    """One backward call per depth in :data:`DEPTHS` (in a random order), then one on towers of
    equal sizes at a random depth of 2 to 4: random sizes, inputs and ``d_z``."""
    depths = [int(L) for L in rng.permutation(DEPTHS)] + [int(rng.integers(2, 5))]
    drawn = []
    for number, L in enumerate(depths):
        same_towers = number == len(depths) - 1
        p, (x_dims, y_dims, shared_dims, n_classes) = random_network(rng, L, same_towers)
        N = int(rng.integers(3, 7))
        x, y = rng.uniform(size=(x_dims[0], N)), rng.uniform(size=(y_dims[0], N))
        _, cache = one_page.forward(p, x, y)
        d_z = rng.normal(size=(n_classes, N)) / N
        label = (f"L = {L}, x sizes {x_dims}, y sizes {y_dims}, shared sizes {shared_dims}, {n_classes} classes, "
                 f"N = {N}")
        drawn.append(Case("backward", (p, cache, d_z), label))
    return drawn


# ------------------------------------------------------------------ the mistaken backward passes

def mistaken_backward(p, cache, d_z, *, fork="sum", chain=True, tower_f_prime=True, shared_f_prime=True,
                      top="shared", average=False):
    """DMF's backward pass with one classic mistake switched on by a flag; with the defaults it
    is the reference (:func:`dmf_numpy.core.one_page.backward`), which a test checks.

    fork : "sum", "modality" or "shared"
        Eq. 5 at h^m_l below the top: both paths (right), or only the modality path of Eq. 2,
        or only the shared path of Eq. 7 (the other one overwritten).
    chain : bool
        Whether s_l receives the error of s_{l+1} (Eqs. 6 and 8).
    tower_f_prime, shared_f_prime : bool
        Whether the delta goes through f' in the towers, in the shared stack.
    top : "shared", "twice" or "none"
        The delta at the top of a tower, h^m_L: the shared path of Eq. 7 alone (right), twice
        (as if a modality path came from above), or nothing.
    average : bool
        Every gradient divided by N (averaged over the columns instead of summed).
    """
    (h, s), L, N = cache, depth(p), d_z.shape[1]
    scale = 1 / N if average else 1

    def weight_grad(delta_M, a):  # dE/dW of M = W a + b
        return scale * delta_M @ a.T

    def bias_grad(delta_M):  # dE/db of M = W a + b
        return scale * delta_M.sum(axis=1)

    def through_f(delta, out, with_f_prime):  # dE/dM from dE/df(M), f(M) = out
        return delta * (out * (1 - out)) if with_f_prime else delta

    g = {"W_out": weight_grad(d_z, s[L]), "b_out": bias_grad(d_z)}
    delta_s = p["W_out"].T @ d_z  # dE/ds_L
    shared_path = {"x": {}, "y": {}}  # Eq. 7, what reaches h^m_l from s_l
    for l in range(L, 0, -1):
        delta_M = through_f(delta_s, s[l], shared_f_prime)
        g[f"b_s.{l}"] = bias_grad(delta_M)
        for m in "xy":
            g[f"W_{m}s.{l}"] = weight_grad(delta_M, h[m][l])
            shared_path[m][l] = p[f"W_{m}s.{l}"].T @ delta_M
        if l > 1:
            g[f"W_s.{l - 1}"] = weight_grad(delta_M, s[l - 1])
            delta_s = p[f"W_s.{l - 1}"].T @ delta_M if chain else np.zeros_like(s[l - 1])  # Eqs. 6 and 8
    for m in "xy":
        delta_h = {"shared": 1, "twice": 2, "none": 0}[top] * shared_path[m][L]
        for l in range(L, 1, -1):
            delta_M = through_f(delta_h, h[m][l], tower_f_prime)
            g[f"W_{m}.{l - 1}"], g[f"b_{m}.{l - 1}"] = weight_grad(delta_M, h[m][l - 1]), bias_grad(delta_M)
            modality_path = p[f"W_{m}.{l - 1}"].T @ delta_M  # Eq. 2
            paths = {"sum": modality_path + shared_path[m][l - 1], "modality": modality_path,
                     "shared": shared_path[m][l - 1]}
            delta_h = paths[fork]  # Eq. 5
    return g


class Mistake(NamedTuple):
    """A classic mistake: the flags of :func:`mistaken_backward` that make it, the items where
    the bug can live (indices into ITEMS; empty: it is in every item), and what the hint says."""

    flags: dict
    home: tuple
    says: str


TOWERS = (4, 5)

#: The mistakes, those whose bug lives higher up first: a bug of the shared stack reaches the
#: towers too, and a missing chain gives the towers the gradients of a fork without its shared path.
MISTAKES = [
    Mistake({"average": True}, (), "the gradients are averaged over the N columns instead of summed: d_z already "
            "holds the 1/N of the mean loss, so dE/dW = delta a^T and dE/db = delta summed over the columns"),
    Mistake({"shared_f_prime": False}, (2,), "the factor f' is missing in the shared stack: the delta at s_l must "
            "go through f'(M_l) = s_l (1 - s_l), elementwise (Eqs. 7 and 8)"),
    Mistake({"chain": False}, (3,), "the shared chain of Eqs. 6 and 8 is missing: s_l feeds s_{l+1}, so the delta "
            "at s_l receives (W^s_l)^T times the delta at the pre-activation of s_{l+1}"),
    Mistake({"fork": "modality"}, TOWERS, "the error reaching h^m_l below the top misses one of the two paths of "
            "Eq. 5 (the shared path, Eq. 7): h^m_l feeds both h^m_{l+1} and s_l, and gradients add up at forks"),
    Mistake({"fork": "shared"}, TOWERS, "the error reaching h^m_l below the top misses one of the two paths of "
            "Eq. 5 (the modality path, Eq. 2): the shared path overwrote it, but gradients add up at forks"),
    Mistake({"top": "twice"}, TOWERS, "the top of the tower, h^m_L, feeds only s_L: its delta is the shared path "
            "(Eq. 7 at l = L) alone, but yours adds a second term there, as if a modality path came from above"),
    Mistake({"top": "none"}, TOWERS, "the top of the tower, h^m_L, receives no error: its delta is the shared path "
            "of Eq. 7 at l = L (h^m_L feeds s_L)"),
    Mistake({"tower_f_prime": False}, TOWERS, "the factor f' is missing in the tower: the delta at h^m_l must go "
            "through f'(M) = h^m_l (1 - h^m_l), elementwise, before it reaches W^m_{l-1}"),
]


# ------------------------------------------------------------------ judging helpers (both tiers)

def describe_exception(error):
    """The hint for a student's function that raised (or ran too long): the type and message of a
    built-in exception, the message alone of any other (a plain Exception or the grader's own
    type, as a child process reports one), and a word on shapes that do not fit."""
    builtin = type(error).__module__ == "builtins" and type(error) is not Exception
    text = f"{type(error).__name__}: {error}" if builtin else str(error)
    if shapes_do_not_fit(text):
        text += (" -- the shapes do not fit: a missing transpose (an error flows backwards through W^T), "
                 "or the arrays of another level or of the other tower?")
    return text


def gradients_dict(value, function):
    """``(dict, "")`` when ``value`` is a dict of gradients, else ``(None, why not)``."""
    if isinstance(value, BaseException):
        return None, f"{function} raised: {describe_exception(value)}"
    if not isinstance(value, dict):
        return None, f"{function} returned {type(value).__name__}, expected a dict of gradients"
    return value, ""


def real_numbers(value):
    """``value`` as a float array, or None when it is not real numbers (complex ones included)."""
    return None if np.iscomplexobj(value) else as_array(value)


def as_shaped(value, shape):
    """``value`` as a float64 array of ``shape`` when it holds that many real numbers (a (3, 1)
    array for a (3,) gradient reads as its 3 values), else None."""
    array = real_numbers(value)
    if array is None or array.size != int(np.prod(shape)):
        return None
    return array.reshape(shape)


def exactly(value, reference):
    """Whether ``value`` holds the reference's values (to 1e-9, or to float32's precision when
    it is float32), whatever its container and shape."""
    array = as_shaped(value, np.shape(reference))
    if array is None:
        return False
    low_precision = isinstance(value, np.ndarray) and value.dtype.itemsize < 8
    return same(array, reference, rtol=1e-5 if low_precision else 1e-9, atol=1e-7 if low_precision else 1e-12)


def tensor_hint(name, value, expected, equal, N, others=()):
    """What is wrong with one gradient: missing, not numbers, the wrong size, NaN, transposed,
    averaged, a sign, zero, another parameter's gradient (``others``: ``(name, expected)``
    pairs of the same shape), or wrong values. ``equal(value, expected)`` judges the values."""
    if value is None:
        return f"{name} is missing"
    array = real_numbers(value)
    if array is None:
        return f"{name} is not an array of numbers ({type(value).__name__})"
    if array.shape == expected.shape[::-1] and array.ndim == 2 and equal(array.T, expected):
        return f"{name} is transposed: dE/dW has the shape of W, (out, in)"
    if array.size != expected.size:
        return f"{name} has shape {array.shape}, expected {expected.shape}"
    if not np.all(np.isfinite(array)):
        return f"{name} has NaN or infinite values"
    shaped = array.reshape(expected.shape)
    for other, value_of_other in others:
        if not equal(shaped, expected) and equal(shaped, value_of_other):
            return f"{name} is the gradient of {other}: the arrays of the two are mixed up"
    for factor, says in ((N, f"averaged over the N = {N} columns: sum instead (d_z already holds the 1/N)"),
                         (1 / N, f"N = {N} times too large"), (-1, "of the wrong sign")):
        if equal(factor * shaped, expected):
            return f"{name} is {says}"
    if np.all(shaped == 0):
        return f"{name} is zero: no error reaches it"
    return f"{name} has wrong values (largest difference {np.max(np.abs(shaped - expected)):.3g})"


def level(name):
    """The level of the delta that a parameter's gradient is made of: l for ``W_m.l``,
    ``b_m.l`` (the delta at h^m_(l+1)'s pre-activation, numbered like the weight), ``W_ms.l`` and
    ``b_s.l``; l + 1 for ``W_s.l``, which feeds s_(l+1)."""
    prefix, _, number = name.partition(".")
    return int(number) + (prefix == "W_s")


def level_hint(kind, wrong, right, L, tower=""):
    """Where the bug is, from the levels of the wrong and the right gradients of one group
    (``kind``: "tower" or "shared", which may hold the chain's ``W_s.l``) in a network of depth
    ``L``: an error flows downwards, so the highest wrong level locates it."""
    top = max(level(name) for name in wrong)
    bias_right = {level(name) for name in right if name.startswith("b_")}
    if top in bias_right:
        return (f"at level {top} the bias gradient is right, so the delta there is right and the weight gradient's "
                f"own formula is wrong (dE/dW = delta a^T, with a the layer's input)")
    if kind == "tower":
        if top == L - 1:
            return (f"the highest wrong layer is the top of the tower, W_{tower}.{top}: look at the delta at "
                    f"h^{tower}_{L}, which receives only the shared path of Eq. 7, and at its f'")
        return (f"W_{tower}.{top + 1} is right and W_{tower}.{top} is wrong: look at the delta reaching "
                f"h^{tower}_{top + 1}, the fork of Eq. 5 (the modality path of Eq. 2 plus the shared path of Eq. 7)")
    if top == L:
        return (f"the highest wrong level is the top one, {L}: look at the delta entering s_{L} from the head "
                f"(W_out^T d_z) and at its f'")
    return (f"level {top + 1} is right and level {top} is wrong: look at what reaches s_{top} from s_{top + 1} "
            f"(Eqs. 6 and 8)")


def safely(check):
    """``check``'s message, or one saying that the grader could not read the returned values:
    a judge never raises."""
    try:
        return check()
    except Exception as error:  # noqa: BLE001 -- a garbage value must fail an item, never the grader
        return f"the grader could not read what your code returned ({type(error).__name__}: {error})"


# ------------------------------------------------------------------ the judge

class Expected(NamedTuple):
    """What one case should return (``reference``) and what each mistake of :data:`MISTAKES`
    returns (``mistaken``, in that order)."""

    reference: dict
    mistaken: list


def expected_gradients(case):
    p, cache, d_z = case.args
    return Expected(one_page.backward(p, cache, d_z),
                    [mistaken_backward(p, cache, d_z, **mistake.flags) for mistake in MISTAKES])


def judge(cases, returned):
    """One :class:`Item` per entry of :data:`ITEMS`, from what ``backward`` returned for each
    case (a value, or the exception it raised). Never raises."""
    expected = [expected_gradients(case) for case in cases]
    messages = [safely(lambda: check_names(cases, returned))]
    messages += [safely(lambda item=item: check_values(item, cases, returned, expected))
                 for item in range(1, len(ITEMS))]
    return [Item(name, not message, message) for name, message in zip(ITEMS, messages)]


def check_names(cases, returned):
    """Item 0: every case returned a dict with one float64 array per parameter, of its shape."""
    for case, value in zip(cases, returned):
        grads, why = gradients_dict(value, case.function)
        problems = names_shapes_dtypes(grads, case.args[0]) if grads is not None else [why]
        if problems:
            return f"in the case with {case.label}: {'; '.join(problems[:4])}"
    return ""


def item_names(case, item):
    """The parameters of ``case`` that ``item`` judges (none for a tower or the chain at L = 1)."""
    return [name for name in case.args[0] if ITEM_OF[name.split(".")[0]] == item]


def wrong_names(item, case, grads, reference):
    return [name for name in item_names(case, item) if not exactly(grads.get(name), reference[name])]


def check_values(item, cases, returned, expected):
    """The message of a values item (empty when it passes): a crash or a value that is no dict,
    else the mistake that the gradients match, else the pattern of the wrong ones, read in the
    case whose hints say the most (see :func:`telling_case`)."""
    relevant = [n for n, case in enumerate(cases) if item_names(case, item)]
    for n in relevant:
        grads, why = gradients_dict(returned[n], cases[n].function)
        if grads is None:
            return f"in the case with {cases[n].label}: {why}"
    wrong = {n: wrong_names(item, cases[n], returned[n], expected[n].reference) for n in relevant}
    hints = {n: [tensor_hint(name, returned[n].get(name), expected[n].reference[name], exactly,
                             cases[n].args[2].shape[1], same_shaped(counterpart_names(name), expected[n].reference,
                                                                    expected[n].reference[name]))
                 for name in wrong[n][:3]] for n in relevant if wrong[n]}
    if not hints:
        return ""
    n = telling_case(hints, lambda n: depth(cases[n].args[0]))
    shared_right = item in TOWERS and not any(wrong_names(other, case, value, e.reference) for other in (2, 3)
                                              for case, value, e in zip(cases, returned, expected))
    pattern = right_and_wrong(cases[n].label, item_names(cases[n], item), wrong[n],
                              "every shared-layer gradient is right" if shared_right else "")
    mistake = matching_mistake(item, cases, returned, expected)
    if mistake is None:
        where = explain(hints[n], KINDS[item], wrong[n], item_names(cases[n], item), cases[n].args[0],
                        TOWER_OF.get(item))
        return f"{pattern}: {where}" + (UPSTREAM if item in TOWERS and not shared_right else "")
    home = "" if not mistake.home or item in mistake.home else \
        f" (the bug is in {ITEMS[mistake.home[0]]}, whose error reaches these gradients)"
    return f"{pattern}: {mistake.says}{home}"


#: The kind of each values item, for :func:`level_hint` (None: the head, which has no levels),
#: and the tower of each tower item.
KINDS = {1: None, 2: "shared", 3: "shared", 4: "tower", 5: "tower"}
TOWER_OF = {4: "x", 5: "y"}


def matching_mistake(item, cases, returned, expected):
    """The first mistake whose gradients the student returned, all of them, in every case that
    returned a dict; else the first whose bug can live in ``item`` and whose gradients the
    student returned for this item's tensors; else None."""
    answered = [n for n, value in enumerate(returned) if isinstance(value, dict)]

    def matches(k, items):
        return all(exactly(returned[n].get(name), expected[n].mistaken[k][name])
                   for n in answered for other in items for name in item_names(cases[n], other))

    whole = next((m for k, m in enumerate(MISTAKES) if matches(k, range(1, len(ITEMS)))), None)
    if whole is not None:
        return whole
    return next((m for k, m in enumerate(MISTAKES) if item in m.home and matches(k, [item])), None)


def is_are(names):
    return "is" if len(names) == 1 else "are"


def right_and_wrong(label, names, wrong, lead=""):
    """"in the case with <label>: every shared-layer gradient is right (the ``lead``), W_x.3 too,
    but W_x.1 and W_x.2 are wrong", and the like."""
    right = [name for name in names if name not in wrong]
    if lead:
        said = lead + (f", {name_list(right)} too" if right else "")
    else:
        said = f"{name_list(right)} {is_are(right)} right" if right else ""
    wrong_said = f"{name_list(wrong)} {is_are(wrong)} wrong"
    return f"in the case with {label}: " + (f"{said}, but {wrong_said}" if said else wrong_said)


#: Words of the hints that only say that a tensor is wrong, without naming a mistake; the first
#: three are about the container, not the values.
GENERIC = (" is missing", "not an array of numbers", " has shape ", " has wrong values")

#: The note of a tower's item when the shared stack is wrong too.
UPSTREAM = (" (the shared stack is wrong too, and its error reaches every tower through Eq. 7: fix it first, "
            "then look at this tower again)")


def telling_case(hints, depth_of):
    """The case to describe, among those of ``hints`` (case number -> the hints of its wrong
    tensors): the one whose hints name the most mistakes (transposed, averaged, mixed up, ...),
    then the deepest."""
    return max(hints, key=lambda n: (sum(not any(words in hint for words in GENERIC) for hint in hints[n]),
                                     depth_of(n)))


def explain(hints, kind, wrong, names, params, tower=None):
    """The hints of the wrong tensors, then (for a kind with levels, when a wrong tensor has
    values to read) where the levels say the bug is."""
    if kind is None or all(any(words in hint for words in GENERIC[:3]) for hint in hints):
        return "; ".join(hints)  # no level to read from a head, or from gradients that are not there
    right = [name for name in names if name not in wrong]
    return "; ".join(hints) + ". " + level_hint(kind, wrong, right, depth(params), tower)


def counterpart_names(name, modalities=("x", "y")):
    """The same parameter in the other towers, for the hint of a mix-up: ``["W_y.2"]`` for
    ``"W_x.2"``, ``["W_ys.1"]`` for ``"W_xs.1"``; none for the head and the shared chain."""
    prefix, _, number = name.partition(".")
    kind, _, tower = prefix.partition("_")
    if tower[:1] not in modalities or tower[1:] not in ("", "s"):
        return []
    return [f"{kind}_{m}{tower[1:]}.{number}" for m in modalities if m != tower[:1]]


def same_shaped(names, tensors, like):
    """``[(name, tensors[name])]`` for the ``names`` whose tensor has the shape of ``like``."""
    return [(name, tensors[name]) for name in names if tensors[name].shape == like.shape]
