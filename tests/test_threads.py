"""Threading controls: thread count read at each call, threadpoolctl and fork safety, and
the forced baseline instruction set."""

import multiprocessing as mp
import os
import subprocess
import sys

import numpy as np
import pytest

import dropnet
from dropnet import _core
from dropnet.layers import Dense, Dropout
from dropnet.models import Sequential


def test_threads_set_num_threads_is_read_at_each_call():
    before = dropnet.get_num_threads()
    dropnet.set_num_threads(1)
    assert dropnet.get_num_threads() == 1
    dropnet.set_num_threads(before)
    assert dropnet.get_num_threads() == before


def test_threads_set_num_threads_rejects_bad_values():
    with pytest.raises(ValueError, match="1 <= n"):
        dropnet.set_num_threads(0)
    with pytest.raises(TypeError, match="int"):
        dropnet.set_num_threads(1.5)


def test_threads_threadpoolctl_limits_the_core():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    dropnet.set_num_threads(2)
    with threadpoolctl.threadpool_limits(1):
        assert dropnet.get_num_threads() == 1
    assert dropnet.get_num_threads() == 2


def _child_matmul(a):
    return _core.matmul(a, a)


def test_threads_forked_child_runs_after_parent_used_threads():
    if "fork" not in mp.get_all_start_methods():
        pytest.skip("no fork on this platform")
    dropnet.set_num_threads(2)
    a = np.random.default_rng(0).random((300, 300), dtype=np.float32)
    expected = _core.matmul(a, a)  # the parent's thread team now exists
    ctx = mp.get_context("fork")
    with ctx.Pool(2) as pool:
        results = pool.map_async(_child_matmul, [a, a]).get(timeout=120)
    for r in results:
        np.testing.assert_array_equal(r, expected)


def test_threads_omp_num_threads_environment_is_honoured():
    code = "import dropnet; print(dropnet.get_num_threads())"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd="/"
    )
    assert out.stdout.strip() == "1"


def test_threads_baseline_capability_from_environment_matches_within_tolerance():
    code = (
        "import numpy as np, dropnet\n"
        "from dropnet.models import Sequential\n"
        "from dropnet.layers import Dense, Dropout\n"
        "dropnet.set_random_seed(3)\n"
        "m = Sequential([Dense(64, input_dim=5, activation='tanh'), Dropout(0.3), Dense(1, activation='sigmoid')])\n"
        "m.compile(loss='binary_crossentropy', optimizer='adam')\n"
        "x = np.random.default_rng(1).random((50, 5)); y = (x[:, 0] > 0.5).astype(float)\n"
        "m.fit(x, y, epochs=5, verbose=0)\n"
        "print(dropnet.show_config.__module__ and dropnet._core.config()['isa'])\n"
        "np.save('OUT', m.predict(x))\n"
    )
    outs = {}
    for level in ("baseline", ""):
        path = os.path.join(
            os.environ.get("TMPDIR", "/tmp"), f"dropnet_isa_{level or 'best'}_{os.getpid()}.npy"
        )
        env = dict(os.environ, DROPNET_CPU_CAPABILITY=level)
        res = subprocess.run(
            [sys.executable, "-c", code.replace("OUT", path)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            cwd="/",
        )
        outs[level] = (res.stdout.strip(), np.load(path))
        os.remove(path)
    assert outs["baseline"][0] == "baseline"
    np.testing.assert_allclose(outs["baseline"][1], outs[""][1], atol=1e-5)


def test_threads_model_fit_releases_nothing_shared_between_models():
    dropnet.set_random_seed(5)
    models = []
    for _ in range(2):
        m = Sequential([Dense(16, input_dim=3, activation="relu"), Dropout(0.2), Dense(1)])
        m.compile(loss="mse", optimizer="sgd")
        models.append(m)
    x = np.random.default_rng(2).random((20, 3))
    y = x.sum(axis=1)
    for m in models:
        m.fit(x, y, epochs=3, verbose=0)
    assert all(np.isfinite(m.predict(x)).all() for m in models)
