"""The MNIST handwritten digits as Keras's ``keras.datasets.mnist``: 60,000 training and
10,000 test images of 28x28 grey levels, labelled 0-9."""

from __future__ import annotations

import os

from ._keras_files import KERAS_ORIGIN, cached_files, load_npz

__all__ = ["load_data"]


def load_data(path: str | os.PathLike = "mnist.npz"):
    """``(x_train, y_train), (x_test, y_test)`` from Keras's ``mnist.npz`` (``path`` is
    relative to Keras's data set folder, or absolute): x uint8 (n, 28, 28) pixels 0-255,
    y uint8 (n,) digits, in the file's order."""
    (file,) = cached_files("mnist.load_data", [(path, KERAS_ORIGIN + "mnist.npz")])
    data = load_npz(file, ("x_train", "y_train", "x_test", "y_test"))
    return (data["x_train"], data["y_train"]), (data["x_test"], data["y_test"])
