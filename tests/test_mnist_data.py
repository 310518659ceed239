"""Tests for ttrnn_np.data (MNIST loader, mini subset, views, splits) and ttrnn_np.data.download.

Everything runs on tiny IDX files built here, served over a local HTTP server when downloading, except:
the mini-subset tests (the subset ships with the package, so they always run) and the real-data tests, which
read $TTRNN_DATA/mnist — skipped when TTRNN_DATA is unset, failing when it is set but the files are missing
or wrong.
"""
import errno
import gzip
import http.server
import os
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ttrnn_np.data import download as dl
from ttrnn_np.errors import OutputError
from ttrnn_np.data import mnist
from ttrnn_np.data import (DownloadError, MnistSplits, as_sequences, load_mnist, load_mnist_splits, normalize,
                           pixel_permutation, read_idx)

REAL_DATA = os.environ.get("TTRNN_DATA")  # read before the autouse fixture clears it
needs_real_data = pytest.mark.skipif(not REAL_DATA, reason="TTRNN_DATA is unset: no real MNIST files to check "
                                                           "(set TTRNN_DATA=<folder with mnist/>)")
N_TRAIN, N_TEST = 12, 6


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    """No $TTRNN_DATA, a private user cache, and a fresh verified-files memo for every test."""
    monkeypatch.delenv("TTRNN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setattr(mnist, "_VERIFIED", set())


def tiny_arrays():
    """Seeded fake MNIST: {stem: array} with 12 train and 6 test images (28×28 uint8) and labels."""
    rng = np.random.default_rng(0)
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8),  # (12, 28, 28)
        "train-labels-idx1-ubyte": (np.arange(N_TRAIN) % 10).astype(np.uint8),  # (12,)
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),  # (6, 28, 28)
        "t10k-labels-idx1-ubyte": (np.arange(N_TEST)[::-1] % 10).astype(np.uint8),  # (6,)
    }


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """A folder with the tiny files (train gzipped, test raw) and MNIST_MD5 patched to their checksums."""
    arrays = tiny_arrays()
    folder = tmp_path / "tiny"
    folder.mkdir()
    contents = {stem: mnist.encode_idx(a) for stem, a in arrays.items()}
    for stem, content in contents.items():
        if stem.startswith("train"):
            (folder / f"{stem}.gz").write_bytes(gzip.compress(content))
        else:
            (folder / stem).write_bytes(content)
    monkeypatch.setattr(mnist, "MNIST_MD5", {stem: dl.md5_hex(c) for stem, c in contents.items()})
    return folder, arrays, contents


# ---------------------------------------------------------------- IDX format

IDX_DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@settings(max_examples=40, deadline=None)
@given(dtype=st.sampled_from(IDX_DTYPES), shape=st.lists(st.integers(0, 4), min_size=1, max_size=4),
       seed=st.integers(0, 2**16))
def test_idx_round_trip(dtype, shape, seed):
    array = (np.random.default_rng(seed).standard_normal(shape) * 100).astype(dtype)  # shape
    back = mnist.parse_idx(mnist.encode_idx(array))
    assert back.dtype == np.dtype(dtype) and back.shape == tuple(shape) and back.flags.writeable
    np.testing.assert_array_equal(back, array)


def test_idx_header_is_big_endian_and_files_read_gz_or_raw(tmp_path):
    array = np.array([[1, 256], [-2, 70000]], dtype=np.int32)  # (2, 2)
    content = mnist.encode_idx(array)
    assert content[:4] == b"\x00\x00\x0c\x02" and content[4:12] == b"\0\0\0\x02\0\0\0\x02"
    assert content[12:16] == b"\0\0\0\x01"
    (tmp_path / "a.gz").write_bytes(gzip.compress(content))
    (tmp_path / "a").write_bytes(content)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz"), array)
    np.testing.assert_array_equal(read_idx(tmp_path / "a"), array)


@pytest.mark.parametrize("buf, match", [
    (b"", "not an IDX file.*empty file"),
    (b"\x1f\x8b\x08\x00", "not an IDX file.*got 1f 8b 08 00"),
    (b"\x00\x00\x07\x01\x00\x00\x00\x00", "not an IDX file.*got 00 00 07 01"),
    (b"\x00\x00\x08\x00", "not an IDX file"),
    (b"\x00\x00\x08\x03\x00\x00\x00\x02", "truncated IDX header, expected 16 bytes, got 8 bytes"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x05abc", r"truncated file.*\(5,\) uint8, expected 13 bytes, got 11 bytes"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x01ab", "trailing bytes.*expected 9 bytes, got 10 bytes"),
])
def test_parse_idx_rejects_bad_files(buf, match):
    with pytest.raises(ValueError, match=match):
        mnist.parse_idx(buf, "some-file")


def test_encode_idx_rejects_unsupported_arrays():
    with pytest.raises(TypeError, match="expected uint8.*got complex128"):
        mnist.encode_idx(np.zeros(3, complex))
    with pytest.raises(ValueError, match="expected 1 to 255 dimensions, got 0"):
        mnist.encode_idx(np.uint8(3))


def test_truncated_and_corrupt_gzip_name_the_file(tmp_path):
    packed = gzip.compress(mnist.encode_idx(np.arange(5000, dtype=np.int32)))
    (tmp_path / "cut.gz").write_bytes(packed[: len(packed) // 2])
    with pytest.raises(ValueError, match=r"cut\.gz: truncated gzip file"):
        read_idx(tmp_path / "cut.gz")
    bad_crc = packed[:-8] + bytes(4) + packed[-4:]
    (tmp_path / "bad.gz").write_bytes(bad_crc)
    with pytest.raises(ValueError, match=r"bad\.gz: corrupt gzip file"):
        read_idx(tmp_path / "bad.gz")


# ---------------------------------------------------------------- finding and verifying files

def test_load_from_data_dir_gz_and_raw(tiny):
    folder, arrays, _ = tiny
    train, test = load_mnist("train", data_dir=folder), load_mnist("test", data_dir=str(folder))
    np.testing.assert_array_equal(train.images, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(train.labels, arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(test.images, arrays["t10k-images-idx3-ubyte"])
    assert train.labels.dtype == np.int64 and (train.split, train.source, len(train)) == ("train", "full", 12)
    assert "source='full'" in repr(test) and "(6, 28, 28) uint8" in repr(test)


def test_search_order_ttrnn_data_then_user_cache(tiny, tmp_path, monkeypatch):
    folder, arrays, _ = tiny
    cache = tmp_path / "xdg-cache" / "ttrnn_np" / "mnist"
    cache.parent.mkdir(parents=True)
    folder.rename(cache)
    np.testing.assert_array_equal(load_mnist("test").images, arrays["t10k-images-idx3-ubyte"])
    root = tmp_path / "root"
    (root / "mnist").mkdir(parents=True)
    other = mnist.encode_idx(np.zeros((N_TEST, 28, 28), np.uint8))
    (root / "mnist" / "t10k-images-idx3-ubyte").write_bytes(other)
    monkeypatch.setenv("TTRNN_DATA", str(root))
    with pytest.raises(ValueError, match=r"root/mnist/t10k-images-idx3-ubyte \(md5.*wrong checksum"):
        load_mnist("test")
    np.testing.assert_array_equal(load_mnist("test", verify=False).images, 0)


def test_missing_file_names_every_place_searched(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError) as info:
        load_mnist("train")
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz" in message and str(tmp_path / "xdg-cache/ttrnn_np/mnist") in message
    assert "$TTRNN_DATA is unset" in message
    for hint in ("download=True", "TTRNN_DATA", 'source="mini"'):
        assert hint in message
    monkeypatch.setenv("TTRNN_DATA", str(tmp_path / "data"))
    with pytest.raises(FileNotFoundError, match=r"(?s)data/mnist  \(\$TTRNN_DATA/mnist\).*user cache"):
        load_mnist("test")
    with pytest.raises(FileNotFoundError, match=r"elsewhere  \(the data_dir argument\)\nTo get it") as info:
        load_mnist("test", data_dir=tmp_path / "elsewhere")
    assert str(tmp_path / "data") not in str(info.value) and "xdg-cache" not in str(info.value)


def test_wrong_checksum_says_expected_and_got(tiny, monkeypatch):
    folder, _, contents = tiny
    monkeypatch.setitem(mnist.MNIST_MD5, "t10k-labels-idx1-ubyte", "0" * 32)
    got = dl.md5_hex(contents["t10k-labels-idx1-ubyte"])
    with pytest.raises(ValueError, match=f"wrong checksum, expected md5 {'0' * 32}, got {got}"):
        load_mnist("test", data_dir=folder)
    assert len(load_mnist("test", data_dir=folder, verify=False)) == N_TEST


def test_checksum_is_computed_once_per_unchanged_file(tiny, monkeypatch):
    folder, _, contents = tiny
    calls = []
    monkeypatch.setattr(mnist, "check_md5", lambda *args: calls.append(args[2]) or dl.check_md5(*args))
    load_mnist("test", data_dir=folder)
    load_mnist("test", data_dir=folder)
    assert len(calls) == 2
    path = folder / "t10k-labels-idx1-ubyte"
    path.write_bytes(contents["t10k-labels-idx1-ubyte"][:-1] + b"\x09")
    os.utime(path, ns=(1, 1))
    with pytest.raises(ValueError, match="wrong checksum"):
        load_mnist("test", data_dir=folder)


def test_unexpected_shapes_and_labels_are_rejected(tmp_path):
    def write(stem, array):
        (tmp_path / stem).write_bytes(mnist.encode_idx(array))

    write("t10k-images-idx3-ubyte", np.zeros((3, 28, 27), np.uint8))
    write("t10k-labels-idx1-ubyte", np.zeros(3, np.uint8))
    with pytest.raises(ValueError, match=r"expected uint8 images of shape \(N, 28, 28\), got uint8 \(3, 28, 27\)"):
        load_mnist("test", data_dir=tmp_path, verify=False)
    write("t10k-images-idx3-ubyte", np.zeros((3, 28, 28), np.uint8))
    write("t10k-labels-idx1-ubyte", np.array([0, 12, 1], np.uint8))
    with pytest.raises(ValueError, match=r"expected 3 uint8 labels in 0..9 .* with max 12"):
        load_mnist("test", data_dir=tmp_path, verify=False)
    write("t10k-labels-idx1-ubyte", np.zeros(4, np.uint8))
    with pytest.raises(ValueError, match=r"expected 3 uint8 labels .* got uint8 \(4,\)"):
        load_mnist("test", data_dir=tmp_path, verify=False)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match=r"split: expected one of \('train', 'test'\), got 'val'"):
        load_mnist("val")
    with pytest.raises(ValueError, match="source: expected one of .*got 'tiny'"):
        load_mnist(source="tiny")
    with pytest.raises(ValueError, match='source="mini" .*expected data_dir=None and download=False'):
        load_mnist(source="mini", data_dir=tmp_path)
    with pytest.raises(ValueError, match='source="mini"'):
        load_mnist(source="mini", download=True)


# ---------------------------------------------------------------- atomic writes and downloads

def test_atomic_output_leaves_nothing_on_failure(tmp_path):
    dest = tmp_path / "sub" / "file.bin"
    with pytest.raises(RuntimeError, match="boom"):
        with dl.atomic_output(dest) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("boom")
    assert list(dest.parent.iterdir()) == []
    with dl.atomic_output(dest) as tmp:
        tmp.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with dl.atomic_output(dest) as tmp:
            tmp.write_bytes(b"new but broken")
            raise RuntimeError("boom")
    assert dest.read_bytes() == b"old" and [p.name for p in dest.parent.iterdir()] == ["file.bin"]
    umask = os.umask(0)
    os.umask(umask)
    assert dest.stat().st_mode & 0o777 == 0o666 & ~umask


class FileHandler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files`` ({url path: bytes}); paths under /short/ promise twice the bytes they send."""

    def do_GET(self):
        body = self.server.files.get(self.path.replace("/short/", "/ok/", 1))
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        short = self.path.startswith("/short/")
        self.send_header("Content-Length", str(2 * len(body) if short else len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """A local HTTP server on 127.0.0.1 in a thread; returns (base URL, files dict to fill)."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FileHandler)
    httpd.files = {}
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", httpd.files
    httpd.shutdown()
    httpd.server_close()


def closed_port_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/"


def serve_tiny(files, contents, prefix):
    for stem, content in contents.items():
        files[f"/{prefix}/{stem}.gz"] = gzip.compress(content)


def test_download_skips_unreachable_missing_and_corrupt_mirrors(tiny, server, tmp_path):
    _, arrays, contents = tiny
    base, files = server
    serve_tiny(files, contents, "ok")
    for stem, content in contents.items():
        files[f"/bad/{stem}.gz"] = gzip.compress(content[:-1] + b"\xff")
    mirrors = [closed_port_url(), f"{base}/missing/", f"{base}/bad", f"{base}/ok/"]
    dest = tmp_path / "downloaded"
    splits = load_mnist_splits(data_dir=dest, download=True, mirrors=mirrors, n_val=2)
    np.testing.assert_array_equal(splits.test.images, arrays["t10k-images-idx3-ubyte"])
    assert (len(splits.train), len(splits.val), len(splits.test)) == (10, 2, N_TEST)
    assert sorted(p.name for p in dest.iterdir()) == sorted(f"{stem}.gz" for stem in contents)


def test_download_defaults_to_user_cache_and_default_mirrors(tiny, server, tmp_path, monkeypatch):
    _, _, contents = tiny
    base, files = server
    serve_tiny(files, contents, "ok")
    monkeypatch.setattr(mnist, "MNIST_MIRRORS", (f"{base}/ok/",))
    assert len(load_mnist("test", download=True)) == N_TEST
    assert (tmp_path / "xdg-cache/ttrnn_np/mnist/t10k-images-idx3-ubyte.gz").is_file()


def test_all_mirrors_failing_lists_each_error_and_writes_nothing(tiny, server, tmp_path):
    _, _, contents = tiny
    base, files = server
    serve_tiny(files, contents, "ok")
    files["/bad/t10k-images-idx3-ubyte.gz"] = b"not gzip at all"
    unreachable = closed_port_url()
    mirrors = [unreachable, f"{base}/missing/", f"{base}/bad/", f"{base}/short/"]
    dest = tmp_path / "downloaded"
    with pytest.raises(DownloadError) as info:
        load_mnist("test", data_dir=dest, download=True, mirrors=mirrors)
    message = str(info.value)
    assert "could not download 't10k-images-idx3-ubyte.gz'" in message
    assert f"{unreachable}t10k-images-idx3-ubyte.gz: URLError" in message
    assert "missing/t10k-images-idx3-ubyte.gz: HTTPError: HTTP Error 404" in message
    assert "bad/t10k-images-idx3-ubyte.gz: DataError" in message and "wrong checksum" in message
    assert "short/t10k-images-idx3-ubyte.gz: OSError" in message and "connection closed after" in message
    assert list(dest.iterdir()) == []


def test_an_interrupted_download_leaves_no_partial_file(tiny, server, tmp_path, monkeypatch):
    """Ctrl-C in the middle of a transfer: the bytes received so far are removed, nothing has the real name."""
    _, _, contents = tiny
    base, files = server
    serve_tiny(files, contents, "ok")
    real_fetch, seen = dl._fetch_url, []

    def interrupted(url, out_path, **kwargs):
        real_fetch(url, out_path, **kwargs)
        seen.append(Path(out_path).stat().st_size)  # the whole body was on disk under the temporary name
        raise KeyboardInterrupt

    monkeypatch.setattr(dl, "_fetch_url", interrupted)
    dest = tmp_path / "downloaded"
    with pytest.raises(KeyboardInterrupt):
        load_mnist("test", data_dir=dest, download=True, mirrors=[f"{base}/ok/"])
    assert seen and seen[0] > 0 and list(dest.iterdir()) == []


def test_a_folder_that_cannot_be_written_is_named_not_the_network(tiny, server, tmp_path, monkeypatch):
    _, _, contents = tiny
    base, files = server
    serve_tiny(files, contents, "ok")

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(dl.tempfile, "mkstemp", read_only)
    dest = tmp_path / "downloaded"
    with pytest.raises(OutputError, match=f"cannot write {dest}: Read-only file system; the file system is "
                                          "read-only; write somewhere else") as info:
        load_mnist("test", data_dir=dest, download=True, mirrors=[f"{base}/ok/"])
    assert "internet" not in str(info.value) and not isinstance(info.value, DownloadError)


def test_a_full_disk_during_a_download_is_an_output_error(tiny, server, tmp_path, monkeypatch):
    _, _, contents = tiny
    base, files = server
    serve_tiny(files, contents, "ok")
    real_open = open

    class FullFile:
        def __init__(self, f):
            self.f = f

        def write(self, chunk):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.f.__exit__(*exc)

    monkeypatch.setattr(dl, "open", lambda path, mode="r", **kw: FullFile(real_open(path, mode, **kw)),
                        raising=False)
    dest = tmp_path / "downloaded"
    with pytest.raises(OutputError, match="No space left on device; free some disk space"):
        load_mnist("test", data_dir=dest, download=True, mirrors=[f"{base}/ok/", f"{base}/ok/"])
    assert list(dest.iterdir()) == []


def test_download_file_needs_a_mirror(tmp_path):
    with pytest.raises(ValueError, match="expected at least one mirror URL for 'x.gz', got none"):
        dl.download_file("x.gz", [], tmp_path / "x.gz", validate=lambda path: None)
    with pytest.raises(TypeError, match="expected a sequence of mirror base URLs, got the string 'http://a/'"):
        dl.download_file("x.gz", "http://a/", tmp_path / "x.gz", validate=lambda path: None)


# ---------------------------------------------------------------- splits

@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 300), fraction=st.floats(0.01, 0.99), seed=st.integers(0, 2**16))
def test_train_val_indices_partition_and_are_seeded(n, fraction, seed):
    n_val = min(max(1, round(n * fraction)), n - 1)
    train, val = mnist.train_val_indices(n, n_val, seed)
    assert (len(train), len(val)) == (n - n_val, n_val)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(n))
    assert np.all(np.diff(train) > 0) and np.all(np.diff(val) > 0)
    again = mnist.train_val_indices(n, n_val, seed)
    np.testing.assert_array_equal(again[1], val)


def test_train_val_indices_depend_on_seed_and_reject_bad_sizes():
    assert not np.array_equal(mnist.train_val_indices(1000, 100, 0)[1], mnist.train_val_indices(1000, 100, 1)[1])
    for n_val in (0, 10, -1):
        with pytest.raises(ValueError, match=f"expected 0 < n_val < n = 10, got n_val = {n_val}"):
            mnist.train_val_indices(10, n_val)


def test_splits_take_the_right_rows(tiny):
    folder, arrays, _ = tiny
    splits = load_mnist_splits(data_dir=folder, n_val=3, seed=5)
    train_idx, val_idx = mnist.train_val_indices(N_TRAIN, 3, 5)
    np.testing.assert_array_equal(splits.val.images, arrays["train-images-idx3-ubyte"][val_idx])
    np.testing.assert_array_equal(splits.train.labels, arrays["train-labels-idx1-ubyte"][train_idx])
    assert (splits.train.split, splits.val.split, splits.test.split) == ("train", "val", "test")
    assert "the full canonical MNIST files; train=9, val=3, test=6" in repr(splits)


# ---------------------------------------------------------------- normalisation and views

def test_normalize_values_and_statistics():
    images = np.array([[[0] * 28] * 27 + [[255] * 28]], np.uint8)  # (1, 28, 28)
    x = normalize(images)
    assert x.dtype == np.float64 and x.shape == (1, 28, 28)
    np.testing.assert_allclose(x[0, 0, 0], -0.1307 / 0.3081)
    np.testing.assert_allclose(x[0, 27, 5], (1 - 0.1307) / 0.3081)
    assert normalize(images, np.float32).dtype == np.float32
    images = np.random.default_rng(1).integers(0, 256, (50, 28, 28), dtype=np.uint8)  # (50, 28, 28)
    x = normalize(images)  # (50, 28, 28)
    np.testing.assert_allclose(x.mean(), (images.mean() / 255 - 0.1307) / 0.3081)
    np.testing.assert_allclose(x.std(), images.std() / 255 / 0.3081)


@settings(max_examples=25, deadline=None)
@given(batch=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_views_have_the_right_shapes_and_order(batch, seed):
    images = np.random.default_rng(seed).integers(0, 256, (batch, 28, 28), dtype=np.uint8)  # (B, 28, 28)
    x = normalize(images)  # (B, 28, 28)
    row = as_sequences(images, "row")
    pixel = as_sequences(images, "pixel")
    permuted = as_sequences(images, "permuted", seed=seed)
    assert row.shape == (batch, 28, 28) and pixel.shape == permuted.shape == (batch, 784, 1)
    for t in (0, 13, 27):
        np.testing.assert_array_equal(row[:, t, :], x[:, t, :])
    np.testing.assert_array_equal(pixel[:, 28 * 3 + 5, 0], x[:, 3, 5])
    np.testing.assert_array_equal(pixel[:, :, 0], x.reshape(batch, 784))
    perm = pixel_permutation(seed)
    np.testing.assert_array_equal(np.sort(perm), np.arange(784))
    np.testing.assert_array_equal(permuted[:, :, 0], pixel[:, perm, 0])
    np.testing.assert_array_equal(as_sequences(images, "permuted", seed=seed), permuted)


def test_permutation_is_fixed_per_seed():
    np.testing.assert_array_equal(pixel_permutation(), pixel_permutation(mnist.DEFAULT_PERMUTATION_SEED))
    np.testing.assert_array_equal(pixel_permutation(3), pixel_permutation(3))
    assert not np.array_equal(pixel_permutation(3), pixel_permutation(4))
    assert not np.array_equal(pixel_permutation(3), np.arange(784))
    images = np.zeros((1, 28, 28), np.uint8)  # (1, 28, 28)
    assert as_sequences(images, "permuted", dtype=np.float32).dtype == np.float32


def test_views_reject_bad_input():
    with pytest.raises(ValueError, match=r"view: expected one of \('row', 'pixel', 'permuted'\), got 'col'"):
        as_sequences(np.zeros((1, 28, 28), np.uint8), "col")
    with pytest.raises(TypeError, match="expected raw uint8 images.*got float64"):
        as_sequences(np.zeros((1, 28, 28)))
    with pytest.raises(TypeError, match="got list"):
        normalize([[0]])
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 28, 28\), got \(1, 784\)"):
        as_sequences(np.zeros((1, 784), np.uint8))


# ---------------------------------------------------------------- the shipped mini subset (always runs)

MINI_TRAIN_COUNTS = [479, 563, 488, 493, 535, 434, 501, 550, 462, 495]
MINI_TEST_COUNTS = [85, 126, 116, 107, 110, 87, 87, 99, 89, 94]


def test_mini_subset_ships_with_its_notice_and_loads_verified():
    notice = (mnist.MINI_DIR / "NOTICE.md").read_text()
    for fact in ("LeCun", "Cortes", "Burges", "CC BY-SA 3.0", *mnist.MINI_MD5.values()):
        assert fact in notice
    splits = load_mnist_splits("mini")
    assert isinstance(splits, MnistSplits) and splits.source == "mini" and "MINI subset" in repr(splits)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (4000, 1000, 1000)
    labels = np.concatenate([splits.train.labels, splits.val.labels])  # (5000,)
    assert np.bincount(labels, minlength=10).tolist() == MINI_TRAIN_COUNTS
    assert np.bincount(splits.test.labels, minlength=10).tolist() == MINI_TEST_COUNTS
    x = as_sequences(splits.train.images)  # (4000, 28, 28)
    assert abs(x.mean()) < 0.02 and abs(x.std() - 1) < 0.02


def test_mini_subset_is_never_a_silent_fallback():
    with pytest.raises(FileNotFoundError, match='source="mini"'):
        load_mnist("test")
    assert load_mnist("test", source="mini").source == "mini"


# ---------------------------------------------------------------- real data in $TTRNN_DATA/mnist

@pytest.fixture(scope="module")
def real():
    folder = Path(REAL_DATA) / "mnist"
    return {split: load_mnist(split, data_dir=folder) for split in ("train", "test")}


@needs_real_data
def test_real_files_match_the_data_readme(real):
    assert real["train"].images.shape == (60000, 28, 28) and real["test"].images.shape == (10000, 28, 28)
    counts = np.bincount(real["train"].labels, minlength=10)  # (10,)
    assert counts.tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    np.testing.assert_allclose(real["train"].images.mean(), 33.318, atol=1e-3)
    x = normalize(real["train"].images[:20000])  # (20000, 28, 28)
    assert abs(x.mean()) < 0.01 and abs(x.std() - 1) < 0.01


@needs_real_data
def test_real_default_split_and_mini_is_its_prefix(real):
    splits = load_mnist_splits(data_dir=Path(REAL_DATA) / "mnist")
    assert (len(splits.train), len(splits.val), len(splits.test)) == (50000, 10000, 10000)
    for split in ("train", "test"):
        mini = load_mnist(split, source="mini")
        np.testing.assert_array_equal(mini.images, real[split].images[: len(mini)])
        np.testing.assert_array_equal(mini.labels, real[split].labels[: len(mini)])
