"""Callbacks inside the epoch: batch hooks of training, validation, evaluate and predict with
Keras's logs (running means over the epoch so far); LambdaCallback; stop_training from a
batch hook; learning-rate changes from callbacks (attribute, backend.set_value, assign)
taking effect from the next step; ReduceLROnPlateau; predict and evaluate called from inside
a callback; exceptions raised by callbacks; and the progress output, printed to a pipe and
drawn live on a terminal."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import dropnet
from dropnet import backend, callbacks, optimizers
from dropnet.layers import Dense, Dropout, Input
from dropnet.models import Sequential

BS = 8
N = 40  # rows: five batches of BS


def model(seed=3, dropout=0.5, optimizer="adam"):
    dropnet.set_random_seed(seed)
    layers = [Input((4,)), Dense(8, activation="relu")]
    if dropout:
        layers.append(Dropout(dropout))
    net = Sequential(layers + [Dense(1, activation="sigmoid")])
    net.compile(loss="binary_crossentropy", optimizer=optimizer, metrics=["accuracy"])
    return net


@pytest.fixture
def data(rng):
    x = rng.standard_normal((N, 4)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.float32)
    return x, y


def assert_same_weights(a, b):
    for p, q in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(p, q)


class Batches(callbacks.Callback):
    """Records every hook it overrides, with a copy of the logs."""

    def __init__(self):
        super().__init__()
        self.events = []

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(("epoch_begin", epoch))

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(("epoch_end", epoch, dict(logs)))

    def on_train_batch_begin(self, batch, logs=None):
        self.events.append(("batch_begin", batch))

    def on_train_batch_end(self, batch, logs=None):
        self.events.append(("batch_end", batch, dict(logs)))


class Inference(callbacks.Callback):
    """Records the test and predict hooks."""

    def __init__(self):
        super().__init__()
        self.events = []

    def on_test_begin(self, logs=None):
        self.events.append(("test_begin",))

    def on_test_end(self, logs=None):
        self.events.append(("test_end", dict(logs)))

    def on_test_batch_begin(self, batch, logs=None):
        self.events.append(("test_batch_begin", batch))

    def on_test_batch_end(self, batch, logs=None):
        self.events.append(("test_batch_end", batch, dict(logs)))

    def on_predict_begin(self, logs=None):
        self.events.append(("predict_begin",))

    def on_predict_end(self, logs=None):
        self.events.append(("predict_end",))

    def on_predict_batch_begin(self, batch, logs=None):
        self.events.append(("predict_batch_begin", batch))

    def on_predict_batch_end(self, batch, logs=None):
        self.events.append(("predict_batch_end", batch))

    def named(self, name):
        return [e for e in self.events if e[0] == name]


def names(events):
    """The hooks called, with the batch number for batch hooks."""
    return [e[:2] if "batch" in e[0] else e[:1] for e in events]


# ------------------------------------------------------------------ batch hooks
def test_train_batch_hooks_see_each_batch_in_order(data):
    rec = Batches()
    net = model()
    h = net.fit(*data, batch_size=BS, epochs=2, verbose=0, callbacks=[rec])
    expected = []
    for epoch in range(2):
        expected.append(("epoch_begin", epoch))
        for b in range(5):
            expected += [("batch_begin", b), ("batch_end", b)]
        expected.append(("epoch_end", epoch))
    assert [e[:2] for e in rec.events] == expected
    ends = [e for e in rec.events if e[0] == "batch_end"]
    assert all(set(e[2]) == {"loss", "accuracy"} for e in ends)
    for epoch in range(2):
        last = ends[5 * epoch + 4][2]
        assert last["loss"] == pytest.approx(h.history["loss"][epoch], rel=1e-9)
        assert last["accuracy"] == pytest.approx(h.history["accuracy"][epoch], rel=1e-9)
        epoch_end = [e for e in rec.events if e[0] == "epoch_end"][epoch][2]
        assert epoch_end["loss"] == h.history["loss"][epoch]


def test_train_batch_logs_are_running_means(data):
    """With learning rate 0 and no dropout, each batch's training loss is the model's loss on
    that batch; the logs hold the mean over the rows of the epoch so far (a short last
    batch counts for its rows, as in Keras)."""
    x, y = data
    x, y = np.concatenate([x, x[:2]]), np.concatenate([y, y[:2]])  # 42 rows: last batch of 2
    rec = Batches()
    net = model(dropout=0, optimizer=optimizers.SGD(0.0))
    h = net.fit(x, y, batch_size=BS, epochs=1, shuffle=False, verbose=0, callbacks=[rec])
    logged = [e[2]["loss"] for e in rec.events if e[0] == "batch_end"]
    assert len(logged) == 6
    per_batch = [net.evaluate(x[i : i + BS], y[i : i + BS], verbose=0)[0] for i in range(0, 42, BS)]
    rows = [min(BS, 42 - i) for i in range(0, 42, BS)]
    running = np.cumsum(np.multiply(per_batch, rows)) / np.cumsum(rows)
    np.testing.assert_allclose(logged, running, rtol=1e-9)
    assert logged[-1] == pytest.approx(h.history["loss"][0], rel=1e-9)
    assert logged[-1] != pytest.approx(np.mean(per_batch), rel=1e-6)  # weighted by rows


def test_keras2_batch_hooks_run(data):
    seen = []

    class Keras2(callbacks.Callback):
        def on_batch_begin(self, batch, logs=None):
            seen.append(("begin", batch))

        def on_batch_end(self, batch, logs=None):
            seen.append(("end", batch, logs["loss"]))

    h = model().fit(*data, batch_size=BS, epochs=2, verbose=0, callbacks=[Keras2()])
    assert [s[:2] for s in seen] == [
        (k, b) for _ in range(2) for b in range(5) for k in ("begin", "end")
    ]
    assert seen[9][2] == pytest.approx(h.history["loss"][0], rel=1e-9)
    assert seen[19][2] == pytest.approx(h.history["loss"][1], rel=1e-9)


def test_test_batch_hooks_run_only_with_validation(data):
    x, y = data
    rec = Inference()
    model().fit(x, y, batch_size=BS, epochs=2, verbose=0, callbacks=[rec])
    assert rec.events == []
    rec = Inference()
    h = model().fit(
        x,
        y,
        batch_size=BS,
        epochs=2,
        validation_data=(x[:20], y[:20]),
        validation_batch_size=6,
        verbose=0,
        callbacks=[rec],
    )
    per_epoch = [("test_begin",)]
    for b in range(4):  # 20 rows in batches of 6
        per_epoch += [("test_batch_begin", b), ("test_batch_end", b)]
    per_epoch.append(("test_end",))
    assert names(rec.events) == per_epoch * 2
    ends = rec.named("test_end")
    for epoch, end in enumerate(ends):
        assert end[1]["loss"] == pytest.approx(h.history["val_loss"][epoch], rel=1e-9)
    last_batches = [e for e in rec.named("test_batch_end") if e[1] == 3]
    for epoch, e in enumerate(last_batches):
        assert e[2]["loss"] == pytest.approx(h.history["val_loss"][epoch], rel=1e-9)
    assert not rec.named("predict_begin")


def test_validation_split_with_test_batch_hooks_counts_batches(data):
    x, y = data
    rec = Inference()
    model().fit(
        x,
        y,
        batch_size=4,
        epochs=1,
        validation_split=0.25,  # ten rows
        validation_batch_size=3,
        verbose=0,
        callbacks=[rec],
    )
    assert [e[1] for e in rec.named("test_batch_end")] == [0, 1, 2, 3]
    rec = Inference()
    model().fit(x, y, batch_size=4, epochs=1, validation_split=0.25, verbose=0, callbacks=[rec])
    assert [e[1] for e in rec.named("test_batch_end")] == [0, 1, 2]  # batch_size by default


def test_evaluate_and_predict_batch_hooks(data):
    x, y = data
    net = model()
    rec = Inference()
    loss, _ = net.evaluate(x, y, batch_size=16, verbose=0, callbacks=[rec])
    assert names(rec.events) == [
        ("test_begin",),
        ("test_batch_begin", 0),
        ("test_batch_end", 0),
        ("test_batch_begin", 1),
        ("test_batch_end", 1),
        ("test_batch_begin", 2),
        ("test_batch_end", 2),
        ("test_end",),
    ]
    assert rec.events[-1][1]["loss"] == pytest.approx(loss, rel=1e-9)
    assert rec.events[2][2]["loss"] == pytest.approx(
        net.evaluate(x[:16], y[:16], verbose=0)[0], rel=1e-6
    )
    rec = Inference()
    out = net.predict(x, batch_size=16, verbose=0, callbacks=[rec])
    np.testing.assert_array_equal(out, net.predict(x, verbose=0))
    assert names(rec.events) == [
        ("predict_begin",),
        ("predict_batch_begin", 0),
        ("predict_batch_end", 0),
        ("predict_batch_begin", 1),
        ("predict_batch_end", 1),
        ("predict_batch_begin", 2),
        ("predict_batch_end", 2),
        ("predict_end",),
    ]


def test_batch_hooks_do_not_change_training(data):
    a = model()
    ha = a.fit(*data, batch_size=BS, epochs=3, validation_split=0.2, verbose=0)
    b = model()
    hb = b.fit(
        *data,
        batch_size=BS,
        epochs=3,
        validation_split=0.2,
        verbose=0,
        callbacks=[Batches(), Inference()],
    )
    assert_same_weights(a, b)
    assert hb.history["loss"] == ha.history["loss"]
    np.testing.assert_allclose(hb.history["val_loss"], ha.history["val_loss"], rtol=1e-6)


# ------------------------------------------------------------------ LambdaCallback
def test_lambda_callback(data):
    events = []
    cb = callbacks.LambdaCallback(
        on_train_begin=lambda logs: events.append("train_begin"),
        on_epoch_end=lambda epoch, logs: events.append(("epoch_end", epoch, logs["loss"])),
        on_batch_end=lambda batch, logs: events.append(("batch_end", batch)),
    )
    h = model().fit(*data, batch_size=BS, epochs=2, verbose=0, callbacks=[cb])
    expected = ["train_begin"]
    for epoch in range(2):
        expected += [("batch_end", b) for b in range(5)]
        expected.append(("epoch_end", epoch, h.history["loss"][epoch]))
    assert events == expected


def test_lambda_callback_rejects_bad_arguments():
    with pytest.raises(TypeError, match="on_foo"):
        callbacks.LambdaCallback(on_foo=lambda *a: None)
    with pytest.raises(TypeError, match="unexpected"):
        callbacks.LambdaCallback(epoch_end=lambda *a: None)
    with pytest.raises(TypeError, match="callable"):
        callbacks.LambdaCallback(on_epoch_end=3)


# ------------------------------------------------------------------ stop_training
def test_stop_training_from_batch_hook(data):
    class Stop(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 2:
                self.model.stop_training = True

    rec = Batches()
    net = model()
    h = net.fit(*data, batch_size=BS, epochs=4, verbose=0, callbacks=[Stop(), rec])
    assert net.optimizer.iterations == 3
    assert h.epoch == [0] and len(h.history["loss"]) == 1
    assert [e[1] for e in rec.events if e[0] == "batch_end"] == [0, 1, 2]
    third = [e for e in rec.events if e[0] == "batch_end"][2][2]
    assert h.history["loss"][0] == pytest.approx(third["loss"], rel=1e-9)
    # the model trains again afterwards
    net.fit(*data, batch_size=BS, epochs=1, verbose=0)
    assert net.optimizer.iterations == 8


# ------------------------------------------------------------------ learning rate
@pytest.mark.parametrize("how", ["attribute", "set_value", "assign"])
def test_learning_rate_change_in_batch_hook_takes_effect_next_step(data, how):
    x, y = data

    class Freeze(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch != 0:
                return
            opt = self.model.optimizer
            if how == "attribute":
                opt.learning_rate = 0.0
            elif how == "set_value":
                backend.set_value(opt.lr, 0.0)
            else:
                opt.learning_rate.assign(0.0)

    one = model(optimizer=optimizers.SGD(0.1))
    one.fit(x[:8], y[:8], batch_size=BS, shuffle=False, verbose=0)
    three = model(optimizer=optimizers.SGD(0.1))
    three.fit(x[:24], y[:24], batch_size=BS, shuffle=False, verbose=0)
    frozen = model(optimizer=optimizers.SGD(0.1))
    frozen.fit(x[:24], y[:24], batch_size=BS, shuffle=False, verbose=0, callbacks=[Freeze()])
    assert frozen.optimizer.iterations == 3
    assert_same_weights(one, frozen)
    assert any(not np.array_equal(p, q) for p, q in zip(one.get_weights(), three.get_weights()))
    value = backend.get_value(frozen.optimizer.lr)
    assert value.dtype == np.float32 and value == 0.0


def test_backend_get_value_of_learning_rate():
    net = model(optimizer=optimizers.SGD(0.1))
    value = backend.get_value(net.optimizer.lr)
    assert isinstance(value, np.ndarray) and value.dtype == np.float32 and value.shape == ()
    assert value == np.float32(0.1)
    backend.set_value(net.optimizer.learning_rate, 0.25)
    assert net.optimizer.learning_rate == 0.25
    assert backend.get_value(net.optimizer.learning_rate) == np.float32(0.25)
    with pytest.raises(TypeError):
        backend.set_value(0.5, 0.1)


class LearningRates(callbacks.Callback):
    """The rate each epoch trains with."""

    def __init__(self):
        super().__init__()
        self.rates = []

    def on_epoch_begin(self, epoch, logs=None):
        self.rates.append(float(self.model.optimizer.learning_rate))


def plateau_fit(data, epochs, **kwargs):
    rates = LearningRates()
    net = model(dropout=0, optimizer=optimizers.SGD(0.1))
    reduce = callbacks.ReduceLROnPlateau(monitor="loss", min_delta=100, **kwargs)
    h = net.fit(*data, batch_size=BS, epochs=epochs, verbose=0, callbacks=[reduce, rates])
    return net, h, rates.rates


def test_reduce_lr_on_plateau_halves_the_rate(data):
    net, h, rates = plateau_fit(data, 5, patience=1, factor=0.5)
    # epoch 1 sets the best; no later epoch improves by 100, so each halves the rate
    assert rates == pytest.approx([0.1, 0.1, 0.05, 0.025, 0.0125], rel=1e-12)
    assert h.history["learning_rate"] == rates
    assert float(net.optimizer.learning_rate) == pytest.approx(0.00625, rel=1e-12)


def test_reduce_lr_on_plateau_rate_reaches_the_core(data):
    x, y = data
    _, _, rates = plateau_fit((x, y), 3, patience=1, factor=0.5)
    assert rates == pytest.approx([0.1, 0.1, 0.05])
    want = model(dropout=0, optimizer=optimizers.SGD(0.1))
    want.fit(x, y, batch_size=BS, epochs=2, shuffle=False, verbose=0)
    want.optimizer.learning_rate = 0.05
    want.fit(x, y, batch_size=BS, epochs=3, initial_epoch=2, shuffle=False, verbose=0)
    got = model(dropout=0, optimizer=optimizers.SGD(0.1))
    reduce = callbacks.ReduceLROnPlateau(monitor="loss", patience=1, factor=0.5, min_delta=100)
    got.fit(x, y, batch_size=BS, epochs=3, shuffle=False, verbose=0, callbacks=[reduce])
    assert_same_weights(want, got)


def test_reduce_lr_on_plateau_min_lr(data):
    _, h, rates = plateau_fit(data, 6, patience=1, factor=0.5, min_lr=0.03)
    assert rates == pytest.approx([0.1, 0.1, 0.05, 0.03, 0.03, 0.03], rel=1e-12)
    assert h.history["learning_rate"] == rates


@pytest.mark.parametrize(
    "patience, cooldown, expected",
    [
        # a reduction, then `cooldown` epochs in which no reduction can happen and the wait
        # restarts; patience counts the epochs after the cooldown
        (1, 2, [0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125, 0.0125]),
        (2, 1, [0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125]),
        (1, 0, [0.1, 0.1, 0.05, 0.025, 0.0125, 0.00625, 0.003125, 0.0015625]),
    ],
)
def test_reduce_lr_on_plateau_cooldown(data, patience, cooldown, expected):
    _, h, rates = plateau_fit(data, 8, patience=patience, factor=0.5, cooldown=cooldown)
    assert rates == pytest.approx(expected, rel=1e-12)
    assert h.history["learning_rate"] == rates


@pytest.mark.parametrize("factor", [1.0, 2.0, -0.5])
def test_reduce_lr_on_plateau_bad_factor(factor):
    with pytest.raises(ValueError, match="factor"):
        callbacks.ReduceLROnPlateau(factor=factor)


def test_reduce_lr_on_plateau_missing_metric_leaves_rate(data, capsys):
    net = model(dropout=0, optimizer=optimizers.SGD(0.1))
    reduce = callbacks.ReduceLROnPlateau(monitor="val_loss", patience=1, factor=0.5)
    h = net.fit(*data, batch_size=BS, epochs=3, verbose=0, callbacks=[reduce])
    assert float(net.optimizer.learning_rate) == 0.1
    assert h.history["learning_rate"] == [0.1, 0.1, 0.1]
    assert "'val_loss' is not available" in capsys.readouterr().err


# ------------------------------------------------------------------ re-entrant calls
def run_with_timeout(fn, seconds=60):
    """Runs fn in a thread; fails (rather than hanging) if it does not finish."""
    result = {}

    def target():
        try:
            result["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "deadlock: the call did not finish"
    if "error" in result:
        raise result["error"]
    return result["value"]


@pytest.mark.parametrize("source", ["arrays", "generator"])
def test_predict_and_evaluate_inside_callbacks(data, source):
    x, y = data

    class Nested(callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.calls = []

        def look(self):
            self.calls.append(
                (self.model.predict(x, verbose=0), self.model.evaluate(x, y, verbose=0))
            )

        def on_train_batch_end(self, batch, logs=None):
            self.look()

        def on_epoch_end(self, epoch, logs=None):
            self.look()

    def gen():
        while True:
            for i in range(0, N, BS):
                yield x[i : i + BS], y[i : i + BS]

    def fit(net, cbs):
        if source == "arrays":
            return net.fit(
                x,
                y,
                batch_size=BS,
                epochs=2,
                shuffle=False,
                validation_data=(x[:16], y[:16]),
                verbose=0,
                callbacks=cbs,
            )
        return net.fit(gen(), steps_per_epoch=5, epochs=2, verbose=0, callbacks=cbs)

    plain = model()
    hp = fit(plain, [])
    nested = Nested()
    net = model()
    hn = run_with_timeout(lambda: fit(net, [nested]))
    assert_same_weights(plain, net)
    assert dict(hn.history) == dict(hp.history)
    assert len(nested.calls) == 2 * (5 + 1)
    out, (loss, _) = nested.calls[-1]
    np.testing.assert_array_equal(out, net.predict(x, verbose=0))
    assert loss == net.evaluate(x, y, verbose=0)[0]


# ------------------------------------------------------------------ exceptions
def test_exception_in_on_epoch_end_propagates(data):
    class Fail(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyError("bad epoch")

    net = model()
    with pytest.raises(KeyError, match="bad epoch"):
        net.fit(*data, batch_size=BS, epochs=4, verbose=0, callbacks=[Fail()])
    assert net.optimizer.iterations == 10  # the second epoch trained, then its hook raised
    assert net.history.epoch == [0]
    want = model()
    hw = want.fit(*data, batch_size=BS, epochs=1, verbose=0)
    assert net.history.history["loss"] == hw.history["loss"]
    h = net.fit(*data, batch_size=BS, epochs=1, verbose=0)
    assert h.epoch == [0] and net.optimizer.iterations == 15
    assert net.history is h


def test_exception_in_batch_hook_propagates(data):
    class Fail(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                raise RuntimeError("bad batch")

    net = model()
    with pytest.raises(RuntimeError, match="bad batch"):
        net.fit(*data, batch_size=BS, epochs=2, verbose=0, callbacks=[Fail()])
    assert net.optimizer.iterations == 2
    assert net.history.epoch == []
    net.fit(*data, batch_size=BS, epochs=1, verbose=0)
    assert net.optimizer.iterations == 7


# ------------------------------------------------------------------ progress output
def lines(out):
    return [line for line in out.splitlines() if line]


def test_progress_verbose_1_to_a_pipe(data, capsys):
    model().fit(*data, batch_size=BS, epochs=3, verbose=1)
    out = lines(capsys.readouterr().out)
    assert [line for line in out if line.startswith("Epoch")] == [
        "Epoch 1/3",
        "Epoch 2/3",
        "Epoch 3/3",
    ]
    bars = [line for line in out if "━" in line]
    assert len(bars) == 3 and len(out) == 6
    assert all(line.startswith("5/5 ") and "loss:" in line for line in bars)
    assert "\r" not in "".join(out)


def test_progress_verbose_2(data, capsys):
    h = model().fit(*data, batch_size=BS, epochs=3, verbose=2)
    out = lines(capsys.readouterr().out)
    assert len(out) == 6
    per_epoch = out[1::2]
    assert all(line.startswith("5/5 - ") and "━" not in line for line in per_epoch)
    for line, loss in zip(per_epoch, h.history["loss"]):
        assert f"loss: {loss:.4f}" in line


def test_progress_verbose_0_prints_nothing(data, capsys):
    net = model()
    net.fit(*data, batch_size=BS, epochs=2, verbose=0, validation_split=0.2)
    net.evaluate(*data, verbose=0)
    net.predict(data[0], verbose=0)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_progress_evaluate_and_predict(data, capsys):
    net = model()
    loss, _ = net.evaluate(*data, verbose=1)
    out = lines(capsys.readouterr().out)
    assert len(out) == 1 and "loss:" in out[0]
    assert f"loss: {loss:.4f}" in out[0]
    net.predict(data[0], verbose=0)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("verbose", [1, 2])
def test_progress_with_validation_freq(data, capsys, verbose):
    x, y = data
    model().fit(
        x,
        y,
        batch_size=BS,
        epochs=4,
        validation_data=(x[:16], y[:16]),
        validation_freq=2,
        verbose=verbose,
    )
    out = [line for line in lines(capsys.readouterr().out) if not line.startswith("Epoch")]
    assert len(out) == 4
    assert ["val_loss" in line for line in out] == [False, True, False, True]
    assert all("loss:" in line for line in out)


def test_progress_of_a_generator(data, capsys):
    x, y = data
    gen = ((x[i : i + BS], y[i : i + BS]) for i in range(0, N, BS))
    model().fit(gen, verbose=1)
    out = lines(capsys.readouterr().out)
    assert out[0] == "Epoch 1/1"
    assert len(out) == 2 and out[1].startswith("5/5 ")  # steps learnt from the epoch


LIVE = textwrap.dedent(
    """
    import sys
    import time

    import numpy as np

    import dropnet
    from dropnet.layers import Dense, Dropout, Input
    from dropnet.models import Sequential

    dropnet.set_random_seed(0)
    rng = np.random.default_rng(0)
    base = rng.standard_normal((1024, 16)).astype(np.float32)
    net = Sequential(
        [Input((16,)), Dense(128, activation="relu"), Dropout(0.5), Dense(1, activation="sigmoid")]
    )
    net.compile(loss="binary_crossentropy", optimizer="adam")
    # enough rows for epochs of about 0.6 s on this machine
    reps = 1
    while True:
        x = np.tile(base, (reps, 1))
        y = (x[:, 0] > 0).astype(np.float32)
        t = time.perf_counter()
        net.fit(x, y, batch_size=16, epochs=1, verbose=0)
        t = time.perf_counter() - t
        if t > 0.1 or reps >= 512:
            break
        reps *= 4
    reps = min(max(reps, int(reps * 0.6 / t)), 1024)
    x = np.tile(base, (reps, 1))
    y = (x[:, 0] > 0).astype(np.float32)
    print("TTY", sys.stdout.isatty(), "STEPS", -(-len(x) // 16), flush=True)
    net.fit(x, y, batch_size=16, epochs=2, verbose=1)
    print("DONE", flush=True)
    """
)


def run_on_terminal(script, seconds=60):
    """Runs script with its stdout on a pseudo-terminal; returns what it wrote there."""
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=slave,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        close_fds=True,
    )
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the terminal closed: the child exited
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        if proc.poll() is None:
            proc.kill()
        _, err = proc.communicate()
        os.close(master)
    assert proc.returncode == 0, err.decode()
    return b"".join(chunks).decode()


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_progress_live_bar_on_a_terminal():
    out = run_on_terminal(LIVE)
    head = re.search(r"TTY True STEPS (\d+)", out)
    assert head, out
    steps = int(head.group(1))
    assert out.rstrip().endswith("DONE")
    body = out[head.end() : out.rindex("DONE")]
    rows = [row for row in body.replace("\r\n", "\n").split("\n") if row.strip()]
    assert rows[0] == "Epoch 1/2" and rows[2] == "Epoch 2/2" and len(rows) == 4, rows
    for row in (rows[1], rows[3]):
        draws = [d for d in row.split("\r") if d]
        counts = [int(re.match(r"\s*(\d+)/(\d+) ", d).group(1)) for d in draws]
        totals = {int(re.match(r"\s*(\d+)/(\d+) ", d).group(2)) for d in draws}
        assert totals == {steps}
        assert len(draws) >= 2  # redraws during the epoch, then the epoch's line
        assert counts == sorted(counts) and 0 < counts[0] < steps
        assert counts[-1] == steps
        assert "loss:" in draws[-1] and draws[-1].endswith("\x1b[K")
        assert "━" in draws[-1]
