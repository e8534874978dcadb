"""Model files: bitwise round trips (weights, predictions, optimizer state that continues
training identically), pickling, and validation of damaged or edited files, which must
raise ValueError and nothing else."""

from __future__ import annotations

import copy
import io
import json
import pickle
import struct

import numpy as np
import pytest

import dropnet
from dropnet import optimizers
from dropnet.layers import Dense, Dropout, GaussianNoise
from dropnet.models import Sequential, load_model

OPTIMIZERS = {
    "sgd-momentum": lambda: optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    "adam": lambda: optimizers.Adam(0.01),
    "adam-amsgrad": lambda: optimizers.Adam(0.01, amsgrad=True),
    "rmsprop-centered": lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True),
    "adagrad": lambda: optimizers.Adagrad(0.05),
    "adadelta": lambda: optimizers.Adadelta(1.0),
    "adam-exponential-decay": lambda: optimizers.Adam(optimizers.ExponentialDecay(0.01, 3, 0.5)),
    "sgd-keras2-decay": lambda: optimizers.SGD(lr=0.05, decay=0.1),
}


def make_model(optimizer=None, dropout=False, dtype="float32", seed=0):
    dropnet.set_random_seed(seed)
    layers = [Dense(16, input_dim=5, activation="relu", dtype=dtype)]
    if dropout:
        layers.append(Dropout(0.3))
    layers += [Dense(8, activation="tanh"), Dense(3, activation="softmax")]
    model = Sequential(layers)
    model.compile(
        optimizer=optimizer or optimizers.Adam(0.01),
        loss="categorical_crossentropy",
        metrics=["acc"],
    )
    return model


def data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 5))
    y = np.eye(3)[rng.integers(0, 3, n)]
    return x, y


def saved_bytes(model) -> bytes:
    buf = io.BytesIO()
    model.save(buf)
    return buf.getvalue()


def assert_same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb)
    for x, y in zip(wa, wb):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)


# ------------------------------------------------------------------ round trips
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_save_load_round_trip_bitwise(dtype, tmp_path):
    x, y = data()
    model = make_model(dropout=True, dtype=dtype)
    model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    path = tmp_path / "model.dropnet"
    model.save(path)
    loaded = load_model(path)
    assert loaded.dtype == dtype
    assert_same_weights(model, loaded)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.get_config()["layers"] == model.get_config()["layers"]
    assert type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.optimizer.iterations == model.optimizer.iterations == 15
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_save_load_optimizer_state_continues_training_identically(name, tmp_path):
    x, y = data()
    model = make_model(OPTIMIZERS[name](), dtype="float64")
    for i in range(3):
        model.train_on_batch(x[i * 10 : (i + 1) * 10], y[i * 10 : (i + 1) * 10])
    path = tmp_path / "m.dropnet"
    model.save(path)
    loaded = load_model(path)
    for i in range(4):
        rows = slice(i * 7, i * 7 + 12)
        la = model.train_on_batch(x[rows], y[rows])
        lb = loaded.train_on_batch(x[rows], y[rows])
        assert la == lb
    assert_same_weights(model, loaded)
    model.fit(x, y, epochs=2, shuffle=False, verbose=0)
    loaded.fit(x, y, epochs=2, shuffle=False, verbose=0)
    assert_same_weights(model, loaded)


def test_save_load_file_object_and_bytes(tmp_path):
    model = make_model()
    raw = saved_bytes(model)
    for source in (io.BytesIO(raw), raw):
        assert_same_weights(model, load_model(source))


def test_save_load_uncompiled_and_compile_false(tmp_path):
    model = Sequential([Dense(3, input_dim=2), GaussianNoise(0.1)])
    path = tmp_path / "u.dropnet"
    model.save(path)
    loaded = load_model(path)
    assert not loaded.compiled
    assert_same_weights(model, loaded)
    compiled = make_model()
    compiled.save(path)
    assert not load_model(path, compile=False).compiled


def test_save_overwrite_false_raises(tmp_path):
    path = tmp_path / "m.dropnet"
    model = make_model()
    model.save(path)
    with pytest.raises(FileExistsError):
        model.save(path, overwrite=False)


def test_load_missing_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.dropnet")


def test_save_weights_load_weights(tmp_path):
    x, y = data()
    a = make_model(seed=1)
    a.fit(x, y, epochs=2, verbose=0)
    a.save_weights(tmp_path / "w.dropnet")
    b = make_model(seed=2)
    b.load_weights(tmp_path / "w.dropnet")
    assert_same_weights(a, b)
    c = Sequential([Dense(4, input_dim=5)])
    with pytest.raises(ValueError):
        c.load_weights(tmp_path / "w.dropnet")


def test_pickle_round_trip_bitwise_and_training_continues_identically():
    x, y = data()
    model = make_model(dropout=True)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    clone = pickle.loads(pickle.dumps(model))
    assert_same_weights(model, clone)
    np.testing.assert_array_equal(clone.predict(x), model.predict(x))
    np.testing.assert_array_equal(clone.predict(x, training=True), model.predict(x, training=True))
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    clone.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert_same_weights(model, clone)


def test_pickle_round_trip_uncompiled():
    model = Sequential([Dense(3, input_dim=2)])
    clone = pickle.loads(pickle.dumps(model))
    assert_same_weights(model, clone)
    assert not clone.compiled


# ------------------------------------------------------------------ damaged files
def split(raw: bytes):
    (hlen,) = struct.unpack("<Q", raw[8:16])
    return json.loads(raw[16 : 16 + hlen]), raw[16 + hlen :]


def join(header: dict, body: bytes, magic=b"DROPNET\x00") -> bytes:
    text = json.dumps(header).encode()
    return magic + struct.pack("<Q", len(text)) + text + body


def load_or_value_error(raw: bytes) -> bool:
    """Loading must either fail with ValueError (returns False) or give a working model
    (returns True); any other exception propagates."""
    try:
        model = load_model(raw)
    except ValueError:
        return False
    if model.built and model.input_shape is not None:
        try:
            model.predict(np.zeros((2,) + tuple(model.input_shape[1:])))
        except ValueError:
            pass
    return True


def unexpected_errors(mutants):
    """(description, exception) for every mutant whose load raised something other than
    ValueError; also counts the rejected ones."""
    bad, rejected = [], 0
    for what, raw in mutants:
        try:
            rejected += not load_or_value_error(raw)
        except Exception as exc:  # noqa: BLE001 - collected and reported together below
            bad.append(f"{what}: {type(exc).__name__}: {str(exc)[:120]}")
    return bad, rejected


@pytest.fixture(scope="module")
def model_file():
    dropnet.set_random_seed(0)
    model = make_model(dropout=True)
    x, y = data()
    model.fit(x, y, epochs=1, verbose=0)
    return saved_bytes(model)


def test_load_truncated_files_raise_value_error(model_file):
    rng = np.random.default_rng(1)
    lengths = (
        set(range(40)) | set(rng.integers(0, len(model_file), 150).tolist()) | {len(model_file) - 1}
    )
    for n in sorted(lengths):
        with pytest.raises(ValueError):
            load_model(model_file[:n])


def test_load_trailing_bytes_raise_value_error(model_file):
    with pytest.raises(ValueError, match="trailing"):
        load_model(model_file + b"\x00" * 4)


def test_load_flipped_signature_or_length_bytes_raise_value_error(model_file):
    for i in range(16):
        for bit in (0, 3, 7):
            raw = bytearray(model_file)
            raw[i] ^= 1 << bit
            with pytest.raises(ValueError):
                load_model(bytes(raw))


def test_load_flipped_header_bytes_raise_value_error_or_load(model_file):
    (hlen,) = struct.unpack("<Q", model_file[8:16])
    rng = np.random.default_rng(2)
    mutants = []
    for _ in range(300):
        raw = bytearray(model_file)
        i = int(rng.integers(16, 16 + hlen))
        value = int(rng.integers(1, 256))
        raw[i] ^= value
        mutants.append((f"byte {i} ^= {value}", bytes(raw)))
    bad, rejected = unexpected_errors(mutants)
    assert not bad, "\n".join(bad)
    assert rejected > 100  # most flips break the JSON or its fields


def test_load_nan_in_weights_loads_with_a_warning(model_file):
    # a checkpoint saved after training diverged loads, to be inspected, and says so
    header, body = split(model_file)
    entry = header["tensors"][0]
    body = bytearray(body)
    body[entry["offset"] : entry["offset"] + 4] = np.float32(np.nan).tobytes()
    with pytest.warns(RuntimeWarning, match=r"weights/0"):
        m = load_model(join(header, bytes(body)))
    assert np.isnan(m.get_weights()[0].flat[0])


def edit(path, value):
    def apply(h):
        node = h
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return apply


def set_first_layer(key, value):
    def apply(h):
        h["model"]["config"]["layers"][0]["config"][key] = value

    return apply


def set_tensor(i, key, value):
    def apply(h):
        h["tensors"][i][key] = value

    return apply


def shift_offsets(h):
    for e in h["tensors"][1:]:
        e["offset"] += 4


def drop_tensor(i):
    def apply(h):
        del h["tensors"][i]

    return apply


EDITS = {
    "format_version-2": edit(["format_version"], 2),
    "format_version-str": edit(["format_version"], "1"),
    "format-name": edit(["format"], "keras"),
    "model-class": edit(["model", "class_name"], "Functional"),
    "model-config-none": edit(["model", "config"], None),
    "layers-not-list": edit(["model", "config", "layers"], {"a": 1}),
    "layer-type-unknown": lambda h: h["model"]["config"]["layers"][0].update(class_name="Conv2D"),
    "layer-type-lambda": lambda h: h["model"]["config"]["layers"][0].update(class_name="Lambda"),
    "layer-type-swapped": lambda h: h["model"]["config"]["layers"][0].update(class_name="Dropout"),
    "layer-units": set_first_layer("units", 17),
    "layer-units-negative": set_first_layer("units", -16),
    "layer-units-str": set_first_layer("units", "16"),
    "layer-units-huge": set_first_layer("units", 10**12),
    "layer-activation": set_first_layer("activation", "os.system"),
    "layer-unknown-key": set_first_layer("evil", "x"),
    "layer-config-list": lambda h: h["model"]["config"]["layers"][0].update(config=[1, 2]),
    "dropout-rate": lambda h: h["model"]["config"]["layers"][1]["config"].update(rate=1.5),
    "input-shape": edit(["model", "config", "input_shape"], [6]),
    "input-shape-negative": edit(["model", "config", "input_shape"], [-5]),
    "input-shape-str": edit(["model", "config", "input_shape"], "abc"),
    "model-dtype": edit(["model", "config", "dtype"], "int8"),
    "tensor-shape": set_tensor(0, "shape", [16, 5]),
    "tensor-shape-same-size": set_tensor(0, "shape", [80]),
    "tensor-shape-negative": set_tensor(0, "shape", [-5, -16]),
    "tensor-shape-float": set_tensor(0, "shape", [5.0, 16.0]),
    "tensor-dtype": set_tensor(0, "dtype", "float64"),
    "tensor-dtype-unknown": set_tensor(0, "dtype", "int64"),
    "tensor-dtype-object": set_tensor(0, "dtype", "object"),
    "tensor-offset": set_tensor(1, "offset", 0),
    "tensor-offset-negative": set_tensor(0, "offset", -4),
    "tensor-offsets-shifted": shift_offsets,
    "tensor-nbytes": set_tensor(0, "nbytes", 4),
    "tensor-nbytes-huge": set_tensor(2, "nbytes", 2**62),
    "tensor-name-repeated": set_tensor(1, "name", "weights/0"),
    "tensor-missing": drop_tensor(0),
    "tensors-not-list": edit(["tensors"], {"weights/0": 1}),
    "optimizer-unknown": edit(["compile", "optimizer"], {"class_name": "Ftrl", "config": {}}),
    "optimizer-bad-lr": lambda h: h["compile"]["optimizer"]["config"].update(learning_rate=-1),
    "optimizer-bad-key": lambda h: h["compile"]["optimizer"]["config"].update(foo=1),
    "optimizer-iterations": edit(["compile", "iterations"], -3),
    "optimizer-iterations-str": edit(["compile", "iterations"], "3"),
    "loss-unknown": edit(["compile", "loss"], "hinje"),
    "metric-unknown": edit(["compile", "metrics"], ["aucc"]),
}


@pytest.mark.parametrize("name", list(EDITS))
def test_load_edited_header_raises_value_error(name, model_file):
    header, body = split(model_file)
    header = copy.deepcopy(header)
    EDITS[name](header)
    with pytest.raises(ValueError):
        load_model(join(header, body))


def test_load_optimizer_slot_count_mismatch_raises_value_error(model_file):
    header, body = split(model_file)
    slots = [e for e in header["tensors"] if e["name"].startswith("optimizer/0/")]
    assert len(slots) == 2  # Adam without amsgrad: m and v
    header["compile"]["optimizer"]["config"]["amsgrad"] = True
    with pytest.raises(ValueError, match="slots"):
        load_model(join(header, body))


JUNK = [
    None,
    True,
    -1,
    0,
    2**70,
    1e308,
    float("nan"),
    "",
    "x" * 3,
    [],
    [None],
    {},
    {"class_name": "Dense"},
    [[[]]],
    -0.5,
]


def leaves(node, path=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield path + (k,)
            yield from leaves(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield path + (i,)
            yield from leaves(v, path + (i,))


def test_load_fuzzed_header_values_raise_value_error_or_load(model_file):
    header, body = split(model_file)
    paths = list(leaves(header))
    rng = np.random.default_rng(3)
    mutants = []
    for _ in range(300):
        h = copy.deepcopy(header)
        path = paths[int(rng.integers(len(paths)))]
        node = h
        for key in path[:-1]:
            node = node[key]
        junk = JUNK[int(rng.integers(len(JUNK)))]
        if rng.random() < 0.2 and isinstance(node, dict):
            del node[path[-1]]
            what = f"del {list(path)}"
        else:
            node[path[-1]] = copy.deepcopy(junk)
            what = f"{list(path)} = {junk!r}"
        text = json.dumps(h).encode()  # NaN is written as the JSON token NaN
        mutants.append((what, b"DROPNET\x00" + struct.pack("<Q", len(text)) + text + body))
    bad, rejected = unexpected_errors(mutants)
    assert not bad, f"{len(bad)} of {len(mutants)} mutants raised other errors:\n" + "\n".join(bad)
    assert rejected > 100


def test_load_deeply_nested_header_raises_value_error(model_file):
    _, body = split(model_file)
    text = b"[" * 100000 + b"]" * 100000
    with pytest.raises(ValueError):
        load_model(b"DROPNET\x00" + struct.pack("<Q", len(text)) + text + body)


def test_load_non_utf8_header_raises_value_error(model_file):
    _, body = split(model_file)
    text = b"\xff\xfe{}"
    with pytest.raises(ValueError):
        load_model(b"DROPNET\x00" + struct.pack("<Q", len(text)) + text + body)
