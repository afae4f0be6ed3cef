"""Where data sets live, how they are fetched, and how a bad file is reported.

Where a data set is looked for, in order:

1. the ``data_dir`` argument (the command line's ``--data-dir DIR``);
2. the environment variable ``DMF_NUMPY_DATA``;
3. the user cache ``$XDG_CACHE_HOME/dmf_numpy/<dataset>`` (``~/.cache/dmf_numpy/<dataset>``
   when ``XDG_CACHE_HOME`` is unset); only this one is ever downloaded into.

A directory from 1 or 2 may be the dataset folder itself or a root holding ``<dataset>/``,
so ``DMF_NUMPY_DATA=../shared/data`` and ``--data-dir ../shared/data/mnist`` both work
(:func:`resolve_data_dir`). Downloads are verified against a SHA-256 on the way and renamed
into place only when complete (:func:`download_file`).

Every problem with a file (truncated, corrupt, wrong checksum, wrong kind) raises
:class:`DataError`, whose message names the file and the problem; finding no data at all
raises :class:`MissingDataError`, whose message says what to do. Every loader of
:mod:`dmf_numpy.datasets` uses these.
"""

from __future__ import annotations

import hashlib
import os
import sys
import urllib.request
from pathlib import Path
from typing import NamedTuple

from ..core.errors import UserError
from ..files import atomic_path

DATA_ENV_VAR = "DMF_NUMPY_DATA"
"""Environment variable naming a data directory (a dataset folder, or a root of them)."""

DOWNLOAD_TIMEOUT = 10.0
"""Seconds a download may wait for the server on any one connect or read."""


class DataError(UserError):
    """A data file is corrupt, truncated, of the wrong kind or fails its checksum."""


class MissingDataError(DataError):
    """No usable copy of a dataset could be found or downloaded."""



def read_bytes(path):
    """Return the whole content of ``path`` as bytes, or raise DataError naming it."""
    try:
        return path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: cannot read: {err}") from err


def check_sha256(path, content, expected, what, remedy):
    """Raise DataError unless ``content`` (the bytes of ``path``) has SHA-256 ``expected``.

    ``what`` names the expected file in the message ("canonical MNIST", ...); ``remedy`` says
    how to read another file on purpose (an option that exists).
    """
    actual = hashlib.sha256(content).hexdigest()
    if actual != expected:
        raise DataError(
            f"{path}: checksum mismatch: expected SHA-256 {expected}, got {actual}; "
            f"the file is damaged or not the {what} file (replace it with the {what} file; {remedy})"
        )



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


ORIGIN_TEXT = {
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
        For a user-given directory ``D``: ``D/<dataset>`` if that is a folder with something in
        it (``D`` is a root of datasets), else ``D`` itself (``D`` is the dataset folder). Whether the files are
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
            f"{base}, given by {ORIGIN_TEXT[origin]}, is not an existing directory.\n"
            + _how_to_fix(dataset)
        )
    nested = base / dataset
    # An empty <dataset>/ beside the files must not hide them: only a folder with something in it counts.
    use_nested = nested.is_dir() and any(nested.iterdir())
    return DataDir(nested if use_nested else base, origin, (base, nested))


def _how_to_fix(dataset):
    """The instructions that end every MissingDataError message."""
    return (f"To fix: put the files in {cache_dir(dataset)}, or give their folder DIR (holding them, or a folder "
            f"{dataset}/ with them) with --data-dir DIR or {DATA_ENV_VAR}=DIR.")


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
    searched = " and ".join(str(p) for p in where.searched)
    found = [name for name in files if name not in missing]
    listing = ", ".join(name for name in files if name in missing) + (f" (found {', '.join(found)})" if found else "")
    return MissingDataError(
        f"{dataset} data not found in {searched} (from {ORIGIN_TEXT[where.origin]}): missing {listing}. "
        + " ".join(notes) + "\n" + _how_to_fix(dataset)
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


