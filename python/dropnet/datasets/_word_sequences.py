"""Keras's encoding of the word-index data sets (IMDB reviews, Reuters newswires), shared by
their loaders: each stored sequence holds word ranks (1 = the most frequent word), which the
options shift, mark, filter by length and cut to a vocabulary exactly as Keras does."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

from .._data import check_int
from ._keras_files import cached_files, check_optional_int


@dataclass(frozen=True)
class WordEncoding:
    num_words: int | None
    skip_top: int
    maxlen: int | None
    start_char: int | None
    oov_char: int | None
    index_from: int

    @classmethod
    def checked(
        cls, what: str, num_words, skip_top, maxlen, start_char, oov_char, index_from
    ) -> WordEncoding:
        return cls(
            num_words=check_optional_int(num_words, f"{what}(num_words)", 1),
            skip_top=check_int(skip_top, f"{what}(skip_top)", 0),
            maxlen=check_optional_int(maxlen, f"{what}(maxlen)", 1),
            start_char=check_optional_int(start_char, f"{what}(start_char)", 0),
            oov_char=check_optional_int(oov_char, f"{what}(oov_char)", 0),
            index_from=check_int(index_from, f"{what}(index_from)", 0),
        )

    def apply(self, sequences) -> tuple[list[list[int]], np.ndarray]:
        """(the encoded sequences that are kept, a boolean mask of which were kept). Each
        word becomes ``word + index_from`` after a leading ``start_char``; only sequences
        then shorter than ``maxlen`` are kept; every id (``start_char`` included) outside
        [``skip_top``, ``num_words``) becomes ``oov_char``, or is dropped when that is None.
        Without ``num_words`` the bound is the largest id kept, which so becomes
        ``oov_char`` itself, as in Keras."""
        start = [] if self.start_char is None else [self.start_char]
        shifted = [start + [w + self.index_from for w in s] for s in sequences]
        kept = np.array([self.maxlen is None or len(s) < self.maxlen for s in shifted], bool)
        shifted = [s for s, keep in zip(shifted, kept) if keep]
        if self.num_words is None:
            top = max((max(s) for s in shifted if s), default=0)
        else:
            top = self.num_words
        low, oov = self.skip_top, self.oov_char
        if oov is None:
            return [[w for w in s if low <= w < top] for s in shifted], kept
        return [[w if low <= w < top else oov for w in s] for s in shifted], kept


def as_object_array(sequences: list[list[int]]) -> np.ndarray:
    """Sequences as Keras returns them: ``np.array(..., dtype=object)``, a 1-D array of lists
    when their lengths differ (as in the real data)."""
    return np.array(sequences, dtype=object)


def get_word_index(what: str, path: str | os.PathLike, origin: str) -> dict[str, int]:
    """The word -> rank dict of a Keras word index JSON file in the cache folder."""
    (file,) = cached_files(what, [(path, origin)])
    with open(file, encoding="utf-8") as f:
        return json.load(f)
