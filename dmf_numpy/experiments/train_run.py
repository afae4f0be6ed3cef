"""One training run in a folder: what ``dmf-numpy train`` does, on the MNIST halves or on your
own arrays.

:class:`TrainConfig` holds every setting of a run; :func:`run` loads the data it names, builds
the model, optionally pretrains it, and trains it with :func:`dmf_numpy.training.loop.fit`,
writing ``config.json``, the checkpoint and the history into the run's folder. The MNIST
experiment is one use of the general API: its test conditions (both halves, the right half
alone, the left half alone) are evaluated after every epoch through ``fit``'s ``metrics``.

Default hyperparameters
-----------------------
The paper gives none. The defaults are the same for all three models (a fair comparison):
Adam (lr 1e-3, betas 0.9/0.999), batch 100, 20 epochs, learning rate decayed by 0.9 per epoch.
Adam's per-parameter step sizes make sigmoid networks from Glorot initialization converge in a
few epochs, and the decay settles them so the error at the end
of the fixed schedule is not the luck of the last mini-batches. The schedule length fits the
time budget of one Table 1 seed (12 trainings in 15 minutes on 2 cores) and was checked on the
*validation* split, never the test set: in the committed runs the validation error is lowest
between epochs 13 and 20 for DMF and 16 and 20 for EMF and IMF, and at epoch 20 it is within
0.4 points (DMF) and 0.2 points (EMF, IMF) of that minimum.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import time
from pathlib import Path

from ..core.checks import check_dims, check_integer, check_positive_int, check_seed
from ..core.errors import UserError
from ..core.fusion import MODELS, build_model, check_init
from ..datasets.arrays import load_arrays
from ..datasets.halves import (CONDITIONS, HALF_WIDTH, apply_condition, check_damage, check_damage_kind, load_halves,
                               shift_halves)
from ..files import run_lock, write_json
from ..training.checkpoint import CheckpointError, changed_settings
from ..training.loop import check_modality_dropout, evaluate, fit, refuse_existing_run
from ..training.optim import check_lr, check_lr_decay, check_momentum, check_optimizer
from ..training.pretrain import pretrain
from .common import machine_record
from .paper import PAPER_SIZES

#: The test conditions of an arrays data set, named after the MNIST ones they mirror: both
#: modalities, y alone (x zero-filled), x alone (y zero-filled).
ARRAY_CONDITIONS = {"x+y": "left+right", "y": "right", "x": "left"}

#: Settings that only apply to the MNIST halves, refused with ``arrays``.
MNIST_ONLY = {"damage": 0.0, "damage_kind": "pixels", "damage_on": "all", "n_val": 10_000, "shift": 0}
#: Where the damage goes: the training and the test images (the paper's protocol as we read it),
#: or the (validation and) test images only.
DAMAGE_ON = ("all", "test")


@dataclasses.dataclass
class TrainConfig:
    """Everything that determines a training run; saved with its results so it can be rerun.

    The seed fixes every random choice: the initialization (``seed``), the validation split and
    the damage masks (streams derived from ``seed``), the shuffling and the dropped modalities.
    Beyond the defaults (the committed results' protocol): ``init="fan_in"`` (see
    :data:`dmf_numpy.core.fusion.INITS`), ``damage_on="test"`` (intact training images),
    ``modality_dropout`` (see :func:`dmf_numpy.training.loop.fit`) and ``pretrain`` epochs of
    generative pretraining of the encoder, for any of the three models. With ``arrays`` (the
    path of an ``.npz`` file, :func:`dmf_numpy.datasets.arrays.load_arrays`) the run trains on
    those arrays instead of MNIST: the input sizes (``x_dims[0]``, ``y_dims[0]``) and the number
    of classes are then taken from the data, and the MNIST-only settings ``damage``,
    ``damage_kind`` and ``n_val`` must keep their defaults.
    """

    model: str = "dmf"
    damage: float = 0.0
    damage_kind: str = "pixels"
    damage_on: str = "all"
    epochs: int = 20
    batch_size: int = 100
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    lr_decay: float = 0.9
    pretrain: int = 0
    seed: int = 0
    n_val: int = 10_000
    subset: int | None = None
    dtype: str = "float32"
    x_dims: tuple = PAPER_SIZES["x_dims"]
    y_dims: tuple = PAPER_SIZES["y_dims"]
    shared_dims: tuple = PAPER_SIZES["shared_dims"]
    n_classes: int = PAPER_SIZES["n_classes"]
    arrays: str | None = None
    init: str = "glorot"
    modality_dropout: float = 0.0
    shift: int = 0

    def __post_init__(self):
        # Every field is checked and stored as a plain Python value (NumPy scalars are accepted),
        # so that config.json and the checkpoint's settings are JSON.
        if not isinstance(self.model, str) or self.model not in MODELS:
            raise UserError(f"model: expected one of {sorted(MODELS)}, got {self.model!r}")
        self.optimizer = check_optimizer(self.optimizer)
        self.damage = check_damage(self.damage)
        self.epochs = check_positive_int("epochs", self.epochs)
        self.batch_size = check_positive_int("batch_size", self.batch_size)
        self.pretrain = check_integer("pretrain", self.pretrain, 0, "a number of epochs (0: none)")
        self.n_val = check_integer("n_val", self.n_val, 0, "a number of training images to hold out (0: none)")
        if self.subset is not None:
            self.subset = check_positive_int("subset", self.subset)
        self.n_classes = check_integer("n_classes", self.n_classes, 2, "a number of classes (2 or more)")
        self.seed = check_seed(self.seed)
        self.damage_kind = check_damage_kind(self.damage_kind)
        if self.damage_on not in DAMAGE_ON:
            raise UserError(f"damage_on: expected one of {list(DAMAGE_ON)}, got {self.damage_on!r}")
        check_init(self.init)
        if isinstance(self.shift, bool) or not isinstance(self.shift, int) or not 0 <= self.shift < HALF_WIDTH:
            raise UserError(f"shift: expected a whole number of pixels in [0, {HALF_WIDTH}), got {self.shift!r}")
        self.modality_dropout = check_modality_dropout(self.modality_dropout)
        self.lr = check_lr(self.lr)
        self.momentum = check_momentum(self.momentum)
        self.lr_decay = check_lr_decay(self.lr_decay)
        if self.arrays is not None and not isinstance(self.arrays, (str, os.PathLike)):
            raise UserError(f"arrays: expected the path of an .npz file or None, got {self.arrays!r}")
        if self.arrays is not None:
            changed = [k for k, default in MNIST_ONLY.items() if getattr(self, k) != default]
            if changed:
                raise UserError(f"{', '.join(changed)}: only for the MNIST halves, not with arrays "
                                f"({self.arrays}); damage your arrays before saving them instead")
            self.arrays = str(self.arrays)
        self.x_dims, self.y_dims, self.shared_dims = (
            check_dims(name, getattr(self, name)) for name in ("x_dims", "y_dims", "shared_dims"))

    def to_dict(self):
        return dataclasses.asdict(self)

    @property
    def run_name(self):
        """A folder name for this run, e.g. ``dmf_damage0.30_seed0`` (``dmf_mine_seed0`` for
        ``arrays="mine.npz"``)."""
        if self.arrays is not None:
            return f"{self.model}_{Path(self.arrays).stem}_seed{self.seed}"
        return f"{self.model}_damage{self.damage:.2f}_seed{self.seed}"


def condition_errors(model, split, conditions=CONDITIONS):
    """Classification error in % of ``model`` on one split under each test condition.

    Parameters
    ----------
    model : FusionNet
    split : tuple ``(x (N, d_x), y (N, d_y), labels (N,))``
    conditions : sequence of str
        Names of :data:`dmf_numpy.datasets.halves.CONDITIONS` (``"left+right"``, ``"right"``:
        the left half zero-filled, ``"left"``) or of :data:`ARRAY_CONDITIONS`.

    Returns
    -------
    dict of str to float
    """
    x, y, labels = split
    return {c: evaluate(model, *apply_condition(x, y, ARRAY_CONDITIONS.get(c, c)), labels).error
            for c in conditions}


#: Every :class:`TrainConfig` field's default: the value a run's ``config.json`` written before
#: the field existed is compared as (the committed results' folders predate some fields). A
#: checkpoint has no such defaults: it records every setting (format version 3).
DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainConfig)}


def load_data(config, data_dir=None):
    """The :class:`~dmf_numpy.datasets.arrays.Splits` a config trains on: its arrays file
    (cut to ``subset`` samples per split), else the MNIST halves from ``data_dir``."""
    if config.arrays is None:
        return load_halves(data_dir, damage_p=config.damage, damage_kind=config.damage_kind,
                           damage_train=config.damage_on == "all", n_val=config.n_val, seed=config.seed,
                           subset=config.subset)
    data = load_arrays(config.arrays)
    return dataclasses.replace(data, **{name: None if split is None else tuple(a[:config.subset] for a in split)
                                        for name, split in vars(data).items()})


def fit_to_data(config, data):
    """``config`` with the input sizes and number of classes of an arrays data set (unchanged
    for MNIST, whose sizes are the paper's)."""
    if config.arrays is None:
        return config
    splits = [s for s in (data.train, data.val, data.test) if s is not None]
    n_classes = max(2, 1 + max(int(s[2].max()) for s in splits))
    return dataclasses.replace(config, x_dims=(data.train[0].shape[1], *config.x_dims[1:]),
                               y_dims=(data.train[1].shape[1], *config.y_dims[1:]), n_classes=n_classes)


def run(config, *, data_dir=None, out_dir=None, resume=False, log=print, data=None, command=None):
    """Load the data a config asks for, build the model, and fit it.

    Parameters
    ----------
    config : TrainConfig
    data_dir : str or Path, optional
        Where MNIST is (see :func:`dmf_numpy.datasets.mnist.load_mnist` for the search order);
        unused with ``config.arrays``.
    out_dir : str or Path, optional
        Folder for ``config.json``, the checkpoint and the history. It is held for the whole run
        (:func:`dmf_numpy.files.run_lock`): a second run into it is refused.
    resume : bool
        Continue the interrupted run in ``out_dir`` (from scratch if it holds no checkpoint yet).
        Without it, a folder that already holds a run (its checkpoint, or its ``config.json``)
        is refused rather than overwritten. With or without it, a folder whose ``history.json``
        has lost its checkpoint (a finished run whose checkpoint was deleted, say) is refused:
        nothing can be continued from it, and a new run would write over it.
    log : callable
    data : Splits, optional
        Already loaded data (skips loading; it must match ``config``'s damage, seed and subset).
    command : str, optional
        What started the run, recorded in the folder's lock.

    Returns
    -------
    dict
        ``config`` (as a dict, with the sizes taken from the data), ``history``, ``model`` (the
        trained model), ``final_test_error`` (condition -> %; empty without a test split) and
        ``seconds``.

    Raises
    ------
    CheckpointError
        If ``out_dir`` holds a run and ``resume`` is False, a history without its checkpoint, or
        a run of another architecture or with other settings (its ``config.json`` or its
        checkpoint).
    FolderLocked
        If another run is writing into ``out_dir``.
    """
    if out_dir is None:
        return _run(config, data_dir, None, resume, log, data)
    with run_lock(out_dir, command or f"dmf-numpy train ({config.run_name})"):
        return _run(config, data_dir, Path(out_dir), resume, log, data)


def _run(config, data_dir, out_dir, resume, log, data):
    start = time.perf_counter()
    if out_dir is not None:  # before the data is read or the encoder pretrained
        refuse_existing_run(out_dir, resume=resume)
        if not resume and (out_dir / "config.json").exists():
            raise CheckpointError(f"{out_dir / 'config.json'}: a run was started in this folder (it saved no "
                                  "epoch yet); continue it (--resume, resume=True) or use another output folder")
    resuming = resume and out_dir is not None and (out_dir / "checkpoint.npz").exists()
    if data is None:
        data = load_data(config, data_dir)
    config = fit_to_data(config, data)
    if out_dir is not None and resume:
        refuse_other_settings(out_dir / "config.json", config.to_dict())
    conditions = list(ARRAY_CONDITIONS) if config.arrays is not None else CONDITIONS

    def prefixed(line):
        log(f"[{config.run_name}] {line}")

    model = build_model(config.to_dict())
    if config.pretrain and not resuming:  # a checkpoint already holds the pretrained weights
        prefixed(f"generative pretraining of the encoder, {config.pretrain} epochs")
        pretrain(model, data.train[0], data.train[1], epochs=config.pretrain, seed=config.seed, log=prefixed)
    if out_dir is not None and not resuming:  # a resumed run keeps the config.json it began with
        # the settings, and what a bit-for-bit rerun needs besides (BLAS kernel, threads, NumPy)
        write_json(out_dir / "config.json", {**config.to_dict(), "reproducibility": machine_record()})

    def metrics(model):
        return {f"{name}_error": condition_errors(model, split, conditions) if _has_samples(split) else {}
                for name, split in (("val", data.val), ("test", data.test))}

    augment = functools.partial(shift_halves, max_shift=config.shift) if config.shift else None
    history = fit(model, *data.train, epochs=config.epochs, batch_size=config.batch_size,
                  optimizer=config.optimizer, lr=config.lr, momentum=config.momentum, lr_decay=config.lr_decay,
                  augment=augment, modality_dropout=config.modality_dropout, seed=config.seed, out_dir=out_dir,
                  resume=resume, metrics=metrics, settings=config.to_dict(), log=prefixed)
    return {"config": config.to_dict(), "history": history, "model": model,
            "final_test_error": history[-1]["test_error"], "seconds": time.perf_counter() - start}


def refuse_other_settings(path, settings, *, key=None, kind=""):
    """Raise CheckpointError if ``path``, a ``config.json``, holds other settings than ``settings``
    (a :meth:`TrainConfig.to_dict`, or part of one), or cannot be read; nothing if it is absent.

    ``key`` names the entry that holds the settings (``"train_config"`` in a Table 1 folder's
    ``config.json``; None: the whole file, as in a run's), and ``kind`` what the folder holds,
    for the message (``"Table 1 "``).
    """
    if not path.exists():
        return
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        changed = changed_settings(saved if key is None else saved[key], settings, DEFAULTS)
    except (OSError, ValueError, KeyError, AttributeError, TypeError) as err:
        raise CheckpointError(f"{path}: not a readable {kind or 'run '}config.json ({err}); use another output "
                              "folder or delete it") from None
    if changed:
        raise CheckpointError(f"{path}: this folder holds a {kind}run with other settings ({', '.join(changed)} "
                              "differ); use another output folder")


def _has_samples(split):
    return split is not None and split[2].size > 0


def finished_run(out_dir, config):
    """The result of ``config``'s run in ``out_dir`` if that run is finished, read from its history
    without training; None if it is not (or not there).

    A run is finished when its ``history.json`` holds all ``config.epochs`` epochs, each with a
    finite ``train_loss``, a ``test_error`` for every test condition and its ``seconds``; its
    checkpoint need not be there any more (results committed without their checkpoints). A
    history that cannot be read counts as not finished: resuming the run from its checkpoint,
    which rewrites the history, or refusing the folder, is :func:`run`'s part.

    Returns
    -------
    dict or None
        As :func:`run` returns, without ``model``: ``config``, ``history``,
        ``final_test_error`` and ``seconds`` (0: nothing was trained).

    Raises
    ------
    CheckpointError
        If the folder's ``config.json`` holds other settings (as for a resume).
    """
    out_dir = Path(out_dir)
    try:
        history = json.loads((out_dir / "history.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    conditions = list(ARRAY_CONDITIONS) if config.arrays is not None else CONDITIONS
    if not _complete(history, config.epochs, conditions):
        return None
    refuse_other_settings(out_dir / "config.json", config.to_dict())
    return {"config": config.to_dict(), "history": history, "final_test_error": history[-1]["test_error"],
            "seconds": 0.0}


def _complete(history, epochs, conditions):
    def number(value):
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

    return (isinstance(history, list) and len(history) == epochs
            and all(isinstance(r, dict) and r.get("epoch") == k + 1 and number(r.get("train_loss"))
                    and number(r.get("seconds")) and isinstance(r.get("test_error"), dict)
                    and all(number(r["test_error"].get(c)) for c in conditions)
                    for k, r in enumerate(history)))
