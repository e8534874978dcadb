"""The IMDB movie review sentiment data set as Keras's ``keras.datasets.imdb``: 25,000
training and 25,000 test reviews, each a list of word ids, labelled 1 (positive) or 0."""

from __future__ import annotations

import os

import numpy as np

from ._keras_files import KERAS_ORIGIN, cached_files, check_seed, load_npz, permutations
from ._word_sequences import WordEncoding, as_object_array
from ._word_sequences import get_word_index as _get_word_index

__all__ = ["get_word_index", "load_data"]


def load_data(
    path: str | os.PathLike = "imdb.npz",
    num_words: int | None = None,
    skip_top: int = 0,
    maxlen: int | None = None,
    seed: int | None = 113,
    start_char: int | None = 1,
    oov_char: int | None = 2,
    index_from: int = 3,
):
    """``(x_train, y_train), (x_test, y_test)`` from Keras's ``imdb.npz`` (``path`` is
    relative to Keras's data set folder, or absolute). Each split is shuffled by its own
    draw of ``RandomState(seed)``, training first. The x are object arrays of lists of int:
    ``start_char``, then each word rank + ``index_from``; reviews not shorter than
    ``maxlen`` are dropped; ids outside [``skip_top``, ``num_words``) become ``oov_char``
    (or are dropped when it is None). The y are the labels, 1 positive and 0 negative."""
    what = "imdb.load_data"
    encoding = WordEncoding.checked(
        what, num_words, skip_top, maxlen, start_char, oov_char, index_from
    )
    seed = check_seed(seed, f"{what}(seed)")
    (file,) = cached_files(what, [(path, KERAS_ORIGIN + "imdb.npz")])
    data = load_npz(file, ("x_train", "y_train", "x_test", "y_test"))
    train, test = permutations(seed, len(data["x_train"]), len(data["x_test"]))
    sequences = [*data["x_train"][train], *data["x_test"][test]]
    labels = np.concatenate([data["y_train"][train], data["y_test"][test]])
    encoded, kept = encoding.apply(sequences)
    n_train = int(np.count_nonzero(kept[: len(train)]))
    if encoding.maxlen is not None and (n_train == 0 or n_train == len(encoded)):
        raise ValueError(
            f"{what}: no {'training' if n_train == 0 else 'test'} review is shorter than "
            f"maxlen={maxlen}; increase maxlen"
        )
    labels = labels[kept]
    return (
        (as_object_array(encoded[:n_train]), labels[:n_train]),
        (as_object_array(encoded[n_train:]), labels[n_train:]),
    )


def get_word_index(path: str | os.PathLike = "imdb_word_index.json") -> dict[str, int]:
    """The dict word -> rank of Keras's ``imdb_word_index.json``; the id of a word in
    load_data's sequences is its rank + ``index_from``."""
    return _get_word_index("imdb.get_word_index", path, KERAS_ORIGIN + "imdb_word_index.json")
