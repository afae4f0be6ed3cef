"""Reading a NumPy ``.npz`` archive so that any damage is one clear error, never a traceback.

:func:`numpy.load` lets through, as exceptions of many kinds or as a wrong return value, much
of what a damaged or foreign file can hold: a single ``.npy`` array instead of an archive (an
ndarray comes back), an encrypted member (RuntimeError), an unknown compression method
(NotImplementedError), a member that is not ``.npy`` data (its raw bytes come back), a
corrupt compressed stream (``zlib.error``), or a header that claims more data than the file
holds (a huge allocation). :func:`read_npz` reads the archive member by member and turns each
of these into an :class:`NpzError` naming the member and the problem; the callers
(checkpoints, ``train --arrays``) put the file's name and their own error type in front.

Like :mod:`dmf_numpy.files`, this module imports only the core's error class.
"""

from __future__ import annotations

import zipfile
import zlib

import numpy as np

from .core.errors import UserError

#: What :func:`numpy.save` and :func:`numpy.savez` write: a ``.npy`` file starts with these bytes.
NPY_MAGIC = np.lib.format.MAGIC_PREFIX


class NpzError(UserError):
    """An ``.npz`` archive that cannot be read whole; the message does not name the file."""


def read_npz(path):
    """Every array of the ``.npz`` archive at ``path``, checked member by member.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    dict
        Member name (without ``.npy``) -> ndarray, in the archive's order.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    NpzError
        If ``path`` is a folder, not a zip archive (a single ``.npy`` array is named as such),
        or has a member that is encrypted, compressed by a method Python cannot read, corrupt,
        truncated, not ``.npy`` data, an array of Python objects (never loaded: that would run
        pickled code), or present twice.
    """
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise NpzError("a folder, not an .npz file") from None
    except zipfile.BadZipFile:
        raise NpzError(_not_a_zip(path)) from None
    except (OSError, ValueError, EOFError, RuntimeError, NotImplementedError) as err:
        raise NpzError(f"not a readable .npz archive ({err})") from None
    arrays = {}
    with archive:
        for info in archive.infolist():
            name = info.filename[:-len(".npy")] if info.filename.endswith(".npy") else info.filename
            if name in arrays:
                raise NpzError(f"member {info.filename!r} appears twice in the archive")
            arrays[name] = _read_member(archive, info)
    return arrays


def _not_a_zip(path):
    try:
        with open(path, "rb") as f:
            start = f.read(len(NPY_MAGIC))
    except OSError:
        start = b""
    if start == NPY_MAGIC:
        return ("a single NumPy array (an .npy file, as numpy.save writes), not an .npz archive of named arrays "
                "(as numpy.savez writes)")
    return "not an .npz archive (not a zip file, or a truncated one)"


def _read_member(archive, info):
    """One member's array, or an NpzError naming it."""
    what = f"member {info.filename!r}"
    try:
        with archive.open(info) as f:
            if f.read(len(NPY_MAGIC)) != NPY_MAGIC:
                raise NpzError(f"{what} is not NumPy array data (.npy)")
        with archive.open(info) as f:
            version = np.lib.format.read_magic(f)
            if version in ((1, 0), (2, 0)):  # the header tells how much data must follow
                header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                          else np.lib.format.read_array_header_2_0)
                shape, _, dtype = header(f)
                if dtype.hasobject:
                    raise NpzError(f"{what} holds Python objects, which are never loaded (unpickling them could "
                                   "run any code); save arrays of numbers or strings")
                needed = int(np.prod(shape, dtype=object)) * dtype.itemsize
                if needed > info.file_size:
                    raise NpzError(f"{what} claims an array of shape {shape} and dtype {dtype}, "
                                   f"{needed} bytes, but holds only {info.file_size} bytes (truncated or forged)")
        with archive.open(info) as f:
            return np.lib.format.read_array(f, allow_pickle=False)
    except NpzError:
        raise
    except NotImplementedError as err:  # zipfile: a compression method it cannot read
        raise NpzError(f"{what} cannot be read ({err}: method {info.compress_type}); "
                       "write the archive with numpy.savez or numpy.savez_compressed") from None
    except RuntimeError as err:  # zipfile: an encrypted member
        raise NpzError(f"{what} is encrypted (a password is needed to read it); save the arrays without one"
                       if info.flag_bits & 0x1 else f"{what} cannot be read ({err})") from None
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, KeyError, TypeError,
            OverflowError) as err:
        raise NpzError(f"{what} cannot be read as an array: corrupt or truncated ({err})") from None
