"""Keras 2 habits and model utilities tutorial code reaches for: old module paths,
lower-case constraint functions, initializer strings, predict_classes / predict_proba,
to_json / model_from_json, plot_model, normalize, Keras 3's summary table, and the
scikit-learn wrapper's Keras 2 ways (bare grid parameters, one-hot targets) with Monte-Carlo
dropout from the estimators."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score

import dropnet
from dropnet import constraints, initializers
from dropnet.layers import LSTM, Dense, Dropout, Input, concatenate
from dropnet.models import Model, Sequential, model_from_json
from dropnet.utils import normalize, plot_model, to_categorical


@pytest.mark.parametrize(
    "path,name",
    [
        ("dropnet.layers.merge", "concatenate"),
        ("dropnet.layers.merge", "Concatenate"),
        ("dropnet.layers.core", "Dropout"),  # Keras 2 kept Dropout in layers.core
        ("dropnet.layers.core", "Dense"),
        ("dropnet.layers.recurrent", "LSTM"),
        ("dropnet.layers.embeddings", "Embedding"),
        ("dropnet.layers.normalization", "BatchNormalization"),
        ("dropnet.layers.noise", "GaussianNoise"),
        ("dropnet.layers.convolutional", "Conv2D"),
        ("dropnet.layers.pooling", "MaxPooling2D"),
        ("dropnet.layers.wrappers", "TimeDistributed"),
        ("dropnet.utils.np_utils", "to_categorical"),
        ("dropnet.utils.vis_utils", "plot_model"),
        ("dropnet.wrappers.scikit_learn", "KerasClassifier"),
        ("dropnet.preprocessing.sequence", "pad_sequences"),
        ("dropnet.preprocessing.text", "Tokenizer"),
    ],
)
def test_keras2_module_paths_import(path, name):
    module = importlib.import_module(path)
    assert getattr(module, name) is not None
    assert importlib.import_module(path.rsplit(".", 1)[0]).__spec__.name == path.rsplit(".", 1)[0]


def test_unknown_names_on_old_paths_still_fail():
    with pytest.raises(ImportError):
        importlib.import_module("dropnet.layers.nonexistent")
    with pytest.raises(AttributeError):
        _ = importlib.import_module("dropnet.layers.core").NotALayer


def test_lower_case_constraints_and_initializer_strings():
    for fn, cls in (
        (constraints.maxnorm, constraints.MaxNorm),
        (constraints.max_norm, constraints.MaxNorm),
        (constraints.nonneg, constraints.NonNeg),
        (constraints.unitnorm, constraints.UnitNorm),
    ):
        assert isinstance(fn(), cls)
    assert constraints.maxnorm(3).max_value == 3
    assert isinstance(constraints.get("unitnorm"), constraints.UnitNorm)
    shape = (400, 300)
    assert not initializers.get("zero")(shape).any()
    assert (initializers.get("one")(shape) == 1).all()
    normal = initializers.get("normal")(shape)
    assert abs(normal.std() - 0.05) < 0.002
    uniform = initializers.get("uniform")(shape)
    assert uniform.min() >= -0.05 and uniform.max() <= 0.05
    truncated = initializers.get("truncated_normal")(shape)
    assert np.abs(truncated).max() <= 0.1 and 0.04 < truncated.std() < 0.05
    shifted = initializers.TruncatedNormal(mean=1.0, stddev=0.1, seed=3)(shape)
    assert abs(shifted.mean() - 1.0) < 0.002 and np.abs(shifted - 1.0).max() <= 0.2
    layer = Dense(4, kernel_initializer="zero", kernel_constraint=constraints.maxnorm(2))
    Sequential([Input((3,)), layer])
    assert not layer.get_weights()[0].any()


def _classifier(units=3):
    dropnet.set_random_seed(0)
    m = Sequential([Input((4,)), Dense(8, activation="relu"), Dense(units, activation="softmax")])
    m.compile("adam", "categorical_crossentropy")
    return m


def test_predict_classes_and_predict_proba(rng):
    x = rng.standard_normal((6, 4)).astype(np.float32)
    m = _classifier()
    np.testing.assert_array_equal(m.predict_classes(x), m.predict(x, verbose=0).argmax(-1))
    binary = Sequential([Input((4,)), Dense(1, activation="sigmoid")])
    p = binary.predict(x, verbose=0)
    classes = binary.predict_classes(x)
    assert classes.dtype == np.int32 and classes.shape == (6, 1)
    np.testing.assert_array_equal(classes, (p > 0.5).astype(np.int32))
    np.testing.assert_array_equal(m.predict_proba(x), m.predict(x, verbose=0))
    linear = Sequential([Input((4,)), Dense(2)])
    linear.set_weights([np.full((4, 2), 5.0), np.zeros(2)])
    with pytest.warns(UserWarning, match=r"outside \[0, 1\]"):
        linear.predict_proba(np.ones((2, 4), np.float32))


def test_to_json_and_model_from_json(rng):
    m = _classifier()
    x = rng.standard_normal((5, 4)).astype(np.float32)
    again = model_from_json(m.to_json())
    assert isinstance(again, Sequential) and [type(a) for a in again.layers] == [
        type(b) for b in m.layers
    ]
    again.set_weights(m.get_weights())
    np.testing.assert_array_equal(again.predict(x, verbose=0), m.predict(x, verbose=0))
    a, b = Input((5, 3)), Input((4,))
    out, _, c = LSTM(6, return_state=True)(a)
    f = Model([a, b], [Dense(1)(concatenate([out, Dense(3)(b)])), c])
    g = model_from_json(f.to_json(indent=2))
    assert g.output_shape == f.output_shape and g.count_params() == f.count_params()
    with pytest.raises(ValueError, match="to_json"):
        model_from_json("{not json")
    with pytest.raises(ValueError, match="class_name"):
        model_from_json('{"class_name": "Dense", "config": {}}')
    with pytest.raises(ValueError, match="custom_objects"):
        model_from_json(m.to_json(), custom_objects={"f": len})


def test_plot_model_draws_the_graph(tmp_path):
    a, b = Input((5, 3)), Input((4,))
    model = Model([a, b], Dense(1)(concatenate([LSTM(6)(a), Dense(3)(b)])))
    path = plot_model(model, to_file=tmp_path / "model.png", show_shapes=True)
    import matplotlib.image

    image = matplotlib.image.imread(path)
    assert image.shape[0] > 200 and image.shape[1] > 200
    lr = plot_model(_classifier(), to_file=str(tmp_path / "seq.svg"), rankdir="LR")
    with open(lr) as f:
        assert f.read().startswith("<?xml")
    with pytest.raises(ValueError, match="rankdir"):
        plot_model(model, to_file=tmp_path / "x.png", rankdir="BT")
    with pytest.raises(ValueError, match="input shape"):
        plot_model(Sequential([Dense(2)]), to_file=tmp_path / "x.png")
    with pytest.raises(TypeError, match="dropnet model"):
        plot_model("model", to_file=tmp_path / "x.png")


def test_normalize_matches_numpy(rng):
    x = rng.standard_normal((5, 3))
    x[2] = 0
    got = normalize(x)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    np.testing.assert_allclose(got, np.where(norms > 0, x / np.where(norms > 0, norms, 1), 0))
    np.testing.assert_allclose(np.abs(normalize(x, axis=0, order=1)).sum(0), 1.0)


# Keras 3.15.1's own output for these two models at line_length 76 (its default in an 80-column
# terminal), model names aside.
KERAS_SEQUENTIAL = """\
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ dense (Dense)                   │ (None, 8)              │            40 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dropout (Dropout)               │ (None, 8)              │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense_1 (Dense)                 │ (None, 1)              │             9 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 49 (196.00 B)
 Trainable params: 49 (196.00 B)
 Non-trainable params: 0 (0.00 B)"""
KERAS_FUNCTIONAL = """\
┏━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━┓
┃ Layer (type)        ┃ Output Shape      ┃    Param # ┃ Connected to      ┃
┡━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━┩
│ input_layer_1       │ (None, 5, 3)      │          0 │ -                 │
│ (InputLayer)        │                   │            │                   │
├─────────────────────┼───────────────────┼────────────┼───────────────────┤
│ input_layer_2       │ (None, 4)         │          0 │ -                 │
│ (InputLayer)        │                   │            │                   │
├─────────────────────┼───────────────────┼────────────┼───────────────────┤
│ lstm (LSTM)         │ (None, 6)         │        240 │ input_layer_1[0]… │
├─────────────────────┼───────────────────┼────────────┼───────────────────┤
│ dense_3 (Dense)     │ (None, 3)         │         15 │ input_layer_2[0]… │
├─────────────────────┼───────────────────┼────────────┼───────────────────┤
│ concatenate         │ (None, 9)         │          0 │ lstm[0][0],       │
│ (Concatenate)       │                   │            │ dense_3[0][0]     │
├─────────────────────┼───────────────────┼────────────┼───────────────────┤
│ dense_2 (Dense)     │ (None, 1)         │         10 │ concatenate[0][0] │
└─────────────────────┴───────────────────┴────────────┴───────────────────┘
 Total params: 265 (1.04 KB)
 Trainable params: 265 (1.04 KB)
 Non-trainable params: 0 (0.00 B)"""


def test_summary_is_keras_3s_table():
    lines: list[str] = []
    seq = Sequential(
        [Input((4,)), Dense(8, activation="relu", name="dense"), Dropout(0.2, name="dropout")]
        + [Dense(1, name="dense_1")]
    )
    seq.summary(line_length=76, print_fn=lines.append)
    assert "\n".join(lines[1:]) == KERAS_SEQUENTIAL
    a = Input((5, 3), name="input_layer_1")
    b = Input((4,), name="input_layer_2")
    h = LSTM(6, name="lstm")(a)
    merged = concatenate([h, Dense(3, name="dense_3")(b)], name="concatenate")
    lines = []
    Model([a, b], Dense(1, name="dense_2")(merged)).summary(line_length=76, print_fn=lines.append)
    assert "\n".join(lines[1:]) == KERAS_FUNCTIONAL
    lines = []
    seq.summary(
        line_length=100,
        print_fn=lines.append,
        layer_range=["dropout", "dense_1"],
        show_trainable=True,
    )
    assert "dense (Dense)" not in "\n".join(lines) and "Traina…" in lines[2]
    assert lines[4].startswith("│ dropout (Dropout)") and lines[4].endswith("│    -    │")
    with pytest.raises(ValueError, match="layer_range"):
        seq.summary(layer_range=["nope", "dense_1"])


def test_predict_mc_batch_size_bounds_memory_not_results(rng):
    m = Sequential([Input((4,)), Dense(16), Dropout(0.5), Dense(2)])
    x = rng.standard_normal((10, 4)).astype(np.float32)
    m._mc_calls = 0
    whole = m.predict_mc(x, n=5)
    m._mc_calls = 0
    parts = m.predict_mc(x, n=5, batch_size=3)
    for a, b in zip(whole, parts):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="batch_size"):
        m.predict_mc(x, n=5, batch_size=0)


# ---- the scikit-learn wrapper's Keras 2 habits


def _build(neurons=8, dropout_rate=0.0, classes=3):
    model = Sequential()
    model.add(Dense(neurons, input_dim=4, activation="relu"))
    model.add(Dropout(dropout_rate))
    model.add(Dense(classes, activation="softmax"))
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def _iris_like(rng, n=90):
    y = np.repeat(np.arange(3), n // 3)
    x = rng.standard_normal((n, 4)) + y[:, None] * 2.5
    return x.astype(np.float32), y


def test_grids_search_bare_build_function_parameters(rng):
    from dropnet.wrappers.scikit_learn import KerasClassifier

    x, y = _iris_like(rng)
    est = KerasClassifier(build_fn=_build, epochs=5, batch_size=10, verbose=0, random_state=0)
    grid = GridSearchCV(est, {"dropout_rate": [0.0, 0.2], "neurons": [4, 8]}, cv=2).fit(x, y)
    assert set(grid.best_params_) == {"dropout_rate", "neurons"}
    assert grid.best_estimator_.model_.layers[0].units == grid.best_params_["neurons"]
    with pytest.raises(ValueError, match="nb_epoch is not a parameter"):
        KerasClassifier(build_fn=_build, nb_epoch=10).fit(x, y)
    with pytest.raises(ValueError, match="Invalid parameter"):
        est.set_params(nb_epoch=3)
    # A bare Model.fit argument reaches fit (Keras 2's wrapper did the same).
    fitted = KerasClassifier(build_fn=_build, epochs=4, initial_epoch=2, verbose=0).fit(x, y)
    assert len(fitted.history_["loss"]) == 2


def test_one_hot_targets_as_the_keras_2_tutorial_gives_them(rng):
    from dropnet.wrappers.scikit_learn import KerasClassifier

    x, y = _iris_like(rng)
    dummy_y = to_categorical(y)
    est = KerasClassifier(build_fn=_build, epochs=40, batch_size=5, verbose=0, random_state=0)
    folds = KFold(3, shuffle=True, random_state=7)
    scores = cross_val_score(est, x, dummy_y, cv=folds)
    assert scores.mean() > 0.6  # chance: 1/3
    # The same fits and scores as with the integer labels they encode.
    np.testing.assert_array_equal(scores, cross_val_score(est, x, y, cv=folds))
    est.fit(x, dummy_y)
    pred = est.predict(x[:4])
    assert pred.shape == (4, 3) and (pred.sum(1) == 1).all()
    np.testing.assert_array_equal(est.classes_, [0, 1, 2])
    assert est.predict_proba(x[:4]).shape == (4, 3)
    with pytest.raises(ValueError, match="one-hot rows of 2 columns"):
        est.set_params(warm_start=True).fit(x, to_categorical(y % 2))


def test_monte_carlo_dropout_from_the_estimators(rng):
    from dropnet.wrappers.scikit_learn import KerasClassifier, KerasRegressor

    x, y = _iris_like(rng)
    est = KerasClassifier(build_fn=_build, dropout_rate=0.5, epochs=5, verbose=0, random_state=1)
    est.fit(x, y)
    proba = est.predict_proba(x[:6], mc_samples=30)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-6)
    assert not np.allclose(proba, est.predict_proba(x[:6]))  # dropout was on
    mean, std = est.predict_uncertainty(x[:6], mc_samples=30)
    assert mean.shape == std.shape == (6, 3) and (std > 0).all()
    assert est.predict(x[:6], mc_samples=10).shape == (6,)
    plain = KerasClassifier(build_fn=_build, epochs=2, verbose=0, random_state=1).fit(x, y)
    _, no_spread = plain.predict_uncertainty(x[:6], mc_samples=10)
    assert not no_spread.any()  # no dropout: every pass is the same

    def regressor(rate=0.3):
        m = Sequential([Input((4,)), Dense(16, activation="relu"), Dropout(rate), Dense(1)])
        m.compile("adam", "mse")
        return m

    reg = KerasRegressor(model=regressor, epochs=3, verbose=0, random_state=2)
    reg.fit(x, y.astype(np.float64))
    mean, std = reg.predict_uncertainty(x[:5], mc_samples=25)
    assert mean.shape == std.shape == (5,) and (std > 0).all()
    assert reg.predict(x[:5], mc_samples=5).shape == (5,)
    with pytest.raises(TypeError, match="mc_samples"):
        reg.predict(x[:5], mc_samples=2.5)
    with pytest.raises(ValueError, match="mc_samples"):
        reg.predict(x[:5], mc_samples=0)


def test_logit_outputs_average_probabilities(rng):
    from dropnet.wrappers.scikit_learn import KerasClassifier

    def logits():
        m = Sequential([Input((4,)), Dense(16, activation="relu"), Dropout(0.5), Dense(3)])
        m.compile("adam", dropnet.losses.SparseCategoricalCrossentropy(from_logits=True))
        return m

    x, y = _iris_like(rng)
    est = KerasClassifier(model=logits, epochs=3, verbose=0, random_state=3).fit(x, y)
    mean, std = est.predict_uncertainty(x[:5], mc_samples=20)
    np.testing.assert_allclose(mean.sum(1), 1.0, rtol=1e-9)
    assert (mean >= 0).all() and (std > 0).all()


def test_predict_and_score_parameters_are_used(rng):
    from dropnet.wrappers.scikit_learn import KerasClassifier

    x, y = _iris_like(rng)
    est = KerasClassifier(build_fn=_build, epochs=2, verbose=0, predict__batch_size=0)
    est.fit(x, y)
    with pytest.raises(ValueError, match="batch_size"):
        est.predict(x)
    est.set_params(predict__batch_size=7, score__normalize=False)
    assert est.score(x, y) == float((est.predict(x) == y).sum())


def test_save_takes_keras_2_arguments_and_refuses_the_rest(tmp_path, rng):
    from dropnet.models import load_model

    m = _classifier()
    x = rng.standard_normal((8, 4)).astype(np.float32)
    m.fit(x, to_categorical(rng.integers(0, 3, 8), 3), verbose=0)
    m.save(tmp_path / "with.h5")
    m.save(tmp_path / "without.h5", include_optimizer=False)
    assert load_model(tmp_path / "with.h5").optimizer._slot_kinds()
    back = load_model(tmp_path / "without.h5")
    assert back.compiled and not back._slots  # compile settings kept, no optimizer state
    np.testing.assert_array_equal(back.predict(x, verbose=0), m.predict(x, verbose=0))
    assert (tmp_path / "without.h5").stat().st_size < (tmp_path / "with.h5").stat().st_size
    with pytest.raises(ValueError, match="own format"):
        m.save(tmp_path / "m.h5", save_format="h5")
    with pytest.raises(TypeError, match="signatures"):
        m.save(tmp_path / "m", signatures=None)
