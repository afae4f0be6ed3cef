"""The Free Spoken Digit Dataset (FSDD): the audio modality of the audio-visual experiment.

3,000 recordings of the digits 0-9 spoken in English by 6 speakers (george, jackson, lucas,
nicolas, theo, yweweler), 50 takes of each digit by each speaker, as 8 kHz mono 16-bit WAV
files named ``{digit}_{speaker}_{take}.wav``, trimmed of most silence (Z. Jackson et al.,
github.com/Jakobovski/free-spoken-digit-dataset, CC BY-SA 4.0; provenance and checksum in
``shared/data/fsdd/SOURCE.md``).

The files are looked for as MNIST's are (:func:`dmf_numpy.datasets.store.resolve_data_dir`): the
``data_dir`` argument, then ``DMF_NUMPY_DATA``, then the user cache, each a folder holding the
WAV files, or ``recordings/`` with them, or a root holding ``fsdd/``. Nothing is downloaded
(the data set is 3,000 separate files in a git repository): a missing folder raises
:class:`~dmf_numpy.datasets.store.MissingDataError` saying where to get the files; a misnamed, unreadable,
truncated or wrongly sampled file raises :class:`~dmf_numpy.datasets.store.DataError` naming it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .audio import read_wav
from .store import DataError, missing_data_error, read_bytes, resolve_data_dir

SAMPLE_RATE = 8000
"""Every FSDD recording is sampled at 8 kHz."""

SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
"""The six speakers, in alphabetical order."""

N_FILES = 3000
"""6 speakers x 10 digits x 50 takes."""

SHA256 = "ddb17656a0bca4c5ddace082be188ca630516dc2ef1110afe3c4e9cc71173de4"
"""SHA-256 of all 3,000 files concatenated in (byte-wise) name order, as in ``SOURCE.md``."""

FILE_PATTERN = re.compile(r"(?P<digit>[0-9])_(?P<speaker>[a-z]+)_(?P<take>[0-9]+)\.wav")
"""``{digit}_{speaker}_{take}.wav``."""

PROVENANCE = (
    "The recordings are the folder recordings/ of the public GitHub repository "
    "Jakobovski/free-spoken-digit-dataset (CC BY-SA 4.0); copy its 3,000 WAV files by hand."
)


@dataclass(frozen=True)
class FSDD:
    """The recordings, in file-name order, with what their names say.

    Attributes
    ----------
    signals : list of ndarray of float64
        One ``(n_samples,)`` signal per file, in [-1, 1); lengths differ.
    digits : ndarray of int64, (N,)
        The digit spoken, 0..9.
    speakers : ndarray of str, (N,)
    takes : ndarray of int64, (N,)
        The take number of the file name (0..49).
    folder : Path
        Where the files were read from.
    """

    signals: list
    digits: np.ndarray
    speakers: np.ndarray
    takes: np.ndarray
    folder: Path


def _recordings_folder(data_dir):
    """The folder holding the WAV files, and the DataDir it was resolved from."""
    where = resolve_data_dir("fsdd", data_dir)
    nested = where.path / "recordings"
    return (nested if nested.is_dir() else where.path), where


def load_fsdd(data_dir=None, *, verify=True):
    """Find, read and check every recording of the FSDD.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        A folder holding the ``.wav`` files, or ``recordings/`` with them, or a root holding
        ``fsdd/``. If None, ``DMF_NUMPY_DATA`` and then the user cache are used.
    verify : bool
        Check that there are exactly :data:`N_FILES` files and that their SHA-256, all
        concatenated in name order, is :data:`SHA256` (turn off to read a subset).

    Returns
    -------
    FSDD

    Raises
    ------
    MissingDataError
        If the folder holds no ``.wav`` file.
    DataError
        If a file name is not ``{digit}_{speaker}_{take}.wav``, a file cannot be read, is not
        8 kHz mono, or the checksum fails.
    """
    folder, where = _recordings_folder(data_dir)
    # Byte-wise name order, as `ls` sorts in the C locale: the order the checksum was taken in.
    paths = sorted(folder.glob("*.wav"), key=lambda p: p.name.encode())
    if not paths:
        raise missing_data_error("fsdd", ["recordings/{digit}_{speaker}_{take}.wav (3,000 files)"],
                                 {"recordings/{digit}_{speaker}_{take}.wav (3,000 files)"}, where,
                                 [PROVENANCE])
    names = [FILE_PATTERN.fullmatch(p.name) for p in paths]
    bad = [p.name for p, match in zip(paths, names) if match is None]
    if bad:
        raise DataError(f"{folder / bad[0]}: file name not of the form {{digit}}_{{speaker}}_{{take}}.wav "
                        f"({len(bad)} such file(s))")
    signals = [read_wav(p, sample_rate=SAMPLE_RATE) for p in paths]  # names a malformed file
    if verify:
        _verify(folder, paths)
    return FSDD(signals=signals,
                digits=np.array([int(m["digit"]) for m in names], dtype=np.int64),
                speakers=np.array([m["speaker"] for m in names]),
                takes=np.array([int(m["take"]) for m in names], dtype=np.int64),
                folder=folder)


def _canonical_names():
    """The 3,000 file names of the FSDD."""
    return {f"{digit}_{speaker}_{take}.wav" for digit in range(10) for speaker in SPEAKERS for take in range(50)}


def _first(names, most=5):
    """Up to ``most`` of ``names``, sorted and comma-separated, with the count of the rest."""
    names = sorted(names)
    rest = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(names[:most]) + rest


def _verify(folder, paths):
    """Raise DataError unless ``paths`` are the 3,000 canonical files (names, then checksum)."""
    found, expected = {p.name for p in paths}, _canonical_names()
    if found != expected:
        problems = [f"missing {_first(expected - found)}" if expected - found else "",
                    f"not in the FSDD {_first(found - expected)}" if found - expected else ""]
        raise DataError(f"{folder}: {len(paths)} WAV files, expected the {N_FILES} of the FSDD: "
                        + "; ".join(p for p in problems if p)
                        + " (copy the missing files from the FSDD, or, from Python, pass verify=False "
                          "to read another set)")
    digest = hashlib.sha256()
    for path in paths:
        digest.update(read_bytes(path))
    if digest.hexdigest() != SHA256:
        raise DataError(f"{folder}: checksum mismatch: expected SHA-256 {SHA256} of the files "
                        f"concatenated in name order, got {digest.hexdigest()}; every file reads as a "
                        "WAV file, but at least one differs from the canonical recording, and a single "
                        "checksum cannot tell which (copy the folder afresh from the FSDD, or, from "
                        "Python, pass verify=False to skip this check)")
