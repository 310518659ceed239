"""Test-session settings shared by the unit tests and the tutorial notebooks, and the unit tests' shared fixtures.

The tutorials read ``TTRNN_FAST`` once and shrink their data, sizes and steps when it is "1"; the test
command always runs them that way.  The notebook kernels that nbmake starts inherit this environment.
"""
import contextlib
import errno
import os

import pytest

os.environ.setdefault("TTRNN_FAST", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


class _FullFile:
    """A file open for writing on a full disk: every write fails with ENOSPC."""

    def __init__(self, f):
        self.f = f

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()

    def write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")


@pytest.fixture
def full_disk():
    """``with full_disk(after=n):`` fills the disk after n files: inside the block, every further file opened in
    binary mode through ``os.fdopen`` (the atomic writer of checkpoints and data) fails on its first write with
    ENOSPC; files opened in text mode (a run's lock) are written as usual.  The disk is free again after the
    block."""
    @contextlib.contextmanager
    def fill(after=0):
        real_fdopen, opened = os.fdopen, []

        def fdopen(fd, mode="r", *args, **kwargs):
            f = real_fdopen(fd, mode, *args, **kwargs)
            if "b" not in mode:
                return f
            opened.append(fd)
            return _FullFile(f) if len(opened) > after else f

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(os, "fdopen", fdopen)
            yield

    return fill
