"""Text to integer ids, with the behaviour of Keras 2's ``keras.preprocessing.text``:
``text_to_word_sequence``, ``one_hot``/``hashing_trick`` and ``Tokenizer`` (plus its JSON
round trip). The departures from Keras are listed in docs/behaviour.md."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, Callable, Union

import numpy as np

DEFAULT_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
MODES = ("binary", "count", "tfidf", "freq")

# One text: a string, or a list of tokens that is used as it is (Keras's list branch).
Text = Union[str, "list[str]", "tuple[str, ...]"]


def _check_str(value, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what}: expected a str, received {type(value).__name__} {value!r}")
    return value


def _check_split(split, what: str) -> str:
    _check_str(split, what)
    if not split:
        raise ValueError(f"{what}: expected a non-empty separator, received ''")
    return split


def text_to_word_sequence(
    input_text: str, filters: str = DEFAULT_FILTERS, lower: bool = True, split: str = " "
) -> list[str]:
    """The words of ``input_text``: lower-cased (``lower``), every character of ``filters``
    replaced by ``split``, then split on ``split`` with empty pieces dropped.

    >>> text_to_word_sequence("Hello, World!  It's me.")
    ['hello', 'world', "it's", 'me']
    """
    _check_str(input_text, "text_to_word_sequence(input_text)")
    _check_str(filters, "text_to_word_sequence(filters)")
    _check_split(split, "text_to_word_sequence(split)")
    return _words(input_text, filters, lower, split)


def _words(text: str, filters: str, lower: bool, split: str) -> list[str]:
    if lower:
        text = text.lower()
    if filters:
        table: dict[str, str | int | None] = dict.fromkeys(filters, split)
        text = text.translate(str.maketrans(table))
    return [w for w in text.split(split) if w]


def _md5(word: str) -> int:
    return int(hashlib.md5(word.encode("utf-8")).hexdigest(), 16)


def hashing_trick(
    text: str,
    n: int,
    hash_function: str | Callable[[str], int] | None = None,
    filters: str = DEFAULT_FILTERS,
    lower: bool = True,
    split: str = " ",
    analyzer: Callable[[str], list[str]] | None = None,
) -> list[int]:
    """Each word of ``text`` as ``hash(word) % (n - 1) + 1``: ids in ``[1, n - 1]``, 0 left for
    padding, distinct words possibly sharing an id.

    ``hash_function`` is ``"md5"`` (the default here: the integer value of the word's UTF-8
    MD5 digest, the same in every process) or any callable from a word to an int. Keras's
    default, Python's ``hash``, is salted per process for strings, so its ids change between
    runs; pass ``hash_function=hash`` to get that behaviour. ``analyzer``, when given, turns
    the text into words instead of ``text_to_word_sequence``.
    """
    _check_str(text, "hashing_trick(text)")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"hashing_trick(n): expected an int, received {n!r}")
    if n < 2:
        raise ValueError(
            f"hashing_trick(n): expected n >= 2 (ids run from 1 to n - 1), received {n}"
        )
    if hash_function is None or hash_function == "md5":
        fn: Callable[[str], int] = _md5
    elif callable(hash_function):
        fn = hash_function
    else:
        raise ValueError(
            f"hashing_trick(hash_function): expected None, 'md5' or a callable, received "
            f"{hash_function!r}"
        )
    if analyzer is None:
        words = text_to_word_sequence(text, filters, lower, split)
    else:
        words = _analyzed(analyzer, text, "hashing_trick(analyzer)")
    return [fn(w) % (int(n) - 1) + 1 for w in words]


def one_hot(
    input_text: str,
    n: int,
    filters: str = DEFAULT_FILTERS,
    lower: bool = True,
    split: str = " ",
    analyzer: Callable[[str], list[str]] | None = None,
) -> list[int]:
    """Keras's ``one_hot``: despite the name, each word's id in ``[1, n - 1]`` by hashing
    (``hashing_trick``). The hash is MD5, so ids are the same in every process (Keras hashes
    with Python's salted ``hash``, whose ids change from one run to the next); the ids equal
    Keras's ``hashing_trick(text, n, hash_function="md5")``."""
    return hashing_trick(
        input_text, n, hash_function="md5", filters=filters, lower=lower, split=split,
        analyzer=analyzer,
    )  # fmt: skip


def _analyzed(analyzer, text: str, what: str) -> list[str]:
    words = analyzer(text)
    if isinstance(words, (str, bytes)) or not isinstance(words, Iterable):
        raise TypeError(f"{what}: expected a list of words, received {type(words).__name__}")
    words = list(words)
    for w in words:
        _check_str(w, f"{what} word")
    return words


def _texts(texts, what: str) -> Iterable:
    if isinstance(texts, (str, bytes)):
        raise TypeError(
            f"{what}: expected a list of texts, received a single {type(texts).__name__} "
            "(wrap it in a list: [text])"
        )
    if not isinstance(texts, Iterable):
        raise TypeError(f"{what}: expected a list of texts, received {type(texts).__name__}")
    return texts


class Tokenizer:
    """Words to integer ids, by frequency, as Keras 2's ``Tokenizer``.

    ``fit_on_texts`` counts words (``word_counts``, in order of first appearance) and the
    documents each occurs in (``word_docs``), and numbers the words by count, most frequent
    first, ties in order of first appearance: ``word_index`` maps word -> id from 1 (0 is
    left for padding), ``index_word`` the reverse. With ``oov_token`` the token takes id 1
    and stands for every word outside the vocabulary; without it such words are dropped.
    ``num_words`` keeps only ids below it (the ``num_words - 1`` most frequent words,
    counting the out-of-vocabulary token) when converting; ``word_index`` keeps every word.

    A text is a string, split by ``text_to_word_sequence(filters, lower, split)`` (or by
    ``analyzer(text)`` when given), or with ``char_level=True`` cut into characters
    (filters are not applied then: spaces and punctuation are characters too); a list of
    strings is taken as its tokens (lower-cased when ``lower``).
    """

    def __init__(
        self,
        num_words: int | None = None,
        filters: str = DEFAULT_FILTERS,
        lower: bool = True,
        split: str = " ",
        char_level: bool = False,
        oov_token: str | None = None,
        analyzer: Callable[[str], list[str]] | None = None,
        document_count: int = 0,
    ):
        if num_words is not None:
            if isinstance(num_words, bool) or not isinstance(num_words, (int, np.integer)):
                raise TypeError(
                    f"Tokenizer(num_words): expected None or an int, received {num_words!r}"
                )
            if num_words < 1:
                raise ValueError(
                    f"Tokenizer(num_words): expected None or an int >= 1, received {num_words}"
                )
            num_words = int(num_words)
        _check_str(filters, "Tokenizer(filters)")
        _check_split(split, "Tokenizer(split)")
        if oov_token is not None:
            _check_str(oov_token, "Tokenizer(oov_token)")
        if analyzer is not None and not callable(analyzer):
            raise TypeError(
                f"Tokenizer(analyzer): expected None or a callable, received {analyzer!r}"
            )
        if isinstance(document_count, bool) or not isinstance(document_count, (int, np.integer)):
            raise TypeError(
                f"Tokenizer(document_count): expected an int, received {document_count!r}"
            )
        self.num_words = num_words
        self.filters = filters
        self.lower = bool(lower)
        self.split = split
        self.char_level = bool(char_level)
        self.oov_token = oov_token
        self.analyzer = analyzer
        self.document_count = int(document_count)
        self.word_counts: dict[str, int] = {}
        self.word_docs: defaultdict[str, int] = defaultdict(int)
        self.index_docs: defaultdict[int, int] = defaultdict(int)
        self.word_index: dict[str, int] = {}
        self.index_word: dict[int, str] = {}

    # -- splitting
    def _tokens(self, text, what: str) -> list[str]:
        if isinstance(text, (list, tuple)):
            tokens = [_check_str(t, f"{what}: token") for t in text]
            return [t.lower() for t in tokens] if self.lower else tokens
        if not isinstance(text, str):
            raise TypeError(
                f"{what}: expected each text to be a str or a list of tokens, received "
                f"{type(text).__name__} {text!r}"
            )
        if self.char_level:
            return list(text.lower() if self.lower else text)
        if self.analyzer is not None:
            return _analyzed(self.analyzer, text, f"{what}: analyzer")
        return _words(text, self.filters, self.lower, self.split)

    # -- fitting
    def fit_on_texts(self, texts: Iterable[Text]) -> None:
        """Count the words of ``texts`` (added to any earlier fit) and renumber them."""
        for text in _texts(texts, "Tokenizer.fit_on_texts(texts)"):
            tokens = self._tokens(text, "Tokenizer.fit_on_texts")
            self.document_count += 1
            for w in tokens:
                self.word_counts[w] = self.word_counts.get(w, 0) + 1
            for w in set(tokens):
                self.word_docs[w] += 1
        # Python's sort is stable: equal counts keep the order of first appearance.
        by_count = sorted(self.word_counts, key=self.word_counts.__getitem__, reverse=True)
        vocabulary = [] if self.oov_token is None else [self.oov_token]
        vocabulary += [w for w in by_count if w != self.oov_token]
        self.word_index = {w: i for i, w in enumerate(vocabulary, 1)}
        self.index_word = {i: w for w, i in self.word_index.items()}
        self.index_docs = defaultdict(int)
        for w, c in self.word_docs.items():
            self.index_docs[self.word_index[w]] = c

    def fit_on_sequences(self, sequences: Iterable[Iterable[int]]) -> None:
        """Count the documents each id occurs in (``index_docs``, for ``tfidf`` on sequences
        that were not made by this tokenizer)."""
        for seq in _texts(sequences, "Tokenizer.fit_on_sequences(sequences)"):
            self.document_count += 1
            for i in set(_ids(seq, "Tokenizer.fit_on_sequences")):
                self.index_docs[i] += 1

    # -- converting
    def _vocabulary(self, what: str) -> None:
        if not self.word_index:
            raise ValueError(
                f"{what}: the tokenizer has no vocabulary yet; call fit_on_texts(texts) first"
            )

    def texts_to_sequences(self, texts: Iterable[Text]) -> list[list[int]]:
        """Each text as the list of its words' ids; words outside the vocabulary, or with an
        id of ``num_words`` or more, become the ``oov_token``'s id (or are dropped)."""
        return list(self.texts_to_sequences_generator(texts))

    def texts_to_sequences_generator(self, texts: Iterable[Text]):
        what = "Tokenizer.texts_to_sequences"
        texts = _texts(texts, f"{what}(texts)")
        self._vocabulary(what)
        limit = self.num_words
        oov = self.word_index.get(self.oov_token) if self.oov_token is not None else None
        for text in texts:
            out: list[int] = []
            for w in self._tokens(text, what):
                i = self.word_index.get(w)
                if i is not None and (limit is None or i < limit):
                    out.append(i)
                elif oov is not None:
                    out.append(oov)
            yield out

    def sequences_to_texts(self, sequences: Iterable[Iterable[int]]) -> list[str]:
        """Each sequence of ids as its words joined by spaces; ids with no word (0, say) or
        at or above ``num_words`` become the ``oov_token`` (or are dropped)."""
        return list(self.sequences_to_texts_generator(sequences))

    def sequences_to_texts_generator(self, sequences: Iterable[Iterable[int]]):
        what = "Tokenizer.sequences_to_texts"
        sequences = _texts(sequences, f"{what}(sequences)")
        self._vocabulary(what)
        limit = self.num_words
        oov = self.word_index.get(self.oov_token) if self.oov_token is not None else None
        for seq in sequences:
            words = []
            for i in _ids(seq, what):
                word = self.index_word.get(i)
                if word is not None and (limit is None or i < limit):
                    words.append(word)
                elif oov is not None:
                    words.append(self.index_word[oov])
            yield " ".join(words)

    def texts_to_matrix(self, texts: Iterable[Text], mode: str = "binary") -> np.ndarray:
        """(len(texts), width) float64 matrix of the texts' words; see sequences_to_matrix."""
        _check_mode(mode, "Tokenizer.texts_to_matrix")
        return self.sequences_to_matrix(self.texts_to_sequences(texts), mode=mode)

    def sequences_to_matrix(
        self, sequences: Iterable[Iterable[int]], mode: str = "binary"
    ) -> np.ndarray:
        """A float64 row per sequence, ``num_words`` columns (else the vocabulary size + 1;
        column 0 is the padding id), ids beyond the width ignored. ``mode``: ``binary`` (1
        where the id occurs), ``count`` (occurrences), ``freq`` (occurrences / sequence
        length) or ``tfidf`` ((1 + ln count) * ln(1 + documents / (1 + documents with the id)),
        from the fitted document counts)."""
        what = "Tokenizer.sequences_to_matrix"
        _check_mode(mode, what)
        seqs = [list(_ids(s, what)) for s in _texts(sequences, f"{what}(sequences)")]
        if self.num_words is not None:
            width = self.num_words
        elif self.word_index:
            width = len(self.word_index) + 1
        else:
            raise ValueError(
                f"{what}: the matrix width is unknown; give Tokenizer(num_words=...) or call "
                "fit_on_texts first"
            )
        if mode == "tfidf" and not self.document_count:
            raise ValueError(f"{what}: mode 'tfidf' needs document counts; call fit_on_texts first")
        x = np.zeros((len(seqs), width))
        for row, seq in enumerate(seqs):
            if not seq:
                continue
            ids, counts = np.unique(np.asarray(seq, dtype=np.int64), return_counts=True)
            keep = ids < width
            ids, counts = ids[keep], counts[keep].astype(np.float64)
            if mode == "binary":
                x[row, ids] = 1.0
            elif mode == "count":
                x[row, ids] = counts
            elif mode == "freq":
                x[row, ids] = counts / len(seq)
            else:
                docs = np.array([self.index_docs.get(int(i), 0) for i in ids], dtype=np.float64)
                idf = np.log(1.0 + self.document_count / (1.0 + docs))
                x[row, ids] = (1.0 + np.log(counts)) * idf
        return x

    # -- saving
    def get_config(self) -> dict[str, Any]:
        """The settings and counts; the dictionaries as JSON strings, as Keras stores them."""
        return {
            "num_words": self.num_words,
            "filters": self.filters,
            "lower": self.lower,
            "split": self.split,
            "char_level": self.char_level,
            "oov_token": self.oov_token,
            "document_count": self.document_count,
            "word_counts": json.dumps(self.word_counts),
            "word_docs": json.dumps(self.word_docs),
            "index_docs": json.dumps(self.index_docs),
            "index_word": json.dumps(self.index_word),
            "word_index": json.dumps(self.word_index),
        }

    def to_json(self, **kwargs) -> str:
        """The tokenizer as a JSON string (``json.dumps`` keyword arguments pass through);
        ``tokenizer_from_json`` reads it back, and reads files written by Keras 2's
        ``Tokenizer.to_json`` too. The ``analyzer`` is not saved."""
        return json.dumps({"class_name": "Tokenizer", "config": self.get_config()}, **kwargs)


def tokenizer_from_json(json_string: str) -> Tokenizer:
    """A Tokenizer from ``Tokenizer.to_json()`` output (dropnet's or Keras 2's)."""
    _check_str(json_string, "tokenizer_from_json(json_string)")
    try:
        doc = json.loads(json_string)
        config = dict(doc["config"])
        tables = {
            k: json.loads(config.pop(k))
            for k in ("word_counts", "word_docs", "index_docs", "index_word", "word_index")
        }
        tokenizer = Tokenizer(**config)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(
            f"tokenizer_from_json: expected the JSON of Tokenizer.to_json(), which this is not "
            f"({type(exc).__name__}: {exc})"
        ) from None
    tokenizer.word_counts = {str(k): int(v) for k, v in tables["word_counts"].items()}
    tokenizer.word_docs = defaultdict(int, {str(k): int(v) for k, v in tables["word_docs"].items()})
    tokenizer.index_docs = defaultdict(
        int, {int(k): int(v) for k, v in tables["index_docs"].items()}
    )
    tokenizer.index_word = {int(k): str(v) for k, v in tables["index_word"].items()}
    tokenizer.word_index = {str(k): int(v) for k, v in tables["word_index"].items()}
    return tokenizer


def _check_mode(mode, what: str) -> None:
    if mode not in MODES:
        raise ValueError(
            f"{what}: expected mode to be one of {', '.join(repr(m) for m in MODES)}, "
            f"received {mode!r}"
        )


def _ids(seq, what: str) -> list[int]:
    """A sequence of ids as a list of Python ints; TypeError/ValueError for anything else."""
    if isinstance(seq, (str, bytes)) or not isinstance(seq, Iterable):
        raise TypeError(
            f"{what}: expected each sequence to be a list of int ids, received "
            f"{type(seq).__name__} {seq!r}"
        )
    out = []
    for i in seq:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"{what}: expected int ids, received {type(i).__name__} {i!r}")
        if i < 0:
            raise ValueError(f"{what}: expected ids >= 0, received {i}")
        out.append(int(i))
    return out
