"""Model files: save() writes nothing load_model refuses, and load_model checks everything
it reads with work bounded by the file: the signature and header before any tensor byte,
each tensor read once into its own array, non-finite values of a diverged run loaded with
a warning, optimizer state and compile settings checked field by field, a layer limit,
and no float overflow through set_weights."""

from __future__ import annotations

import copy
import io
import json
import os
import struct
import tracemalloc
import warnings

import numpy as np
import pytest

import dropnet
from dropnet import losses, optimizers, saving
from dropnet.layers import Activation, Dense, Input
from dropnet.models import Model, Sequential, load_model

BAD = "not a valid dropnet model file"


def split(raw: bytes):
    (hlen,) = struct.unpack("<Q", raw[8:16])
    return json.loads(raw[16 : 16 + hlen]), raw[16 + hlen :]


def join(header: dict, body: bytes = b"") -> bytes:
    text = json.dumps(header).encode()
    return b"DROPNET\x00" + struct.pack("<Q", len(text)) + text + body


def saved(model) -> bytes:
    buf = io.BytesIO()
    model.save(buf)
    return buf.getvalue()


def small_model(optimizer="adam", loss="mse", trained=True):
    dropnet.set_random_seed(0)
    model = Sequential([Input((3,)), Dense(4, activation="tanh", name="d1"), Dense(2, name="d2")])
    model.compile(optimizer=optimizer, loss=loss)
    if trained:
        rng = np.random.default_rng(0)
        model.train_on_batch(rng.standard_normal((8, 3)), rng.standard_normal((8, 2)))
    return model


class Counting:
    """A binary file object that only reads (no seek), counting the bytes it hands out; a
    read of unbounded size is an error (a loader must never ask for the whole source)."""

    def __init__(self, f):
        self.f = f
        self.given = 0

    def read(self, n=-1):
        assert n is not None and n >= 0, "read() of the whole source"
        data = self.f.read(n)
        self.given += len(data)
        return data


class CountingSeekable(Counting):
    def seekable(self):
        return True

    def tell(self):
        return self.f.tell()

    def seek(self, offset, whence=0):
        return self.f.seek(offset, whence)


# ------------------------------------------------------------------ 1. bounded reading
@pytest.fixture(scope="module")
def junk_2gb(tmp_path_factory):
    """A 2 GB sparse file whose first 16 bytes are not a model file's."""
    path = tmp_path_factory.mktemp("junk") / "junk.bin"
    with open(path, "wb") as f:
        f.write(b"NOT A MODEL FILE")
        f.truncate(2 * 2**30)
    return path


def test_a_2gb_junk_file_is_refused_after_its_first_16_bytes(junk_2gb):
    with open(junk_2gb, "rb") as f:
        source = Counting(f)
        with pytest.raises(ValueError, match="signature"):
            load_model(source)
    assert source.given < 2**20
    with pytest.raises(ValueError, match="signature"):
        load_model(junk_2gb)  # the path: opened, 16 bytes read, refused


def test_a_huge_header_length_or_a_wrong_tensor_table_is_refused_before_the_tensors(tmp_path):
    raw = saved(small_model())
    _header, body = split(raw)
    # The signature with a header length far beyond the file.
    path = tmp_path / "long_header.bin"
    with open(path, "wb") as f:
        f.write(raw[:8] + struct.pack("<Q", 2**40))
        f.truncate(2 * 2**30)
    with open(path, "rb") as f:
        source = Counting(f)
        with pytest.raises(ValueError, match="header length"):
            load_model(source)
    assert source.given == 16
    # A valid header and body followed by a gigabyte of zeros: the table does not tile the
    # file, found from its size before any tensor byte is read.
    path = tmp_path / "padded.dropnet"
    with open(path, "wb") as f:
        f.write(raw)
        f.truncate(len(raw) + 2**30)
    with pytest.raises(ValueError, match="trailing"):
        load_model(path)
    with open(path, "rb") as f:
        source = CountingSeekable(f)
        with pytest.raises(ValueError, match="trailing"):
            load_model(source)
    assert source.given == len(raw) - len(body)


def test_every_truncation_is_refused_with_value_error_reading_only_what_is_there(tmp_path):
    raw = saved(small_model())
    path = tmp_path / "cut.dropnet"
    odd = []
    for n in range(len(raw)):
        cut = raw[:n]
        path.write_bytes(cut)
        sources = [cut, bytearray(cut), io.BytesIO(cut), Counting(io.BytesIO(cut)), path]
        for source in sources:
            try:
                load_model(source)
                odd.append(f"{n} {type(source).__name__}: loaded")
            except ValueError:
                pass
            except Exception as exc:  # noqa: BLE001 - collected and reported together
                odd.append(f"{n} {type(source).__name__}: {type(exc).__name__}: {exc}")
    assert not odd, "\n".join(odd[:20])
    path.write_bytes(raw)
    for source in (raw, io.BytesIO(raw), Counting(io.BytesIO(raw)), path):
        load_model(source)
    longer = raw + b"\0"
    path.write_bytes(longer)
    for source in (longer, io.BytesIO(longer), Counting(io.BytesIO(longer)), path):
        with pytest.raises(ValueError, match="trailing"):
            load_model(source)


def test_loading_holds_each_tensor_once(tmp_path):
    """Peak memory (numpy's and Python's allocations) while loading a file is about the
    file's size: the tensors are read into their arrays, not first into one buffer."""
    dropnet.set_random_seed(0)
    model = Sequential([Input((1500,)), Dense(1500)])
    model.compile(optimizer="adam", loss="mse")
    model.train_on_batch(np.zeros((2, 1500), "float32"), np.zeros((2, 1500), "float32"))
    path = tmp_path / "mid.dropnet"
    model.save(path)
    want = model.get_weights()
    del model
    size = os.path.getsize(path)
    tracemalloc.start()
    try:
        loaded = load_model(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    for a, b in zip(want, loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert peak < 1.3 * size, f"peak {peak / size:.2f}x the file's size"


def test_load_weights_is_all_or_nothing():
    a, b = small_model(), small_model(trained=False)
    header, body = split(saved(a))
    before = b.get_weights()
    # the last weight's tensor has a shape the model does not have
    h = copy.deepcopy(header)
    last = next(e for e in h["tensors"] if e["name"] == "weights/3")
    last["shape"] = [1, 2]
    with pytest.raises(ValueError, match="weights/3"):
        b.load_weights(io.BytesIO(join(h, body)))
    for x, y in zip(before, b.get_weights()):
        np.testing.assert_array_equal(x, y)


def test_unknown_tensor_names_are_refused():
    header, body = split(saved(small_model()))
    header["tensors"][-1]["name"] = "extra/0"
    with pytest.raises(ValueError, match="unknown tensor"):
        load_model(join(header, body))


# ------------------------------------------------------------------ 2. non-finite values
def diverged_model():
    model = small_model()
    model.weights[0].value[0, 0] = np.nan
    model.weights[2].value[1, 1] = np.inf
    rng = np.random.default_rng(1)
    model.train_on_batch(rng.standard_normal((8, 3)), rng.standard_normal((8, 2)))
    return model


def test_a_diverged_model_saves_and_loads_with_one_warning_bitwise(tmp_path):
    model = diverged_model()
    assert not np.all(np.isfinite(model._slots[model.weights[0]][1]))
    path = tmp_path / "diverged.dropnet"
    model.save(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = load_model(path)
    assert len(caught) == 1 and caught[0].category is RuntimeWarning
    message = str(caught[0].message)
    assert "weights/0 (d1/kernel)" in message and "optimizer/0/1" in message
    assert "diverged" in message
    assert caught[0].filename == __file__
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a.view(np.uint32), b.view(np.uint32))
    for w, v in zip(model.weights, loaded.weights):
        for s, t in zip(model._slots[w], loaded._slots[v]):
            np.testing.assert_array_equal(s.view(np.uint32), t.view(np.uint32))
    fresh = small_model(trained=False)
    with pytest.warns(RuntimeWarning, match=r"weights/0 \(d1/kernel\)"):
        fresh.load_weights(path)
    assert np.isnan(fresh.get_weights()[0][0, 0])


# ------------------------------------------------------------------ 3. optimizer state
# (optimizer, slot index, whether its update rule keeps it >= 0: cpp/src/kernels/optim.cpp)
SLOTS = [
    (lambda: optimizers.SGD(0.1, momentum=0.9), 0, False),
    (lambda: optimizers.Adam(0.01), 0, False),
    (lambda: optimizers.Adam(0.01), 1, True),
    (lambda: optimizers.Adam(0.01, amsgrad=True), 2, True),
    (lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True), 0, True),
    (lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True), 1, False),
    (lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True), 2, False),
    (lambda: optimizers.Adagrad(0.1), 0, True),
    (lambda: optimizers.Adadelta(1.0), 0, True),
    (lambda: optimizers.Adadelta(1.0), 1, True),
    (lambda: optimizers.Adamax(0.01), 0, False),
    (lambda: optimizers.Adamax(0.01), 1, True),
    (lambda: optimizers.Nadam(0.01), 1, True),
    (lambda: optimizers.Lion(0.01), 0, False),
    (lambda: optimizers.Adam(0.01, use_ema=True), 2, False),  # the moving average
    (lambda: optimizers.Adagrad(0.1, use_ema=True), 1, False),
]


@pytest.mark.parametrize(("make", "j", "never_negative"), SLOTS)
def test_a_negative_value_in_a_slot_that_is_never_negative_is_refused(make, j, never_negative):
    model = small_model(make())
    header, body = split(saved(model))
    entry = next(e for e in header["tensors"] if e["name"] == f"optimizer/0/{j}")
    body = bytearray(body)
    body[entry["offset"] : entry["offset"] + 4] = np.float32(-0.5).tobytes()
    raw = join(header, bytes(body))
    if never_negative:
        name = type(model.optimizer).__name__
        with pytest.raises(ValueError, match=rf"{BAD}: tensor optimizer/0/{j}, the {name}"):
            load_model(raw)
    else:
        assert load_model(raw)._slots  # a signed slot may hold anything finite
    assert len(model.optimizer._slot_kinds()) == model.optimizer.n_slots


# ------------------------------------------------------------------ 4. compile settings
def edited(raw: bytes, change) -> bytes:
    header, body = split(raw)
    header = copy.deepcopy(header)
    change(header)
    return join(header, body)


def set_compile(key, value):
    def change(h):
        h["compile"][key] = value

    return change


def test_from_logits_must_be_a_boolean_that_fits_the_loss():
    raw = saved(small_model(loss="mse"))
    for value in (1, 0, "yes", None, [True]):
        with pytest.raises(ValueError, match=f"{BAD}: .*from_logits"):
            load_model(edited(raw, set_compile("from_logits", value)))
    with pytest.raises(ValueError, match=f"{BAD}: .*from_logits is true for mean_squared_error"):
        load_model(edited(raw, set_compile("from_logits", True)))
    logits = small_model(loss=losses.BinaryCrossentropy(from_logits=True))
    loaded = load_model(saved(logits))
    assert loaded._from_logits
    loaded.pop()  # the heads are resolved again for the new output: still from logits
    loaded.add(Dense(2, name="d3"))
    assert loaded._from_logits


def test_from_logits_is_applied_per_output_exactly_as_stored():
    a = Input((3,))
    model = Model(a, [Dense(1, name="p")(a), Dense(2, name="q")(a)])
    model.compile(
        optimizer="sgd",
        loss=[losses.BinaryCrossentropy(), losses.CategoricalCrossentropy(from_logits=True)],
    )
    raw = saved(model)
    # the same settings listed in another order: output 0 stays false, output 1 true
    loaded = load_model(edited(raw, lambda h: h["compile"]["losses"].reverse()))
    assert {h.output: h.from_logits for h in loaded._heads} == {0: False, 1: True}


def test_iterations_must_be_an_int_from_0_to_2_53():
    raw = saved(small_model())
    for value in (2**63, 2**53 + 1, -1, True, 3.0, "3", None):
        with pytest.raises(ValueError, match=f"{BAD}: .*iterations"):
            load_model(edited(raw, set_compile("iterations", value)))
    assert load_model(edited(raw, set_compile("iterations", 2**53))).optimizer.iterations == 2**53
    opt = optimizers.Adam()
    with pytest.raises(ValueError, match="iterations"):
        opt.iterations = 2**63  # refused where it is set, so save never writes it
    with pytest.raises(TypeError, match="iterations"):
        opt.iterations = 1.5


def test_compile_settings_of_the_wrong_json_type_are_bad_files():
    raw = saved(small_model(loss="categorical_crossentropy"))
    a = Input((3,))
    two = Model(a, [Dense(1, name="p")(a), Dense(2, name="q")(a)])
    two.compile(optimizer="sgd", loss=["mse", "categorical_crossentropy"], loss_weights=[1, 0.5])
    raw2 = saved(two)

    def opt_config(value):
        return lambda h: h["compile"]["optimizer"].update(config=value)

    def lr(value):
        return lambda h: h["compile"]["optimizer"]["config"].update(learning_rate=value)

    def head(key, value):
        return lambda h: h["compile"]["losses"][0].update({key: value})

    cases = {
        "optimizer": (raw, set_compile("optimizer", "adam")),
        "optimizer ": (raw, set_compile("optimizer", [1])),
        "optimizer  ": (raw, opt_config([1])),
        "optimizer   ": (raw, opt_config("x")),
        "learning_rate": (raw, lr({"class_name": "Foo", "config": {}})),
        "learning_rate ": (raw, lr({"class_name": "ExponentialDecay"})),
        "learning_rate  ": (raw, lr({"class_name": ["x"], "config": {}})),
        "learning_rate   ": (raw, lr({"class_name": "InverseTimeDecay", "config": [1]})),
        "metrics": (raw, set_compile("metrics", "accuracy")),
        "metrics ": (raw, set_compile("metrics", [["accuracy"]])),
        "loss": (raw, set_compile("loss", 3)),
        "loss ": (raw, set_compile("loss", ["mse"])),
        "loss  ": (raw, set_compile("loss", {"dense": "mse"})),
        "weight": (raw2, head("weight", float("nan"))),
        "weight ": (raw2, head("weight", -1)),
        "weight  ": (raw2, head("weight", "1")),
        "two losses for output 1": (raw2, head("output", 1)),
        "metrics   ": (raw2, head("metrics", "mae")),
        "loss   ": (raw2, head("loss", None)),
        "losses": (raw2, set_compile("losses", "mse")),
    }
    wrong = []
    for word, (base, change) in cases.items():
        try:
            load_model(edited(base, change))
            wrong.append(f"{word.strip()}: loaded")
        except ValueError as exc:
            if not str(exc).startswith(BAD) or word.strip() not in str(exc):
                wrong.append(f"{word.strip()}: {exc}")
        except Exception as exc:  # noqa: BLE001 - collected and reported together
            wrong.append(f"{word.strip()}: {type(exc).__name__}: {exc}")
    assert not wrong, "\n".join(wrong)


def test_a_model_with_several_outputs_and_no_loss_loads_back():
    a = Input((3,))
    model = Model(a, [Dense(1)(a), Dense(2)(a)])
    model.compile(optimizer="adam")
    loaded = load_model(saved(model))
    assert loaded.compiled and not loaded._heads


# ------------------------------------------------------------------ 5. layer count
def sequential_file(n: int) -> bytes:
    layers = [
        {"class_name": "Activation", "config": {"activation": "linear", "name": f"a{i}"}}
        for i in range(n)
    ]
    config = {"name": "deep", "input_shape": [3], "dtype": None, "layers": layers}
    return join(
        {
            "format": "dropnet",
            "format_version": 1,
            "weights_only": False,
            "model": {"class_name": "Sequential", "config": config},
            "compile": None,
            "tensors": [],
        }
    )


def test_a_file_of_300000_layers_is_refused_before_any_layer_is_made(monkeypatch):
    made = []
    original = Activation.from_config.__func__

    def counting(cls, config):
        made.append(1)
        return original(cls, config)

    monkeypatch.setattr(Activation, "from_config", classmethod(counting))
    with pytest.raises(ValueError, match=f"{BAD}: .*300000 layers"):
        load_model(sequential_file(300_000))
    assert not made
    assert saving.MAX_LAYERS == 32_767


def test_a_deep_chain_loads_and_predicts():
    """1,200 layers in a chain (within the limit, beyond Python's recursion limit): the
    graph is walked without recursion, so the model loads and predicts."""
    layers = [{"class_name": "InputLayer", "config": {"shape": [3], "name": "x"}}]
    layers += [{"class_name": "Activation", "config": {"activation": "linear"}}] * 1200
    nodes = [{"layer": i + 1, "inputs": [[i, 0]]} for i in range(1200)]
    config = {
        "name": "chain",
        "layers": layers,
        "nodes": nodes,
        "inputs": [[0, 0]],
        "outputs": [[1200, 0]],
        "input_keys": None,
        "output_keys": None,
    }
    header = {
        "format": "dropnet",
        "format_version": 1,
        "weights_only": False,
        "model": {"class_name": "Functional", "config": config},
        "compile": None,
        "tensors": [],
    }
    for raw in (join(header), sequential_file(1200)):
        model = load_model(raw)
        np.testing.assert_array_equal(model.predict(np.ones((2, 3)), verbose=0), np.ones((2, 3)))


def test_save_refuses_a_model_beyond_the_layer_limit(monkeypatch):
    model = small_model()
    monkeypatch.setattr(saving, "MAX_LAYERS", 1)
    buf = io.BytesIO()
    with pytest.raises(ValueError, match="at most 1 layers"):
        model.save(buf)
    assert buf.getvalue() == b""


# ------------------------------------------------------------------ 6. overflow
def test_set_weights_refuses_a_finite_value_beyond_float32():
    model = small_model()
    before = model.get_weights()
    new = [w.astype(np.float64) for w in before]
    new[2][0, 0] = 1e39
    with pytest.raises(ValueError, match=r"d2/kernel.*1e\+39.*3\.40282e\+38"):
        model.set_weights(new)
    with pytest.raises(ValueError, match="beyond float32"):
        model.weights[0].assign(np.full((3, 4), -1e300))
    with pytest.raises(ValueError, match="NaN"):
        model.weights[0].assign(np.full((3, 4), np.nan))
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    model.weights[0].assign(np.full((3, 4), 3.4e38))  # the largest float32s still fit
    wide = Sequential([Input((3,), dtype="float64"), Dense(2)])
    wide.weights[0].assign(np.full((3, 2), 1e39))
    assert wide.get_weights()[0][0, 0] == 1e39


def test_load_weights_refuses_float64_values_beyond_a_float32_model():
    wide = Sequential([Input((3,), dtype="float64"), Dense(2)])
    wide.weights[0].value[0, 0] = 1e39
    buf = io.BytesIO()
    wide.save_weights(buf)
    narrow = Sequential([Input((3,)), Dense(2)])
    before = narrow.get_weights()
    with pytest.raises(ValueError, match=r"weights/0.*beyond float32"):
        narrow.load_weights(io.BytesIO(buf.getvalue()))
    for a, b in zip(before, narrow.get_weights()):
        np.testing.assert_array_equal(a, b)
