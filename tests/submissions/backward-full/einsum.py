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
    """DMF's backward pass with einsum, the deltas of every array gathered first (in place, +=,
    at the forks), the gradients after."""
    h, s = cache
    L = len(s) - 1
    delta_h = {m: {l: np.zeros_like(h[m][l]) for l in range(1, L + 1)} for m in ("x", "y")}
    delta_M_s, delta_M_h = {}, {"x": {}, "y": {}}
    delta_s = np.einsum("ck,cn->kn", p["W_out"], d_z)
    for l in range(L, 0, -1):
        delta_M_s[l] = delta_s * (s[l] - s[l] ** 2)
        for m in ("x", "y"):
            delta_h[m][l] += np.einsum("ki,kn->in", p["W_" + m + "s." + str(l)], delta_M_s[l])
        if l > 1:
            delta_s = np.einsum("ki,kn->in", p["W_s." + str(l - 1)], delta_M_s[l])
    for l in range(L, 1, -1):  # both towers, level by level
        for m in ("y", "x"):
            delta_M_h[m][l] = delta_h[m][l] * (h[m][l] - h[m][l] ** 2)
            delta_h[m][l - 1] += np.einsum("ki,kn->in", p["W_" + m + "." + str(l - 1)], delta_M_h[m][l])
    grads = {name: np.zeros_like(value) for name, value in p.items()}
    grads["W_out"] += np.einsum("cn,kn->ck", d_z, s[L])
    grads["b_out"] += np.einsum("cn->c", d_z)
    for l in range(1, L + 1):
        grads["b_s." + str(l)] += np.einsum("kn->k", delta_M_s[l])
        for m in ("x", "y"):
            grads["W_" + m + "s." + str(l)] += np.einsum("kn,in->ki", delta_M_s[l], h[m][l])
        if l > 1:
            grads["W_s." + str(l - 1)] += np.einsum("kn,in->ki", delta_M_s[l], s[l - 1])
            for m in ("x", "y"):
                grads["W_" + m + "." + str(l - 1)] += np.einsum("kn,in->ki", delta_M_h[m][l], h[m][l - 1])
                grads["b_" + m + "." + str(l - 1)] += delta_M_h[m][l].sum(axis=-1)
    return grads


def loss_and_grads(p, x, y, labels):
    """Mean categorical cross-entropy of a batch and the gradient of every parameter."""
    z, cache = forward(p, x, y)
    z = z - z.max(axis=0)  # shifted, so that exp cannot overflow
    log_prob = z - np.log(np.exp(z).sum(axis=0))
    columns = np.arange(labels.size)
    d_z = np.exp(log_prob)
    d_z[labels, columns] -= 1  # dE/dz = softmax(z) - onehot(labels), over N
    return -log_prob[labels, columns].mean(), backward(p, cache, d_z / labels.size)
