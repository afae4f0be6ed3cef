"""Writing files so that nothing is lost: no half-written file, no two runs in one folder, and no
output folder found unwritable only after the work is done.

- :func:`atomic_path`: everything the package writes (checkpoints, histories, tables, figures,
  downloads) is written to a temporary file in the destination's folder and renamed over the
  destination only once complete (``os.replace`` is atomic on POSIX and Windows when both paths
  are on one file system). A temporary file left by a killed process is removed by the next
  write to the same destination, and files get the ordinary permissions of the user's umask.
- :func:`check_writable`: a folder is created and probed before any computation starts.
- :func:`run_lock`: one run per output folder, recorded in a lock file with its process id,
  host, start time and command; a lock left by a process that has died is taken over.

This is the one module every layer of the package may use; it imports nothing from it.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import socket
import sys
import time
from pathlib import Path

#: The lock file a run keeps in its output folder.
LOCK_NAME = ".dmf-numpy.lock"


class FolderLocked(RuntimeError):
    """Another run, still alive, holds the output folder."""


def _temporary_name(path, pid):
    return path.parent / f".{path.name}.{pid}.tmp"


def _alive(pid):
    """Whether a process of this id exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, but belongs to another user
        return True
    return True


def _remove_stale_temporaries(path):
    """Delete the temporary files of ``path`` left by processes that no longer run."""
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        pid = stale.name[len(path.name) + 2:-len(".tmp")]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; on success rename it to ``path``, else delete it.

    Parameters
    ----------
    path : str or Path
        The destination. Its folder is created if needed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path)
    tmp = _temporary_name(path, os.getpid())
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path, text):
    """Atomically write ``text`` (UTF-8) to ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path, obj):
    """Atomically write ``obj`` as indented JSON."""
    write_text(path, json.dumps(obj, indent=2) + "\n")


def write_csv(path, rows, fieldnames=None):
    """Atomically write a list of dicts as CSV (columns: ``fieldnames`` or the first row's keys)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fieldnames or list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buffer.getvalue())


def check_writable(folder, what="--out"):
    """Create ``folder`` if needed and make sure a file can be written in it; return it as a Path.

    Parameters
    ----------
    folder : str or Path
    what : str
        How the user named the folder (an option or argument), for the message.

    Raises
    ------
    OSError
        A one-line message naming ``what`` and ``folder``: a file stands there, or the folder
        cannot be created or written in.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{what} {folder}: a file, not a folder; give a folder for the outputs")
    probe = folder / f".write-test.{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise PermissionError(f"{what} {folder}: cannot write there ({err.strerror or err}); "
                              "choose a folder you can write to") from None
    return folder


def check_writable_file(path, what="--json"):
    """Make sure ``path`` can be written as a file (its folder writable, no folder in its place)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{what} {path}: a folder, not a file name; give the name of the file to write")
    check_writable(path.parent, what=f"{what} {path}: its folder")
    return path


@contextlib.contextmanager
def run_lock(folder, command=None):
    """Hold ``folder`` for one run: refuse to start while another live run holds it.

    The lock is a file, ``folder/.dmf-numpy.lock``, created atomically (``O_EXCL``) and holding
    JSON: ``pid``, ``host``, ``started`` and ``command``. It is removed when the block ends,
    however it ends (and so is the folder, if the block created it and left it empty). A lock
    whose process no longer runs on this host (it was killed) is taken over, and the takeover is
    reported through a note on stderr.

    Parameters
    ----------
    folder : str or Path
        The output folder; created if needed.
    command : str, optional
        What the run is, recorded for whoever finds the lock.

    Raises
    ------
    FolderLocked
        If a live process, or one on another host, holds the folder; the message names it.
    """
    created = not Path(folder).exists()
    folder = check_writable(folder)
    lock = folder / LOCK_NAME
    mine = {"pid": os.getpid(), "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"), "command": command}
    for attempt in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            holder = _read_lock(lock)
            if attempt == 0 and holder is not None and holder.get("host") == mine["host"] \
                    and isinstance(holder.get("pid"), int) and not _alive(holder["pid"]):
                print(f"note: {lock} was left by process {holder['pid']}, which has ended "
                      f"({holder.get('command')}); taking the folder over", file=sys.stderr)
                with contextlib.suppress(FileNotFoundError):
                    lock.unlink()
                continue
            raise FolderLocked(_locked_message(folder, lock, holder)) from None
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(mine, f)
        break
    try:
        yield folder
    finally:
        if _read_lock(lock) == mine:
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()
        if created:  # a run refused before it wrote anything leaves no empty folder behind
            with contextlib.suppress(OSError):
                folder.rmdir()


def _read_lock(lock):
    """The JSON of a lock file; None if it is gone or unreadable (being written, or damaged)."""
    try:
        return json.loads(lock.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _locked_message(folder, lock, holder):
    if holder is None:
        who = "a run whose lock file cannot be read"
    else:
        who = (f"process {holder.get('pid')} on {holder.get('host')}, started {holder.get('started')}"
               + (f" ({holder['command']})" if holder.get("command") else ""))
    return (f"{folder}: another run is writing into this folder: {who}; wait for it to end or use another "
            f"output folder (if no such run is going on, delete {lock})")
