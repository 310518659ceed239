"""Datasets for the experiments: loaders that find, verify, download and view the data.

``mnist``     the MNIST IDX files, the mini subset shipped in ``mini/``, train/val/test splits, sequence views.
``toy``       synthetic long-range tasks (the adding problem, the copy task) for BPTT experiments.
``download``  dataset-independent helpers: gzip-aware reading, MD5 checks, atomic writes, mirror downloads.
"""
from .download import DownloadError
from .mnist import (
    MnistSet,
    MnistSplits,
    as_sequences,
    load_mnist,
    load_mnist_splits,
    normalize,
    pixel_permutation,
    read_idx,
)

__all__ = [
    "DownloadError",
    "MnistSet",
    "MnistSplits",
    "as_sequences",
    "load_mnist",
    "load_mnist_splits",
    "normalize",
    "pixel_permutation",
    "read_idx",
]
