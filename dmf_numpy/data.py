"""MNIST for the paper's toy experiment: the left and right image halves as two modalities.

Section 3.1 of the paper (following Ngiam et al. 2011) treats the left and right halves of
an MNIST digit as two modalities that jointly describe the same digit, damages the right
half "at different levels, i.e., {0, 30%, 50%, 70%}" by setting part of it to zero, and
tests with both halves ("left+right") or with the right half alone ("right modality").
This module provides every step of that pipeline:

1. find the four MNIST files on disk, or download them once into a user cache
   (:func:`resolve_data_dir`, :func:`cache_dir`, :func:`download_file`);
2. read and check them (:func:`read_idx`, :func:`load_mnist`);
3. cut each ``(28, 28)`` image into the two ``392``-pixel modalities (:func:`split_halves`);
4. damage the right half (:func:`damage`) and build the test conditions
   (:func:`apply_condition`);
5. all of the above plus a seeded train/validation split in one call (:func:`load_halves`).

Where the data is looked for, in order:

1. the ``data_dir`` argument (the command line's ``--data-dir DIR``);
2. the environment variable ``DMF_NUMPY_DATA``;
3. the user cache ``$XDG_CACHE_HOME/dmf_numpy/<dataset>`` (``~/.cache/dmf_numpy/<dataset>``
   when ``XDG_CACHE_HOME`` is unset); only this one is ever downloaded into.

A directory from 1 or 2 may be the dataset folder itself or a root holding ``<dataset>/``,
so ``DMF_NUMPY_DATA=../shared/data`` and ``--data-dir ../shared/data/mnist`` both work.
The resolution and download helpers take the dataset name so that other datasets reuse them.

Every problem with a file (truncated, corrupt, wrong checksum, wrong kind) raises
:class:`DataError`, whose message names the file and the problem; finding no data at all
raises :class:`MissingDataError`, whose message says what to do.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import operator
import os
import sys
import urllib.request
import zlib
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .files import atomic_path

DATA_ENV_VAR = "DMF_NUMPY_DATA"
"""Environment variable naming a data directory (a dataset folder, or a root of them)."""

DOWNLOAD_TIMEOUT = 10.0
"""Seconds a download may wait for the server on any one connect or read."""


class DataError(ValueError):
    """A data file is corrupt, truncated, of the wrong kind or fails its checksum."""


class MissingDataError(DataError):
    """No usable copy of a dataset could be found or downloaded."""


# ---------------------------------------------------------------------------------------------
# IDX files
# ---------------------------------------------------------------------------------------------

_GZIP_MAGIC = b"\x1f\x8b"
_IDX_UBYTE = 0x08
_IDX_TYPE_NAMES = {
    0x08: "unsigned byte",
    0x09: "signed byte",
    0x0B: "int16",
    0x0C: "int32",
    0x0D: "float32",
    0x0E: "float64",
}


def read_idx(path):
    """Read an IDX file of unsigned bytes, gzip-compressed or not.

    The IDX format (LeCun et al.) is a 4-byte magic number ``00 00 <type> <ndim>``,
    then ``ndim`` big-endian uint32 sizes, then the data in C order.

    Parameters
    ----------
    path : str or os.PathLike
        The file. It is decompressed first if its name ends in ``.gz`` or it starts with the
        gzip magic bytes ``1f 8b``.

    Returns
    -------
    ndarray of uint8, shape given by the header (``(N, 28, 28)`` for MNIST images,
    ``(N,)`` for labels)

    Raises
    ------
    DataError
        If the gzip stream is corrupt, the magic number is wrong, the type is not unsigned
        byte, or the data is shorter or longer than the header says.
    """
    path = Path(path)
    return _parse_idx(_decompress(path, read_bytes(path)), path)


def read_bytes(path):
    """Return the whole content of ``path`` as bytes, or raise DataError naming it."""
    try:
        return path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: cannot read: {err}") from err


def check_sha256(path, content, expected, what="canonical"):
    """Raise DataError unless ``content`` (the bytes of ``path``) has SHA-256 ``expected``.

    ``what`` names the expected file in the message ("canonical MNIST", ...).
    """
    actual = hashlib.sha256(content).hexdigest()
    if actual != expected:
        raise DataError(
            f"{path}: checksum mismatch: expected SHA-256 {expected}, got {actual}; "
            f"the file is damaged or not the {what} file (replace it with the {what} file, "
            "or, from Python, pass verify=False to skip this check)"
        )


def _decompress(path, content):
    """Return ``content`` gunzipped if ``path`` is a gzip file, else unchanged."""
    if not (path.name.endswith(".gz") or content.startswith(_GZIP_MAGIC)):
        return content
    try:
        return gzip.decompress(content)
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"{path}: corrupt gzip data: {err}") from err


def _parse_idx(raw, path):
    """Decode the IDX bytes ``raw`` read from ``path`` (used in error messages only)."""
    if len(raw) < 4:
        raise DataError(f"{path}: truncated: {len(raw)} bytes, too short for the IDX magic number")
    magic = int.from_bytes(raw[:4], "big")
    type_code, ndim = raw[2], raw[3]
    if raw[0] != 0 or raw[1] != 0 or type_code not in _IDX_TYPE_NAMES or ndim == 0:
        raise DataError(
            f"{path}: bad magic number {magic} (0x{magic:08x}), not an IDX file "
            "(expected bytes 00 00 <type> <ndim> with a known type and ndim >= 1)"
        )
    if type_code != _IDX_UBYTE:
        raise DataError(
            f"{path}: unsupported IDX data type 0x{type_code:02x} ({_IDX_TYPE_NAMES[type_code]}); "
            f"only 0x{_IDX_UBYTE:02x} (unsigned byte) is supported"
        )
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise DataError(
            f"{path}: truncated header: {ndim} dimensions need {header_len} header bytes, "
            f"file has {len(raw)}"
        )
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    n_expected = math.prod(shape)
    n_actual = len(raw) - header_len
    if n_actual != n_expected:
        excess = n_actual - n_expected
        problem = "truncated" if excess < 0 else f"{excess} trailing bytes"
        raise DataError(
            f"{path}: {problem}: header says {'x'.join(map(str, shape))} = {n_expected} bytes "
            f"of data, file has {n_actual}"
        )
    # frombuffer gives a read-only view of the bytes; copy to hand out an ordinary array.
    return np.frombuffer(raw, dtype=np.uint8, offset=header_len).reshape(shape).copy()


# ---------------------------------------------------------------------------------------------
# The four MNIST files
# ---------------------------------------------------------------------------------------------

MNIST_IMAGE_SIZE = 28
"""MNIST images are 28 x 28 pixels."""


@dataclass(frozen=True)
class MNISTFile:
    """One of the four canonical MNIST files and how to check it.

    Attributes
    ----------
    gz_name : str
        The published file name, e.g. ``"train-images-idx3-ubyte.gz"``.
    gz_sha256 : str
        SHA-256 of the published ``.gz`` bytes.
    raw_sha256 : str
        SHA-256 of the decompressed IDX bytes, for an uncompressed copy named
        :attr:`raw_name`.
    kind : {"images", "labels"}
    count : int
        Number of images or labels in the file.
    """

    gz_name: str
    gz_sha256: str
    raw_sha256: str
    kind: str
    count: int

    @property
    def raw_name(self):
        """The name of an uncompressed copy: :attr:`gz_name` without ``.gz``."""
        return self.gz_name.removesuffix(".gz")

    @property
    def shape(self):
        """The array shape: ``(count, 28, 28)`` for images, ``(count,)`` for labels."""
        if self.kind == "images":
            return (self.count, MNIST_IMAGE_SIZE, MNIST_IMAGE_SIZE)
        return (self.count,)


# Keys are those of the dict returned by load_mnist. Provenance: shared/data/mnist/SOURCE.md.
MNIST_FILES = {
    "train_images": MNISTFile(
        "train-images-idx3-ubyte.gz",
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "images",
        60000,
    ),
    "train_labels": MNISTFile(
        "train-labels-idx1-ubyte.gz",
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "labels",
        60000,
    ),
    "test_images": MNISTFile(
        "t10k-images-idx3-ubyte.gz",
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "images",
        10000,
    ),
    "test_labels": MNISTFile(
        "t10k-labels-idx1-ubyte.gz",
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        "labels",
        10000,
    ),
}
"""The four MNIST files, keyed like the dict :func:`load_mnist` returns."""

MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
"""Public mirrors of the canonical ``.gz`` files, tried in this order."""


# ---------------------------------------------------------------------------------------------
# Where the data lives
# ---------------------------------------------------------------------------------------------


class DataDir(NamedTuple):
    """Where a dataset is looked for, as decided by :func:`resolve_data_dir`.

    Attributes
    ----------
    path : Path
        The dataset folder: where its files are expected.
    origin : {"argument", "environment", "cache"}
        What chose it: the ``data_dir`` argument, ``DMF_NUMPY_DATA``, or the default cache.
    searched : tuple of Path
        The folders considered, for error messages.
    """

    path: Path
    origin: str
    searched: tuple

    @property
    def explicit(self):
        """True if the user named the directory (argument or environment variable)."""
        return self.origin != "cache"


_ORIGIN_TEXT = {
    "argument": "the --data-dir option / data_dir argument",
    "environment": f"the environment variable {DATA_ENV_VAR}",
    "cache": "the user cache",
}


def cache_dir(dataset):
    """The user cache folder of ``dataset``, which downloads go into.

    Parameters
    ----------
    dataset : str
        The dataset's folder name, e.g. ``"mnist"``.

    Returns
    -------
    Path
        ``$XDG_CACHE_HOME/dmf_numpy/<dataset>``, or ``~/.cache/dmf_numpy/<dataset>`` when
        ``XDG_CACHE_HOME`` is unset or not an absolute path (as the XDG spec asks). The folder
        may not exist yet.
    """
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "dmf_numpy" / dataset


def resolve_data_dir(dataset, data_dir=None):
    """Decide which folder holds ``dataset``.

    Parameters
    ----------
    dataset : str
        The dataset's folder name, e.g. ``"mnist"``.
    data_dir : str or os.PathLike, optional
        A directory given by the user (``--data-dir``). If None, the environment variable
        ``DMF_NUMPY_DATA`` is used; if that is unset or empty, :func:`cache_dir`.

    Returns
    -------
    DataDir
        For a user-given directory ``D``: ``D/<dataset>`` if that is a folder (``D`` is a root
        of datasets), else ``D`` itself (``D`` is the dataset folder). Whether the files are
        there is for the caller to check.

    Raises
    ------
    MissingDataError
        If a user-given directory does not exist. It is an error rather than a reason to fall
        back to the cache, so that a typo never goes unnoticed.
    """
    if data_dir is not None:
        origin, given = "argument", data_dir
    elif os.environ.get(DATA_ENV_VAR):
        origin, given = "environment", os.environ[DATA_ENV_VAR]
    else:
        folder = cache_dir(dataset)
        return DataDir(folder, "cache", (folder,))

    base = Path(given).expanduser()
    if not base.is_dir():
        raise MissingDataError(
            f"{base}, given by {_ORIGIN_TEXT[origin]}, is not an existing directory.\n"
            + _how_to_fix(dataset)
        )
    nested = base / dataset
    return DataDir(nested if nested.is_dir() else base, origin, (base, nested))


def _how_to_fix(dataset):
    """The instructions that end every MissingDataError message."""
    return (
        "To fix, do one of:\n"
        f"  - put the files in {cache_dir(dataset)}\n"
        f"  - pass --data-dir DIR, where DIR holds the files or a folder {dataset}/ with them\n"
        f"  - set {DATA_ENV_VAR}=DIR (same meaning as --data-dir)"
    )


def missing_data_error(dataset, files, missing, where, notes=()):
    """Build the MissingDataError for files of ``dataset`` that are not there.

    Parameters
    ----------
    dataset : str
        The dataset's folder name, e.g. ``"mnist"``.
    files : sequence of str
        All the files the dataset needs, listed in the message.
    missing : collection of str
        Those of ``files`` that were not found, marked in the message.
    where : DataDir
        Where they were looked for.
    notes : sequence of str, optional
        Extra lines, e.g. why a download failed.

    Returns
    -------
    MissingDataError
    """
    listing = "\n".join(f"  {name}{'  (missing)' if name in missing else ''}" for name in files)
    searched = ", ".join(str(p) for p in where.searched)
    return MissingDataError(
        f"{dataset} data not found.\nNeeded files:\n{listing}\n"
        f"Searched: {searched} (from {_ORIGIN_TEXT[where.origin]})\n"
        + "".join(f"{note}\n" for note in notes)
        + _how_to_fix(dataset)
    )


# ---------------------------------------------------------------------------------------------
# Downloading
# ---------------------------------------------------------------------------------------------


def _urlopen(url, timeout):
    """Open ``url`` for reading. All network access goes through here (tests replace it).

    Returns
    -------
    A binary file-like context manager with ``read(n)`` and a ``headers`` mapping.
    """
    return urllib.request.urlopen(url, timeout=timeout)


def download_file(url, dest, sha256, *, timeout=DOWNLOAD_TIMEOUT, chunk_size=1 << 16):
    """Download ``url`` to ``dest`` atomically, keeping it only if its SHA-256 matches.

    The bytes are streamed into a temporary file next to ``dest`` and hashed on the way; only
    a complete file with the right hash is renamed to ``dest`` (:func:`files.atomic_path`).
    On any failure the temporary file is removed, so ``dest`` is either absent or verified.
    Progress goes to stderr.

    Parameters
    ----------
    url : str
    dest : str or os.PathLike
        The final file; its folder is created if needed.
    sha256 : str
        Expected hex SHA-256 of the downloaded bytes.
    timeout : float, optional
        Seconds to wait on any one connect or read.
    chunk_size : int, optional
        Bytes read at a time.

    Raises
    ------
    DataError
        If the download is complete but its hash differs from ``sha256``.
    OSError, http.client.HTTPException
        On network errors (``urllib.error.URLError`` is an ``OSError``).
    """
    print(f"downloading {url}", end="", file=sys.stderr, flush=True)
    try:
        # atomic_path deletes the temporary file if anything in this block raises.
        with atomic_path(dest) as tmp_path, open(tmp_path, "wb") as out:
            digest = hashlib.sha256()
            with _urlopen(url, timeout) as response:
                total = int(response.headers.get("Content-Length") or 0)
                done, shown = 0, None
                while chunk := response.read(chunk_size):
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    # Update the line at each percent (each MiB when the size is unknown).
                    step = 100 * done // total if total else done >> 20
                    if step != shown:
                        shown = step
                        of_total = f"/{total / 1e6:.1f}" if total else ""
                        print(f"\rdownloading {url}: {done / 1e6:.1f}{of_total} MB", end="",
                              file=sys.stderr, flush=True)
            if digest.hexdigest() != sha256:
                raise DataError(
                    f"{url}: checksum mismatch: expected SHA-256 {sha256}, got {digest.hexdigest()}"
                )
    except BaseException as err:
        print(f" -- failed: {err!r}", file=sys.stderr)
        raise
    print(" -- done", file=sys.stderr)


def _download_mnist(folder, specs):
    """Download the ``.gz`` files of ``specs`` into ``folder``, trying each mirror in turn.

    Returns
    -------
    list of str
        One line per failed attempt; empty if every file was downloaded. It stops at the
        first file no mirror could provide (the others would most likely fail the same way).
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        return [f"Download impossible: cannot create {folder}: {err}"]
    failures = []
    for spec in specs:
        for mirror in MNIST_MIRRORS:
            url = mirror + spec.gz_name
            try:
                download_file(url, folder / spec.gz_name, spec.gz_sha256)
                break
            except (OSError, HTTPException, DataError) as err:
                failures.append(f"Download failed: {url}: {err}")
        else:
            return failures
    return []


# ---------------------------------------------------------------------------------------------
# Loading MNIST
# ---------------------------------------------------------------------------------------------


def _find_mnist_files(folder):
    """Map each key of MNIST_FILES to its file in ``folder`` (``.gz`` preferred), or None."""
    found = {}
    for key, spec in MNIST_FILES.items():
        candidates = [folder / spec.gz_name, folder / spec.raw_name]
        found[key] = next((p for p in candidates if p.is_file()), None)
    return found


#: Parsed MNIST arrays of this process, keyed by file identity, so that the trainings of one
#: ``table1`` run read and verify each file once (the arrays are read-only).
_PARSED = {}


def _load_mnist_file(path, spec, verify):
    """Read one MNIST file and check its checksum (if ``verify``), kind, shape and values.

    The result is read-only and remembered for as long as the file's size and modification
    time stay the same.
    """
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, verify)
    if key not in _PARSED:
        array = _read_mnist_file(path, spec, verify)
        array.flags.writeable = False
        _PARSED[key] = array
    return _PARSED[key]


def _read_mnist_file(path, spec, verify):
    content = read_bytes(path)
    if verify:
        expected = spec.gz_sha256 if path.name == spec.gz_name else spec.raw_sha256
        check_sha256(path, content, expected, "canonical MNIST")
    array = _parse_idx(_decompress(path, content), path)
    expected_ndim = len(spec.shape)
    if array.ndim != expected_ndim:
        raise DataError(
            f"{path}: bad magic number {(_IDX_UBYTE << 8) + array.ndim}, expected "
            f"{(_IDX_UBYTE << 8) + expected_ndim} ({spec.kind})"
        )
    if array.shape != spec.shape:
        raise DataError(f"{path}: {spec.kind} of shape {array.shape}, expected {spec.shape}")
    if spec.kind == "labels" and array.max(initial=0) > 9:
        raise DataError(f"{path}: label {array.max()} out of range, expected digits 0..9")
    return array


def load_mnist(data_dir=None, *, download=True, verify=True):
    """Load the four MNIST arrays, downloading them into the cache if needed.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        A folder holding the four files (``.gz`` or uncompressed), or a root holding
        ``mnist/`` with them. If None, ``DMF_NUMPY_DATA`` and then the cache are used (see
        :func:`resolve_data_dir`).
    download : bool, optional
        Download missing files into the cache. Never done for a user-given directory
        (``data_dir`` or ``DMF_NUMPY_DATA``): the files are then expected there.
    verify : bool, optional
        Check each file's SHA-256 against :data:`MNIST_FILES`. Downloads are always checked.

    Returns
    -------
    dict of str to ndarray of uint8
        ``train_images`` (60000, 28, 28), ``train_labels`` (60000,), ``test_images``
        (10000, 28, 28), ``test_labels`` (10000,), read-only (the process keeps them for the
        next call). Pixels are 0..255, labels 0..9. Each count
        is checked against :data:`MNIST_FILES`, so images and labels always agree in number.

    Raises
    ------
    MissingDataError
        If files are missing and cannot be downloaded; the message says what to do.
    DataError
        If a file is corrupt, truncated, of the wrong kind or fails its checksum.
    """
    where = resolve_data_dir("mnist", data_dir)
    paths = _find_mnist_files(where.path)
    missing = [MNIST_FILES[key] for key, path in paths.items() if path is None]
    if missing:
        if where.explicit:
            notes = [f"Not downloading into a directory given by {_ORIGIN_TEXT[where.origin]}."]
        elif not download:
            notes = ["Not downloading: download=False."]
        else:
            notes = _download_mnist(where.path, missing)
            paths = _find_mnist_files(where.path)
        if notes:
            raise missing_data_error(
                "mnist",
                [spec.gz_name for spec in MNIST_FILES.values()],
                {spec.gz_name for spec in missing},
                where,
                notes + ["(Each file may also be uncompressed, named without .gz.)"],
            )
    return {key: _load_mnist_file(paths[key], MNIST_FILES[key], verify) for key in MNIST_FILES}


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
    ValueError
        If ``images`` is not a uint8 array of shape (N, 28, 28).
    """
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1:] != (MNIST_IMAGE_SIZE, MNIST_IMAGE_SIZE):
        raise ValueError(f"images: expected shape (N, 28, 28), got {images.shape}")
    if images.dtype != np.uint8:
        raise ValueError(f"images: expected dtype uint8 (pixels 0..255), got {images.dtype}")
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
    ValueError
        If ``right`` is not (N, 392), ``p`` is outside [0, 1) or ``kind`` is unknown.
    """
    right = np.asarray(right)
    if right.ndim != 2 or right.shape[1] != HALF_SIZE:
        raise ValueError(f"right: expected shape (N, {HALF_SIZE}), got {right.shape}")
    _check_damage_args(p, kind)
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


def _check_damage_args(p, kind):
    """Raise ValueError unless ``0 <= p < 1`` and ``kind`` is one of DAMAGE_KINDS."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"damage level p={p!r} must be in [0, 1)")
    if kind not in DAMAGE_KINDS:
        raise ValueError(f"unknown damage kind {kind!r}; valid kinds: {', '.join(DAMAGE_KINDS)}")


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
    ValueError
        If ``condition`` is unknown.
    """
    if condition == "left+right":
        return left, right
    if condition == "right":
        return np.zeros_like(left), right
    if condition == "left":
        return left, np.zeros_like(right)
    raise ValueError(f"unknown condition {condition!r}; valid conditions: {', '.join(CONDITIONS)}")


# ---------------------------------------------------------------------------------------------
# Everything in one call
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MNISTHalves:
    """Train, validation and test splits, each a tuple ``(left, right, labels)``.

    ``left`` and ``right`` are float32 (N, 392) in [0, 1] (``right`` possibly damaged);
    ``labels`` is int64 (N,) in 0..9.
    """

    train: tuple
    val: tuple
    test: tuple


def load_halves(
    data_dir=None,
    *,
    damage_p=0.0,
    damage_kind="pixels",
    n_val=10000,
    seed=0,
    subset=None,
    download=True,
):
    """Load MNIST as two modalities, with a seeded validation split and a damaged right half.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        Where the data is; see :func:`load_mnist`.
    damage_p : float in [0, 1), optional
        Damage level of the right half (the paper uses 0, 0.3, 0.5 and 0.7).
    damage_kind : {"pixels", "columns", "noise"}, optional
        See :func:`damage`; ``"pixels"`` is the paper's.
    n_val : int, optional
        Training images held out, at random, as the validation set (10,000 as in
        Sohn et al. 2014, leaving 50,000 to train on). 0 gives an empty validation set.
    seed : int, optional
        Seeds the split, the shuffles and the damage. The damage of the train, validation and
        test sets uses three independent streams derived from it.
    subset : int, optional
        Keep only the first ``subset`` samples of each (shuffled) split, for quick runs.
    download : bool, optional
        See :func:`load_mnist`.

    Returns
    -------
    MNISTHalves
        ``train``: ``60000 - n_val`` samples, ``val``: ``n_val``, ``test``: 10000 (each at most
        ``subset``), all in a seeded random order. Damage is applied to the right halves of
        all three splits alike; the left halves are never damaged.

    Raises
    ------
    ValueError
        If ``n_val``, ``subset``, ``damage_p`` or ``damage_kind`` is invalid.
    MissingDataError, DataError
        See :func:`load_mnist`.
    """
    n_train_total = MNIST_FILES["train_images"].count
    n_val = operator.index(n_val)
    if not 0 <= n_val < n_train_total:
        raise ValueError(f"n_val={n_val} must be in [0, {n_train_total})")
    if subset is not None and operator.index(subset) < 1:
        raise ValueError(f"subset={subset} must be a positive number of samples or None")
    _check_damage_args(damage_p, damage_kind)  # before the slow loading

    mnist = load_mnist(data_dir, download=download)
    streams = np.random.SeedSequence(seed).spawn(4)
    split_rng, *damage_rngs = (np.random.default_rng(stream) for stream in streams)
    train_order = split_rng.permutation(n_train_total)
    test_order = split_rng.permutation(len(mnist["test_labels"]))
    index_sets = {
        "train": ("train", train_order[n_val:]),
        "val": ("train", train_order[:n_val]),
        "test": ("test", test_order),
    }
    splits = {}
    for (name, (source, index)), rng in zip(index_sets.items(), damage_rngs):
        index = index[:subset]
        left, right = split_halves(mnist[f"{source}_images"][index])
        right = damage(right, damage_p, kind=damage_kind, seed=rng)
        splits[name] = (left, right, mnist[f"{source}_labels"][index].astype(np.int64))
    return MNISTHalves(**splits)
