"""Keras's data set loaders (dropnet.datasets.mnist, fashion_mnist, cifar10, imdb, reuters,
boston_housing), read offline from small files written here in Keras's exact formats inside a
temporary KERAS_HOME. Expected results come from a re-implementation of Keras's documented
algorithm written out below, and, for tiny files, from Keras 3.15.1's own output."""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import re
import socket
import struct
import subprocess
import sys
import tarfile
import zipfile

import numpy as np
import pytest

import dropnet
from dropnet.datasets import boston_housing, cifar10, fashion_mnist, imdb, mnist, reuters

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
CIFAR_ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR_BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty Keras data set folder: $KERAS_HOME/datasets."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    folder = tmp_path / "keras" / "datasets"
    folder.mkdir(parents=True)
    return folder


def object_array(sequences):
    out = np.empty(len(sequences), dtype=object)
    out[:] = sequences
    return out


def ragged(rng, n, vocab=60):
    """n word-rank lists of lengths 1-24 (Python ints, as in Keras's files)."""
    return object_array(
        [[int(w) for w in rng.integers(1, vocab, rng.integers(1, 25))] for _ in range(n)]
    )


def write_imdb(folder, rng, n_train=40, n_test=30, name="imdb.npz"):
    data = {
        "x_train": ragged(rng, n_train),
        "y_train": rng.integers(0, 2, n_train),
        "x_test": ragged(rng, n_test),
        "y_test": rng.integers(0, 2, n_test),
    }
    np.savez(folder / name, **data)
    return data


def write_reuters(folder, rng, n=70):
    data = {"x": ragged(rng, n), "y": rng.integers(0, 46, n)}
    np.savez(folder / "reuters.npz", **data)
    return data


def py2_pickle(batch: dict) -> bytes:
    """``batch`` (bytes keys -> a 2-D uint8 array or a list of small ints) pickled as CIFAR's
    files were, by Python 2's cPickle at protocol 2: strings as BINSTRING, the array through
    numpy.core.multiarray._reconstruct."""

    def string(b):
        return b"U" + bytes([len(b)]) + b if len(b) < 256 else b"T" + struct.pack("<i", len(b)) + b

    def integer(v):
        return b"K" + bytes([v]) if v < 256 else b"J" + struct.pack("<i", v)

    out = b"\x80\x02}("
    for key, value in batch.items():
        out += string(key)
        if isinstance(value, np.ndarray):
            rows, cols = value.shape
            out += (
                b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
                + integer(0) + b"\x85" + string(b"b") + b"\x87R("
                + integer(1) + integer(rows) + integer(cols) + b"\x86"
                + b"cnumpy\ndtype\n" + string(b"u1") + integer(0) + integer(1) + b"\x87R("
                + integer(3) + string(b"|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xff"
                + integer(0) + b"tb\x89" + string(value.tobytes()) + b"tb"
            )  # fmt: skip
        else:
            out += b"](" + b"".join(integer(v) for v in value) + b"e"
    return out + b"u."


def cifar_batches(rng, sizes=(3, 2, 4, 1, 2, 3)):
    """CIFAR batches (name -> (pixels (n, 3072) uint8, labels list)) of a few images each."""
    return {
        name: (rng.integers(0, 256, (n, 3072), dtype=np.uint8), rng.integers(0, 10, n).tolist())
        for name, n in zip(CIFAR_BATCHES, sizes)
    }


def batch_bytes(pixels, labels):
    return py2_pickle({b"batch_label": [], b"labels": labels, b"data": pixels})


def write_cifar_tar(path, batches, extra=()):
    with tarfile.open(path, "w:gz") as tar:
        for name, (pixels, labels) in batches.items():
            raw = batch_bytes(pixels, labels)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
        for info in extra:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)


def cifar_expected(batches, names):
    """Channels-last images from CIFAR's rows (1,024 red, then green, then blue values, each
    plane row by row), pixel by pixel; labels as a (n, 1) column."""
    pixels = np.concatenate([batches[name][0] for name in names])
    x = np.empty((len(pixels), 32, 32, 3), np.uint8)
    for i in range(len(pixels)):
        for channel in range(3):
            for row in range(32):
                start = channel * 1024 + row * 32
                x[i, row, :, channel] = pixels[i, start : start + 32]
    y = np.array([[label] for name in names for label in batches[name][1]], np.uint8)
    return x, y


def keras_shuffle(seed, n):
    """The order Keras draws: RandomState(seed).shuffle of arange(n)."""
    order = np.arange(n)
    np.random.RandomState(seed).shuffle(order)
    return order


def keras_words(
    sequences, num_words=None, skip_top=0, maxlen=None, start_char=1, oov_char=2, index_from=3
):
    """Keras's documented word-id encoding, written out with arrays: (the kept sequences as
    lists, the mask of kept ones)."""
    shifted = []
    for seq in sequences:
        ids = np.asarray(seq, dtype=np.int64) + index_from
        if start_char is not None:
            ids = np.concatenate([[start_char], ids])
        shifted.append(ids)
    kept = np.array([maxlen is None or ids.size < maxlen for ids in shifted])
    shifted = [ids for ids, keep in zip(shifted, kept) if keep]
    bound = num_words or max(int(ids.max()) for ids in shifted if ids.size)
    out = []
    for ids in shifted:
        inside = (ids >= skip_top) & (ids < bound)
        out.append((ids[inside] if oov_char is None else np.where(inside, ids, oov_char)).tolist())
    return out, kept


def assert_sequences(actual, expected):
    assert isinstance(actual, np.ndarray) and actual.dtype == object
    assert actual.shape == (len(expected),)
    for got, want in zip(actual, expected):
        assert isinstance(got, list) and got == want
        assert all(type(w) is int for w in got)


# --- mnist, fashion_mnist, boston_housing ---


def test_mnist_returns_the_npz_arrays(cache, tmp_path):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, 5, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, 3, dtype=np.uint8),
    }
    np.savez_compressed(cache / "mnist.npz", **arrays)
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    for got, name in ((x_train, "x_train"), (y_train, "y_train"), (x_test, "x_test")):
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, arrays[name])
    np.testing.assert_array_equal(y_test, arrays["y_test"])
    # path= is relative to the data set folder (a sub-folder too), or absolute
    (cache / "sub").mkdir()
    np.savez(cache / "sub" / "m.npz", **{**arrays, "y_test": arrays["y_test"][::-1]})
    np.savez(tmp_path / "elsewhere.npz", **{**arrays, "y_test": arrays["y_test"] + 1})
    assert mnist.load_data(path=os.path.join("sub", "m.npz"))[1][1].tolist() == list(
        arrays["y_test"][::-1]
    )
    assert mnist.load_data(path=tmp_path / "elsewhere.npz")[1][1].tolist() == list(
        arrays["y_test"] + 1
    )


def write_idx(path, array):
    header = struct.pack(f">{1 + array.ndim}I", 0x0800 + array.ndim, *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


def test_fashion_mnist_reads_the_four_idx_files(cache):
    rng = np.random.default_rng(1)
    (cache / "fashion-mnist").mkdir()
    expected = {}
    for split, n in (("train", 6), ("t10k", 4)):
        expected[split] = (
            rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
            rng.integers(0, 10, n, dtype=np.uint8),
        )
        write_idx(cache / "fashion-mnist" / f"{split}-images-idx3-ubyte.gz", expected[split][0])
        write_idx(cache / "fashion-mnist" / f"{split}-labels-idx1-ubyte.gz", expected[split][1])
    train, test = fashion_mnist.load_data()
    for got, want in ((train, expected["train"]), (test, expected["t10k"])):
        for array, reference in zip(got, want):
            assert array.dtype == np.uint8 and array.flags.writeable
            np.testing.assert_array_equal(array, reference)


def test_fashion_mnist_refuses_a_file_that_is_not_idx(cache):
    (cache / "fashion-mnist").mkdir()
    for split in ("train", "t10k"):
        write_idx(cache / "fashion-mnist" / f"{split}-images-idx3-ubyte.gz", np.zeros((2, 28, 28)))
        write_idx(cache / "fashion-mnist" / f"{split}-labels-idx1-ubyte.gz", np.zeros(2, np.uint8))
    # float64 pixels: 8 bytes each, so the header's sizes do not match the data
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz: not an IDX file"):
        fashion_mnist.load_data()


@pytest.mark.parametrize("test_split, seed", [(0.2, 113), (0.3, 7), (0.0, 0), (0.95, None)])
def test_boston_housing_shuffles_then_splits(cache, test_split, seed):
    x = np.random.default_rng(2).normal(size=(23, 13))
    y = np.linspace(5.0, 50.0, 23)
    np.savez(cache / "boston_housing.npz", x=x, y=y)
    (x_train, y_train), (x_test, y_test) = boston_housing.load_data(
        test_split=test_split, seed=seed
    )
    if seed is None:  # a fresh shuffle: only the split sizes and the rows are known
        assert len(x_train) == 1 and sorted(np.concatenate([y_train, y_test])) == list(y)
        return
    order = keras_shuffle(seed, 23)
    n_train = int(23 * (1 - test_split))
    np.testing.assert_array_equal(x_train, x[order[:n_train]])
    np.testing.assert_array_equal(y_train, y[order[:n_train]])
    np.testing.assert_array_equal(x_test, x[order[n_train:]])
    np.testing.assert_array_equal(y_test, y[order[n_train:]])
    assert x_train.dtype == np.float64 and x_test.shape == (23 - n_train, 13)


def test_boston_housing_matches_keras_3_on_a_tiny_file(cache):
    np.savez(cache / "boston_housing.npz", x=np.arange(130.0).reshape(10, 13), y=np.arange(10.0))
    (x_train, y_train), (x_test, y_test) = boston_housing.load_data()
    # keras.datasets.boston_housing.load_data() on the same file (Keras 3.15.1)
    assert y_train.tolist() == [9.0, 3.0, 6.0, 1.0, 0.0, 7.0, 4.0, 8.0]
    assert y_test.tolist() == [2.0, 5.0]
    np.testing.assert_array_equal(x_train[:, 0], 13 * y_train)  # row i holds 13 i, ..., 13 i + 12
    np.testing.assert_array_equal(x_test[:, 0], [26.0, 65.0])


# --- cifar10 ---


@pytest.mark.parametrize(
    "layout",
    [
        "cifar-10-batches-py",  # Keras 2's extraction, or the archive extracted by hand
        "cifar-10-batches-py-target/cifar-10-batches-py",  # Keras 3's extraction
        "cifar-10-python.tar.gz",  # the downloaded archive, read without extracting
        "cifar-10-batches-py-target_archive",  # the archive as Keras 3 saves it
    ],
)
def test_cifar10_is_channels_last_uint8(cache, layout):
    batches = cifar_batches(np.random.default_rng(3))
    if layout.endswith(("gz", "archive")):
        write_cifar_tar(cache / layout, batches)
    else:
        (cache / layout).mkdir(parents=True)
        for name, (pixels, labels) in batches.items():
            (cache / layout / name).write_bytes(batch_bytes(pixels, labels))
    (x_train, y_train), (x_test, y_test) = cifar10.load_data()
    want_x_train, want_y_train = cifar_expected(batches, CIFAR_BATCHES[:5])
    want_x_test, want_y_test = cifar_expected(batches, CIFAR_BATCHES[5:])
    assert x_train.shape == (12, 32, 32, 3) and y_train.shape == (12, 1)
    for got, want in (
        (x_train, want_x_train),
        (y_train, want_y_train),
        (x_test, want_x_test),
        (y_test, want_y_test),
    ):
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, want)


def unsafe_members():
    escape = tarfile.TarInfo("../escaped")
    escape.size = 1
    absolute = tarfile.TarInfo("/tmp/dropnet-absolute-member")
    absolute.size = 1
    dotdot = tarfile.TarInfo("cifar-10-batches-py/../../escaped")
    dotdot.size = 1
    link = tarfile.TarInfo("cifar-10-batches-py/batches.meta")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    hard = tarfile.TarInfo("cifar-10-batches-py/readme.html")
    hard.type, hard.linkname = tarfile.LNKTYPE, "../../etc/passwd"
    return [escape, absolute, dotdot, link, hard]


@pytest.mark.parametrize("member", unsafe_members(), ids=lambda m: m.name)
def test_cifar10_refuses_an_archive_with_an_unsafe_member(cache, member):
    write_cifar_tar(
        cache / "cifar-10-python.tar.gz", cifar_batches(np.random.default_rng(4)), [member]
    )
    with pytest.raises(ValueError, match=f"refused: the archive holds '{member.name}'"):
        cifar10.load_data()
    assert not (cache.parent / "escaped").exists() and not (cache / "escaped").exists()


def test_cifar10_names_a_missing_batch_and_a_malformed_one(cache):
    batches = cifar_batches(np.random.default_rng(5))
    del batches["data_batch_3"]
    write_cifar_tar(cache / "cifar-10-python.tar.gz", batches)
    with pytest.raises(ValueError, match="no cifar-10-batches-py/data_batch_3 in the archive"):
        cifar10.load_data()
    folder = cache / "cifar-10-batches-py"
    folder.mkdir()
    for name in CIFAR_BATCHES:
        pixels = np.zeros((2, 3072 if name != "test_batch" else 100), np.uint8)
        (folder / name).write_bytes(batch_bytes(pixels, [0, 1]))
    with pytest.raises(ValueError, match="test_batch: not a CIFAR-10 batch"):
        cifar10.load_data()


# --- imdb and reuters ---

WORD_OPTIONS = [
    {},
    {"num_words": 20},
    {"skip_top": 6},
    {"maxlen": 12},
    {"start_char": None},
    {"oov_char": None},
    {"index_from": 0, "start_char": None},
    {"seed": 7},
    {
        "num_words": 30,
        "skip_top": 4,
        "maxlen": 15,
        "start_char": 9,
        "oov_char": None,
        "index_from": 1,
        "seed": 2**32 - 1,
    },
]


@pytest.mark.parametrize("options", WORD_OPTIONS)
def test_imdb_encodes_and_shuffles_as_keras(cache, options):
    data = write_imdb(cache, np.random.default_rng(6))
    (x_train, y_train), (x_test, y_test) = imdb.load_data(**options)
    seed = options.get("seed", 113)
    rng = np.random.RandomState(seed)  # one generator: the training order, then the test's
    train, test = np.arange(40), np.arange(30)
    rng.shuffle(train)
    rng.shuffle(test)
    words = {k: v for k, v in options.items() if k != "seed"}
    sequences = list(data["x_train"][train]) + list(data["x_test"][test])
    labels = np.concatenate([data["y_train"][train], data["y_test"][test]])
    encoded, kept = keras_words(sequences, **words)
    n_train = int(kept[:40].sum())
    assert_sequences(x_train, encoded[:n_train])
    assert_sequences(x_test, encoded[n_train:])
    np.testing.assert_array_equal(y_train, labels[kept][:n_train])
    np.testing.assert_array_equal(y_test, labels[kept][n_train:])
    assert y_train.dtype == data["y_train"].dtype
    if "maxlen" not in options:
        assert len(x_train) == 40 and len(x_test) == 30


def write_tiny_imdb(folder):
    np.savez(
        folder / "imdb.npz",
        x_train=object_array([[1, 2, 3], [4, 5], [6, 1, 1, 7], [2]]),
        y_train=np.array([0, 1, 1, 0]),
        x_test=object_array([[7, 8], [9], [3, 3, 3]]),
        y_test=np.array([1, 0, 1]),
    )


def test_imdb_matches_keras_3_on_a_tiny_file(cache):
    write_tiny_imdb(cache)
    # keras.datasets.imdb.load_data on the same file (Keras 3.15.1). Without num_words the
    # largest id (9 + 3 = 12) is itself out of range and becomes oov_char 2.
    (x_train, y_train), (x_test, y_test) = imdb.load_data()
    assert x_train.tolist() == [[1, 5], [1, 9, 4, 4, 10], [1, 4, 5, 6], [1, 7, 8]]
    assert y_train.tolist() == [0, 1, 0, 1]
    assert x_test.tolist() == [[1, 2], [1, 10, 11], [1, 6, 6, 6]]
    assert y_test.tolist() == [0, 1, 1]
    (x_train, y_train), (x_test, y_test) = imdb.load_data(num_words=6, skip_top=2, maxlen=4)
    assert x_train.tolist() == [[2, 5], [2, 2, 2]] and y_train.tolist() == [0, 1]
    assert x_test.tolist() == [[2, 2], [2, 2, 2]] and y_test.tolist() == [0, 1]


def test_imdb_maxlen_that_keeps_nothing_raises(cache):
    write_tiny_imdb(cache)
    with pytest.raises(ValueError, match="no training review is shorter than maxlen=2"):
        imdb.load_data(maxlen=2)


@pytest.mark.parametrize(
    "options", [*WORD_OPTIONS, {"test_split": 0.35, "seed": 3}, {"test_split": 0.0, "maxlen": 9}]
)
def test_reuters_encodes_shuffles_and_splits_as_keras(cache, options):
    data = write_reuters(cache, np.random.default_rng(8))
    (x_train, y_train), (x_test, y_test) = reuters.load_data(**options)
    order = keras_shuffle(options.get("seed", 113), 70)
    words = {k: v for k, v in options.items() if k not in ("seed", "test_split")}
    encoded, kept = keras_words(data["x"][order], **words)
    labels = data["y"][order][kept]
    n_train = int(len(encoded) * (1 - options.get("test_split", 0.2)))
    assert_sequences(x_train, encoded[:n_train])
    assert_sequences(x_test, encoded[n_train:])
    np.testing.assert_array_equal(y_train, labels[:n_train])
    np.testing.assert_array_equal(y_test, labels[n_train:])


def test_reuters_matches_keras_3_on_a_tiny_file(cache):
    np.savez(
        cache / "reuters.npz",
        x=object_array([[1, 2], [3, 4, 5], [6], [7, 8, 9, 10], [2, 2], [11]]),
        y=np.array([3, 4, 0, 45, 3, 1]),
    )
    # keras.datasets.reuters.load_data on the same file (Keras 3.15.1)
    (x_train, y_train), (x_test, y_test) = reuters.load_data()
    assert x_train.tolist() == [[1, 6, 7, 8], [1, 4, 5], [1, 10, 11, 12, 13], [1, 9]]
    assert y_train.tolist() == [4, 3, 45, 0]
    assert x_test.tolist() == [[1, 5, 5], [1, 2]] and y_test.tolist() == [3, 1]
    (x_train, y_train), (x_test, y_test) = reuters.load_data(
        num_words=8, oov_char=None, test_split=0.5
    )
    assert x_train.tolist() == [[1, 6, 7], [1, 4, 5], [1]] and y_train.tolist() == [4, 3, 45]
    assert x_test.tolist() == [[1], [1, 5, 5], [1]] and y_test.tolist() == [0, 3, 1]
    names = reuters.get_label_names()
    assert len(names) == 46 and names[3] == "earn" and names[45] == "lead"


@pytest.mark.parametrize("module", [imdb, reuters])
def test_word_index_is_the_json_file(cache, module):
    name = module.__name__.rsplit(".", 1)[1]
    index = {"the": 1, "and": 2, "café": 3}
    (cache / f"{name}_word_index.json").write_text(json.dumps(index), encoding="utf-8")
    assert module.get_word_index() == index
    with pytest.raises(FileNotFoundError, match=f"{ORIGIN}{name}_word_index.json"):
        module.get_word_index(path="other.json")


# --- files: where they are read, what a missing one says, what is refused ---


LOADERS = {
    "mnist": (mnist.load_data, [("mnist.npz", ORIGIN + "mnist.npz")]),
    "fashion_mnist": (
        fashion_mnist.load_data,
        [
            (f"fashion-mnist/{name}", ORIGIN + name)
            for name in (
                "train-labels-idx1-ubyte.gz",
                "train-images-idx3-ubyte.gz",
                "t10k-labels-idx1-ubyte.gz",
                "t10k-images-idx3-ubyte.gz",
            )
        ],
    ),
    "cifar10": (cifar10.load_data, [("cifar-10-python.tar.gz", CIFAR_ORIGIN)]),
    "imdb": (imdb.load_data, [("imdb.npz", ORIGIN + "imdb.npz")]),
    "reuters": (reuters.load_data, [("reuters.npz", ORIGIN + "reuters.npz")]),
    "boston_housing": (
        boston_housing.load_data,
        [("boston_housing.npz", ORIGIN + "boston_housing.npz")],
    ),
}


@pytest.mark.parametrize("name", LOADERS)
def test_a_missing_file_names_the_url_and_the_full_path(cache, monkeypatch, name):
    def no_network(*args, **kwargs):
        raise AssertionError("a data set loader opened a socket")

    monkeypatch.setattr(socket, "socket", no_network)
    load, files = LOADERS[name]
    with pytest.raises(FileNotFoundError) as info:
        load()
    message = str(info.value)
    assert "dropnet does not download" in message
    for file, url in files:
        assert f"download {url} and save it as {os.path.join(cache, file)}" in message


def test_the_cache_folder_follows_keras_rule(tmp_path, monkeypatch):
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".keras" / "datasets").mkdir(parents=True)
    np.savez(
        tmp_path / ".keras" / "datasets" / "boston_housing.npz", x=np.ones((3, 13)), y=[1.0, 2, 3]
    )
    assert len(boston_housing.load_data(test_split=0.0)[0][0]) == 3
    # a KERAS_HOME that does not exist yet is used: Keras would create it
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "new" / "home"))
    new_home = os.path.join(tmp_path, "new", "home", "datasets", "mnist.npz")
    with pytest.raises(FileNotFoundError, match=f"as {re.escape(new_home)}"):
        mnist.load_data()
    # when neither the home folder nor the Keras home can be written, Keras uses /tmp/.keras
    access = os.access
    monkeypatch.setattr(
        os,
        "access",
        lambda path, mode: not str(path).startswith(str(tmp_path)) and access(path, mode),
    )
    fallback = os.path.join("/tmp", ".keras", "datasets", "dropnet-test-absent.npz")
    with pytest.raises(FileNotFoundError, match=f"as {re.escape(fallback)}"):
        mnist.load_data(path="dropnet-test-absent.npz")
    monkeypatch.delenv("KERAS_HOME")
    with pytest.raises(FileNotFoundError, match=f"as {re.escape(fallback)}"):
        mnist.load_data(path="dropnet-test-absent.npz")


class Gadget:
    """Unpickling it would create a folder (a harmless stand-in for running any code)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.makedirs, (self.marker,)


def test_a_malicious_pickle_in_imdb_npz_is_refused(cache, tmp_path):
    marker = str(tmp_path / "pwned")
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|O", "fortran_order": False, "shape": (1,)}
    )
    with zipfile.ZipFile(cache / "imdb.npz", "w") as archive:
        archive.writestr("x_train.npy", header.getvalue() + pickle.dumps(Gadget(marker)))
        for name in ("y_train", "x_test", "y_test"):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.zeros(1, np.int64))
            archive.writestr(name + ".npy", member.getvalue())
    with pytest.raises(pickle.UnpicklingError, match="x_train: refused to load os.makedirs"):
        imdb.load_data()
    assert not os.path.exists(marker)


def test_a_malicious_pickle_in_a_cifar_batch_is_refused(cache, tmp_path):
    marker = str(tmp_path / "pwned")
    folder = cache / "cifar-10-batches-py"
    folder.mkdir()
    for name in CIFAR_BATCHES:
        (folder / name).write_bytes(pickle.dumps({"data": Gadget(marker), "labels": [0]}, 2))
    with pytest.raises(pickle.UnpicklingError, match="data_batch_1: refused to load"):
        cifar10.load_data()
    assert not os.path.exists(marker)


def test_an_npz_without_the_expected_arrays_names_them(cache):
    np.savez(cache / "reuters.npz", x_train=np.zeros(2))
    with pytest.raises(ValueError, match="reuters.npz: no array 'x'; expected the arrays x, y"):
        reuters.load_data()
    (cache / "mnist.npz").write_text("<html>not found</html>")
    with pytest.raises(ValueError, match="mnist.npz: not a .npz file"):
        mnist.load_data()


BAD_ARGUMENTS = [
    (
        imdb.load_data,
        {"num_words": "100"},
        TypeError,
        r"num_words\): expected an int, received '100'",
    ),
    (
        imdb.load_data,
        {"num_words": 0},
        ValueError,
        r"num_words\): expected an int >= 1, received 0",
    ),
    (
        imdb.load_data,
        {"skip_top": -1},
        ValueError,
        r"skip_top\): expected an int >= 0, received -1",
    ),
    (imdb.load_data, {"maxlen": 0}, ValueError, r"maxlen\): expected an int >= 1, received 0"),
    (
        imdb.load_data,
        {"start_char": 1.5},
        TypeError,
        r"start_char\): expected an int, received 1.5",
    ),
    (imdb.load_data, {"seed": -1}, ValueError, r"seed\): expected an int >= 0, received -1"),
    (reuters.load_data, {"seed": 2**32}, ValueError, r"seed\): expected an int <= 4294967295"),
    (
        reuters.load_data,
        {"oov_char": True},
        TypeError,
        r"oov_char\): expected an int, received True",
    ),
    (reuters.load_data, {"test_split": 1.0}, ValueError, r"in \[0, 1\), received 1.0"),
    (boston_housing.load_data, {"test_split": "0.2"}, TypeError, r"in \[0, 1\), received '0.2'"),
    (boston_housing.load_data, {"test_split": -0.1}, ValueError, r"in \[0, 1\), received -0.1"),
    (mnist.load_data, {"path": 3}, TypeError, r"path\): expected a file name or path .*received 3"),
    (
        imdb.get_word_index,
        {"path": None},
        TypeError,
        r"path\): expected a file name .*received None",
    ),
]


@pytest.mark.parametrize("load, options, error, message", BAD_ARGUMENTS)
def test_bad_arguments_name_what_was_expected_and_received(cache, load, options, error, message):
    with pytest.raises(error, match=message):
        load(**options)


def test_keras_import_forms():
    code = (
        "import dropnet.datasets as d\n"
        "assert all(callable(m.load_data) for m in "
        "(d.mnist, d.fashion_mnist, d.cifar10, d.imdb, d.reuters, d.boston_housing))\n"
        "import dropnet.datasets.mnist\n"
        "from dropnet.datasets import imdb, reuters\n"
        "assert callable(imdb.get_word_index) and callable(reuters.get_word_index)\n"
        "from dropnet.datasets import load_sonar, SONAR_FILE\n"
    )
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(dropnet.__file__)))
    env = {**os.environ, "PYTHONPATH": package_root}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
