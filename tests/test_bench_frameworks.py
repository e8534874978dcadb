"""The benchmark's framework adapters and clocks: what each adapter sets up and records, the
timed fit of dropnet (Keras's API) and the PyTorch training loop (skipped without torch)."""

import numpy as np
import pytest

import dropnet
from dropnet.bench import frameworks, timing
from dropnet.bench.worker import import_framework


@pytest.fixture(autouse=True)
def _restore_threads():
    before = dropnet.get_num_threads()
    yield
    dropnet.set_num_threads(before)


def test_unknown_or_absent_frameworks_are_reported_not_raised():
    with pytest.raises(frameworks.FrameworkMissing):
        frameworks.load("nosuch")
    assert import_framework("nosuch", 1)["status"] == "missing"
    ok, why = frameworks.available("nosuch")
    assert not ok and "nosuch" in why
    assert frameworks.available("numpy") == (True, "")


def test_the_worker_imports_and_limits_a_framework_through_its_adapter():
    assert import_framework("dropnet", 1)["status"] == "ready"
    assert dropnet.get_num_threads() == 1


def test_dropnet_adapter_sets_threads_records_versions_and_times_fit_by_epoch():
    fw = frameworks.load("dropnet")
    fw.setup(1, seed=3)
    assert fw.info() == {"dropnet": dropnet.__version__, "threads": 1}
    assert fw.info(brief=True) == {"dropnet": dropnet.__version__}
    layers = fw.layers
    model = fw.Sequential([layers.Input((4,)), layers.Dense(1, activation="sigmoid")])
    model.compile(fw.adam(), "binary_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).standard_normal((64, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    fit = fw.fit(model, x, y, epochs=3, batch_size=16)
    assert len(fit.epoch_ends) == 3 and len(fit.losses) == 3 and 0 <= fit.accuracy <= 1
    assert fit.start < fit.epoch_ends[0] <= fit.epoch_ends[-1] <= fit.end
    record = fit.record("fit_seconds", "first_loss", "final_loss", "final_acc")
    assert list(record) == [
        "fit_seconds",
        "first_loss",
        "final_loss",
        "final_acc",
        "first_epoch_seconds",
        "steady_seconds_per_epoch",
    ]
    assert fit.steady == record["steady_seconds_per_epoch"] > 0
    unclocked = fw.fit(model, x, y, epochs=2, batch_size=16, clock=False)
    assert unclocked.epoch_ends == [] and unclocked.record()["first_epoch_seconds"] is None
    with pytest.raises(RuntimeError, match="no epoch"):
        _ = unclocked.steady


def test_numpy_adapter_multiplies_and_records_its_blas():
    fw = frameworks.load("numpy")
    fw.setup(1)
    a, b = np.eye(3, dtype=np.float32), np.arange(9, dtype=np.float32).reshape(3, 3)
    np.testing.assert_array_equal(fw.matmul(a, b)(), b)
    info = fw.info()
    assert info["numpy"] == np.__version__ and info["thread_control"]


def test_steady_epochs_leaves_out_the_first_epoch():
    out = timing.steady_epochs([1.5, 2.0, 2.25, 2.75], start=0.0)
    assert out == {"first_epoch_seconds": 1.5, "steady_seconds_per_epoch": 0.5}
    assert timing.steady_epochs([], 0.0)["steady_seconds_per_epoch"] is None


def test_per_call_timers_call_and_divide():
    calls = []
    seconds, iters = timing.time_per_call(lambda: calls.append(1), 0.001)
    assert seconds > 0 and len(calls) >= iters + 2
    calls.clear()
    assert timing.median_call(lambda: calls.append(1), 5) >= 0 and len(calls) == 6
    calls.clear()
    assert timing.mean_call(lambda: calls.append(1), 7) >= 0 and len(calls) == 14


def test_torch_adapter_training_loop():
    pytest.importorskip("torch")
    fw = frameworks.load("torch")
    fw.setup(1, seed=0)
    assert fw.info()["num_threads"] == 1 and set(fw.info(brief=True)) == {"torch"}
    torch, nn = fw.torch, fw.nn
    x = torch.randn(50, 3)
    y = (x[:, :1] > 0).float()
    model = fw.glorot(nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1)))
    assert torch.count_nonzero(model[0].bias) == 0
    steps, checks = [], []
    fit = fw.train(
        model,
        x,
        y,
        4,
        16,
        fw.adam(model.parameters()),
        nn.BCEWithLogitsLoss(),
        hits=fw.binary_hits,
        after_step=lambda: steps.append(1),
        validate=lambda: checks.append(model.training),
    )
    assert len(steps) == 4 * 4 and checks == [True] * 4
    assert len(fit.epoch_ends) == 4 and len(fit.losses) == 4 and 0 <= fit.accuracy <= 1
    plain = fw.train(model, x, y, 2, 16, fw.adam(model.parameters()), nn.BCEWithLogitsLoss())
    assert plain.losses == [] and plain.accuracy is None and len(plain.epoch_ends) == 2
    np.testing.assert_allclose(
        fw.matmul(np.eye(2, dtype=np.float32), np.eye(2, dtype=np.float32))(), np.eye(2)
    )


def test_keras_adapter_sizes_tensorflow_threads():
    pytest.importorskip("keras")
    pytest.importorskip("tensorflow")
    fw = frameworks.load("keras")
    fw.setup(1, seed=0)
    info = fw.info()
    assert info["backend"] == "tensorflow" and info["intra_op_threads"] == 1
    assert set(fw.info(brief=True)) == {"keras", "tensorflow"}
