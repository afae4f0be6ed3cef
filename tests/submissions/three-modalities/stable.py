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


def sigmoid(M):
    """The sigmoid, computed without overflow for large negative M."""
    out = np.empty_like(M)
    positive = M >= 0
    out[positive] = 1.0 / (1.0 + np.exp(-M[positive]))
    e = np.exp(M[~positive])
    out[~positive] = e / (1.0 + e)
    return out


def forward(p, inputs):
    """Scores (C, N) and the cache: the activations of every level, in lists."""
    L = depth(p)
    towers = {m: [None, inputs[m]] for m in MODALITIES}  # towers[m][l] = h^m_l
    shared = [None]
    for l in range(1, L + 1):
        if l > 1:
            for m in MODALITIES:
                towers[m].append(sigmoid(np.einsum("ji,in->jn", p[f"W_{m}.{l - 1}"], towers[m][l - 1])
                                         + p[f"b_{m}.{l - 1}"][:, np.newaxis]))
        M = np.zeros((p[f"b_s.{l}"].size, inputs["x"].shape[1]), dtype=np.float64)
        for m in MODALITIES:
            M += np.einsum("ji,in->jn", p[f"W_{m}s.{l}"], towers[m][l])
        if l > 1:
            M += np.einsum("ji,in->jn", p[f"W_s.{l - 1}"], shared[l - 1])
        M += p[f"b_s.{l}"][:, np.newaxis]
        shared.append(sigmoid(M))
    return np.einsum("cj,jn->cn", p["W_out"], shared[L]) + p["b_out"][:, np.newaxis], (towers, shared)


def loss_and_grads(p, inputs, labels):
    """Loss and gradients; the deltas of the towers are gathered with += at the forks."""
    N, L = len(labels), depth(p)
    scores, (towers, shared) = forward(p, inputs)
    onehot = np.eye(scores.shape[0])[:, list(labels)]
    shifted = scores - np.max(scores, axis=0, keepdims=True)
    log_softmax = shifted - np.log(np.sum(np.exp(shifted), axis=0, keepdims=True))
    loss = float(-np.sum(onehot * log_softmax) / N)
    d_scores = (np.exp(log_softmax) - onehot) / N

    grads = {name: np.zeros(value.shape) for name, value in p.items()}
    grads["W_out"] += np.einsum("cn,jn->cj", d_scores, shared[L])
    grads["b_out"] += d_scores.sum(axis=1)
    delta_tower = {m: [np.zeros_like(a) if a is not None else None for a in towers[m]] for m in MODALITIES}
    delta = p["W_out"].T @ d_scores
    for l in range(L, 0, -1):
        delta = delta * shared[l] * (1 - shared[l])
        grads[f"b_s.{l}"] += delta.sum(axis=1)
        for m in MODALITIES:
            grads[f"W_{m}s.{l}"] += np.einsum("jn,in->ji", delta, towers[m][l])
            delta_tower[m][l] += p[f"W_{m}s.{l}"].T @ delta
        if l > 1:
            grads[f"W_s.{l - 1}"] += np.einsum("jn,in->ji", delta, shared[l - 1])
            delta = p[f"W_s.{l - 1}"].T @ delta
    for m in MODALITIES:
        for l in range(L, 1, -1):
            d_pre = delta_tower[m][l] * towers[m][l] * (1 - towers[m][l])
            grads[f"W_{m}.{l - 1}"] += d_pre @ towers[m][l - 1].T
            grads[f"b_{m}.{l - 1}"] += d_pre.sum(axis=1)
            delta_tower[m][l - 1] += p[f"W_{m}.{l - 1}"].T @ d_pre
    return loss, grads
