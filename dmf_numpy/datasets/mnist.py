"""MNIST and other IDX files: reading, verification and download of the four canonical files.

1. find the four MNIST files on disk, or download them once into the user cache
   (:mod:`dmf_numpy.datasets.store` says where they are looked for);
2. read and check them (:func:`read_idx`, :func:`load_mnist`): IDX magic numbers, dimensions,
   lengths, and the SHA-256 of each file.

Other data sets in the IDX format (Fashion-MNIST, KMNIST, your own) are read, with no checksum
and any number of images, by :func:`read_idx_folder`. Cutting the images into the two
modalities of the paper's toy experiment is :mod:`dmf_numpy.datasets.halves`.
"""

from __future__ import annotations

import gzip
import math
import zlib
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path

import numpy as np

from .store import ORIGIN_TEXT, DataError, check_sha256, download_file, missing_data_error, read_bytes, resolve_data_dir

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

OTHER_IDX_REMEDY = (
    "to use other IDX files on purpose, read them with dmf_numpy.datasets.read_idx_folder(DIR), which "
    "checks no checksum, or pass verify=False to load_mnist or load_halves; on the command line, save "
    "your arrays with numpy.savez and train on them with dmf-numpy train --arrays FILE.npz"
)
"""How to read IDX files that are not the canonical MNIST, said when a checksum fails."""

MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
"""Public mirrors of the canonical ``.gz`` files, tried in this order."""



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
                failures.append(f"{url}: {err}")
        else:
            return [f"The download failed ({'; '.join(failures)})."]
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
        check_sha256(path, content, expected, "canonical MNIST", OTHER_IDX_REMEDY)
    raw = _decompress(path, content)
    expected_ndim = len(spec.shape)
    if len(raw) >= 4 and raw[3] != expected_ndim:  # the kind of file, before its length is checked
        raise DataError(
            f"{path}: bad magic number {int.from_bytes(raw[:4], 'big')}, expected "
            f"{(_IDX_UBYTE << 8) + expected_ndim} ({spec.kind}, {expected_ndim}-D)"
        )
    array = _parse_idx(raw, path)
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
            notes = [f"Not downloading into a directory given by {ORIGIN_TEXT[where.origin]}."]
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




def read_idx_folder(folder):
    """Read a folder of four IDX files named like MNIST's, with no checksum: another data set.

    For Fashion-MNIST, KMNIST or images of your own in the IDX format: any number of images,
    of any size, and any labels. Nothing is downloaded and no checksum is checked; the files
    are checked for what they must be (IDX unsigned bytes, images 3-D, labels 1-D, as many
    labels as images in each split).

    Parameters
    ----------
    folder : str or os.PathLike
        Holds ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``
        and ``t10k-labels-idx1-ubyte``, each gzip-compressed (``.gz``) or not.

    Returns
    -------
    dict of str to ndarray of uint8
        ``train_images`` (N, H, W), ``train_labels`` (N,), ``test_images`` (M, H, W),
        ``test_labels`` (M,): the keys of :func:`load_mnist`, so that
        :func:`dmf_numpy.datasets.halves.make_halves` takes either.

    Raises
    ------
    MissingDataError
        If a file is missing (the message lists them).
    DataError
        If a file is not IDX unsigned bytes of the right number of dimensions, or a split's
        images and labels differ in number.
    """
    folder = Path(folder)
    paths = _find_mnist_files(folder)
    missing = {MNIST_FILES[key].gz_name for key, path in paths.items() if path is None}
    if missing:
        where = resolve_data_dir("idx", folder)
        raise missing_data_error("idx", [spec.gz_name for spec in MNIST_FILES.values()], missing, where,
                                 ["(Each file may also be uncompressed, named without .gz.)"])
    arrays = {}
    for key, path in paths.items():
        array = read_idx(path)
        ndim = len(MNIST_FILES[key].shape)
        if array.ndim != ndim:
            raise DataError(f"{path}: {array.ndim}-D IDX data, expected {ndim}-D {MNIST_FILES[key].kind}")
        arrays[key] = array
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.shape[0] != labels.shape[0]:
            raise DataError(f"{folder}: {images.shape[0]} {split} images but {labels.shape[0]} {split} labels")
    return arrays
