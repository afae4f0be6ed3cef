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
                   ``rng_state`` (the shuffling generator's state), ``history`` (every epoch's
                   record, so that the history files can be rebuilt from the checkpoint alone),
                   ``lowest_loss`` (the divergence rule's reference, null before the first
                   epoch) and ``train_config``
=================  ===========================================================================

Writes are atomic (:func:`dmf_numpy.files.atomic_path`). Reading checks the file whole before
anything is used (:func:`read_checkpoint`, :func:`load_checkpoint`): any damage to the archive,
a field of the wrong type, a history record without its numbers, a generator state that is not
one, an array of the wrong name, shape or dtype or with NaN, a file of another format, version or
architecture, each is a :class:`CheckpointError` that names the file and says what is wrong.
A checkpoint edited by hand that still fits this schema is not detected.
"""

from __future__ import annotations

import json
import math

import numpy as np

from ..core.errors import UserError
from ..files import atomic_path
from ..npz import NpzError, read_npz

FORMAT = "dmf-numpy-checkpoint"
#: The version written. Version 2 added ``lowest_loss``; version 3 records every setting a
#: resume compares (``train_config`` with ``train_data_sha256``, ``modality_dropout`` and every
#: field of the run's config), none of which has a default any more. Every version is read
#: (:data:`READABLE_VERSIONS`): a version-1 checkpoint's ``lowest_loss`` is rebuilt from its
#: history by the loop; an older checkpoint that lacks a setting is refused for a resume,
#: naming its version (:func:`load_checkpoint`), but its parameters still load.
VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
#: The one part of ``model.config()`` that need not agree for a checkpoint to load into a model
#: (it only chose the initial weights, which the checkpoint replaces).
NOT_ARCHITECTURE = ("seed",)


class CheckpointError(UserError):
    """A checkpoint that cannot be read, or does not fit the model it is loaded into."""


def save_checkpoint(path, model, optimizer, *, epoch, rng, history, train_config=None, lowest_loss=None):
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
    lowest_loss : float, optional
        The divergence rule's reference (:func:`dmf_numpy.training.loop.check_divergence`): the
        lowest loss so far, starting at the initial weights' loss. Required once ``epoch`` > 0.
    """
    if epoch > 0 and (lowest_loss is None or not math.isfinite(lowest_loss)):
        raise UserError(f"lowest_loss: expected the finite reference loss of the divergence rule after epoch "
                        f"{epoch}, got {lowest_loss!r}")
    scalars, opt_arrays = optimizer.state()
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "architecture": model.config(),
        "epoch": int(epoch),
        "optimizer": scalars,
        "rng_state": rng.bit_generator.state,
        "history": history,
        "lowest_loss": None if lowest_loss is None else float(lowest_loss),
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
        arrays = read_npz(path)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint not found") from None
    except (OSError, NpzError) as err:
        raise CheckpointError(f"{path}: not a readable checkpoint: {err}") from None
    meta = arrays.pop("meta", None)
    if meta is None or meta.shape != () or meta.dtype.kind != "U":
        raise CheckpointError(f"{path}: not a dmf-numpy checkpoint (no 'meta' member holding a JSON string)")
    try:
        meta = json.loads(str(meta))
    except (ValueError, RecursionError):
        raise CheckpointError(f"{path}: not a dmf-numpy checkpoint (its 'meta' member is not JSON)") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: meta: expected a JSON object, got {type(meta).__name__}")
    if meta.get("format") != FORMAT or meta.get("version") not in READABLE_VERSIONS \
            or isinstance(meta.get("version"), bool):
        raise CheckpointError(
            f"{path}: expected format {FORMAT!r} version {min(READABLE_VERSIONS)} to {max(READABLE_VERSIONS)}, "
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
    for i, record in enumerate(meta["history"]):
        problem = _record_problem(record, i + 1)
        if problem:
            raise CheckpointError(f"{path}: meta: history record {i + 1}: {problem}")
    _check_lowest_loss(path, meta)
    _check_rng_state(path, meta["rng_state"])
    scalars = meta["optimizer"]
    if not (isinstance(scalars.get("name"), str) and _is_int(scalars.get("t")) and scalars["t"] >= 0
            and _is_finite(scalars.get("lr")) and scalars["lr"] > 0):
        raise CheckpointError(f"{path}: meta: optimizer needs a name, a step count t >= 0 and a positive lr, "
                              f"got {scalars!r}")


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_finite(value):
    """Whether ``value`` is a finite JSON number (not a bool, and not an int too large for a float)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _record_problem(record, epoch):
    """What is wrong with one history record written after epoch ``epoch`` (None if nothing): it
    needs ``epoch``, a positive ``lr``, a finite ``train_loss`` and ``seconds`` >= 0, and any
    other entry (an evaluation, what ``metrics`` returned) must be a number or an object of
    numbers."""
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    for field, valid, wanted in (("epoch", lambda v: _is_int(v) and v == epoch, f"the integer {epoch}"),
                                 ("lr", lambda v: _is_finite(v) and v > 0, "a positive number"),
                                 ("train_loss", _is_finite, "a finite number"),
                                 ("seconds", lambda v: _is_finite(v) and v >= 0, "a number >= 0")):
        if field not in record:
            return f"the field {field!r} is missing"
        if not valid(record[field]):
            return f"{field} must be {wanted}, got {record[field]!r}"
    for field, value in record.items():
        if not _numbers(value):
            return f"{field} must be a number or an object of numbers, got {value!r}"
    return None


def _numbers(value):
    """Whether ``value`` is a JSON number or an object whose values are (recursively)."""
    if isinstance(value, dict):
        return all(_numbers(v) for v in value.values())
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_lowest_loss(path, meta):
    """The divergence rule's reference: a finite number once an epoch is done, null before; absent
    from a version-1 checkpoint (read as null, and rebuilt from the history by the loop)."""
    if meta["version"] == 1 and "lowest_loss" not in meta:
        meta["lowest_loss"] = None
        return
    if "lowest_loss" not in meta:
        raise CheckpointError(f"{path}: meta: the field 'lowest_loss' is missing")
    value = meta["lowest_loss"]
    if not (_is_finite(value) if meta["epoch"] > 0 else value is None or _is_finite(value)):
        raise CheckpointError(f"{path}: meta: lowest_loss must be a finite number after epoch {meta['epoch']}, "
                              f"got {value!r}")


def _check_rng_state(path, state):
    """Raise CheckpointError unless ``state`` is a state of the NumPy bit generator it names: the
    same fields as that generator's own state, non-negative integers where it has integers, and
    one that the generator takes and gives back unchanged (no value out of its range)."""
    name = state.get("bit_generator")
    kind = getattr(np.random, name, None) if isinstance(name, str) else None
    try:
        template = kind().state if isinstance(kind, type) and issubclass(kind, np.random.BitGenerator) else None
    except (NotImplementedError, TypeError):  # the abstract np.random.BitGenerator
        template = None
    if template is None:
        raise CheckpointError(f"{path}: meta: rng_state is not a state of a NumPy bit generator "
                              f"(bit_generator {name!r})")
    problem = _state_problem(state, template, "rng_state")
    if problem is None:
        try:
            scratch = kind()
            scratch.state = state
            if json.loads(json.dumps(scratch.state, default=lambda a: a.tolist())) != state:
                problem = "rng_state: a value is out of range (the generator does not give it back)"
        except (TypeError, ValueError, KeyError, OverflowError) as err:
            problem = f"rng_state: {err}"
    if problem:
        raise CheckpointError(f"{path}: meta: rng_state is not a state of {name} ({problem})")


def _state_problem(value, template, where):
    """Where ``value`` (read from JSON) differs in form from ``template`` (a generator's state), or None."""
    if isinstance(template, dict):
        if not isinstance(value, dict) or set(value) != set(template):
            return f"{where}: expected the fields {sorted(template)}, got {value!r}"
        return next((p for k in template if (p := _state_problem(value[k], template[k], f"{where}.{k}"))), None)
    if isinstance(template, np.ndarray):
        if not isinstance(value, (list, np.ndarray)) or len(value) != template.size:
            return f"{where}: expected {template.size} integers"
        return next((p for i, v in enumerate(value) if (p := _state_problem(v, 0, f"{where}[{i}]"))), None)
    if isinstance(template, str):
        return None if value == template else f"{where}: expected {template!r}, got {value!r}"
    if isinstance(template, (int, np.integer)):  # 128 bits: the widest integer of NumPy's generators' states
        return None if _is_int(value) and 0 <= value < 2 ** 128 else \
            f"{where}: expected an integer from 0 to 2**128 - 1, got {value!r}"
    return None


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
    ``defaults[key]``: the value a setting had before it existed (a run's ``config.json``, which
    has no version, uses this; a checkpoint does not, see :func:`load_checkpoint`). Without
    ``defaults``, a missing key differs.
    """
    current, before = json.loads(json.dumps(settings)), json.loads(json.dumps(defaults or {}))
    return sorted(k for k in current if saved.get(k, before.get(k)) != current[k])


def load_checkpoint(path, model, optimizer=None, rng=None, *, settings=None):
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
        same value in its ``train_config`` (compared as JSON stores them). A key the checkpoint
        lacks is refused with a message that names the checkpoint's format version: an older
        dmf-numpy wrote it, before that setting existed.

    Returns
    -------
    meta : dict
        The metadata (``epoch``, ``history``, ...).

    Raises
    ------
    CheckpointError
        On an unreadable file or one written for another architecture, optimizer or settings, or
        without one of ``settings``.
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
        _refuse_missing_settings(path, meta, settings)
        changed = changed_settings(meta["train_config"], settings)
        if changed:
            raise CheckpointError(f"{path}: written with other settings ({', '.join(changed)} differ); "
                                  "use another output folder or delete the checkpoint")
    _check_fits(path, arrays, "param", model.params, "parameter")
    if optimizer is not None:
        if meta["optimizer"]["name"] != optimizer.name:
            raise CheckpointError(f"{path}: optimizer state of {meta['optimizer']['name']!r}, "
                                  f"expected {optimizer.name!r}")
        _check_fits(path, arrays, "opt", optimizer.state()[1], "optimizer state")
        try:
            optimizer.check_state({k[len("opt/"):]: v for k, v in arrays.items() if k.startswith("opt/")})
        except ValueError as err:
            raise CheckpointError(f"{path}: {err}") from None
    if rng is not None:
        try:
            type(rng.bit_generator)().state = meta["rng_state"]  # on a scratch generator first
        except (TypeError, ValueError, KeyError, OverflowError) as err:
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


def _refuse_missing_settings(path, meta, settings):
    """Raise CheckpointError if the checkpoint's ``train_config`` lacks one of ``settings``: from
    an older version, the message says which version and what to do; from this one, the caller
    compares more settings than the run that wrote it had."""
    missing = sorted(k for k in settings if k not in meta["train_config"])
    if not missing:
        return
    if meta["version"] < VERSION:
        raise CheckpointError(
            f"{path}: a checkpoint of format version {meta['version']}, written by an older dmf-numpy that did not "
            f"record {', '.join(missing)}; this version (format {VERSION}) resumes a run only when the checkpoint "
            "records every setting: train again into another output folder (or delete this checkpoint), or "
            "finish the run with the dmf-numpy that wrote it")
    raise CheckpointError(f"{path}: written with other settings ({', '.join(missing)} not recorded in it); use "
                          "another output folder or delete the checkpoint")


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
