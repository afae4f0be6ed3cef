# dmf-numpy exercise: backward-full
r"""Dense Multimodal Fusion on one page: the whole backward pass is yours to write.

The paper's orientation: column vectors, one column per sample, so the input x is (d^x_1, N), a
weight W is (size out, size in) and a bias b is 1-D, (size out,). For m in "x", "y":

    h^m_{l+1} = f(W^m_l h^m_l + b^m_l),                                    l = 1..L-1   (Eq. 4)
    s_l       = f(W^{x->s}_l h^x_l + W^{y->s}_l h^y_l + W^s_{l-1} s_{l-1} + b^s_l),  l = 1..L   (Eq. 3)
    z         = W_out s_L + b_out                  (the scores; no s_0 term at l = 1)

f is the sigmoid; f'(M) = f(M) (1 - f(M)). forward, init_params and loss_and_grads are given;
write backward. INSTRUCTIONS.md says what it takes, what it returns, and how to grade it.
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


def backward(p, cache, d_z):
    """Every gradient of the loss, from dE/dz (C, N): multi-path backpropagation, Eqs. 5-8."""
    (h, s), L = cache, sum(name.startswith("b_s.") for name in p)
    g = {"W_out": d_z @ s[L].T, "b_out": d_z.sum(axis=1)}
    delta_s = p["W_out"].T @ d_z  # dE/ds_L
    shared_path = {"x": {}, "y": {}}  # Eq. 7: what reaches h^m_l from s_l
    for l in range(L, 0, -1):  # down the shared stack
        delta_M = delta_s * s[l] * (1 - s[l])
        g[f"b_s.{l}"] = delta_M.sum(axis=1)
        for m in "xy":
            g[f"W_{m}s.{l}"] = delta_M @ h[m][l].T
            shared_path[m][l] = p[f"W_{m}s.{l}"].T @ delta_M
        if l > 1:
            g[f"W_s.{l - 1}"] = delta_M @ s[l - 1].T
            delta_s = p[f"W_s.{l - 1}"].T @ delta_M  # Eqs. 6 and 8
    for m in "xy":  # down each tower
        delta_h = shared_path[m][L]  # the top of a tower feeds only s_L
        for l in range(L, 1, -1):
            delta_M = delta_h * h[m][l] * (1 - h[m][l])
            g[f"W_{m}.{l - 1}"] = delta_M @ h[m][l - 1].T
            g[f"b_{m}.{l - 1}"] = delta_M.sum(axis=1)
            delta_h = p[f"W_{m}.{l - 1}"].T @ delta_M + shared_path[m][l - 1]  # Eq. 5: both paths add up
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
