"""Generative DMF (Fig. 3, right): the dense fusion network as an encoder, its mirror image as a
decoder, trained to reconstruct both modalities from either one (Secs. 2.2 and 3.3).

The encoder is a DMF object itself (GenerativeDMF.encoder; IMF or EMF for comparisons): its
forward_joint gives s_L (Eqs. 4 and 3), and its backward_joint, handed ∂ε/∂s_L by the decoder,
carries it down through Eqs. 5-8; its softmax head is never used. The paper gives no equations
for the decoder; the ones here reverse every arrow, so that the decoder is again a dense fusion
network, from ŝ_L = s_L down:

    ŝ_l   = f(V^s_l ŝ_{l+1} + c^s_l),                       l = L-1 .. 1   (G1)
    ĥ^x_l = f(V^x_l ĥ^x_{l+1} + V^{s→x}_l ŝ_l + c^x_l),     l = L .. 2     (G2, no ĥ^x_{L+1} term)
    x̂     = g_x(M̂^x_1),  M̂^x_1 = V^x_1 ĥ^x_2 + V^{s→x}_1 ŝ_1 + c^x_1                 (G3)

and likewise for y; g is the sigmoid (data in [0, 1]) or the identity (real-valued features). The
loss (G4) is λ_x ℓ_x(M̂^x_1, x) + λ_y ℓ_y(M̂^y_1, y): binary cross-entropy or half the squared error,
summed over features, averaged over the batch. Backward: ∂ε/∂M̂^m_1 = λ_m (g_m(M̂^m_1) - m) / N (G5);
a decoder tower layer has one source (G6); the forks are at the shared layers (G7, decoder_fork).
Parameters: the encoder's names (W_x.l, W_xs.l, ..., without W_out, b_out); the decoder's V_x.l
(d^x_l, d^x_{l+1}), V_sx.l (d^x_l, e_l), c_x.l, V_s.l (e_l, e_{l+1}), c_s.l, likewise for y.
Derivation, step by step: derivations/05_generative.md. Training loop: training/loop.py, fit_generative.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from .checks import check_dims, check_positive_int
from .errors import UserError
from .fusion import MODALITIES, MODELS, add_layer, pre_activation
from .ops import bernoulli_cross_entropy, linear, sigmoid, sigmoid_backward, squared_error

#: The encoder's softmax head: unused, and not part of the generative model.
HEAD = ("W_out", "b_out")


# --------------------------------------------------------------------------------------------
# Output layers and their losses (Eqs. G4 and G5)
# --------------------------------------------------------------------------------------------


class OutputLayer(NamedTuple):
    """How a modality is reconstructed: ``g`` of Eq. G3 and the loss of Eq. G4.

    Attributes
    ----------
    activation : callable
        ``M (N, d) -> reconstruction (N, d)``.
    loss : callable
        ``(M, target) -> (loss, delta)``, delta ∂loss/∂M.
    target_range : tuple of float or None
        The interval the targets must lie in, or None for any real value.
    """

    activation: Callable
    loss: Callable
    target_range: tuple | None


OUTPUTS = {
    "sigmoid": OutputLayer(sigmoid, bernoulli_cross_entropy, (0.0, 1.0)),
    "linear": OutputLayer(linear, squared_error, None),
}


# --------------------------------------------------------------------------------------------
# The decoder's fork (Eq. G7). Called by name, so that a test can replace it.
# --------------------------------------------------------------------------------------------


def decoder_fork(chain_path, tower_paths):
    """Eq. G7: ∂ε/∂ŝ_l (N, e_l), the sum of what arrives from everything ŝ_l feeds: the chain term
    chain_path = ∂ε/∂M̂^s_{l-1} V^s_{l-1} (None at l = 1, which feeds no shared layer) and
    tower_paths = [∂ε/∂M̂^x_l V^{s→x}_l, ∂ε/∂M̂^y_l V^{s→y}_l]. Gradients add up at forks."""
    total = tower_paths[0] + tower_paths[1]
    if chain_path is not None:
        total += chain_path
    return total


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


class GenerativeDMF:
    """DMF encoder and mirrored dense-fusion decoder (see the module docstring).

    Parameters
    ----------
    x_dims, y_dims : sequence of int, length L
        Tower sizes ``(d_1, ..., d_L)`` of the encoder (the decoder mirrors them); ``d_1`` is the
        input size of that modality.
    shared_dims : sequence of int, length L
        Shared layer sizes ``(e_1, ..., e_L)``; ``e_L`` is the size of the joint representation.
    x_output, y_output : {"sigmoid", "linear"}
        Output function and loss of each modality: ``"sigmoid"`` with binary cross-entropy
        for data in [0, 1], ``"linear"`` with squared error for real-valued data.
    x_weight, y_weight : float
        λ_x, λ_y of Eq. G4, non-negative.
    encoder : {"dmf", "imf", "emf"}
        The encoder: the paper's DMF, or, for comparisons, IMF or EMF of the same sizes in front
        of the same mirrored dense-fusion decoder (everything here goes through the encoder's
        ``forward_joint`` and ``backward_joint``, which all three have).
    seed : int
        Seeds the Glorot/Xavier uniform initialization (biases start at zero). The encoder is
        initialized as ``DMF(..., seed=seed)`` (or IMF, EMF) would be.
    dtype : {numpy.float32, numpy.float64}

    Attributes
    ----------
    params : dict of str to ndarray
        The live parameter arrays, encoder's then decoder's, named as in the module docstring.
        Update them in place (as the optimizers do): the encoder's are shared with
        :attr:`encoder`.
    encoder : FusionNet
        The encoder (its softmax head is unused).
    outputs : dict of str to OutputLayer
        Per modality, from ``x_output`` and ``y_output``.
    """

    def __init__(self, x_dims, y_dims, shared_dims, *, x_output="sigmoid", y_output="sigmoid",
                 x_weight=1.0, y_weight=1.0, encoder="dmf", seed=0, dtype=np.float32):
        shared_dims = check_dims("shared_dims", shared_dims)
        if not isinstance(encoder, str) or encoder not in MODELS:
            raise UserError(f"encoder: expected one of {sorted(MODELS)}, got {encoder!r}")
        # The head is drawn last at initialization, so its size does not change the other weights.
        self.encoder = MODELS[encoder](x_dims, y_dims, shared_dims, n_classes=2, seed=seed, dtype=dtype)
        self.name = f"generative_{encoder}"
        self.dims, self.shared_dims, self.L = self.encoder.dims, self.encoder.shared_dims, self.encoder.L
        self.dtype, self.seed = self.encoder.dtype, seed
        self.outputs, self.weights = {}, {}
        for m, output, weight in (("x", x_output, x_weight), ("y", y_output, y_weight)):
            if not isinstance(output, str) or output not in OUTPUTS:
                raise UserError(f"{m}_output: expected one of {sorted(OUTPUTS)}, got {output!r}")
            try:
                weight = float(weight)
            except (TypeError, ValueError):
                weight = float("nan")  # reported just below
            if not (np.isfinite(weight) and weight >= 0):
                raise UserError(f"{m}_weight: expected a finite non-negative number, got {weight!r}")
            if not np.isfinite(np.asarray(weight * weight, dtype=self.encoder.dtype)):
                raise UserError(f"{m}_weight: {weight!r} is too large for {self.encoder.dtype.name} "
                                 "arithmetic (its square overflows)")
            self.outputs[m], self.weights[m] = OUTPUTS[output], weight
        self.output_names = {"x": x_output, "y": y_output}
        self.params = {k: v for k, v in self.encoder.params.items() if k not in HEAD}
        self.params.update(self._init_decoder(np.random.default_rng([seed, 1])))

    def _init_decoder(self, rng):
        params = {}
        e, L = self.shared_dims, self.L

        def layer(blocks, bias_name, size_out):
            add_layer(params, rng, blocks, bias_name, size_out, self.dtype)

        for l in range(L - 1, 0, -1):  # Eq. G1
            layer([(f"V_s.{l}", e[l])], f"c_s.{l}", e[l - 1])
        for m in MODALITIES:
            d = self.dims[m]
            for l in range(L, 0, -1):  # Eqs. G2 and G3
                blocks = [(f"V_s{m}.{l}", e[l - 1])]
                if l < L:
                    blocks.append((f"V_{m}.{l}", d[l]))
                layer(blocks, f"c_{m}.{l}", d[l - 1])
        return params

    @property
    def n_params(self):
        """Total number of scalar parameters (the encoder's unused head excluded)."""
        return sum(p.size for p in self.params.values())

    def config(self):
        """The constructor arguments as a JSON-serializable dict."""
        return {"model": self.name, "x_dims": list(self.dims["x"]), "y_dims": list(self.dims["y"]),
                "shared_dims": list(self.shared_dims),
                "x_output": self.output_names["x"], "y_output": self.output_names["y"],
                "x_weight": self.weights["x"], "y_weight": self.weights["y"],
                "encoder": self.encoder.name, "seed": self.seed, "dtype": self.dtype.name}

    def astype(self, dtype):
        """A copy of this model with parameters converted to ``dtype``."""
        settings = {k: v for k, v in self.config().items() if k != "model"}
        twin = GenerativeDMF(**{**settings, "dtype": dtype})
        for k, v in self.params.items():
            twin.params[k][...] = v
        return twin

    def __repr__(self):
        return (f"GenerativeDMF(encoder={self.encoder.name!r}, x_dims={self.dims['x']}, y_dims={self.dims['y']}, "
                f"shared_dims={self.shared_dims}, outputs={self.output_names}, "
                f"dtype={self.dtype.name}; {self.n_params:,} parameters)")

    # ---------------------------------------------------------------- validation

    def check_inputs(self, x, y):
        """Validate and convert an encoder input pair (errors: :mod:`dmf_numpy.core.checks`)."""
        return self.encoder.check_inputs(x, y)

    def check_targets(self, x, y):
        """Validate a target pair: as :meth:`check_inputs`, in [0, 1] for a sigmoid output, and
        for a linear output small enough that their squared error is finite in the model's dtype
        (Σ t² below its largest number)."""
        targets = dict(zip(MODALITIES, self.check_inputs(x, y)))
        for m, t in targets.items():
            bounds = self.outputs[m].target_range
            if bounds is not None and not (bounds[0] <= t.min() and t.max() <= bounds[1]):
                raise UserError(f"{m}: a {self.output_names[m]} output needs targets in "
                                 f"[{bounds[0]}, {bounds[1]}], got values in [{t.min()}, {t.max()}]")
            limit = float(np.sqrt(np.finfo(self.dtype).max / t.size))
            if bounds is None and np.abs(t).max() > limit:
                raise UserError(f"{m}: targets up to {float(np.abs(t).max()):.3g} in magnitude; a linear output "
                                 f"in {self.dtype.name} needs them below {limit:.3g} for a finite squared error "
                                 "(scale them down)")
        return targets["x"], targets["y"]

    # ---------------------------------------------------------------- forward

    def forward(self, x, y):
        """Encoder (Eqs. 4 and 3) then decoder (Eqs. G1-G3), on a validated input pair.

        Parameters
        ----------
        x : ndarray, (N, d^x_1)
        y : ndarray, (N, d^y_1)
            The encoder's inputs (either may be zeroed).

        Returns
        -------
        M_out : dict of str to ndarray
            ``M_out[m]`` is M̂^m_1, ``(N, d^m_1)``, the pre-activation of the
            reconstruction m̂ = g_m(M̂^m_1).
        cache : tuple ``(encoder_cache, (s_hat, h_hat))``
            The encoder's ``(h, s)`` from :meth:`~dmf_numpy.core.fusion.FusionNet.forward_joint`;
            ``s_hat[l]`` is ŝ_l for ``l = 1..L`` (``s_hat[L]`` is s_L),
            ``h_hat[m][l]`` is ĥ^m_l for ``l = 2..L``.
        """
        p = self.params
        L = self.L
        s_L, encoder_cache = self.encoder.forward_joint(x, y)  # Eqs. 4 and 3
        s_hat = {L: s_L}
        for l in range(L - 1, 0, -1):
            # Eq. G1: s^_l = f(V^s_l s^_{l+1} + c^s_l)
            M = pre_activation([(s_hat[l + 1], p[f"V_s.{l}"])], p[f"c_s.{l}"])
            s_hat[l] = sigmoid(M, out=M)
        h_hat, M_out = {}, {}
        for m in MODALITIES:
            h_hat[m] = {}
            for l in range(L, 0, -1):
                # Eq. G2: h^m_l = f(V^m_l h^m_{l+1} + V^{s->m}_l s^_l + c^m_l), no h^m_{L+1} term at
                # l = L; at l = 1, Eq. G3: M^m_1 is the output's pre-activation.
                terms = [(s_hat[l], p[f"V_s{m}.{l}"])]
                if l < L:
                    terms.append((h_hat[m][l + 1], p[f"V_{m}.{l}"]))
                M = pre_activation(terms, p[f"c_{m}.{l}"])
                if l > 1:
                    h_hat[m][l] = sigmoid(M, out=M)
            M_out[m] = M
        return M_out, (encoder_cache, (s_hat, h_hat))

    # ---------------------------------------------------------------- backward

    def backward(self, delta_out, cache, *, wrt_inputs=False):
        """Decoder backward (Eqs. G6, G7), then the encoder's (Eqs. 5-8, by :class:`DMF`).

        Parameters
        ----------
        delta_out : dict of str to ndarray
            ``delta_out[m]`` is ∂ε/∂M̂^m_1, ``(N, d^m_1)``
            (Eq. G5).
        cache : tuple
            From :meth:`forward`.
        wrt_inputs : bool
            Also return the gradients with respect to the encoder's inputs.

        Returns
        -------
        grads : dict of str to ndarray
            Same keys and shapes as :attr:`params`.
        input_grads : dict
            ``{"x": (N, d^x_1), "y": (N, d^y_1)}`` if ``wrt_inputs``, else empty.
        """
        p = self.params
        L = self.L
        encoder_cache, (s_hat, h_hat) = cache
        grads = {}

        # Down each decoder tower, x and y through the same code: h^m_{l+1} feeds only h^m_l,
        # so each delta has a single source (Eq. G6). The terms each level sends to s^_l are
        # collected for the fork of Eq. G7.
        tower_paths = {m: {} for m in MODALITIES}
        for m in MODALITIES:
            delta_M = delta_out[m]  # d eps / d M^m_1 (Eq. G5)
            for l in range(1, L + 1):  # delta_M is d eps / d M^m_l
                grads[f"c_{m}.{l}"] = delta_M.sum(axis=0)
                grads[f"V_s{m}.{l}"] = delta_M.T @ s_hat[l]
                tower_paths[m][l] = delta_M @ p[f"V_s{m}.{l}"]  # the term sent to s^_l
                if l == L:
                    break
                grads[f"V_{m}.{l}"] = delta_M.T @ h_hat[m][l + 1]
                # Eq. G6, then through h^m_{l+1} = f(M^m_{l+1}).
                delta_M = sigmoid_backward(delta_M @ p[f"V_{m}.{l}"], h_hat[m][l + 1])

        # Up the decoder's shared chain to s^_L = s_L, adding up the three paths at each fork.
        chain_path = None  # s^_1 feeds no shared layer
        for l in range(1, L + 1):
            delta_s = decoder_fork(chain_path, [tower_paths[m][l] for m in MODALITIES])  # Eq. G7
            if l == L:
                break
            delta_M = sigmoid_backward(delta_s, s_hat[l])  # d eps / d M^s_l
            grads[f"c_s.{l}"] = delta_M.sum(axis=0)
            grads[f"V_s.{l}"] = delta_M.T @ s_hat[l + 1]
            chain_path = delta_M @ p[f"V_s.{l}"]  # the term sent to s^_{l+1}

        # delta_s is d eps / d s_L. DMF's backward pass
        # carries it down the encoder along Eqs. 5-8.
        encoder_grads, input_grads = self.encoder.backward_joint(delta_s, encoder_cache, wrt_inputs=wrt_inputs)
        grads.update(encoder_grads)
        return {k: grads[k] for k in self.params}, input_grads

    # ---------------------------------------------------------------- public API

    def _loss(self, targets, inputs):
        """Forward pass and Eq. G4 on validated arrays: ``(loss, delta_out, cache)``."""
        M_out, cache = self.forward(*inputs)
        loss, delta_out = 0.0, {}
        for m, target in zip(MODALITIES, targets):
            loss_m, delta_m = self.outputs[m].loss(M_out[m], target)
            loss += self.weights[m] * loss_m
            delta_out[m] = delta_m * self.weights[m]  # Eq. G5
        return loss, delta_out, cache

    def _targets_and_inputs(self, x, y, inputs):
        targets = self.check_targets(x, y)
        if inputs is None:
            return targets, targets
        if not isinstance(inputs, (tuple, list)) or len(inputs) != 2:
            length = f" of length {len(inputs)}" if isinstance(inputs, (tuple, list)) else ""
            raise UserError(f"inputs: expected a pair (x_in, y_in) of the encoder's inputs, got "
                             f"{type(inputs).__name__}{length}")
        inputs = self.check_inputs(*inputs)
        if inputs[0].shape[0] != targets[0].shape[0]:
            raise UserError(f"inputs: expected {targets[0].shape[0]} samples, as in x and y, "
                             f"got {inputs[0].shape[0]}")
        return targets, inputs

    def loss(self, x, y, *, inputs=None):
        """The loss of Eq. G4 without gradients; arguments as in :meth:`loss_and_grads`."""
        return self._loss(*self._targets_and_inputs(x, y, inputs))[0]

    def loss_and_grads(self, x, y, *, inputs=None, wrt_inputs=False):
        """Reconstruction loss (Eq. G4) of one batch and its gradients.

        Parameters
        ----------
        x : array_like, (N, d^x_1)
        y : array_like, (N, d^y_1)
            The targets: the complete pair (in [0, 1] for a sigmoid output).
        inputs : tuple ``(x_in, y_in)`` of array_like, optional
            What the encoder sees, e.g. with one modality zeroed
            (:func:`dmf_numpy.training.loop.drop_modalities`).
            Default: ``(x, y)`` itself (a plain autoencoder).
        wrt_inputs : bool
            Also return the gradients with respect to ``x_in`` and ``y_in``.

        Returns
        -------
        loss : float
        grads : dict of str to ndarray
            Exactly the keys and shapes of :attr:`params`.
        input_grads : dict, only if ``wrt_inputs``
            ``{"x": (N, d^x_1), "y": (N, d^y_1)}``, with respect to the encoder's inputs.

        Raises
        ------
        ValueError
            On wrong sizes, different batch sizes, NaN/inf, empty batches or targets outside
            [0, 1] for a sigmoid output; the message names the argument.
        """
        loss, delta_out, cache = self._loss(*self._targets_and_inputs(x, y, inputs))
        grads, input_grads = self.backward(delta_out, cache, wrt_inputs=wrt_inputs)
        if wrt_inputs:
            return loss, grads, input_grads
        return loss, grads

    def _batched(self, x, y, batch_size, compute):
        """``compute(x_batch, y_batch)`` -> tuple of arrays, ``batch_size`` rows at a time."""
        x, y = self.check_inputs(x, y)
        batch_size = check_positive_int("batch_size", batch_size)
        parts = [compute(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, x.shape[0], batch_size)]
        return tuple(np.concatenate(column) for column in zip(*parts))

    def encode(self, x, y, *, batch_size=1000):
        """The joint representation s_L, ``(N, e_L)``, of an input pair (either may be
        zeroed), computed ``batch_size`` samples at a time."""
        return self._batched(x, y, batch_size, lambda xb, yb: (self.encoder.forward_joint(xb, yb)[0],))[0]

    def reconstruct(self, x, y, *, batch_size=1000):
        """Reconstructions ``(x_hat (N, d^x_1), y_hat (N, d^y_1))`` of both modalities from an
        input pair (either may be zeroed): g_m(M̂^m_1) of Eq. G3."""
        def compute(xb, yb):
            M_out = self.forward(xb, yb)[0]
            return tuple(self.outputs[m].activation(M_out[m]) for m in MODALITIES)
        return self._batched(x, y, batch_size, compute)
