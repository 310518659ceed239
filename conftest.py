"""Test-session settings shared by the unit tests and the tutorial notebooks.

The tutorials read ``TTRNN_FAST`` once and shrink their data, sizes and steps when it is "1"; the test
command always runs them that way.  The notebook kernels that nbmake starts inherit this environment.
"""
import os

os.environ.setdefault("TTRNN_FAST", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
