"""Batches from sources other than arrays: PyDataset/Sequence, generators and re-iterables
train bit for bit like the same batches cut from arrays; background threads and processes
fetch the same batches; memory-mapped inputs (float32 and uint8) train like their arrays in
memory and are checked per batch; a bad batch, a failing source or a source that runs out
raises a clear error and leaves the model usable; validation, evaluate and predict on
sources; Keras 2's *_generator methods; deferred builds; steps_per_epoch with arrays; and a
multi-input functional model fed from a generator."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import dropnet
from dropnet.layers import Concatenate, Dense, Dropout, Input
from dropnet.models import Model, Sequential
from dropnet.utils import PyDataset, Sequence

BS = 8
N = 40  # rows: five batches of BS


def model(seed=3, built=True):
    """A small classifier with dropout (so that the masks, drawn per step, matter)."""
    dropnet.set_random_seed(seed)
    layers = [Dense(8, activation="relu"), Dropout(0.5), Dense(1, activation="sigmoid")]
    net = Sequential(([Input((4,))] if built else []) + layers)
    net.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    return net


@pytest.fixture
def data(rng):
    x = rng.standard_normal((N, 4)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.float32)
    return x, y


def batch(arrays, i, size=BS):
    return tuple(a[i * size : (i + 1) * size] for a in arrays)


def batches(arrays, n=None):
    """A one-shot generator of the first n batches (all of them by default), in order."""
    for i in range((len(arrays[0]) + BS - 1) // BS if n is None else n):
        yield batch(arrays, i)


def forever(arrays):
    """A generator cycling through the batches in order, for ever."""
    while True:
        yield from batches(arrays)


class Batches(Sequence):
    """Batch i is rows [i*BS, (i+1)*BS); records the indices asked for and the epoch hooks."""

    def __init__(self, arrays, **kwargs):
        super().__init__(**kwargs)
        self.arrays = arrays
        self.asked: list[int] = []
        self.threads: set[int] = set()  # the threads that fetched batches
        self.epochs_begun = 0
        self.epochs_ended = 0

    def __len__(self):
        return (len(self.arrays[0]) + BS - 1) // BS

    def __getitem__(self, i):
        self.asked.append(i)
        self.threads.add(threading.get_ident())
        out = batch(self.arrays, i)
        return out if len(out) > 1 else out[0]

    def on_epoch_begin(self):
        self.epochs_begun += 1

    def on_epoch_end(self):
        self.epochs_ended += 1


class ReIterable:
    """A plain iterable (not an iterator, no __len__): a fresh generator on each iter()."""

    def __init__(self, arrays):
        self.arrays = arrays
        self.iterations = 0

    def __iter__(self):
        self.iterations += 1
        return batches(self.arrays)


def assert_same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb)
    for p, q in zip(wa, wb):
        np.testing.assert_array_equal(p, q)


def assert_weights_differ(a, b):
    assert any(not np.array_equal(p, q) for p, q in zip(a.get_weights(), b.get_weights()))


def assert_fits_again(net, data):
    """After an error, the model still trains on arrays: one epoch, five steps."""
    before = net.optimizer.iterations
    h = net.fit(*data, batch_size=BS, epochs=1, verbose=0)
    assert net.optimizer.iterations == before + N // BS
    assert h.epoch == [0] and np.isfinite(h.history["loss"][0])


def memmap(path, values):
    out = np.memmap(path, dtype=values.dtype, mode="w+", shape=values.shape)
    out[...] = values
    out.flush()
    del out
    return np.memmap(path, dtype=values.dtype, mode="r", shape=values.shape)


# ------------------------------------------------------------------ same bits as arrays
@pytest.mark.parametrize("kind", ["sequence", "generator", "reiterable"])
def test_source_trains_bitwise_like_arrays(data, kind):
    want = model()
    hw = want.fit(*data, batch_size=BS, epochs=3, shuffle=False, verbose=0)
    got = model()
    if kind == "sequence":
        source, extra = Batches(data), {}
    elif kind == "generator":
        source, extra = forever(data), {"steps_per_epoch": N // BS}
    else:
        source, extra = ReIterable(data), {}
    hg = got.fit(source, epochs=3, shuffle=False, verbose=0, **extra)
    assert_same_weights(want, got)
    assert dict(hg.history) == dict(hw.history)
    assert hg.epoch == [0, 1, 2]
    assert got.optimizer.iterations == want.optimizer.iterations == 15
    if kind == "reiterable":
        assert source.iterations == 3  # iterated afresh each epoch
    # the dropout masks matter: another seed trains to other weights
    other = model(seed=4)
    other.fit(*data, batch_size=BS, epochs=3, shuffle=False, verbose=0)
    assert_weights_differ(want, other)


def test_sequence_shuffle_trains_in_seeded_order(data):
    runs = []
    for _ in range(2):
        seq = Batches(data, workers=0)
        net = model()
        h = net.fit(seq, epochs=3, verbose=0)
        runs.append((net, seq, h))
    (a, sa, ha), (b, sb, hb) = runs
    assert sa.epochs_ended == 3 and sa.epochs_begun == 3
    assert len(sa.asked) == 15
    for e in range(3):
        assert sorted(sa.asked[5 * e : 5 * e + 5]) == [0, 1, 2, 3, 4]
    assert sa.asked != [0, 1, 2, 3, 4] * 3  # shuffled
    assert sa.asked == sb.asked
    assert_same_weights(a, b)
    assert dict(ha.history) == dict(hb.history)
    assert all(np.isfinite(v) for v in ha.history["loss"])
    assert a.optimizer.iterations == 15
    unshuffled = model()
    unshuffled.fit(Batches(data), epochs=3, shuffle=False, verbose=0)
    assert_weights_differ(a, unshuffled)
    assert_weights_differ(a, model())  # it trained


@pytest.mark.parametrize(
    "options",
    [
        {"workers": 2},
        {"workers": 2, "use_multiprocessing": True},
    ],
    ids=["threads", "processes"],
)
def test_pydataset_workers_fetch_the_same_batches(data, options):
    base = model()
    seq0 = Batches(data, workers=0)
    h0 = base.fit(seq0, epochs=2, shuffle=False, verbose=0)
    assert seq0.asked == [0, 1, 2, 3, 4] * 2
    other = model()
    seq = Batches(data, **options)
    assert isinstance(seq, PyDataset) and seq.workers == 2
    h = other.fit(seq, epochs=2, shuffle=False, verbose=0)
    assert seq0.threads == {threading.get_ident()}
    if not options.get("use_multiprocessing"):
        assert seq.threads and threading.get_ident() not in seq.threads
    assert_same_weights(base, other)
    assert dict(h.history) == dict(h0.history)
    assert seq.epochs_ended == 2


def test_fit_workers_argument_overrides_the_pydataset(data):
    main = threading.get_ident()
    a = model()
    in_training_thread = Batches(data, workers=2)
    a.fit(in_training_thread, epochs=2, shuffle=False, verbose=0, workers=0)
    assert in_training_thread.threads == {main}
    b = model()
    in_workers = Batches(data, workers=0)
    b.fit(in_workers, epochs=2, shuffle=False, verbose=0, workers=2)
    assert in_workers.threads and main not in in_workers.threads
    assert sorted(in_workers.asked) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert_same_weights(a, b)


# ------------------------------------------------------------------ memory maps
@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_memmap_trains_bitwise_like_arrays(data, rng, tmp_path, dtype):
    x, y = data
    if dtype == np.uint8:
        x = rng.integers(0, 256, size=x.shape).astype(np.uint8)
    mapped = memmap(tmp_path / "x.bin", x)
    assert isinstance(mapped, np.memmap) and mapped.dtype == dtype
    want = model()
    hw = want.fit(x.astype(np.float32), y, batch_size=BS, epochs=3, shuffle=True, verbose=0)
    got = model()
    hg = got.fit(mapped, y, batch_size=BS, epochs=3, shuffle=True, verbose=0)
    assert_same_weights(want, got)
    assert dict(hg.history) == dict(hw.history)
    np.testing.assert_array_equal(got.predict(mapped, verbose=0), got.predict(x, verbose=0))
    assert got.evaluate(mapped, y, verbose=0) == got.evaluate(x, y, verbose=0)


def test_memmap_with_nan_names_the_row(data, tmp_path):
    x, y = data
    bad = x.copy()
    bad[17, 2] = np.nan  # in the third batch
    mapped = memmap(tmp_path / "bad.bin", bad)
    net = model()
    with pytest.raises(ValueError, match=r"row 17\b"):
        net.fit(mapped, y, batch_size=BS, epochs=1, shuffle=False, verbose=0)
    assert net.optimizer.iterations == 2  # the two batches before it
    with pytest.raises(ValueError, match=r"row 17\b"):
        net.predict(mapped, verbose=0)
    with pytest.raises(ValueError, match=r"row 17\b"):
        net.evaluate(mapped, y, verbose=0)
    assert_fits_again(net, data)


def test_memmap_with_nan_in_validation_split_names_the_row_of_x(data, tmp_path):
    x, y = data
    bad = x.copy()
    bad[35, 1] = np.inf  # in the last quarter: the validation rows
    mapped = memmap(tmp_path / "bad.bin", bad)
    with pytest.raises(ValueError, match=r"row 35\b"):
        model().fit(mapped, y, batch_size=BS, validation_split=0.25, verbose=0)


def test_memmap_validation_split(data, tmp_path):
    x, y = data
    mapped = memmap(tmp_path / "x.bin", x)
    want = model()
    hw = want.fit(x, y, batch_size=BS, epochs=2, validation_split=0.25, verbose=0)
    got = model()
    hg = got.fit(mapped, y, batch_size=BS, epochs=2, validation_split=0.25, verbose=0)
    assert set(dict.keys(hg.history)) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert dict(hg.history) == dict(hw.history)
    assert_same_weights(want, got)
    assert got.optimizer.iterations == 2 * 4  # 30 training rows: four batches an epoch
    # the validation loss is that of the last quarter of the rows
    assert hg.history["val_loss"][-1] == pytest.approx(
        got.evaluate(x[30:], y[30:], verbose=0)[0], rel=1e-6
    )


# ------------------------------------------------------------------ errors
def test_generator_bad_shape_in_batch_2(data):
    def gen():
        for i, (xb, yb) in enumerate(forever(data)):
            yield (xb[:, :3] if i == 1 else xb), yb

    net = model()
    with pytest.raises(ValueError, match="batch 2") as info:
        net.fit(gen(), steps_per_epoch=5, verbose=0)
    assert "(None, 3)" in str(info.value)
    assert net.optimizer.iterations == 1
    assert_fits_again(net, data)


def test_generator_nan_in_batch_stops_after_completed_steps(data):
    def gen():
        for i, (xb, yb) in enumerate(forever(data)):
            if i == 7:  # the third batch of the second epoch
                xb = xb.copy()
                xb[3, 1] = np.nan
            yield xb, yb

    net = model()
    net.fit(*data, batch_size=BS, epochs=1, verbose=0)
    before = net.optimizer.iterations
    with pytest.raises(ValueError, match="NaN") as info:
        net.fit(gen(), steps_per_epoch=5, epochs=2, verbose=0)
    assert "batch 3 of epoch 2" in str(info.value)
    assert net.optimizer.iterations == before + 7
    assert net.history.epoch == [0] and len(net.history.history["loss"]) == 1
    assert_fits_again(net, data)


def test_generator_exception_propagates(data):
    def gen():
        for i, item in enumerate(forever(data)):
            if i == 2:
                raise RuntimeError("boom")
            yield item

    net = model()
    net.fit(*data, batch_size=BS, epochs=1, verbose=0)
    before = net.optimizer.iterations
    with pytest.raises(RuntimeError, match="^boom$"):
        net.fit(gen(), steps_per_epoch=5, verbose=0)
    assert net.optimizer.iterations == before + 2
    assert_fits_again(net, data)


@pytest.mark.parametrize("workers", [0, 2])
def test_sequence_exception_propagates(data, workers):
    class Failing(Batches):
        def __getitem__(self, i):
            if i == 3:
                raise KeyError("missing file")
            return super().__getitem__(i)

    net = model()
    with pytest.raises(KeyError, match="missing file"):
        net.fit(Failing(data, workers=workers), shuffle=False, verbose=0)
    assert net.optimizer.iterations == 3
    assert_fits_again(net, data)


def test_one_shot_generator_needs_steps_per_epoch_for_more_epochs(data):
    net = model()
    with pytest.raises(ValueError, match="steps_per_epoch"):
        net.fit(batches(data), epochs=2, verbose=0)
    assert net.optimizer.iterations == 5  # the first epoch ran
    assert net.history.epoch == [0]
    assert_fits_again(net, data)


def test_generator_running_out_before_steps_per_epoch(data):
    net = model()
    with pytest.raises(ValueError, match="ran out") as info:
        net.fit(batches(data), steps_per_epoch=7, verbose=0)
    assert "after 5 batch(es) of epoch 1" in str(info.value)
    assert net.optimizer.iterations == 5
    with pytest.raises(ValueError, match="ran out"):
        net.fit(batches(data), steps_per_epoch=3, epochs=2, verbose=0)
    assert_fits_again(net, data)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda net, d: net.fit(forever(d), d[1], steps_per_epoch=5, verbose=0), "y must not"),
        (
            lambda net, d: net.fit(forever(d), steps_per_epoch=5, validation_split=0.2, verbose=0),
            "validation_split",
        ),
        (lambda net, d: net.fit(Batches(d), steps_per_epoch=6, verbose=0), "steps_per_epoch=6"),
        (lambda net, d: net.fit(*d, workers=2, verbose=0), "workers"),
        (lambda net, d: net.fit(*d, use_multiprocessing=True, verbose=0), "use_multiprocessing"),
        (lambda net, d: net.evaluate(forever(d), d[1], steps=2, verbose=0), "y and sample_weight"),
        (lambda net, d: net.predict(d[0], workers=1, verbose=0), "workers"),
    ],
    ids=[
        "y-with-generator",
        "validation-split-with-generator",
        "steps-beyond-sequence",
        "workers-with-arrays",
        "multiprocessing-with-arrays",
        "evaluate-y-with-generator",
        "predict-workers-with-arrays",
    ],
)
def test_bad_arguments_with_sources(data, call, message):
    net = model()
    with pytest.raises(ValueError, match=message):
        call(net, data)
    assert net.optimizer.iterations == 0
    assert_fits_again(net, data)


def test_generator_yielding_x_alone_to_fit(data):
    net = model()
    with pytest.raises(ValueError, match="x alone"):
        net.fit((batch(data, i)[0] for i in range(5)), verbose=0)
    assert_fits_again(net, data)


def test_generator_yielding_a_long_tuple_names_the_batch_once(data):
    x, y = data
    with pytest.raises(ValueError, match="tuple of 4 items") as info:
        model().fit(((x[:8], y[:8], None, None) for _ in range(2)), verbose=0)
    assert str(info.value).count("batch 1 of epoch 1") == 1


def test_used_up_validation_generator_hints_validation_steps(data):
    with pytest.raises(ValueError, match="validation_steps"):
        model().fit(*data, epochs=2, validation_data=batches(data, 2), verbose=0)


# ------------------------------------------------------------------ validation
def test_validation_data_from_sources(data):
    x, y = data
    val = (x[:16], y[:16])
    want = model()
    hw = want.fit(x, y, batch_size=BS, epochs=3, validation_data=val, verbose=0)
    for source, extra in [
        (Batches(val), {}),
        (forever(val), {"validation_steps": 2}),
    ]:
        got = model()
        hg = got.fit(x, y, batch_size=BS, epochs=3, validation_data=source, verbose=0, **extra)
        assert_same_weights(want, got)
        assert hg.history["loss"] == hw.history["loss"]
        assert hg.history["val_accuracy"] == hw.history["val_accuracy"]
        np.testing.assert_allclose(hg.history["val_loss"], hw.history["val_loss"], rtol=1e-6)
    # validation_steps=1 validates on the first batch only
    got = model()
    hg = got.fit(x, y, batch_size=BS, validation_data=forever(val), validation_steps=1, verbose=0)
    assert hg.history["val_loss"][0] == pytest.approx(
        got.evaluate(x[:8], y[:8], verbose=0)[0], rel=1e-6
    )


@pytest.mark.parametrize("freq, validated", [(2, [1, 3]), ([1, 3], [0, 2])])
def test_validation_freq(data, freq, validated):
    x, y = data
    val = (x[:16], y[:16])
    every = model()
    he = every.fit(x, y, batch_size=BS, epochs=4, validation_data=val, verbose=0)
    some = model()
    hs = some.fit(
        x, y, batch_size=BS, epochs=4, validation_data=val, validation_freq=freq, verbose=0
    )
    assert hs.epoch == [0, 1, 2, 3]
    assert len(hs.history["loss"]) == 4
    assert len(hs.history["val_loss"]) == len(hs.history["val_accuracy"]) == 2
    assert hs.history["val_loss"] == [he.history["val_loss"][e] for e in validated]
    assert hs.history["loss"] == he.history["loss"]
    assert_same_weights(every, some)


def test_validation_freq_with_generator_validation(data):
    x, y = data
    val = (x[:16], y[:16])
    every = model()
    he = every.fit(x, y, batch_size=BS, epochs=4, validation_data=val, verbose=0)
    some = model()
    hs = some.fit(
        x,
        y,
        batch_size=BS,
        epochs=4,
        validation_data=forever(val),
        validation_steps=2,
        validation_freq=2,
        verbose=0,
    )
    assert len(hs.history["val_loss"]) == 2
    np.testing.assert_allclose(
        hs.history["val_loss"], [he.history["val_loss"][e] for e in (1, 3)], rtol=1e-6
    )


# ------------------------------------------------------------------ evaluate and predict
def test_evaluate_and_predict_on_sources_equal_arrays(data):
    x, y = data
    net = model()
    net.fit(x, y, batch_size=BS, epochs=2, verbose=0)
    loss, acc = net.evaluate(x, y, verbose=0)
    for source in (Batches(data), batches(data), Batches(data, workers=0)):
        got = net.evaluate(source, verbose=0)
        assert got[0] == pytest.approx(loss, rel=1e-6)
        assert got[1] == pytest.approx(acc, rel=1e-6)
    want = net.predict(x, verbose=0)
    assert want.shape == (N, 1)
    for source in (Batches(data), Batches((x,)), batches(data), batches((x,))):
        np.testing.assert_array_equal(net.predict(source, verbose=0), want)


def test_steps_limit_evaluate_and_predict(data):
    x, y = data
    net = model()
    got = net.predict(forever(data), steps=2, verbose=0)
    assert got.shape == (2 * BS, 1)
    np.testing.assert_array_equal(got, net.predict(x[: 2 * BS], verbose=0))
    loss = net.evaluate(forever(data), steps=2, verbose=0)[0]
    assert loss == pytest.approx(net.evaluate(x[:16], y[:16], verbose=0)[0], rel=1e-6)
    with pytest.raises(ValueError, match="ran out"):
        net.predict(batches(data), steps=6, verbose=0)


def test_keras2_generator_methods(data):
    x, y = data
    want = model()
    hw = want.fit(x, y, batch_size=BS, epochs=2, shuffle=False, verbose=0)
    got = model()
    hg = got.fit_generator(forever(data), steps_per_epoch=5, epochs=2, verbose=0)
    assert_same_weights(want, got)
    assert dict(hg.history) == dict(hw.history)
    got.fit_generator(Batches(data), epochs=1, shuffle=False, verbose=0)
    assert got.optimizer.iterations == 15
    loss, acc = got.evaluate(x, y, verbose=0)
    ev = got.evaluate_generator(forever(data), steps=5)
    assert ev[0] == pytest.approx(loss, rel=1e-6) and ev[1] == pytest.approx(acc, rel=1e-6)
    np.testing.assert_array_equal(
        got.predict_generator(Batches((x,)), workers=2), got.predict(x, verbose=0)
    )
    np.testing.assert_array_equal(
        got.predict_generator(forever((x,)), steps=3), got.predict(x[:24], verbose=0)
    )


# ------------------------------------------------------------------ building and arrays
@pytest.mark.parametrize("kind", ["generator", "sequence"])
def test_unbuilt_sequential_learns_input_shape_from_first_batch(data, kind):
    want = model()
    want.fit(*data, batch_size=BS, epochs=2, shuffle=False, verbose=0)
    net = model(built=False)
    assert not net.built
    source = forever(data) if kind == "generator" else Batches(data)
    net.fit(source, steps_per_epoch=5, epochs=2, shuffle=False, verbose=0)
    assert net.built
    assert net.input_shape == (None, 4) and net.output_shape == (None, 1)
    assert_same_weights(want, net)


def test_unbuilt_sequential_predicts_from_sources(data):
    x, _ = data
    net = model(built=False)
    out = net.predict(batches((x,)), verbose=0)
    assert net.built and out.shape == (N, 1)
    np.testing.assert_array_equal(out, model().predict(x, verbose=0))


@pytest.mark.parametrize("kind", ["arrays", "generator", "sequence"])
def test_unbuilt_sequential_evaluates(data, kind):
    x, y = data
    net = model(built=False)
    if kind == "arrays":
        got = net.evaluate(x, y, verbose=0)
    else:
        got = net.evaluate(batches(data) if kind == "generator" else Batches(data), verbose=0)
    assert net.built
    assert got == pytest.approx(model().evaluate(x, y, verbose=0), rel=1e-6)


def test_unbuilt_sequential_learns_input_shape_from_a_reiterable(data):
    want = model()
    want.fit(*data, batch_size=BS, epochs=2, shuffle=False, verbose=0)
    net = model(built=False)
    net.fit(ReIterable(data), epochs=2, shuffle=False, verbose=0)
    assert net.input_shape == (None, 4)
    assert_same_weights(want, net)


def test_steps_per_epoch_with_arrays(data):
    x, y = data
    net = model()
    h = net.fit(x, y, batch_size=10, steps_per_epoch=3, epochs=2, shuffle=False, verbose=0)
    assert net.optimizer.iterations == 6
    assert h.epoch == [0, 1]
    # three batches of ten: the first 30 rows each epoch
    want = model()
    hw = want.fit(x[:30], y[:30], batch_size=10, epochs=2, shuffle=False, verbose=0)
    assert_same_weights(want, net)
    assert dict(h.history) == dict(hw.history)
    with pytest.raises(ValueError, match="steps_per_epoch=5"):
        net.fit(x, y, batch_size=10, steps_per_epoch=5, verbose=0)
    assert net.optimizer.iterations == 6


def test_multi_input_model_from_generator(data):
    x, y = data
    x1, x2 = np.ascontiguousarray(x[:, :2]), np.ascontiguousarray(x[:, 2:])

    def build():
        dropnet.set_random_seed(5)
        a, b = dropnet.Input((2,)), dropnet.Input((2,))
        h = Dense(6, activation="relu")(Concatenate()([a, b]))
        out = Dense(1, activation="sigmoid")(Dropout(0.3)(h))
        net = Model([a, b], out)
        net.compile(loss="binary_crossentropy", optimizer="adam")
        return net

    def gen():
        while True:
            for i in range(5):
                x1b, x2b, yb = batch((x1, x2, y), i)
                yield [x1b, x2b], yb

    want = build()
    hw = want.fit([x1, x2], y, batch_size=BS, epochs=2, shuffle=False, verbose=0)
    got = build()
    hg = got.fit(gen(), steps_per_epoch=5, epochs=2, verbose=0)
    assert_same_weights(want, got)
    assert dict(hg.history) == dict(hw.history)
    np.testing.assert_array_equal(
        got.predict(gen(), steps=5, verbose=0), got.predict([x1, x2], verbose=0)
    )
    assert got.evaluate(gen(), steps=5, verbose=0) == pytest.approx(
        got.evaluate([x1, x2], y, verbose=0), rel=1e-6
    )
