"""Fashion-MNIST as Keras's ``keras.datasets.fashion_mnist``: 60,000 training and 10,000
test images of 28x28 grey levels of clothing, labelled 0-9 (T-shirt/top, trouser, pullover,
dress, coat, sandal, shirt, sneaker, bag, ankle boot)."""

from __future__ import annotations

import gzip
import os
import struct

import numpy as np

from ._keras_files import KERAS_ORIGIN, cached_files

__all__ = ["load_data"]

FOLDER = "fashion-mnist"  # inside Keras's data set folder
FILES = (
    "train-labels-idx1-ubyte.gz",
    "train-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
)


def _read_idx(path: str, dims: int) -> np.ndarray:
    """The uint8 array of a gzipped IDX file (the MNIST format): a big-endian header of the
    magic number 0x0800 + ``dims`` and ``dims`` sizes, then the bytes."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    header = 4 * (1 + dims)
    if len(raw) >= header:
        magic, *shape = struct.unpack(f">{1 + dims}I", raw[:header])
        if magic == 0x0800 + dims and len(raw) - header == int(np.prod(shape)):
            # a bytearray, not the bytes: the array is writable, as mnist's are
            return np.frombuffer(bytearray(raw[header:]), np.uint8).reshape(shape)
    raise ValueError(
        f"{path}: not an IDX file of {dims}-D uint8 data (Fashion-MNIST's format: magic number "
        f"{0x0800 + dims:#010x}, {dims} big-endian sizes, then the bytes)"
    )


def load_data():
    """``(x_train, y_train), (x_test, y_test)`` from Keras's four gzipped IDX files in
    ``fashion-mnist/`` of Keras's data set folder: x uint8 (n, 28, 28) pixels 0-255, y uint8
    (n,) labels, in the files' order."""
    paths = cached_files(
        "fashion_mnist.load_data",
        [(os.path.join(FOLDER, name), KERAS_ORIGIN + name) for name in FILES],
    )
    y_train, x_train, y_test, x_test = (
        _read_idx(path, dims) for path, dims in zip(paths, (1, 3, 1, 3))
    )
    return (x_train, y_train), (x_test, y_test)
