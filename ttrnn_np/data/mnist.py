"""MNIST for recurrent networks: IDX files, a checked loader, the shipped mini subset, splits, sequence views.

Index letters: b image (batch), t time step, f feature per step, i/j pixel row/column (28 × 28 = 784 pixels).

**Files.**  MNIST (Y. LeCun, C. Cortes, C. J. C. Burges; CC BY-SA 3.0) is four IDX files, 60,000 training and
10,000 test images of 28×28 uint8 pixels with uint8 labels 0–9.  An IDX file is: two zero bytes, a type code
(0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64), the number of dimensions d, d
big-endian uint32 sizes, then the values, big-endian, in C order.  The loader verifies the MD5 of the
*decompressed* content, so a file may be stored gzipped (``*.gz``) or raw.

**Where files come from** (``source="full"``): ``data_dir`` if given, else ``$TTRNN_DATA/mnist``, else the user
cache ``$XDG_CACHE_HOME/ttrnn_np/mnist`` (``~/.cache/...``).  With ``download=True`` a missing file is fetched
from ``MNIST_MIRRORS`` into ``data_dir`` (or the user cache).  ``source="mini"`` instead reads the small real
subset shipped in the package (the first 5,000 training and first 1,000 test images, see ``mini/NOTICE.md``);
it is only ever used when asked for.

**Normalisation** (mean and std of the training pixels):  x̃ = (x/255 − μ)/σ,  μ = 0.1307,  σ = 0.3081.

**Sequence views** of a batch x̃ of shape (B, 28, 28), always batch-first (B, T, F):

    row       X[b, t, f] = x̃[b, t, f]                    T = 28,  F = 28   (one image row per step)
    pixel     X[b, t, 0] = x̃[b, t // 28, t % 28]          T = 784, F = 1    (raster scan)
    permuted  X[b, t, 0] = x̃_pixel[b, π(t), 0]            T = 784, F = 1    (π fixed, drawn from a seed)

**Splits.**  A seeded permutation of the training file splits it into train/validation (50,000/10,000 for the
full set, 4,000/1,000 for the mini subset); the test file stays the test set.
"""
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from .download import check_md5, data_root, download_file, read_content, user_cache_dir

__all__ = ["SOURCES", "SEQUENCE_VIEWS", "MnistSet", "MnistSplits", "load_mnist", "load_mnist_splits", "as_sequences",
           "normalize", "pixel_permutation", "read_idx"]

SIDE = 28
PIXELS = SIDE * SIDE
MEAN, STD = 0.1307, 0.3081
SPLITS = ("train", "test")
SOURCES = ("full", "mini")
SEQUENCE_VIEWS = ("row", "pixel", "permuted")
DEFAULT_PERMUTATION_SEED = 0
DEFAULT_SPLIT_SEED = 0
DEFAULT_VAL_SIZE = {"full": 10_000, "mini": 1_000}

FILE_STEMS = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}
MNIST_MD5 = {  # MD5 of the decompressed canonical files
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
MINI_DIR = Path(__file__).resolve().parent / "mini"
MINI_SIZES = {"train": 5_000, "test": 1_000}
MINI_MD5 = {  # MD5 of the decompressed files in mini/ (written by scripts/make_mnist_mini.py)
    "train-images-idx3-ubyte": "6f01f69da69dedc2c8bc8526d38da71b",
    "train-labels-idx1-ubyte": "10803020b92ddef7969be21e3eb2c75c",
    "t10k-images-idx3-ubyte": "bac4371a484d0b5651e81d99305acb5a",
    "t10k-labels-idx1-ubyte": "556860b2f10365a8f7444c1e79c7e9af",
}
MNIST_MIRRORS = (
    "http://yann.lecun.com/exdb/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IDX_CODES = {(np.dtype(s).kind, np.dtype(s).itemsize): code for code, s in _IDX_DTYPES.items()}
_VERIFIED = set()  # (resolved path, size, mtime_ns, md5) of files already verified in this process


# ---------------------------------------------------------------- IDX format

def parse_idx(buf, name="<bytes>"):
    """Decode the bytes of an IDX file into a writable array in native byte order.

    ``name`` (usually the file path) appears in every error.  Raises ``errors.DataError`` (a ValueError) for a
    bad magic number, an unknown type code, zero dimensions, or a payload whose length differs from the header's
    promise.
    """
    if len(buf) < 4 or buf[:2] != b"\0\0" or buf[2] not in _IDX_DTYPES or buf[3] == 0:
        codes = ", ".join(f"0x{code:02X}" for code in _IDX_DTYPES)
        raise DataError(f"{name}: not an IDX file, expected magic 00 00 <type code in {codes}> <ndim ≥ 1>, "
                         f"got {buf[:4].hex(' ') or 'an empty file'}")
    ndim = buf[3]
    header = 4 + 4 * ndim
    if len(buf) < header:
        raise DataError(f"{name}: truncated IDX header, expected {header} bytes, got {len(buf)} bytes")
    shape = tuple(int(n) for n in np.frombuffer(buf, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[buf[2]])
    expected = header + math.prod(shape) * dtype.itemsize
    if len(buf) != expected:
        problem = "truncated file" if len(buf) < expected else "trailing bytes after the data"
        raise DataError(f"{name}: {problem}: the header announces {shape} {dtype.name}, expected "
                         f"{expected} bytes, got {len(buf)} bytes")
    values = np.frombuffer(buf, dtype, offset=header).reshape(shape)  # shape, big-endian, read-only
    return values.astype(dtype.newbyteorder("="))  # shape, native order, writable copy


def encode_idx(array):
    """The IDX bytes of ``array`` (the inverse of ``parse_idx``); gzip them yourself if wanted."""
    array = np.asarray(array)
    code = _IDX_CODES.get((array.dtype.kind, array.dtype.itemsize))
    if code is None:
        raise TypeError(f"encode_idx: expected uint8, int8, int16, int32, float32 or float64 data, "
                        f"got {array.dtype}")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"encode_idx: expected 1 to 255 dimensions, got {array.ndim}")
    header = bytes([0, 0, code, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    return header + array.astype(np.dtype(_IDX_DTYPES[code])).tobytes()


def read_idx(path):
    """Read an IDX file, gzipped or raw (recognised by content), into an array."""
    return parse_idx(read_content(path), str(path))


# ---------------------------------------------------------------- finding, verifying, downloading files

def _search_dirs(data_dir):
    """The directories searched for the full MNIST files, in order, each with the reason it is searched."""
    if data_dir is not None:
        return [(Path(data_dir).expanduser(), "the data_dir argument")]
    root = data_root()
    dirs = [(root / "mnist", "$TTRNN_DATA/mnist")] if root is not None else []
    return dirs + [(user_cache_dir("mnist"), "the user cache")]


def _missing_message(stem, data_dir):
    places = "\n".join(f"  - {path}  ({why})" for path, why in _search_dirs(data_dir))
    unset = "" if data_dir is not None or data_root() is not None else "  ($TTRNN_DATA is unset)\n"
    return (f"MNIST file {stem}.gz (or {stem}) not found. Looked in:\n{places}\n{unset}"
            "To get it: pass download=True to fetch it into data_dir or the user cache; or set TTRNN_DATA to a "
            "folder whose mnist/ subfolder holds the four IDX files; or pass data_dir=<a folder holding them>. "
            'For a quick start with no download, ask for the shipped subset: source="mini".')


def _locate(stem, data_dir, download, mirrors):
    """Path of ``stem.gz`` or ``stem`` in the first search directory holding it; download it if allowed."""
    for directory, _ in _search_dirs(data_dir):
        for name in (f"{stem}.gz", stem):
            if (directory / name).is_file():
                return directory / name
    if not download:
        raise FileNotFoundError(_missing_message(stem, data_dir))
    dest_dir = Path(data_dir).expanduser() if data_dir is not None else user_cache_dir("mnist")

    def validate(path):
        check_md5(read_content(path), MNIST_MD5[stem], f"{stem}.gz as downloaded (md5 of decompressed content)")

    return download_file(f"{stem}.gz", MNIST_MIRRORS if mirrors is None else mirrors, dest_dir / f"{stem}.gz",
                         validate)


def _read_verified(path, md5, verify):
    """Parse an IDX file; unless ``verify`` is False, check the MD5 of its content once per process."""
    content = read_content(path)
    if verify:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, md5)
        if key not in _VERIFIED:
            check_md5(content, md5, f"{path} (md5 of decompressed content)")
            _VERIFIED.add(key)
    return parse_idx(content, str(path))


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name}: expected one of {choices}, got {value!r}")


# ---------------------------------------------------------------- loading

@dataclass(frozen=True, eq=False)
class MnistSet:
    """Images (N, 28, 28) uint8 and labels (N,) int64 of one split, with where they came from."""
    images: np.ndarray
    labels: np.ndarray
    split: str
    source: str

    def __len__(self):
        return len(self.labels)

    def subset(self, indices, split):
        """The images and labels at ``indices``, renamed ``split``."""
        return MnistSet(self.images[indices], self.labels[indices], split, self.source)

    def __repr__(self):
        return (f"MnistSet(split={self.split!r}, source={self.source!r}, n={len(self)}, "
                f"images={self.images.shape} {self.images.dtype}, labels={self.labels.shape} {self.labels.dtype})")


def load_mnist(split="train", *, source="full", data_dir=None, download=False, verify=True, mirrors=None):
    """Load one MNIST split as an ``MnistSet``: images (N, 28, 28) uint8, labels (N,) int64.

    split     "train" (60,000 images; 5,000 for the mini subset) or "test" (10,000; mini 1,000).
    source    "full": the canonical files, searched in ``data_dir``, else ``$TTRNN_DATA/mnist``, else the user
              cache; "mini": the subset shipped inside the package (takes no ``data_dir`` or ``download``).
    download  fetch missing full files from ``mirrors`` (default ``MNIST_MIRRORS``) into ``data_dir`` or the
              user cache, verified and written atomically.
    verify    check the MD5 of the decompressed content (once per process per file; ~0.1 s for the full set).

    Raises ``FileNotFoundError`` (where it looked, how to get the files), ``DownloadError`` (each mirror's
    error) or ``ValueError`` (corrupt, truncated or unexpected file; wrong checksum: expected vs got).
    """
    _check_choice("split", split, SPLITS)
    _check_choice("source", source, SOURCES)
    if source == "mini" and (data_dir is not None or download):
        raise ValueError(f'source="mini" reads the subset shipped in {MINI_DIR}; expected data_dir=None and '
                         f"download=False, got data_dir={data_dir!r}, download={download!r}")
    arrays = {}
    for kind in ("images", "labels"):
        stem = FILE_STEMS[split, kind]
        if source == "mini":
            path, md5 = MINI_DIR / f"{stem}.gz", MINI_MD5[stem]
        else:
            path, md5 = _locate(stem, data_dir, download, mirrors), MNIST_MD5[stem]
        arrays[kind] = (path, _read_verified(path, md5, verify))  # (path, (N, 28, 28) or (N,) array)
    (image_path, images), (label_path, labels) = arrays["images"], arrays["labels"]  # (N, 28, 28), (N,) uint8
    if images.dtype != np.uint8 or images.shape[1:] != (SIDE, SIDE):
        raise DataError(f"{image_path}: expected uint8 images of shape (N, 28, 28), "
                         f"got {images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.shape != images.shape[:1] or labels.max(initial=0) > 9:
        raise DataError(f"{label_path}: expected {len(images)} uint8 labels in 0..9 to match {image_path}, "
                         f"got {labels.dtype} {labels.shape} with max {labels.max(initial=0)}")
    return MnistSet(images, labels.astype(np.int64), split, source)  # (N, 28, 28) uint8, (N,) int64


@dataclass(frozen=True)
class MnistSplits:
    """Train / validation / test ``MnistSet``s and their source ("full" or "mini")."""
    train: MnistSet
    val: MnistSet
    test: MnistSet
    source: str

    def __repr__(self):
        what = ("the MINI subset shipped with ttrnn_np (first 5,000 train / 1,000 test images)"
                if self.source == "mini" else "the full canonical MNIST files")
        return (f"MnistSplits(source={self.source!r}: {what}; "
                f"train={len(self.train)}, val={len(self.val)}, test={len(self.test)})")


def train_val_indices(n, n_val, seed=DEFAULT_SPLIT_SEED):
    """Disjoint sorted index arrays, train (n − n_val,) and val (n_val,), from a seeded permutation of range(n)."""
    if not 0 < n_val < n:
        raise ValueError(f"train_val_indices: expected 0 < n_val < n = {n}, got n_val = {n_val}")
    order = np.random.default_rng(seed).permutation(n)  # (n,)
    return np.sort(order[n_val:]), np.sort(order[:n_val])  # (n − n_val,), (n_val,)


def load_mnist_splits(source="full", *, n_val=None, seed=DEFAULT_SPLIT_SEED, data_dir=None, download=False,
                      verify=True, mirrors=None):
    """Load train and test files and split the training file into train/val with a seeded permutation.

    ``n_val`` defaults to ``DEFAULT_VAL_SIZE[source]``: 10,000 of 60,000 (full) or 1,000 of 5,000 (mini).
    ``data_dir``, ``download``, ``verify`` and ``mirrors`` mean what they mean for ``load_mnist``.
    """
    _check_choice("source", source, SOURCES)
    options = dict(source=source, data_dir=data_dir, download=download, verify=verify, mirrors=mirrors)
    full_train = load_mnist("train", **options)
    test = load_mnist("test", **options)
    train_idx, val_idx = train_val_indices(len(full_train), DEFAULT_VAL_SIZE[source] if n_val is None else n_val,
                                           seed)
    return MnistSplits(full_train.subset(train_idx, "train"), full_train.subset(val_idx, "val"), test, source)


# ---------------------------------------------------------------- normalisation and sequence views

def normalize(images, dtype=np.float64):
    """x̃ = (x/255 − μ)/σ for raw uint8 images (B, 28, 28); returns (B, 28, 28) in ``dtype``."""
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
        raise TypeError(f"expected raw uint8 images as a numpy array, got "
                        f"{getattr(images, 'dtype', type(images).__name__)}")
    if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE):
        raise ValueError(f"expected images of shape (B, 28, 28), got {images.shape}")
    x = images.astype(dtype) / 255  # (B, 28, 28)
    return (x - MEAN) / STD  # (B, 28, 28)


def pixel_permutation(seed=DEFAULT_PERMUTATION_SEED):
    """The fixed pixel order π of the permuted view: a seeded permutation of 0..783, shape (784,)."""
    return np.random.default_rng(seed).permutation(PIXELS)  # (784,)


def as_sequences(images, view="row", *, seed=DEFAULT_PERMUTATION_SEED, dtype=np.float64):
    """Normalised images (B, 28, 28) uint8 as sequences (B, T, F) for an RNN.

    view  "row" → (B, 28, 28): step t is image row t;  "pixel" → (B, 784, 1): raster scan;
          "permuted" → (B, 784, 1): the pixel view reordered by ``pixel_permutation(seed)`` (default seed 0).
    """
    _check_choice("view", view, SEQUENCE_VIEWS)
    x = normalize(images, dtype)  # (B, 28, 28)
    if view == "row":
        return x  # (B, T=28, F=28)
    X = x.reshape(len(x), PIXELS, 1)  # (B, T=784, F=1)
    if view == "pixel":
        return X
    return X[:, pixel_permutation(seed), :]  # (B, T=784, F=1), step t reads pixel π(t)
