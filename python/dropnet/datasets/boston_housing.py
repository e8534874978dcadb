"""The Boston housing prices as Keras's ``keras.datasets.boston_housing``: 506 areas of
Boston in the 1970s, 13 attributes each, and their median home value in k$. Its attributes
include one built on the proportion of Black residents; Keras discourages using the data
set except to illustrate such ethical problems."""

from __future__ import annotations

import os

from ._keras_files import (
    KERAS_ORIGIN,
    cached_files,
    check_seed,
    check_test_split,
    load_npz,
    permutations,
    train_size,
)

__all__ = ["load_data"]


def load_data(
    path: str | os.PathLike = "boston_housing.npz", test_split: float = 0.2, seed: int | None = 113
):
    """``(x_train, y_train), (x_test, y_test)`` from Keras's ``boston_housing.npz``
    (``path`` is relative to Keras's data set folder, or absolute): the rows shuffled by
    ``RandomState(seed)``, the last ``test_split`` of them the test split; x float64
    (n, 13), y float64 (n,)."""
    what = "boston_housing.load_data"
    test_split = check_test_split(test_split, f"{what}(test_split)")
    seed = check_seed(seed, f"{what}(seed)")
    (file,) = cached_files(what, [(path, KERAS_ORIGIN + "boston_housing.npz")])
    data = load_npz(file, ("x", "y"))
    (order,) = permutations(seed, len(data["x"]))
    x, y = data["x"][order], data["y"][order]
    n_train = train_size(len(x), test_split)
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])
