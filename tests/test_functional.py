"""Keras's functional API: models as graphs of layer calls. Forward passes and gradients of
non-chain graphs (a diamond, a shared layer, two inputs and two weighted outputs) against
NumPy; merge layers; a functional chain trains bit for bit like the Sequential; History
keys of several outputs; sub-models sharing weights; save/load, pickle and clone_model of
graph models; files written before graphs existed; and the errors of badly wired graphs."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import reference as ref

import dropnet
from dropnet.layers import (
    Activation,
    Add,
    Average,
    Concatenate,
    Dense,
    Dropout,
    Flatten,
    Input,
    KerasTensor,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    concatenate,
)
from dropnet.models import Model, Sequential, clone_model, load_model
from dropnet.wrappers import SequentialClassifier

DATA = os.path.join(os.path.dirname(__file__), "data")


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def check_gradients(model, xs, ys):
    """The core's gradients of every weight and input equal central differences."""
    net = model._network(training=True)
    xs = model._xs(xs)
    ys = model._ys(ys, xs[0].shape[0])
    _, grads, dx = net.gradients(xs, ys, None, 0, False)

    def f():
        return net.gradients(xs, ys, None, 0, False)[0]

    for weight, g in zip(model.weights, grads):
        numeric = ref.central_difference(f, weight.value)
        np.testing.assert_allclose(g, numeric, rtol=2e-6, atol=1e-9, err_msg=weight.name)
    for x, d in zip(xs, dx if isinstance(dx, list) else [dx]):
        np.testing.assert_allclose(
            d.reshape(x.shape), ref.central_difference(f, x), rtol=2e-6, atol=1e-9
        )


@pytest.mark.usefixtures("float64")
def test_diamond_graph_matches_numpy(rng):
    dropnet.set_random_seed(2)
    inp = Input((3,))
    a = Dense(4, activation="tanh")(inp)
    b = Dense(2)(a)
    c = Dense(2, activation="sigmoid")(a)
    model = Model(inp, add([b, c]))
    model.compile(optimizer="sgd", loss="mse")
    (Wa, ba), (Wb, bb), (Wc, bc) = (layer.get_weights() for layer in model.layers[1:4])
    x, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    h = np.tanh(x @ Wa + ba)
    np.testing.assert_allclose(
        model.predict(x, verbose=0), h @ Wb + bb + sigmoid(h @ Wc + bc), rtol=1e-12
    )
    check_gradients(model, x, y)


@pytest.mark.usefixtures("float64")
def test_shared_layer_applies_one_set_of_weights_twice(rng):
    dropnet.set_random_seed(3)
    left, right = Input((4,)), Input((4,))
    shared = Dense(3, activation="tanh")
    model = Model([left, right], Subtract()([shared(left), shared(right)]))
    model.compile(optimizer="sgd", loss="mse")
    assert len(model.weights) == 2 and model.count_params() == 15
    W, b = shared.get_weights()
    x1, x2 = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    np.testing.assert_allclose(
        model.predict([x1, x2], verbose=0), np.tanh(x1 @ W + b) - np.tanh(x2 @ W + b)
    )
    check_gradients(model, [x1, x2], rng.standard_normal((5, 3)))


@pytest.mark.usefixtures("float64")
def test_two_inputs_two_outputs_with_loss_weights(rng):
    dropnet.set_random_seed(4)
    a, b = Input((3,), name="a"), Input((2,), name="b")
    joined = concatenate([Dense(4, activation="relu")(a), b])
    cls = Dense(1, activation="sigmoid", name="cls")(joined)
    reg = Dense(2, name="reg")(joined)
    model = Model(inputs=[a, b], outputs=[cls, reg])
    model.compile(
        optimizer="adam",
        loss=["binary_crossentropy", "mse"],
        loss_weights=[0.7, 2.0],
        metrics=[["accuracy"], ["mae"]],
    )
    xa, xb = rng.standard_normal((8, 3)), rng.standard_normal((8, 2))
    y1, y2 = (rng.random(8) > 0.5).astype(float), rng.standard_normal((8, 2))
    total, cls_loss, reg_loss, acc, mae = model.evaluate([xa, xb], [y1, y2], verbose=0)
    p1, p2 = model.predict([xa, xb], verbose=0)
    bce = -np.mean(y1 * np.log(p1[:, 0]) + (1 - y1) * np.log(1 - p1[:, 0]))
    assert cls_loss == pytest.approx(bce, rel=1e-9)
    assert reg_loss == pytest.approx(np.mean((p2 - y2) ** 2), rel=1e-12)
    assert total == pytest.approx(0.7 * cls_loss + 2.0 * reg_loss, rel=1e-12)
    assert acc == pytest.approx(np.mean((p1[:, 0] > 0.5) == y1))
    assert mae == pytest.approx(np.mean(np.abs(p2 - y2)), rel=1e-12)
    check_gradients(model, [xa, xb], [y1, y2])
    history = model.fit([xa, xb], [y1, y2], epochs=2, validation_split=0.25, verbose=0)
    assert list(history.history) == [
        "loss",
        "cls_loss",
        "reg_loss",
        "cls_accuracy",
        "reg_mae",
        "val_loss",
        "val_cls_loss",
        "val_reg_loss",
        "val_cls_accuracy",
        "val_reg_mae",
    ]


def test_dict_inputs_outputs_and_losses(rng):
    dropnet.set_random_seed(5)
    inputs = {"left": Input((2,)), "right": Input((2,))}
    merged = Average()([inputs["left"], inputs["right"]])
    outputs = {"out": Dense(1, activation="sigmoid")(merged)}
    model = Model(inputs, outputs)
    model.compile(optimizer="adam", loss={"out": "binary_crossentropy"}, metrics={"out": ["acc"]})
    x = {"left": rng.random((10, 2)), "right": rng.random((10, 2))}
    y = {"out": (rng.random(10) > 0.5).astype(float)}
    history = model.fit(x, y, epochs=2, verbose=0)
    assert list(history.history) == ["loss", "acc"]
    out = model.predict(x, verbose=0)
    assert isinstance(out, dict) and out["out"].shape == (10, 1)
    with pytest.raises(ValueError, match="missing entries for right"):
        model.predict({"left": x["left"]}, verbose=0)


@pytest.mark.parametrize(
    "layer, fn",
    [
        (Add(), lambda a, b: a + b),
        (Subtract(), lambda a, b: a - b),
        (Multiply(), lambda a, b: a * b),
        (Average(), lambda a, b: (a + b) / 2),
        (Maximum(), np.maximum),
        (Minimum(), np.minimum),
        (Concatenate(), lambda a, b: np.concatenate([a, b], axis=-1)),
        (Concatenate(axis=1), lambda a, b: np.concatenate([a, b], axis=1)),
    ],
)
def test_merge_layers_match_numpy(rng, layer, fn):
    a, b = (rng.standard_normal((4, 2, 3)).astype(np.float32) for _ in range(2))
    out = layer([a, b])  # called on arrays: the layer alone, run on the values
    np.testing.assert_array_equal(out, fn(a, b))


def test_functional_chain_trains_like_the_sequential_bit_for_bit(rng):
    x = rng.standard_normal((40, 5)).astype(np.float32)
    y = (rng.random(40) > 0.5).astype(np.float32)

    def train(functional):
        dropnet.set_random_seed(9)
        layers = [Dense(16, activation="relu"), Dropout(0.4), Dense(1, activation="sigmoid")]
        if functional:
            t = inp = Input((5,))
            for layer in layers:
                t = layer(t)
            model = Model(inp, t)
        else:
            model = Sequential([Input((5,)), *layers])
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        history = model.fit(x, y, epochs=5, batch_size=8, validation_split=0.2, verbose=0)
        return model.get_weights(), history.history, model.predict(x, training=True, verbose=0)

    (w1, h1, p1), (w2, h2, p2) = train(True), train(False)
    assert all(np.array_equal(a, b) for a, b in zip(w1, w2))
    assert h1 == h2 and np.array_equal(p1, p2)


def test_sequential_exposes_its_graph_and_submodels_share_weights(rng):
    model = Sequential([Input((4,)), Dense(3, activation="relu"), Dense(2)])
    x = rng.random((5, 4)).astype(np.float32)
    first = model.layers[0]
    assert isinstance(model.inputs[0], KerasTensor) and model.outputs[0] is model.layers[1].output
    activations = Model(inputs=model.inputs, outputs=first.output)
    W, b = first.get_weights()
    np.testing.assert_allclose(
        activations.predict(x, verbose=0), np.maximum(x @ W + b, 0), rtol=1e-6
    )
    first.set_weights([W * 2, b])  # one set of weights, seen by both models
    np.testing.assert_allclose(
        activations.predict(x, verbose=0), np.maximum(x @ (2 * W) + b, 0), rtol=1e-6
    )
    model.pop()
    model.add(Dense(1))  # the chain is rebuilt; the first layer's first call is the new one
    assert model.layers[0].output is model.layers[1].input


def test_layer_input_output_and_get_layer():
    inp = Input((3,), name="features")
    dense = Dense(2, name="hidden")
    out = dense(inp)
    model = Model(inp, Activation("softmax", name="probs")(out))
    assert dense.input is inp and dense.output is out
    assert model.get_layer("hidden") is dense and model.get_layer(index=0).name == "features"
    assert model.input is inp and model.output_shape == (None, 2)
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        model.get_layer("nope")
    with pytest.raises(AttributeError, match="has not been called"):
        _ = Dense(2).output


def test_summary_shows_connections(capsys):
    a, b = Input((2,), name="a"), Input((2,), name="b")
    Model([a, b], add([Dense(2, name="da")(a), b], name="sum")).summary()
    out = capsys.readouterr().out
    assert "Connected to" in out and "da[0][0], b[0][0]" in out and "(None, 2)" in out


def test_graph_model_save_load_pickle_and_clone(tmp_path, rng):
    dropnet.set_random_seed(6)
    a, b = Input((3,)), Input((3,))
    shared = Dense(4, activation="relu")
    h = concatenate([shared(a), shared(b)])
    model = Model([a, b], [Dense(1, activation="sigmoid")(h), Dense(2)(Dropout(0.2)(h))])
    model.compile(optimizer="adam", loss=["binary_crossentropy", "mse"], loss_weights=[1.0, 0.3])
    xs = [rng.random((12, 3)), rng.random((12, 3))]
    ys = [(rng.random(12) > 0.5).astype(float), rng.random((12, 2))]
    model.fit(xs, ys, epochs=2, verbose=0)
    path = tmp_path / "graph.dropnet"
    model.save(path)
    for other in (load_model(path), pickle.loads(pickle.dumps(model))):
        assert type(other) is Model and other.metrics_names == model.metrics_names
        assert all(np.array_equal(u, v) for u, v in zip(other.get_weights(), model.get_weights()))
        for u, v in zip(other.predict(xs, verbose=0), model.predict(xs, verbose=0)):
            assert np.array_equal(u, v)
        assert other.optimizer.iterations == model.optimizer.iterations
        assert len(other._heads) == 2 and other._heads[1].weight == 0.3
    # the restored optimizer state continues training exactly as the original would
    again = pickle.loads(pickle.dumps(model))
    model.fit(xs, ys, epochs=1, verbose=0)
    again.fit(xs, ys, epochs=1, verbose=0)
    assert all(np.array_equal(u, v) for u, v in zip(again.get_weights(), model.get_weights()))
    twin = clone_model(model)
    assert [w.shape for w in twin.weights] == [w.shape for w in model.weights]
    assert not np.array_equal(twin.get_weights()[0], model.get_weights()[0])
    assert not twin.compiled and twin.layers[2] is not model.layers[2]


def test_files_written_before_graph_models_still_load():
    model = load_model(os.path.join(DATA, "sequential-format1.dropnet"))
    expected = np.load(os.path.join(DATA, "sequential-format1.npz"))
    assert isinstance(model, Sequential) and model.name == "saved_by_0_1"
    assert np.array_equal(model.predict(expected["x"], verbose=0), expected["pred"])
    assert model.optimizer.iterations == int(expected["iterations"])


def test_monte_carlo_dropout_in_a_graph_model(rng):
    dropnet.set_random_seed(7)
    inp = Input((4,))
    h = Dropout(0.5)(Dense(16, activation="relu")(inp))
    model = Model(inp, [Dense(1)(h), Dense(2)(h)])
    x = rng.random((3, 4))
    deterministic = model.predict(x, verbose=0)
    stochastic = model.predict(x, training=True, verbose=0)
    assert not np.array_equal(deterministic[0], stochastic[0])
    means, stds = model.predict_mc(x, n=20)
    assert [m.shape for m in means] == [(3, 1), (3, 2)] and np.all(stds[1] > 0)


def test_scikit_learn_wrapper_takes_a_functional_build_function(rng):
    def build():
        inp = Input((4,))
        out = Dense(1, activation="sigmoid")(Dense(8, activation="relu")(inp))
        return Model(inp, out)

    x = rng.random((40, 4))
    y = (x.sum(axis=1) > 2).astype(int)
    est = SequentialClassifier(model=build, loss="binary_crossentropy", epochs=5, random_state=0)
    assert est.fit(x, y).predict(x).shape == (40,)


def test_badly_wired_graphs_are_refused():
    a, b = Input((3,)), Input((4,))
    with pytest.raises(ValueError, match="one shape"):
        add([a, b])
    with pytest.raises(ValueError, match="every axis but"):
        concatenate([Input((2, 3)), Input((3, 3))], axis=-1)
    dense = Dense(2)
    dense(a)
    with pytest.raises(ValueError, match="built for input shape"):
        dense(b)
    out = Dense(1)(concatenate([a, Flatten()(Input((2, 2)))]))
    with pytest.raises(ValueError, match="not among the model's inputs"):
        Model(a, out)
    with pytest.raises(TypeError, match="Input"):
        Model(Dense(2)(a), out)
    with pytest.raises(TypeError, match="merges several tensors"):
        Sequential([Input((3,)), Add()])
    with pytest.raises(TypeError, match="subclassed"):
        Model()
    with pytest.raises(TypeError, match="a list of tensors"):
        Add()(a)
    model = Model([a, b], [Dense(1)(a), Dense(1)(b)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(TypeError, match="expected a list of 2 arrays"):
        model.predict(np.zeros((2, 3)), verbose=0)
    with pytest.raises(ValueError, match="expected 2 entries"):
        model.compile(optimizer="sgd", loss=["mse"])


def test_the_keras_functional_guide_runs_with_its_imports_swapped(tmp_path):
    """The first model of Keras's functional API guide, with ``keras`` replaced by
    ``dropnet`` (on scikit-learn's 8x8 digits instead of MNIST)."""
    from sklearn.datasets import load_digits

    import dropnet as keras
    from dropnet import layers

    keras.set_random_seed(0)
    inputs = keras.Input(shape=(64,))
    dense = layers.Dense(64, activation="relu")
    x = dense(inputs)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(10)(x)
    model = keras.Model(inputs=inputs, outputs=outputs, name="mnist_model")
    digits = load_digits()
    x_all, y_all = digits.data.astype("float32") / 16, digits.target
    x_train, x_test, y_train, y_test = x_all[:1500], x_all[1500:], y_all[:1500], y_all[1500:]
    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer=keras.optimizers.RMSprop(),
        metrics=["accuracy"],
    )
    history = model.fit(x_train, y_train, batch_size=64, epochs=10, validation_split=0.2, verbose=0)
    test_scores = model.evaluate(x_test, y_test, verbose=0)
    assert test_scores[1] > 0.8 and history.history["val_accuracy"][-1] > 0.8
    model.save(tmp_path / "path_to_my_model.dropnet")
    del model
    model = keras.models.load_model(tmp_path / "path_to_my_model.dropnet")
    assert model.evaluate(x_test, y_test, verbose=0) == test_scores
