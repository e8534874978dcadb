"""Data preparation with Keras 2's ``keras.preprocessing`` behaviour: ``text`` (Tokenizer,
text_to_word_sequence, one_hot, hashing_trick) and ``sequence`` (pad_sequences,
TimeseriesGenerator)."""

from __future__ import annotations

from . import sequence, text
from .sequence import TimeseriesGenerator, pad_sequences
from .text import Tokenizer, hashing_trick, one_hot, text_to_word_sequence, tokenizer_from_json

__all__ = [
    "TimeseriesGenerator",
    "Tokenizer",
    "hashing_trick",
    "one_hot",
    "pad_sequences",
    "sequence",
    "text",
    "text_to_word_sequence",
    "tokenizer_from_json",
]
