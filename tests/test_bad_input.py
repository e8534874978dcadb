"""Bad input at every public entry point, table-driven: each call either raises a
ValueError / TypeError / OverflowError / MemoryError whose message says what was expected
and what was received, or (for layout and dtype variants of valid data) returns exactly
what the contiguous float32 array gives. Nothing crashes, nothing comes back NaN, nothing
writes into a temporary copy."""

from __future__ import annotations

import numpy as np
import pytest

import dropnet
from dropnet import _core
from dropnet.layers import (
    LSTM,
    Conv1D,
    Conv2D,
    Dense,
    Dropout,
    GaussianNoise,
    Input,
    MaxPooling2D,
    SpatialDropout2D,
)
from dropnet.models import Sequential, load_model
from dropnet.wrappers import SequentialClassifier

ERRORS = (ValueError, TypeError, OverflowError, MemoryError)
BAD_SCALARS = [
    None,
    "a",
    [1, 2],
    np.array([1, 2], dtype=object),
    float("nan"),
    float("inf"),
    -1,
    0,
    2**40,
    1.5,
    True,
]


def _raises_clearly(fn):
    with pytest.raises(ERRORS) as info:
        fn()
    assert len(str(info.value)) > 15, f"terse message: {info.value!r}"


# ----------------------------------------------------------------------------- layers
CONSTRUCTORS = {
    "Dense(units)": lambda v: Dense(v),
    "Conv2D(filters)": lambda v: Conv2D(v, 3),
    "Conv2D(kernel_size)": lambda v: Conv2D(4, v),
    "Conv1D(strides)": lambda v: Conv1D(4, 3, strides=v),
    "MaxPooling2D(pool_size)": lambda v: MaxPooling2D(v),
    "LSTM(units)": lambda v: LSTM(v),
    "LSTM(dropout)": lambda v: LSTM(4, dropout=v),
    "Dropout(rate)": lambda v: Dropout(v),
    "SpatialDropout2D(rate)": lambda v: SpatialDropout2D(v),
    "GaussianNoise(stddev)": lambda v: GaussianNoise(v),
}
# Values among BAD_SCALARS that are legitimate for an argument: rates of 0, any finite
# stddev >= 0, and a pair of ints (as a list or an array of ints) for a 2-D window.
PAIRS = ("Conv2D(kernel_size)", "MaxPooling2D(pool_size)")
VALID = {
    "LSTM(dropout)": [0],
    "Dropout(rate)": [0],
    "SpatialDropout2D(rate)": [0],
    "GaussianNoise(stddev)": [0, 1.5, 2**40],
}


def _valid(name, value):
    if name in PAIRS and isinstance(value, (list, np.ndarray)):
        return True
    return any(type(value) is type(v) and value == v for v in VALID.get(name, []))


@pytest.mark.parametrize("name", sorted(CONSTRUCTORS))
@pytest.mark.parametrize("value", BAD_SCALARS, ids=repr)
def test_layer_constructors(name, value):
    if _valid(name, value):
        CONSTRUCTORS[name](value)
        return
    _raises_clearly(lambda: CONSTRUCTORS[name](value))


def test_overflowing_shapes():
    _raises_clearly(lambda: Sequential([Input((2**40,)), Dense(2**40)]))
    _raises_clearly(lambda: Sequential([Input((2**31, 2**31, 3)), Conv2D(4, 3)]))
    _raises_clearly(lambda: Sequential([Input((0, 3))]))
    _raises_clearly(lambda: Sequential([Input((-1, 3))]))


# ----------------------------------------------------------------------------- data
def _model():
    dropnet.set_random_seed(0)
    m = Sequential([Input((6, 4)), LSTM(3), Dense(2, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return m


GOOD_X = np.random.default_rng(0).standard_normal((5, 6, 4)).astype(np.float32)
GOOD_Y = np.array([0, 1, 0, 1, 1])

BAD_X = {
    "None": None,
    "string": "x",
    "object array": np.array([[["a"] * 4] * 6] * 5, dtype=object),
    "NaN": np.full((5, 6, 4), np.nan, np.float32),
    "inf": np.full((5, 6, 4), -np.inf, np.float32),
    "wrong rank": np.zeros((5, 24), np.float32),
    "wrong features": np.zeros((5, 6, 3), np.float32),
    "zero samples": np.zeros((0, 6, 4), np.float32),
    "zero-length sequences": np.zeros((5, 0, 4), np.float32),
    "complex": np.zeros((5, 6, 4), np.complex64),
}


def _variants(tmp_path):
    """Layouts and dtypes of GOOD_X that must give the float32 result exactly."""
    f64 = GOOD_X.astype(np.float64)
    fortran = np.asfortranarray(GOOD_X)
    wide = np.zeros((5, 6, 8), np.float32)
    wide[:, :, ::2] = GOOD_X
    mm_path = tmp_path / "x.npy"
    np.save(mm_path, GOOD_X)
    readonly = np.load(mm_path, mmap_mode="r")
    return {
        "float64": f64,
        "Fortran order": fortran,
        "strided view": wide[:, :, ::2],
        "read-only memmap": readonly,
        "big-endian": GOOD_X.astype(">f4"),
        "python list": GOOD_X.tolist(),
    }


ENTRY = {
    "predict": lambda m, x: m.predict(x, verbose=0),
    "predict(training=True)": lambda m, x: m.predict(x, training=True, verbose=0),
    "predict_mc": lambda m, x: m.predict_mc(x, n=3),
    "evaluate": lambda m, x: m.evaluate(
        x, GOOD_Y if x is None or len(x) == 5 else GOOD_Y[:0], verbose=0
    ),
    "fit": lambda m, x: m.fit(x, GOOD_Y, epochs=1, verbose=0),
    "train_on_batch": lambda m, x: m.train_on_batch(x, GOOD_Y),
}


@pytest.mark.parametrize("entry", sorted(ENTRY))
@pytest.mark.parametrize("case", sorted(BAD_X))
def test_bad_x_everywhere(entry, case):
    m = _model()
    m.predict(GOOD_X, verbose=0)
    before = [w.copy() for w in m.get_weights()]
    _raises_clearly(lambda: ENTRY[entry](m, BAD_X[case]))
    for a, b in zip(before, m.get_weights()):  # a refused call changes nothing
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("entry", ["predict", "evaluate", "fit"])
def test_layout_and_dtype_variants_equal_float32(tmp_path, entry):
    for name, x in _variants(tmp_path).items():
        # each model built and run in turn, so both draw the same seeds from the sequence
        ref = _model()
        expect = ENTRY[entry](ref, GOOD_X)
        got = _model()
        out = ENTRY[entry](got, x)
        if entry == "fit":
            expect, out = expect.history["loss"], out.history["loss"]
            for a, b in zip(ref.get_weights(), got.get_weights()):
                np.testing.assert_array_equal(a, b, err_msg=name)
        np.testing.assert_array_equal(np.asarray(out), np.asarray(expect), err_msg=name)


@pytest.mark.parametrize(
    "y",
    [
        None,
        "y",
        np.array([0, 1]),
        np.array([0, 1, 0, 1, 7]),
        np.full(5, np.nan),
        np.array([0.5, 1, 0, 1, 1]),
    ],
    ids=repr,
)
def test_bad_labels(y):
    m = _model()
    _raises_clearly(lambda: m.fit(GOOD_X, y, epochs=1, verbose=0))


@pytest.mark.parametrize(
    "weights",
    [None, "w", [np.zeros((4, 12))], [np.full((4, 12), np.nan)] * 3, "wrong count"],
    ids=repr,
)
def test_bad_set_weights(weights):
    m = _model()
    if isinstance(weights, str) and weights == "wrong count":
        weights = m.get_weights()[:-1]
    _raises_clearly(lambda: m.set_weights(weights))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"optimizer": "nope"},
        {"optimizer": 3},
        {"loss": "nope"},
        {"loss": 3},
        {"metrics": ["nope"]},
        {"metrics": "accuracy!"},
    ],
    ids=repr,
)
def test_bad_compile(kwargs):
    m = Sequential([Input((3,)), Dense(1)])
    args = {"optimizer": "adam", "loss": "mse", **kwargs}
    _raises_clearly(lambda: m.compile(**args))


@pytest.mark.parametrize(
    "source", [None, 123, 1.5, b"", b"DROPNET\x00" + b"\xff" * 8, "/nonexistent/m.keras"], ids=repr
)
def test_bad_load_model(source):
    with pytest.raises((ValueError, TypeError, FileNotFoundError)):
        load_model(source)


@pytest.mark.parametrize(
    "x", [None, "x", np.full((20, 3), np.nan), np.zeros((0, 3)), np.zeros((20,))], ids=repr
)
def test_bad_estimator_input(x):
    def build():
        m = Sequential([Input((3,)), Dense(1, activation="sigmoid")])
        m.compile(optimizer="adam", loss="binary_crossentropy")
        return m

    est = SequentialClassifier(model=build, epochs=1, verbose=0)
    y = np.arange(20) % 2
    _raises_clearly(
        lambda: est.fit(x, y if x is None or not hasattr(x, "__len__") or len(x) == 20 else y[:0])
    )


# ----------------------------------------------------------------------------- the bound core
def test_core_functions_refuse_bad_arrays():
    a = np.ones((4, 3), np.float32)
    b = np.ones((3, 5), np.float32)
    c = np.zeros((4, 5), np.float32)
    bad_c = [
        np.zeros((4, 5), np.float64),
        np.zeros((5, 4), np.float32).T,
        np.zeros((4, 4), np.float32),
        np.zeros((4, 10), np.float32)[:, ::2],
    ]
    ro = np.zeros((4, 5), np.float32)
    ro.setflags(write=False)
    for out in bad_c + [ro]:
        _raises_clearly(lambda out=out: _core.gemm(a, b, out))
        if out.dtype == np.float32 and out.shape == (4, 5):
            assert not np.any(out)  # never written through a temporary copy
    for bad in [None, "a", [[1.0]], np.ones((4, 3), np.float64), np.ones((4, 3, 1), np.float32)]:
        _raises_clearly(lambda bad=bad: _core.gemm(bad, b, c))
        _raises_clearly(lambda bad=bad: _core.matmul(bad, b))
    _raises_clearly(lambda: _core.activation_forward("nope", a))
    _raises_clearly(lambda: _core.activation_forward("relu", a.astype(">f4")))
    _raises_clearly(lambda: _core.activation_backward("relu", a, a, np.ones((4, 2), np.float32)))
    _raises_clearly(lambda: _core.activation_backward("relu", a, a.astype(np.float64), a))
    for description in [
        {},
        {"dtype": "float16"},
        {"dtype": 3},
        {"dtype": "float32", "seed": "a"},
        {"dtype": "float32", "seed": 1},
    ]:
        _raises_clearly(lambda description=description: _core.Network(description))
    _raises_clearly(lambda: _core.Network(None))
    _raises_clearly(lambda: _core.loss("mean_squared_error", False, a, np.ones(3, np.float32)))
    _raises_clearly(lambda: _core.dropout_mask([4, 3], [4, 2], 0.5, 1))
    _raises_clearly(lambda: _core.dropout_mask([], [], 0.5, 1))
    _raises_clearly(lambda: _core.philox4x32_10([1, 2, 3], [1, 2]))
    _raises_clearly(lambda: _core.set_num_threads(0))
    _raises_clearly(lambda: _core.set_cpu_capability("x86-64-v9"))
