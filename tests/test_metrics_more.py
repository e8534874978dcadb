"""Metric names and the metrics beyond accuracy/mse/mae: history keys as given, objects by
name (numbered when unnamed), Keras 2 key aliases; AUC, precision, recall and top-k
accuracy against NumPy references of Keras's formulas (AUC loosely against scikit-learn),
accumulated over an epoch's batches; every loss as a metric; labels each metric reads."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import reference as ref
from sklearn.metrics import precision_score, recall_score, roc_auc_score

import dropnet
from dropnet import metrics
from dropnet.layers import Activation, Dense, Input
from dropnet.models import Model, Sequential, load_model

EPS = 1e-7


# ----------------------------------------------------------------------------- references
def keras_auc(y, p, w=None, num_thresholds=200, curve="ROC", multi_label=False, from_logits=False):
    """Keras's AUC (interpolation) in float64, straight from its definition: positive
    iff p > threshold, thresholds −ε, i/(n − 1), 1 + ε; trapezoids over (FPR, recall) for
    ROC, Davis & Goadrich's interpolation for PR; one curve per label averaged when
    multi_label."""
    p = np.asarray(p, np.float64)
    if from_logits:
        p = 1 / (1 + np.exp(-p))
    p = np.clip(p, 0, 1)
    y = np.asarray(y) != 0
    w = np.ones(p.shape[0]) if w is None else np.asarray(w, np.float64)
    w = np.broadcast_to(w.reshape((-1,) + (1,) * (p.ndim - 1)), p.shape)
    n = num_thresholds
    t = np.array([-EPS] + [i / (n - 1) for i in range(1, n - 1)] + [1 + EPS])

    def one(yv, pv, wv):
        above = pv[None, :] > t[:, None]
        tp = (above & yv) @ wv
        fp = (above & ~yv) @ wv
        pos, neg = wv[yv].sum(), wv[~yv].sum()
        fn = pos - tp

        def div(a, b):
            return np.divide(a, b, out=np.zeros_like(a), where=b != 0)

        if curve == "ROC":
            x, r = div(fp, np.full_like(fp, neg)), div(tp, tp + fn)
            return np.sum((x[:-1] - x[1:]) * (r[:-1] + r[1:]) / 2)
        dtp = tp[:-1] - tp[1:]
        pp = tp + fp
        slope = div(dtp, np.maximum(pp[:-1] - pp[1:], 0))
        intercept = tp[1:] - slope * pp[1:]
        ok = (pp[:-1] > 0) & (pp[1:] > 0)
        ratio = np.where(ok, div(pp[:-1], np.maximum(pp[1:], 0)), 1.0)
        return np.sum(
            div(slope * (dtp + intercept * np.log(ratio)), np.maximum(tp[1:] + fn[1:], 0))
        )

    if multi_label:
        k = p.shape[-1]
        cols = [
            one(y.reshape(-1, k)[:, j], p.reshape(-1, k)[:, j], w.reshape(-1, k)[:, j])
            for j in range(k)
        ]
        return float(np.mean(cols))
    return float(one(y.reshape(-1), p.reshape(-1), w.reshape(-1)))


def confusion_ratio(kind, y, p, w=None, threshold=0.5):
    y = np.asarray(y) != 0
    pred = np.asarray(p) > threshold
    w = np.ones(y.shape[0]) if w is None else np.asarray(w, np.float64)
    w = np.broadcast_to(w.reshape((-1,) + (1,) * (y.ndim - 1)), y.shape)
    tp = np.sum(w * (pred & y))
    base = np.sum(w * (pred if kind == "precision" else y))
    return tp / base if base else 0.0


def top_k(ids, p, k, w=None):
    """Sample-weighted mean over rows of the last axis: fewer than k scores above the
    label's."""
    p = np.asarray(p, np.float64).reshape(-1, p.shape[-1])
    ids = np.asarray(ids).reshape(-1).astype(int)
    hit = np.sum(p > p[np.arange(len(ids)), ids][:, None], axis=1) < k
    per = hit.reshape(len(w) if w is not None else p.shape[0], -1).mean(axis=1)
    return float(np.average(per, weights=w))


def identity(shape, loss="mse", metrics_=(), **compile_kw):
    """A model whose output is its input: metrics see exactly the predictions given."""
    model = Sequential([Input(shape), Activation("linear")])
    model.compile("sgd", loss, metrics=list(metrics_), **compile_kw)
    return model


def evaluated(model, x, y, w=None, batch_size=7):
    return model.evaluate(x, y, sample_weight=w, batch_size=batch_size, verbose=0, return_dict=True)


# ----------------------------------------------------------------------------- AUC
@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("curve", ["ROC", "PR"])
@pytest.mark.parametrize("multi_label", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(3,), (4, 3)], ids=["2d", "sequence"])
def test_auc_matches_keras_formula_over_the_epoch(curve, multi_label, weighted, shape, rng):
    x = rng.uniform(0, 1, (60,) + shape)
    y = (rng.uniform(0, 1, x.shape) < x).astype(np.float64)  # informative, not perfect
    w = rng.uniform(0, 2, 60) if weighted else None
    model = identity(shape, metrics_=[metrics.AUC(curve=curve, multi_label=multi_label)])
    got = list(evaluated(model, x, y, w).values())[1]
    want = keras_auc(y, x, w, curve=curve, multi_label=multi_label)
    assert got == pytest.approx(want, rel=1e-12, abs=1e-14)
    # a ratio of the epoch's counts, not a mean of batch values
    batches = [
        keras_auc(
            y[i : i + 7],
            x[i : i + 7],
            None if w is None else w[i : i + 7],
            curve=curve,
            multi_label=multi_label,
        )
        for i in range(0, 60, 7)
    ]
    assert abs(np.mean(batches) - want) > 1e-6


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("num_thresholds", [2, 3, 7, 1000])
def test_auc_num_thresholds_and_logits(num_thresholds, rng):
    z = rng.standard_normal((50, 2)) * 2
    y = rng.integers(0, 2, (50, 2)).astype(np.float64)
    model = identity((2,), metrics_=[metrics.AUC(num_thresholds, from_logits=True)])
    got = list(evaluated(model, z, y).values())[1]
    assert got == pytest.approx(
        keras_auc(y, z, num_thresholds=num_thresholds, from_logits=True), rel=1e-12
    )


def test_auc_keras_documented_example():
    x = np.array([[0.0], [0.5], [0.3], [0.9]], np.float32)
    y = np.array([[0.0], [0.0], [1.0], [1.0]], np.float32)
    model = identity((1,), metrics_=[metrics.AUC(num_thresholds=3)])
    assert list(evaluated(model, x, y).values())[1] == pytest.approx(0.75)
    w = np.array([1.0, 0.0, 0.0, 1.0], np.float32)
    assert list(evaluated(model, x, y, w).values())[1] == pytest.approx(1.0)


def test_auc_is_close_to_scikit_learn(rng):
    x = rng.uniform(0, 1, (2000, 1)).astype(np.float32)
    y = (rng.uniform(0, 1, x.shape) < x).astype(np.float32)
    model = identity((1,), metrics_=["AUC"])
    got = evaluated(model, x, y, batch_size=128)["AUC"]
    assert got == pytest.approx(roc_auc_score(y, x), abs=2e-3)  # 200 thresholds, not exact
    model = identity((1,), metrics_=[metrics.AUC(num_thresholds=2000)])
    assert list(evaluated(model, x, y).values())[1] == pytest.approx(roc_auc_score(y, x), abs=2e-4)


def test_auc_of_one_class_only_is_zero():
    x = np.array([[0.2], [0.7]], np.float32)
    model = identity((1,), metrics_=["auc"])
    assert evaluated(model, x, np.zeros_like(x))["auc"] == 0.0


# ----------------------------------------------------------------------------- precision, recall
@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("kind", ["precision", "recall"])
@pytest.mark.parametrize("threshold", [None, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(2,), (3, 2)], ids=["2d", "sequence"])
def test_precision_recall_are_ratios_of_epoch_counts(kind, threshold, weighted, shape, rng):
    x = rng.uniform(0, 1, (40,) + shape)
    x[0] = 0.5  # exactly at the threshold: negative
    y = (rng.uniform(0, 1, x.shape) < x).astype(np.float64)
    w = rng.uniform(0, 2, 40) if weighted else None
    cls = metrics.Precision if kind == "precision" else metrics.Recall
    model = identity(shape, metrics_=[cls(thresholds=threshold)])
    got = list(evaluated(model, x, y, w).values())[1]
    want = confusion_ratio(kind, y, x, w, 0.5 if threshold is None else threshold)
    assert got == pytest.approx(want, rel=1e-12)
    if not weighted and shape == (2,) and threshold is None:
        score = precision_score if kind == "precision" else recall_score
        assert got == pytest.approx(score(y.reshape(-1), x.reshape(-1) > 0.5), rel=1e-12)


def test_precision_without_positive_predictions_is_zero():
    x = np.full((3, 1), 0.2, np.float32)
    model = identity((1,), metrics_=["precision", "recall"])
    got = evaluated(model, x, np.ones_like(x))
    assert got["precision"] == 0.0 and got["recall"] == 0.0


# ----------------------------------------------------------------------------- top-k
@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("k", [1, 2, 5])
@pytest.mark.parametrize("shape", [(6,), (3, 6)], ids=["2d", "sequence"])
def test_top_k_accuracies_match_reference(k, shape, rng):
    x = rng.standard_normal((30,) + shape).round(1)  # ties included
    ids = rng.integers(0, 6, (30,) + shape[:-1])
    w = rng.uniform(0, 2, 30)
    dense = identity(shape, metrics_=[metrics.TopKCategoricalAccuracy(k)])
    got = list(evaluated(dense, x, np.eye(6)[ids], w).values())[1]
    assert got == pytest.approx(top_k(ids, x, k, w), rel=1e-12)
    sparse_model = Sequential([Input(shape), Activation("softmax")])
    sparse_model.compile(
        "sgd", "sparse_categorical_crossentropy", metrics=[metrics.SparseTopKCategoricalAccuracy(k)]
    )
    got = list(evaluated(sparse_model, x, ids.astype(np.float64), w).values())[1]
    assert got == pytest.approx(top_k(ids, x, k, w), rel=1e-12)


def test_top_k_with_k_1_is_categorical_accuracy(rng):
    x = rng.standard_normal((40, 5)).astype(np.float32)
    y = np.eye(5, dtype=np.float32)[rng.integers(0, 5, 40)]
    model = identity((5,), metrics_=[metrics.TopKCategoricalAccuracy(1), "categorical_accuracy"])
    got = evaluated(model, x, y)
    assert got["top_k_categorical_accuracy"] == got["categorical_accuracy"]


# ----------------------------------------------------------------------------- losses as metrics
@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize(
    "metric, loss, kwargs, sign",
    [
        ("hinge", "hinge", {}, 1),
        ("squared_hinge", "squared_hinge", {}, 1),
        ("kld", "kl_divergence", {}, 1),
        ("KLDivergence", "kl_divergence", {}, 1),
        ("poisson", "poisson", {}, 1),
        ("mape", "mean_absolute_percentage_error", {}, 1),
        ("msle", "mean_squared_logarithmic_error", {}, 1),
        ("log_cosh_error", "log_cosh", {}, 1),
        ("logcosh", "log_cosh", {}, 1),
        ("huber", "huber", {}, 1),
        ("cosine_similarity", "cosine_similarity", {}, -1),
        ("binary_focal_crossentropy", "binary_focal_crossentropy", {}, 1),
        (
            metrics.BinaryCrossentropy(label_smoothing=0.1),
            "binary_crossentropy",
            {"label_smoothing": 0.1},
            1,
        ),
        (dropnet.losses.huber, "huber", {}, 1),
    ],
    ids=str,
)
def test_losses_as_metrics_are_weighted_epoch_means(metric, loss, kwargs, sign, rng):
    x = rng.uniform(0.1, 0.9, (30, 3, 4))
    y = rng.integers(0, 2, (30, 3, 4)).astype(np.float64)
    w = rng.uniform(0, 2, 30)
    model = identity((3, 4), metrics_=[metric])
    got = list(evaluated(model, x, y, w).values())[1]
    per = ref.loss(loss, False, x, y, None, **kwargs)
    assert got == pytest.approx(sign * np.average(per, weights=w), rel=1e-12)


def test_cross_entropy_metric_after_sigmoid_equals_the_loss(rng):
    dropnet.set_random_seed(2)
    model = Sequential([Input((4,)), Dense(2, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy", metrics=["binary_crossentropy", "bce"])
    x = rng.standard_normal((20, 4)).astype(np.float32) * 5
    y = rng.integers(0, 2, (20, 2)).astype(np.float32)
    got = evaluated(model, x, y, batch_size=20)
    assert got["binary_crossentropy"] == pytest.approx(got["loss"], rel=1e-12)
    assert got["bce"] == got["binary_crossentropy"]


# ----------------------------------------------------------------------------- keys
def test_string_metrics_log_under_the_string_given(rng):
    x = rng.standard_normal((20, 2)).astype(np.float32)
    model = identity((2,), metrics_=["mse", "MSE", "mean_squared_error", "mae", "AUC", "acc"])
    history = model.fit(x, x > 0, epochs=1, verbose=0, validation_split=0.25).history
    keys = ["mse", "MSE", "mean_squared_error", "mae", "AUC", "acc"]
    assert set(history.keys()) == {"loss", "val_loss", *keys, *("val_" + k for k in keys)}
    assert history["mse"] == history["MSE"] == history["mean_squared_error"]


def test_keras2_function_name_keys_read_the_same_lists(rng):
    x = rng.standard_normal((20, 2)).astype(np.float32)
    model = identity((2,), metrics_=["mse", "mae", "mape", "msle", "acc"])
    history = model.fit(x, x, epochs=2, verbose=0, validation_split=0.25).history
    for short, full in [
        ("mse", "mean_squared_error"),
        ("mae", "mean_absolute_error"),
        ("mape", "mean_absolute_percentage_error"),
        ("msle", "mean_squared_logarithmic_error"),
        ("acc", "accuracy"),
    ]:
        for prefix in ("", "val_"):
            assert full not in dict(history)
            assert prefix + full in history
            assert history[prefix + full] is history[prefix + short]


def test_metric_objects_use_their_names_numbered_per_process():
    first = metrics.AUC()
    second = metrics.AUC()
    n = int(first.name.rsplit("_", 1)[1]) if first.name != "auc" else 0
    assert second.name == f"auc_{n + 1}"
    assert metrics.AUC(name="mine").name == "mine"
    assert metrics.MeanSquaredError().name == "mean_squared_error"  # Keras's default name
    assert metrics.TopKCategoricalAccuracy().name == "top_k_categorical_accuracy"
    p = metrics.Precision()
    assert p.name == "precision" or p.name.startswith("precision_")


def test_duplicate_names_in_one_compile_get_numbers(rng):
    x = rng.uniform(0, 1, (10, 1)).astype(np.float32)
    model = identity((1,), metrics_=["mse", "mse", metrics.AUC(name="a"), metrics.AUC(name="a")])
    assert model.metrics_names == ["loss", "mse", "mse_1", "a", "a_1"]
    assert set(evaluated(model, x, x > 0.5)) == {"loss", "mse", "mse_1", "a", "a_1"}


def test_metric_keys_of_several_outputs_carry_the_output_name(rng):
    inp = Input((3,))
    a = Dense(1, activation="sigmoid", name="a")(inp)
    b = Dense(4, activation="softmax", name="b")(inp)
    model = Model(inp, [a, b])
    model.compile(
        "sgd",
        ["binary_crossentropy", "categorical_crossentropy"],
        metrics=[["auc", metrics.Precision(name="p")], [metrics.TopKCategoricalAccuracy(2)]],
    )
    assert model.metrics_names == [
        "loss",
        "a_loss",
        "b_loss",
        "a_auc",
        "a_p",
        "b_top_k_categorical_accuracy",
    ]


# ----------------------------------------------------------------------------- checks
@pytest.mark.parametrize(
    "loss, metric",
    [
        ("categorical_crossentropy", "sparse_top_k_categorical_accuracy"),
        ("categorical_crossentropy", "sparse_categorical_accuracy"),
        ("sparse_categorical_crossentropy", "auc"),
        ("sparse_categorical_crossentropy", "mse"),
        ("sparse_categorical_crossentropy", metrics.Precision()),
        ("sparse_categorical_crossentropy", "top_k_categorical_accuracy"),
    ],
    ids=str,
)
def test_metrics_check_the_labels_the_loss_takes(loss, metric):
    model = Sequential([Input((3,)), Dense(4, activation="softmax")])
    with pytest.raises(ValueError, match="labels|class id"):
        model.compile("sgd", loss, metrics=[metric])


@pytest.mark.parametrize(
    "make, text",
    [
        (lambda: metrics.Precision(top_k=2), "top_k"),
        (lambda: metrics.Recall(class_id=1), "class_id"),
        (lambda: metrics.Precision(thresholds=[0.2, 0.5]), "one threshold"),
        (lambda: metrics.Precision(thresholds=1.5), "thresholds"),
        (lambda: metrics.AUC(curve="XY"), "curve"),
        (lambda: metrics.AUC(summation_method="minoring"), "summation_method"),
        (lambda: metrics.AUC(num_thresholds=1), "num_thresholds"),
        (lambda: metrics.AUC(thresholds=[0.5]), "thresholds"),
        (lambda: metrics.TopKCategoricalAccuracy(k=0), "k"),
        (lambda: metrics.CosineSimilarity(axis=0), "axis"),
    ],
)
def test_metric_bad_arguments_raise_value_error(make, text):
    with pytest.raises(ValueError, match=text):
        make()


def test_unknown_metric_lists_the_known_ones():
    model = Sequential([Input((3,)), Dense(1)])
    with pytest.raises(ValueError) as info:
        model.compile("sgd", "mse", metrics=["aucc"])
    msg = str(info.value)
    assert "'aucc'" in msg and "top_k_categorical_accuracy" in msg and "auc" in msg


def test_metric_class_of_ones_own_is_refused():
    class Mine(metrics.Metric):
        def update_state(self, y_true, y_pred, sample_weight=None):
            pass

    model = Sequential([Input((3,)), Dense(1)])
    with pytest.raises(ValueError, match="of your own"):
        model.compile("sgd", "mse", metrics=[Mine()])


# ----------------------------------------------------------------------------- objects in files
@pytest.mark.parametrize(
    "metric",
    [
        metrics.AUC(num_thresholds=50, curve="PR", multi_label=True, name="pr"),
        metrics.Precision(thresholds=0.3),
        metrics.Recall(),
        metrics.TopKCategoricalAccuracy(k=2),
        metrics.BinaryAccuracy(threshold=0.7),
        metrics.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
        metrics.CosineSimilarity(),
    ],
    ids=lambda m: type(m).__name__,
)
def test_metric_objects_survive_config_and_model_files(metric, tmp_path, rng):
    back = type(metric).from_config(metric.get_config())
    assert back.get_config() == metric.get_config() and back._spec() == metric._spec()
    dropnet.set_random_seed(4)
    model = Sequential([Input((3,)), Dense(3, activation="softmax")])
    model.compile("sgd", "categorical_crossentropy", metrics=[metric, "auc"])
    x = rng.standard_normal((12, 3)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 12)]
    model.save(tmp_path / "m.dropnet")
    loaded = load_model(tmp_path / "m.dropnet")
    assert loaded.metrics_names == model.metrics_names
    np.testing.assert_array_equal(loaded.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0))


# ----------------------------------------------------------------------------- Python functions
def rmse(y_true, y_pred):
    return np.sqrt(np.mean((y_true - y_pred) ** 2, axis=-1))


class Predictions(dropnet.callbacks.Callback):
    """The model's predictions of some data at each epoch's end."""

    def __init__(self, x):
        super().__init__()
        self.x, self.seen = x, []

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append(self.model.predict(self.x, verbose=0))


def test_python_metric_runs_on_each_epochs_predictions(rng):
    dropnet.set_random_seed(8)
    model = Sequential([Input((4,)), Dense(2)])
    model.compile("adam", "mse", metrics=[rmse, "mae"])
    x = rng.standard_normal((40, 4)).astype(np.float32)
    y = rng.standard_normal((40, 2)).astype(np.float32)
    w = rng.uniform(0, 2, 40).astype(np.float32)
    train, val = Predictions(x[:30]), Predictions(x[30:])
    history = model.fit(
        x,
        y,
        sample_weight=w,
        epochs=3,
        batch_size=8,
        validation_split=0.25,
        verbose=0,
        callbacks=[train, val],
    ).history
    assert model.metrics_names == ["loss", "mae", "rmse"]
    for e in range(3):
        want = np.average(rmse(y[:30], train.seen[e]), weights=w[:30])
        assert history["rmse"][e] == pytest.approx(want, rel=1e-6)
        want = np.average(rmse(y[30:], val.seen[e]), weights=w[30:])
        assert history["val_rmse"][e] == pytest.approx(want, rel=1e-6)


def test_python_metric_in_evaluate_and_train_on_batch(rng):
    dropnet.set_random_seed(9)
    model = Sequential([Input((3,)), Dense(2)])
    model.compile("sgd", "mse", metrics=[rmse])
    x = rng.standard_normal((20, 3)).astype(np.float32)
    y = rng.standard_normal((20, 2)).astype(np.float32)
    _, got = model.evaluate(x, y, verbose=0)
    assert got == pytest.approx(np.mean(rmse(y, model.predict(x, verbose=0))), rel=1e-6)
    first = model.evaluate(x, y, batch_size=5, steps=2, verbose=0, return_dict=True)
    assert first["rmse"] == pytest.approx(
        np.mean(rmse(y[:10], model.predict(x[:10], verbose=0))), rel=1e-6
    )
    _, got = model.train_on_batch(x, y)  # on the weights after the step
    assert got == pytest.approx(np.mean(rmse(y, model.predict(x, verbose=0))), rel=1e-6)


def test_python_metric_on_a_sequence_output_averages_each_samples_steps(rng):
    model = identity((3, 2), metrics_=[rmse])
    x = rng.standard_normal((10, 3, 2))
    y = rng.standard_normal((10, 3, 2))
    w = rng.uniform(0, 2, 10)
    got = evaluated(model, x.astype(np.float32), y.astype(np.float32), w.astype(np.float32))
    want = np.average(rmse(y, x).mean(axis=1), weights=w)
    assert got["rmse"] == pytest.approx(want, rel=1e-5)


def test_python_metric_named_like_a_built_in_runs_the_users_code(rng):
    def mse(y_true, y_pred):
        return np.full(len(y_true), 7.0)

    model = identity((2,), metrics_=[mse, "mse"])
    x = rng.standard_normal((6, 2)).astype(np.float32)
    got = evaluated(model, x, x)
    # the core's metrics come first, the Python functions' after; the second mse is mse_1
    assert model.metrics_names == ["loss", "mse_1", "mse"]
    assert got["mse"] == 7.0 and got["mse_1"] == 0.0


def test_python_metric_scalar_result_and_bad_shapes(rng):
    x = rng.standard_normal((6, 2)).astype(np.float32)
    model = identity((2,), metrics_=[lambda y_true, y_pred: 3.5])
    assert evaluated(model, x, x)["<lambda>"] == 3.5
    model = identity((2,), metrics_=[lambda y_true, y_pred: np.zeros(4)])
    with pytest.raises(ValueError, match="one value per sample"):
        model.evaluate(x, x, verbose=0)


def test_python_metric_needs_arrays_and_no_stateful_layers(rng):
    x = rng.standard_normal((8, 2)).astype(np.float32)
    model = identity((2,), metrics_=[rmse])

    def batches():
        while True:
            yield x, x

    with pytest.raises(ValueError, match="arrays"):
        model.fit(batches(), steps_per_epoch=2, verbose=0)
    with pytest.raises(ValueError, match="arrays"):
        model.evaluate(batches(), steps=2, verbose=0)
    stateful = Sequential([Input((3, 2), batch_size=4), dropnet.layers.LSTM(2, stateful=True)])
    stateful.compile("sgd", "mse", metrics=[rmse])
    with pytest.raises(ValueError, match="stateful"):
        stateful.evaluate(np.zeros((8, 3, 2), np.float32), np.zeros((8, 2), np.float32), verbose=0)


def test_python_metric_drives_early_stopping_and_survives_files(tmp_path, rng):
    x = rng.standard_normal((16, 2)).astype(np.float32)
    model = identity((2,), metrics_=[rmse])
    stop = dropnet.callbacks.EarlyStopping(monitor="rmse", patience=1)
    history = model.fit(x, x + 1, epochs=10, verbose=0, callbacks=[stop]).history
    assert len(history["rmse"]) == 2  # an identity never improves: stops after patience
    model.save(tmp_path / "m.dropnet")
    with pytest.raises(ValueError, match="custom_objects"):
        load_model(tmp_path / "m.dropnet")
    back = load_model(tmp_path / "m.dropnet", custom_objects={"rmse": rmse})
    assert back.metrics_names == model.metrics_names
    assert back.evaluate(x, x, verbose=0) == model.evaluate(x, x, verbose=0)
    copy = pickle.loads(pickle.dumps(model))
    assert copy.evaluate(x, x, verbose=0) == model.evaluate(x, x, verbose=0)


def test_python_metric_per_output_of_several(rng):
    inp = Input((3,))
    model = Model(inp, [Dense(2, name="a")(inp), Dense(1, name="b")(inp)])
    model.compile("sgd", "mse", metrics=[[rmse], []])
    x = rng.standard_normal((10, 3)).astype(np.float32)
    ya, yb = (
        rng.standard_normal((10, 2)).astype(np.float32),
        rng.standard_normal((10, 1)).astype(np.float32),
    )
    got = model.evaluate(x, [ya, yb], verbose=0, return_dict=True)
    pa, _ = model.predict(x, verbose=0)
    assert got["a_rmse"] == pytest.approx(np.mean(rmse(ya, pa)), rel=1e-6)


@pytest.mark.parametrize(
    "monitor, mode",
    [
        ("val_auc", "max"),
        ("auc_1", "max"),
        ("val_precision", "max"),
        ("recall_2", "max"),
        ("top_k_categorical_accuracy", "max"),
        ("val_cosine_similarity", "max"),
        ("val_mse", "min"),
        ("huber", "min"),
    ],
)
def test_early_stopping_auto_mode_knows_the_rising_metrics(monitor, mode):
    assert dropnet.callbacks.EarlyStopping(monitor=monitor).mode == mode
