"""One optimizer step at a time on a tiny linear model: the weights after train_on_batch
equal the reference update computed from the core's gradients before the step, for
every optimizer and option (clipping, schedules, Keras 2 lr/decay), and constraints
applied after the step match their formulas."""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref

import dropnet
from dropnet import constraints, optimizers
from dropnet.layers import Dense
from dropnet.models import Sequential

CASES = {
    # id: (optimizer factory, reference update, reference kwargs, lr(iterations), clip kwargs)
    "sgd-string": (lambda: "sgd", "SGD", {}, lambda it: 0.01, {}),
    "sgd": (lambda: optimizers.SGD(0.1), "SGD", {}, lambda it: 0.1, {}),
    "sgd-momentum": (
        lambda: optimizers.SGD(0.1, momentum=0.9),
        "SGD",
        {"momentum": 0.9},
        lambda it: 0.1,
        {},
    ),
    "sgd-nesterov": (
        lambda: optimizers.SGD(0.1, momentum=0.8, nesterov=True),
        "SGD",
        {"momentum": 0.8, "nesterov": True},
        lambda it: 0.1,
        {},
    ),
    "adam-string": (lambda: "adam", "Adam", {}, lambda it: 0.001, {}),
    "adam": (lambda: optimizers.Adam(0.05), "Adam", {}, lambda it: 0.05, {}),
    "adam-betas": (
        lambda: optimizers.Adam(0.05, beta_1=0.5, beta_2=0.8, epsilon=1e-3),
        "Adam",
        {"beta_1": 0.5, "beta_2": 0.8, "epsilon": 1e-3},
        lambda it: 0.05,
        {},
    ),
    "adam-amsgrad": (
        lambda: optimizers.Adam(0.05, amsgrad=True),
        "Adam",
        {"amsgrad": True},
        lambda it: 0.05,
        {},
    ),
    "rmsprop-string": (lambda: "rmsprop", "RMSprop", {}, lambda it: 0.001, {}),
    "rmsprop": (
        lambda: optimizers.RMSprop(0.02, rho=0.8),
        "RMSprop",
        {"rho": 0.8},
        lambda it: 0.02,
        {},
    ),
    "rmsprop-momentum": (
        lambda: optimizers.RMSprop(0.02, momentum=0.5),
        "RMSprop",
        {"momentum": 0.5},
        lambda it: 0.02,
        {},
    ),
    "rmsprop-centered": (
        lambda: optimizers.RMSprop(0.02, centered=True),
        "RMSprop",
        {"centered": True},
        lambda it: 0.02,
        {},
    ),
    "rmsprop-centered-momentum": (
        lambda: optimizers.RMSprop(0.02, rho=0.7, momentum=0.3, centered=True),
        "RMSprop",
        {"rho": 0.7, "momentum": 0.3, "centered": True},
        lambda it: 0.02,
        {},
    ),
    "adagrad-string": (lambda: "adagrad", "Adagrad", {}, lambda it: 0.001, {}),
    "adagrad": (
        lambda: optimizers.Adagrad(0.2, initial_accumulator_value=0.5),
        "Adagrad",
        {"initial_accumulator_value": 0.5},
        lambda it: 0.2,
        {},
    ),
    "adadelta-string": (lambda: "adadelta", "Adadelta", {}, lambda it: 0.001, {}),
    "adadelta": (
        lambda: optimizers.Adadelta(1.0, rho=0.9, epsilon=1e-6),
        "Adadelta",
        {"rho": 0.9, "epsilon": 1e-6},
        lambda it: 1.0,
        {},
    ),
    "sgd-clipnorm": (
        lambda: optimizers.SGD(0.1, clipnorm=0.05),
        "SGD",
        {},
        lambda it: 0.1,
        {"clipnorm": 0.05},
    ),
    "sgd-clipvalue": (
        lambda: optimizers.SGD(0.1, clipvalue=0.02),
        "SGD",
        {},
        lambda it: 0.1,
        {"clipvalue": 0.02},
    ),
    "sgd-global_clipnorm": (
        lambda: optimizers.SGD(0.1, global_clipnorm=0.05),
        "SGD",
        {},
        lambda it: 0.1,
        {"global_clipnorm": 0.05},
    ),
    "adam-clipnorm": (
        lambda: optimizers.Adam(0.05, clipnorm=0.05),
        "Adam",
        {},
        lambda it: 0.05,
        {"clipnorm": 0.05},
    ),
    "rmsprop-global_clipnorm": (
        lambda: optimizers.RMSprop(0.02, global_clipnorm=0.03),
        "RMSprop",
        {},
        lambda it: 0.02,
        {"global_clipnorm": 0.03},
    ),
    "sgd-keras2-lr": (lambda: optimizers.SGD(lr=0.3), "SGD", {}, lambda it: 0.3, {}),
    "sgd-keras2-decay": (
        lambda: optimizers.SGD(lr=0.3, decay=0.5),
        "SGD",
        {},
        lambda it: ref.keras2_decay(it, 0.3, 0.5),
        {},
    ),
    "adam-keras2-decay": (
        lambda: optimizers.Adam(lr=0.05, decay=0.25),
        "Adam",
        {},
        lambda it: ref.keras2_decay(it, 0.05, 0.25),
        {},
    ),
    "sgd-exponential-decay": (
        lambda: optimizers.SGD(optimizers.ExponentialDecay(0.2, decay_steps=2, decay_rate=0.5)),
        "SGD",
        {},
        lambda it: ref.exponential_decay(it, 0.2, 2, 0.5),
        {},
    ),
    "sgd-exponential-decay-staircase": (
        lambda: optimizers.SGD(
            optimizers.ExponentialDecay(0.2, decay_steps=2, decay_rate=0.5, staircase=True)
        ),
        "SGD",
        {},
        lambda it: ref.exponential_decay(it, 0.2, 2, 0.5, staircase=True),
        {},
    ),
    "adam-inverse-time-decay": (
        lambda: optimizers.Adam(optimizers.InverseTimeDecay(0.05, decay_steps=1, decay_rate=0.7)),
        "Adam",
        {},
        lambda it: ref.inverse_time_decay(it, 0.05, 1, 0.7),
        {},
    ),
    "sgd-inverse-time-decay-staircase": (
        lambda: optimizers.SGD(
            optimizers.InverseTimeDecay(0.2, decay_steps=2, decay_rate=1.0, staircase=True)
        ),
        "SGD",
        {},
        lambda it: ref.inverse_time_decay(it, 0.2, 2, 1.0, staircase=True),
        {},
    ),
}

STEPS = 4


def linear_model(optimizer, units=3, inputs=4, use_bias=True, dtype="float64", **dense_kwargs):
    dropnet.set_random_seed(3)
    model = Sequential(
        [Dense(units, use_bias=use_bias, input_dim=inputs, dtype=dtype, **dense_kwargs)]
    )
    model.compile(optimizer=optimizer, loss="mse")
    return model


def batch(rng, n=6, inputs=4, units=3, dtype=np.float64):
    return rng.standard_normal((n, inputs)).astype(dtype), rng.standard_normal((n, units)).astype(
        dtype
    )


def run_and_compare(model, case, rng, dtype, tol, decays=None, ema=None, before_step=None):
    """STEPS steps of train_on_batch, each against the reference from the core's gradients:
    clip, decay each weight by its rate in ``decays`` (none by default), update, then with
    ``ema`` = (momentum, overwrite frequency or None) update the moving averages (the last
    slot) and copy them over the weights every frequency-th step. ``before_step(step)`` runs
    before each step."""
    _, update_name, kwargs, lr_fn, clip = case
    update = ref.UPDATES[update_name]
    net = model._network(training=True)
    decays = decays or [0.0] * len(model.weights)
    states = [{} for _ in model.weights]
    first = model.optimizer.iterations
    for step in range(STEPS):
        if before_step is not None:
            before_step(step)
        x, y = batch(rng, dtype=dtype)
        it = model.optimizer.iterations
        assert it == first + step
        _, grads, _ = net.gradients(x, y, None, it, True)
        # start each step from the model's own weights, so errors do not compound
        current = [w.value.astype(np.float64) for w in model.weights]
        grads = ref.clip_gradients(grads, **clip)
        lr = lr_fn(it)
        expected = [
            update(ref.weight_decay(w, d, lr), g, s, it + 1, lr, **kwargs)
            for w, g, s, d in zip(current, grads, states, decays)
        ]
        if ema is not None:
            momentum, every = ema
            averages = [ref.ema_update(e, s, it + 1, momentum) for e, s in zip(expected, states)]
            if every and (it + 1) % every == 0:
                expected = [a.copy() for a in averages]
        model.train_on_batch(x, y)
        assert model.optimizer.iterations == first + step + 1
        for w, e, s in zip(model.weights, expected, states):
            where = f"{w.name} after step {step + 1}"
            np.testing.assert_allclose(w.value, e, err_msg=where, **tol)
            if ema is not None:
                np.testing.assert_allclose(model._slots[w][-1], s["average"], err_msg=where, **tol)


@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("case_id", list(CASES))
def test_optimizer_step_matches_reference_float64(case_id, use_bias, rng):
    case = CASES[case_id]
    model = linear_model(case[0](), use_bias=use_bias)
    run_and_compare(model, case, rng, np.float64, {"rtol": 1e-11, "atol": 1e-14})


@pytest.mark.parametrize(
    "case_id",
    [
        "sgd-momentum",
        "adam-amsgrad",
        "rmsprop-centered-momentum",
        "adagrad",
        "adadelta",
        "sgd-clipnorm",
        "adam-inverse-time-decay",
    ],
)
def test_optimizer_step_matches_reference_float32(case_id, rng):
    case = CASES[case_id]
    model = linear_model(case[0](), dtype="float32")
    run_and_compare(model, case, rng, np.float32, {"rtol": 2e-5, "atol": 2e-6})


def test_optimizer_defaults_match_spec():
    assert optimizers.SGD().learning_rate == 0.01 and optimizers.SGD().momentum == 0.0
    adam = optimizers.Adam()
    assert (adam.learning_rate, adam.beta_1, adam.beta_2, adam.epsilon, adam.amsgrad) == (
        0.001,
        0.9,
        0.999,
        1e-7,
        False,
    )
    rms = optimizers.RMSprop()
    assert (rms.learning_rate, rms.rho, rms.momentum, rms.epsilon, rms.centered) == (
        0.001,
        0.9,
        0.0,
        1e-7,
        False,
    )
    ada = optimizers.Adagrad()
    assert (ada.learning_rate, ada.initial_accumulator_value, ada.epsilon) == (0.001, 0.1, 1e-7)
    dl = optimizers.Adadelta()
    assert (dl.learning_rate, dl.rho, dl.epsilon) == (0.001, 0.95, 1e-7)


def test_optimizer_keras2_lr_alias_sets_learning_rate():
    opt = optimizers.Adam(lr=0.123)
    assert opt.learning_rate == pytest.approx(0.123)
    assert opt.lr == pytest.approx(0.123)


def test_optimizer_keras2_decay_current_learning_rate():
    opt = optimizers.SGD(lr=0.4, decay=0.1)
    opt.iterations = 5
    assert opt.current_learning_rate() == pytest.approx(0.4 / 1.5)


def test_optimizer_frozen_layer_weights_do_not_change(rng):
    dropnet.set_random_seed(1)
    frozen = Dense(5, input_dim=4, activation="tanh", dtype="float64")
    frozen.trainable = False
    model = Sequential([frozen, Dense(3)])
    model.compile(optimizer=optimizers.SGD(0.5), loss="mse")
    before = model.get_weights()
    x, y = batch(rng)
    model.train_on_batch(x, y)
    after = model.get_weights()
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_array_equal(after[1], before[1])
    assert not np.array_equal(after[2], before[2])


CONSTRAINTS = {
    "MaxNorm": (lambda: constraints.MaxNorm(0.3), lambda w: ref.max_norm(w, 0.3, 0)),
    "MaxNorm-axis1": (lambda: constraints.MaxNorm(0.3, axis=1), lambda w: ref.max_norm(w, 0.3, 1)),
    "max_norm-string": (lambda: "max_norm", lambda w: ref.max_norm(w, 2.0, 0)),
    "UnitNorm": (lambda: constraints.UnitNorm(), lambda w: ref.unit_norm(w, 0)),
    "MinMaxNorm": (
        lambda: constraints.MinMaxNorm(0.6, 0.9, rate=0.7),
        lambda w: ref.min_max_norm(w, 0.6, 0.9, 0.7, 0),
    ),
    "MinMaxNorm-rate1": (
        lambda: constraints.MinMaxNorm(1.5, 2.0),
        lambda w: ref.min_max_norm(w, 1.5, 2.0, 1.0, 0),
    ),
    "NonNeg": (lambda: constraints.NonNeg(), ref.non_neg),
}


@pytest.mark.parametrize("name", list(CONSTRAINTS))
def test_constraint_applied_after_step_matches_reference(name, rng):
    make, formula = CONSTRAINTS[name]
    model = linear_model(
        optimizers.SGD(0.5),
        units=5,
        inputs=6,
        kernel_initializer="normal",
        kernel_constraint=make(),
    )
    x, y = batch(rng, inputs=6, units=5)
    net = model._network(training=True)
    for step in range(3):
        _, grads, _ = net.gradients(x, y, None, step, True)
        kernel = model.weights[0].value.astype(np.float64)
        expected = formula(kernel - 0.5 * grads[0])
        model.train_on_batch(x, y)
        np.testing.assert_allclose(model.weights[0].value, expected, rtol=1e-12, atol=1e-14)


def test_constraint_max_norm_bounds_every_column(rng):
    model = linear_model(
        optimizers.SGD(5.0), units=7, inputs=9, kernel_constraint=constraints.MaxNorm(1.0)
    )
    x, y = batch(rng, n=20, inputs=9, units=7)
    y *= 100
    for _ in range(3):
        model.train_on_batch(x, y)
        norms = np.linalg.norm(model.weights[0].value, axis=0)
        assert np.all(norms <= 1.0 + 1e-9)
    assert np.any(norms > 0.99)


def test_constraint_bias_non_neg_applied(rng):
    model = linear_model(optimizers.SGD(1.0), bias_constraint=constraints.NonNeg())
    x, y = batch(rng)
    model.train_on_batch(x, -100 * np.abs(y) - 10)
    assert np.all(model.weights[1].value >= 0)


def test_constraint_not_applied_at_init():
    model = linear_model(
        optimizers.SGD(0.1),
        units=4,
        inputs=10,
        kernel_initializer="ones",
        kernel_constraint=constraints.MaxNorm(2.0),
    )
    model._network(training=True)
    np.testing.assert_array_equal(model.weights[0].value, np.ones((10, 4)))
    model.predict(np.ones((2, 10)))
    np.testing.assert_array_equal(model.weights[0].value, np.ones((10, 4)))
