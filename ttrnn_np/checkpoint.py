"""Checkpoints: parameters (and optimizer state) as a ``PATH.npz`` + ``PATH.json`` pair, without pickle.

``PATH.npz`` holds one array per pytree leaf, named by its path in the combined tree
``{"params": params, "opt_state": opt_state}``, e.g. ``params/layers/0/W_x/0`` or ``opt_state/m/head/b``
(written with ``np.savez``, read with ``np.load(..., allow_pickle=False)``; dtypes and shapes are kept).

``PATH.json`` is the human-readable half::

    {"format": "ttrnn_np.checkpoint", "format_version": 1,
     "npz_sha256": "<hex digest of PATH.npz>",
     "structure": <treedef of the combined tree, see ttrnn_np.pytree>,
     "meta": {<caller's JSON-able data: config, step, epoch, metrics, RNG state, history, ...>}}

Saving is atomic per file: each file is written to a temporary file in the same directory, flushed to
disk, then renamed over the target with ``os.replace``.  The npz is replaced first and the json last;
the json records the npz's SHA-256 and loading recomputes it, so a pair from two different saves (a
save interrupted between the two renames) or a damaged npz is reported, never silently loaded.
"""
import dataclasses
import hashlib
import io
import json
import os
import tempfile
import zipfile

import numpy as np

from .errors import DataError, output_error
from .pytree import tree_flatten, tree_unflatten

__all__ = ["save_checkpoint", "load_checkpoint", "checkpoint_files", "jsonable", "write_atomic"]

FORMAT = "ttrnn_np.checkpoint"
FORMAT_VERSION = 1


def checkpoint_files(path):
    """The pair ``(PATH.npz, PATH.json)`` for ``path`` given with or without a .npz / .json suffix."""
    path = os.fspath(path)
    stem, ext = os.path.splitext(path)
    if ext in (".npz", ".json"):
        path = stem
    return path + ".npz", path + ".json"


def _as_array(path, leaf):
    array = np.asarray(leaf)  # leaf's shape
    if array.dtype.kind not in "biufc":
        raise TypeError(f"checkpoint leaf '{path}' must be a numeric array, got {type(leaf).__name__} "
                        f"(dtype {array.dtype})")
    return array


def _json_default(obj):
    """Write numpy scalars / arrays in ``meta`` as JSON numbers / lists and dataclasses as dicts."""
    if isinstance(obj, (np.generic, np.ndarray)):
        return obj.tolist()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    raise TypeError(f"checkpoint meta must be JSON-serializable, got a {type(obj).__name__}: {obj!r:.60}")


def jsonable(obj):
    """``obj`` as it reads back from a checkpoint's JSON (tuples -> lists, numpy -> Python, dataclasses -> dicts)."""
    return json.loads(json.dumps(obj, default=_json_default))


def write_atomic(path, data):
    """Write ``data`` (bytes) to ``path`` so that a reader sees the old file or the new one, never a part.

    The bytes go to a temporary file in the same directory, are flushed to disk (fsync), get the permissions
    of a new file (0o666 minus the umask), and are renamed over ``path`` with ``os.replace``; the directory is
    then synced so the rename survives a crash.  An ``OSError`` (read-only or full disk) removes the temporary
    file, leaves ``path`` as it was and is raised as ``errors.OutputError`` naming ``path``.
    """
    directory, name = os.path.split(os.path.abspath(path))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
        tmp = None
        _sync_directory(directory)
    except OSError as err:
        raise output_error(path, err) from err
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def _sync_directory(directory):
    """fsync a directory (where the platform allows it), so a rename inside it is on disk."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a directory; the rename itself is still atomic
    finally:
        os.close(fd)


def save_checkpoint(path, params, opt_state=None, meta=None):
    """Write ``PATH.npz`` then ``PATH.json`` atomically (see the module docstring); returns the pair of paths.

    ``params`` and ``opt_state`` are pytrees of numeric arrays / scalars; ``meta`` is a JSON-able dict
    (numpy scalars and arrays in it become numbers and lists, dataclass instances dicts).
    """
    npz_path, json_path = checkpoint_files(path)
    tree = {"params": params} if opt_state is None else {"params": params, "opt_state": opt_state}
    flat, structure = tree_flatten(tree)
    arrays = {p: _as_array(p, leaf) for p, leaf in flat.items()}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    npz_bytes = buffer.getvalue()
    header = {"format": FORMAT, "format_version": FORMAT_VERSION,
              "npz_sha256": hashlib.sha256(npz_bytes).hexdigest(),
              "structure": structure, "meta": {} if meta is None else meta}
    json_bytes = json.dumps(header, default=_json_default).encode()
    try:
        os.makedirs(os.path.dirname(os.path.abspath(npz_path)), exist_ok=True)
    except OSError as err:
        raise output_error(os.path.dirname(os.path.abspath(npz_path)), err) from err
    write_atomic(npz_path, npz_bytes)
    write_atomic(json_path, json_bytes)
    return npz_path, json_path


def _read_header(json_path):
    try:
        with open(json_path, "rb") as f:
            header = json.loads(f.read().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"corrupt checkpoint metadata {json_path}: {err}") from err
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise DataError(f"{json_path} is not a ttrnn_np checkpoint: expected format {FORMAT!r}, got "
                         f"{header.get('format') if isinstance(header, dict) else type(header).__name__!r}")
    if header.get("format_version") != FORMAT_VERSION:
        raise DataError(f"{json_path} has checkpoint format version {header.get('format_version')!r}; "
                         f"this ttrnn_np reads version {FORMAT_VERSION}")
    missing = [k for k in ("npz_sha256", "structure", "meta") if k not in header]
    if missing:
        raise DataError(f"corrupt checkpoint metadata {json_path}: missing field(s) {missing}")
    return header


def load_checkpoint(path):
    """Read a checkpoint written by ``save_checkpoint``; returns ``(params, opt_state or None, meta)``.

    Raises FileNotFoundError if either file is missing and ``errors.DataError`` (a ValueError) for a format
    version mismatch, a corrupt file, an npz that does not belong to the json, or an npz holding pickled
    (object) arrays — those are refused even when the hash matches: loading them could run code.
    """
    npz_path, json_path = checkpoint_files(path)
    for name in (json_path, npz_path):
        if not os.path.isfile(name):
            raise FileNotFoundError(f"checkpoint file {name} not found (a checkpoint is the pair "
                                    f"{os.path.basename(npz_path)} + {os.path.basename(json_path)})")
    header = _read_header(json_path)
    with open(npz_path, "rb") as f:
        npz_bytes = f.read()
    if hashlib.sha256(npz_bytes).hexdigest() != header["npz_sha256"]:
        raise DataError(f"{npz_path} does not match {json_path} (SHA-256 differs): the two files come from "
                         "different saves (an interrupted save?) or the npz is damaged")
    try:
        with np.load(io.BytesIO(npz_bytes), allow_pickle=False) as npz:
            tree = tree_unflatten(header["structure"], npz)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:  # damaged zip, pickled (object) arrays
        raise DataError(f"corrupt checkpoint {npz_path}: {err}") from err
    if not (isinstance(tree, dict) and "params" in tree):
        raise DataError(f"corrupt checkpoint {json_path}: the structure has no 'params' entry")
    return tree["params"], tree.get("opt_state"), header["meta"]
