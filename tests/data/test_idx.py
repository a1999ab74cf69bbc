"""IDX files: round trips, gzip detection, corrupt files, and loading an image directory."""

import gzip
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab.data import DEFAULT_IMAGE_DIR, load_idx_images, read_idx, write_idx
from rnnlab.errors import DataError, InputError


def idx_bytes(code, shape, payload):
    """A hand-built IDX file: magic, big-endian sizes, payload."""
    return bytes([0, 0, code, len(shape)]) + np.asarray(shape, ">u4").tobytes() + payload


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 5), (1, 2, 1, 3)])
@pytest.mark.parametrize("compress", [False, True])
def test_round_trip(tmp_path, dtype, shape, compress):
    rng = np.random.default_rng(0)
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
    if info is None:
        array = rng.standard_normal(shape).astype(dtype)
    else:
        array = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    path = tmp_path / "a.idx"
    write_idx(path, array, gzip=compress)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") is compress
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    assert back.shape == shape and np.array_equal(back, array)
    assert back.flags.writeable
    assert os.listdir(tmp_path) == ["a.idx"]


def test_format_is_big_endian_as_specified(tmp_path):
    path = tmp_path / "x"
    write_idx(path, np.array([[1, 258]], dtype=np.int16))
    assert path.read_bytes() == bytes([0, 0, 0x0B, 2, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1, 1, 2])
    path.write_bytes(idx_bytes(0x0D, (2,), np.array([1.5, -2], ">f4").tobytes()))
    assert read_idx(path).tolist() == [1.5, -2.0]


def test_write_accepts_tensors_and_zero_sizes(tmp_path):
    write_idx(tmp_path / "t", torch.arange(6, dtype=torch.int32).reshape(2, 3))
    assert read_idx(tmp_path / "t").tolist() == [[0, 1, 2], [3, 4, 5]]
    write_idx(tmp_path / "e", np.zeros((0, 28, 28), np.uint8))
    assert read_idx(tmp_path / "e").shape == (0, 28, 28)


def test_write_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(InputError, match=r"write_idx: expected an array of dtype uint8.*int64"):
        write_idx(tmp_path / "x", np.arange(3))
    assert not os.listdir(tmp_path)


def test_gzip_detected_by_content_not_suffix(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    gz_named_plain = tmp_path / "plain.gz"
    write_idx(gz_named_plain, array)
    plain_named_gz = tmp_path / "data-idx2-ubyte"
    write_idx(plain_named_gz, array, gzip=True)
    assert plain_named_gz.read_bytes()[:2] == b"\x1f\x8b"
    assert np.array_equal(read_idx(gz_named_plain), array)
    assert np.array_equal(read_idx(plain_named_gz), array)


def test_gzip_output_is_deterministic(tmp_path):
    array = np.arange(100, dtype=np.float32)
    write_idx(tmp_path / "a", array, gzip=True)
    write_idx(tmp_path / "b", array, gzip=True)
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"IDX file .*nope.*cannot read"):
        read_idx(tmp_path / "nope")


def test_wrong_magic_shows_first_bytes(tmp_path):
    path = tmp_path / "zip"
    path.write_bytes(b"PK\x03\x04rest")
    with pytest.raises(DataError) as err:
        read_idx(path)
    assert str(path) in str(err.value)
    assert "50 4b 03 04" in str(err.value) and "00 00 <dtype code> <ndim>" in str(err.value)
    path.write_bytes(b"")
    with pytest.raises(DataError, match="empty file"):
        read_idx(path)


def test_wrong_magic_inside_gzip(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(b"hello world"))
    with pytest.raises(DataError, match=r"after gzip decompression.*68 65 6c 6c"):
        read_idx(path)


def test_unknown_dtype_code(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(idx_bytes(0x0A, (2,), b"\x00\x00"))
    with pytest.raises(DataError, match=r"x: unknown dtype code 0x0A; expected one of 0x08 uint8"):
        read_idx(path)


def test_truncated_data(tmp_path):
    path = tmp_path / "short"
    path.write_bytes(idx_bytes(0x0C, (2, 3), b"\x00" * 20))
    with pytest.raises(DataError, match=r"short: truncated: expected 24 bytes .*found 20"):
        read_idx(path)
    path.write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    with pytest.raises(DataError, match=r"truncated header: expected 16 bytes .*found 6"):
        read_idx(path)


def test_truncated_gzip_and_corrupt_gzip(tmp_path):
    path = tmp_path / "x.gz"
    write_idx(path, np.arange(5000, dtype=np.int32), gzip=True)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"x\.gz: corrupt gzip"):
        read_idx(path)
    path.write_bytes(data[:10] + bytes(b ^ 0xFF for b in data[10:40]) + data[40:])
    with pytest.raises(DataError, match=r"x\.gz: corrupt gzip"):
        read_idx(path)


def test_trailing_bytes(tmp_path):
    path = tmp_path / "long"
    path.write_bytes(idx_bytes(0x08, (4,), b"\x01\x02\x03\x04\x05\x06"))
    with pytest.raises(DataError, match=r"long: 2 unexpected extra bytes.*expected 4.*found 6"):
        read_idx(path)


def write_image_dir(root, *, n_train=5, n_test=3, compress=False, labels=None):
    """A tiny MNIST-style directory: train and test images (N, 4, 3) and labels."""
    root.mkdir(exist_ok=True)
    rng = np.random.default_rng(1)
    suffix = ".gz" if compress else ""
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 4, 3), dtype=np.uint8)
        lab = rng.integers(0, 10, size=n).astype(np.uint8) if labels is None else labels
        write_idx(root / f"{prefix}-images-idx3-ubyte{suffix}", images, gzip=compress)
        write_idx(root / f"{prefix}-labels-idx1-ubyte{suffix}", lab, gzip=compress)
        out[prefix] = (images, lab)
    return out


@pytest.mark.parametrize("compress", [False, True])
def test_load_idx_images(tmp_path, compress):
    written = write_image_dir(tmp_path / "d", compress=compress)
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images, labels = load_idx_images(tmp_path / "d", split)
        assert images.dtype == torch.uint8 and labels.dtype == torch.int64
        assert np.array_equal(images.numpy(), written[prefix][0])
        assert np.array_equal(labels.numpy(), written[prefix][1])
    assert load_idx_images(str(tmp_path / "d"), "test")[0].shape == (3, 4, 3)


def test_plain_preferred_over_gz(tmp_path):
    root = tmp_path / "d"
    written = write_image_dir(root)
    root.joinpath("train-images-idx3-ubyte.gz").write_bytes(b"not used")
    root.joinpath("train-labels-idx1-ubyte.gz").write_bytes(b"not used")
    images, _ = load_idx_images(root, "train")
    assert np.array_equal(images.numpy(), written["train"][0])


def test_mismatched_counts(tmp_path):
    root = tmp_path / "d"
    write_image_dir(root)
    write_idx(root / "train-labels-idx1-ubyte", np.zeros(4, np.uint8))
    with pytest.raises(DataError, match=r"as many labels as images.*5 images.*4 labels"):
        load_idx_images(root, "train")


def test_labels_out_of_range(tmp_path):
    root = tmp_path / "d"
    write_image_dir(root, n_train=3, n_test=3, labels=np.array([0, 12, 3], np.uint8))
    with pytest.raises(
        DataError, match=r"labels-idx1-ubyte: expected labels in 0\.\.9, found 0\.\.12"
    ):
        load_idx_images(root, "test")


def test_wrong_ranks_and_dtypes(tmp_path):
    root = tmp_path / "d"
    write_image_dir(root)
    write_idx(root / "train-images-idx3-ubyte", np.zeros((5, 12), np.uint8))
    with pytest.raises(DataError, match=r"expected \(N, H, W\) uint8 images, got shape \(5, 12\)"):
        load_idx_images(root, "train")
    write_idx(root / "train-images-idx3-ubyte", np.zeros((5, 4, 3), np.float32))
    with pytest.raises(DataError, match=r"uint8 images, got shape \(5, 4, 3\) of float32"):
        load_idx_images(root, "train")
    write_idx(root / "t10k-labels-idx1-ubyte", np.zeros((3, 1), np.uint8))
    with pytest.raises(DataError, match=r"expected \(N,\) integer labels, got shape \(3, 1\)"):
        load_idx_images(root, "test")


def test_missing_directory_explains_how_to_get_the_files(tmp_path):
    with pytest.raises(DataError) as err:
        load_idx_images(tmp_path / "nowhere", "train")
    message = str(err.value)
    assert "nowhere" in message and "apt-get install dataset-fashion-mnist" in message
    assert "--data-dir" in message and "t10k-labels-idx1-ubyte" in message


def test_missing_files_named(tmp_path):
    root = tmp_path / "d"
    write_image_dir(root)
    (root / "t10k-labels-idx1-ubyte").unlink()
    load_idx_images(root, "train")
    with pytest.raises(DataError) as err:
        load_idx_images(root, "test")
    message = str(err.value)
    assert "missing t10k-labels-idx1-ubyte[.gz] for the test split" in message
    assert "dataset-fashion-mnist" in message and "--data-dir" in message


def test_bad_split(tmp_path):
    with pytest.raises(InputError, match=r"load_idx_images: expected split 'train' or 'test'"):
        load_idx_images(tmp_path, "val")


@pytest.mark.skipif(
    not Path(DEFAULT_IMAGE_DIR, "t10k-images-idx3-ubyte.gz").is_file(),
    reason="dataset-fashion-mnist is not installed",
)
def test_installed_fashion_mnist_test_split():
    images, labels = load_idx_images(None, "test")
    assert images.shape == (10000, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (10000,) and torch.equal(labels.bincount(), torch.full((10,), 1000))
