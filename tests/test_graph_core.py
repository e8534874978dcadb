"""The core's graph driver on hand-written descriptions: graphs that are not chains (a
diamond, a shared parameter, two inputs and two weighted loss heads, every merge op)
against NumPy and finite differences, and the strict description checks (unknown ops and
attributes, misspelled keys, graphs that do not connect)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import reference as ref
from reference import evaluate, predict

import dropnet
from dropnet import _core, activations, losses, metrics, optimizers
from dropnet.layers import LAYER_CLASSES, Dense, Input, InputLayer, Layer, RepeatVector
from dropnet.models import Sequential

SGD0 = {
    "kind": "sgd",
    "lr": {"kind": "constant", "initial": 0.0},
    "clipnorm": 0.0,
    "clipvalue": 0.0,
    "global_clipnorm": 0.0,
    "momentum": 0.0,
    "nesterov": False,
    "use_ema": False,
}
LINEAR = {"act": "linear", "alpha": 0.0}


def param(value):
    return {
        "value": value,
        "slots": [],
        "trainable": True,
        "constraint": None,
        "regularizer": None,
        "weight_decay": 0.0,
    }


def node(op, inputs, output, params=(), layer_id=1, roles=None, **attrs):
    return {
        "op": op,
        "inputs": list(inputs),
        "output": output,
        "params": list(params),
        "roles": list(roles) if roles is not None else ["kernel", "bias"][: len(params)],
        "layer_id": layer_id,
        "attrs": attrs,
    }


def head(output=0, loss="mean_squared_error", weight=1.0):
    return {
        "output": output,
        "loss": loss,
        "from_logits": False,
        "loss_params": {},
        "weight": weight,
        "metrics": [],
    }


def network(tensors, inputs, outputs, params, nodes, heads):
    return _core.Network(
        {
            "dtype": "float64",
            "seed": 3,
            "tensors": tensors,
            "inputs": inputs,
            "outputs": outputs,
            "params": params,
            "nodes": nodes,
            "heads": heads,
            "optimizer": SGD0,
        }
    )


def check_against_differences(net, values, x, y, loss_of):
    """The core's loss equals loss_of(values, x) and its gradients match central differences
    for every parameter and every input."""
    xs = x if isinstance(x, list) else [x]
    loss, grads, dx = net.gradients(x, y, None, 0, False)
    assert loss == pytest.approx(loss_of(), rel=1e-12)

    def f():
        return net.gradients(x, y, None, 0, False)[0]

    for value, g in zip(values, grads):
        np.testing.assert_allclose(g, ref.central_difference(f, value), rtol=1e-6, atol=1e-9)
    dxs = dx if isinstance(dx, list) else [dx]
    for xi, di in zip(xs, dxs):
        np.testing.assert_allclose(
            di.reshape(xi.shape), ref.central_difference(f, xi), rtol=1e-6, atol=1e-9
        )


def test_diamond_graph_sums_both_paths(rng):
    """x -> A -> (B, C) -> add: A's output feeds two ops, so its gradient is the sum."""
    W = [rng.standard_normal(s) for s in [(3, 4), (4, 2), (4, 2)]]
    x, y = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    net = network(
        [[3], [4], [2], [2], [2]],
        [0],
        [4],
        [param(w) for w in W],
        [
            node("dense", [0], 1, [0], 1, act="tanh", alpha=0.0),
            node("dense", [1], 2, [1], 2, **LINEAR),
            node("dense", [1], 3, [2], 3, act="sigmoid", alpha=0.0),
            node("add", [2, 3], 4, layer_id=4),
        ],
        [head()],
    )

    def loss():
        a = np.tanh(x @ W[0])
        out = a @ W[1] + 1 / (1 + np.exp(-(a @ W[2])))
        return np.mean(np.sum((out - y) ** 2, axis=1) / 2)

    check_against_differences(net, W, x, y, loss)
    np.testing.assert_allclose(
        predict(net, x), np.tanh(x @ W[0]) @ W[1] + 1 / (1 + np.exp(-(np.tanh(x @ W[0]) @ W[2])))
    )


def test_shared_parameter_gets_the_gradient_of_every_use(rng):
    """One kernel used by two nodes (a layer called twice): its gradient is the sum."""
    W = rng.standard_normal((3, 3))
    x, y = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    net = network(
        [[3], [3], [3]],
        [0],
        [2],
        [param(W)],
        [
            node("dense", [0], 1, [0], 1, act="tanh", alpha=0.0),
            node("dense", [1], 2, [0], 2, act="tanh", alpha=0.0),
        ],
        [head()],
    )

    def loss():
        out = np.tanh(np.tanh(x @ W) @ W)
        return np.mean(np.sum((out - y) ** 2, axis=1) / 3)

    check_against_differences(net, [W], x, y, loss)


def test_two_inputs_two_weighted_heads(rng):
    W1, W2 = rng.standard_normal((2, 3)), rng.standard_normal((5, 1))
    x1, x2 = rng.standard_normal((6, 2)), rng.standard_normal((6, 2))
    y1, y2 = rng.standard_normal((6, 3)), (rng.random((6, 1)) > 0.5).astype(float)
    net = network(
        [[2], [2], [3], [5], [1]],
        [0, 1],
        [2, 4],
        [param(W1), param(W2)],
        [
            node("dense", [0], 2, [0], 1, **LINEAR),
            node("concatenate", [2, 1], 3, layer_id=2, axis=0),
            node("dense", [3], 4, [1], 3, act="sigmoid", alpha=0.0),
        ],
        [head(0, weight=0.3), head(1, "binary_crossentropy", weight=2.0)],
    )
    assert net.results_per_pass == 3  # total, then each head's loss

    def loss():
        a = x1 @ W1
        z = np.concatenate([a, x2], axis=1) @ W2
        mse = np.mean(np.mean((a - y1) ** 2, axis=1))
        bce = np.mean(np.logaddexp(0, z) - y2 * z)  # from the logits, as the core fuses it
        return 0.3 * mse + 2.0 * bce

    check_against_differences(net, [W1, W2], [x1, x2], [y1, y2], loss)
    total, mse, bce = evaluate(net, [x1, x2], [y1, y2])
    assert total == pytest.approx(0.3 * mse + 2.0 * bce, rel=1e-12)
    out1, out2 = predict(net, [x1, x2])
    assert out1.shape == (6, 3) and out2.shape == (6, 1)


@pytest.mark.parametrize(
    "op, fn",
    [
        ("add", lambda a, b, c: a + b + c),
        ("multiply", lambda a, b, c: a * b * c),
        ("average", lambda a, b, c: (a + b + c) / 3),
        ("maximum", lambda a, b, c: np.maximum(np.maximum(a, b), c)),
        ("minimum", lambda a, b, c: np.minimum(np.minimum(a, b), c)),
    ],
)
def test_merge_ops_forward_and_gradients(rng, op, fn):
    W = [rng.standard_normal((2, 4)) for _ in range(3)]
    x, y = rng.standard_normal((5, 2)), rng.standard_normal((5, 4))
    nodes = [node("dense", [0], k + 1, [k], k + 1, **LINEAR) for k in range(3)]
    nodes.append(node(op, [1, 2, 3], 4, layer_id=4))
    net = network([[2], [4], [4], [4], [4]], [0], [4], [param(w) for w in W], nodes, [head()])

    def loss():
        out = fn(*(x @ w for w in W))
        return np.mean(np.mean((out - y) ** 2, axis=1))

    np.testing.assert_allclose(predict(net, x), fn(*(x @ w for w in W)), rtol=1e-12)
    check_against_differences(net, W, x, y, loss)


def test_subtract_and_concatenate_on_a_middle_axis(rng):
    W = [rng.standard_normal((3, 2)) for _ in range(2)]
    x = rng.standard_normal((4, 2, 3))
    y = rng.standard_normal((4, 4, 2))
    net = network(
        [[2, 3], [2, 2], [2, 2], [2, 2], [4, 2]],
        [0],
        [4],
        [param(w) for w in W],
        [
            node("dense", [0], 1, [0], 1, **LINEAR),
            node("dense", [0], 2, [1], 2, **LINEAR),
            node("subtract", [1, 2], 3, layer_id=3),
            node("concatenate", [3, 1], 4, layer_id=4, axis=0),
        ],
        [head()],
    )

    def loss():
        a, b = x @ W[0], x @ W[1]
        return np.mean((np.concatenate([a - b, a], axis=1) - y) ** 2)

    check_against_differences(net, W, x, y, loss)


GOOD = {
    "tensors": [[2], [3]],
    "inputs": [0],
    "outputs": [1],
    "nodes": [node("dense", [0], 1, [0], 1, **LINEAR)],
    "heads": [head()],
}


def _description(**changes):
    d = copy.deepcopy(GOOD)
    d.update(changes)
    return {
        "dtype": "float64",
        "seed": 1,
        "params": [param(np.zeros((2, 3)))],
        "optimizer": SGD0,
        **d,
    }


@pytest.mark.parametrize(
    "change, message",
    [
        ({"nodes": [node("dense", [0], 1, [0], 1, act="linear", alpah=0.0)]}, "alpah"),
        ({"nodes": [node("dense", [0], 1, [0], 1, act="linear", alpha=0.0, x=1)]}, "'x'"),
        ({"nodes": [node("dense", [0], 1, [0], 1, act="linaer", alpha=0.0)]}, "linaer"),
        ({"nodes": [node("dense", [0], 1, [0], 1, act="linear")]}, "missing attribute 'alpha'"),
        ({"nodes": [node("dens", [0], 1, [0], 1, **LINEAR)]}, "unknown op kind"),
        ({"nodes": [node("dense", [1], 1, [0], 1, **LINEAR)]}, "no earlier node produces"),
        ({"nodes": [node("dense", [0], 1, [1], 1, **LINEAR)]}, "parameter index"),
        (
            {"nodes": [node("dense", [0], 1, [0], 1, roles=["bias"], **LINEAR)]},
            r"expected parameters \(kernel, bias\?\), received \(bias\)",
        ),
        ({"tensors": [[2], [4]]}, "does not match the declared"),
        ({"heads": [{**head(), "wieght": 1.0}]}, "wieght"),
        ({"heads": [head(loss="mean_squared_eror")]}, "mean_squared_eror"),
    ],
)
def test_description_errors_name_the_problem(change, message):
    with pytest.raises(ValueError, match=message):
        _core.Network(_description(**change))


def test_a_trainable_parameter_without_its_optimizer_slots_is_refused():
    """A description whose optimizer reads more slots than a parameter has is refused
    (it would otherwise update through missing memory)."""
    adam = {**SGD0, "kind": "adam", "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}
    adam = {k: v for k, v in adam.items() if k not in ("momentum", "nesterov")}
    adam["amsgrad"] = False
    with pytest.raises(
        ValueError, match=r"updates 2 slot\(s\) per trainable parameter, received 0"
    ):
        _core.Network(_description(optimizer=adam))
    d = _description(optimizer=adam)
    d["params"][0]["slots"] = [np.zeros((2, 3)), np.zeros((2, 3))]
    _core.Network(d)  # with them, it is accepted


def test_a_parameter_no_node_uses_is_refused():
    d = _description()
    d["params"].append(param(np.zeros(3)))
    with pytest.raises(ValueError, match="used by no layer"):
        _core.Network(d)


def test_layer_without_a_core_op_is_an_error_not_an_identity():
    class Forgetful(Layer):
        pass

    model = Sequential([Dense(2, input_dim=2), Forgetful()])
    with pytest.raises(NotImplementedError, match="Forgetful"):
        model.predict(np.zeros((1, 2), np.float32))


def test_name_tables_come_from_the_core():
    """Python keeps only aliases (Keras's spellings); every canonical name it hands the
    core is one of the core's own."""
    assert activations.ACTIVATIONS == tuple(_core.names["activations"])
    assert set(losses._CANONICAL.values()) <= set(_core.names["losses"])
    assert {cls(name="m")._spec()["kind"] for cls in metrics._CLASSES} <= set(
        _core.names["metrics"]
    )
    optimizer_kinds = {
        cls.kind
        for cls in vars(optimizers).values()
        if isinstance(cls, type) and issubclass(cls, optimizers.Optimizer)
    }
    assert optimizer_kinds == set(_core.names["optimizers"])
    assert {optimizers.ExponentialDecay.kind, optimizers.InverseTimeDecay.kind} <= set(
        _core.names["schedules"]
    )
    assert {"dense", "conv", "pool", "lstm", "dropout", "concatenate", "add"} <= set(
        _core.names["ops"]
    )


@pytest.mark.usefixtures("float64")
def test_repeat_vector_repeats_rows_and_sums_gradients(rng):
    dropnet.set_random_seed(1)
    model = Sequential([Input((3,)), Dense(4, activation="tanh"), RepeatVector(5), Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    (W1, b1), (W2, b2) = model.layers[0].get_weights(), model.layers[2].get_weights()
    x, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 5, 2))
    h = np.repeat(np.tanh(x @ W1 + b1)[:, None, :], 5, axis=1)
    np.testing.assert_allclose(model.predict(x, verbose=0), h @ W2 + b2, rtol=1e-12)
    net = model._network(training=True)
    _, grads, dx = net.gradients(x, y, None, 0, False)

    def f():
        return net.gradients(x, y, None, 0, False)[0]

    for weight, g in zip(model.weights, grads):
        np.testing.assert_allclose(g, ref.central_difference(f, weight.value), rtol=1e-6)
    np.testing.assert_allclose(dx.reshape(x.shape), ref.central_difference(f, x), rtol=1e-6)
    assert RepeatVector.from_config(model.layers[1].get_config()).n == 5
    with pytest.raises(ValueError, match="expected a positive int"):
        RepeatVector(0)
    with pytest.raises(ValueError, match=r"shape \(batch, features\)"):
        Sequential([Input((2, 3)), RepeatVector(2)])


def test_every_loadable_layer_class_names_its_core_op():
    """A model file may name any class in LAYER_CLASSES; each one (Input aside) says which
    op runs it (or, as Bidirectional, which ops), and the core knows that op."""
    kinds = set(_core.names["ops"])
    for name, cls in LAYER_CLASSES.items():
        if cls is InputLayer:
            continue
        assert cls._core_op is not Layer._core_op or hasattr(cls, "_core_graph"), name
    assert {"repeat", "pool", "dense"} <= kinds


def test_schedules_use_the_training_loops_formula():
    """A schedule object gives the rates the core trains with (one formula, in the core)."""
    sched = optimizers.ExponentialDecay(0.1, decay_steps=3, decay_rate=0.5, staircase=True)
    assert [sched(s) for s in (0, 2, 3, 7)] == [0.1, 0.1, 0.05, 0.025]
    inv = optimizers.InverseTimeDecay(0.2, decay_steps=2, decay_rate=1.0)
    assert inv(4) == pytest.approx(0.2 / 3)
    sgd = optimizers.SGD(learning_rate=0.3, decay=0.5)
    sgd.iterations = 4
    assert sgd.current_learning_rate() == pytest.approx(0.1)
    model = Sequential([Input((2,)), Dense(1)])
    model.compile(optimizer=optimizers.SGD(sched), loss="mse")
    net = model._network(training=True)
    assert [net.learning_rate(s) for s in (0, 3, 7)] == [sched(s) for s in (0, 3, 7)]
