r"""Mini-batch training on arrays: :func:`fit` and :func:`evaluate` for EMF, IMF and DMF,
:func:`fit_generative` for the generative variant, one epoch loop for both.

Any sizes, any number of classes, any data: the two modalities are two arrays with one row per
sample. A training run is reproducible from its seed (initialization is the model's own seed;
``seed`` here fixes the shuffling and, for the generative model, which modality is dropped),
and, given an output folder, resumable bit for bit.

The loop
--------
For every epoch :math:`e = 0, 1, \dots`: set the learning rate :math:`\eta_e = \eta_0 \gamma^e`
(:func:`~dmf_numpy.training.optim.decayed_lr`), draw a random order of the samples, and take one
optimizer step per mini-batch on the gradients of the model's hand-written backward pass
(:func:`minibatch_epoch`). Stop if the loss says the run diverged (:func:`check_divergence`).
Then evaluate (the validation split, and whatever ``metrics`` adds), append one record to the
history, write the checkpoint and the history, and log one line with the time and the ETA.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..core.checks import check_positive_int, check_seed
from ..core.fusion import FusionNet
from ..core.generative import GenerativeDMF
from ..core.ops import softmax, softmax_cross_entropy
from ..files import write_csv, write_json
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .optim import check_lr_decay, decayed_lr, make_optimizer

#: Probabilities of the three input conditions in generative training: both modalities, x alone
#: (y zeroed), y alone (x zeroed) -- one third each, as in the bimodal autoencoder of
#: Ngiam et al. (2011), the model the paper's "encoder-decoder" framework follows.
DROP_RATES = (1 / 3, 1 / 3, 1 / 3)

#: The file names a training run writes into its folder after every epoch.
CHECKPOINT, HISTORY_JSON, HISTORY_CSV = "checkpoint.npz", "history.json", "history.csv"


class Evaluation(NamedTuple):
    """What :func:`evaluate` returns."""

    loss: float
    """Mean categorical cross-entropy over the samples."""
    error: float
    """Classification error in % (0 to 100)."""


def evaluate(model, x, y, labels, *, batch_size=1000):
    """Loss and classification error of a classifier on a data set, ``batch_size`` samples at a time.

    Parameters
    ----------
    model : FusionNet
        EMF, IMF or DMF.
    x : array_like, (N, d^x_1)
    y : array_like, (N, d^y_1)
        Either may be all zeros, to evaluate with one modality missing.
    labels : array_like of int, (N,)
    batch_size : int
        Memory stays bounded by one batch of activations whatever N.

    Returns
    -------
    Evaluation
        ``loss`` (mean cross-entropy) and ``error`` (% of samples whose most probable class is
        not the label; ties go to the lower class index, as in ``model.predict``).
    """
    _check_classifier(model)
    x, y, labels = model.check_inputs(x, y, labels)
    batch_size = check_positive_int("batch_size", batch_size)
    loss_sum, wrong = 0.0, 0
    for start in range(0, labels.shape[0], batch_size):
        batch = slice(start, start + batch_size)
        scores, _ = model.forward(x[batch], y[batch])
        loss_sum += softmax_cross_entropy(scores, labels[batch])[0] * scores.shape[0]
        wrong += int(np.count_nonzero(softmax(scores).argmax(axis=1) != labels[batch]))
    n = labels.shape[0]
    return Evaluation(loss_sum / n, 100.0 * (wrong / n))


def fit(model, x, y, labels, *, epochs, batch_size=100, optimizer="adam", lr=1e-3, momentum=0.9,
        lr_decay=1.0, augment=None, modality_dropout=0.0, validation=None, seed=0, out_dir=None, resume=False,
        metrics=None, settings=None, setting_defaults=None, log=print):
    """Train a classifier (EMF, IMF or DMF) on arrays with mini-batch gradient descent.

    Parameters
    ----------
    model : FusionNet
        Updated in place. Its sizes and number of classes are whatever it was built with.
    x : array_like, (N, d^x_1)
    y : array_like, (N, d^y_1)
    labels : array_like of int, (N,)
        Class indices in ``[0, model.n_classes)``.
    epochs : int
    batch_size : int
    optimizer : {"adam", "sgd"}
        Adam, or SGD with (heavy-ball) momentum; both in :mod:`dmf_numpy.training.optim`.
    lr : float
        Learning rate of the first epoch.
    momentum : float in [0, 1)
        SGD's momentum (ignored by Adam).
    lr_decay : float in (0, 1]
        Factor applied to the learning rate after every epoch (1: constant).
    augment : callable, optional
        ``augment(x_batch, y_batch, rng) -> (x_batch, y_batch)``: new training inputs made from
        each mini-batch (data augmentation, e.g. :func:`dmf_numpy.datasets.halves.shift_halves`),
        drawing from the shuffling stream so that a resumed run draws the same. Describe it in
        ``settings``, so that a resume with another one is refused.
    modality_dropout : float in [0, 1)
        Beyond the paper: the fraction of the training samples, drawn anew in every mini-batch,
        that lose one modality, zero-filled (x or y, one half each), so that the model learns to
        do without either (:func:`drop_modalities`). 0, the default, draws nothing.
    validation : tuple ``(x_val, y_val, labels_val)``, optional
        Evaluated after every epoch (:func:`evaluate`): ``val_loss`` and ``val_error`` (%).
    seed : int
        Seeds the shuffling.
    out_dir : str or Path, optional
        A folder for ``checkpoint.npz``, ``history.json`` and ``history.csv``, written
        atomically after every epoch. ``None`` writes nothing.
    resume : bool
        Continue from ``out_dir/checkpoint.npz``: parameters, optimizer state and shuffling
        state are restored, so the result is bit for bit that of an uninterrupted run. Without
        it, a folder that already holds a checkpoint is refused rather than overwritten.
    metrics : callable, optional
        ``metrics(model) -> dict``, evaluated after every epoch and merged into its record
        (the MNIST experiment reports its test conditions this way).
    settings : dict, optional
        More settings to store in the checkpoint, beside this function's own, and to compare
        on resume.
    setting_defaults : dict, optional
        The values ``settings`` had before a version added them: a checkpoint written before a
        setting existed is compared as if it had held this value (see
        :func:`~dmf_numpy.training.checkpoint.load_checkpoint`'s ``defaults``).
    log : callable or None
        Receives one progress line per epoch; ``None`` is silent.

    Returns
    -------
    list of dict
        The history, one record per epoch: ``epoch``, ``lr``, ``train_loss`` (mean over the
        epoch's mini-batches), ``val_loss`` and ``val_error`` with ``validation``, what
        ``metrics`` returns, and ``seconds``.

    Raises
    ------
    ValueError
        On bad arrays (see :meth:`FusionNet.loss_and_grads`) or settings, naming the argument.
    CheckpointError
        If ``out_dir`` holds a checkpoint and ``resume`` is False, or one of another
        architecture or written with other settings.
    TrainingDiverged
        If the training loss becomes non-finite or explodes (:func:`check_divergence`); the
        last good epoch's checkpoint and history stay in ``out_dir``.
    """
    _check_classifier(model)
    x, y, labels = model.check_inputs(x, y, labels)
    if validation is not None:
        validation = model.check_inputs(*_triple("validation", validation))
    check_modality_dropout(modality_dropout)
    rates = (1 - modality_dropout, modality_dropout / 2, modality_dropout / 2)  # both, x only, y only

    def batch_loss(batch, rng):
        xb, yb = x[batch], y[batch]
        if augment is not None:
            xb, yb = augment(xb, yb, rng)
        if modality_dropout:  # drawn from the shuffling stream, so that a resumed run draws the same
            xb, yb = drop_modalities(xb, yb, rng, rates)
        return model.loss_and_grads(xb, yb, labels[batch])

    def evaluation(model):
        record = {}
        if validation is not None:
            record["val_loss"], record["val_error"] = evaluate(model, *validation)
        return {**record, **(metrics(model) if metrics else {})}

    return _train(model, batch_loss, labels.shape[0], evaluation, epochs=epochs, batch_size=batch_size,
                  optimizer=optimizer, lr=lr, momentum=momentum, lr_decay=lr_decay, seed=seed,
                  out_dir=out_dir, resume=resume, settings={"modality_dropout": modality_dropout, **(settings or {})},
                  defaults={"modality_dropout": 0.0, **(setting_defaults or {})}, log=log)


def fit_generative(model, x, y, *, epochs, batch_size=100, optimizer="adam", lr=1e-3, momentum=0.9,
                   lr_decay=1.0, drop_rates=DROP_RATES, validation=None, seed=0, out_dir=None,
                   resume=False, metrics=None, settings=None, log=print):
    """Train a :class:`~dmf_numpy.core.generative.GenerativeDMF` to reconstruct both modalities
    from either: :func:`fit`'s loop, without labels.

    Every mini-batch keeps both modalities as targets, while its encoder inputs have one
    modality dropped at random (:func:`drop_modalities`).

    Parameters
    ----------
    model : GenerativeDMF
        Updated in place.
    x : array_like, (N, d^x_1)
    y : array_like, (N, d^y_1)
        The training pairs (in [0, 1] for a sigmoid output).
    drop_rates : sequence of 3 floats
        Probabilities of (both, x only, y only) as encoder inputs.
    validation : tuple ``(x_val, y_val)``, optional
        Its reconstruction loss from both modalities, ``val_loss``, after every epoch.
    seed : int
        Seeds the shuffling and the choice of dropped modalities.
    epochs, batch_size, optimizer, lr, momentum, lr_decay, out_dir, resume, metrics, settings, log
        As in :func:`fit`.

    Returns
    -------
    list of dict
        The history: ``epoch``, ``lr``, ``train_loss``, ``val_loss`` with ``validation``,
        what ``metrics`` returns, ``seconds``.
    """
    if not isinstance(model, GenerativeDMF):
        raise ValueError(f"model: expected a GenerativeDMF, got {type(model).__name__} "
                         "(train EMF, IMF and DMF with fit)")
    drop_rates = check_drop_rates(drop_rates)
    x, y = model.check_targets(x, y)
    if validation is not None:
        if not isinstance(validation, (tuple, list)) or len(validation) != 2:
            raise ValueError("validation: expected a pair (x_val, y_val)")
        validation = model.check_targets(*validation)

    def batch_loss(batch, rng):
        xb, yb = x[batch], y[batch]
        return model.loss_and_grads(xb, yb, inputs=drop_modalities(xb, yb, rng, drop_rates))

    def evaluation(model):
        record = {"val_loss": model.loss(*validation)} if validation is not None else {}
        return {**record, **(metrics(model) if metrics else {})}

    return _train(model, batch_loss, x.shape[0], evaluation, epochs=epochs, batch_size=batch_size,
                  optimizer=optimizer, lr=lr, momentum=momentum, lr_decay=lr_decay, seed=seed,
                  out_dir=out_dir, resume=resume, settings={"drop_rates": drop_rates.tolist(), **(settings or {})},
                  log=log)


def minibatch_epoch(optimizer, n, batch_size, rng, batch_loss):
    """One pass over ``n`` samples in a random order, one optimizer step per mini-batch.

    Parameters
    ----------
    optimizer : Optimizer
    n : int
        Number of training samples.
    batch_size : int
    rng : numpy.random.Generator
        Draws the order (one permutation), then is handed to ``batch_loss``.
    batch_loss : callable
        ``batch_loss(indices (B,), rng) -> (loss, grads)`` for the samples at ``indices``.

    Returns
    -------
    list of float
        The loss of each mini-batch, computed before its step. At the first loss that is not
        finite the epoch stops, without taking that step.
    """
    order = rng.permutation(n)
    losses = []
    for begin in range(0, n, batch_size):
        loss, grads = batch_loss(order[begin:begin + batch_size], rng)
        losses.append(loss)
        if not np.isfinite(loss):
            break
        optimizer.step(grads)
    return losses


def _train(model, batch_loss, n, evaluation, *, epochs, batch_size, optimizer, lr, momentum, lr_decay,
           seed, out_dir, resume, settings, log, defaults=None):
    """The epoch loop of :func:`fit` and :func:`fit_generative` (see the module docstring)."""
    epochs, batch_size = check_positive_int("epochs", epochs), check_positive_int("batch_size", batch_size)
    lr_decay, seed = check_lr_decay(lr_decay), check_seed(seed)
    optimizer = make_optimizer(optimizer, model.params, lr=lr, momentum=momentum)
    settings = {"epochs": epochs, "batch_size": batch_size, "optimizer": optimizer.name, "lr": optimizer.lr,
                "momentum": momentum, "lr_decay": lr_decay, "seed": seed, "n_train": n, **(settings or {})}
    log = log or (lambda line: None)
    rng = np.random.default_rng([seed, 2])  # the shuffling stream
    history = []
    if out_dir is not None and not resume:
        refuse_existing_run(out_dir)
    if out_dir is not None and (Path(out_dir) / CHECKPOINT).exists():
        history = _resume(Path(out_dir) / CHECKPOINT, model, optimizer, rng, settings, defaults, log)

    lowest = min((r["train_loss"] for r in history), default=None)  # for the divergence rule
    for epoch in range(len(history), epochs):
        start = time.perf_counter()
        optimizer.lr = decayed_lr(settings["lr"], lr_decay, epoch)
        losses = minibatch_epoch(optimizer, n, batch_size, rng, batch_loss)
        train_loss = float(np.mean(losses))
        lowest = losses[0] if lowest is None else lowest  # the loss of the initial weights
        check_divergence(epoch + 1, train_loss, lowest, optimizer.lr, out_dir)
        lowest = min(lowest, train_loss)
        record = {"epoch": epoch + 1, "lr": optimizer.lr, "train_loss": train_loss, **evaluation(model)}
        record["seconds"] = time.perf_counter() - start
        history.append(record)
        if out_dir is not None:
            save_checkpoint(Path(out_dir) / CHECKPOINT, model, optimizer, epoch=epoch + 1, rng=rng, history=history,
                            train_config=settings)
            write_history(out_dir, history)
        eta = (epochs - epoch - 1) * np.mean([r["seconds"] for r in history])
        log(f"epoch {epoch + 1}/{epochs}  {describe(record)}  ETA {format_seconds(eta)}")
    return history


class TrainingDiverged(RuntimeError):
    """The training loss became non-finite or exploded (see :func:`check_divergence`)."""


#: An epoch whose mean loss exceeds this many times the lowest loss so far, plus one, diverged.
DIVERGENCE_FACTOR = 10


def check_divergence(epoch, loss, lowest, lr, out_dir):
    """Raise :class:`TrainingDiverged` if an epoch's mean training loss says the run diverged.

    The rule: the loss is not finite (a mini-batch loss was NaN or infinite), or it exceeds
    :data:`DIVERGENCE_FACTOR` times the lowest loss so far plus one, where the lowest loss so far
    starts at the loss of the initial weights on the first mini-batch. A healthy run's loss falls,
    or rises by a fraction; a run whose step size is far too large climbs by orders of magnitude
    within an epoch. The epoch is not saved: the checkpoint of the previous one stays.
    """
    if np.isfinite(loss) and loss <= DIVERGENCE_FACTOR * lowest + 1:
        return
    what = "is not finite" if not np.isfinite(loss) else \
        f"is more than {DIVERGENCE_FACTOR} times the lowest so far ({lowest:.4g}), plus 1"
    kept = ("nothing was saved" if out_dir is None or epoch == 1 else
            f"the checkpoint of epoch {epoch - 1} in {out_dir} is kept")
    raise TrainingDiverged(f"training diverged in epoch {epoch}: its loss {loss:.4g} {what}; the learning rate "
                           f"({lr:g}) is most likely too large; {kept}")


def refuse_existing_run(out_dir):
    """Raise CheckpointError if ``out_dir`` holds a run's checkpoint (it is resumed or left alone,
    never overwritten)."""
    if (Path(out_dir) / CHECKPOINT).exists():
        raise CheckpointError(f"{Path(out_dir) / CHECKPOINT}: a run is already in this folder; resume it "
                              "(--resume, resume=True) or use another output folder")


def _resume(checkpoint, model, optimizer, rng, settings, defaults, log):
    """Load ``checkpoint`` into the model, optimizer and rng if it has these settings; return its history."""
    history = load_checkpoint(checkpoint, model, optimizer, rng, settings=settings, defaults=defaults)["history"]
    log(f"resumed after epoch {len(history)} from {checkpoint}")
    return history


def describe(record):
    """One epoch's record as a progress line: the loss, each evaluation (errors in %), the time."""
    parts = [f"loss {record['train_loss']:.4f}"]
    for key, value in record.items():
        if key in ("epoch", "lr", "train_loss", "seconds") or value == {}:
            continue
        unit = "%" if key.endswith("error") else ""
        if isinstance(value, dict):
            parts.append(f"{key} " + " ".join(f"{k} {v:.2f}{unit}" for k, v in value.items()))
        else:
            parts.append(f"{key} {value:.4f}{unit}" if not unit else f"{key} {value:.2f}{unit}")
    return "  ".join(parts) + f"  {record['seconds']:.1f}s"


def format_seconds(seconds):
    """``75`` -> ``"1m15s"``, ``9`` -> ``"9s"``."""
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def history_rows(history):
    """Flatten a history into CSV rows: one per epoch; the plain numbers first, then one column
    per entry of each dict-valued field (``test_error_left+right``, ...)."""
    rows = []
    for record in history:
        row = {k: v for k, v in record.items() if not isinstance(v, dict)}
        for key, value in record.items():
            if isinstance(value, dict):
                row.update({f"{key}_{k}": v for k, v in value.items()})
        rows.append(row)
    return rows


def write_history(out_dir, history):
    """Write ``history.json`` and ``history.csv`` into ``out_dir`` (atomically)."""
    write_json(Path(out_dir) / HISTORY_JSON, history)
    rows = history_rows(history)
    write_csv(Path(out_dir) / HISTORY_CSV, rows, list(dict.fromkeys(k for row in rows for k in row)))


def _check_classifier(model):
    if not isinstance(model, FusionNet):
        raise ValueError(f"model: expected EMF, IMF or DMF, got {type(model).__name__}"
                         + (" (train it with fit_generative)" if isinstance(model, GenerativeDMF) else ""))


def _triple(name, arrays):
    if not isinstance(arrays, (tuple, list)) or len(arrays) != 3:
        raise ValueError(f"{name}: expected a triple (x, y, labels)")
    return arrays


# --------------------------------------------------------------------------------------------
# The generative model's inputs: one modality dropped at random
# --------------------------------------------------------------------------------------------


def check_drop_rates(drop_rates):
    """Return ``drop_rates`` as a float array of 3 probabilities summing to 1, or raise."""
    rates = np.asarray(drop_rates, dtype=float)
    if rates.shape != (3,) or not np.all(np.isfinite(rates)) or rates.min() < 0 \
            or abs(rates.sum() - 1) > 1e-9:
        raise ValueError("drop_rates: expected 3 non-negative probabilities (both, x only, y only) "
                         f"summing to 1, got {drop_rates!r}")
    return rates


def check_modality_dropout(p):
    """Return ``p`` if it is a fraction in [0, 1) (:func:`fit`'s ``modality_dropout``), else raise ValueError."""
    if not 0 <= p < 1:
        raise ValueError(f"modality_dropout: expected a fraction in [0, 1), got {p}")
    return p


def drop_modalities(x, y, rng, drop_rates=DROP_RATES):
    """The encoder's inputs for a training batch: each sample keeps both modalities, or only
    ``x`` (``y`` zeroed), or only ``y`` (``x`` zeroed), at random.

    Parameters
    ----------
    x : ndarray, (N, d^x_1)
    y : ndarray, (N, d^y_1)
    rng : numpy.random.Generator
    drop_rates : sequence of 3 floats
        Probabilities of (both, x only, y only); :data:`DROP_RATES` by default.

    Returns
    -------
    x_in, y_in : ndarray, same shapes and dtypes as ``x`` and ``y``
        New arrays; the inputs themselves are not modified.
    """
    condition = rng.choice(3, size=x.shape[0], p=check_drop_rates(drop_rates))
    x_in = x * (condition != 2)[:, None]  # x is zeroed where only y is kept
    y_in = y * (condition != 1)[:, None]  # y is zeroed where only x is kept
    return x_in, y_in
