"""Threads and processes around one model: concurrent predictions equal the serial ones
bitwise, a second fit fails cleanly instead of racing, Monte-Carlo calls never share masks,
team sizes 1/2/4 give the same bits, forked workers predict after threaded kernels, and
repeated fit/predict/save/load cycles do not leak."""

from __future__ import annotations

import io
import resource
import threading

import numpy as np
import pytest

import dropnet
from dropnet import _core
from dropnet.layers import (
    LSTM,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Input,
    MaxPooling2D,
    SpatialDropout2D,
)
from dropnet.models import Sequential, load_model


def _cnn(seed=0):
    dropnet.set_random_seed(seed)
    m = Sequential(
        [
            Input((12, 12, 2)),
            Conv2D(8, 3, padding="same", activation="relu"),
            MaxPooling2D(),
            SpatialDropout2D(0.2),
            Flatten(),
            Dense(16, activation="relu"),
            Dropout(0.3),
            Dense(3, activation="softmax"),
        ]
    )
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return m


def _lstm(seed=0):
    dropnet.set_random_seed(seed)
    m = Sequential([Input((10, 3)), LSTM(8, dropout=0.2, recurrent_dropout=0.2), Dense(1)])
    m.compile(optimizer="adam", loss="mse")
    return m


def _run_threads(n, target):
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def work(i):
        try:
            barrier.wait()
            results[i] = target(i)
        except Exception as exc:  # noqa: BLE001 - reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


@pytest.mark.parametrize("build,shape", [(_cnn, (12, 12, 2)), (_lstm, (10, 3))])
def test_eight_threads_predict_like_one(rng, build, shape):
    m = build()
    x = rng.standard_normal((200,) + shape).astype(np.float32)
    m.fit(x, np.zeros(200) if build is _lstm else rng.integers(0, 3, 200), epochs=1, verbose=0)
    serial = m.predict(x, verbose=0)
    results, errors = _run_threads(8, lambda i: [m.predict(x, verbose=0) for _ in range(5)])
    assert not errors
    for outs in results:
        for out in outs:
            np.testing.assert_array_equal(out, serial)


def test_concurrent_monte_carlo_calls_never_share_masks(rng):
    m = _cnn()
    x = rng.standard_normal((4, 12, 12, 2)).astype(np.float32)
    results, errors = _run_threads(
        8, lambda i: [m.predict(x, training=True, verbose=0) for _ in range(4)]
    )
    assert not errors
    outs = [o.tobytes() for r in results for o in r]
    assert len(set(outs)) == len(outs) == 32


def test_second_fit_fails_cleanly_instead_of_racing(rng):
    m = _lstm()
    x = rng.standard_normal((2048, 10, 3)).astype(np.float32)
    y = x.mean(axis=(1, 2))
    results, errors = _run_threads(2, lambda i: m.fit(x, y, epochs=60, batch_size=16, verbose=0))
    # the fits overlap (each takes far longer than the start-up skew): one of them refuses
    assert len(errors) == 1 and isinstance(errors[0], ValueError)
    assert "already being trained" in str(errors[0])
    assert sum(r is not None for r in results) == 1
    assert all(np.all(np.isfinite(w)) for w in m.get_weights())
    m.fit(x[:64], y[:64], epochs=1, verbose=0)  # free again afterwards


def test_team_sizes_1_2_4_bitwise(rng):
    x = rng.standard_normal((96, 12, 12, 2)).astype(np.float32)
    y = rng.integers(0, 3, 96)
    results = []
    for threads in (1, 2, 4):
        _core.set_num_threads(threads)
        m = _cnn(seed=3)
        m.fit(x, y, epochs=2, batch_size=32, verbose=0)
        results.append((m.get_weights(), m.predict(x, verbose=0)))
    for weights, pred in results[1:]:
        for a, b in zip(weights, results[0][0]):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(pred, results[0][1])


def _predict_in_child(blob):
    model = load_model(blob)
    return model.predict(np.ones((8, 12, 12, 2), np.float32), verbose=0)


def test_joblib_fork_workers_after_threaded_kernels():
    joblib = pytest.importorskip("joblib")
    m = _cnn()
    _core.set_num_threads(2)
    x = np.ones((8, 12, 12, 2), np.float32)
    m.fit(
        np.random.default_rng(0).standard_normal((256, 12, 12, 2)).astype(np.float32),
        np.arange(256) % 3,
        epochs=1,
        verbose=0,
    )  # the parent's OpenMP team is now live
    buf = io.BytesIO()
    m.save(buf)
    with joblib.parallel_backend("multiprocessing", n_jobs=2):
        outs = joblib.Parallel()(
            joblib.delayed(_predict_in_child)(buf.getvalue()) for _ in range(4)
        )
    for out in outs:
        np.testing.assert_array_equal(out, m.predict(x, verbose=0))


def test_fit_predict_save_load_cycles_do_not_leak(tmp_path, rng):
    x = rng.standard_normal((16, 10, 3)).astype(np.float32)
    y = rng.standard_normal(16).astype(np.float32)
    path = tmp_path / "m.keras"

    def cycles(n):
        for _ in range(n):
            m = _lstm()
            m.fit(x, y, epochs=1, batch_size=8, verbose=0)
            m.predict(x, verbose=0)
            m.save(path)
            load_model(path).predict(x, verbose=0)

    cycles(50)  # warm caches, allocator pools and lazily loaded modules
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cycles(1000)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 10, f"peak RSS grew by {grown_mb:.1f} MB over 1000 cycles"
