"""SimpleRNN: forward against a plain-NumPy float64 reference, finite-difference gradients
with the variational masks held fixed, the masks constant over time (a linear cell shows
them directly), thread invariance, saving, Bidirectional, argument errors, and the core
op's step-mask input and carried state on hand-built networks."""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref

import dropnet
from dropnet.layers import Bidirectional, Dense, Input, SimpleRNN
from dropnet.models import Sequential, load_model


def rnn_reference(x, W, R, b, h0=None, step_mask=None, go_backwards=False, act="tanh"):
    f, _ = ref.rnn_activation(act)
    bias = 0.0 if b is None else b
    h0 = np.zeros((x.shape[0], R.shape[0])) if h0 is None else h0
    return ref.run_steps(lambda xt, h: f(xt @ W + bias + h @ R), x, h0, go_backwards, step_mask)


def _model(shape, *layers, loss="mse", seed=3):
    dropnet.set_random_seed(seed)
    m = Sequential([Input(shape), *layers])
    m.compile(optimizer="sgd", loss=loss)
    return m


CASES = [(1, 1, 1, 1), (3, 5, 2, 4), (7, 9, 8, 7), (2, 17, 3, 33)]  # (n, T, D, U)


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_forward_matches_reference(rng, case, return_sequences, go_backwards):
    n, T, D, U = case
    m = _model((T, D), SimpleRNN(U, return_sequences=return_sequences, go_backwards=go_backwards))
    W, R, b = m.get_weights()
    b = rng.standard_normal(b.shape)
    m.set_weights([W, R, b])
    x = rng.standard_normal((n, T, D))
    hs, _ = rnn_reference(x, W, R, b, go_backwards=go_backwards)
    expect = hs if return_sequences else hs[:, -1]
    np.testing.assert_allclose(m.predict(x, verbose=0), expect, rtol=1e-12, atol=1e-13)


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("act", ["relu", "sigmoid", "linear"])
def test_other_activations_and_no_bias(rng, act):
    m = _model((6, 3), SimpleRNN(5, activation=act, use_bias=False, return_sequences=True))
    W, R = m.get_weights()
    x = rng.standard_normal((4, 6, 3))
    hs, _ = rnn_reference(x, W, R, None, act=act)
    np.testing.assert_allclose(m.predict(x, verbose=0), hs, rtol=1e-12, atol=1e-13)


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize(
    "dropout,recurrent_dropout", [(0.0, 0.0), (0.3, 0.0), (0.3, 0.4), (0.0, 0.4)]
)
@pytest.mark.parametrize("return_sequences", [False, True])
def test_gradients_with_masks_fixed(rng, dropout, recurrent_dropout, return_sequences):
    rates = {"dropout": dropout, "recurrent_dropout": recurrent_dropout}
    layers = [SimpleRNN(4, return_sequences=return_sequences, **rates)]
    if return_sequences:
        layers.append(SimpleRNN(3, activation="relu", go_backwards=True, **rates))
    m = _model((5, 3), *layers, Dense(2))
    for w in m.weights:
        if w.name.endswith("bias"):
            w.assign(0.5 * rng.standard_normal(w.value.shape))
    x = rng.standard_normal((4, 5, 3))
    y = 0.5 * rng.standard_normal((4, 2))
    net = ref.check_gradients(m, x, y, rtol=2e-6, atol=2e-9)
    if dropout or recurrent_dropout:
        assert not np.isclose(net.gradients(x, y, None, 1, True)[0], m.evaluate(x, y, verbose=0))


def test_input_mask_is_the_same_at_every_step(rng):
    """A linear cell with W = I and R = 0 outputs x_t ⊙ mask: under Monte-Carlo dropout the
    mask read off each step is the same, 0 or 1/(1 - rate)."""
    D, T, rate = 64, 7, 0.4
    m = _model((T, D), SimpleRNN(D, activation="linear", dropout=rate, return_sequences=True))
    m.set_weights([np.eye(D), np.zeros((D, D)), np.zeros(D)])
    x = rng.uniform(1.0, 2.0, (3, T, D)).astype(np.float32)
    mask = m.predict(x, training=True, verbose=0) / x
    np.testing.assert_allclose(mask, mask[:, :1].repeat(T, axis=1), rtol=1e-6)
    np.testing.assert_allclose(mask[mask != 0], 1 / (1 - rate), rtol=1e-6)
    assert abs((mask[:, 0] == 0).mean() - rate) < 0.15
    assert not np.array_equal(mask[0, 0], mask[1, 0])  # one mask per sequence
    np.testing.assert_array_equal(m.predict(x, verbose=0), x)  # no mask at inference


def test_recurrent_mask_is_the_same_at_every_step(rng):
    """W = I, R = I and input only at the first step: h_t = x_0 ⊙ m^t for the one recurrent
    mask m of the sequence; the carried state itself is not masked."""
    U, T, rate = 64, 5, 0.3
    m = _model(
        (T, U), SimpleRNN(U, activation="linear", recurrent_dropout=rate, return_sequences=True)
    )
    m.set_weights([np.eye(U), np.eye(U), np.zeros(U)])
    x = np.zeros((2, T, U), np.float32)
    x[:, 0] = rng.uniform(1.0, 2.0, (2, U))
    h = m.predict(x, training=True, verbose=0).astype(np.float64)
    mask = h[:, 1] / h[:, 0]
    np.testing.assert_allclose(mask[mask != 0], 1 / (1 - rate), rtol=1e-6)
    for t in range(T):
        np.testing.assert_allclose(h[:, t], h[:, 0] * mask**t, rtol=1e-5)
    assert abs((mask == 0).mean() - rate) < 0.15


def test_training_bitwise_on_1_and_2_threads(rng):
    x = rng.standard_normal((128, 20, 3)).astype(np.float32)
    y = (x.mean(axis=(1, 2)) > 0).astype(np.float32)

    def build():
        return _model(
            (20, 3),
            SimpleRNN(64, dropout=0.2, recurrent_dropout=0.2, return_sequences=True),
            SimpleRNN(32, activation="relu", dropout=0.1, go_backwards=True),
            Dense(1, activation="sigmoid"),
            loss="binary_crossentropy",
        )

    (a, b), _ = ref.weights_per_thread_count(build, x, y, epochs=1, batch_size=64)
    assert a == b


def test_trains_saves_and_loads(tmp_path, rng):
    x = rng.standard_normal((128, 8, 2)).astype(np.float32)
    y = (x[:, :, 0].sum(1) > 0).astype(np.float32)
    m = _model((8, 2), SimpleRNN(8, dropout=0.1, recurrent_dropout=0.1), Dense(1, "sigmoid"))
    m.compile(optimizer=dropnet.optimizers.Adam(0.02), loss="binary_crossentropy")
    hist = m.fit(x, y, epochs=8, batch_size=32, verbose=0).history
    assert hist["loss"][-1] < 0.8 * hist["loss"][0]
    path = tmp_path / "rnn.keras"
    m.save(path)
    back = load_model(path)
    np.testing.assert_array_equal(back.predict(x, verbose=0), m.predict(x, verbose=0))
    assert back.layers[0].get_config() == m.layers[0].get_config()


def test_weights_and_summary_match_keras():
    m = _model((30, 1), SimpleRNN(32))
    kernel, recurrent, bias = m.get_weights()
    assert kernel.shape == (1, 32) and recurrent.shape == (32, 32) and bias.shape == (32,)
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(32), atol=1e-5)
    assert m.count_params() == 32 + 32 * 32 + 32 == 1088
    assert SimpleRNN.from_config(m.layers[0].get_config()).get_config() == (
        m.layers[0].get_config()
    )


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
def test_bidirectional_merges_both_directions(rng, merge_mode):
    dropnet.set_random_seed(0)
    m = Sequential(
        [Input((5, 2)), Bidirectional(SimpleRNN(3, return_sequences=True), merge_mode=merge_mode)]
    )
    weights = m.get_weights()
    x = rng.standard_normal((4, 5, 2))
    a, _ = rnn_reference(x, *weights[:3])
    b, _ = rnn_reference(x, *weights[3:], go_backwards=True)
    b = b[:, ::-1]
    merged = {"concat": np.concatenate([a, b], -1), "sum": a + b, "mul": a * b, "ave": (a + b) / 2}
    np.testing.assert_allclose(m.predict(x, verbose=0), merged[merge_mode], rtol=1e-12)


@pytest.mark.usefixtures("float64")
def test_bidirectional_gradients(rng):
    dropnet.set_random_seed(1)
    m = Sequential([Input((4, 2)), Bidirectional(SimpleRNN(3), merge_mode="ave"), Dense(1)])
    m.compile("sgd", "mse")
    ref.check_gradients(m, rng.standard_normal((3, 4, 2)), rng.standard_normal((3, 1)))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"units": 0}, "units"),
        ({"units": 2.5}, "units"),
        ({"activation": "softmax"}, "activation"),
        ({"dropout": 1.0}, "dropout"),
        ({"recurrent_dropout": -0.5}, "recurrent_dropout"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        SimpleRNN(**{"units": 4, **kwargs})


def test_wrong_input_rank():
    with pytest.raises(ValueError, match="rank 3"):
        Sequential([Input((5, 2, 2)), SimpleRNN(3)])


# ---- the core op on hand-built networks: step masks and carried states

N, T, D, U = 3, 5, 2, 4
STEP_MASK = np.array([[1, 0, 1, 1, 0], [0, 0, 1, 0, 1], [0, 0, 0, 0, 0]], dtype=np.float64)


def _attrs(**kw):
    return {
        "units": U,
        "act": "tanh",
        "return_sequences": True,
        "go_backwards": False,
        "dropout": 0.0,
        "recurrent_dropout": 0.0,
        **kw,
    }


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("stateful", [False, True])
def test_core_step_mask_and_carried_state(rng, go_backwards, stateful):
    W, R, b = (0.5 * rng.standard_normal(s) for s in [(D, U), (U, U), (U,)])
    S = rng.standard_normal((N, U)) if stateful else np.zeros((N, U))
    state = S.copy()
    params = [W, R, b] + ([state] if stateful else [])
    roles = ["kernel", "recurrent_kernel", "bias", "state_h"][: len(params)]
    net = ref.rnn_core_network(
        "simple_rnn", _attrs(go_backwards=go_backwards), T, D, (T, U), params, roles, True
    )
    x = rng.standard_normal((N, T, D))
    y = rng.standard_normal((N, T, U))
    hs, final = rnn_reference(x, W, R, b, S, STEP_MASK, go_backwards)
    loss, grads, (dx, dmask) = net.gradients([x, STEP_MASK], y, None, 0, False)
    assert loss == pytest.approx(np.mean(np.mean((hs - y) ** 2, axis=-1)), rel=1e-12)

    def f():
        return net.gradients([x, STEP_MASK], y, None, 0, False)[0]

    for value, g in zip([W, R, b, x], [*grads[:3], dx.reshape(x.shape)]):
        np.testing.assert_allclose(g, ref.central_difference(f, value), rtol=1e-6, atol=1e-9)
    assert not dmask.any() and not dx.reshape(x.shape)[STEP_MASK == 0].any()
    if stateful:
        assert not grads[3].any()
    np.testing.assert_allclose(ref.predict(net, [x, STEP_MASK]), hs, rtol=1e-12, atol=1e-14)
    if stateful:
        np.testing.assert_allclose(state, final, rtol=1e-12, atol=1e-14)
        with pytest.raises(
            ValueError, match="simple_rnn: a stateful layer runs batches of exactly"
        ):
            net.train_on_batch([x[:2], STEP_MASK[:2]], y[:2], None, 0)


# ---- through the layers: masks and stateful=True


@pytest.mark.usefixtures("float64")
def test_masking_layer_skips_padding(rng):
    dropnet.set_random_seed(4)
    m = Sequential(
        [
            Input((6, 2)),
            dropnet.layers.Masking(0.0),
            SimpleRNN(3, return_sequences=True, go_backwards=True),
            SimpleRNN(2),
        ]
    )
    m.compile("sgd", "mse")
    x = rng.standard_normal((3, 6, 2))
    x[0, 4:] = x[1, :2] = x[2, 3] = 0.0
    mask = np.any(x != 0, axis=-1)
    w = m.get_weights()
    hs, _ = rnn_reference(x, *w[:3], step_mask=mask, go_backwards=True)
    out, _ = rnn_reference(hs, *w[3:], step_mask=mask)  # the mask goes on in input order
    np.testing.assert_allclose(m.predict(x, verbose=0), out[:, -1], rtol=1e-12, atol=1e-14)
    ref.check_gradients(m, x, 0.5 * rng.standard_normal((3, 2)), input_gradient=False)


def test_stateful_simple_rnn_continues_each_sample(rng):
    seq = rng.standard_normal((2, 8, 3)).astype(np.float32)
    layer = SimpleRNN(4, stateful=True)
    model = Sequential([Input(batch_shape=(2, 4, 3)), layer])
    model.predict(seq[:, :4], verbose=0)
    last = model.predict(seq[:, 4:], verbose=0)
    whole = Sequential([Input((8, 3)), SimpleRNN(4)])
    whole.set_weights(layer.get_weights())
    np.testing.assert_allclose(last, whole.predict(seq, verbose=0), rtol=1e-5, atol=1e-6)
