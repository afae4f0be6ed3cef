"""Writing files so that nothing is lost: no half-written file, no two runs in one folder, and no
output folder found unwritable only after the work is done.

- :func:`atomic_path`: everything the package writes (checkpoints, histories, tables, figures,
  downloads) is written to a temporary file in the destination's folder and renamed over the
  destination only once complete (``os.replace`` is atomic on POSIX and Windows when both paths
  are on one file system). A temporary file left by a killed process is removed by the next
  write to the same destination, and files get the ordinary permissions of the user's umask.
- :func:`check_writable`: a folder is created and probed before any computation starts.
- :func:`run_lock`: one run per output folder. The lock is an ``flock`` on a lock file that
  records the holder's process id, host, start time and command (for messages); the kernel
  releases it when the holder dies, so a lock left by a killed run is simply taken again.

Every layer of the package above the core may use this module; it imports only the core's error
class (:class:`~dmf_numpy.core.errors.UserError`).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path

from .core.errors import UserError

try:
    import fcntl
except ImportError:  # not a POSIX system: run_lock says so
    fcntl = None

#: The lock file a run keeps in its output folder.
LOCK_NAME = ".dmf-numpy.lock"


class FolderLocked(UserError, RuntimeError):
    """Another run, still alive, holds the output folder (a :class:`~dmf_numpy.core.errors.UserError`,
    and a ``RuntimeError`` as before)."""


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


def remove_stale_temporaries(path):
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
    remove_stale_temporaries(path)
    tmp = _temporary_name(path, os.getpid())
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(err, OSError) and err.errno is not None and err.filename in (None, tmp, str(tmp)):
            # A full disk or a file-size limit names no file, the temporary one means nothing to the user.
            raise type(err)(err.errno, err.strerror, str(path)) from None
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


def check_writable(folder, what="output folder"):
    """Create ``folder`` if needed and make sure a file can be written in it; return it as a Path.

    Parameters
    ----------
    folder : str or Path
    what : str
        How the user named the folder, for the message: the command line passes its option
        (``--out``), the API its argument (``out_dir``).

    Raises
    ------
    OSError
        A one-line message naming ``what`` and ``folder``: a file stands there, or the folder
        cannot be created or written in.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{what} {folder}: a file, not a folder; give a folder for the outputs")
    probe = folder / f".write-test.{os.getpid()}.{threading.get_ident()}"  # one per thread
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise PermissionError(f"{what} {folder}: cannot write there ({err.strerror or err}); "
                              "choose a folder you can write to") from None
    return folder


def check_writable_file(path, what="output file"):
    """Make sure ``path`` can be written as a file (its folder writable, no folder in its place)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{what} {path}: a folder, not a file name; give the name of the file to write")
    check_writable(path.parent, what=f"{what} {path}: its folder")
    return path


#: The folders this process holds, by (device, inode), each with the (process, thread) that holds
#: it: a run may lock again, in the same thread, a folder it already holds (``train`` holds its
#: folder, then calls ``fit`` on it). Any other thread or process is refused.
_HELD = {}

#: How long a refused run looks again at a lock file that names no live holder (it is being
#: taken over, and its new holder has not written its name yet) before refusing anyway.
_NAME_WAIT = 2.0


@contextlib.contextmanager
def run_lock(folder, command=None, *, what="output folder"):
    """Hold ``folder`` for one run: refuse to start while another run holds it.

    The lock is an exclusive ``flock`` on the file ``folder/.dmf-numpy.lock``. The kernel
    decides who holds it, atomically, and releases it when its holder ends however it ends
    (even by kill -9), so two runs can never hold one folder. The file itself records the
    holder as JSON (``pid``, ``host``, ``started``, ``command``) for the message of a refused
    run. A lock file left by a run that was killed is taken over (the kernel no longer holds it
    for anyone), with a note on stderr. A lock file written on another host is refused: over a
    network file system a lock held there may not be seen here; delete it by hand if that run
    is over.

    The lock is held from before the block's first write until its end; then the lock file is
    deleted (and so is the folder, if the block created it and left it empty). Within one
    thread the lock is re-entrant: a run that holds ``folder`` may enter ``run_lock(folder)``
    again (as ``fit`` does under ``train``), which neither takes nor releases anything.

    Parameters
    ----------
    folder : str or Path
        The output folder; created if needed.
    command : str, optional
        What the run is, recorded for whoever finds the lock.
    what : str
        How the user named the folder (``--out``, ``out_dir``), for the messages.

    Raises
    ------
    FolderLocked
        If another run holds the folder (its message names the holder), or a lock file written
        on another host is there.
    OSError
        If the folder cannot be written, or its file system cannot lock files.
    """
    created = not Path(folder).exists()
    folder = check_writable(folder, what)
    key, me = _folder_key(folder), (os.getpid(), threading.get_ident())
    if key is not None and _HELD.get(key) == me:  # this run already holds it: nothing to take
        yield folder
        return
    if fcntl is None:
        raise OSError(f"{what} {folder}: cannot lock it: output folders are locked with flock, which this "
                      "system lacks (dmf-numpy runs on Linux and macOS)")
    lock = folder / LOCK_NAME
    mine = {"pid": os.getpid(), "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"), "command": command}
    fd = _take(folder, lock, what)
    try:
        holder = _read_lock(lock)
        if holder is not None and holder.get("host") != mine["host"]:
            raise FolderLocked(_locked_message(folder, lock, holder, elsewhere=True))
        if holder is not None and holder.get("pid") != mine["pid"]:
            ended = not isinstance(holder.get("pid"), int) or not _alive(holder["pid"])
            print(f"note: {lock} was left by process {holder.get('pid')}, which "
                  f"{'has ended' if ended else 'no longer holds it'} ({holder.get('command')}); "
                  "taking the folder over", file=sys.stderr)
        data = json.dumps(mine).encode("utf-8")
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
    except BaseException:
        os.close(fd)  # released, the file left as it was found
        raise
    _HELD[key] = me
    try:
        yield folder
    finally:
        _HELD.pop(key, None)
        with contextlib.suppress(OSError):  # deleted while still held: a run that takes it next
            if os.path.samestat(os.fstat(fd), os.stat(lock)):  # sees the file is gone, and opens anew
                os.unlink(lock)
        os.close(fd)
        if created:  # a run refused before it wrote anything leaves no empty folder behind
            with contextlib.suppress(OSError):
                folder.rmdir()


def _folder_key(folder):
    try:
        st = os.stat(folder)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _take(folder, lock, what):
    """Open ``lock`` and hold its ``flock``; return the descriptor, or raise FolderLocked."""
    deadline = time.monotonic() + _NAME_WAIT
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        except FileNotFoundError:  # the folder was removed by a run that just ended: make it again
            folder.mkdir(parents=True, exist_ok=True)
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = _read_lock(lock)
            live = holder is not None and (holder.get("host") != socket.gethostname() or (
                isinstance(holder.get("pid"), int) and _alive(holder["pid"])))
            if not live and time.monotonic() < deadline:
                time.sleep(0.01)  # its new holder has not written its name yet: look again
                continue
            raise FolderLocked(_locked_message(folder, lock, holder)) from None
        except OSError as err:
            os.close(fd)
            raise OSError(f"{what} {folder}: cannot lock {lock.name} there ({err.strerror or err}); this file "
                          "system does not support locks: use an output folder on a local disk") from None
        try:  # the file held may have been deleted by its last holder after it was opened here
            current = os.path.samestat(os.fstat(fd), os.stat(lock))
        except FileNotFoundError:
            current = False
        if current:
            return fd
        os.close(fd)


def _read_lock(lock):
    """The JSON of a lock file; None if it is gone, empty or unreadable (being written, or damaged)."""
    try:
        holder = json.loads(lock.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return holder if isinstance(holder, dict) else None


def _locked_message(folder, lock, holder, elsewhere=False):
    if holder is None:
        who = "a run whose lock file cannot be read"
    else:
        who = (f"process {holder.get('pid')} on {holder.get('host')}, started {holder.get('started')}"
               + (f" ({holder['command']})" if holder.get("command") else ""))
    if elsewhere:
        return (f"{folder}: a run on another host holds this folder: {who}; its lock cannot be checked from "
                f"here: wait for it to end or use another output folder (if that run is over, delete {lock})")
    return (f"{folder}: another run is writing into this folder: {who}; wait for it to end or use another "
            f"output folder")
