"""The paper's toy experiment (Sec. 3.1): the left and right halves of an MNIST digit as two
modalities, the right half damaged.

Following Ngiam et al. (2011), the paper treats the left and right halves of an MNIST digit as
two modalities that jointly describe the same digit, damages the right half "at different
levels, i.e., {0, 30%, 50%, 70%}" by setting part of it to zero, and tests with both halves
("left+right") or with the right half alone ("right modality"):

1. cut each ``(28, 28)`` image into the two ``392``-pixel modalities (:func:`split_halves`);
2. damage the right half (:func:`damage`) and build the test conditions
   (:func:`apply_condition`);
3. all of the above plus a seeded train/validation split in one call, from MNIST
   (:func:`load_halves`) or from any four arrays of 28 x 28 images (:func:`make_halves`).
"""

from __future__ import annotations

import numpy as np

from ..core.checks import check_integer, check_positive_int, check_real
from ..core.errors import UserError
from .arrays import Splits
from .mnist import MNIST_FILES, MNIST_IMAGE_SIZE, load_mnist

MNIST_TRAIN_COUNT = MNIST_FILES["train_images"].count
"""Images in MNIST's training file: 60,000."""

# ---------------------------------------------------------------------------------------------
# The two modalities
# ---------------------------------------------------------------------------------------------

HALF_WIDTH = MNIST_IMAGE_SIZE // 2
"""Columns per half image: 14."""

HALF_SIZE = MNIST_IMAGE_SIZE * HALF_WIDTH
"""Pixels per half image, the input size of each modality: 392."""


def split_halves(images):
    """Cut MNIST images into the two modalities: the left and the right half.

    Parameters
    ----------
    images : ndarray of uint8, (N, 28, 28)

    Returns
    -------
    left : ndarray of float32, (N, 392)
        Columns 0..13 of each image, row by row (row-major ``(28, 14)`` flattened), / 255.
    right : ndarray of float32, (N, 392)
        Columns 14..27, likewise.

    Both are new C-contiguous arrays with values in [0, 1].

    Raises
    ------
    UserError
        If ``images`` is not a uint8 array of shape (N, 28, 28).
    """
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1:] != (MNIST_IMAGE_SIZE, MNIST_IMAGE_SIZE):
        raise UserError(f"images: expected shape (N, 28, 28), got {images.shape}")
    if images.dtype != np.uint8:
        raise UserError(f"images: expected dtype uint8 (pixels 0..255), got {images.dtype}")
    return _unit_rows(images[:, :, :HALF_WIDTH]), _unit_rows(images[:, :, HALF_WIDTH:])


def _unit_rows(pixels):
    """(N, 28, 14) uint8 -> a new C-contiguous (N, 392) float32 array in [0, 1]."""
    rows = pixels.reshape(len(pixels), HALF_SIZE).astype(np.float32)
    rows /= 255
    return rows


# ---------------------------------------------------------------------------------------------
# Damaging the right half
# ---------------------------------------------------------------------------------------------

DAMAGE_KINDS = ("pixels", "columns", "noise")
"""``"pixels"`` is the paper's damage; ``"columns"`` and ``"noise"`` go beyond the paper."""


def _random_subsets(rng, n, size, k):
    """A boolean mask (n, size) with exactly ``k`` True entries per row, at random places."""
    order = rng.permuted(np.tile(np.arange(size), (n, 1)), axis=1)  # a random permutation per row
    mask = np.zeros((n, size), dtype=bool)
    np.put_along_axis(mask, order[:, :k], True, axis=1)
    return mask


def damage(right, p, *, kind="pixels", seed=0):
    """Return a damaged copy of right half images (the input is never modified).

    Parameters
    ----------
    right : ndarray of float, (N, 392)
        Right halves as returned by :func:`split_halves` (each row a row-major (28, 14) image).
    p : float in [0, 1)
        The damage level.
    kind : {"pixels", "columns", "noise"}, optional
        * ``"pixels"`` (the paper's: "randomly set part of the right half to zeros"): in every
          image independently, a random set of exactly ``round(p * 392)`` of its 392 pixels is
          set to zero.
        * ``"columns"`` (beyond the paper, an occlusion): in every image, a random set of
          ``round(p * 14)`` of its 14 columns is set to zero.
        * ``"noise"`` (beyond the paper): Gaussian noise of standard deviation ``p`` is added
          to every pixel and the result clipped to [0, 1].
    seed : int or numpy.random.Generator, optional
        The randomness; the same seed gives the same damage. A Generator is used (and
        advanced) as it is.

    Returns
    -------
    ndarray, (N, 392), same dtype as ``right``

    Raises
    ------
    UserError
        If ``right`` is not (N, 392), ``p`` is outside [0, 1) or ``kind`` is unknown.
    """
    right = np.asarray(right)
    if right.ndim != 2 or right.shape[1] != HALF_SIZE:
        raise UserError(f"right: expected shape (N, {HALF_SIZE}), got {right.shape}")
    p, kind = check_damage(p, "p"), check_damage_kind(kind, "kind")
    rng = np.random.default_rng(seed)
    n = right.shape[0]
    if kind == "pixels":
        dropped = _random_subsets(rng, n, HALF_SIZE, round(p * HALF_SIZE))
        return right * ~dropped
    if kind == "columns":
        dropped = _random_subsets(rng, n, HALF_WIDTH, round(p * HALF_WIDTH))
        # (N, 28, 14) images times a (N, 1, 14) keep-mask broadcast over the rows.
        kept = right.reshape(n, MNIST_IMAGE_SIZE, HALF_WIDTH) * ~dropped[:, None, :]
        return kept.reshape(n, HALF_SIZE)
    # kind == "noise"
    noise = rng.standard_normal(right.shape, dtype=np.float32) * np.float32(p)
    return np.clip(right + noise, 0, 1).astype(right.dtype, copy=False)


def check_damage(p, name="damage"):
    """Return the damage level ``p`` as a float if it is a fraction in [0, 1), else raise
    UserError: the package's one check of it (:func:`damage`, ``TrainConfig``, the command line)."""
    return check_real(name, p, "a fraction in [0, 1)", lambda v: 0 <= v < 1)


def check_damage_kind(kind, name="damage_kind"):
    """Return ``kind`` if it is one of :data:`DAMAGE_KINDS`, else raise UserError."""
    if not isinstance(kind, str) or kind not in DAMAGE_KINDS:
        raise UserError(f"{name}: expected one of {list(DAMAGE_KINDS)}, got {kind!r}")
    return kind


# ---------------------------------------------------------------------------------------------
# Test conditions
# ---------------------------------------------------------------------------------------------

CONDITIONS = ("left+right", "right", "left")
"""Which modalities a model sees at test time.

``"left+right"``: both (Table 1, upper rows). ``"right"``: the left half is replaced by zeros,
so only the (possibly damaged) right half is seen (Table 1, "right modality" rows).
``"left"``: the right half is replaced by zeros (beyond the paper).
"""


def apply_condition(left, right, condition):
    """Blank out the modality a test condition withholds.

    Parameters
    ----------
    left, right : ndarray, (N, 392)
    condition : {"left+right", "right", "left"}
        See :data:`CONDITIONS`.

    Returns
    -------
    x, y : ndarray, (N, 392)
        The left and right inputs: each either the given array itself (not copied) or zeros
        of its shape and dtype.

    Raises
    ------
    UserError
        If ``condition`` is unknown.
    """
    if condition == "left+right":
        return left, right
    if condition == "right":
        return np.zeros_like(left), right
    if condition == "left":
        return left, np.zeros_like(right)
    raise UserError(f"unknown condition {condition!r}; valid conditions: {', '.join(CONDITIONS)}")


def shift_halves(left, right, rng, max_shift):
    """Translate each digit by a random whole number of pixels: data augmentation, a regularizer.

    The two halves of each sample are joined into its ``(28, 28)`` image, moved by ``(dr, dc)``
    rows and columns, each drawn uniformly from ``-max_shift .. max_shift``, with zeros shifted
    in, and cut again; so a column can cross from one modality into the other, as it would if
    the digit had been written a little further left or right. Used for training batches only
    (``TrainConfig.shift``); the paper names no augmentation.

    Parameters
    ----------
    left, right : ndarray, (N, 392)
        Halves as :func:`split_halves` returns them.
    rng : numpy.random.Generator
        Draws the ``2 N`` offsets.
    max_shift : int
        The largest move, in pixels, in each direction (0: the inputs, unchanged).

    Returns
    -------
    left, right : ndarray, (N, 392)
        New arrays of the inputs' dtype.
    """
    n, s = left.shape[0], max_shift
    if s == 0:
        return left, right
    images = np.concatenate([left.reshape(n, MNIST_IMAGE_SIZE, HALF_WIDTH),
                             right.reshape(n, MNIST_IMAGE_SIZE, HALF_WIDTH)], axis=2)
    padded = np.pad(images, ((0, 0), (s, s), (s, s)))
    dr, dc = rng.integers(-s, s + 1, size=(2, n, 1, 1))
    pixels = np.arange(MNIST_IMAGE_SIZE)
    # Output pixel (i, j) of sample k is input pixel (i - dr, j - dc), i.e. padded (s + i - dr, s + j - dc).
    moved = padded[np.arange(n)[:, None, None], s - dr + pixels[None, :, None], s - dc + pixels[None, None, :]]
    return (moved[:, :, :HALF_WIDTH].reshape(n, HALF_SIZE).copy(),
            moved[:, :, HALF_WIDTH:].reshape(n, HALF_SIZE).copy())


# ---------------------------------------------------------------------------------------------
# Everything in one call
# ---------------------------------------------------------------------------------------------


def load_halves(data_dir=None, *, damage_p=0.0, damage_kind="pixels", damage_train=True, n_val=10000, seed=0,
                subset=None, download=True, verify=True):
    """Load MNIST as two modalities, with a seeded validation split and a damaged right half.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        Where the data is; see :func:`~dmf_numpy.datasets.mnist.load_mnist`.
    damage_p, damage_kind, damage_train, n_val, seed, subset
        See :func:`make_halves`.
    download, verify : bool, optional
        See :func:`~dmf_numpy.datasets.mnist.load_mnist`.

    Returns
    -------
    Splits
        See :func:`make_halves`.

    Raises
    ------
    UserError
        If ``n_val``, ``subset``, ``damage_p`` or ``damage_kind`` is invalid (checked before
        the data is read).
    MissingDataError, DataError
        See :func:`~dmf_numpy.datasets.mnist.load_mnist`.
    """
    _check_split_args(n_val, subset)
    check_damage(damage_p, "damage_p"), check_damage_kind(damage_kind)  # before the slow loading
    return make_halves(load_mnist(data_dir, download=download, verify=verify), damage_p=damage_p,
                       damage_kind=damage_kind, damage_train=damage_train, n_val=n_val, seed=seed, subset=subset)


def make_halves(images, *, damage_p=0.0, damage_kind="pixels", damage_train=True, n_val=10000, seed=0,
                subset=None):
    """Cut a data set of 28 x 28 images into the two modalities, split it and damage it.

    Parameters
    ----------
    images : dict of str to ndarray
        ``train_images`` (N, 28, 28) and ``test_images`` (M, 28, 28) of uint8, ``train_labels``
        (N,) and ``test_labels`` (M,): what :func:`~dmf_numpy.datasets.mnist.load_mnist` or
        :func:`~dmf_numpy.datasets.mnist.read_idx_folder` return.
    damage_p : float in [0, 1), optional
        Damage level of the right half (the paper uses 0, 0.3, 0.5 and 0.7).
    damage_kind : {"pixels", "columns", "noise"}, optional
        See :func:`damage`; ``"pixels"`` is the paper's.
    damage_train : bool, optional
        Damage the training split too (the default: training and test images alike). False
        damages only the validation and test splits: the models train on intact right halves
        and meet the damage at test time (the validation split, used to choose settings, is
        damaged as the test split is).
    n_val : int, optional
        Training images held out, at random, as the validation set (10,000 as in
        Sohn et al. 2014, leaving 50,000 of MNIST's to train on). 0 gives an empty validation set.
    seed : int, optional
        Seeds the split, the shuffles and the damage. The damage of the train, validation and
        test sets uses three independent streams derived from it.
    subset : int, optional
        Keep only the first ``subset`` samples of each (shuffled) split, for quick runs.

    Returns
    -------
    Splits
        ``train``: ``N - n_val`` samples, ``val``: ``n_val``, ``test``: M (each at most
        ``subset``), all in a seeded random order, each ``(left (n, 392) float32, right
        (n, 392) float32, labels (n,) int64)``. Damage is applied to the right halves (of the
        training split too, unless ``damage_train`` is False); the left halves are never damaged.
    """
    n_train_total = len(images["train_labels"])
    _check_split_args(n_val, subset, n_train_total)
    damage_p, damage_kind = check_damage(damage_p, "damage_p"), check_damage_kind(damage_kind)
    streams = np.random.SeedSequence(seed).spawn(4)
    split_rng, *damage_rngs = (np.random.default_rng(stream) for stream in streams)
    train_order = split_rng.permutation(n_train_total)
    test_order = split_rng.permutation(len(images["test_labels"]))
    index_sets = {
        "train": ("train", train_order[n_val:]),
        "val": ("train", train_order[:n_val]),
        "test": ("test", test_order),
    }
    splits = {}
    for (name, (source, index)), rng in zip(index_sets.items(), damage_rngs):
        index = index[:subset]
        left, right = split_halves(images[f"{source}_images"][index])
        if name != "train" or damage_train:
            right = damage(right, damage_p, kind=damage_kind, seed=rng)
        splits[name] = (left, right, np.asarray(images[f"{source}_labels"])[index].astype(np.int64))
    return Splits(**splits)


def _check_split_args(n_val, subset, n_train_total=MNIST_TRAIN_COUNT):
    """Raise UserError unless ``0 <= n_val < n_train_total`` and ``subset`` is None or positive."""
    n_val = check_integer("n_val", n_val, 0, "a number of training images to hold out (0: none)")
    if n_val >= n_train_total:
        raise UserError(f"n_val: expected fewer than the {n_train_total} training images, got {n_val}")
    if subset is not None:
        check_positive_int("subset", subset)
