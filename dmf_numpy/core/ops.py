"""The elementwise and output-layer functions every model shares.

Every piece of calculus the models need, apart from the matrix products, lives here:

* the logistic sigmoid f of the paper and its derivative
  f'(M) = f(M) (1 - f(M)) (the factor in Eqs. 7 and 8);
* softmax regression with categorical cross-entropy, the discriminative head of Fig. 3 (left);
* the two reconstruction losses of the generative variant (Fig. 3, right): binary
  cross-entropy of a sigmoid output, half the squared error of a linear one (Eq. G4);
* the two initializations: Glorot/Xavier uniform, and uniform in ±1/√fan_in per block.

Arrays follow the batch convention of the whole package: one sample per row, so an activation
is ``(N, d)`` and a weight in the paper's orientation is ``(d_out, d_in)``.
"""

from __future__ import annotations

import numpy as np


def sigmoid(M, out=None):
    """Logistic sigmoid f(M) = 1 / (1 + e^{-M}), overflow-free and cheap.

    Parameters
    ----------
    M : ndarray, any shape
        Pre-activations.
    out : ndarray, same shape and dtype as ``M``, optional
        Where to write the result (may be ``M`` itself, for an in-place update).

    Returns
    -------
    ndarray, same shape as ``M``
        Values in [0, 1].

    Notes
    -----
    Computed through the identity

        f(M) = 1/2 + 1/2 tanh(M / 2),

    which never overflows (``tanh`` saturates at ±1, so pre-activations of
    ±10^4 and beyond give exactly 0 and 1 with no warning) and is several times
    faster than ``1 / (1 + exp(-M))`` in NumPy because every step can be done in place.
    """
    out = np.multiply(M, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def sigmoid_backward(delta_out, out):
    """Carry a delta through the sigmoid: ∂ε/∂M.

    Parameters
    ----------
    delta_out : ndarray, (N, d)
        ∂ε/∂f(M), the delta arriving at the layer's output.
    out : ndarray, (N, d)
        The layer's output f(M) saved by the forward pass.

    Returns
    -------
    delta_M : ndarray, (N, d)
        ∂ε/∂M = ∂ε/∂f(M) ⊙ f(M) ⊙ (1 - f(M)).

    Notes
    -----
    The products are elementwise; Eqs. 7 and 8 of the paper write them as plain products,
    one of the typos recorded in ``derivations/``.
    """
    delta_M = np.subtract(1.0, out, dtype=out.dtype)
    delta_M *= out
    delta_M *= delta_out
    return delta_M


def softmax(scores):
    """Row-wise softmax, shifted by the row maximum so that ``exp`` cannot overflow.

    Parameters
    ----------
    scores : ndarray, (N, C)

    Returns
    -------
    ndarray, (N, C)
        Rows are probability vectors.
    """
    with np.errstate(over="ignore"):  # a spread beyond the dtype's range: exp(-inf) = 0, as it should be
        p = scores - scores.max(axis=1, keepdims=True)
    np.exp(p, out=p)
    p /= p.sum(axis=1, keepdims=True)
    return p


def softmax_cross_entropy(scores, labels):
    """Mean categorical cross-entropy of softmax regression, and its gradient.

    Parameters
    ----------
    scores : ndarray, (N, C)
        Unnormalized log-probabilities z = s_L W_out^T + b_out.
    labels : ndarray of int, (N,)
        Class indices in ``[0, C)``.

    Returns
    -------
    loss : float
        ε = -(1/N) Σ_n log softmax(z_n)_{t_n}.
    d_scores : ndarray, (N, C)
        ∂ε/∂z = (softmax(z) - onehot(t)) / N.

    Notes
    -----
    The log-probabilities are computed with the log-sum-exp shift
    log softmax(z)_c = z_c - m - log Σ_k e^{z_k - m},
    m = max_k z_k, so the loss is finite for any finite scores.
    """
    n = scores.shape[0]
    rows = np.arange(n)
    with np.errstate(over="ignore"):  # a spread beyond the dtype's range: exp(-inf) = 0, as it should be
        shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    sum_exp = exp.sum(axis=1)
    loss = float(np.mean(np.log(sum_exp) - shifted[rows, labels]))
    d_scores = exp
    d_scores /= sum_exp[:, None]
    d_scores[rows, labels] -= 1.0
    d_scores /= n
    return loss, d_scores


def glorot_uniform(rng, fan_in, fan_out, shape, dtype):
    """Glorot/Xavier uniform initialization.

    Parameters
    ----------
    rng : numpy.random.Generator
    fan_in, fan_out : int
        Number of inputs to and outputs of the layer. For a shared layer fed by several blocks
        (Eq. 3) ``fan_in`` is the total over all of them, so that the variance of M_l
        does not grow with the number of incoming paths.
    shape : tuple of int
        Shape of the block to draw.
    dtype : numpy dtype

    Returns
    -------
    ndarray of ``shape``
        Entries drawn from U(-a, a), a = √(6 / (fan_in + fan_out)).
    """
    a = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, size=shape).astype(dtype)


def bernoulli_cross_entropy(M, target):
    r"""Binary cross-entropy of sigmoid(M) against targets in [0, 1].

    Parameters
    ----------
    M : ndarray, (N, d)
        Pre-activations (logits) of the output layer.
    target : ndarray, (N, d)
        Values in [0, 1].

    Returns
    -------
    loss : float
        (1/N) Σ_{n,j} -[t log f(M) + (1 - t) log(1 - f(M))], summed over the
        features and averaged over the samples.
    delta : ndarray, (N, d)
        ∂loss/∂M = (f(M) - t) / N.

    Notes
    -----
    Computed from the logits as log(1 + e^M) - t M (``logaddexp``), which is finite
    for any finite M, even where f(M) rounds to exactly 0 or 1.
    """
    n = M.shape[0]
    loss = float((np.logaddexp(0, M) - target * M).sum() / n)
    delta = sigmoid(M)
    delta -= target
    delta /= n
    return loss, delta


def squared_error(M, target):
    r"""Half the squared error of a linear output m̂ = M.

    Parameters
    ----------
    M : ndarray, (N, d)
        The output (the identity of its pre-activation).
    target : ndarray, (N, d)

    Returns
    -------
    loss : float
        (1/(2N)) Σ_{n,j} (M - t)^2.
    delta : ndarray, (N, d)
        ∂loss/∂M = (M - t) / N.
    """
    n = M.shape[0]
    delta = M - target
    loss = float(0.5 * np.einsum("ij,ij->", delta, delta) / n)
    delta /= n
    return loss, delta


def linear(M):
    """The identity output function g(M) = M, for real-valued features."""
    return M


def fan_in_uniform(rng, fan_in, shape, dtype):
    """Uniform in ±1/√(fan_in), the default of PyTorch's linear layers.

    Parameters
    ----------
    rng : numpy.random.Generator
    fan_in : int
        The size of the input of the block being drawn (its own, not summed over the blocks that
        feed the same layer).
    shape : tuple of int
    dtype : numpy dtype
    """
    a = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-a, a, size=shape).astype(dtype)
