r"""EMF, IMF and DMF: three ways to fuse two modality networks, one code path.

The model family
----------------
Two modalities :math:`x` and :math:`y`. Each has a *tower* of sigmoid layers with sizes
``x_dims = (d_1, ..., d_L)``, where ``d_1`` is the input size (Eq. 4 plus a bias):

.. math:: h^x_1 = x, \qquad h^x_{l+1} = f(W^x_l h^x_l + b^x_l),

and likewise for :math:`y`. The *shared* layers have sizes ``shared_dims = (e_1, ..., e_L)``.
The three models differ only in which shared layers exist and what feeds them:

=====  ======================  ====================================  ===========================
model  shared layers           fed by the towers at level             fed by the shared layer below
=====  ======================  ====================================  ===========================
DMF    :math:`s_1 ... s_L`     every level :math:`l = 1..L` (Eq. 3)   yes, :math:`W^s_{l-1} s_{l-1}`
IMF    :math:`s_L` only        the top, :math:`l = L` (Eq. 1)         --
EMF    :math:`s_1 ... s_L`     the inputs, :math:`l = 1`              yes
=====  ======================  ====================================  ===========================

so that DMF's shared layer reads (Eq. 3, with a bias, and with the paper's typo :math:`w_l`
corrected to :math:`s_l`)

.. math:: s_l = f\big(W^{x\to s}_l h^x_l + W^{y\to s}_l h^y_l + W^s_{l-1} s_{l-1} + b^s_l\big)
          = f(M_l),

where a term is simply absent when its source does not exist (no :math:`s_0`; for IMF and EMF
the tower terms above or below their single fusion level). EMF needs no towers: its inputs
are concatenated in effect by :math:`s_1 = f(W^{x\to s}_1 x + W^{y\to s}_1 y + b^s_1)`.

The discriminative head (Fig. 3, left) is softmax regression on the top joint representation,
:math:`z = W_{out} s_L + b_{out}`, trained with the mean categorical cross-entropy.

Parameter names
---------------
``model.params`` maps names to the live arrays the model computes with (an optimizer updates
them in place). Every weight is stored in the paper's orientation ``(size out, size in)``:

==============  =========================  ========================================================
name            shape                      paper symbol
==============  =========================  ========================================================
``W_x.l``       ``(d^x_{l+1}, d^x_l)``     :math:`W^x_l`, tower layer :math:`h^x_l \to h^x_{l+1}`
``b_x.l``       ``(d^x_{l+1},)``           its bias (``W_y.l``, ``b_y.l`` likewise)
``W_xs.l``      ``(e_l, d^x_l)``           :math:`W^{x\to s}_l`, from :math:`h^x_l` into :math:`s_l`
``W_ys.l``      ``(e_l, d^y_l)``           :math:`W^{y\to s}_l`
``W_s.l``       ``(e_{l+1}, e_l)``         :math:`W^s_l`, from :math:`s_l` into :math:`s_{l+1}`
``b_s.l``       ``(e_l,)``                 :math:`b^s_l`, the one bias of :math:`s_l`
``W_out``       ``(n_classes, e_L)``       softmax regression on :math:`s_L`
``b_out``       ``(n_classes,)``
==============  =========================  ========================================================

Batches are rows: ``x`` is ``(N, d^x_1)``, ``h^x_l`` is ``(N, d^x_l)``, ``s_l`` is ``(N, e_l)``,
so the paper's :math:`W h` is ``h @ W.T`` here.

The backward pass
-----------------
Written by hand in :meth:`FusionNet.backward`, following Eqs. 5-8: gradients *add up at forks*.
The delta arriving at a tower layer :math:`h^x_l` is the sum of the modality path (from
:math:`h^x_{l+1}`) and the shared path (from :math:`s_l`, Eq. 7): :func:`eq5_fork`. The delta at
:math:`s_l` comes from :math:`s_{l+1}` (Eqs. 6 and 8): :func:`eq6_shared_chain`. For IMF and EMF
one of the two terms of the fork is absent at every layer, which is why they have "one path".
"""

from __future__ import annotations

import operator

import numpy as np

from .checks import check_dims, check_features, check_labels, check_positive_int, check_same_batch, check_seed
from .ops import fan_in_uniform, glorot_uniform, sigmoid, sigmoid_backward, softmax, softmax_cross_entropy

MODALITIES = ("x", "y")
_NO_LABELS = object()  # check_inputs was called without labels (prediction)


# --------------------------------------------------------------------------------------------
# The backward equations of the paper, one home each. The model's backward pass calls them by
# these names, so a test can replace one and watch the gradient check fail.
# --------------------------------------------------------------------------------------------


def eq2_modality_path(delta_M_next, W_m):
    r"""Modality path: Eq. 2, the first term of Eq. 5.

    Parameters
    ----------
    delta_M_next : ndarray, (N, d_{l+1})
        :math:`\partial\varepsilon/\partial M^x_{l+1}`, the delta at the pre-activation of
        :math:`h^x_{l+1} = f(M^x_{l+1})`.
    W_m : ndarray, (d_{l+1}, d_l)
        :math:`W^x_l`.

    Returns
    -------
    ndarray, (N, d_l)
        :math:`\frac{\partial\varepsilon}{\partial h^x_{l+1}} \frac{\partial h^x_{l+1}}{\partial h^x_l}`,
        in batch form ``delta_M_next @ W_m``.
    """
    return delta_M_next @ W_m


def eq7_shared_path(delta_M_l, W_ms):
    r"""Shared path: Eq. 7, the second term of Eq. 5.

    Parameters
    ----------
    delta_M_l : ndarray, (N, e_l)
        :math:`\partial\varepsilon/\partial M_l
        = \partial\varepsilon/\partial s_l \odot f(M_l) \odot (1 - f(M_l))`.
    W_ms : ndarray, (e_l, d_l)
        :math:`W^{x\to s}_l`.

    Returns
    -------
    ndarray, (N, d_l)
        :math:`\frac{\partial\varepsilon}{\partial s_l}\frac{\partial s_l}{\partial h^x_l}`,
        in batch form ``delta_M_l @ W_ms``.

    Notes
    -----
    The paper writes :math:`W^{s\to x}_l f(M_l)(1 - f(M_l))`: :math:`W^{s\to x}_l` is the
    transpose of :math:`W^{x\to s}_l` (no separate weight exists) and the product with
    :math:`f(M_l)(1-f(M_l))` is elementwise, applied before the matrix product.
    """
    return delta_M_l @ W_ms


def eq6_shared_chain(delta_M_next, W_s):
    r"""Delta at a shared layer from the one above: Eq. 6 with Eq. 8.

    Parameters
    ----------
    delta_M_next : ndarray, (N, e_{l+1})
        :math:`\partial\varepsilon/\partial M_{l+1}
        = \partial\varepsilon/\partial s_{l+1} \odot f(M_{l+1}) \odot (1 - f(M_{l+1}))`.
    W_s : ndarray, (e_{l+1}, e_l)
        :math:`W^s_l`.

    Returns
    -------
    ndarray, (N, e_l)
        :math:`\frac{\partial\varepsilon}{\partial s_l}
        = \frac{\partial\varepsilon}{\partial s_{l+1}}\frac{\partial s_{l+1}}{\partial s_l}`,
        in batch form ``delta_M_next @ W_s``.

    Notes
    -----
    Eq. 8 writes :math:`(W^s_l)^T f(M_{l+1})(1 - f(M_{l+1}))`; the product with
    :math:`f(M_{l+1})(1-f(M_{l+1}))` is elementwise, and with rows as samples the transpose
    moves to the other side: :math:`(W^T \delta)^T = \delta^T W`.
    """
    return delta_M_next @ W_s


def eq5_fork(modality_path, shared_path):
    r"""Eq. 5: the delta at :math:`h^x_l` is the sum of what arrives along each path.

    .. math:: \frac{\partial\varepsilon}{\partial h^x_l}
              = \underbrace{\frac{\partial\varepsilon}{\partial h^x_{l+1}}
                \frac{\partial h^x_{l+1}}{\partial h^x_l}}_{\text{modality path (Eq. 2)}}
              + \underbrace{\frac{\partial\varepsilon}{\partial s_l}
                \frac{\partial s_l}{\partial h^x_l}}_{\text{shared path (Eq. 7)}}

    Parameters
    ----------
    modality_path, shared_path : ndarray (N, d_l) or None
        The two terms; ``None`` where the path does not exist (the top of a tower has no
        modality path, so EMF's input layer, its only tower layer, has none; IMF's lower layers
        have no shared path).

    Returns
    -------
    ndarray, (N, d_l)
        Their sum: gradients add up at forks.
    """
    if modality_path is None:
        return shared_path
    if shared_path is None:
        return modality_path
    return modality_path + shared_path


def pre_activation(terms, b):
    """:math:`M = \\sum_k W_k a_k + b` in batch form, for a list of ``(a_k (N, d_k), W_k (e, d_k))``;
    returns a new ``(N, e)`` array."""
    (a, W), *rest = terms
    M = a @ W.T
    for a, W in rest:
        M += a @ W.T
    M += b
    return M


def _sigmoid_layer(terms, b):
    """:math:`f(\\sum_k W_k a_k + b)` in batch form (see :func:`pre_activation`)."""
    M = pre_activation(terms, b)
    return sigmoid(M, out=M)


#: The initializations: ``"glorot"``, Glorot/Xavier uniform with the fan-in summed over every
#: block feeding a layer and zero biases (the default); ``"fan_in"``, every block uniform in
#: :math:`\pm 1/\sqrt{d}` for its own input size :math:`d` (PyTorch's default for a linear layer),
#: and the bias the sum of one such draw per block (what a sum of linear layers gives).
INITS = ("glorot", "fan_in")


def check_init(init):
    """Return ``init`` if it names one of :data:`INITS`, else raise ValueError."""
    if not isinstance(init, str) or init not in INITS:
        raise ValueError(f"init: expected one of {list(INITS)}, got {init!r}")
    return init


def add_layer(params, rng, blocks, bias_name, size_out, dtype, init="glorot"):
    """Add one layer's initialized weight blocks and bias to ``params``.

    Parameters
    ----------
    params : dict
        Receives ``params[name]`` ``(size_out, size_in)`` for each block and ``params[bias_name]``.
    rng : numpy.random.Generator
    blocks : list of ``(name, size_in)``
        The blocks feeding the layer; their total size is the Glorot fan-in.
    bias_name : str
    size_out : int
    dtype : numpy dtype
    init : {"glorot", "fan_in"}
        See :data:`INITS`.
    """
    if init == "glorot":
        fan_in = sum(size_in for _, size_in in blocks)
        for name, size_in in blocks:
            params[name] = glorot_uniform(rng, fan_in, size_out, (size_out, size_in), dtype)
        params[bias_name] = np.zeros(size_out, dtype=dtype)
        return
    bias = np.zeros(size_out, dtype=dtype)
    for name, size_in in blocks:
        params[name] = fan_in_uniform(rng, size_in, (size_out, size_in), dtype)
        bias += fan_in_uniform(rng, size_in, (size_out,), dtype)
    params[bias_name] = bias


def _affine_backward(delta_M, a):
    """Weight gradient ``delta_M.T @ a`` (e, d) and bias gradient (e,) of ``M = a @ W.T + b``."""
    return delta_M.T @ a, delta_M.sum(axis=0)


class FusionNet:
    r"""Common code of :class:`EMF`, :class:`IMF` and :class:`DMF` (see the module docstring).

    A subclass only says which levels have a shared layer and at which levels the towers feed
    it; the forward and backward passes are the same code for all three.

    Parameters
    ----------
    x_dims, y_dims : sequence of int, length L
        Tower sizes ``(d_1, ..., d_L)``; ``d_1`` is the input size of that modality.
    shared_dims : sequence of int, length L
        Shared layer sizes ``(e_1, ..., e_L)``.
    n_classes : int
        Number of classes of the softmax head (at least 2).
    seed : int
        Seeds the initialization.
    dtype : {numpy.float32, numpy.float64}
        Dtype of parameters and computation: float32 for training, float64 for gradient checks.
    init : {"glorot", "fan_in"}
        The initialization (:data:`INITS`): Glorot/Xavier uniform with zero biases (the
        default, the committed results'), or uniform in :math:`\pm 1/\sqrt{\text{fan\_in}}`
        per block, biases too.

    Attributes
    ----------
    params : dict of str to ndarray
        The live parameter arrays, named as in the module docstring.
    shared_levels : tuple of int
        Levels l (1-based, as in the paper) that have a shared layer :math:`s_l`.
    fusion_levels : tuple of int
        Levels l at which :math:`h^x_l` and :math:`h^y_l` feed :math:`s_l`.
    tower_depth : int
        Number of tower layers computed per modality (:math:`h_1 .. h_{L_h}`, :math:`L_h` in the
        derivations), the highest fusion level.
    """

    name = "fusion"

    @staticmethod
    def levels(L):
        """Return ``(shared_levels, fusion_levels)`` for a model with L levels."""
        raise NotImplementedError

    def __init__(self, x_dims, y_dims, shared_dims, n_classes, *, seed=0, dtype=np.float32, init="glorot"):
        self.dims = {"x": check_dims("x_dims", x_dims), "y": check_dims("y_dims", y_dims)}
        self.shared_dims = check_dims("shared_dims", shared_dims)
        self.L = len(self.shared_dims)
        for m in MODALITIES:
            if len(self.dims[m]) != self.L:
                raise ValueError(
                    f"{m}_dims: expected {self.L} layer sizes, one per shared layer "
                    f"(shared_dims={self.shared_dims}), got {len(self.dims[m])}: {self.dims[m]}"
                )
        try:
            self.n_classes = operator.index(n_classes)
        except TypeError:
            raise ValueError(f"n_classes: expected an integer, got {n_classes!r}") from None
        if self.n_classes < 2:
            raise ValueError(f"n_classes: expected at least 2 classes, got {self.n_classes}")
        try:
            self.dtype = np.dtype(dtype)
        except TypeError:
            raise ValueError(f"dtype: expected float32 or float64, got {dtype!r}") from None
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype: expected float32 or float64, got {self.dtype}")
        self.seed = check_seed(seed)
        self.init = check_init(init)
        self.shared_levels, self.fusion_levels = (tuple(v) for v in self.levels(self.L))
        self.tower_depth = max(self.fusion_levels)
        self.params = self._init_params(np.random.default_rng(seed))

    # ---------------------------------------------------------------- construction

    def _layer_inputs(self, l):
        """The blocks feeding shared layer l: list of ``(weight name, input size)``."""
        blocks = []
        if l in self.fusion_levels:
            blocks += [(f"W_{m}s.{l}", self.dims[m][l - 1]) for m in MODALITIES]
        if l - 1 in self.shared_levels:
            blocks.append((f"W_s.{l - 1}", self.shared_dims[l - 2]))
        return blocks

    def _init_params(self, rng):
        params = {}
        for m in MODALITIES:
            d = self.dims[m]
            for l in range(1, self.tower_depth):
                add_layer(params, rng, [(f"W_{m}.{l}", d[l - 1])], f"b_{m}.{l}", d[l], self.dtype, self.init)
        for l in self.shared_levels:
            add_layer(params, rng, self._layer_inputs(l), f"b_s.{l}", self.shared_dims[l - 1], self.dtype, self.init)
        add_layer(params, rng, [("W_out", self.shared_dims[-1])], "b_out", self.n_classes, self.dtype, self.init)
        return params

    @property
    def n_params(self):
        """Total number of scalar parameters."""
        return sum(p.size for p in self.params.values())

    def config(self):
        """The constructor arguments as a JSON-serializable dict (for checkpoints)."""
        return {
            "model": self.name,
            "x_dims": list(self.dims["x"]),
            "y_dims": list(self.dims["y"]),
            "shared_dims": list(self.shared_dims),
            "n_classes": self.n_classes,
            "seed": self.seed,
            "dtype": self.dtype.name,
            "init": self.init,
        }

    def astype(self, dtype):
        """A copy of this model with parameters converted to ``dtype``."""
        twin = type(self)(self.dims["x"], self.dims["y"], self.shared_dims, self.n_classes,
                          seed=self.seed, dtype=dtype, init=self.init)
        twin.params = {k: v.astype(dtype) for k, v in self.params.items()}
        return twin

    def __repr__(self):
        return (f"{type(self).__name__}(x_dims={self.dims['x']}, y_dims={self.dims['y']}, "
                f"shared_dims={self.shared_dims}, n_classes={self.n_classes}, "
                f"dtype={self.dtype.name}; {self.n_params:,} parameters)")

    # ---------------------------------------------------------------- forward

    def check_inputs(self, x, y, labels=_NO_LABELS):
        """Validate and convert a batch: ``(x, y)``, or ``(x, y, labels)`` when ``labels`` is
        passed (``None`` included, which is refused); see :mod:`dmf_numpy.core.checks` for the errors."""
        x = check_features("x", x, self.dims["x"][0], self.dtype)
        y = check_features("y", y, self.dims["y"][0], self.dtype)
        check_same_batch(x, y)
        if labels is _NO_LABELS:
            return x, y
        return x, y, check_labels(labels, x.shape[0], self.n_classes)

    def forward_joint(self, x, y):
        r"""The towers and the shared stack on a validated batch: Eqs. 4 and 3 (Eq. 1 for IMF).

        Parameters
        ----------
        x : ndarray, (N, d^x_1)
        y : ndarray, (N, d^y_1)

        Returns
        -------
        s_L : ndarray, (N, e_L)
            The top joint representation.
        cache : tuple ``(h, s)``
            ``h[m][l]`` is :math:`h^m_l`, ``(N, d^m_l)``, for ``l = 1..tower_depth``;
            ``s[l]`` is :math:`s_l`, ``(N, e_l)``, for ``l`` in ``shared_levels``.
        """
        p = self.params
        h = {"x": {1: x}, "y": {1: y}}
        for m in MODALITIES:
            for l in range(1, self.tower_depth):
                # Eq. 4: h^m_{l+1} = f(W^m_l h^m_l + b^m_l)
                h[m][l + 1] = _sigmoid_layer([(h[m][l], p[f"W_{m}.{l}"])], p[f"b_{m}.{l}"])
        s = {}
        for l in self.shared_levels:
            # Eq. 3: s_l = f(W^{x->s}_l h^x_l + W^{y->s}_l h^y_l + W^s_{l-1} s_{l-1} + b^s_l)
            # (Eq. 1 for IMF's single shared layer; EMF's tower terms stop at l = 1)
            terms = []
            if l in self.fusion_levels:
                terms += [(h[m][l], p[f"W_{m}s.{l}"]) for m in MODALITIES]
            if l - 1 in s:
                terms.append((s[l - 1], p[f"W_s.{l - 1}"]))
            s[l] = _sigmoid_layer(terms, p[f"b_s.{l}"])
        return s[self.L], (h, s)

    def forward(self, x, y):
        r"""Forward pass on a validated batch: :meth:`forward_joint` (Eqs. 4 and 3), then the softmax head.

        Returns
        -------
        scores : ndarray, (N, n_classes)
            :math:`z = s_L W_{out}^T + b_{out}`.
        cache : tuple ``(h, s)``
            As in :meth:`forward_joint`.
        """
        s_L, cache = self.forward_joint(x, y)
        return pre_activation([(s_L, self.params["W_out"])], self.params["b_out"]), cache

    # ---------------------------------------------------------------- backward

    def backward(self, d_scores, cache, *, wrt_inputs=False, paths=None):
        r"""Backward through the softmax head, then :meth:`backward_joint` (Eqs. 5-8).

        Parameters
        ----------
        d_scores : ndarray, (N, n_classes)
            :math:`\partial\varepsilon/\partial z`.
        cache : tuple
            From :meth:`forward`.
        wrt_inputs, paths
            As in :meth:`backward_joint`.

        Returns
        -------
        grads : dict of str to ndarray
            Same keys and shapes as :attr:`params`.
        input_grads : dict
            As in :meth:`backward_joint`.
        """
        s_L = cache[1][self.L]
        # The head: z = s_L W_out^T + b_out.
        W_out_grad, b_out_grad = _affine_backward(d_scores, s_L)
        grads, input_grads = self.backward_joint(d_scores @ self.params["W_out"], cache,
                                                 wrt_inputs=wrt_inputs, paths=paths)
        grads["W_out"], grads["b_out"] = W_out_grad, b_out_grad
        return grads, input_grads

    def backward_joint(self, delta_s_L, cache, *, wrt_inputs=False, paths=None):
        r"""Multi-path backpropagation (Eqs. 5-8) from the top joint representation down, by hand.

        Parameters
        ----------
        delta_s_L : ndarray, (N, e_L)
            :math:`\partial\varepsilon/\partial s_L`, from the softmax head (:meth:`backward`)
            or from a decoder (:class:`dmf_numpy.core.generative.GenerativeDMF`).
        cache : tuple
            From :meth:`forward_joint`.
        wrt_inputs : bool
            Also return :math:`\partial\varepsilon/\partial x` and :math:`\partial\varepsilon/\partial y`
            (one extra matrix product per modality, skipped in training).
        paths : dict, optional
            If given, filled with the two terms of the fork at every tower layer:
            ``paths["h_x.l"] = {"modality": ..., "shared": ..., "total": ...}`` (each ``(N, d^x_l)``
            or ``None`` where the path does not exist), and with the delta at every shared layer,
            which has a single source (the shared stack above, Eq. 6, or the head at l = L):
            ``paths["s.l"] = {"modality": None, "shared": delta_s, "total": delta_s}``. Used by
            :mod:`dmf_numpy.core.learning_paths`.

        Returns
        -------
        grads : dict of str to ndarray
            The keys and shapes of :attr:`params` but the head's ``W_out`` and ``b_out``.
        input_grads : dict
            ``{"x": (N, d^x_1), "y": (N, d^y_1)}`` if ``wrt_inputs``, else empty.
        """
        p = self.params
        h, s = cache
        grads = {}
        to_inputs = wrt_inputs or paths is not None  # carry deltas all the way down to x and y?
        delta_s = {self.L: delta_s_L}  # d eps / d s_L

        # Down the shared stack. Each s_l feeds only s_{l+1} (or the head), so its delta has a
        # single source; the forks are at the tower layers, collected here for Eq. 5.
        shared_path = {"x": {}, "y": {}}  # shared_path[m][l]: Eq. 7 term arriving at h^m_l
        for l in reversed(self.shared_levels):
            if paths is not None:
                paths[f"s.{l}"] = {"modality": None, "shared": delta_s[l], "total": delta_s[l]}
            delta_M = sigmoid_backward(delta_s[l], s[l])  # d eps / d M_l
            grads[f"b_s.{l}"] = delta_M.sum(axis=0)
            if l in self.fusion_levels:
                for m in MODALITIES:
                    grads[f"W_{m}s.{l}"] = delta_M.T @ h[m][l]
                    if l > 1 or to_inputs:
                        shared_path[m][l] = eq7_shared_path(delta_M, p[f"W_{m}s.{l}"])  # Eq. 7
            if l - 1 in s:
                grads[f"W_s.{l - 1}"] = delta_M.T @ s[l - 1]
                delta_s[l - 1] = eq6_shared_chain(delta_M, p[f"W_s.{l - 1}"])  # Eqs. 6 and 8

        # Down each tower, x and y through the same code.
        input_grads = {}
        for m in MODALITIES:
            modality_path = None  # nothing arrives from above the top of the tower
            for l in range(self.tower_depth, 0, -1):
                # Eq. 5: the fork at h^m_l, modality path + shared path.
                delta_h = eq5_fork(modality_path, shared_path[m].get(l))
                if paths is not None:
                    paths[f"h_{m}.{l}"] = {"modality": modality_path,
                                           "shared": shared_path[m].get(l), "total": delta_h}
                if l == 1:
                    break
                # Through h^m_l = f(W^m_{l-1} h^m_{l-1} + b^m_{l-1}) (Eq. 4).
                delta_M = sigmoid_backward(delta_h, h[m][l])
                grads[f"W_{m}.{l - 1}"], grads[f"b_{m}.{l - 1}"] = _affine_backward(delta_M, h[m][l - 1])
                if l > 2 or to_inputs:
                    modality_path = eq2_modality_path(delta_M, p[f"W_{m}.{l - 1}"])  # Eq. 2
                else:
                    modality_path = None
            if wrt_inputs:
                input_grads[m] = delta_h
        return grads, input_grads

    # ---------------------------------------------------------------- public API

    def loss(self, x, y, labels):
        """Mean cross-entropy of a batch, without gradients. Shapes as in :meth:`loss_and_grads`."""
        x, y, labels = self.check_inputs(x, y, labels)
        scores, _ = self.forward(x, y)
        return softmax_cross_entropy(scores, labels)[0]

    def loss_and_grads(self, x, y, labels, *, wrt_inputs=False):
        """Loss and gradients of one batch.

        Parameters
        ----------
        x : array_like, (N, d^x_1)
        y : array_like, (N, d^y_1)
        labels : array_like of int, (N,)
            Class indices in ``[0, n_classes)``.
        wrt_inputs : bool
            Also return the gradients with respect to ``x`` and ``y``.

        Returns
        -------
        loss : float
            Mean categorical cross-entropy over the batch.
        grads : dict of str to ndarray
            Exactly the keys and shapes of :attr:`params`.
        input_grads : dict, only if ``wrt_inputs``
            ``{"x": (N, d^x_1), "y": (N, d^y_1)}``.

        Raises
        ------
        ValueError
            On wrong feature sizes, different batch sizes, NaN/inf, empty batches, or labels that
            are not integers in range; the message names the argument.
        """
        x, y, labels = self.check_inputs(x, y, labels)
        scores, cache = self.forward(x, y)
        loss, d_scores = softmax_cross_entropy(scores, labels)
        grads, input_grads = self.backward(d_scores, cache, wrt_inputs=wrt_inputs)
        if wrt_inputs:
            return loss, grads, input_grads
        return loss, grads

    def predict_proba(self, x, y, *, batch_size=1000):
        """Class probabilities, computed ``batch_size`` samples at a time so memory stays bounded.

        Parameters
        ----------
        x : array_like, (N, d^x_1)
        y : array_like, (N, d^y_1)
        batch_size : int

        Returns
        -------
        ndarray, (N, n_classes)
        """
        x, y = self.check_inputs(x, y)
        batch_size = check_positive_int("batch_size", batch_size)
        proba = np.empty((x.shape[0], self.n_classes), dtype=self.dtype)
        for start in range(0, x.shape[0], batch_size):
            batch = slice(start, start + batch_size)
            proba[batch] = softmax(self.forward(x[batch], y[batch])[0])
        return proba

    def predict(self, x, y, *, batch_size=1000):
        """Predicted class indices, ``(N,)`` int64."""
        return self.predict_proba(x, y, batch_size=batch_size).argmax(axis=1)


class DMF(FusionNet):
    """Dense Multimodal Fusion: a shared layer at every level, fed by both towers and by the
    shared layer below (Eq. 3). See :class:`FusionNet` for the parameters."""

    name = "dmf"

    @staticmethod
    def levels(L):
        return range(1, L + 1), range(1, L + 1)


class IMF(FusionNet):
    """Intermediate Multimodal Fusion: two towers joined by one shared layer on top (Eq. 1,
    the "green path" of Fig. 2). Only ``shared_dims[-1]`` is used. See :class:`FusionNet`."""

    name = "imf"

    @staticmethod
    def levels(L):
        return (L,), (L,)


class EMF(FusionNet):
    """Early Multimodal Fusion: the inputs fused at the bottom, then a stack of shared layers
    (the "yellow path" of Fig. 2). Only ``x_dims[0]`` and ``y_dims[0]`` are used: no towers.
    See :class:`FusionNet`."""

    name = "emf"

    @staticmethod
    def levels(L):
        return range(1, L + 1), (1,)


MODELS = {cls.name: cls for cls in (EMF, IMF, DMF)}


def build_model(config):
    """Rebuild a model from :meth:`FusionNet.config` (parameters freshly initialized).

    Raises
    ------
    ValueError
        If ``config["model"]`` is not one of ``emf``, ``imf``, ``dmf``.
    """
    try:
        cls = MODELS[config["model"]]
    except KeyError:
        raise ValueError(f"model: expected one of {sorted(MODELS)}, got {config.get('model')!r}") from None
    return cls(config["x_dims"], config["y_dims"], config["shared_dims"], config["n_classes"],
               seed=config.get("seed", 0), dtype=config.get("dtype", "float32"), init=config.get("init", "glorot"))
