r"""Mini-batch training on arrays: :func:`fit` and :func:`evaluate` for EMF, IMF and DMF,
:func:`fit_generative` for the generative variant, one epoch loop for both.

Any sizes, any number of classes, any data: the two modalities are two arrays with one row per
sample. A training run is reproducible from its seed (initialization is the model's own seed;
``seed`` here fixes the shuffling and, for the generative model, which modality is dropped),
and, given an output folder, resumable bit for bit.

The loop
--------
For every epoch e = 0, 1, ...: set the learning rate η_e = η_0 γ^e
(:func:`~dmf_numpy.training.optim.decayed_lr`), draw a random order of the samples, and take one
optimizer step per mini-batch on the gradients of the model's hand-written backward pass
(:func:`minibatch_epoch`). Stop if the loss says the run diverged (:func:`check_divergence`).
Then evaluate (the validation split, and whatever ``metrics`` adds), append one record to the
history, write the checkpoint and the history, and log one line with the time and the ETA.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..core.checks import check_callable, check_positive_int, check_real, check_seed
from ..core.errors import UserError
from ..core.fusion import FusionNet
from ..core.generative import GenerativeDMF
from ..core.ops import softmax, softmax_cross_entropy
from ..files import check_writable, remove_stale_temporaries, write_csv, write_json
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .optim import check_lr, check_lr_decay, check_momentum, check_optimizer, decayed_lr, make_optimizer

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
        metrics=None, settings=None, log=print):
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
        atomically after every epoch. ``None`` writes nothing. The folder is held for the whole
        training (:func:`dmf_numpy.files.run_lock`): another training into it, in this program
        or another, is refused, and a caller that holds it already (``train``) passes its lock on.
    resume : bool
        Continue from ``out_dir/checkpoint.npz``: parameters, optimizer state, shuffling
        state and the divergence rule's reference are restored, so the result is bit for bit
        that of an uninterrupted run, and it stops where that run would. History files missing
        or behind the checkpoint are rewritten from it (:func:`repair_history`). Without it, a
        folder that already holds a checkpoint is refused rather than overwritten. The checkpoint
        records a SHA-256 of the training arrays (``train_data_sha256``, :func:`data_fingerprint`):
        a resume on other data, even of the same size, is refused. Needs ``out_dir``.
    metrics : callable, optional
        ``metrics(model) -> dict`` of numbers (or dicts of numbers; NumPy scalars are stored as
        Python numbers), evaluated after every epoch and merged into its record
        (the MNIST experiment reports its test conditions this way).
    settings : dict, optional
        More settings to store in the checkpoint, beside this function's own, and to compare
        on resume. A checkpoint that lacks one of them (written by an older dmf-numpy, before the
        setting existed) is refused, naming its format version.
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
    UserError
        On bad arrays (see :meth:`FusionNet.loss_and_grads`) or settings, naming the argument.
    CheckpointError
        If ``out_dir`` holds a checkpoint and ``resume`` is False, a history without its
        checkpoint (:func:`refuse_existing_run`), or a checkpoint of another architecture or
        written with other settings.
    FolderLocked
        If another training holds ``out_dir``; the message names it.
    TrainingDiverged
        If the training loss becomes non-finite or explodes (:func:`check_divergence`); the
        last good epoch's checkpoint and history stay in ``out_dir``.
    """
    _check_classifier(model)
    args = check_loop_arguments(epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr, momentum=momentum,
                                lr_decay=lr_decay, seed=seed, out_dir=out_dir, resume=resume, metrics=metrics,
                                settings=settings, log=log, augment=augment)
    modality_dropout = check_modality_dropout(modality_dropout)
    x, y, labels = model.check_inputs(x, y, labels)
    if validation is not None:
        validation = _validation_split(model.check_inputs, _triple("validation", validation))
    out_dir = _writable_out_dir(out_dir)
    fingerprint = data_fingerprint(x, y, labels)
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
        return {**record, **metrics_record(metrics, model)}

    return _train(model, batch_loss, labels.shape[0], evaluation, **args, out_dir=out_dir,
                  settings={"modality_dropout": modality_dropout, TRAIN_DATA_KEY: fingerprint, **(settings or {})})


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
        raise UserError(f"model: expected a GenerativeDMF, got {type(model).__name__} "
                        "(train EMF, IMF and DMF with fit)")
    args = check_loop_arguments(epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr, momentum=momentum,
                                lr_decay=lr_decay, seed=seed, out_dir=out_dir, resume=resume, metrics=metrics,
                                settings=settings, log=log)
    drop_rates = check_drop_rates(drop_rates)
    x, y = model.check_targets(x, y)
    if validation is not None:
        if not isinstance(validation, (tuple, list)) or len(validation) != 2:
            raise UserError("validation: expected a pair (x_val, y_val)")
        validation = _validation_split(model.check_targets, validation)
    out_dir = _writable_out_dir(out_dir)
    fingerprint = data_fingerprint(x, y)

    def batch_loss(batch, rng):
        xb, yb = x[batch], y[batch]
        return model.loss_and_grads(xb, yb, inputs=drop_modalities(xb, yb, rng, drop_rates))

    def evaluation(model):
        record = {"val_loss": model.loss(*validation)} if validation is not None else {}
        return {**record, **metrics_record(metrics, model)}

    return _train(model, batch_loss, x.shape[0], evaluation, **args, out_dir=out_dir,
                  settings={"drop_rates": drop_rates.tolist(), TRAIN_DATA_KEY: fingerprint, **(settings or {})})


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


def _holding_out_dir(train):
    """Decorate :func:`_train`: with an ``out_dir``, the whole training holds that folder's run
    lock (:func:`dmf_numpy.files.run_lock`), so a second ``fit`` into it, or one into a folder a
    running ``train`` holds, is refused with :class:`~dmf_numpy.files.FolderLocked` before it
    reads or writes anything there. A caller that already holds the folder in this thread (as
    ``train`` does) passes its lock down: nothing is taken or released."""
    import functools
    import sys

    from ..files import run_lock

    @functools.wraps(train)
    def locked(*args, out_dir=None, **kwargs):
        if out_dir is None:
            return train(*args, out_dir=None, **kwargs)
        command = f"fit(out_dir={str(out_dir)!r}) in {' '.join(sys.argv) or 'python'}"
        with run_lock(out_dir, command, what="out_dir"):
            return train(*args, out_dir=out_dir, **kwargs)

    return locked


@_holding_out_dir
def _train(model, batch_loss, n, evaluation, *, epochs, batch_size, optimizer, lr, momentum, lr_decay,
           seed, out_dir, resume, settings, log):
    """The epoch loop of :func:`fit` and :func:`fit_generative` (see the module docstring)."""
    epochs, batch_size = check_positive_int("epochs", epochs), check_positive_int("batch_size", batch_size)
    lr_decay, seed = check_lr_decay(lr_decay), check_seed(seed)
    optimizer = make_optimizer(optimizer, model.params, lr=lr, momentum=momentum)
    settings = {"epochs": epochs, "batch_size": batch_size, "optimizer": optimizer.name, "lr": optimizer.lr,
                "momentum": momentum, "lr_decay": lr_decay, "seed": seed, "n_train": n, **(settings or {})}
    log = log or (lambda line: None)
    rng = np.random.default_rng([seed, 2])  # the shuffling stream
    history = []
    if out_dir is not None:
        refuse_existing_run(out_dir, resume=resume)
    lowest = None  # the divergence rule's reference (check_divergence), saved in every checkpoint
    if out_dir is not None and (Path(out_dir) / CHECKPOINT).exists():
        history, lowest = _resume(Path(out_dir) / CHECKPOINT, model, optimizer, rng, settings, log)

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
            check_out_dir_still_there(out_dir, epoch + 1)
            # One transaction per epoch: the checkpoint holds the history, so that a crash before
            # the history files are written is repaired by the next resume (_resume).
            save_checkpoint(Path(out_dir) / CHECKPOINT, model, optimizer, epoch=epoch + 1, rng=rng, history=history,
                            train_config=settings, lowest_loss=lowest)
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
    within an epoch. The epoch is not saved: the checkpoint of the previous one stays. The
    lowest loss so far is saved in every checkpoint (``lowest_loss``), so that a resumed run
    applies the same rule.
    """
    if np.isfinite(loss) and loss <= DIVERGENCE_FACTOR * lowest + 1:
        return
    what = "is not finite" if not np.isfinite(loss) else \
        f"is more than {DIVERGENCE_FACTOR} times the lowest so far ({lowest:.4g}), plus 1"
    kept = ("nothing was saved" if out_dir is None or epoch == 1 else
            f"the checkpoint of epoch {epoch - 1} in {out_dir} is kept")
    raise TrainingDiverged(f"training diverged in epoch {epoch}: its loss {loss:.4g} {what}; the learning rate "
                           f"({lr:g}) is most likely too large; {kept}")


def refuse_existing_run(out_dir, *, resume=False):
    """Raise CheckpointError if training into ``out_dir`` would write over a run there: a run is
    resumed or left alone, never overwritten. Refused: a checkpoint without ``resume``, and, with
    or without ``resume``, a history without its checkpoint (a finished run whose checkpoint was
    deleted, say: there is nothing to continue from, and a new run would replace its history)."""
    out_dir = Path(out_dir)
    if (out_dir / CHECKPOINT).exists():
        if not resume:
            raise CheckpointError(f"{out_dir / CHECKPOINT}: a run is already in this folder; resume it "
                                  "(--resume, resume=True) or use another output folder")
        return
    if (out_dir / HISTORY_JSON).exists():
        try:
            epochs = f"{len(json.loads((out_dir / HISTORY_JSON).read_text(encoding='utf-8')))} epoch(s)"
        except (OSError, ValueError, TypeError):
            epochs = "which cannot be read"
        raise CheckpointError(f"{out_dir}: this folder holds a run's {HISTORY_JSON} ({epochs}) but not its "
                              f"{CHECKPOINT}, so that run cannot be resumed, and a new one would write over it; "
                              "use another output folder, or delete this one to train again")


def _resume(checkpoint, model, optimizer, rng, settings, log):
    """Load ``checkpoint`` into the model, optimizer and rng if it has these settings; bring the
    history files up to date with it (:func:`repair_history`); return its history and the
    divergence rule's reference loss (None before the first epoch).

    A version-1 checkpoint, written before the reference was saved, gets the lowest training
    loss of its history instead: the loss of the initial weights, which the rule also counts, is
    lost, so for such a run the rule can be looser than an uninterrupted run's."""
    meta = load_checkpoint(checkpoint, model, optimizer, rng, settings=settings)
    history, lowest = meta["history"], meta["lowest_loss"]
    if lowest is None and history:
        lowest = min(record["train_loss"] for record in history)
        log(f"note: {checkpoint} was written by an older version, without the divergence rule's reference loss; "
            f"using the lowest loss of its history ({lowest:.4g}), not the initial weights' loss")
    log(f"resumed after epoch {len(history)} from {checkpoint}")
    if repair_history(checkpoint.parent, history):
        log(f"rewrote {HISTORY_JSON} and {HISTORY_CSV} from the checkpoint: they were missing or behind it")
    return history, lowest


def repair_history(out_dir, history):
    """Make ``history.json`` and ``history.csv`` in ``out_dir`` hold ``history`` (a checkpoint's):
    rewrite them if either is missing, unreadable or different, and remove the temporary files of
    a write that a killed process left behind. Return whether they were rewritten.

    The checkpoint is written first and holds the whole history, so a crash (or a full disk)
    between it and the history files loses nothing: the next resume calls this, even when no
    epoch is left to train.
    """
    out_dir = Path(out_dir)
    for name in (CHECKPOINT, HISTORY_JSON, HISTORY_CSV):
        remove_stale_temporaries(out_dir / name)
    if not history:
        return False
    try:
        current = json.loads((out_dir / HISTORY_JSON).read_text(encoding="utf-8")) == history
        rows, fields = history_rows(history), _history_fields(history)
        with open(out_dir / HISTORY_CSV, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            current = current and list(reader) == [{k: _csv_text(row.get(k)) for k in fields} for row in rows] \
                and reader.fieldnames == fields
    except (OSError, ValueError, csv.Error):  # missing, unreadable, not JSON (UnicodeDecodeError is a ValueError)
        current = False
    if not current:
        write_history(out_dir, history)
    return not current


def _csv_text(value):
    """A value as :func:`csv.writer` writes it (and :class:`csv.DictReader` reads it back)."""
    return "" if value is None else str(value)


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
    write_csv(Path(out_dir) / HISTORY_CSV, history_rows(history), _history_fields(history))


def _history_fields(history):
    """The columns of ``history.csv``: every key of :func:`history_rows`, in order of appearance."""
    return list(dict.fromkeys(k for row in history_rows(history) for k in row))


def _check_classifier(model):
    if not isinstance(model, FusionNet):
        raise UserError(f"model: expected EMF, IMF or DMF, got {type(model).__name__}"
                        + (" (train it with fit_generative)" if isinstance(model, GenerativeDMF) else ""))


def _triple(name, arrays):
    if not isinstance(arrays, (tuple, list)) or len(arrays) != 3:
        raise UserError(f"{name}: expected a triple (x, y, labels)")
    return arrays


def _validation_split(check, arrays):
    """``check(*arrays)``, its errors saying that they concern the validation set."""
    try:
        return check(*arrays)
    except ValueError as err:
        raise UserError(f"validation {err}") from None


def check_loop_arguments(*, epochs, batch_size, optimizer, lr, momentum, lr_decay, seed, out_dir, resume, metrics,
                         settings, log, augment=None):
    """:func:`fit`'s and :func:`fit_generative`'s other arguments, checked at the call, before any
    work; return the numbers as Python ints and floats (NumPy scalars are accepted) for
    :func:`_train`, or raise UserError naming the first argument that is wrong."""
    for name, value, expected in (("metrics", metrics, "a function metrics(model) -> dict"),
                                  ("augment", augment, "a function augment(x, y, rng) -> (x, y)"),
                                  ("log", log, "a function log(line)")):
        check_callable(name, value, expected)
    if settings is not None and not (isinstance(settings, dict) and all(isinstance(k, str) for k in settings)):
        raise UserError(f"settings: expected a dict of named settings (str keys) or None, got {settings!r}")
    if not isinstance(resume, (bool, np.bool_)):
        raise UserError(f"resume: expected True or False, got {resume!r}")
    if resume and out_dir is None:
        raise UserError("resume=True: there is nothing to resume without out_dir; give the folder of the run "
                        "to continue (out_dir=...), or leave resume False")
    check_out_dir(out_dir)
    return {"epochs": check_positive_int("epochs", epochs), "batch_size": check_positive_int("batch_size", batch_size),
            "optimizer": check_optimizer(optimizer), "lr": check_lr(lr), "momentum": check_momentum(momentum),
            "lr_decay": check_lr_decay(lr_decay), "seed": check_seed(seed), "resume": bool(resume), "log": log}


def check_out_dir(out_dir):
    """Return ``out_dir`` as a Path (None stays None) if it is a non-empty path, else raise UserError."""
    if out_dir is None:
        return None
    if not isinstance(out_dir, (str, os.PathLike)) or not os.fspath(out_dir):
        raise UserError(f"out_dir: expected a folder path (a non-empty str or a Path) or None, got {out_dir!r}")
    return Path(out_dir)


def _writable_out_dir(out_dir):
    """``out_dir`` created and probed (:func:`~dmf_numpy.files.check_writable`) before any work;
    None stays None."""
    return None if out_dir is None else check_writable(check_out_dir(out_dir), what="out_dir")


class OutputFolderGone(FileNotFoundError):
    """The output folder was deleted or moved while the run was writing into it."""


def check_out_dir_still_there(out_dir, epoch):
    """Raise :class:`OutputFolderGone` if ``out_dir`` is no longer a folder: rather than recreate
    it without its other files (``config.json``, the lock), the run stops, saving nothing more."""
    if not Path(out_dir).is_dir():
        raise OutputFolderGone(f"{out_dir}: the output folder was deleted or moved during the run; epoch {epoch} "
                               "was not saved and the run stopped rather than recreate it; if it was moved, resume "
                               "the run in its new place (--resume, resume=True)")


#: The setting that holds :func:`data_fingerprint` of the training data, compared on resume.
TRAIN_DATA_KEY = "train_data_sha256"


def data_fingerprint(*arrays):
    """A SHA-256 of the arrays' shapes, dtypes and bytes (hex): a resume on other training data
    than the checkpoint's is refused through it (about a second per GB)."""
    digest = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype.str}{a.shape}".encode())
        digest.update(memoryview(a).cast("B"))
    return digest.hexdigest()


def metrics_record(metrics, model):
    """What ``metrics(model)`` returns, with NumPy numbers as Python ones (so that the history is
    JSON), or a UserError if it is not a dict of numbers and dicts of numbers."""
    if metrics is None:
        return {}
    record = metrics(model)
    if not isinstance(record, dict):
        raise UserError(f"metrics: expected a function returning a dict of numbers, got a "
                        f"{type(record).__name__} ({record!r:.80})")
    return {key: _metric_value(f"metrics[{key!r}]", value) for key, value in record.items()}


def _metric_value(name, value):
    if isinstance(value, dict):
        return {key: _metric_value(f"{name}[{key!r}]", v) for key, v in value.items()}
    if isinstance(value, (np.generic, np.ndarray)) and np.ndim(value) == 0:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"{name}: expected a number (or a dict of numbers), got {value!r:.80}")
    return value


# --------------------------------------------------------------------------------------------
# The generative model's inputs: one modality dropped at random
# --------------------------------------------------------------------------------------------


def check_drop_rates(drop_rates):
    """Return ``drop_rates`` as a float array of 3 probabilities summing to 1, or raise."""
    rates = np.asarray(drop_rates, dtype=float)
    if rates.shape != (3,) or not np.all(np.isfinite(rates)) or rates.min() < 0 \
            or abs(rates.sum() - 1) > 1e-9:
        raise UserError("drop_rates: expected 3 non-negative probabilities (both, x only, y only) "
                        f"summing to 1, got {drop_rates!r}")
    return rates


def check_modality_dropout(p):
    """Return ``p`` as a float if it is a fraction in [0, 1) (:func:`fit`'s ``modality_dropout``), else raise
    UserError."""
    return check_real("modality_dropout", p, "a fraction in [0, 1)", lambda v: 0 <= v < 1)


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
