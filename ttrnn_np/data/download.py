"""Generic helpers for data files: read (maybe gzipped) content, hash it, write atomically, download.

Every dataset loader in ``ttrnn_np.data`` follows the same contract:

1. look for a file in a data directory (an argument, else ``$TTRNN_DATA/<dataset>``, else the user cache);
2. if it is missing and downloading is allowed, fetch it from the first mirror that answers, stream it into a
   temporary file beside the destination, validate that file, and only then ``os.replace`` it into place —
   so an interrupted or corrupt download never leaves a partial file under the real name;
3. verify its checksum and raise a clear error (what, where, how to fix) when anything is wrong.

This module holds the dataset-independent parts; the dataset modules hold names, checksums and mirrors.
No array is made here, so there are no shape comments.
"""
import contextlib
import gzip
import hashlib
import http.client
import os
import tempfile
import urllib.request
import zlib
from pathlib import Path

from ..errors import DataError, OutputError, output_error

try:
    from tqdm.auto import tqdm
except ImportError:
    tqdm = None

__all__ = ["DownloadError", "data_root", "user_cache_dir", "read_content", "md5_hex", "check_md5", "atomic_output",
           "download_file"]

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK_BYTES = 1 << 16


class DownloadError(OSError):
    """Raised when no mirror delivered a valid copy of a file; the message lists every mirror's error."""


def data_root():
    """The root named by ``$TTRNN_DATA`` as a ``Path``, or ``None`` when the variable is unset or empty."""
    root = os.environ.get("TTRNN_DATA", "")
    return Path(root).expanduser() if root else None


def user_cache_dir(dataset):
    """``$XDG_CACHE_HOME/ttrnn_np/<dataset>``, with ``~/.cache`` when ``XDG_CACHE_HOME`` is unset or empty."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    cache = Path(base).expanduser() if base else Path.home() / ".cache"
    return cache / "ttrnn_np" / dataset


def read_content(path):
    """The bytes of ``path``, gunzipped when the file starts with the gzip magic number.

    Gzip is recognised by content, not by the file name.  A damaged gzip stream raises ``ValueError``
    naming the file, so callers never parse half a file.
    """
    path = Path(path)
    data = path.read_bytes()
    if not data.startswith(_GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except EOFError:
        raise DataError(
            f"{path}: truncated gzip file ({len(data)} compressed bytes end before the end-of-stream "
            f"marker); delete it and fetch it again") from None
    except (gzip.BadGzipFile, zlib.error) as err:
        raise DataError(f"{path}: corrupt gzip file ({err}); delete it and fetch it again") from None


def md5_hex(data):
    """Hex MD5 digest of a bytes object."""
    return hashlib.md5(data).hexdigest()


def check_md5(data, expected, what):
    """Raise ``errors.DataError`` (a ValueError) naming ``what``, the expected and the actual digest on a mismatch."""
    got = md5_hex(data)
    if got != expected:
        raise DataError(f"{what}: wrong checksum, expected md5 {expected}, got {got}; the file is corrupt, "
                         f"truncated or a different file — delete it and fetch it again")


@contextlib.contextmanager
def atomic_output(dest):
    """Yield a temporary path beside ``dest``; move it onto ``dest`` only if the ``with`` block succeeds.

    The temporary file lives in the destination directory so that ``os.replace`` is an atomic rename, and
    gets the usual permissions of a new file (0o666 minus the umask) before the rename.
    On any exception it is removed and ``dest`` is left untouched (absent, or its previous content).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def _fetch_url(url, out_path, *, timeout=30.0, desc=None):
    """Stream ``url`` into ``out_path`` (overwritten), with a tqdm bar when tqdm is installed.

    Raises ``OSError`` (``urllib.error.URLError`` and friends) or ``http.client.HTTPException`` on network
    errors, and ``OSError`` when the server closes the connection before the advertised ``Content-Length``.
    """
    with urllib.request.urlopen(url, timeout=timeout) as response, open(out_path, "wb") as out:
        length = response.headers.get("Content-Length")
        total = int(length) if length is not None else None
        bar = tqdm(total=total, unit="B", unit_scale=True, desc=desc, leave=False) if tqdm else None
        received = 0
        try:
            while chunk := response.read(_CHUNK_BYTES):
                try:
                    out.write(chunk)
                except OSError as err:  # the local disk, not the network
                    raise output_error(out_path, err) from err
                received += len(chunk)
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
    if total is not None and received != total:
        raise OSError(f"{url}: connection closed after {received} of {total} bytes")


def _check_writable(folder):
    """Create ``folder`` and prove a file can be written there; ``OutputError`` naming it if not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-test.", suffix=".part")
        os.close(fd)
        os.remove(probe)
    except OSError as err:
        raise output_error(folder, err) from err


def download_file(filename, mirrors, dest, validate, *, timeout=30.0):
    """Download ``filename`` from the first mirror that delivers a valid copy; write it atomically to ``dest``.

    ``mirrors`` are base URLs tried in order (``mirror.rstrip('/') + '/' + filename``).  ``validate(path)``
    must raise ``ValueError`` for a bad file (e.g. a checksum mismatch); a bad copy counts as that mirror's
    failure and the next mirror is tried.  Raises ``DownloadError`` listing every mirror's error when none
    succeeds, and ``errors.OutputError`` at once when the destination folder cannot be written (read-only,
    full): no mirror can help with that.  An interrupted download (Ctrl-C included) leaves no partial file.
    Returns ``Path(dest)``.
    """
    if isinstance(mirrors, str):
        raise TypeError(f"download_file: expected a sequence of mirror base URLs, got the string {mirrors!r}")
    if not mirrors:
        raise ValueError(f"download_file: expected at least one mirror URL for {filename!r}, got none")
    _check_writable(Path(dest).parent)
    errors = []
    for mirror in mirrors:
        url = f"{mirror.rstrip('/')}/{filename}"
        try:
            with atomic_output(dest) as tmp:
                _fetch_url(url, tmp, timeout=timeout, desc=filename)
                validate(tmp)
            return Path(dest)
        except OutputError:
            raise
        except (OSError, http.client.HTTPException, ValueError) as err:
            errors.append(f"  - {url}: {type(err).__name__}: {err}")
    raise DownloadError(f"could not download {filename!r} into {Path(dest).parent}; every mirror failed:\n"
                        + "\n".join(errors)
                        + "\nCheck your internet connection, pass other mirror URLs, or place the file there by hand.")
