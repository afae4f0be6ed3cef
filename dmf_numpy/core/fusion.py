"""EMF, IMF and DMF: three ways to fuse two modality networks, one code path.

Two towers of sigmoid layers, h^x_1 = x and h^x_{l+1} = f(W^x_l h^x_l + b^x_l) (Eq. 4), likewise
for y, feed a stack of shared layers and a softmax head z = W_out s_L + b_out:

    s_l = f(W^{x→s}_l h^x_l + W^{y→s}_l h^y_l + W^s_{l-1} s_{l-1} + b^s_l) = f(M_l)      (Eq. 3)

The models differ only in which terms exist: DMF has them all; IMF has one shared layer s_L, fed
by the tops of the towers (Eq. 1); EMF has s_1 .. s_L, with the inputs feeding s_1 (no towers).
Backward (Eqs. 5-8), gradients add up at forks: the delta at a tower layer h^x_l is the modality
path from h^x_{l+1} (Eq. 2) plus the shared path from s_l (Eq. 7); the delta at s_l comes from
s_{l+1} (Eqs. 6 and 8). For IMF and EMF one of the two terms is absent at every tower layer.

Samples are rows: x is (N, d^x_1), s_l is (N, e_l). Every weight is stored (size out, size in),
so the paper's W h is h @ W.T here and W^T δ is δ @ W. Parameters: W_x.l, b_x.l (tower x, layer
l to l+1; y likewise), W_xs.l, W_ys.l, W_s.l (from s_l into s_{l+1}), b_s.l, W_out, b_out.

The math, step by step, with every shape: derivations/01_notation.md (symbols and names),
02_forward.md, 03_backward.md and 04_single_path.md. The same model on one page, samples as
columns: dmf_numpy/core/one_page.py.
"""

from __future__ import annotations

import operator

import numpy as np

from .checks import check_dims, check_features, check_labels, check_positive_int, check_same_batch, check_seed
from .errors import UserError
from .ops import fan_in_uniform, glorot_uniform, sigmoid, sigmoid_backward, softmax, softmax_cross_entropy

MODALITIES = ("x", "y")
_NO_LABELS = object()  # check_inputs was called without labels (prediction)


# The backward equations, one home each, argument order (W, delta) as in one_page.py. The
# backward pass calls them by these names, so a test can replace one and watch gradcheck fail.

def eq2_modality_path(W_m, delta_M_next):
    """Eq. 2, the modality path: what reaches h^m_l from h^m_{l+1}, δ^M_{l+1} (N, d_{l+1}) @ W^m_l → (N, d_l)."""
    return delta_M_next @ W_m


def eq7_shared_path(W_ms, delta_M):
    """Eq. 7, the shared path: what reaches h^m_l from s_l, δ^M_l (N, e_l) @ W^{m→s}_l → (N, d_l)."""
    return delta_M @ W_ms


def eq6_shared_chain(W_s, delta_M_next):
    """Eqs. 6 and 8: ∂ε/∂s_l from s_{l+1}, δ^M_{l+1} (N, e_{l+1}) @ W^s_l → (N, e_l)."""
    return delta_M_next @ W_s


def eq5_fork(modality_path, shared_path):
    """Eq. 5: ∂ε/∂h^m_l = modality path (Eq. 2) + shared path (Eq. 7); a path that does not exist is None."""
    if modality_path is None:
        return shared_path
    if shared_path is None:
        return modality_path
    return modality_path + shared_path


def pre_activation(terms, b):
    """M = Σ_k W_k a_k + b in batch form, for terms [(a_k (N, d_k), W_k (e, d_k)), ...]: a new (N, e) array."""
    (a, W), *rest = terms
    M = a @ W.T
    for a, W in rest:
        M += a @ W.T
    M += b
    return M


def _sigmoid_layer(terms, b):
    """f(Σ_k W_k a_k + b) in batch form (see pre_activation)."""
    M = pre_activation(terms, b)
    return sigmoid(M, out=M)


def _affine_backward(delta_M, a):
    """Weight gradient delta_M.T @ a (e, d) and bias gradient (e,) of M = a @ W.T + b."""
    return delta_M.T @ a, delta_M.sum(axis=0)


class FusionNet:
    """Common code of EMF, IMF and DMF: a subclass only says which levels have a shared layer and
    at which levels the towers feed it (``levels``).

    FusionNet(x_dims, y_dims, shared_dims, n_classes, *, seed=0, dtype=np.float32, init="glorot")

    x_dims, y_dims: tower sizes (d_1, ..., d_L), d_1 the input size; shared_dims: (e_1, ..., e_L);
    n_classes >= 2; dtype float32 (training) or float64 (gradient checks); init: one of INITS.

    Attributes: params, the live arrays by name (see the module docstring); shared_levels, the
    levels l (1-based) with a shared layer s_l; fusion_levels, the levels where h^x_l and h^y_l
    feed s_l; tower_depth, the highest fusion level (tower layers h_1 .. h_tower_depth).
    """

    name = "fusion"

    @staticmethod
    def levels(L):
        """Return (shared_levels, fusion_levels) for a model with L levels."""
        raise NotImplementedError

    # ---------------------------------------------------------------- forward

    def forward_joint(self, x, y):
        """Eqs. 4 and 3 (Eq. 1 for IMF) on a validated batch x (N, d^x_1), y (N, d^y_1).

        Returns s_L (N, e_L) and the cache (h, s): h[m][l] is h^m_l (N, d^m_l) for l = 1 ..
        tower_depth, s[l] is s_l (N, e_l) for l in shared_levels.
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
        """forward_joint (Eqs. 4 and 3), then the head: scores z = s_L W_out^T + b_out (N, n_classes), cache."""
        s_L, cache = self.forward_joint(x, y)
        return pre_activation([(s_L, self.params["W_out"])], self.params["b_out"]), cache

    # ---------------------------------------------------------------- backward

    def backward(self, d_scores, cache, *, wrt_inputs=False, paths=None):
        """Back through the head from d_scores = ∂ε/∂z (N, n_classes), then backward_joint (Eqs. 5-8).

        Returns (grads, input_grads): grads has the keys and shapes of params.
        """
        s_L = cache[1][self.L]
        # The head: z = s_L W_out^T + b_out.
        W_out_grad, b_out_grad = _affine_backward(d_scores, s_L)
        grads, input_grads = self.backward_joint(d_scores @ self.params["W_out"], cache,
                                                 wrt_inputs=wrt_inputs, paths=paths)
        grads["W_out"], grads["b_out"] = W_out_grad, b_out_grad
        return grads, input_grads

    def backward_joint(self, delta_s_L, cache, *, wrt_inputs=False, paths=None):
        """Multi-path backpropagation (Eqs. 5-8) by hand, from delta_s_L = ∂ε/∂s_L (N, e_L), given
        by the head (backward) or a decoder (generative.GenerativeDMF); cache from forward_joint.

        Returns (grads, input_grads): grads, the keys and shapes of params but W_out and b_out;
        input_grads, {"x": ∂ε/∂x (N, d^x_1), "y": ∂ε/∂y} if wrt_inputs, else {}. If paths is a
        dict, it receives paths["h_x.l"] = {"modality", "shared", "total"} at every tower layer
        (the terms of Eq. 5, None where a path does not exist) and paths["s.l"] = {"modality":
        None, "shared": δ, "total": δ} at every shared layer (for learning_paths).
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
                        shared_path[m][l] = eq7_shared_path(p[f"W_{m}s.{l}"], delta_M)  # Eq. 7
            if l - 1 in s:
                grads[f"W_s.{l - 1}"] = delta_M.T @ s[l - 1]
                delta_s[l - 1] = eq6_shared_chain(p[f"W_s.{l - 1}"], delta_M)  # Eqs. 6 and 8

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
                    modality_path = eq2_modality_path(p[f"W_{m}.{l - 1}"], delta_M)  # Eq. 2
                else:
                    modality_path = None
            if wrt_inputs:
                input_grads[m] = delta_h
        return grads, input_grads

    # ---------------------------------------------------------------- construction

    def __init__(self, x_dims, y_dims, shared_dims, n_classes, *, seed=0, dtype=np.float32, init="glorot"):
        self.dims = {"x": check_dims("x_dims", x_dims), "y": check_dims("y_dims", y_dims)}
        self.shared_dims = check_dims("shared_dims", shared_dims)
        self.L = len(self.shared_dims)
        for m in MODALITIES:
            if len(self.dims[m]) != self.L:
                raise UserError(
                    f"{m}_dims: expected {self.L} layer sizes, one per shared layer "
                    f"(shared_dims={self.shared_dims}), got {len(self.dims[m])}: {self.dims[m]}"
                )
        try:
            self.n_classes = operator.index(n_classes)
        except TypeError:
            raise UserError(f"n_classes: expected an integer, got {n_classes!r}") from None
        if self.n_classes < 2:
            raise UserError(f"n_classes: expected at least 2 classes, got {self.n_classes}")
        try:
            self.dtype = np.dtype(dtype)
        except TypeError:
            raise UserError(f"dtype: expected float32 or float64, got {dtype!r}") from None
        if self.dtype not in (np.float32, np.float64):
            raise UserError(f"dtype: expected float32 or float64, got {self.dtype}")
        self.seed = check_seed(seed)
        self.init = check_init(init)
        self.shared_levels, self.fusion_levels = (tuple(v) for v in self.levels(self.L))
        self.tower_depth = max(self.fusion_levels)
        self.params = self._init_params(np.random.default_rng(seed))

    def _layer_inputs(self, l):
        """The blocks feeding shared layer l: list of (weight name, input size)."""
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
        return {"model": self.name, "x_dims": list(self.dims["x"]), "y_dims": list(self.dims["y"]),
                "shared_dims": list(self.shared_dims), "n_classes": self.n_classes, "seed": self.seed,
                "dtype": self.dtype.name, "init": self.init}

    def astype(self, dtype):
        """A copy of this model with parameters converted to dtype."""
        twin = type(self)(self.dims["x"], self.dims["y"], self.shared_dims, self.n_classes,
                          seed=self.seed, dtype=dtype, init=self.init)
        twin.params = {k: v.astype(dtype) for k, v in self.params.items()}
        return twin

    def __repr__(self):
        return (f"{type(self).__name__}(x_dims={self.dims['x']}, y_dims={self.dims['y']}, "
                f"shared_dims={self.shared_dims}, n_classes={self.n_classes}, "
                f"dtype={self.dtype.name}; {self.n_params:,} parameters)")

    # ---------------------------------------------------------------- public API

    def check_inputs(self, x, y, labels=_NO_LABELS):
        """Validate and convert a batch: (x, y), or (x, y, labels) when labels is passed (None
        included, which is refused); the errors are those of dmf_numpy.core.checks."""
        x = check_features("x", x, self.dims["x"][0], self.dtype)
        y = check_features("y", y, self.dims["y"][0], self.dtype)
        check_same_batch(x, y)
        if labels is _NO_LABELS:
            return x, y
        return x, y, check_labels(labels, x.shape[0], self.n_classes)

    def loss(self, x, y, labels):
        """Mean cross-entropy of a batch, without gradients. Shapes as in loss_and_grads."""
        x, y, labels = self.check_inputs(x, y, labels)
        scores, _ = self.forward(x, y)
        return softmax_cross_entropy(scores, labels)[0]

    def loss_and_grads(self, x, y, labels, *, wrt_inputs=False):
        """Mean cross-entropy of a batch x (N, d^x_1), y (N, d^y_1), labels (N,) in [0, n_classes),
        and its gradients.

        Returns (loss, grads), or (loss, grads, input_grads) if wrt_inputs: grads has exactly the
        keys and shapes of params, input_grads is {"x": (N, d^x_1), "y": (N, d^y_1)}. Raises
        ValueError, naming the argument, on wrong feature sizes, different batch sizes, NaN/inf,
        empty batches, or labels that are not integers in range.
        """
        x, y, labels = self.check_inputs(x, y, labels)
        scores, cache = self.forward(x, y)
        loss, d_scores = softmax_cross_entropy(scores, labels)
        grads, input_grads = self.backward(d_scores, cache, wrt_inputs=wrt_inputs)
        if wrt_inputs:
            return loss, grads, input_grads
        return loss, grads

    def predict_proba(self, x, y, *, batch_size=1000):
        """Class probabilities (N, n_classes), batch_size samples at a time so memory stays bounded."""
        x, y = self.check_inputs(x, y)
        batch_size = check_positive_int("batch_size", batch_size)
        proba = np.empty((x.shape[0], self.n_classes), dtype=self.dtype)
        for start in range(0, x.shape[0], batch_size):
            batch = slice(start, start + batch_size)
            proba[batch] = softmax(self.forward(x[batch], y[batch])[0])
        return proba

    def predict(self, x, y, *, batch_size=1000):
        """Predicted class indices, (N,) int64."""
        return self.predict_proba(x, y, batch_size=batch_size).argmax(axis=1)


class DMF(FusionNet):
    """Dense Multimodal Fusion: a shared layer at every level, fed by both towers and by the
    shared layer below (Eq. 3). Parameters as in FusionNet."""

    name = "dmf"

    @staticmethod
    def levels(L):
        return range(1, L + 1), range(1, L + 1)


class IMF(FusionNet):
    """Intermediate Multimodal Fusion: two towers joined by one shared layer on top (Eq. 1,
    the "green path" of Fig. 2). Only shared_dims[-1] is used. Parameters as in FusionNet."""

    name = "imf"

    @staticmethod
    def levels(L):
        return (L,), (L,)


class EMF(FusionNet):
    """Early Multimodal Fusion: the inputs fused at the bottom, then a stack of shared layers
    (the "yellow path" of Fig. 2). Only x_dims[0] and y_dims[0] are used: no towers.
    Parameters as in FusionNet."""

    name = "emf"

    @staticmethod
    def levels(L):
        return range(1, L + 1), (1,)


MODELS = {cls.name: cls for cls in (EMF, IMF, DMF)}


def build_model(config):
    """Rebuild a model from FusionNet.config() (parameters freshly initialized); ValueError if
    config["model"] is not one of emf, imf, dmf."""
    try:
        cls = MODELS[config["model"]]
    except KeyError:
        raise UserError(f"model: expected one of {sorted(MODELS)}, got {config.get('model')!r}") from None
    return cls(config["x_dims"], config["y_dims"], config["shared_dims"], config["n_classes"],
               seed=config.get("seed", 0), dtype=config.get("dtype", "float32"), init=config.get("init", "glorot"))


# ---------------------------------------------------------------- initialization

#: The initializations: "glorot", Glorot/Xavier uniform with the fan-in summed over every block
#: feeding a layer and zero biases (the default, the committed results'); "fan_in", every block
#: uniform in ±1/√d for its own input size d (PyTorch's default for a linear layer), and the bias
#: the sum of one such draw per block (what a sum of linear layers gives).
INITS = ("glorot", "fan_in")


def check_init(init):
    """Return init if it names one of INITS, else raise UserError (a ValueError)."""
    if not isinstance(init, str) or init not in INITS:
        raise UserError(f"init: expected one of {list(INITS)}, got {init!r}")
    return init


def add_layer(params, rng, blocks, bias_name, size_out, dtype, init="glorot"):
    """Add one layer's initialized weight blocks, params[name] (size_out, size_in) for each
    (name, size_in) of blocks, and its bias params[bias_name] (size_out,); init as in INITS
    (the Glorot fan-in is the blocks' total size)."""
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
