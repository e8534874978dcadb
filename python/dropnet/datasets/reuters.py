"""The Reuters newswire topics data set as Keras's ``keras.datasets.reuters``: 11,228
newswires, each a list of word ids, labelled with one of 46 topics."""

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
from ._word_sequences import WordEncoding, as_object_array
from ._word_sequences import get_word_index as _get_word_index

__all__ = ["get_label_names", "get_word_index", "load_data"]

# The topic of each label, in label order (Keras's get_label_names)
_LABEL_NAMES = (
    "cocoa",
    "grain",
    "veg-oil",
    "earn",
    "acq",
    "wheat",
    "copper",
    "housing",
    "money-supply",
    "coffee",
    "sugar",
    "trade",
    "reserves",
    "ship",
    "cotton",
    "carcass",
    "crude",
    "nat-gas",
    "cpi",
    "money-fx",
    "interest",
    "gnp",
    "meal-feed",
    "alum",
    "oilseed",
    "gold",
    "tin",
    "strategic-metal",
    "livestock",
    "retail",
    "ipi",
    "iron-steel",
    "rubber",
    "heat",
    "jobs",
    "lei",
    "bop",
    "zinc",
    "orange",
    "pet-chem",
    "dlr",
    "gas",
    "silver",
    "wpi",
    "hog",
    "lead",
)


def load_data(
    path: str | os.PathLike = "reuters.npz",
    num_words: int | None = None,
    skip_top: int = 0,
    maxlen: int | None = None,
    test_split: float = 0.2,
    seed: int | None = 113,
    start_char: int | None = 1,
    oov_char: int | None = 2,
    index_from: int = 3,
):
    """``(x_train, y_train), (x_test, y_test)`` from Keras's ``reuters.npz`` (``path`` is
    relative to Keras's data set folder, or absolute): the newswires shuffled by
    ``RandomState(seed)``, encoded as imdb.load_data encodes reviews (``start_char``,
    ranks + ``index_from``, newswires not shorter than ``maxlen`` dropped, ids outside
    [``skip_top``, ``num_words``) to ``oov_char``), then the last ``test_split`` of them
    the test split. The y are topic labels 0-45 (get_label_names names them)."""
    what = "reuters.load_data"
    encoding = WordEncoding.checked(
        what, num_words, skip_top, maxlen, start_char, oov_char, index_from
    )
    test_split = check_test_split(test_split, f"{what}(test_split)")
    seed = check_seed(seed, f"{what}(seed)")
    (file,) = cached_files(what, [(path, KERAS_ORIGIN + "reuters.npz")])
    data = load_npz(file, ("x", "y"))
    (order,) = permutations(seed, len(data["x"]))
    encoded, kept = encoding.apply(data["x"][order])
    if encoding.maxlen is not None and not encoded:
        raise ValueError(f"{what}: no newswire is shorter than maxlen={maxlen}; increase maxlen")
    labels = data["y"][order][kept]
    n_train = train_size(len(encoded), test_split)
    return (
        (as_object_array(encoded[:n_train]), labels[:n_train]),
        (as_object_array(encoded[n_train:]), labels[n_train:]),
    )


def get_word_index(path: str | os.PathLike = "reuters_word_index.json") -> dict[str, int]:
    """The dict word -> rank of Keras's ``reuters_word_index.json``; the id of a word in
    load_data's sequences is its rank + ``index_from``."""
    return _get_word_index("reuters.get_word_index", path, KERAS_ORIGIN + "reuters_word_index.json")


def get_label_names() -> tuple[str, ...]:
    """The 46 topic names, indexed by label."""
    return _LABEL_NAMES
