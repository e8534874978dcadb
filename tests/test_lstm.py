"""LSTM: forward and BPTT against a plain-NumPy float64 reference, finite-difference
gradients with variational dropout masks held fixed, the masks' structure (one per
sequence, constant over time; one or four input masks and four recurrent masks per
docs/behaviour.md, "LSTM"), thread invariance, saving, and argument errors."""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref

import dropnet
from dropnet import _core
from dropnet.layers import LSTM, Dense, Dropout, Input
from dropnet.models import Sequential, load_model


def _act(name):
    return {
        "tanh": (np.tanh, lambda y: 1 - y * y),
        "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda y: y * (1 - y)),
        "relu": (lambda z: np.maximum(z, 0), lambda y: (y > 0).astype(y.dtype)),
        "linear": (lambda z: z, lambda y: np.ones_like(y)),
    }[name]


def lstm_reference(x, W, R, b, act="tanh", rec_act="sigmoid", go_backwards=False):
    """Forward pass: returns h of every processed step (n, T, U) and the saved states."""
    n, T, _ = x.shape
    U = R.shape[0]
    f_act, _ = _act(act)
    f_rec, _ = _act(rec_act)
    xs = x[:, ::-1] if go_backwards else x
    h, c = np.zeros((n, U)), np.zeros((n, U))
    hs, cs, gates = [], [], []
    for t in range(T):
        z = xs[:, t] @ W + h @ R + (0 if b is None else b)
        i, f = f_rec(z[:, :U]), f_rec(z[:, U : 2 * U])
        g, o = f_act(z[:, 2 * U : 3 * U]), f_rec(z[:, 3 * U :])
        c = f * c + i * g
        h = o * f_act(c)
        hs.append(h)
        cs.append(c)
        gates.append((i, f, g, o))
    return np.stack(hs, 1), np.stack(cs, 1), gates, xs


def lstm_bptt_reference(x, W, R, b, dh_seq, act="tanh", rec_act="sigmoid", go_backwards=False):
    """Step-by-step BPTT: gradients of Σ dh_seq ⊙ h (dh_seq (n, T, U), processed order)."""
    hs, cs, gates, xs = lstm_reference(x, W, R, b, act, rec_act, go_backwards)
    n, T, _ = x.shape
    U = R.shape[0]
    f_act, d_act = _act(act)
    _, d_rec = _act(rec_act)
    dW, dR, db = np.zeros_like(W), np.zeros_like(R), np.zeros(4 * U)
    dxs = np.zeros_like(xs)
    dh_next, dc_next = np.zeros((n, U)), np.zeros((n, U))
    for t in reversed(range(T)):
        i, f, g, o = gates[t]
        c_prev = cs[:, t - 1] if t > 0 else np.zeros((n, U))
        h_prev = hs[:, t - 1] if t > 0 else np.zeros((n, U))
        tc = f_act(cs[:, t])
        dh = dh_seq[:, t] + dh_next
        dc = dc_next + dh * o * d_act(tc)
        dz = np.concatenate(
            [dc * g * d_rec(i), dc * c_prev * d_rec(f), dc * i * d_act(g), dh * tc * d_rec(o)],
            axis=1,
        )
        dW += xs[:, t].T @ dz
        dR += h_prev.T @ dz
        db += dz.sum(0)
        dxs[:, t] = dz @ W.T
        dh_next = dz @ R.T
        dc_next = dc * f
    dx = dxs[:, ::-1] if go_backwards else dxs
    return dW, dR, db, dx


def _model(shape, *layers, loss="mse", seed=3):
    dropnet.set_random_seed(seed)
    m = Sequential([Input(shape), *layers])
    m.compile(optimizer="sgd", loss=loss)
    return m


CASES = [  # (n, T, D, U)
    (1, 1, 1, 1),
    (3, 5, 2, 4),
    (7, 9, 8, 7),
    (5, 17, 3, 9),
    (2, 33, 1, 16),
]


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_forward_matches_reference(rng, case, return_sequences, go_backwards):
    n, T, D, U = case
    m = _model((T, D), LSTM(U, return_sequences=return_sequences, go_backwards=go_backwards))
    W, R, b = m.get_weights()
    b = rng.standard_normal(b.shape)
    m.set_weights([W, R, b])
    x = rng.standard_normal((n, T, D))
    hs, *_ = lstm_reference(x, W, R, b, go_backwards=go_backwards)
    expect = hs if return_sequences else hs[:, -1]
    np.testing.assert_allclose(m.predict(x, verbose=0), expect, rtol=1e-12, atol=1e-13)


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("act,rec_act", [("relu", "sigmoid"), ("linear", "tanh"), ("tanh", "relu")])
def test_other_activations_and_no_bias(rng, act, rec_act):
    m = _model(
        (6, 3),
        LSTM(
            5, activation=act, recurrent_activation=rec_act, use_bias=False, return_sequences=True
        ),
    )
    W, R = m.get_weights()
    x = rng.standard_normal((4, 6, 3))
    hs, *_ = lstm_reference(x, W, R, None, act, rec_act)
    np.testing.assert_allclose(m.predict(x, verbose=0), hs, rtol=1e-12, atol=1e-13)


def test_float32_gates_close_to_float64(rng):
    """float32 uses polynomial exp/tanh in the gates; they stay within float32 rounding."""
    m = _model((20, 4), LSTM(16, return_sequences=True))
    W, R, b = (w.astype(np.float64) for w in m.get_weights())
    x = rng.standard_normal((8, 20, 4)).astype(np.float32)
    hs, *_ = lstm_reference(x.astype(np.float64), W, R, b)
    np.testing.assert_allclose(m.predict(x, verbose=0), hs, rtol=0, atol=2e-6)


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("case", CASES[1:4])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_bptt_matches_reference(rng, case, return_sequences, go_backwards):
    n, T, D, U = case
    m = _model((T, D), LSTM(U, return_sequences=return_sequences, go_backwards=go_backwards))
    W, R, b = m.get_weights()
    b = rng.standard_normal(b.shape)
    m.set_weights([W, R, b])
    x = rng.standard_normal((n, T, D))
    out_shape = (n, T, U) if return_sequences else (n, U)
    y = rng.standard_normal(out_shape)
    _, grads, dx = m._network(training=True).gradients(x, y, None, 0, True)
    # mse: d loss / d h = 2 (h - y) / (n · outputs per sample)
    hs, *_ = lstm_reference(x, W, R, b, go_backwards=go_backwards)
    h = hs if return_sequences else hs[:, -1]
    dh = 2 * (h - y) / h.size
    dh_seq = dh if return_sequences else np.concatenate([np.zeros((n, T - 1, U)), dh[:, None]], 1)
    expect = lstm_bptt_reference(x, W, R, b, dh_seq, go_backwards=go_backwards)
    for got, want, name in zip(
        [*grads, dx.reshape(x.shape)],
        expect[:3] + (expect[3],),
        ["kernel", "recurrent_kernel", "bias", "x"],
    ):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize(
    "dropout,recurrent_dropout", [(0.0, 0.0), (0.3, 0.0), (0.3, 0.4), (0.0, 0.4)]
)
@pytest.mark.parametrize("return_sequences", [False, True])
def test_gradients_with_masks_fixed(rng, dropout, recurrent_dropout, return_sequences):
    layers = [
        LSTM(
            4,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            return_sequences=return_sequences,
        )
    ]
    if return_sequences:
        layers.append(LSTM(3, dropout=dropout, recurrent_dropout=recurrent_dropout))
    m = _model((5, 3), *layers, Dense(2))
    net = m._network(training=True)
    x = rng.standard_normal((4, 5, 3))
    y = rng.standard_normal((4, 2))
    loss, grads, dx = net.gradients(x, y, None, 7, True)

    def f():
        return net.gradients(x, y, None, 7, True)[0]

    for w, g in zip(m.weights, grads):
        np.testing.assert_allclose(
            g, ref.central_difference(f, w.value), rtol=2e-6, atol=1e-9, err_msg=w.name
        )
    np.testing.assert_allclose(
        dx.reshape(x.shape), ref.central_difference(f, x), rtol=2e-6, atol=1e-9
    )
    if dropout or recurrent_dropout:  # the masks are live: training differs from inference
        assert not np.isclose(loss, net.gradients(x, y, None, 7, False)[0])


def _grads(m, x, step=5):
    y = np.zeros((x.shape[0],) + m.output_shape[1:])
    return m._network(training=True).gradients(x, y, None, step, True)


@pytest.mark.usefixtures("float64")
def test_single_input_mask_shared_by_gates_and_steps(rng):
    """dropout only: one (n, D) mask; a dropped feature has zero input gradient at every
    step and a zero kernel row across all four gates."""
    D, rate = 400, 0.3
    m = _model((6, D), LSTM(3, dropout=rate))
    x = rng.standard_normal((2, 6, D))
    _, _, dx = _grads(m, x)
    dx = dx.reshape(x.shape)
    for s in range(2):
        dropped = dx[s, 0] == 0
        for t in range(6):
            np.testing.assert_array_equal(dx[s, t] == 0, dropped)
        assert abs(dropped.mean() - rate) < 0.08
    m1 = _model((6, D), LSTM(3, dropout=rate))
    _, (dW1, _, _), dx1 = _grads(m1, x[:1])
    zero_rows = np.all(dW1 == 0, axis=1)
    np.testing.assert_array_equal(zero_rows, dx1.reshape(1, 6, D)[0, 0] == 0)
    assert np.all(np.any(dW1[~zero_rows] != 0, axis=1))


@pytest.mark.usefixtures("float64")
def test_four_input_and_four_recurrent_masks(rng):
    """recurrent_dropout > 0: each gate has its own input mask and recurrent mask (one
    sample: a dropped input feature zeroes that gate's kernel row; a dropped state unit
    zeroes that gate's recurrent-kernel row), each dropping about `rate` of its entries."""
    D, U, rate, rec = 300, 300, 0.3, 0.4
    m = _model((5, D), LSTM(U, dropout=rate, recurrent_dropout=rec))
    x = rng.standard_normal((1, 5, D))
    _, (dW, dR, _), _ = _grads(m, x)
    for grad, p, rows in ((dW, rate, D), (dR, rec, U)):
        patterns = [np.all(grad[:, q * U : (q + 1) * U] == 0, axis=1) for q in range(4)]
        for pat in patterns:
            assert pat.shape == (rows,)
            assert abs(pat.mean() - p) < 0.1
        assert len({pat.tobytes() for pat in patterns}) == 4  # independent per gate


def test_masks_fresh_per_step_and_absent_at_inference(rng):
    m = _model((8, 5), LSTM(6, dropout=0.5, recurrent_dropout=0.5))
    x = rng.standard_normal((3, 8, 5)).astype(np.float32)
    a = m.predict(x, verbose=0)
    np.testing.assert_array_equal(a, m.predict(x, verbose=0))
    plain = _model((8, 5), LSTM(6))
    plain.set_weights(m.get_weights())
    np.testing.assert_array_equal(a, plain.predict(x, verbose=0))
    mc1, mc2 = m.predict(x, training=True, verbose=0), m.predict(x, training=True, verbose=0)
    assert not np.array_equal(mc1, mc2) and not np.array_equal(mc1, a)


def test_training_bitwise_on_1_and_2_threads(rng):
    x = rng.standard_normal((64, 12, 3)).astype(np.float32)
    y = (x.mean(axis=(1, 2)) > 0).astype(np.float32)
    weights = []
    for threads in (1, 2):
        _core.set_num_threads(threads)
        m = _model(
            (12, 3),
            LSTM(16, dropout=0.2, recurrent_dropout=0.2, return_sequences=True),
            LSTM(8, dropout=0.1),
            Dense(1, activation="sigmoid"),
            loss="binary_crossentropy",
        )
        m.fit(x, y, epochs=2, batch_size=16, verbose=0)
        weights.append(m.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_learns_and_round_trips(tmp_path, rng):
    x = rng.standard_normal((256, 10, 2)).astype(np.float32)
    y = (x[:, :, 0].sum(1) > 0).astype(np.float32)
    m = _model(
        (10, 2),
        LSTM(16, dropout=0.1, recurrent_dropout=0.1),
        Dropout(0.2),
        Dense(1, activation="sigmoid"),
        loss="binary_crossentropy",
    )
    m.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    hist = m.fit(x, y, epochs=30, batch_size=32, verbose=0).history
    assert hist["loss"][-1] < 0.6 * hist["loss"][0]
    assert hist["accuracy"][-1] > 0.85
    path = tmp_path / "lstm.keras"
    m.save(path)
    np.testing.assert_array_equal(load_model(path).predict(x, verbose=0), m.predict(x, verbose=0))


def test_weights_and_summary_match_keras():
    m = _model((30, 1), LSTM(32))
    kernel, recurrent, bias = m.get_weights()
    assert kernel.shape == (1, 128) and recurrent.shape == (32, 128) and bias.shape == (128,)
    np.testing.assert_array_equal(bias, np.r_[np.zeros(32), np.ones(32), np.zeros(64)])
    # the orthogonal recurrent kernel: rows of the whole (U, 4U) matrix are orthonormal
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(32), atol=1e-5)
    assert m.count_params() == 4 * (32 * (1 + 32) + 32) == 4352
    lines = []
    m.summary(print_fn=lines.append)
    assert any("(None, 32)" in ln and "4,352" in ln for ln in lines)
    seq = _model((30, 1), LSTM(32, return_sequences=True))
    assert seq.output_shape == (None, 30, 32)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": -0.1}, "dropout"),
        ({"recurrent_dropout": 1.0}, "recurrent_dropout"),
        ({"recurrent_dropout": float("nan")}, "recurrent_dropout"),
        ({"activation": "softmax"}, "activation"),
        ({"units": 0}, "units"),
    ],
)
def test_bad_arguments(kwargs, match):
    args = {"units": 4, **kwargs}
    with pytest.raises((ValueError, TypeError), match=match):
        LSTM(**args)


def test_wrong_input_rank():
    with pytest.raises(ValueError, match="rank 3"):
        Sequential([Input((5,)), LSTM(3)])
