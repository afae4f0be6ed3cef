"""Unsupervised pretraining of the discriminative DMF by its generative variant.

The paper's classifier "can be finetuned to minimize the categorical cross-entropy after
initializing the feed forward network" (Sec. 2.2): :func:`pretrain_dmf` trains a
:class:`~dmf_numpy.core.generative.GenerativeDMF` of the DMF's sizes to reconstruct both
modalities from either one, without labels, and copies its encoder into the DMF
(:func:`pretrain_encoder`); the DMF is then trained as usual, its head from its own
initialization.
"""

from __future__ import annotations

from ..core.fusion import DMF
from ..core.generative import HEAD, GenerativeDMF
from .loop import fit_generative


def pretrain_encoder(dmf_model, generative_model):
    """Copy a generative model's encoder into a discriminative DMF of the same sizes.

    Every parameter of :class:`~dmf_numpy.core.fusion.DMF` but its softmax head (``W_out``,
    ``b_out``, left as they are) is overwritten in place, converted to the DMF's dtype; the two
    encoders then compute the same :math:`s_L`.

    Parameters
    ----------
    dmf_model : DMF
    generative_model : GenerativeDMF

    Raises
    ------
    ValueError
        If ``dmf_model`` is not a DMF, or the sizes differ.
    """
    if not isinstance(dmf_model, DMF):
        raise ValueError(f"dmf_model: expected a DMF, got {type(dmf_model).__name__}")
    if not isinstance(generative_model, GenerativeDMF):
        raise ValueError(f"generative_model: expected a GenerativeDMF, got {type(generative_model).__name__}")
    for name, mine, theirs in (("x_dims", dmf_model.dims["x"], generative_model.dims["x"]),
                               ("y_dims", dmf_model.dims["y"], generative_model.dims["y"]),
                               ("shared_dims", dmf_model.shared_dims, generative_model.shared_dims)):
        if mine != theirs:
            raise ValueError(f"{name}: the DMF has {mine}, the generative model {theirs}; "
                             "they must be the same to copy the encoder")
    for name, array in dmf_model.params.items():
        if name not in HEAD:
            array[...] = generative_model.params[name]


def pretrain_dmf(dmf_model, x, y, *, epochs, x_output="sigmoid", y_output="sigmoid", seed=0,
                 log=print, **fit_options):
    """Unsupervised pretraining: train a :class:`GenerativeDMF` of the DMF's sizes on unlabeled
    pairs (:func:`~dmf_numpy.training.loop.fit_generative`), then copy its encoder into
    ``dmf_model`` (:func:`pretrain_encoder`).

    Parameters
    ----------
    dmf_model : DMF
        Its encoder parameters are overwritten in place; its head is left as it is.
    x : array_like, (N, d^x_1)
    y : array_like, (N, d^y_1)
        Training pairs (no labels are used).
    epochs : int
        Pretraining epochs.
    x_output, y_output : {"sigmoid", "linear"}
        See :class:`GenerativeDMF`; ``"sigmoid"`` for the MNIST halves.
    seed : int
        Seeds the generative model's initialization and the training.
    log : callable
    **fit_options
        ``batch_size``, ``lr``, ``lr_decay``, ``drop_rates``, ... of
        :func:`~dmf_numpy.training.loop.fit_generative`.

    Returns
    -------
    list of dict
        The pretraining history.
    """
    if not isinstance(dmf_model, DMF):
        raise ValueError(f"dmf_model: expected a DMF, got {type(dmf_model).__name__}")
    generative = GenerativeDMF(dmf_model.dims["x"], dmf_model.dims["y"], dmf_model.shared_dims,
                               x_output=x_output, y_output=y_output, seed=seed, dtype=dmf_model.dtype)
    history = fit_generative(generative, x, y, epochs=epochs, seed=seed, log=log, **fit_options)
    pretrain_encoder(dmf_model, generative)
    return history
