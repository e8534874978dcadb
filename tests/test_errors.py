"""The misuse list of docs/behaviour.md ("Models and the training loop"): each misuse raises
ValueError or TypeError whose message names what was expected and what was received."""

from __future__ import annotations

import numpy as np
import pytest

import dropnet
from dropnet import callbacks, constraints, optimizers, regularizers
from dropnet.layers import Dense, Dropout, Input, LeakyReLU, Reshape
from dropnet.models import Sequential


def compiled(inputs=3, units=2, loss="mse", metrics=None):
    model = Sequential([Dense(units, input_dim=inputs)])
    model.compile(optimizer="sgd", loss=loss, metrics=metrics)
    return model


X = np.ones((10, 3), np.float32)
Y = np.ones((10, 2), np.float32)


def test_error_fit_before_compile():
    model = Sequential([Dense(2, input_dim=3)])
    with pytest.raises(ValueError, match="compile"):
        model.fit(X, Y, verbose=0)
    with pytest.raises(ValueError, match="compile"):
        model.train_on_batch(X, Y)
    with pytest.raises(ValueError, match="compile"):
        model.evaluate(X, Y, verbose=0)


def test_error_compile_without_loss_then_fit():
    model = Sequential([Dense(2, input_dim=3)])
    model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="loss"):
        model.fit(X, Y, verbose=0)


@pytest.mark.parametrize("method", ["fit", "evaluate", "train_on_batch"])
def test_error_sample_count_mismatch_names_both_counts(method):
    model = compiled()
    kwargs = {"verbose": 0} if method != "train_on_batch" else {}
    with pytest.raises(ValueError) as info:
        getattr(model, method)(X, Y[:9], **kwargs)
    assert "10" in str(info.value) and "9" in str(info.value)


@pytest.mark.parametrize("method", ["fit", "evaluate", "predict", "train_on_batch"])
def test_error_wrong_feature_count_names_expected_and_received_shapes(method):
    model = compiled()
    x = np.ones((10, 4), np.float32)
    args = (x,) if method == "predict" else (x, Y)
    with pytest.raises(ValueError) as info:
        getattr(model, method)(*args)
    msg = str(info.value)
    assert "(None, 3)" in msg and "(None, 4)" in msg


def test_error_wrong_target_shape_names_expected_and_received():
    model = compiled()
    with pytest.raises(ValueError) as info:
        model.fit(X, np.ones((10, 5)), verbose=0)
    assert "(None, 2)" in str(info.value) and "(None, 5)" in str(info.value)


def test_error_categorical_with_integer_labels_hints_sparse():
    model = compiled(units=3, loss="categorical_crossentropy")
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        model.fit(X, np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0]), verbose=0)


def test_error_sparse_labels_out_of_range():
    model = compiled(units=3, loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        model.fit(X, np.array([0, 1, 2, 3, 1, 2, 0, 1, 2, 0]), verbose=0)
    with pytest.raises(ValueError):
        model.fit(X, np.full(10, 0.5), verbose=0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["x", "y", "validation", "sample_weight"])
def test_error_non_finite_inputs(bad, where):
    model = compiled()
    x, y, w = X.copy(), Y.copy(), np.ones(10)
    kwargs = {"verbose": 0}
    if where == "x":
        x[3, 1] = bad
    elif where == "y":
        y[2, 0] = bad
    elif where == "sample_weight":
        w[4] = bad
        kwargs["sample_weight"] = w
    else:
        xv = X.copy()
        xv[0, 0] = bad
        kwargs["validation_data"] = (xv, Y)
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.fit(x, y, **kwargs)


def test_error_non_finite_predict_input():
    with pytest.raises(ValueError, match=r"NaN or infinite.*\(3, 1\)"):
        x = X.copy()
        x[3, 1] = np.nan
        compiled().predict(x)


@pytest.mark.parametrize("x", [np.array([["a", "b", "c"]] * 10), ["abc"] * 10, "abc", b"abc"])
def test_error_string_inputs_raise_type_error(x):
    with pytest.raises(TypeError, match="expected"):
        compiled().fit(x, Y, verbose=0)


def test_error_complex_and_object_inputs():
    with pytest.raises(TypeError):
        compiled().predict(np.ones((2, 3), complex))
    with pytest.raises(TypeError):
        compiled().predict(np.array([[1, 2, object()]] * 2, dtype=object))


@pytest.mark.parametrize("method", ["fit", "evaluate", "predict"])
def test_error_empty_arrays(method):
    model = compiled()
    x = np.zeros((0, 3), np.float32)
    args = (x,) if method == "predict" else (x, np.zeros((0, 2)))
    with pytest.raises(ValueError, match=r"at least one sample.*\(0, 3\)"):
        getattr(model, method)(*args)


def test_error_none_inputs():
    model = compiled()
    with pytest.raises(TypeError, match="None"):
        model.fit(None, Y, verbose=0)
    with pytest.raises(TypeError, match="None"):
        model.fit(X, None, verbose=0)
    with pytest.raises(TypeError, match="None"):
        model.predict(None)


def test_error_scalar_input():
    with pytest.raises(ValueError, match="scalar"):
        compiled().predict(np.float32(3))


@pytest.mark.parametrize(
    "make, exc, text",
    [
        (lambda: Dense(0), ValueError, "0"),
        (lambda: Dense(-3), ValueError, "-3"),
        (lambda: Dense(2.5), TypeError, "2.5"),
        (lambda: Dense("8"), TypeError, "'8'"),
        (lambda: Dense(4, activation="swsh"), ValueError, "swsh"),
        (lambda: Dense(4, kernel_initializer="nope"), ValueError, "nope"),
        (lambda: Dense(4, kernel_regularizer="l3"), ValueError, "l3"),
        (lambda: Dense(4, kernel_constraint="max"), ValueError, "max"),
        (lambda: Dense(4, input_shape=(0,)), ValueError, "(0,)"),
        (lambda: Dense(4, input_shape="abc"), ValueError, "abc"),
        (lambda: Dense(4, units_typo=3), TypeError, "units_typo"),
        (lambda: Dense(4, dtype="int32"), TypeError, "int32"),
        (lambda: LeakyReLU(negative_slope=-1), ValueError, "-1"),
        (lambda: Reshape((2, -1, -1)), ValueError, "-1"),
        (lambda: Dropout(0.5, noise_shape="x"), TypeError, "x"),
        (lambda: Dropout(0.5, seed=-1), ValueError, "-1"),
        (lambda: regularizers.L2(-0.1), ValueError, "-0.1"),
        (lambda: constraints.MaxNorm(0), ValueError, "0"),
        (lambda: constraints.MinMaxNorm(2.0, 1.0), ValueError, "2.0"),
    ],
)
def test_error_bad_layer_arguments(make, exc, text):
    with pytest.raises(exc) as info:
        make()
    assert text in str(info.value)


def test_error_layer_incompatible_with_input_names_layer():
    with pytest.raises(ValueError) as info:
        Sequential([Reshape((5,), name="reshaper", input_shape=(4,))])
    assert "reshaper" in str(info.value)


@pytest.mark.parametrize(
    "make, text",
    [
        (lambda: optimizers.SGD(learning_rate=-1), "-1"),
        (lambda: optimizers.SGD(learning_rate="fast"), "fast"),
        (lambda: optimizers.SGD(momentum=1.5), "1.5"),
        (lambda: optimizers.SGD(momentum=-0.5), "-0.5"),
        (lambda: optimizers.Adam(beta_1=1.0), "1.0"),
        (lambda: optimizers.Adam(beta_2=-0.1), "-0.1"),
        (lambda: optimizers.Adam(epsilon=float("nan")), "nan"),
        (lambda: optimizers.RMSprop(rho=-1), "-1"),
        (lambda: optimizers.Adagrad(initial_accumulator_value=-1), "-1"),
        (lambda: optimizers.Adadelta(rho=float("inf")), "inf"),
        (lambda: optimizers.SGD(clipnorm=0), "0"),
        (lambda: optimizers.SGD(clipvalue=-1), "-1"),
        (lambda: optimizers.SGD(clipnorm=1, clipvalue=1), "only one"),
        (lambda: optimizers.SGD(decay=-1), "-1"),
        (lambda: optimizers.SGD(weight_decay=-0.1), "-0.1"),
        (lambda: optimizers.ExponentialDecay(0.1, decay_steps=0, decay_rate=0.5), "decay_steps"),
        (lambda: optimizers.Adam(optimizers.ExponentialDecay(0.1, 10, 0.5), decay=0.1), "decay"),
    ],
)
def test_error_bad_optimizer_arguments_raise_value_error(make, text):
    with pytest.raises(ValueError) as info:
        make()
    assert text in str(info.value)


def test_error_unknown_optimizer_keyword_raises_type_error():
    with pytest.raises(TypeError, match="betas"):
        optimizers.Adam(betas=(0.9, 0.99))


@pytest.mark.parametrize(
    "kwargs, text",
    [
        ({"optimizer": "adamax2"}, "adamax2"),
        ({"optimizer": "sgd", "loss": "hinje"}, "hinje"),
        ({"optimizer": "sgd", "loss": "mse", "metrics": ["aucc"]}, "aucc"),
    ],
)
def test_error_unknown_names_in_compile(kwargs, text):
    model = Sequential([Dense(1, input_dim=2)])
    with pytest.raises(ValueError) as info:
        model.compile(**kwargs)
    msg = str(info.value)
    assert repr(text) in msg and "expected" in msg


def test_error_unknown_loss_lists_expected_names():
    with pytest.raises(ValueError, match="binary_crossentropy.*huber"):
        Sequential([Dense(1, input_dim=2)]).compile(loss="hinje")


def test_error_unknown_compile_keyword():
    with pytest.raises(TypeError, match="optimiser"):
        Sequential([Dense(1, input_dim=2)]).compile(optimiser="sgd", loss="mse")


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        ({"batch_size": 0}, ValueError),
        ({"batch_size": 2.5}, TypeError),
        ({"epochs": -1}, ValueError),
        ({"validation_split": 1.5}, ValueError),
        ({"validation_split": -0.2}, ValueError),
        ({"validation_data": (X,)}, ValueError),
        ({"class_weight": [1, 2]}, TypeError),
        ({"sample_weight": np.ones(9)}, ValueError),
        ({"sample_weight": -np.ones(10)}, ValueError),
        ({"steps_per_epoch": 3}, ValueError),
    ],
)
def test_error_bad_fit_arguments(kwargs, exc):
    with pytest.raises(exc):
        compiled().fit(X, Y, verbose=0, **kwargs)


def test_error_bad_callback_arguments():
    with pytest.raises(ValueError, match="mode"):
        callbacks.EarlyStopping(mode="up")
    with pytest.raises(TypeError, match="callable"):
        callbacks.LearningRateScheduler(0.1)


def test_error_learning_rate_scheduler_bad_value():
    model = compiled()
    cb = callbacks.LearningRateScheduler(lambda epoch, lr: -1.0)
    with pytest.raises(ValueError, match="-1.0"):
        model.fit(X, Y, callbacks=[cb], verbose=0)


def test_error_set_num_threads_and_floatx():
    with pytest.raises(ValueError):
        dropnet.set_num_threads(0)
    with pytest.raises(TypeError):
        dropnet.set_num_threads(1.5)
    with pytest.raises(ValueError, match="float16"):
        dropnet.backend.set_floatx("float16")
    with pytest.raises(ValueError):
        dropnet.set_random_seed(-1)
    with pytest.raises(TypeError):
        dropnet.set_random_seed("1")


def test_error_model_add_non_layer():
    with pytest.raises(TypeError, match="str"):
        Sequential().add("dense")
    layer = Dense(2, input_dim=3)
    model = Sequential([layer])
    with pytest.raises(ValueError, match="already"):
        model.add(layer)


def test_error_predict_on_model_without_layers():
    with pytest.raises(ValueError, match="no layers"):
        Sequential().predict(X)


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda: optimizers.Adam(epsilon=0), "epsilon"),
        (lambda: optimizers.Adam(beta_2=1.0), "beta_2"),
        (lambda: optimizers.RMSprop(rho=1.5), "rho"),
        (lambda: optimizers.RMSprop(momentum=1.0), "momentum"),
        (lambda: optimizers.Adagrad(epsilon=0.0), "epsilon"),
        (lambda: optimizers.Adadelta(rho=1.0), "rho"),
    ],
)
def test_optimizer_hyperparameters_out_of_range_are_refused(make, fragment):
    with pytest.raises(ValueError, match=fragment):
        make()


@pytest.mark.parametrize(
    "weights, error",
    [
        ({0: 1.0, 1: float("nan")}, ValueError),
        ({0: 1.0, 1: float("inf")}, ValueError),
        ({0: -1.0, 1: 1.0}, ValueError),
        ({0: 1.0, 1: "2"}, TypeError),
        ({"a": 1.0}, TypeError),
        ({0.5: 1.0}, TypeError),
    ],
)
def test_class_weight_is_checked_like_sample_weight(weights, error):
    model = Sequential([Input((2,)), Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    x = np.zeros((4, 2), np.float32)
    y = np.array([0, 1, 0, 1], np.float32)
    with pytest.raises(error, match="class_weight"):
        model.fit(x, y, class_weight=weights, verbose=0)
    model.fit(x, y, class_weight={0.0: 1.0, 1.0: 2.0}, verbose=0)  # float ids of whole classes


@pytest.mark.parametrize(
    "call",
    [
        lambda m, x, y: m.fit(x, y, batch_size=2**64, verbose=0),
        lambda m, x, y: m.fit(x, y, epochs=2**70, verbose=0),
        lambda m, x, y: m.predict(x, batch_size=2**63),
        lambda m, x, y: dropnet.set_num_threads(10**6),
        lambda m, x, y: dropnet.set_num_threads(2**31),
        lambda m, x, y: dropnet.set_num_threads(0),
    ],
)
def test_integer_arguments_out_of_range_raise_value_error(call):
    model = Sequential([Input((2,)), Dense(1)])
    model.compile("sgd", "mse")
    x = np.zeros((4, 2), np.float32)
    with pytest.raises(ValueError):
        call(model, x, np.zeros(4, np.float32))
    assert model.predict(x, verbose=0).shape == (4, 1)  # the model still works
