"""The Sequential API: structure and summary, weights in Keras layout, fit/evaluate/predict
semantics, history keys, callbacks, validation_split, sample and class weights, verbose
output, row independence of predictions and seeded determinism across thread counts."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import reference as ref
from conftest import isa_levels

import dropnet
from dropnet import _core, callbacks, optimizers
from dropnet.layers import Dense, Dropout, Input
from dropnet.models import Sequential, load_model


def classifier(
    seed=1, hidden=8, inputs=2, dropout=None, optimizer="adam", metrics=("accuracy",), dtype=None
):
    dropnet.set_random_seed(seed)
    model = Sequential()
    model.add(Dense(hidden, input_dim=inputs, activation="relu", dtype=dtype))
    if dropout:
        model.add(Dropout(dropout))
    model.add(Dense(1, activation="sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer=optimizer, metrics=list(metrics))
    return model


def blobs(rng, n=40, inputs=2):
    x = rng.standard_normal((n, inputs))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.float64)
    return x, y


# ------------------------------------------------------------------ structure
def test_model_count_params_and_summary(capsys):
    model = Sequential(
        [Dense(500, input_dim=2, activation="relu", name="hidden"), Dense(1, name="out")],
        name="circles",
    )
    assert model.count_params() == 2 * 500 + 500 + 500 + 1
    model.summary()
    out = capsys.readouterr().out
    assert 'Model: "circles"' in out
    assert "hidden (Dense)" in out and "out (Dense)" in out
    assert "(None, 500)" in out and "(None, 1)" in out
    assert "1,500" in out and "501" in out
    assert "Total params: 2,001" in out
    assert "Trainable params: 2,001" in out
    assert "Non-trainable params: 0" in out


def test_model_summary_print_fn_receives_lines():
    lines = []
    Sequential([Dense(3, input_shape=(4,))]).summary(print_fn=lines.append)
    assert any("Total params: 15" in line for line in lines)


def test_model_count_params_before_build_raises():
    with pytest.raises(ValueError):
        Sequential([Dense(3)]).count_params()


def test_model_input_layer_and_input_shape_equivalent(rng):
    a = Sequential([Input(shape=(4,)), Dense(3)])
    b = Sequential([Dense(3, input_shape=(4,))])
    c = Sequential([Dense(3, input_dim=4)])
    for m in (a, b, c):
        assert m.input_shape == (None, 4) and m.output_shape == (None, 3)


def test_model_get_weights_keras_layout(rng):
    model = Sequential([Dense(5, input_dim=3, activation="tanh"), Dense(2)])
    k1, b1, k2, b2 = model.get_weights()
    assert k1.shape == (3, 5) and b1.shape == (5,) and k2.shape == (5, 2) and b2.shape == (2,)
    x = rng.standard_normal((7, 3)).astype(np.float32)
    want = ref.dense_forward(ref.dense_forward(x, k1, b1, "tanh"), k2, b2)
    np.testing.assert_allclose(model.predict(x), want, rtol=1e-5, atol=1e-6)


def test_model_set_weights_round_trip_and_effect(rng):
    model = Sequential([Dense(4, input_dim=3), Dense(2)])
    new = [rng.standard_normal(w.shape).astype(np.float32) for w in model.get_weights()]
    model.set_weights(new)
    for a, b in zip(model.get_weights(), new):
        np.testing.assert_array_equal(a, b)
    x = rng.standard_normal((5, 3)).astype(np.float32)
    want = (x.astype(np.float64) @ new[0] + new[1]) @ new[2] + new[3]
    np.testing.assert_allclose(model.predict(x), want, rtol=1e-5, atol=1e-5)
    # get_weights returns copies
    model.get_weights()[0][...] = 100
    assert not np.any(model.get_weights()[0] == 100)


def test_model_set_weights_wrong_shape_or_count_raises():
    model = Sequential([Dense(4, input_dim=3)])
    with pytest.raises(ValueError, match=r"\(3, 4\)"):
        model.set_weights([np.zeros((4, 3)), np.zeros(4)])
    with pytest.raises(ValueError, match="expected 2"):
        model.set_weights([np.zeros((3, 4))])


# ------------------------------------------------------------------ fit semantics
def test_model_history_keys_and_acc_aliases(rng):
    x, y = blobs(rng)
    model = classifier()
    h = model.fit(x, y, validation_data=(x[:10], y[:10]), epochs=3, verbose=0)
    assert set(dict.keys(h.history)) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert "acc" in h.history and "val_acc" in h.history
    assert h.history["acc"] is h.history["accuracy"]
    assert h.history["val_acc"] is h.history["val_accuracy"]
    assert all(len(v) == 3 for v in dict.values(h.history))
    assert h.epoch == [0, 1, 2]
    assert model.history is h


def test_model_history_keras2_acc_metric_name(rng):
    x, y = blobs(rng)
    model = classifier(metrics=("acc",))
    h = model.fit(x, y, validation_split=0.25, epochs=2, verbose=0)
    assert "acc" in dict.keys(h.history) and "val_acc" in dict.keys(h.history)
    assert h.history["accuracy"] is h.history["acc"]
    assert h.history["val_accuracy"] is h.history["val_acc"]


def test_model_epoch_loss_is_training_mode_batch_loss(rng, float64):
    x, y = blobs(rng, n=16)
    model = classifier(dropout=0.5, optimizer=optimizers.SGD(0.1))
    net = model._network(training=True)
    before = net.gradients(x, y.reshape(-1, 1), None, 0, True)[0]
    h = model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    assert h.history["loss"][0] == pytest.approx(before, rel=1e-12)


def test_model_fit_keeps_last_partial_batch(rng):
    x, y = blobs(rng, n=10)
    model = classifier()
    model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    assert model.optimizer.iterations == 6


def test_model_fit_initial_epoch_counts_to_epochs(rng):
    x, y = blobs(rng)
    model = classifier()
    h = model.fit(x, y, epochs=5, initial_epoch=3, verbose=0)
    assert h.epoch == [3, 4] and len(h.history["loss"]) == 2


def test_model_evaluate_returns_scalar_or_list(rng):
    x, y = blobs(rng)
    with_metrics = classifier()
    result = with_metrics.evaluate(x, y, verbose=0)
    assert isinstance(result, list) and len(result) == 2 and 0 <= result[1] <= 1
    plain = classifier(metrics=())
    assert isinstance(plain.evaluate(x, y, verbose=0), float)
    assert isinstance(plain.train_on_batch(x, y), float)
    assert len(with_metrics.train_on_batch(x, y)) == 2


def test_model_binary_accuracy_threshold_strictly_above_half(float64):
    model = Sequential([Dense(1, input_dim=1, activation="sigmoid", kernel_initializer="zeros")])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    x = np.array([[1.0], [2.0]])
    # output is exactly 0.5 for every row: predicted class 0
    assert model.evaluate(x, np.array([0.0, 0.0]), verbose=0)[1] == 1.0
    assert model.evaluate(x, np.array([1.0, 1.0]), verbose=0)[1] == 0.0


def test_model_evaluate_matches_reference_loss(rng, float64):
    x, y = blobs(rng, n=23)
    model = classifier()
    w = rng.uniform(0, 2, 23)
    loss, acc = model.evaluate(x, y, sample_weight=w, verbose=0)
    p = model.predict(x)
    k1, b1, k2, b2 = model.get_weights()
    logits = ref.dense_forward(ref.dense_forward(x, k1, b1, "relu"), k2, b2)
    assert loss == pytest.approx(
        ref.batch_loss("binary_crossentropy", True, logits, y[:, None], w), rel=1e-10
    )
    assert acc == pytest.approx(np.sum(w * ((p[:, 0] > 0.5) == y)) / w.sum(), rel=1e-12)


def test_model_validation_split_uses_last_rows(rng, float64):
    x, y = blobs(rng, n=40)
    model = classifier()
    h = model.fit(x, y, validation_split=0.25, epochs=2, verbose=0)
    last = model.evaluate(x[30:], y[30:], verbose=0)
    first = model.evaluate(x[:10], y[:10], verbose=0)
    assert h.history["val_loss"][-1] == pytest.approx(last[0], rel=1e-12)
    assert h.history["val_loss"][-1] != pytest.approx(first[0], rel=1e-6)


def test_model_validation_split_rows_do_not_train(rng):
    x, y = blobs(rng, n=40)
    a = classifier(seed=4)
    a.fit(x, y, validation_split=0.25, epochs=3, verbose=0)
    y2 = y.copy()
    y2[30:] = 1 - y2[30:]
    b = classifier(seed=4)
    b.fit(x, y2, validation_split=0.25, epochs=3, verbose=0)
    c = classifier(seed=4)
    c.fit(x[:30], y[:30], epochs=3, verbose=0)
    for wa, wb, wc in zip(a.get_weights(), b.get_weights(), c.get_weights()):
        np.testing.assert_array_equal(wa, wb)
        np.testing.assert_array_equal(wa, wc)


def test_model_class_weight_equals_sample_weight(rng):
    x, y = blobs(rng)
    a = classifier(seed=2)
    b = classifier(seed=2)
    c = classifier(seed=2)
    a.train_on_batch(x, y, class_weight={0: 1.0, 1: 3.0})
    b.train_on_batch(x, y, sample_weight=np.where(y == 1, 3.0, 1.0))
    c.train_on_batch(x, y)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])


def test_model_class_weight_in_fit_changes_training(rng):
    x, y = blobs(rng)
    a = classifier(seed=2)
    a.fit(x, y, epochs=2, class_weight={0: 1.0, 1: 5.0}, verbose=0)
    b = classifier(seed=2)
    b.fit(x, y, epochs=2, verbose=0)
    assert not np.array_equal(a.get_weights()[0], b.get_weights()[0])


def test_model_zero_sample_weight_rows_do_not_affect_update(rng):
    x, y = blobs(rng)
    w = np.ones(len(y))
    w[::3] = 0.0
    y2 = y.copy()
    y2[::3] = 1 - y2[::3]
    a = classifier(seed=5)
    a.fit(x, y, sample_weight=w, epochs=2, verbose=0)
    b = classifier(seed=5)  # built after a's fit: the model seed is drawn on first use
    b.fit(x, y2, sample_weight=w, epochs=2, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


# ------------------------------------------------------------------ callbacks
class Recorder(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.events = []
        self.weights = []

    def on_train_begin(self, logs=None):
        self.events.append("train_begin")

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(("epoch_begin", epoch))

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(("epoch_end", epoch, sorted(logs)))
        self.weights.append(self.model.get_weights())

    def on_train_end(self, logs=None):
        self.events.append("train_end")


def test_callback_hooks_called_in_order(rng):
    x, y = blobs(rng)
    rec = Recorder()
    classifier().fit(x, y, epochs=2, validation_split=0.2, callbacks=[rec], verbose=0)
    keys = ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert rec.events == [
        "train_begin",
        ("epoch_begin", 0),
        ("epoch_end", 0, keys),
        ("epoch_begin", 1),
        ("epoch_end", 1, keys),
        "train_end",
    ]


def test_callback_fit_with_callbacks_equals_fit_without(rng):
    x, y = blobs(rng)
    a = classifier(seed=8, dropout=0.3)
    ha = a.fit(x, y, epochs=4, batch_size=8, verbose=0)
    b = classifier(seed=8, dropout=0.3)
    hb = b.fit(x, y, epochs=4, batch_size=8, verbose=0, callbacks=[Recorder()])
    assert ha.history["loss"] == hb.history["loss"]
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_early_stopping_stops_after_patience(rng):
    x, y = blobs(rng)
    model = classifier(optimizer=optimizers.SGD(0.0))
    stop = callbacks.EarlyStopping(monitor="loss", patience=2)
    h = model.fit(x, y, epochs=20, callbacks=[stop], shuffle=False, verbose=0)
    assert len(h.history["loss"]) == 3
    assert stop.stopped_epoch == 2


def test_early_stopping_restore_best_weights(rng):
    x, y = blobs(rng)
    model = classifier(seed=3, optimizer=optimizers.Adam(0.05))
    rec = Recorder()
    stop = callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    # validation labels are the opposite of the training labels: val_loss rises as training proceeds
    h = model.fit(x, y, validation_data=(x, 1 - y), epochs=50, callbacks=[rec, stop], verbose=0)
    n = len(h.history["val_loss"])
    assert n < 50
    best = int(np.argmin(h.history["val_loss"]))
    assert stop.best_epoch == best
    for got, want in zip(model.get_weights(), rec.weights[best]):
        np.testing.assert_array_equal(got, want)
    assert not all(np.array_equal(a, b) for a, b in zip(model.get_weights(), rec.weights[-1]))


def test_early_stopping_monitor_val_acc_alias(rng):
    x, y = blobs(rng)
    model = classifier(optimizer=optimizers.SGD(0.0))
    stop = callbacks.EarlyStopping(monitor="val_acc", patience=1)
    h = model.fit(x, y, validation_split=0.25, epochs=10, callbacks=[stop], verbose=0)
    assert len(h.history["loss"]) == 2


def test_model_checkpoint_save_best_only(rng, tmp_path):
    x, y = blobs(rng)
    model = classifier(seed=3, optimizer=optimizers.Adam(0.05))
    path = tmp_path / "best.dropnet"
    pattern = str(tmp_path / "ep{epoch:02d}.dropnet")
    best_cb = callbacks.ModelCheckpoint(str(path), monitor="val_loss", save_best_only=True)
    each_cb = callbacks.ModelCheckpoint(pattern, monitor="val_loss", save_best_only=True)
    h = model.fit(
        x, y, validation_data=(x, 1 - y), epochs=8, callbacks=[best_cb, each_cb], verbose=0
    )
    val = h.history["val_loss"]
    best = int(np.argmin(val))
    loaded = load_model(path)
    assert loaded.evaluate(x, 1 - y, verbose=0)[0] == pytest.approx(val[best], rel=1e-6)
    improved = [e for e in range(len(val)) if val[e] < min(val[:e], default=np.inf)]
    saved = sorted(f for f in os.listdir(tmp_path) if f.startswith("ep"))
    assert saved == [f"ep{e + 1:02d}.dropnet" for e in improved]


def test_model_checkpoint_every_epoch_with_weights_only(rng, tmp_path):
    x, y = blobs(rng)
    model = classifier()
    cb = callbacks.ModelCheckpoint(str(tmp_path / "w{epoch}.dropnet"), save_weights_only=True)
    model.fit(x, y, epochs=3, callbacks=[cb], verbose=0)
    assert sorted(os.listdir(tmp_path)) == ["w1.dropnet", "w2.dropnet", "w3.dropnet"]
    other = classifier(seed=99)
    other.load_weights(str(tmp_path / "w3.dropnet"))
    for a, b in zip(other.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_learning_rate_scheduler_changes_learning_rate(rng):
    x, y = blobs(rng)
    model = classifier(optimizer=optimizers.SGD(0.1))
    rec = Recorder()
    seen = []

    def schedule(epoch, lr):
        seen.append(lr)
        return 0.0 if epoch >= 1 else lr

    model.fit(x, y, epochs=3, callbacks=[callbacks.LearningRateScheduler(schedule), rec], verbose=0)
    assert seen[0] == pytest.approx(0.1)
    assert model.optimizer.learning_rate == 0.0
    for a, b in zip(rec.weights[1], rec.weights[2]):
        np.testing.assert_array_equal(a, b)  # lr 0: no change
    for a, b in zip(rec.weights[0], rec.weights[1]):
        np.testing.assert_array_equal(a, b)


def test_learning_rate_scheduler_single_argument_schedule(rng):
    x, y = blobs(rng)
    a = classifier(seed=6, optimizer=optimizers.SGD(0.1))
    a.fit(x, y, epochs=2, callbacks=[callbacks.LearningRateScheduler(lambda epoch: 0.5)], verbose=0)
    b = classifier(seed=6, optimizer=optimizers.SGD(0.1))
    b.fit(x, y, epochs=2, verbose=0)
    assert a.optimizer.learning_rate == 0.5
    assert not np.array_equal(a.get_weights()[0], b.get_weights()[0])


def test_terminate_on_nan_stops_training(rng):
    x, y = blobs(rng)
    dropnet.set_random_seed(0)
    model = Sequential([Dense(4, input_dim=2), Dense(1)])
    model.compile(optimizer=optimizers.SGD(1e18), loss="mse")
    h = model.fit(x, 1e10 * y, epochs=30, callbacks=[callbacks.TerminateOnNaN()], verbose=0)
    assert len(h.history["loss"]) < 30
    assert not np.isfinite(h.history["loss"][-1])
    assert all(np.isfinite(v) for v in h.history["loss"][:-1])


def test_csv_logger_writes_rows(rng, tmp_path):
    x, y = blobs(rng)
    path = tmp_path / "log.csv"
    h = classifier().fit(
        x, y, epochs=3, validation_split=0.2, callbacks=[callbacks.CSVLogger(str(path))], verbose=0
    )
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3
    assert set(rows[0]) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy"}
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    for r, loss in zip(rows, h.history["loss"]):
        assert float(r["loss"]) == pytest.approx(loss, rel=1e-12)


def test_callbacks_reject_non_callback_objects(rng):
    x, y = blobs(rng)
    with pytest.raises(TypeError):
        classifier().fit(x, y, callbacks=[lambda: None], verbose=0)


# ------------------------------------------------------------------ output
def test_model_fit_verbose_0_is_silent(rng, capsys):
    x, y = blobs(rng)
    classifier().fit(x, y, epochs=3, verbose=0)
    assert capsys.readouterr().out == ""


def test_model_fit_verbose_1_prints_epochs_and_progress(rng, capsys):
    x, y = blobs(rng)
    classifier().fit(x, y, epochs=3, verbose=1)
    out = capsys.readouterr().out
    for e in (1, 2, 3):
        assert f"Epoch {e}/3" in out
    assert out.count("loss:") == 3 and "accuracy:" in out
    assert "━" in out


def test_model_fit_verbose_2_prints_one_line_per_epoch(rng, capsys):
    x, y = blobs(rng)
    classifier().fit(x, y, epochs=4, verbose=2, validation_split=0.25)
    lines = [line for line in capsys.readouterr().out.splitlines() if "loss:" in line]
    assert len(lines) == 4
    assert all("val_loss:" in line and "━" not in line for line in lines)


def test_model_predict_and_evaluate_verbose_0_silent(rng, capsys):
    x, y = blobs(rng)
    model = classifier()
    model.predict(x, verbose=0)
    model.evaluate(x, y, verbose=0)
    assert capsys.readouterr().out == ""


# ------------------------------------------------------------------ inference
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_model_predict_batch_equals_row_by_row_bitwise(dtype, rng):
    dropnet.set_random_seed(2)
    model = Sequential(
        [
            Dense(33, input_dim=9, activation="relu", dtype=dtype),
            Dense(17, activation="tanh"),
            Dense(8, activation="elu"),
            Dense(3, activation="softmax"),
        ]
    )
    x = rng.standard_normal((1100, 9)).astype(dtype)
    whole = model.predict(x)
    rows = np.concatenate([model.predict(x[i : i + 1]) for i in range(x.shape[0])])
    np.testing.assert_array_equal(whole, rows)
    np.testing.assert_array_equal(model.predict(x, batch_size=7), whole)
    np.testing.assert_array_equal(model.predict(x[500:1037]), whole[500:1037])


def test_model_predict_wide_layers_batch_equals_row_by_row_bitwise(rng):
    dropnet.set_random_seed(2)
    model = Sequential(
        [Dense(100, input_dim=70, activation="relu"), Dense(1, activation="sigmoid")]
    )
    x = rng.standard_normal((300, 70)).astype(np.float32)
    whole = model.predict(x)
    rows = np.concatenate([model.predict(x[i : i + 1]) for i in range(x.shape[0])])
    np.testing.assert_array_equal(whole, rows)


def test_model_predict_one_thread_equals_two_threads_bitwise(rng):
    dropnet.set_random_seed(2)
    model = Sequential(
        [Dense(256, input_dim=64, activation="relu"), Dense(128, activation="tanh"), Dense(4)]
    )
    x = rng.standard_normal((2000, 64)).astype(np.float32)
    _core.set_num_threads(1)
    a = model.predict(x)
    _core.set_num_threads(2)
    b = model.predict(x)
    np.testing.assert_array_equal(a, b)


def test_model_call_equals_predict(rng):
    model = classifier()
    x = rng.standard_normal((5, 2))
    np.testing.assert_array_equal(model(x), model.predict(x))


# ------------------------------------------------------------------ determinism
DETERMINISM_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import dropnet
    from dropnet.layers import Dense, Dropout
    from dropnet.models import Sequential

    dropnet.set_random_seed(123)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((600, 40))
    y = (x[:, :3] > 0).astype(np.float64)
    model = Sequential([Dense(256, input_dim=40, activation="relu"), Dropout(0.3),
                        Dense(128, activation="relu"), Dropout(0.2), Dense(3, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    h = model.fit(x, y, batch_size=256, epochs=3, validation_split=0.1, verbose=0)
    np.savez(sys.argv[1], *model.get_weights(), loss=np.array(h.history["loss"]),
             mc=model.predict(x[:50], training=True))
""")


def run_script(tmp_path, threads, tag):
    script = tmp_path / "train.py"
    script.write_text(DETERMINISM_SCRIPT)
    out = tmp_path / f"{tag}.npz"
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    subprocess.run(
        [sys.executable, str(script), str(out)], cwd=tmp_path, env=env, check=True, timeout=300
    )
    return dict(np.load(out))


def test_model_same_seed_bitwise_identical_across_thread_counts(tmp_path):
    one = run_script(tmp_path, 1, "one")
    two = run_script(tmp_path, 2, "two")
    again = run_script(tmp_path, 2, "again")
    assert set(one) == set(two)
    for key in one:
        np.testing.assert_array_equal(one[key], two[key], err_msg=key)
        np.testing.assert_array_equal(two[key], again[key], err_msg=key)


def test_model_same_seed_identical_in_process_across_thread_counts(rng):
    x = rng.standard_normal((300, 30))
    y = (x[:, 0] > 0).astype(np.float64)
    results = []
    for threads in (1, 2):
        _core.set_num_threads(threads)
        model = classifier(seed=11, hidden=200, inputs=30, dropout=0.4)
        model.fit(x, y, batch_size=300, epochs=2, verbose=0)
        results.append(model.get_weights())
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_model_different_seeds_give_different_weights():
    a = classifier(seed=1).get_weights()[0]
    b = classifier(seed=2).get_weights()[0]
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("level", isa_levels())
@pytest.mark.parametrize("act", ["relu", "linear", "tanh"])
@pytest.mark.parametrize(
    "n, f, u",
    [
        (1, 3, 9),
        (16, 60, 60),
        (16, 60, 30),
        (30, 2, 500),
        (37, 70, 13),
        (5, 400, 40),
        (200, 24, 24),
        (9, 8, 5),
    ],
)
def test_dense_forward_is_gemm_chain_then_bias_then_activation(level, act, n, f, u):
    """Every Dense output is bitwise the reference chain over k, plus the bias, then the
    activation, whichever path (bias and relu in the GEMM epilogue, or a pass) runs."""
    _core.set_cpu_capability(level)
    rng = np.random.default_rng(n * 1000 + f + u)
    model = Sequential([Dense(u, input_dim=f, activation=act, bias_initializer="random_normal")])
    x = rng.normal(size=(n, f)).astype(np.float32)
    x[rng.random(x.shape) < 0.3] = 0.0  # exact zeros, and rows whose relu clamps
    kernel, bias = model.get_weights()
    z = np.zeros((n, u), np.float32)
    _core.gemm(x, kernel, z, False, False, False, True)
    z = z + bias
    got = model.predict(x, verbose=0)
    if act == "tanh":
        np.testing.assert_allclose(got, np.tanh(z), rtol=2e-6, atol=2e-7)
    else:
        assert np.array_equal(got, np.where(z > 0, z, np.float32(0)) if act == "relu" else z)
