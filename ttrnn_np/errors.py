"""The two kinds of expected failure the library reports by their own class, beside ValueError and OSError.

``DataError`` (a ``ValueError``): an input file exists but its content is wrong — a corrupt or truncated data,
audio, checkpoint or results file, a checksum that does not match.  The message names the file and the fix.

``OutputError`` (an ``OSError``): something cannot be written — a read-only or full folder, a run folder that
another process is training into.  The message names the path, the cause and the fix.

The ``ttrnn`` command maps every expected failure to one line and an exit code (``cli.EXIT_CODES``):
``DataError`` and ``FileNotFoundError`` are "input missing or corrupt", ``OutputError`` and other ``OSError``
(including a failed download) are "I/O failure", any other ``ValueError`` / ``TypeError`` a bad option.
"""
import errno

__all__ = ["DataError", "OutputError", "output_error"]


class DataError(ValueError):
    """An input file's content is wrong (corrupt, truncated, mismatched); the message names the file."""


class OutputError(OSError):
    """Something cannot be written (read-only or full folder, folder in use); the message names the path."""


_FIXES = {errno.ENOSPC: "free some disk space or write somewhere else",
          errno.EDQUOT: "free some space in your quota or write somewhere else",
          errno.EROFS: "the file system is read-only; write somewhere else",
          errno.EACCES: "you may not write there; change its permissions or write somewhere else",
          errno.EPERM: "you may not write there; change its permissions or write somewhere else"}


def output_error(path, error):
    """An ``OutputError`` for an ``OSError`` raised while writing ``path``: cause and fix in one line."""
    fix = _FIXES.get(error.errno, "check the folder's permissions and free space")
    result = OutputError(f"cannot write {path}: {error.strerror or error}; {fix}")
    result.errno = error.errno
    return result
