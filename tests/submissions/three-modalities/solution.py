# dmf-numpy exercise: three-modalities
r"""Dense Multimodal Fusion with three modalities, x, y and z: forward and backward are yours
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


def f(M):
    """The sigmoid of the paper."""
    return 1 / (1 + np.exp(-M))


def depth(params):
    """L, the number of shared levels: the number of ``b_s.l`` among the parameters."""
    return sum(name.startswith("b_s.") for name in params)


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


def forward(p, inputs):
    """The scores of a batch: DMF's forward pass with the three towers of MODALITIES.

    Returns ``(scores, cache)``: the scores (C, N) and the cache ``(h, s)``, ``h[m][l]`` = h^m_l
    and ``s[l]`` = s_l (``s[0]`` is None).
    """
    L = depth(p)
    h = {m: {1: inputs[m]} for m in MODALITIES}
    for m in MODALITIES:
        for l in range(1, L):
            h[m][l + 1] = f(p[f"W_{m}.{l}"] @ h[m][l] + p[f"b_{m}.{l}"][:, None])  # Eq. 4
    s = {0: None}
    for l in range(1, L + 1):
        M = sum(p[f"W_{m}s.{l}"] @ h[m][l] for m in MODALITIES) + p[f"b_s.{l}"][:, None]
        if l > 1:
            M = M + p[f"W_s.{l - 1}"] @ s[l - 1]
        s[l] = f(M)  # Eq. 3
    return p["W_out"] @ s[L] + p["b_out"][:, None], (h, s)


def loss_and_grads(p, inputs, labels):
    """The mean cross-entropy of a batch and the gradient of every parameter (Eqs. 5-8)."""
    labels = np.asarray(labels)
    N, L = labels.size, depth(p)
    scores, (h, s) = forward(p, inputs)
    z = scores - scores.max(axis=0)
    log_prob = z - np.log(np.exp(z).sum(axis=0))
    loss = -log_prob[labels, np.arange(N)].mean()
    d_z = np.exp(log_prob)
    d_z[labels, np.arange(N)] -= 1
    d_z /= N  # dE/dscores

    g = {"W_out": d_z @ s[L].T, "b_out": d_z.sum(axis=1)}
    delta_s = p["W_out"].T @ d_z  # dE/ds_L
    shared_path = {m: {} for m in MODALITIES}  # Eq. 7: what reaches h^m_l from s_l
    for l in range(L, 0, -1):
        delta_M = delta_s * s[l] * (1 - s[l])
        g[f"b_s.{l}"] = delta_M.sum(axis=1)
        for m in MODALITIES:
            g[f"W_{m}s.{l}"] = delta_M @ h[m][l].T
            shared_path[m][l] = p[f"W_{m}s.{l}"].T @ delta_M
        if l > 1:
            g[f"W_s.{l - 1}"] = delta_M @ s[l - 1].T
            delta_s = p[f"W_s.{l - 1}"].T @ delta_M  # Eqs. 6 and 8
    for m in MODALITIES:
        delta_h = shared_path[m][L]  # the top of a tower feeds only s_L
        for l in range(L, 1, -1):
            delta_M = delta_h * h[m][l] * (1 - h[m][l])
            g[f"W_{m}.{l - 1}"] = delta_M @ h[m][l - 1].T
            g[f"b_{m}.{l - 1}"] = delta_M.sum(axis=1)
            delta_h = p[f"W_{m}.{l - 1}"].T @ delta_M + shared_path[m][l - 1]  # Eq. 5: both paths add up
    return loss, g
