"""IDX files (the MNIST / Fashion-MNIST format): read, write, and load an image split.

Format: magic bytes 0x00 0x00 <dtype code> <ndim>, then ndim big-endian uint32 sizes, then
prod(sizes) big-endian items in C order. Dtype codes: 0x08 uint8, 0x09 int8, 0x0B int16,
0x0C int32, 0x0D float32, 0x0E float64. A file may be gzip-compressed; that is detected by
its first bytes (1f 8b), whatever its name.

An image directory holds `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
`t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`, each plain or with `.gz` (plain wins
if both exist). The Debian package dataset-fashion-mnist installs the four `.gz` files in
`DEFAULT_IMAGE_DIR`; MNIST's files have the same names and format.
"""

from __future__ import annotations

import gzip as _gzip
import os
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnlab.atomic import atomic_write_bytes
from rnnlab.errors import DataError, InputError

DEFAULT_IMAGE_DIR = "/usr/share/datasets/fashion-mnist"
IMAGE_SPLITS = {"train": "train", "test": "t10k"}  # split -> file name prefix
N_IMAGE_CLASSES = 10

IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dtype.newbyteorder("="): code for code, dtype in IDX_DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"
_MAX_SIZE = 2**32 - 1


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, plain or gzip-compressed.

    Args:
        path: the file.

    Returns:
        the array, of shape (d_1, …, d_ndim) from the header, native-endian, writable.

    Raises:
        DataError: naming the file, if it is missing or unreadable, not gzip or IDX (the
            message shows its first bytes), corrupt gzip, of an unknown dtype code, truncated
            (expected vs found bytes), or followed by extra bytes.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"IDX file {path}: cannot read it ({e.strerror or e})") from e
    where = ""
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = _gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"IDX file {path}: corrupt gzip data ({e})") from e
        where = " (after gzip decompression)"
    if len(raw) < 4 or raw[:2] != b"\x00\x00":
        first = raw[:4].hex(" ") or "nothing (empty file)"
        alternative = where or " or gzip data (1f 8b)"
        raise DataError(
            f"IDX file {path}: expected magic bytes 00 00 <dtype code> <ndim>{alternative}, "
            f"found {first}"
        )
    code, ndim = raw[2], raw[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X} {d.newbyteorder('=').name}" for c, d in IDX_DTYPES.items())
        raise DataError(
            f"IDX file {path}: unknown dtype code 0x{code:02X}{where}; expected one of {known}"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(
            f"IDX file {path}: truncated header{where}: expected {header} bytes for {ndim} "
            f"dimension sizes, found {len(raw)}"
        )
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=object)) * dtype.itemsize
    found = len(raw) - header
    if found < expected:
        raise DataError(
            f"IDX file {path}: truncated{where}: expected {expected} bytes of data for shape "
            f"{shape} of {dtype.newbyteorder('=').name}, found {found}"
        )
    if found > expected:
        raise DataError(
            f"IDX file {path}: {found - expected} unexpected extra bytes after the data"
            f"{where}: expected {expected} bytes for shape {shape}, found {found}"
        )
    data = np.frombuffer(raw, dtype=dtype, count=expected // dtype.itemsize, offset=header)
    return data.reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: Any, *, gzip: bool = False) -> None:
    """Write an array as an IDX file (replacing `path` atomically: never a partial file).

    Args:
        path: the file to write; its directory must exist.
        array: an array (NumPy, a CPU torch tensor or nested lists) of dtype uint8, int8,
            int16, int32, float32 or float64, with at most 255 dimensions of size < 2**32.
        gzip: compress with gzip (deterministic bytes: no timestamp).

    Raises:
        InputError: if the dtype or shape cannot be stored in IDX.
    """
    arr = np.asarray(array)
    native = arr.dtype.newbyteorder("=")
    if native not in _CODES:
        names = ", ".join(d.newbyteorder("=").name for d in IDX_DTYPES.values())
        raise InputError(f"write_idx: expected an array of dtype {names}; got {arr.dtype}")
    if arr.ndim > 255 or any(d > _MAX_SIZE for d in arr.shape):
        raise InputError(
            f"write_idx: expected at most 255 dimensions each < 2**32, got shape {arr.shape}"
        )
    header = bytes([0, 0, _CODES[native], arr.ndim]) + np.asarray(arr.shape, ">u4").tobytes()
    payload = header + np.ascontiguousarray(arr, dtype=native.newbyteorder(">")).tobytes()
    if gzip:
        payload = _gzip.compress(payload, mtime=0)
    atomic_write_bytes(path, payload)


def load_idx_images(
    data_dir: str | os.PathLike | None, split: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load one split of an MNIST-style image set (Fashion-MNIST, MNIST) from IDX files.

    Args:
        data_dir: the directory holding the four IDX files (see the module docstring);
            None: `DEFAULT_IMAGE_DIR`.
        split: "train" (`train-*` files) or "test" (`t10k-*` files).

    Returns:
        images: (N, H, W) uint8 tensor.
        labels: (N,) int64 tensor, classes in 0..9.

    Raises:
        InputError: if `split` is not "train" or "test".
        DataError: if the directory or a file is missing (the message says how to get them),
            a file is not valid IDX, images are not 3-D uint8, labels not 1-D integers, the
            counts differ, or a label is outside 0..9.
    """
    if split not in IMAGE_SPLITS:
        raise InputError(f"load_idx_images: expected split 'train' or 'test', got {split!r}")
    root = Path(DEFAULT_IMAGE_DIR if data_dir is None else data_dir).expanduser()
    prefix = IMAGE_SPLITS[split]
    names = {
        "images": f"{prefix}-images-idx3-ubyte",
        "labels": f"{prefix}-labels-idx1-ubyte",
    }
    if not root.is_dir():
        raise DataError(
            f"image directory {root}: not found (or not a directory); {_how_to_get_images()}"
        )
    found = {kind: _find(root, name) for kind, name in names.items()}
    missing = [f"{name}[.gz]" for kind, name in names.items() if found[kind] is None]
    if missing:
        raise DataError(
            f"image directory {root}: missing {' and '.join(missing)} for the {split} split; "
            f"{_how_to_get_images()}"
        )
    images, labels = read_idx(found["images"]), read_idx(found["labels"])
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(
            f"IDX file {found['images']}: expected (N, H, W) uint8 images, got shape "
            f"{images.shape} of {images.dtype}"
        )
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(
            f"IDX file {found['labels']}: expected (N,) integer labels, got shape "
            f"{labels.shape} of {labels.dtype}"
        )
    if len(images) != len(labels):
        raise DataError(
            f"image directory {root}: expected as many labels as images for the {split} split, "
            f"got {len(images)} images ({found['images'].name}) and {len(labels)} labels "
            f"({found['labels'].name})"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= N_IMAGE_CLASSES):
        raise DataError(
            f"IDX file {found['labels']}: expected labels in 0..{N_IMAGE_CLASSES - 1}, "
            f"found {labels.min()}..{labels.max()}"
        )
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))


def _find(root: Path, name: str) -> Path | None:
    """`root/name` if it exists, else `root/name.gz`, else None."""
    for candidate in (root / name, root / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _how_to_get_images() -> str:
    """The advice given when image files are missing."""
    return (
        "install the Debian package dataset-fashion-mnist (apt-get install "
        f"dataset-fashion-mnist), which puts them in {DEFAULT_IMAGE_DIR}, or pass "
        "--data-dir DIR holding train-images-idx3-ubyte, train-labels-idx1-ubyte, "
        "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (gzip or plain, optionally "
        "ending in .gz; MNIST's IDX files work the same)"
    )
