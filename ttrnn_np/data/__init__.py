"""Datasets for the experiments: loaders that find, verify, download and view the data.

``mnist``     the MNIST IDX files, the mini subset shipped in ``mini/``, train/val/test splits, sequence views.
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
