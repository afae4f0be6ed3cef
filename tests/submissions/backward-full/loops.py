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
    """DMF's backward pass one sample (one column) at a time, with outer products summed over
    the samples."""
    h, s = cache
    levels = [int(name[4:]) for name in p if name.startswith("b_s.")]
    L = max(levels)
    grads = {}
    for name in p:
        grads[name] = np.zeros(p[name].shape, dtype=np.float64)
    for n in range(d_z.shape[1]):
        dz = d_z[:, n]
        grads["W_out"] += np.outer(dz, s[L][:, n])
        grads["b_out"] += dz
        ds = p["W_out"].T.dot(dz)
        dh = {"x": None, "y": None}
        shared_paths = {}
        for l in range(L, 0, -1):
            a = s[l][:, n]
            dm = ds * a * (1.0 - a)
            grads[f"b_s.{l}"] += dm
            for m in ("x", "y"):
                grads[f"W_{m}s.{l}"] += np.outer(dm, h[m][l][:, n])
                shared_paths[(m, l)] = p[f"W_{m}s.{l}"].T.dot(dm)
            if l >= 2:
                grads[f"W_s.{l - 1}"] += np.outer(dm, s[l - 1][:, n])
                ds = p[f"W_s.{l - 1}"].T.dot(dm)
        for m in ("x", "y"):
            dh[m] = shared_paths[(m, L)]
            for l in range(L, 1, -1):
                a = h[m][l][:, n]
                dm = dh[m] * a * (1.0 - a)
                grads[f"W_{m}.{l - 1}"] += np.outer(dm, h[m][l - 1][:, n])
                grads[f"b_{m}.{l - 1}"] += dm
                dh[m] = p[f"W_{m}.{l - 1}"].T.dot(dm)
                dh[m] += shared_paths[(m, l - 1)]
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
