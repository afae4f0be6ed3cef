r"""DMF on one page: the forward pass (Eqs. 3-4) and the backward pass (Eqs. 5-8) of the paper,
in its own orientation, with column vectors and the samples as columns.

Read it in one sitting; it is the whole of Dense Multimodal Fusion for a classifier::

    h^x_{l+1} = f(W^x_l h^x_l + b^x_l)                                        (Eq. 4)
    s_l       = f(W^{x->s}_l h^x_l + W^{y->s}_l h^y_l + W^s_{l-1} s_{l-1} + b^s_l)   (Eq. 3)
    dE/dh^x_l = [modality path, Eq. 2] + [shared path, Eq. 7]                  (Eq. 5)
    dE/ds_l   = (W^s_l)^T (dE/ds_{l+1} * f'(M_{l+1}))                           (Eqs. 6, 8)

``x`` is ``(d^x_1, N)``: one column per sample, as the paper writes W h. The parameters
are those of :class:`dmf_numpy.core.fusion.DMF` (same names, same ``(out, in)`` shapes), so
``DMF(...).params`` works here unchanged; ``tests/test_one_page.py`` proves that the loss and
every gradient agree with that implementation to 1e-12. There is no validation and no option:
the main implementation has those. The functions ``eq2_...`` to ``bias_gradient`` are the blanks
of the exercise ``dmf-numpy exercise backward``.
"""

import numpy as np


def f(M):
    """The sigmoid of the paper."""
    return 1 / (1 + np.exp(-M))


def init_params(x_dims, y_dims, shared_dims, n_classes, seed=0):
    """Glorot-uniform weights ``(out, in)`` and zero biases, named as in ``dmf_numpy.core.fusion``."""
    rng, p, L = np.random.default_rng(seed), {}, len(shared_dims)
    dims = {"x": x_dims, "y": y_dims}

    def layer(blocks, bias, size_out):  # blocks: [(name, size_in)], the fan-in summed over them
        a = np.sqrt(6 / (sum(size for _, size in blocks) + size_out))
        p.update({name: rng.uniform(-a, a, (size_out, size)) for name, size in blocks})
        p[bias] = np.zeros(size_out)

    for m in "xy":
        for l in range(1, L):
            layer([(f"W_{m}.{l}", dims[m][l - 1])], f"b_{m}.{l}", dims[m][l])
    for l in range(1, L + 1):
        blocks = [(f"W_xs.{l}", x_dims[l - 1]), (f"W_ys.{l}", y_dims[l - 1])]
        layer(blocks + ([(f"W_s.{l - 1}", shared_dims[l - 2])] if l > 1 else []), f"b_s.{l}", shared_dims[l - 1])
    layer([("W_out", shared_dims[-1])], "b_out", n_classes)
    return p


def forward(p, x, y):
    """Eqs. 4 and 3, then the softmax head: scores ``z`` (C, N) and the cache ``(h, s)``."""
    L = sum(name.startswith("b_s.") for name in p)
    h = {"x": {1: x}, "y": {1: y}}
    for m in "xy":
        for l in range(1, L):
            h[m][l + 1] = f(p[f"W_{m}.{l}"] @ h[m][l] + p[f"b_{m}.{l}"][:, None])  # Eq. 4
    s = {0: None}
    for l in range(1, L + 1):
        below = p[f"W_s.{l - 1}"] @ s[l - 1] if l > 1 else 0  # no s_0
        s[l] = f(p[f"W_xs.{l}"] @ h["x"][l] + p[f"W_ys.{l}"] @ h["y"][l] + below + p[f"b_s.{l}"][:, None])  # Eq. 3
    return p["W_out"] @ s[L] + p["b_out"][:, None], (h, s)


# ------------------------------------------------------------------ the backward equations

def f_prime(out):
    """f'(M) from the layer's output ``out = f(M)``: the factor of Eqs. 7 and 8."""
    return out * (1 - out)


def delta_pre_activation(delta_out, out):
    """dE/dM = dE/df(M) * f'(M), elementwise (Eqs. 7 and 8 write a plain product: a typo)."""
    return delta_out * f_prime(out)


def eq2_modality_path(W_m, delta_M_next):
    """Eq. 2, the first term of Eq. 5: what reaches h^m_l from h^m_{l+1}."""
    return W_m.T @ delta_M_next


def eq7_shared_path(W_ms, delta_M):
    """Eq. 7, the second term of Eq. 5: what reaches h^m_l from s_l (W^{s->x}_l is (W^{x->s}_l)^T)."""
    return W_ms.T @ delta_M


def eq6_shared_chain(W_s, delta_M_next):
    """Eqs. 6 and 8: what reaches s_l from s_{l+1}."""
    return W_s.T @ delta_M_next


def eq5_fork(modality_path, shared_path):
    """Eq. 5: the delta at h^m_l is the sum of both paths; gradients add up at forks."""
    return modality_path + shared_path


def weight_gradient(delta_M, a):
    """dE/dW of M = W a + b, summed over the samples (the columns): (out, in)."""
    return delta_M @ a.T


def bias_gradient(delta_M):
    """dE/db of M = W a + b: the delta summed over the samples (the columns)."""
    return delta_M.sum(axis=1)


def backward(p, cache, d_z):
    """Multi-path backpropagation: every gradient from dE/dz (C, N), by Eqs. 5-8."""
    (h, s), L = cache, sum(name.startswith("b_s.") for name in p)
    g = {"W_out": weight_gradient(d_z, s[L]), "b_out": bias_gradient(d_z)}
    delta_s, shared = p["W_out"].T @ d_z, {"x": {}, "y": {}}  # dE/ds_L; the Eq. 7 terms, by level
    for l in range(L, 0, -1):  # down the shared stack
        delta_M = delta_pre_activation(delta_s, s[l])
        g[f"b_s.{l}"] = bias_gradient(delta_M)
        for m in "xy":
            g[f"W_{m}s.{l}"] = weight_gradient(delta_M, h[m][l])
            shared[m][l] = eq7_shared_path(p[f"W_{m}s.{l}"], delta_M)
        if l > 1:
            g[f"W_s.{l - 1}"] = weight_gradient(delta_M, s[l - 1])
            delta_s = eq6_shared_chain(p[f"W_s.{l - 1}"], delta_M)
    for m in "xy":  # down each tower
        delta_h = shared[m][L]  # the top of a tower has only the shared path
        for l in range(L, 1, -1):
            delta_M = delta_pre_activation(delta_h, h[m][l])
            g[f"W_{m}.{l - 1}"], g[f"b_{m}.{l - 1}"] = weight_gradient(delta_M, h[m][l - 1]), bias_gradient(delta_M)
            delta_h = eq5_fork(eq2_modality_path(p[f"W_{m}.{l - 1}"], delta_M), shared[m][l - 1])
    return g


def loss_and_grads(p, x, y, labels):
    """Mean categorical cross-entropy of a batch and the gradient of every parameter."""
    z, cache = forward(p, x, y)
    z = z - z.max(axis=0)  # shifted, so that exp cannot overflow
    log_prob = z - np.log(np.exp(z).sum(axis=0))
    columns = np.arange(labels.size)
    d_z = np.exp(log_prob)
    d_z[labels, columns] -= 1  # dE/dz = softmax(z) - onehot(labels), over N
    return -log_prob[labels, columns].mean(), backward(p, cache, d_z / labels.size)
