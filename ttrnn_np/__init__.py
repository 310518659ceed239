"""ttrnn_np — tensor-train recurrent networks in pure NumPy + autograd.

A teaching and reference implementation of "A Fully Tensorized Recurrent Neural Network"
(Onu, Miller, Precup 2020).  See README.md and docs/ARCHITECTURE.md for the map of modules.
"""

__version__ = "0.1.0"
