"""The child side of grading: the one process in which a student's code runs.

The grader (:mod:`dmf_numpy.course.sandbox`) starts this file as a script, ``python -I child.py
IN_FD OUT_FD``, in a fresh empty folder with a scrubbed environment. It imports nothing of
dmf_numpy, so the student's code meets no reference solution in this process. It then:

1. lowers its own resource limits (CPU seconds, memory, file size, processes) for good;
2. reads the submission's source from the grader, runs it as a module, with an ``__import__``
   that lets the student's own code import only numpy and a few harmless modules;
3. answers calls, ``function(*args)``, one message each, until the grader closes the pipe.

Messages travel on two pipes of their own, never on stdout or stderr (whatever the student
prints goes to files the grader reads as text). A message is an 8-byte length and an ``.npz``
archive: the arrays, and a JSON tree (:func:`pack`) that says how they nest in lists, tuples
and dicts. The grader reads it with ``allow_pickle=False``: nothing the child sends can run code
in the grader. The grader imports this module for :func:`pack`, :func:`unpack`, :func:`send`
and :func:`receive`, so both sides speak one format.
"""

import builtins
import io
import json
import os
import select
import struct
import sys
import time

import numpy as np

#: Modules the student's own code may import (the static check of the grader says the same).
ALLOWED_IMPORTS = ("numpy", "math", "__future__", "typing", "functools", "itertools", "collections")
#: The largest message either side accepts, in bytes.
MAX_MESSAGE = 256 * 2**20
#: Builtins the student's module does not get.
REMOVED_BUILTINS = ("open", "eval", "exec", "compile", "input", "breakpoint", "globals", "locals", "vars",
                    "getattr", "setattr", "delattr", "exit", "quit", "help", "memoryview")


class ProtocolError(Exception):
    """A message that is not one: cut short, too large, or of a shape the format does not have."""


# ------------------------------------------------------------------ the format

def pack(value):
    """``(tree, arrays)``: ``value`` (arrays, numbers, strings, None, and lists, tuples and dicts of
    them, dict keys str or int) as a JSON tree that refers to the arrays by index."""
    arrays = []

    def walk(v):
        if isinstance(v, np.ndarray) or isinstance(v, np.generic):
            array = np.asarray(v)
            if array.dtype.hasobject:
                raise TypeError("an array of Python objects, not of numbers")
            arrays.append(array)
            return {"t": "array", "i": len(arrays) - 1}
        if v is None or isinstance(v, (bool, int, float, str)):
            return {"t": "value", "v": v if not isinstance(v, float) else repr(v), "float": isinstance(v, float)}
        if isinstance(v, (list, tuple)):
            return {"t": type(v).__name__, "v": [walk(item) for item in v]}
        if isinstance(v, dict):
            if not all(isinstance(k, (str, int)) and not isinstance(k, bool) for k in v):
                raise TypeError("a dict whose keys are not all strings or integers")
            return {"t": "dict", "k": [[isinstance(k, int), k] for k in v], "v": [walk(item) for item in v.values()]}
        raise TypeError(f"a {type(v).__name__}, which is not an array, a number, a list, a tuple or a dict")

    return walk(value), arrays


def unpack(tree, arrays):
    """The value that :func:`pack` turned into ``(tree, arrays)``; ProtocolError for anything else."""
    def walk(node):
        if not isinstance(node, dict):
            raise ProtocolError("a node that is not an object")
        kind = node.get("t")
        if kind == "array":
            index = node.get("i")
            if not isinstance(index, int) or not 0 <= index < len(arrays):
                raise ProtocolError("an array index out of range")
            return arrays[index].copy()
        if kind == "value":
            v = node.get("v")
            if node.get("float"):
                return float(v)
            if v is None or isinstance(v, (bool, int, str)):
                return v
            raise ProtocolError("a value of unknown kind")
        if kind in ("list", "tuple") and isinstance(node.get("v"), list):
            items = [walk(item) for item in node["v"]]
            return items if kind == "list" else tuple(items)
        if kind == "dict" and isinstance(node.get("k"), list) and isinstance(node.get("v"), list):
            keys = node["k"]
            if len(keys) != len(node["v"]) or not all(isinstance(k, list) and len(k) == 2 for k in keys):
                raise ProtocolError("a dict whose keys do not match its values")
            return {(int(k) if is_int else str(k)): walk(v) for (is_int, k), v in zip(keys, node["v"])}
        raise ProtocolError(f"a node of unknown kind {kind!r}")

    try:
        return walk(tree)
    except (RecursionError, TypeError, ValueError) as err:
        raise ProtocolError(f"a malformed value ({type(err).__name__})") from None


def encode(value):
    """The bytes of one message holding ``value``."""
    tree, arrays = pack(value)
    buffer = io.BytesIO()
    np.savez(buffer, tree=np.frombuffer(json.dumps(tree).encode(), dtype=np.uint8),
             **{f"a{i}": a for i, a in enumerate(arrays)})
    body = buffer.getvalue()
    return struct.pack(">Q", len(body)) + body


def decode(body):
    """The value of one message's body (the bytes after its length)."""
    try:
        with np.load(io.BytesIO(body), allow_pickle=False) as archive:
            tree = json.loads(archive["tree"].tobytes().decode())
            arrays = [archive[f"a{i}"] for i in range(len(archive.files) - 1)]
    except ProtocolError:
        raise
    except Exception as err:  # noqa: BLE001 -- whatever a damaged archive raises, it is not a message
        raise ProtocolError(f"an unreadable message ({type(err).__name__}: {err})") from None
    return unpack(tree, arrays)


def send(fd, value, deadline=None):
    """Write one message holding ``value`` to ``fd``; with a ``deadline`` (a ``time.monotonic()``
    value), TimeoutError once it has passed."""
    data = encode(value)
    while data:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [fd], [], left)[1]:
                raise TimeoutError
        data = data[os.write(fd, data[:65536]):]


def receive(fd, deadline=None):
    """Read one message from ``fd``; None at the end of the stream. With a ``deadline`` (a
    ``time.monotonic()`` value), TimeoutError once it has passed."""
    try:
        head = read_exactly(fd, 8, deadline)
    except EOFError:
        return None
    (size,) = struct.unpack(">Q", head)
    if size > MAX_MESSAGE:
        raise ProtocolError(f"a message of {size} bytes, more than {MAX_MESSAGE}")
    try:
        return decode(read_exactly(fd, size, deadline))
    except EOFError:
        raise ProtocolError("a message cut short") from None


def read_exactly(fd, size, deadline=None):
    """``size`` bytes from ``fd``; EOFError at the end of the stream, TimeoutError past ``deadline``."""
    chunks = []
    while size:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(size, 2**20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


# ------------------------------------------------------------------ the student's module

def describe(err):
    """One line for an exception of the student's code."""
    if isinstance(err, SyntaxError):
        return f"{type(err).__name__}: {err.msg} (line {err.lineno})"
    text = str(err)
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
    """``__import__`` for the student's module: only :data:`ALLOWED_IMPORTS`, and numpy's own
    imports (made from numpy's modules, not the student's) go through as usual."""
    importer = (globals or {}).get("__name__", "")
    if importer == "student" and (level != 0 or name.partition(".")[0] not in ALLOWED_IMPORTS):
        raise ImportError(f"import of {name!r} refused: a submission may import only "
                          f"{', '.join(ALLOWED_IMPORTS[:2])} (and {', '.join(ALLOWED_IMPORTS[2:])})")
    return builtins.__import__(name, globals, locals, fromlist, level)


def load(source, plug):
    """Run the submission's ``source`` as the module ``student``, then ``plug`` (the reference's
    definitions that replace some of the student's, or an empty string) in the same namespace."""
    allowed = {k: v for k, v in vars(builtins).items() if k not in REMOVED_BUILTINS}
    allowed["__import__"] = guarded_import
    namespace = {"__name__": "student", "__builtins__": allowed}
    exec(compile(source, "submission", "exec"), namespace)  # noqa: S102 -- this process exists for it
    if plug:
        exec(compile(plug, "reference", "exec"), namespace)  # noqa: S102 -- the grader's own code
    return namespace


def limit_resources(limits):
    """Lower this process's limits for good (soft and hard), where the OS has them."""
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the file-size limit fails, it does not kill
    for name, value in limits.items():
        kind = getattr(resource, name, None)
        if kind is None:
            continue
        try:
            resource.setrlimit(kind, (value, value))
        except (ValueError, OSError):  # not allowed to lower it here; the grader's wall clock still holds
            pass


def serve(fd_in, fd_out):
    request = receive(fd_in)
    limit_resources(request["limits"])
    try:
        namespace = load(request["source"], request["plug"])
    except BaseException as err:  # noqa: BLE001 -- a submission that does not load is the answer
        send(fd_out, {"error": f"the file does not load: {describe(err)}"})
        return
    send(fd_out, {"ok": True})
    while (call := receive(fd_in)) is not None:
        name = call["function"]
        function = namespace.get(name)
        try:
            if not callable(function):
                raise NameError(f"the function {name}() is missing from the submission")
            reply = {"value": function(*call["args"])}
        except BaseException as err:  # noqa: BLE001 -- any failure of the student's code is an answer
            reply = {"error": describe(err)}
        try:
            encode(reply)
        except (TypeError, ValueError, RecursionError) as err:  # a value the format cannot carry
            reply = {"error": f"{name}() returned {err}" if isinstance(err, TypeError) else
                     f"{name}() returned a value that cannot be read ({type(err).__name__})"}
        sys.stdout.flush()
        sys.stderr.flush()
        send(fd_out, reply)


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]))
