"""Checkpoints: a model's parameters, its optimizer's state and the training position in one
``.npz`` file, with JSON metadata inside it.

Layout of the archive (every member a plain array, so it loads with ``allow_pickle=False``):

=================  ===========================================================================
member             content
=================  ===========================================================================
``param/<name>``   each array of ``model.params``
``opt/<slot>/<n>``  each optimizer state array (Adam's ``m`` and ``v``, SGD's ``velocity``)
``meta``           a 0-d string array holding JSON: ``format``, ``version``, ``architecture``
                   (``model.config()``), ``epoch``, ``optimizer`` (step count, hyperparameters),
                   ``rng_state`` (the shuffling generator's state), ``history`` and ``train_config``
=================  ===========================================================================

Writes are atomic (:func:`dmf_numpy.files.atomic_path`); loading refuses a file of another
format, version or architecture with a :class:`CheckpointError` that says what differs.
"""

from __future__ import annotations

import json
import zipfile

import numpy as np

from ..files import atomic_path

FORMAT = "dmf-numpy-checkpoint"
VERSION = 1
#: The one part of ``model.config()`` that need not agree for a checkpoint to load into a model
#: (it only chose the initial weights, which the checkpoint replaces).
NOT_ARCHITECTURE = ("seed",)


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, or does not fit the model it is loaded into."""


def save_checkpoint(path, model, optimizer, *, epoch, rng, history, train_config=None):
    """Atomically write a checkpoint.

    Parameters
    ----------
    path : str or Path
        Destination ``.npz`` file.
    model : FusionNet or GenerativeDMF
    optimizer : dmf_numpy.training.optim.Optimizer
    epoch : int
        Number of completed epochs.
    rng : numpy.random.Generator
        The shuffling generator; its exact state is stored.
    history : list of dict
        Per-epoch records so far.
    train_config : dict, optional
        The training settings, stored for reference.
    """
    scalars, opt_arrays = optimizer.state()
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "architecture": model.config(),
        "epoch": int(epoch),
        "optimizer": scalars,
        "rng_state": rng.bit_generator.state,
        "history": history,
        "train_config": train_config,
    }
    arrays = {f"param/{k}": v for k, v in model.params.items()}
    arrays.update({f"opt/{k}": v for k, v in opt_arrays.items()})
    arrays["meta"] = np.array(json.dumps(meta))
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def read_checkpoint(path):
    """Read a checkpoint without a model: ``(meta, arrays)``.

    Raises
    ------
    CheckpointError
        If the file is missing, truncated, not an ``.npz`` archive, or not a checkpoint of this
        format and version.
    """
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint not found") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise CheckpointError(f"{path}: not a readable checkpoint (corrupt or truncated .npz: {err})") from None
    try:
        meta = json.loads(str(arrays.pop("meta")))
    except (KeyError, json.JSONDecodeError):
        raise CheckpointError(f"{path}: not a dmf-numpy checkpoint (no readable 'meta' member)") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: meta: expected a JSON object, got {type(meta).__name__}")
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise CheckpointError(
            f"{path}: expected format {FORMAT!r} version {VERSION}, "
            f"got {meta.get('format')!r} version {meta.get('version')!r}")
    _check_meta(path, meta)
    _check_arrays(path, arrays)
    return meta, arrays


#: The type each metadata field must have (``train_config`` may also be null).
META_TYPES = {"architecture": dict, "epoch": int, "optimizer": dict, "rng_state": dict, "history": list,
              "train_config": (dict, type(None))}


def _check_meta(path, meta):
    """Raise CheckpointError naming the first metadata field that is missing or of the wrong type."""
    for field, kind in META_TYPES.items():
        if field not in meta:
            raise CheckpointError(f"{path}: meta: the field {field!r} is missing")
        value = meta[field]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise CheckpointError(f"{path}: meta: {field} has the wrong type ({type(value).__name__})")
    if meta["epoch"] < 0 or meta["epoch"] != len(meta["history"]):
        raise CheckpointError(f"{path}: meta: epoch {meta['epoch']} does not match the {len(meta['history'])} "
                              "records of its history")
    if not all(isinstance(record, dict) for record in meta["history"]):
        raise CheckpointError(f"{path}: meta: history must be a list of epoch records (JSON objects)")
    scalars = meta["optimizer"]
    if not (isinstance(scalars.get("name"), str) and isinstance(scalars.get("t"), int) and scalars["t"] >= 0
            and isinstance(scalars.get("lr"), (int, float)) and np.isfinite(scalars["lr"]) and scalars["lr"] > 0):
        raise CheckpointError(f"{path}: meta: optimizer needs a name, a step count t >= 0 and a positive lr, "
                              f"got {scalars!r}")


def _check_arrays(path, arrays):
    """Raise CheckpointError unless every parameter and optimizer array holds finite floats."""
    for name, array in arrays.items():
        if not name.startswith(("param/", "opt/")):
            raise CheckpointError(f"{path}: unknown member {name!r}")
        if array.dtype.kind != "f":
            raise CheckpointError(f"{path}: {name}: expected floating-point numbers, got dtype {array.dtype}")
        if not np.isfinite(array).all():
            raise CheckpointError(f"{path}: {name}: holds {np.count_nonzero(~np.isfinite(array))} NaN or "
                                  "infinite values")


def changed_settings(saved, settings, defaults=None):
    """The keys of ``settings`` whose value ``saved`` does not hold, compared as JSON stores them
    (tuples as lists).

    ``saved`` is a settings dict read back from JSON. A key it lacks is compared as
    ``defaults[key]``: the value a setting had before it existed, so that adding an option (off
    by default) does not orphan the runs written before it. Without ``defaults``, a missing key
    differs.
    """
    current, before = json.loads(json.dumps(settings)), json.loads(json.dumps(defaults or {}))
    return sorted(k for k in current if saved.get(k, before.get(k)) != current[k])


def load_checkpoint(path, model, optimizer=None, rng=None, *, settings=None, defaults=None):
    """Load a checkpoint into ``model`` (and ``optimizer`` and ``rng``) in place.

    Everything is checked before anything is loaded: a refused checkpoint leaves the model, the
    optimizer and the generator as they were.

    Parameters
    ----------
    path : str or Path
    model : FusionNet or GenerativeDMF
        Must have the checkpoint's architecture and dtype (every entry of ``model.config()``
        but the seed).
    optimizer : Optimizer, optional
        Must be of the kind that wrote the checkpoint.
    rng : numpy.random.Generator, optional
        Receives the saved shuffling state.
    settings : dict, optional
        Training settings the checkpoint must have been written with: each key must have the
        same value in its ``train_config`` (compared as JSON stores them).
    defaults : dict, optional
        The values settings had before they existed (see :func:`changed_settings`).

    Returns
    -------
    meta : dict
        The metadata (``epoch``, ``history``, ...).

    Raises
    ------
    CheckpointError
        On an unreadable file or one written for another architecture, optimizer or settings.
    """
    meta, arrays = read_checkpoint(path)
    saved, wanted = meta["architecture"], model.config()
    differences = [f"{k}: checkpoint {saved.get(k)!r}, model {wanted[k]!r}"
                   for k in wanted if k not in NOT_ARCHITECTURE and saved.get(k) != wanted[k]]
    if differences:
        raise CheckpointError(f"{path}: checkpoint of another architecture ({'; '.join(differences)})")
    if settings is not None:
        if meta["train_config"] is None:
            raise CheckpointError(f"{path}: meta: train_config is null, so its settings cannot be compared")
        changed = changed_settings(meta["train_config"], settings, defaults)
        if changed:
            raise CheckpointError(f"{path}: written with other settings ({', '.join(changed)} differ); "
                                  "use another output folder or delete the checkpoint")
    _check_fits(path, arrays, "param", model.params, "parameter")
    if optimizer is not None:
        if meta["optimizer"]["name"] != optimizer.name:
            raise CheckpointError(f"{path}: optimizer state of {meta['optimizer']['name']!r}, "
                                  f"expected {optimizer.name!r}")
        _check_fits(path, arrays, "opt", optimizer.state()[1], "optimizer state")
    if rng is not None:
        try:
            type(rng.bit_generator)().state = meta["rng_state"]  # on a scratch generator first
        except (TypeError, ValueError, KeyError) as err:
            raise CheckpointError(f"{path}: meta: rng_state is not a state of {type(rng.bit_generator).__name__} "
                                  f"({err})") from None

    # Everything fits: load it.
    for name, p in model.params.items():
        p[...] = arrays[f"param/{name}"]
    if optimizer is not None:
        optimizer.load_state(meta["optimizer"], {k[len("opt/"):]: v for k, v in arrays.items()
                                                 if k.startswith("opt/")})
    if rng is not None:
        rng.bit_generator.state = meta["rng_state"]
    return meta


def _check_fits(path, arrays, prefix, expected, what):
    """Raise CheckpointError unless ``arrays`` holds exactly the arrays ``expected`` (name ->
    array) under ``prefix/``, each of the same shape and dtype."""
    saved = {k[len(prefix) + 1:]: v for k, v in arrays.items() if k.startswith(prefix + "/")}
    for name, array in expected.items():
        if name not in saved:
            raise CheckpointError(f"{path}: {what} {name!r} is missing")
        if saved[name].shape != array.shape or saved[name].dtype != array.dtype:
            raise CheckpointError(f"{path}: {what} {name!r} is {saved[name].dtype}{list(saved[name].shape)}, "
                                  f"expected {array.dtype}{list(array.shape)}")
    extra = sorted(set(saved) - set(expected))
    if extra:
        raise CheckpointError(f"{path}: unexpected {what} {extra[0]!r}" + (f" and {len(extra) - 1} more"
                                                                             if len(extra) > 1 else ""))
