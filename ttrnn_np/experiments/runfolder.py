"""A run folder: the one layout every training command writes, owned by one process at a time.

Layout (``ttrnn mnist`` and ``ttrnn speaker`` alike)::

    <out>/run.lock                   present while a process trains into the folder: its pid, host and start
    <out>/results.json               the run's config, history and results (written at the end, or on divergence)
    <out>/checkpoints/best.npz|json  the parameters of the best validation epoch / evaluation
    <out>/checkpoints/last.npz|json  the latest state (parameters, optimizer, RNG, history): the resume point
    <out>/history.png                the training curves, when ``ttrnn plot`` drew them

**Owned.**  ``owned(out)`` creates ``run.lock`` with an exclusive create (``O_CREAT | O_EXCL``): a second
process that tries to train into the same folder gets ``RunFolderBusy`` naming the first one, and nothing of
either run is overwritten.  The lock goes when the run ends (also on an error or Ctrl-C).  A lock left by a
process that died (same host, pid gone) is taken over.  Creating the lock also proves, before any work,
that the folder can be written; ``check_writable`` makes that check alone.

**Atomic.**  ``write_json`` writes through a temporary file, fsync and rename (``checkpoint.write_atomic``), so a
crash or a full disk leaves the previous file whole; ``read_json`` names the file when it is not valid JSON.

Runs written before this layout kept ``best``/``last`` beside ``results.json``; ``checkpoint_dir`` finds them there.
"""
import contextlib
import json
import os
import socket
import time
from pathlib import Path

from ..checkpoint import write_atomic
from ..errors import DataError, OutputError, output_error

__all__ = ["RESULTS_FILE", "LOCK_FILE", "RunFolderBusy", "owned", "check_writable", "checkpoint_dir", "write_json",
           "read_json", "find_runs"]

RESULTS_FILE = "results.json"
LOCK_FILE = "run.lock"
CHECKPOINTS = "checkpoints"


class RunFolderBusy(OutputError):
    """Another process is training into this run folder (its ``run.lock`` exists and that process lives)."""


def checkpoint_dir(out):
    """Where the checkpoints of the run in ``out`` live: ``out/checkpoints``, or ``out`` for a run stored before."""
    out = Path(out)
    old = (out / "last.json").exists() or (out / "best.json").exists()
    return out if old and not (out / CHECKPOINTS).exists() else out / CHECKPOINTS


def check_writable(folder):
    """Prove a file can be written in ``folder``; raise ``OutputError`` if not.  Leaves no trace: folders
    created for the probe are removed again."""
    folder = Path(folder)
    created = [f for f in (folder, *folder.parents) if not f.exists()]  # innermost first
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        with open(probe, "wb") as f:
            f.write(b"0")
            f.flush()
            os.fsync(f.fileno())
        probe.unlink()
    except OSError as err:
        raise output_error(folder, err) from err
    finally:
        for f in created:
            if f.exists() and not any(f.iterdir()):
                f.rmdir()


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    return True


def _holder(lock):
    """The lock file's record {"pid", "host", "started"} ({} if unreadable)."""
    try:
        record = json.loads(lock.read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _take(lock):
    """Create ``lock`` exclusively with this process's record; False if it already exists."""
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
    except FileExistsError:
        return False
    except OSError as err:
        raise output_error(lock.parent, err) from err
    record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    with os.fdopen(fd, "w") as f:
        json.dump(record, f)
    return True


@contextlib.contextmanager
def owned(out):
    """Hold ``out``'s run lock for the ``with`` block; ``RunFolderBusy`` if it is taken.

    The folder is created if needed, and removed again if the block leaves it empty (a run that failed early).
    """
    out = Path(out)
    created = [folder for folder in (out, *out.parents) if not folder.exists()]  # made here, innermost first
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise output_error(out, err) from err
    lock = out / LOCK_FILE
    if not _take(lock):
        holder = _holder(lock)
        stale = holder.get("host") == socket.gethostname() and isinstance(holder.get("pid"), int) \
            and not _alive(holder["pid"])
        if stale:
            lock.unlink(missing_ok=True)  # its process died without removing it
        if not (stale and _take(lock)):
            who = (f"process {holder.get('pid')} on {holder.get('host')}, since {holder.get('started')}" if holder
                   else "an unknown process")
            raise RunFolderBusy(f"{out} is in use by another run ({who}); wait for it to finish or choose another "
                                f"--out (if no such run is going on, delete {lock})")
    try:
        yield out
    finally:
        lock.unlink(missing_ok=True)
        for folder in created:  # a run that failed before writing anything leaves no empty folders behind
            if any(folder.iterdir()):
                break
            folder.rmdir()


def write_json(path, obj):
    """Write ``obj`` as JSON to ``path`` atomically (see the module docstring)."""
    write_atomic(path, json.dumps(obj, indent=1).encode())


def read_json(path):
    """The JSON in ``path``; ``DataError`` naming the file when it is damaged (e.g. truncated)."""
    try:
        with open(path, "rb") as f:
            return json.loads(f.read().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path} is damaged (not valid JSON: {err}); move it away (the checkpoints beside it "
                        "are kept) and run again") from err


def find_runs(root):
    """Every run folder below ``root`` (itself included), sorted: a folder with results or a last checkpoint."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no folder {root}: give the folder that holds your runs (default runs/)")
    found = set()
    for marker in (RESULTS_FILE, f"{CHECKPOINTS}/last.json", LOCK_FILE):
        for path in root.rglob(marker):
            found.add(path.parent.parent if marker.startswith(CHECKPOINTS) else path.parent)
    return sorted(found)
