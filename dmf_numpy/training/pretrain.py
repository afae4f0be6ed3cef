"""Unsupervised pretraining of a classifier's encoder by the generative variant.

The paper's classifier "can be finetuned to minimize the categorical cross-entropy after
initializing the feed forward network" (Sec. 2.2): :func:`pretrain` trains a
:class:`~dmf_numpy.core.generative.GenerativeDMF` whose encoder is a model of the classifier's
kind and sizes (DMF, or IMF or EMF for a fair comparison) to reconstruct both modalities from
either one, without labels, and copies that encoder into the classifier
(:func:`pretrain_encoder`); the classifier is then trained as usual, its softmax head from its
own initialization.
"""

from __future__ import annotations

from ..core.errors import UserError
from ..core.fusion import FusionNet
from ..core.generative import HEAD, GenerativeDMF
from .loop import fit_generative


def pretrain_encoder(model, generative_model):
    """Copy a generative model's encoder into a classifier of the same kind and sizes.

    Every parameter of the classifier but its softmax head (``W_out``, ``b_out``, left as they
    are) is overwritten in place, converted to the classifier's dtype; the two encoders then
    compute the same s_L.

    Parameters
    ----------
    model : FusionNet
        EMF, IMF or DMF.
    generative_model : GenerativeDMF
        Its encoder must be of the same kind (``encoder="dmf"`` for a DMF, ...) and sizes.

    Raises
    ------
    UserError
        If the kinds or the sizes differ.
    """
    if not isinstance(model, FusionNet):
        raise UserError(f"model: expected EMF, IMF or DMF, got {type(model).__name__}")
    if not isinstance(generative_model, GenerativeDMF):
        raise UserError(f"generative_model: expected a GenerativeDMF, got {type(generative_model).__name__}")
    encoder = generative_model.encoder
    if encoder.name != model.name:
        raise UserError(f"model: {model.name.upper()} cannot take the encoder of a generative model whose "
                        f"encoder is {encoder.name.upper()}")
    for name, mine, theirs in (("x_dims", model.dims["x"], encoder.dims["x"]),
                               ("y_dims", model.dims["y"], encoder.dims["y"]),
                               ("shared_dims", model.shared_dims, encoder.shared_dims)):
        if mine != theirs:
            raise UserError(f"{name}: the {model.name.upper()} has {mine}, the generative model {theirs}; "
                            "they must be the same to copy the encoder")
    for name, array in model.params.items():
        if name not in HEAD:
            array[...] = generative_model.params[name]


def pretrain(model, x, y, *, epochs, x_output="sigmoid", y_output="sigmoid", seed=0, log=print, **fit_options):
    """Unsupervised pretraining: train a :class:`GenerativeDMF` with ``model``'s kind of encoder and
    sizes on unlabeled pairs (:func:`~dmf_numpy.training.loop.fit_generative`), then copy its
    encoder into ``model`` (:func:`pretrain_encoder`).

    Parameters
    ----------
    model : FusionNet
        EMF, IMF or DMF; its encoder parameters are overwritten in place, its head is left as it is.
    x : array_like, (N, d^x_1)
    y : array_like, (N, d^y_1)
        Training pairs (no labels are used).
    epochs : int
        Pretraining epochs.
    x_output, y_output : {"sigmoid", "linear"}
        See :class:`GenerativeDMF`; ``"sigmoid"`` for the MNIST halves.
    seed : int
        Seeds the generative model's initialization (Glorot) and the training.
    log : callable
    **fit_options
        ``batch_size``, ``lr``, ``lr_decay``, ``drop_rates``, ... of
        :func:`~dmf_numpy.training.loop.fit_generative`.

    Returns
    -------
    list of dict
        The pretraining history.
    """
    if not isinstance(model, FusionNet):
        raise UserError(f"model: expected EMF, IMF or DMF, got {type(model).__name__}")
    generative = GenerativeDMF(model.dims["x"], model.dims["y"], model.shared_dims, x_output=x_output,
                               y_output=y_output, encoder=model.name, seed=seed, dtype=model.dtype)
    history = fit_generative(generative, x, y, epochs=epochs, seed=seed, log=log, **fit_options)
    pretrain_encoder(model, generative)
    return history
