"""Keras 2's preprocessing behaviour, against hand-computed expectations: word splitting,
hashing to ids, the Tokenizer (vocabulary order, num_words and oov_token, the matrix modes,
JSON), pad_sequences and TimeseriesGenerator (windows, batches, use in fit), and the errors
for bad input."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest

import dropnet
from dropnet import preprocessing
from dropnet.layers import Dense, Flatten, Input
from dropnet.models import Sequential
from dropnet.preprocessing.sequence import TimeseriesGenerator, pad_sequences
from dropnet.preprocessing.text import (
    Tokenizer,
    hashing_trick,
    one_hot,
    text_to_word_sequence,
    tokenizer_from_json,
)

TEXTS = ["The cat sat on the mat.", "The dog sat."]
# counts: the 3, sat 2, cat/on/mat/dog 1 (ties keep the order of first appearance)
INDEX = {"the": 1, "sat": 2, "cat": 3, "on": 4, "mat": 5, "dog": 6}


def fitted(**kwargs) -> Tokenizer:
    t = Tokenizer(**kwargs)
    t.fit_on_texts(TEXTS)
    return t


def test_the_package_exports_both_modules():
    assert preprocessing.text.Tokenizer is Tokenizer
    assert preprocessing.sequence.pad_sequences is pad_sequences
    assert preprocessing.TimeseriesGenerator is TimeseriesGenerator
    assert dropnet.preprocessing is preprocessing


# ------------------------------------------------------------------ text_to_word_sequence


@pytest.mark.parametrize(
    "text, kwargs, words",
    [
        ("Hello, World!  It's me.", {}, ["hello", "world", "it's", "me"]),
        ("one\ttwo\nthree", {}, ["one", "two", "three"]),
        ("", {}, []),
        ("  ...  ", {}, []),
        ("Café ÜBER", {}, ["café", "über"]),
        ("Keep CASE", {"lower": False}, ["Keep", "CASE"]),
        ("a,b c", {"filters": ""}, ["a,b", "c"]),
        # filters become the separator: the comma splits, the space does not
        ("a b,c", {"split": ","}, ["a b", "c"]),
        ("x--y", {"filters": "-", "split": "-"}, ["x", "y"]),
    ],
)
def test_text_to_word_sequence_lowercases_filters_and_splits(text, kwargs, words):
    assert text_to_word_sequence(text, **kwargs) == words


def test_text_to_word_sequence_refuses_bad_arguments():
    with pytest.raises(TypeError, match="expected a str, received bytes"):
        text_to_word_sequence(b"bytes")
    with pytest.raises(ValueError, match="non-empty separator"):
        text_to_word_sequence("a b", split="")
    with pytest.raises(TypeError, match=r"text_to_word_sequence\(filters\)"):
        text_to_word_sequence("a b", filters=None)


# ------------------------------------------------------------------ one_hot / hashing_trick


def md5_id(word: str, n: int) -> int:
    return int(hashlib.md5(word.encode("utf-8")).hexdigest(), 16) % (n - 1) + 1


def test_one_hot_hashes_words_with_md5_into_1_to_n_minus_1():
    ids = one_hot("The cat, the HAT", 10)
    assert ids == [md5_id(w, 10) for w in ("the", "cat", "the", "hat")]
    assert ids[0] == ids[2] and all(1 <= i <= 9 for i in ids)
    # Keras's hashing_trick(..., hash_function="md5") gives the same ids
    assert hashing_trick("The cat, the HAT", 10, hash_function="md5") == ids
    assert hashing_trick("The cat, the HAT", 10) == ids  # md5 is the default here
    assert one_hot("anything at all", 2) == [1, 1, 1]


def test_hashing_trick_takes_a_callable_and_an_analyzer():
    assert hashing_trick("aa b ccc", 5, hash_function=len) == [3, 2, 4]
    assert hashing_trick("x-yy", 5, hash_function=len, analyzer=lambda t: t.split("-")) == [2, 3]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"n": 1}, ValueError, "n >= 2"),
        ({"n": 2.5}, TypeError, "expected an int"),
        ({"n": 5, "hash_function": "sha1"}, ValueError, "'md5' or a callable"),
    ],
)
def test_hashing_trick_refuses_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        hashing_trick("a b", **kwargs)


# ------------------------------------------------------------------ Tokenizer: fitting


def test_words_are_numbered_by_count_ties_in_order_of_first_appearance():
    t = fitted()
    assert t.word_index == INDEX
    assert t.index_word == {i: w for w, i in INDEX.items()}
    assert list(t.word_counts.items()) == [
        ("the", 3),
        ("cat", 1),
        ("sat", 2),
        ("on", 1),
        ("mat", 1),
        ("dog", 1),
    ]
    assert dict(t.word_docs) == {"the": 2, "cat": 1, "sat": 2, "on": 1, "mat": 1, "dog": 1}
    assert dict(t.index_docs) == {1: 2, 2: 2, 3: 1, 4: 1, 5: 1, 6: 1}
    assert t.document_count == 2


def test_fitting_again_adds_to_the_counts_and_renumbers():
    t = Tokenizer()
    t.fit_on_texts(["b a"])
    assert t.word_index == {"b": 1, "a": 2}
    t.fit_on_texts(["a"])
    assert t.word_index == {"a": 1, "b": 2} and t.document_count == 2


def test_oov_token_takes_id_1_and_keeps_it_when_it_also_occurs_as_a_word():
    t = fitted(oov_token="<unk>")
    assert t.word_index == {"<unk>": 1, **{w: i + 1 for w, i in INDEX.items()}}
    # Keras would number the word "unk" again after its count, leaving id 1 without a word;
    # here the token keeps id 1 and its own count.
    t = Tokenizer(oov_token="unk")
    t.fit_on_texts(["unk unk x"])
    assert t.word_index == {"unk": 1, "x": 2} and t.index_word[1] == "unk"


def test_char_level_keeps_spaces_and_punctuation_as_tokens():
    t = Tokenizer(char_level=True)
    t.fit_on_texts(["Ab a!"])
    assert t.word_index == {"a": 1, "b": 2, " ": 3, "!": 4}
    assert t.texts_to_sequences(["b? A"]) == [[2, 3, 1]]


def test_lists_of_tokens_are_used_as_given_lowercased():
    t = Tokenizer()
    t.fit_on_texts([["Hello", "World!"], ["hello"]])
    assert t.word_index == {"hello": 1, "world!": 2}
    assert t.texts_to_sequences([["WORLD!", "x"]]) == [[2]]
    t = Tokenizer(lower=False)
    t.fit_on_texts(["The the"])
    assert t.word_index == {"The": 1, "the": 2}


def test_an_analyzer_replaces_the_word_splitting():
    t = Tokenizer(analyzer=lambda text: text.split("-"))
    t.fit_on_texts(["a-B-a"])
    assert t.word_index == {"a": 1, "B": 2}  # no lower-casing either, as in Keras


def test_fit_on_sequences_counts_documents_per_id():
    t = Tokenizer(num_words=4)
    t.fit_on_sequences([[1, 1, 2], [2, 3]])
    assert t.document_count == 2 and dict(t.index_docs) == {1: 1, 2: 2, 3: 1}
    np.testing.assert_allclose(
        t.sequences_to_matrix([[2]], mode="tfidf"), [[0, 0, math.log(1 + 2 / 3), 0]]
    )


# ------------------------------------------------------------------ Tokenizer: converting


def test_texts_to_sequences_drops_unknown_words_or_maps_them_to_the_oov_id():
    assert fitted().texts_to_sequences(["the dog ate the cat", ""]) == [[1, 6, 1, 3], []]
    t = fitted(oov_token="<unk>")
    assert t.texts_to_sequences(["the dog ate the cat"]) == [[2, 7, 1, 2, 4]]
    assert list(t.texts_to_sequences_generator(["ate"])) == [[1]]


def test_num_words_keeps_ids_below_it_and_leaves_word_index_whole():
    t = fitted(num_words=3)
    assert t.texts_to_sequences(["the dog sat the cat"]) == [[1, 2, 1]]
    assert t.word_index == INDEX
    t = fitted(num_words=3, oov_token="<unk>")  # the OOV id counts among the num_words - 1
    assert t.texts_to_sequences(["the dog sat"]) == [[2, 1, 1]]
    assert fitted(num_words=1).texts_to_sequences(["the cat"]) == [[]]


def test_sequences_to_texts_maps_ids_back_to_words():
    assert fitted().sequences_to_texts([[1, 6, 0, 99], []]) == ["the dog", ""]
    t = fitted(oov_token="<unk>")
    assert t.sequences_to_texts([[2, 7, 0, 99]]) == ["the dog <unk> <unk>"]
    t = fitted(num_words=3, oov_token="<unk>")
    assert t.sequences_to_texts(np.array([[2, 3]])) == ["the <unk>"]


def test_texts_to_matrix_in_every_mode():
    t = fitted()  # 6 words: 7 columns, column 0 for padding
    texts = ["the the cat", "dog", ""]
    binary = np.zeros((3, 7))
    binary[0, [1, 3]] = 1
    binary[1, 6] = 1
    np.testing.assert_array_equal(t.texts_to_matrix(texts), binary)
    count = binary.copy()
    count[0, 1] = 2
    np.testing.assert_array_equal(t.texts_to_matrix(texts, mode="count"), count)
    freq = binary.copy()
    freq[0, 1], freq[0, 3] = 2 / 3, 1 / 3
    np.testing.assert_allclose(t.texts_to_matrix(texts, mode="freq"), freq)
    # (1 + ln count) * ln(1 + documents / (1 + documents with the word)); 2 documents
    tfidf = np.zeros((3, 7))
    tfidf[0, 1] = (1 + math.log(2)) * math.log(1 + 2 / 3)
    tfidf[0, 3] = math.log(1 + 2 / 2)
    tfidf[1, 6] = math.log(1 + 2 / 2)
    np.testing.assert_allclose(t.texts_to_matrix(texts, mode="tfidf"), tfidf)
    assert t.texts_to_matrix(texts).dtype == np.float64


def test_sequences_to_matrix_ignores_ids_beyond_the_width_but_counts_them_in_freq():
    t = fitted()
    np.testing.assert_allclose(
        t.sequences_to_matrix([[1, 1, 9]], mode="freq"), [[0, 2 / 3, 0, 0, 0, 0, 0]]
    )
    assert fitted(num_words=4).texts_to_matrix(["dog the"]).tolist() == [[0, 1, 0, 0]]
    # num_words gives the width without any fitting
    assert Tokenizer(num_words=5).sequences_to_matrix([[1, 4, 4]], mode="count").tolist() == [
        [0, 1, 0, 0, 2]
    ]


# ------------------------------------------------------------------ Tokenizer: JSON


def test_json_round_trip_keeps_vocabulary_counts_and_settings():
    t = fitted(num_words=5, oov_token="<unk>", lower=False, split=";")
    back = tokenizer_from_json(t.to_json())
    for attr in ("num_words", "oov_token", "lower", "split", "document_count", "filters"):
        assert getattr(back, attr) == getattr(t, attr)
    assert back.word_index == t.word_index and back.index_word == t.index_word
    assert back.word_counts == t.word_counts and dict(back.index_docs) == dict(t.index_docs)
    np.testing.assert_array_equal(
        back.texts_to_matrix(TEXTS, mode="tfidf"), t.texts_to_matrix(TEXTS, mode="tfidf")
    )
    doc = json.loads(t.to_json())
    assert doc["class_name"] == "Tokenizer"
    assert json.loads(doc["config"]["word_index"])["<unk>"] == 1  # tables as JSON strings


def test_json_in_keras_2s_layout_loads():
    config = {
        "num_words": None,
        "filters": "!",
        "lower": True,
        "split": " ",
        "char_level": False,
        "oov_token": None,
        "document_count": 1,
        "word_counts": json.dumps({"hi": 2, "yo": 1}),
        "word_docs": json.dumps({"hi": 1, "yo": 1}),
        "index_docs": json.dumps({"1": 1, "2": 1}),
        "index_word": json.dumps({"1": "hi", "2": "yo"}),
        "word_index": json.dumps({"hi": 1, "yo": 2}),
    }
    t = tokenizer_from_json(json.dumps({"class_name": "Tokenizer", "config": config}))
    assert t.texts_to_sequences(["Yo hi!"]) == [[2, 1]]
    assert t.index_word == {1: "hi", 2: "yo"} and t.index_docs[2] == 1


# ------------------------------------------------------------------ Tokenizer: bad input


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda t: t.fit_on_texts("one text"), TypeError, "single str"),
        (lambda t: t.fit_on_texts(None), TypeError, "expected a list of texts"),
        (lambda t: t.fit_on_texts([1]), TypeError, "str or a list of tokens, received int"),
        (lambda t: t.fit_on_texts([["ok", 2]]), TypeError, "token: expected a str"),
        (lambda t: t.texts_to_sequences(["a"]), ValueError, "fit_on_texts"),
        (lambda t: t.sequences_to_matrix([[1]]), ValueError, "num_words"),
        (lambda t: t.texts_to_matrix(["a"], mode="tf"), ValueError, "'binary', 'count'"),
    ],
)
def test_tokenizer_refuses_bad_input_before_fitting(call, error, match):
    with pytest.raises(error, match=match):
        call(Tokenizer())


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda t: t.sequences_to_texts([[-1]]), ValueError, "ids >= 0, received -1"),
        (lambda t: t.sequences_to_texts([[1.5]]), TypeError, "int ids, received float"),
        (lambda t: t.sequences_to_texts(["the"]), TypeError, "list of int ids"),
        (lambda t: t.sequences_to_matrix([[1, -2]]), ValueError, "ids >= 0"),
        (lambda t: t.sequences_to_matrix([[1]], mode="onehot"), ValueError, "'tfidf'"),
    ],
)
def test_tokenizer_refuses_bad_sequences(call, error, match):
    with pytest.raises(error, match=match):
        call(fitted())


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"num_words": 0}, ValueError, r"num_words\): expected None or an int >= 1"),
        ({"num_words": "5"}, TypeError, "num_words"),
        ({"split": ""}, ValueError, "non-empty separator"),
        ({"oov_token": 1}, TypeError, "oov_token"),
        ({"analyzer": "split"}, TypeError, "analyzer"),
        ({"bogus": 1}, TypeError, "bogus"),
    ],
)
def test_tokenizer_refuses_bad_settings(kwargs, error, match):
    with pytest.raises(error, match=match):
        Tokenizer(**kwargs)


def test_tfidf_needs_document_counts_and_json_needs_a_tokenizer():
    with pytest.raises(ValueError, match="tfidf"):
        Tokenizer(num_words=3).sequences_to_matrix([[1]], mode="tfidf")
    with pytest.raises(ValueError, match="Tokenizer.to_json"):
        tokenizer_from_json("{}")
    with pytest.raises(ValueError, match="Tokenizer.to_json"):
        tokenizer_from_json("not json")


# ------------------------------------------------------------------ pad_sequences

SEQS = [[1, 2, 3], [4, 5], [6]]


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({}, [[1, 2, 3], [0, 4, 5], [0, 0, 6]]),
        ({"padding": "post"}, [[1, 2, 3], [4, 5, 0], [6, 0, 0]]),
        ({"maxlen": 2}, [[2, 3], [4, 5], [0, 6]]),
        ({"maxlen": 2, "truncating": "post"}, [[1, 2], [4, 5], [0, 6]]),
        ({"maxlen": 2, "truncating": "post", "padding": "post"}, [[1, 2], [4, 5], [6, 0]]),
        ({"maxlen": 4, "value": 9}, [[9, 1, 2, 3], [9, 9, 4, 5], [9, 9, 9, 6]]),
    ],
)
def test_pad_sequences_pads_and_truncates_at_either_end(kwargs, expected):
    out = pad_sequences(SEQS, **kwargs)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, expected)


def test_pad_sequences_converts_to_dtype_as_numpy_does():
    out = pad_sequences([[1.5]], maxlen=3, dtype="float32", value=-1.0)
    assert out.dtype == np.float32 and out.tolist() == [[-1.0, -1.0, 1.5]]
    assert pad_sequences([[1.7, -2.5]]).tolist() == [[1, -2]]  # truncated into int32
    words = pad_sequences([["a", "b"], ["c"]], dtype=object, value="")
    assert words.tolist() == [["a", "b"], ["", "c"]]


def test_pad_sequences_edge_sizes():
    assert pad_sequences([[], [1]]).tolist() == [[0], [1]]
    assert pad_sequences([[], []]).shape == (2, 0)
    assert pad_sequences([]).shape == (0, 0)
    assert pad_sequences([], maxlen=3).shape == (0, 3)
    assert pad_sequences(SEQS, maxlen=0).shape == (3, 0)
    np.testing.assert_array_equal(
        pad_sequences(np.arange(6).reshape(2, 3), maxlen=2), [[1, 2], [4, 5]]
    )
    assert pad_sequences([(1, 2), np.array([3])]).tolist() == [[1, 2], [0, 3]]


def test_pad_sequences_of_vectors():
    out = pad_sequences([np.ones((3, 2)), np.full((1, 2), 2.0)], maxlen=2, dtype="float32")
    assert out.shape == (2, 2, 2)
    np.testing.assert_array_equal(out[0], np.ones((2, 2)))
    np.testing.assert_array_equal(out[1], [[0, 0], [2, 2]])


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        ((SEQS,), {"padding": "middle"}, ValueError, r"padding\): expected 'pre' or 'post'"),
        ((SEQS,), {"truncating": "end"}, ValueError, r"truncating\): expected 'pre' or 'post'"),
        ((SEQS,), {"maxlen": -1}, ValueError, r"maxlen\): expected an int >= 0"),
        ((SEQS,), {"maxlen": 2.5}, TypeError, r"maxlen\): expected an int"),
        ((SEQS,), {"value": "x"}, ValueError, "dtype=object"),
        ((SEQS,), {"dtype": "no such type"}, TypeError, "numpy dtype"),
        ((SEQS,), {"dtype": "int8", "value": 1000}, ValueError, "does not fit dtype int8"),
        (([1, 2],), {}, ValueError, "item 0 is int 1, which has no length"),
        ((["some text"],), {}, TypeError, "texts_to_sequences"),
        (("text",), {}, TypeError, "expected a list of sequences, received str"),
        ((5,), {}, TypeError, "expected a list of sequences, received int"),
        (([[1, 2], [[1, 2]]],), {}, ValueError, r"shape \(2,\), expected \(\)"),
        (([["a"]],), {}, ValueError, "could not be converted to int32"),
    ],
)
def test_pad_sequences_refuses_bad_input(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        pad_sequences(*args, **kwargs)


# ------------------------------------------------------------------ TimeseriesGenerator

SERIES = np.arange(10)[:, None]  # rows 0..9, one feature
TARGETS = np.arange(10) * 10


def test_windows_end_just_before_their_target():
    g = TimeseriesGenerator(SERIES, TARGETS, length=3, batch_size=2)
    assert isinstance(g, dropnet.utils.Sequence)
    assert len(g) == 4  # targets 3..9: batches of 2, 2, 2, 1
    x, y = g[0]
    assert x.shape == (2, 3, 1)
    np.testing.assert_array_equal(x[:, :, 0], [[0, 1, 2], [1, 2, 3]])
    np.testing.assert_array_equal(y, [30, 40])
    x, y = g[3]
    np.testing.assert_array_equal(x[:, :, 0], [[6, 7, 8]])
    np.testing.assert_array_equal(y, [90])
    np.testing.assert_array_equal(g[-1][0], x)


def test_sampling_rate_stride_and_index_range():
    g = TimeseriesGenerator(SERIES, TARGETS, length=4, sampling_rate=2, stride=3, batch_size=1)
    assert len(g) == 2  # targets 4 and 7
    np.testing.assert_array_equal(g[0][0][:, :, 0], [[0, 2]])
    np.testing.assert_array_equal(g[1][0][:, :, 0], [[3, 5]])
    np.testing.assert_array_equal(g[1][1], [70])
    g = TimeseriesGenerator(SERIES, TARGETS, length=2, start_index=2, end_index=6)
    assert len(g) == 1 and g.start_index == 4 and g.end_index == 6
    np.testing.assert_array_equal(g[0][1], [40, 50, 60])
    np.testing.assert_array_equal(g[0][0][:, :, 0], [[2, 3], [3, 4], [4, 5]])


def test_reverse_flips_time_and_shuffle_draws_rows_at_random():
    g = TimeseriesGenerator(SERIES, TARGETS, length=3, batch_size=2, reverse=True)
    np.testing.assert_array_equal(g[0][0][:, :, 0], [[2, 1, 0], [3, 2, 1]])
    dropnet.set_random_seed(0)
    g = TimeseriesGenerator(SERIES, TARGETS, length=3, batch_size=5, shuffle=True)
    x, y = g[1]  # the last batch is full too: rows drawn with replacement from 3..9
    assert x.shape == (5, 3, 1)
    np.testing.assert_array_equal(x[:, -1, 0] + 1, y // 10)
    assert set(y // 10) <= set(range(3, 10))


def test_a_model_trains_and_predicts_from_a_generator():
    series = np.sin(np.arange(200) / 5.0)[:, None].astype(np.float32)
    g = TimeseriesGenerator(series, series[:, 0], length=8, batch_size=16)
    dropnet.set_random_seed(1)
    m = Sequential([Input((8, 1)), Flatten(), Dense(1)])
    m.compile("adam", "mse")
    hist = m.fit(g, epochs=3, verbose=0)
    assert len(hist.history["loss"]) == 3
    assert m.predict(g, verbose=0).shape == (192, 1)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"targets": TARGETS[:5]}, ValueError, "data has 10 rows, targets 5"),
        ({"length": 0}, ValueError, r"length\): expected an int >= 1"),
        ({"length": 2.0}, TypeError, r"length\): expected an int"),
        ({"sampling_rate": 0}, ValueError, "sampling_rate"),
        ({"stride": -1}, ValueError, "stride"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"start_index": -1}, ValueError, "start_index"),
        ({"end_index": 10}, ValueError, r"end_index\): expected at most len\(data\) - 1 = 9"),
        ({"end_index": "9"}, TypeError, "end_index"),
        ({"length": 10}, ValueError, "start_index \\+ length = 10 > end_index = 9"),
        ({"data": 5}, TypeError, r"data\): expected an array"),
    ],
)
def test_timeseries_generator_refuses_bad_arguments(kwargs, error, match):
    args = {"data": SERIES, "targets": TARGETS, "length": 3, **kwargs}
    with pytest.raises(error, match=match):
        TimeseriesGenerator(**args)


def test_timeseries_generator_batch_index_out_of_range():
    g = TimeseriesGenerator(SERIES, TARGETS, length=3, batch_size=2)
    with pytest.raises(IndexError, match="batch 4 out of range for 4 batches"):
        g[4]
    with pytest.raises(TypeError, match="int batch index"):
        g[1.0]
