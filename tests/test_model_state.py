"""Changes to a built model take effect or raise; a fit in one thread never hands another
thread a mix of two steps' weights, nor keeps it waiting for the whole fit; a child forked
while a fit runs works; NaN does not pass unnoticed."""

from __future__ import annotations

import os
import threading
import time
import warnings

import numpy as np
import pytest

import dropnet
from dropnet.callbacks import Callback
from dropnet.layers import Dense, Dropout, Input
from dropnet.models import Sequential


def _mlp(width=4):
    dropnet.set_random_seed(0)
    m = Sequential([Input((width,)), Dense(16, activation="relu"), Dropout(0.2), Dense(1)])
    m.compile("adam", "mse")
    return m


def _data(n=256, width=4):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, width)).astype(np.float32)
    return x, x.sum(axis=1).astype(np.float32)


# ---------------------------------------------------------------- changes to a built model
def test_build_to_another_input_shape_raises_and_keeps_the_model():
    m = _mlp()
    x, y = _data()
    m.fit(x, y, epochs=1, verbose=0)
    before = m.get_weights()
    m.build((None, 4))  # the shape it has: nothing to do
    with pytest.raises(ValueError, match=r"input shape \(None, 4\).*\(None, 7\)"):
        m.build((None, 7))
    for a, b in zip(before, m.get_weights()):
        np.testing.assert_array_equal(a, b)
    m.fit(x, y, epochs=1, verbose=0)  # still trains


def test_a_layer_reused_with_another_input_shape_raises_and_keeps_its_weights():
    shared = Dense(3)
    a = Sequential([Input((4,)), shared])
    before = [w.copy() for w in a.get_weights()]
    with pytest.raises(ValueError, match=r"built for input shape \(4,\)"):
        Sequential([Input((7,)), shared])
    with pytest.raises(ValueError, match="built for"):
        b = Sequential()
        b.add(Input((7,)))
        b.add(shared)
    assert len(b.layers) == 0  # the refused layer is not left behind
    for w0, w1 in zip(before, a.get_weights()):
        np.testing.assert_array_equal(w0, w1)
    assert a.predict(np.zeros((2, 4), np.float32), verbose=0).shape == (2, 3)
    Sequential([Input((4,)), shared])  # the same input shape: shared, as in Keras


def test_swapping_the_head_after_fit_keeps_the_body_state_and_starts_the_head_afresh():
    x, y = _data()
    for seed in range(10):  # the old per-id() slots failed about 8 times in 10
        dropnet.set_random_seed(seed)
        m = _mlp()
        m.fit(x, y, epochs=1, verbose=0)
        body = m.weights[:2]
        kept = [[s.copy() for s in m._slots[w]] for w in body]
        old_head = m.pop()
        m.add(Dense(1))
        m.fit(x[:32], y[:32], epochs=1, batch_size=32, verbose=0, shuffle=False)
        assert all(w not in m._slots for w in old_head.weights)
        for w, before in zip(body, kept):  # the body's moments went on from where they were
            assert all(not np.array_equal(a, b) for a, b in zip(before, m._slots[w]))
        new_kernel = m.layers[-1].weights[0]
        m1, v1 = m._slots[new_kernel]  # Adam after one step from zero moments: m = (1-b1) g
        np.testing.assert_allclose(v1, m1**2 * (1 - 0.999) / (1 - 0.9) ** 2, rtol=1e-4)


def test_a_layer_reused_in_a_model_of_another_float_type_raises():
    shared = Dense(2)
    Sequential([Input((3,)), shared])
    with pytest.raises(ValueError, match="float64"):
        Sequential([Input((3,), dtype="float64"), shared])


def test_a_deep_chain_builds_and_a_model_beyond_the_core_limit_is_refused_when_made():
    from dropnet.layers import Activation

    m = Sequential([Input((3,))] + [Activation("linear") for _ in range(5000)])
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(m.predict(x, verbose=0), x)
    with pytest.raises(ValueError, match="at most 32767"):
        Sequential([Input((3,))] + [Activation("linear") for _ in range(32768)])


# ---------------------------------------------------------------- threads
class _Hold(Callback):
    """Holds the fit at the end of its first epoch until released."""

    def __init__(self):
        super().__init__()
        self.reached, self.go = threading.Event(), threading.Event()
        self.inside: dict = {}

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            # the fit's own thread reaches the model as before
            self.inside["predict"] = self.model.predict(np.zeros((2, 4), np.float32), verbose=0)
            self.inside["weights"] = self.model.get_weights()
            self.reached.set()
            self.go.wait(60)


def _held_fit(m, x, y):
    hold = _Hold()
    errors: list = []

    def run():
        try:
            m.fit(x, y, epochs=3, verbose=0, callbacks=[hold])
        except Exception as exc:  # noqa: BLE001 - reported to the test
            errors.append(exc)

    t = threading.Thread(target=run)
    t.start()
    assert hold.reached.wait(60)
    return t, hold, errors


def _attempt(call, budget=10.0):
    """The exception (or None) of ``call`` run in a thread that must end within ``budget``
    seconds (the held fit lasts until the test releases it)."""
    out: dict = {}

    def run():
        try:
            call()
            out["error"] = None
        except Exception as exc:  # noqa: BLE001 - reported to the test
            out["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(budget)
    assert not t.is_alive(), "the call waited for the fit in another thread"
    return out["error"]


@pytest.mark.parametrize(
    "call",
    ["predict", "evaluate", "get_weights", "set_weights", "save", "compile", "predict_mc", "fit"],
)
def test_a_call_from_another_thread_during_fit_raises_at_once(call, tmp_path):
    m = _mlp()
    x, y = _data()
    m.fit(x, y, epochs=1, verbose=0)
    weights = m.get_weights()
    t, hold, errors = _held_fit(m, x, y)
    try:
        calls = {
            "predict": lambda: m.predict(x, verbose=0),
            "evaluate": lambda: m.evaluate(x, y, verbose=0),
            "get_weights": m.get_weights,
            "set_weights": lambda: m.set_weights(weights),
            "save": lambda: m.save(tmp_path / "m.dropnet"),
            "compile": lambda: m.compile("sgd", "mae"),
            "predict_mc": lambda: m.predict_mc(x, n=3),
            "fit": lambda: m.fit(x, y, epochs=1, verbose=0),
        }
        error = _attempt(calls[call])
    finally:
        hold.go.set()
        t.join(60)
    assert isinstance(error, (RuntimeError, ValueError)), error
    assert "another thread" in str(error) or "already being trained" in str(error)
    assert not (tmp_path / "m.dropnet").exists()
    assert not errors and hold.inside["predict"].shape == (2, 1)
    assert m.optimizer.iterations == 4 * 8 and m.loss == "mse"  # the fit went on unharmed
    m.predict(x, verbose=0)  # and the model is free again


def test_a_short_call_in_another_thread_is_waited_for():
    m = _mlp()
    x, _ = _data(200_000)
    results: list = []
    t = threading.Thread(target=lambda: results.append(m.predict(x, verbose=0)))
    t.start()
    mine = m.predict(x[:10], verbose=0)  # waits for the other predict if it holds the model
    t.join()
    np.testing.assert_array_equal(mine, results[0][:10])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_child_forked_while_a_fit_runs_works():
    m = _mlp()
    x, y = _data()
    m.fit(x, y, epochs=1, verbose=0)
    t, hold, errors = _held_fit(m, x, y)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # forking a threaded process
            pid = os.fork()
        if pid == 0:  # the child: predict, read the weights, train, then leave
            code = 1
            try:
                p = m.predict(x, verbose=0)
                m.get_weights()
                m.fit(x, y, epochs=1, verbose=0)
                code = 0 if p.shape == (len(x), 1) else 2
            finally:
                os._exit(code)
        deadline = time.monotonic() + 60
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                pytest.fail("the forked child hung")
            time.sleep(0.02)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    finally:
        hold.go.set()
        t.join(60)
    assert not errors


# ---------------------------------------------------------------- NaN
def test_a_diverging_fit_warns_once():
    dropnet.set_random_seed(0)
    m = Sequential([Input((4,)), Dense(8, activation="relu"), Dense(1)])
    m.compile(dropnet.optimizers.SGD(10.0), "mse")
    x, y = _data()
    with pytest.warns(RuntimeWarning, match=r"loss became nan in epoch \d") as rec:
        m.fit(x, y * 1e3, epochs=6, verbose=0)
    assert sum("loss became" in str(r.message) for r in rec) == 1


@pytest.mark.parametrize("call", ["predict", "evaluate", "predict_mc"])
def test_results_of_non_finite_weights_warn_and_finite_ones_do_not(call):
    m = _mlp()
    x, y = _data(64)
    run = {
        "predict": lambda: m.predict(x, verbose=0),
        "evaluate": lambda: m.evaluate(x, y, verbose=0),
        "predict_mc": lambda: m.predict_mc(x, n=2),
    }[call]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run()
        m.fit(x, y, epochs=2, verbose=0)
    m.layers[-1].weights[0].value[0, 0] = np.inf  # as a diverged step leaves it
    with pytest.warns(RuntimeWarning, match=r"dense_\d+/kernel"):
        run()
