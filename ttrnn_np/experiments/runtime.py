"""The machine an experiment runs on: glibc malloc tuning, BLAS threads, and a record of the environment.

**Why tune malloc.**  An autograd step allocates and frees thousands of medium-sized arrays (a (B, 4H)
float32 pre-activation is 512 KiB at B = 128, H = 256).  glibc serves every allocation above
``M_MMAP_THRESHOLD`` (128 KiB at start, adapting upwards only after frees) with a fresh ``mmap`` and returns
it with ``munmap``, so each step pays page faults and zeroing for memory it just gave back.  Raising the
mmap threshold to 1 GiB keeps those blocks in the heap, and raising ``M_TRIM_THRESHOLD`` stops glibc from
handing the heap top back to the kernel after every step.  The cost is a process that keeps its peak heap.

``tune_malloc`` does this through ``mallopt`` (Linux with glibc only; elsewhere it does nothing and says so).
It must run before the large allocations it should affect: the training commands (``ttrnn mnist``,
``ttrnn speaker``) call it first thing; ``ttrnn cost`` and ``ttrnn --help`` never import this module.

**BLAS threads.**  ``set_blas_threads(n)`` changes the thread count of NumPy's OpenBLAS at run time (through
its exported setter), and ``blas_info`` reports the count in force; every results file records it.
"""
import ctypes
import ctypes.util
import os
import platform
import sys

import numpy as np

__all__ = ["M_TRIM_THRESHOLD", "M_MMAP_THRESHOLD", "ENVIRONMENT_VARIABLES", "tune_malloc", "malloc_tuned",
           "set_blas_threads", "blas_info", "machine_info"]

M_TRIM_THRESHOLD = -1  # mallopt parameter numbers from glibc's <malloc.h>
M_MMAP_THRESHOLD = -3
DEFAULT_THRESHOLD = 1 << 30  # 1 GiB
ENVIRONMENT_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_VERBOSE", "MALLOC_MMAP_THRESHOLD_",
                         "MALLOC_TRIM_THRESHOLD_")  # change BLAS kernels or malloc (thread counts: blas_info)

_TUNED = {}  # the thresholds set by tune_malloc in this process, if any


def _glibc():
    """glibc as a ctypes library, or None when this is not Linux with glibc."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def tune_malloc(mmap_threshold=DEFAULT_THRESHOLD, trim_threshold=DEFAULT_THRESHOLD):
    """Set glibc's M_MMAP_THRESHOLD and M_TRIM_THRESHOLD (bytes); return True if both were set.

    Returns False (and changes nothing) on other platforms or C libraries.  Safe to call more than once.
    """
    for name, value in (("mmap_threshold", mmap_threshold), ("trim_threshold", trim_threshold)):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= 1 << 31:
            raise ValueError(f"{name} must be an integer number of bytes in (0, 2**31], got {value!r}")
    libc = _glibc()
    if libc is None:
        return False
    ok = libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1 and libc.mallopt(M_TRIM_THRESHOLD, trim_threshold) == 1
    if ok:
        _TUNED.update(mmap_threshold=mmap_threshold, trim_threshold=trim_threshold)
    return ok


def malloc_tuned():
    """The thresholds ``tune_malloc`` set in this process ({} if it was not called or did nothing)."""
    return dict(_TUNED)


def _loaded_openblas():
    """Path of the OpenBLAS library mapped into this process (Linux: from /proc/self/maps), or None."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    except OSError:
        return None
    return min(paths) if paths else None


def _openblas_function(names, restype):
    """The first of ``names`` exported by the loaded OpenBLAS, as a ctypes function, or None."""
    path = _loaded_openblas()
    if path is None:
        return None
    try:
        library = ctypes.CDLL(path)
    except OSError:
        return None
    for name in names:
        function = getattr(library, name, None)
        if function is not None:
            function.restype = restype
            return function
    return None


def _openblas_threads():
    """The thread count reported by the OpenBLAS that NumPy loaded, or None if it cannot be asked."""
    get = _openblas_function(("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                              "openblas_get_num_threads"), ctypes.c_int)
    return None if get is None else int(get())


def set_blas_threads(n):
    """Tell NumPy's OpenBLAS to use ``n`` threads from now on; return True if it could be told.

    On a machine whose cores are busy, one thread is often faster: OpenBLAS threads spin while they wait.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"BLAS threads must be a positive integer, got {n!r}")
    set_threads = _openblas_function(("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_",
                                      "openblas_set_num_threads"), None)
    if set_threads is None:
        return False
    set_threads(ctypes.c_int(n))
    return _openblas_threads() == n


def blas_info():
    """{"name", "version", "threads", "thread_env"} of the BLAS NumPy was built with.

    ``threads`` is what OpenBLAS reports (None for another BLAS); ``thread_env`` the thread-count
    environment variables that are set.
    """
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except (TypeError, KeyError):
        blas = {}
    env = {k: os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
           if k in os.environ}
    return {"name": blas.get("name"), "version": blas.get("version"), "threads": _openblas_threads(),
            "thread_env": env}


def _cpu_model():
    """The CPU's model name (Linux: from /proc/cpuinfo), else what ``platform`` knows, else None."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or None


def _blas_build_config():
    """The build configuration of NumPy's OpenBLAS (e.g. "… DYNAMIC_ARCH … Haswell MAX_THREADS=64"), or None."""
    try:
        return np.show_config(mode="dicts")["Build Dependencies"]["blas"].get("openblas configuration")
    except (TypeError, KeyError):
        return None


def machine_info():
    """A JSON-able record of the machine and software, for every results file.

    Keys: ``cpu`` (model name), ``cpu_count`` (logical cores), ``cores_available`` (this process's CPU affinity,
    None where unknown), ``platform``, ``python``, ``numpy``, ``autograd``, ``ttrnn_np``, ``blas``
    (``blas_info()`` plus the build ``config``), ``malloc_tuned`` (``malloc_tuned()``) and ``environment`` (the
    variables of ``ENVIRONMENT_VARIABLES`` that are set).  The benchmarks add the date and the load on top
    (``benchmarks/common.py``).
    """
    from importlib.metadata import PackageNotFoundError, version

    from .. import __version__
    try:
        autograd_version = version("autograd")
    except PackageNotFoundError:
        autograd_version = None
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {"cpu": _cpu_model(), "cpu_count": os.cpu_count(), "cores_available": affinity,
            "platform": platform.platform(), "python": platform.python_version(), "numpy": np.__version__,
            "autograd": autograd_version, "ttrnn_np": __version__,
            "blas": {**blas_info(), "config": _blas_build_config()}, "malloc_tuned": malloc_tuned(),
            "environment": {name: os.environ[name] for name in ENVIRONMENT_VARIABLES if name in os.environ}}
