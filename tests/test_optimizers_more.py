"""Adamax, Nadam, AdamW and Lion against NumPy references of Keras's formulas; decoupled
weight decay on every optimizer and its exclusions; the moving average of the weights
(use_ema); changing the rate between steps; configs, model files and thread counts; and
the backend's clear_session and image data format."""

from __future__ import annotations

import io

import numpy as np
import pytest
import reference as ref
from test_optimizers import STEPS, batch, linear_model, run_and_compare

import dropnet
from dropnet import backend, callbacks, constraints, optimizers
from dropnet.layers import BatchNormalization, Dense
from dropnet.models import Sequential, load_model

F64 = {"rtol": 1e-12, "atol": 1e-14}
F32 = {"rtol": 2e-5, "atol": 2e-6}

CASES = {
    # id: (optimizer factory, reference update, reference kwargs, lr(iterations), clip kwargs)
    "adamax-string": (lambda: "adamax", "Adamax", {}, lambda it: 0.001, {}),
    "adamax": (lambda: optimizers.Adamax(0.05), "Adamax", {}, lambda it: 0.05, {}),
    "adamax-betas": (
        lambda: optimizers.Adamax(0.05, beta_1=0.6, beta_2=0.7, epsilon=1e-3),
        "Adamax",
        {"beta_1": 0.6, "beta_2": 0.7, "epsilon": 1e-3},
        lambda it: 0.05,
        {},
    ),
    "nadam-string": (lambda: "nadam", "Nadam", {}, lambda it: 0.001, {}),
    "nadam": (lambda: optimizers.Nadam(0.05), "Nadam", {}, lambda it: 0.05, {}),
    "nadam-betas": (
        lambda: optimizers.Nadam(0.05, beta_1=0.5, beta_2=0.8, epsilon=1e-3),
        "Nadam",
        {"beta_1": 0.5, "beta_2": 0.8, "epsilon": 1e-3},
        lambda it: 0.05,
        {},
    ),
    "lion-string": (lambda: "lion", "Lion", {}, lambda it: 0.001, {}),
    "lion": (lambda: optimizers.Lion(0.05), "Lion", {}, lambda it: 0.05, {}),
    "lion-betas": (
        lambda: optimizers.Lion(0.05, beta_1=0.3, beta_2=0.6),
        "Lion",
        {"beta_1": 0.3, "beta_2": 0.6},
        lambda it: 0.05,
        {},
    ),
    "lion-beta1-one": (
        lambda: optimizers.Lion(0.05, beta_1=1.0),
        "Lion",
        {"beta_1": 1.0},
        lambda it: 0.05,
        {},
    ),
    "nadam-clipnorm": (
        lambda: optimizers.Nadam(0.05, clipnorm=0.05),
        "Nadam",
        {},
        lambda it: 0.05,
        {"clipnorm": 0.05},
    ),
    "adamax-exponential-decay": (
        lambda: optimizers.Adamax(optimizers.ExponentialDecay(0.05, decay_steps=2, decay_rate=0.5)),
        "Adamax",
        {},
        lambda it: ref.exponential_decay(it, 0.05, 2, 0.5),
        {},
    ),
    "lion-keras2-decay": (
        lambda: optimizers.Lion(lr=0.05, decay=0.3),
        "Lion",
        {},
        lambda it: ref.keras2_decay(it, 0.05, 0.3),
        {},
    ),
}


@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("case_id", list(CASES))
def test_new_optimizer_step_matches_reference_float64(case_id, use_bias, rng):
    case = CASES[case_id]
    model = linear_model(case[0](), use_bias=use_bias)
    run_and_compare(model, case, rng, np.float64, F64)


@pytest.mark.parametrize("case_id", ["adamax", "nadam", "lion-betas"])
def test_new_optimizer_step_matches_reference_float32(case_id, rng):
    case = CASES[case_id]
    model = linear_model(case[0](), dtype="float32")
    run_and_compare(model, case, rng, np.float32, F32)


@pytest.mark.parametrize("first_step", [1, 900, 901, 5000])
def test_nadam_momentum_product_matches_running_product_at_any_step(first_step, rng):
    """The core computes μ_1···μ_t from t; the reference multiplies it up step by step, as
    Keras does, from step 1 (around step 900 the factors 1 − ½·0.96^i become exactly 1)."""
    model = linear_model(optimizers.Nadam(0.05, beta_1=0.999))
    model.optimizer.iterations = first_step - 1
    case = (None, "Nadam", {"beta_1": 0.999}, lambda it: 0.05, {})
    run_and_compare(model, case, rng, np.float64, F64)


def test_new_optimizer_defaults_match_spec():
    for cls in (optimizers.Adamax, optimizers.Nadam):
        opt = cls()
        assert (opt.learning_rate, opt.beta_1, opt.beta_2, opt.epsilon) == (0.001, 0.9, 0.999, 1e-7)
        assert opt.weight_decay is None
    adamw = optimizers.AdamW()
    assert (adamw.learning_rate, adamw.weight_decay, adamw.beta_1, adamw.beta_2) == (
        0.001,
        0.004,
        0.9,
        0.999,
    )
    assert (adamw.epsilon, adamw.amsgrad) == (1e-7, False)
    lion = optimizers.Lion()
    assert (lion.learning_rate, lion.beta_1, lion.beta_2) == (0.001, 0.9, 0.99)
    base = optimizers.SGD()
    assert (base.use_ema, base.ema_momentum, base.ema_overwrite_frequency) == (False, 0.99, None)


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("adamax", optimizers.Adamax),
        ("Nadam", optimizers.Nadam),
        ("adamw", optimizers.AdamW),
        ("LION", optimizers.Lion),
    ],
)
def test_new_optimizer_names(name, cls):
    assert type(optimizers.get(name)) is cls
    model = Sequential([Dense(1, input_dim=2)])
    model.compile(optimizer=name, loss="mse")
    assert type(model.optimizer) is cls


# ------------------------------------------------------------------ weight decay
DECAYED = {
    # id: (optimizer factory, reference update, reference kwargs, lr(iterations), clip kwargs)
    "sgd": (lambda: optimizers.SGD(0.1, weight_decay=0.3), "SGD", {}, lambda it: 0.1, {}),
    "sgd-momentum": (
        lambda: optimizers.SGD(0.1, momentum=0.9, weight_decay=0.3),
        "SGD",
        {"momentum": 0.9},
        lambda it: 0.1,
        {},
    ),
    "adam-amsgrad": (
        lambda: optimizers.Adam(0.05, amsgrad=True, weight_decay=0.3),
        "Adam",
        {"amsgrad": True},
        lambda it: 0.05,
        {},
    ),
    "adamw": (lambda: optimizers.AdamW(0.05, 0.3), "Adam", {}, lambda it: 0.05, {}),
    "adamw-string": (lambda: "adamw", "Adam", {}, lambda it: 0.001, {}),
    "rmsprop-centered": (
        lambda: optimizers.RMSprop(0.02, centered=True, weight_decay=0.3),
        "RMSprop",
        {"centered": True},
        lambda it: 0.02,
        {},
    ),
    "adagrad": (
        lambda: optimizers.Adagrad(0.2, weight_decay=0.3),
        "Adagrad",
        {},
        lambda it: 0.2,
        {},
    ),
    "adadelta": (
        lambda: optimizers.Adadelta(1.0, weight_decay=0.3),
        "Adadelta",
        {},
        lambda it: 1.0,
        {},
    ),
    "adamax": (
        lambda: optimizers.Adamax(0.05, weight_decay=0.3),
        "Adamax",
        {},
        lambda it: 0.05,
        {},
    ),
    "nadam": (lambda: optimizers.Nadam(0.05, weight_decay=0.3), "Nadam", {}, lambda it: 0.05, {}),
    "lion": (lambda: optimizers.Lion(0.05, weight_decay=0.3), "Lion", {}, lambda it: 0.05, {}),
    # the rate decays with the step's learning rate, and clipping leaves the decay alone
    "sgd-inverse-time-decay": (
        lambda: optimizers.SGD(
            optimizers.InverseTimeDecay(0.2, decay_steps=1, decay_rate=0.7), weight_decay=0.3
        ),
        "SGD",
        {},
        lambda it: ref.inverse_time_decay(it, 0.2, 1, 0.7),
        {},
    ),
    "sgd-keras2-decay": (
        lambda: optimizers.SGD(lr=0.3, decay=0.5, weight_decay=0.3),
        "SGD",
        {},
        lambda it: ref.keras2_decay(it, 0.3, 0.5),
        {},
    ),
    "sgd-clipnorm": (
        lambda: optimizers.SGD(0.1, clipnorm=0.01, weight_decay=0.3),
        "SGD",
        {},
        lambda it: 0.1,
        {"clipnorm": 0.01},
    ),
    "adam-global_clipnorm": (
        lambda: optimizers.Adam(0.05, global_clipnorm=0.01, weight_decay=0.3),
        "Adam",
        {},
        lambda it: 0.05,
        {"global_clipnorm": 0.01},
    ),
}


@pytest.mark.parametrize("case_id", list(DECAYED))
def test_weight_decay_matches_reference_on_every_optimizer(case_id, rng):
    case = DECAYED[case_id]
    model = linear_model(case[0]())
    rate = model.optimizer.weight_decay
    assert rate == (0.004 if case_id == "adamw-string" else 0.3)
    run_and_compare(model, case, rng, np.float64, F64, decays=[rate, rate])


def test_weight_decay_float32(rng):
    model = linear_model(optimizers.Nadam(0.05, weight_decay=0.3), dtype="float32")
    case = (None, "Nadam", {}, lambda it: 0.05, {})
    run_and_compare(model, case, rng, np.float32, F32, decays=[0.3, 0.3])


def test_weight_decay_is_not_in_the_loss_or_the_gradients(rng):
    x, y = batch(rng)
    plain = linear_model(optimizers.SGD(0.1))
    decayed = linear_model(optimizers.SGD(0.1, weight_decay=0.5))
    _, g_plain, _ = plain._network(training=True).gradients(x, y, None, 0, True)
    _, g_decayed, _ = decayed._network(training=True).gradients(x, y, None, 0, True)
    for a, b in zip(g_plain, g_decayed):
        np.testing.assert_array_equal(a, b)
    assert plain.train_on_batch(x, y) == decayed.train_on_batch(x, y)
    assert not np.array_equal(plain.get_weights()[0], decayed.get_weights()[0])


def test_weight_decay_zero_changes_nothing(rng):
    x, y = batch(rng)
    a = linear_model(optimizers.Adam(0.05))
    b = linear_model(optimizers.Adam(0.05, weight_decay=0.0))
    for _ in range(3):
        a.train_on_batch(x, y)
        b.train_on_batch(x, y)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_weight_decay_leaves_frozen_and_non_trainable_weights_alone(rng):
    """A frozen layer keeps its weights; BatchNormalization's moving statistics (updated by
    the forward pass, from the weights before the step) come out as without decay."""

    def make(weight_decay):
        dropnet.set_random_seed(2)
        frozen = Dense(5, input_dim=4, activation="tanh", dtype="float64", name="frozen")
        frozen.trainable = False
        model = Sequential([frozen, BatchNormalization(), Dense(3)])
        model.compile(optimizer=optimizers.SGD(0.1, weight_decay=weight_decay), loss="mse")
        return model

    decayed, plain = make(0.5), make(None)
    before = decayed.get_weights()
    x, y = batch(rng)
    decayed.train_on_batch(x, y)
    plain.train_on_batch(x, y)
    for w, a, b, old in zip(decayed.weights, decayed.get_weights(), plain.get_weights(), before):
        if w.name.startswith("frozen/"):
            np.testing.assert_array_equal(a, old)
        elif "moving" in w.name:
            np.testing.assert_array_equal(a, b)
        else:  # decayed, unless zero before the step (beta and the biases start at 0)
            assert np.array_equal(a, b) != bool(np.any(old)), w.name


def test_weight_decay_uses_the_current_learning_rate(rng):
    """θ −= θ·wd·lr where lr is the rate set between steps."""
    model = linear_model(optimizers.Lion(0.05, weight_decay=0.3))
    rates = [0.05, 0.02, 0.03, 0.04]

    def change(step):
        if step == 1:
            model.optimizer.learning_rate = rates[1]
        elif step == 2:
            backend.set_value(model.optimizer.lr, rates[2])
        elif step == 3:
            model.optimizer.learning_rate.assign(rates[3])

    case = (None, "Lion", {}, lambda it: rates[it], {})
    run_and_compare(model, case, rng, np.float64, F64, decays=[0.3, 0.3], before_step=change)
    assert backend.get_value(model.optimizer.lr) == np.float32(0.04)


# ------------------------------------------------------------------ exclusions
@pytest.mark.parametrize(
    ("exclude", "decays"),
    [
        ({"var_names": ["bias"]}, [0.3, 0.0]),
        ({"var_names": ["dense/kernel"]}, [0.0, 0.3]),
        ({"var_names": ["nothing", "kern"]}, [0.0, 0.3]),
        ({"var_names": []}, [0.3, 0.3]),
        ({"var_list": "kernel"}, [0.0, 0.3]),
        ({"var_list": "bias", "var_names": ["kernel"]}, [0.0, 0.0]),
    ],
    ids=repr,
)
def test_exclude_from_weight_decay(exclude, decays, rng):
    model = linear_model(optimizers.AdamW(0.05, weight_decay=0.3), name="dense")
    if "var_list" in exclude:
        exclude = {**exclude, "var_list": [getattr(model.layers[0], exclude["var_list"])]}
    model.optimizer.exclude_from_weight_decay(**exclude)
    run_and_compare(model, (None, "Adam", {}, lambda it: 0.05, {}), rng, np.float64, F64, decays)


def test_exclude_from_weight_decay_replaces_previous_exclusions(rng):
    model = linear_model(optimizers.SGD(0.1, weight_decay=0.3))
    model.optimizer.exclude_from_weight_decay(var_names=["kernel"])
    model.optimizer.exclude_from_weight_decay(var_list=[model.layers[0].kernel])
    model.optimizer.exclude_from_weight_decay(var_names=["bias"])
    run_and_compare(model, (None, "SGD", {}, lambda it: 0.1, {}), rng, np.float64, F64, [0.3, 0])


@pytest.mark.parametrize("run", ["train_on_batch", "predict"])
def test_exclude_from_weight_decay_once_built_raises(run, rng):
    model = linear_model(optimizers.AdamW())
    model.optimizer.exclude_from_weight_decay(var_names=["kernel"])
    assert not model.optimizer.built
    x, y = batch(rng)
    if run == "train_on_batch":
        model.train_on_batch(x, y)
    else:
        model.predict(x)
    assert model.optimizer.built
    with pytest.raises(ValueError, match="already built .*before the model's first fit"):
        model.optimizer.exclude_from_weight_decay(var_names=["bias"])
    assert model.optimizer._excluded_names == ("kernel",)


@pytest.mark.parametrize(
    ("kwargs", "error", "text"),
    [
        ({"var_names": "bias"}, TypeError, "expected a list, received str"),
        ({"var_names": [3]}, TypeError, "expected var_names to hold strings, received 3"),
        ({"var_list": [np.zeros(3)]}, TypeError, "to hold weights .*received ndarray"),
        ({"var_list": 5}, TypeError, "expected a list, received int"),
    ],
)
def test_exclude_from_weight_decay_bad_arguments(kwargs, error, text):
    with pytest.raises(error, match=text):
        optimizers.AdamW().exclude_from_weight_decay(**kwargs)


# ------------------------------------------------------------------ moving average
@pytest.mark.parametrize("every", [None, 1, 2, 3])
def test_ema_matches_reference(every, rng):
    opt = optimizers.SGD(
        0.1, momentum=0.5, use_ema=True, ema_momentum=0.7, ema_overwrite_frequency=every
    )
    model = linear_model(opt)
    case = (None, "SGD", {"momentum": 0.5}, lambda it: 0.1, {})
    run_and_compare(model, case, rng, np.float64, F64, ema=(0.7, every))


def test_ema_with_weight_decay_and_adam_amsgrad(rng):
    opt = optimizers.AdamW(0.05, 0.2, amsgrad=True, use_ema=True, ema_overwrite_frequency=3)
    model = linear_model(opt)
    model._network(training=True)
    assert opt.n_slots == 4 and [len(s) for s in model._slots.values()] == [4, 4]
    case = (None, "Adam", {"amsgrad": True}, lambda it: 0.05, {})
    run_and_compare(model, case, rng, np.float64, F64, decays=[0.2, 0.2], ema=(0.99, 3))


def test_ema_averages_the_weights_before_their_constraint(rng):
    """Keras's order: update, moving average, then the constraint."""
    opt = optimizers.SGD(1.0, use_ema=True, ema_momentum=0.5)
    model = linear_model(opt, kernel_constraint=constraints.NonNeg())
    net = model._network(training=True)
    state: dict = {}
    for step in range(STEPS):
        x, y = batch(rng)
        _, grads, _ = net.gradients(x, y, None, step, True)
        updated = model.weights[0].value - grads[0]
        average = ref.ema_update(updated, state, step + 1, 0.5)
        model.train_on_batch(x, y)
        np.testing.assert_allclose(model.weights[0].value, ref.non_neg(updated), **F64)
        np.testing.assert_allclose(model._slots[model.weights[0]][-1], average, **F64)
    assert np.any(average < 0)  # the constraint did act on the weights


def test_ema_fit_ends_with_the_averages_and_validates_on_raw_weights(rng):
    """Full-batch epochs without shuffling are the same steps train_on_batch takes: fit ends
    with each weight's moving average (what on_train_end sees), while the last epoch's
    validation ran on the weights of the last step."""
    x, y = batch(rng, n=12)
    xv, yv = batch(rng, n=5)

    def make():
        return linear_model(optimizers.Adam(0.05, use_ema=True, ema_momentum=0.6))

    fitted, stepped = make(), make()
    seen: list = []
    history = fitted.fit(
        x,
        y,
        batch_size=12,
        epochs=5,
        shuffle=False,
        validation_data=(xv, yv),
        verbose=0,
        callbacks=[
            callbacks.LambdaCallback(on_train_end=lambda logs: seen.extend(fitted.get_weights()))
        ],
    )
    states = [{} for _ in stepped.weights]
    for t in range(1, 6):
        stepped.train_on_batch(x, y)
        averages = [ref.ema_update(w.value, s, t, 0.6) for w, s in zip(stepped.weights, states)]
    for w, a, s in zip(fitted.get_weights(), averages, seen):
        np.testing.assert_allclose(w, a, **F64)
        np.testing.assert_array_equal(w, s)
    assert history.history["val_loss"][-1] == stepped.evaluate(xv, yv, verbose=0)
    assert stepped.evaluate(xv, yv, verbose=0) != fitted.evaluate(xv, yv, verbose=0)


def test_ema_fit_leaves_frozen_weights_alone(rng):
    dropnet.set_random_seed(3)
    frozen = Dense(5, input_dim=4, dtype="float64", name="frozen")
    frozen.trainable = False
    model = Sequential([frozen, Dense(3)])
    model.compile(optimizer=optimizers.Adam(0.05, use_ema=True), loss="mse")
    before = model.get_weights()
    model.fit(*batch(rng), epochs=2, verbose=0)
    after = model.get_weights()
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_array_equal(after[1], before[1])
    assert not np.array_equal(after[2], before[2])


def test_ema_fit_without_steps_leaves_the_weights(rng):
    model = linear_model(optimizers.SGD(0.1, use_ema=True))
    before = model.get_weights()
    model.fit(*batch(rng), epochs=2, initial_epoch=2, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ bad arguments
@pytest.mark.parametrize(
    ("make", "error", "text"),
    [
        (lambda: optimizers.AdamW(weight_decay=None), ValueError, "weight_decay .*None"),
        (lambda: optimizers.SGD(weight_decay=-0.5), ValueError, "weight_decay >= 0, received -0.5"),
        (lambda: optimizers.Adam(weight_decay="a"), ValueError, "weight_decay .*number.*'a'"),
        (lambda: optimizers.Adam(weight_decay=float("inf")), ValueError, "inf"),
        (lambda: optimizers.Lion(beta_1=0), ValueError, "0 < beta_1 <= 1, received 0"),
        (lambda: optimizers.Lion(beta_1=1.5), ValueError, "0 < beta_1 <= 1, received 1.5"),
        (lambda: optimizers.Lion(beta_2=1.5), ValueError, "0 <= beta_2 <= 1, received 1.5"),
        (lambda: optimizers.Lion(epsilon=1e-7), TypeError, "epsilon"),
        (lambda: optimizers.Adamax(beta_1=1.0), ValueError, "Adamax: expected 0 <= beta_1 < 1"),
        (lambda: optimizers.Nadam(beta_2=-0.1), ValueError, "Nadam: expected beta_2 >= 0"),
        (lambda: optimizers.Nadam(epsilon=0), ValueError, "epsilon > 0, received 0"),
        (lambda: optimizers.AdamW(beta_1=2), ValueError, "AdamW: expected 0 <= beta_1 < 1"),
        (lambda: optimizers.SGD(use_ema="yes"), TypeError, "use_ema to be True or False.*'yes'"),
        (lambda: optimizers.SGD(ema_momentum=1.5), ValueError, "ema_momentum <= 1, received 1.5"),
        (lambda: optimizers.SGD(ema_overwrite_frequency=0), ValueError, "int >= 1, received 0"),
        (lambda: optimizers.SGD(ema_overwrite_frequency=2.0), TypeError, "expected an int"),
    ],
)
def test_bad_arguments_name_expected_and_received(make, error, text):
    with pytest.raises(error, match=text):
        make()


# ------------------------------------------------------------------ configs and files
CONFIGURED = {
    "adamax": lambda: optimizers.Adamax(0.02, beta_1=0.8, beta_2=0.9, epsilon=1e-5),
    "nadam": lambda: optimizers.Nadam(0.02, beta_1=0.8, clipvalue=0.5, weight_decay=0.01),
    "adamw": lambda: optimizers.AdamW(0.02, weight_decay=0.1, amsgrad=True),
    "lion": lambda: optimizers.Lion(0.002, beta_1=0.95, beta_2=0.98, use_ema=True),
    "sgd-ema": lambda: optimizers.SGD(
        0.05, momentum=0.9, use_ema=True, ema_momentum=0.8, ema_overwrite_frequency=4
    ),
    "rmsprop-decay": lambda: optimizers.RMSprop(0.01, weight_decay=0.05),
}


@pytest.mark.parametrize("name", list(CONFIGURED))
def test_config_round_trip(name):
    opt = CONFIGURED[name]()
    cfg = opt.get_config()
    for key in ("weight_decay", "use_ema", "ema_momentum", "ema_overwrite_frequency"):
        assert key in cfg
    again = type(opt).from_config(cfg)
    assert again.get_config() == cfg
    assert optimizers.get(optimizers.serialize(opt)).get_config() == cfg
    assert again._spec() == opt._spec()


def test_config_keeps_weight_decay_exclusions_by_name():
    opt = optimizers.AdamW()
    opt.exclude_from_weight_decay(var_names=["bias", "gamma"])
    cfg = opt.get_config()
    assert cfg["exclude_from_weight_decay"] == ["bias", "gamma"]
    assert optimizers.AdamW.from_config(cfg)._excluded_names == ("bias", "gamma")
    assert "exclude_from_weight_decay" not in optimizers.AdamW().get_config()


def fit_model(optimizer):
    dropnet.set_random_seed(4)
    model = Sequential(
        [Dense(6, input_dim=4, activation="tanh", dtype="float64"), BatchNormalization(), Dense(3)]
    )
    model.compile(optimizer=optimizer, loss="mse")
    return model


def reloaded(model):
    buf = io.BytesIO()
    model.save(buf)
    return load_model(buf.getvalue())


@pytest.mark.parametrize("name", list(CONFIGURED))
def test_save_mid_training_load_and_continue_bitwise(name, rng):
    x, y = batch(rng, n=40)
    whole = fit_model(CONFIGURED[name]())
    half = fit_model(CONFIGURED[name]())
    if name == "adamw":
        for opt in (whole.optimizer, half.optimizer):
            opt.exclude_from_weight_decay(var_names=["bias", "batch_normalization"])
    # two fits each: a fit with use_ema ends by copying the averages over the weights
    whole.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    whole.fit(x, y, batch_size=8, epochs=5, initial_epoch=2, shuffle=False, verbose=0)
    half.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    loaded = reloaded(half)
    assert type(loaded.optimizer) is type(half.optimizer)
    assert loaded.optimizer.get_config() == half.optimizer.get_config()
    assert loaded.optimizer.n_slots == half.optimizer.n_slots
    for w, v in zip(half.weights, loaded.weights):
        for s, t in zip(half._slots[w], loaded._slots[v]):
            np.testing.assert_array_equal(s, t)
    loaded.fit(x, y, batch_size=8, epochs=5, initial_epoch=2, shuffle=False, verbose=0)
    assert loaded.optimizer.iterations == whole.optimizer.iterations == 25
    for a, b in zip(whole.get_weights(), loaded.get_weights()):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("name", list(CONFIGURED))
def test_one_and_two_threads_train_bitwise_alike(name, rng):
    x, y = batch(rng, n=64)
    runs, _ = ref.weights_per_thread_count(
        lambda: fit_model(CONFIGURED[name]()), x, y, epochs=2, batch_size=16
    )
    assert runs[0] == runs[1]


# ------------------------------------------------------------------ the learning rate
@pytest.mark.parametrize(
    "cls", [optimizers.Adamax, optimizers.Nadam, optimizers.AdamW, optimizers.Lion]
)
def test_learning_rate_readable_and_settable(cls):
    opt = cls(learning_rate=0.01)
    assert opt.lr == opt.learning_rate == pytest.approx(0.01)
    opt.lr = 0.02
    assert opt.learning_rate == pytest.approx(0.02)
    backend.set_value(opt.learning_rate, 0.03)
    assert backend.get_value(opt.lr) == np.float32(0.03)
    assert cls(lr=0.5).learning_rate == 0.5
    assert cls(decay=0.5).current_learning_rate() == 0.001


@pytest.mark.parametrize("name", ["adamax", "nadam", "adamw", "lion"])
def test_learning_rate_set_between_steps(name, rng):
    case = CASES.get(name) or DECAYED[name]
    model = linear_model(case[0]())
    rates = [0.05, 0.01, 0.2, 0.07]

    def change(step):
        backend.set_value(model.optimizer.lr, rates[step])

    decays = [0.3, 0.3] if name == "adamw" else None
    reference = (None, case[1], case[2], lambda it: rates[it], {})
    run_and_compare(model, reference, rng, np.float64, F64, decays, before_step=change)


# ------------------------------------------------------------------ backend
def test_clear_session_starts_names_afresh():
    backend.clear_session()
    first = [Dense(1).name, Dense(1).name, Sequential().name]
    assert first == ["dense", "dense_1", "sequential"]
    backend.clear_session(free_memory=False)
    assert [Dense(1).name, Sequential().name] == ["dense", "sequential"]


def test_image_data_format_is_channels_last():
    assert backend.image_data_format() == "channels_last"
    backend.set_image_data_format("channels_last")
    with pytest.raises(ValueError, match="only 'channels_last'.*received 'channels_first'"):
        backend.set_image_data_format("channels_first")
    assert backend.image_data_format() == "channels_last"
