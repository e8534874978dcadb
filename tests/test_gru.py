"""GRU: forward against a plain-NumPy float64 reference of Keras's cell (reset_after either
way, go_backwards, return_sequences, no bias), finite-difference gradients with the
variational masks held fixed, the masks' structure (one input mask shared by the gates, or
three input and three recurrent masks), thread invariance, saving, Bidirectional, argument
errors, and the core op's step-mask input and carried state on hand-built networks."""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref

import dropnet
from dropnet.layers import GRU, Bidirectional, Dense, Input
from dropnet.models import Sequential, load_model


def gru_cell(W, R, b, reset_after=True, act="tanh", rec_act="sigmoid"):
    """Keras's GRU step (x, h) -> h' in float64; column blocks z, r, h."""
    U = R.shape[0]
    f, _ = ref.rnn_activation(act)
    fr, _ = ref.rnn_activation(rec_act)
    if b is None:
        bx = bh = np.zeros(3 * U)
    elif reset_after:
        bx, bh = b
    else:
        bx, bh = b, np.zeros(3 * U)
    blk = [slice(q * U, (q + 1) * U) for q in range(3)]

    def cell(x, h):
        z = fr(x @ W[:, blk[0]] + bx[blk[0]] + h @ R[:, blk[0]] + bh[blk[0]])
        r = fr(x @ W[:, blk[1]] + bx[blk[1]] + h @ R[:, blk[1]] + bh[blk[1]])
        if reset_after:
            c = f(x @ W[:, blk[2]] + bx[blk[2]] + r * (h @ R[:, blk[2]] + bh[blk[2]]))
        else:
            c = f(x @ W[:, blk[2]] + bx[blk[2]] + (r * h) @ R[:, blk[2]])
        return z * h + (1 - z) * c

    return cell


def gru_reference(x, W, R, b, h0=None, step_mask=None, go_backwards=False, **cell_args):
    h0 = np.zeros((x.shape[0], R.shape[0])) if h0 is None else h0
    return ref.run_steps(gru_cell(W, R, b, **cell_args), x, h0, go_backwards, step_mask)


def _model(shape, *layers, loss="mse", seed=3):
    dropnet.set_random_seed(seed)
    m = Sequential([Input(shape), *layers])
    m.compile(optimizer="sgd", loss=loss)
    return m


CASES = [(1, 1, 1, 1), (3, 5, 2, 4), (7, 9, 8, 7), (2, 17, 3, 9)]  # (n, T, D, U)


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_forward_matches_reference(rng, case, reset_after, return_sequences, go_backwards):
    n, T, D, U = case
    layer = GRU(
        U, reset_after=reset_after, return_sequences=return_sequences, go_backwards=go_backwards
    )
    m = _model((T, D), layer)
    W, R, b = m.get_weights()
    b = rng.standard_normal(b.shape)
    m.set_weights([W, R, b])
    x = rng.standard_normal((n, T, D))
    hs, _ = gru_reference(x, W, R, b, go_backwards=go_backwards, reset_after=reset_after)
    expect = hs if return_sequences else hs[:, -1]
    np.testing.assert_allclose(m.predict(x, verbose=0), expect, rtol=1e-12, atol=1e-13)


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("act,rec_act", [("relu", "sigmoid"), ("linear", "tanh"), ("tanh", "relu")])
@pytest.mark.parametrize("reset_after", [True, False])
def test_other_activations_and_no_bias(rng, act, rec_act, reset_after):
    layer = GRU(
        5,
        activation=act,
        recurrent_activation=rec_act,
        use_bias=False,
        reset_after=reset_after,
        return_sequences=True,
    )
    m = _model((6, 3), layer)
    W, R = m.get_weights()
    x = rng.standard_normal((4, 6, 3))
    hs, _ = gru_reference(x, W, R, None, act=act, rec_act=rec_act, reset_after=reset_after)
    np.testing.assert_allclose(m.predict(x, verbose=0), hs, rtol=1e-12, atol=1e-13)


def test_float32_gates_close_to_float64(rng):
    m = _model((20, 4), GRU(16, return_sequences=True))
    W, R, b = (w.astype(np.float64) for w in m.get_weights())
    x = rng.standard_normal((8, 20, 4)).astype(np.float32)
    hs, _ = gru_reference(x.astype(np.float64), W, R, b)
    np.testing.assert_allclose(m.predict(x, verbose=0), hs, rtol=0, atol=2e-6)


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize(
    "dropout,recurrent_dropout", [(0.0, 0.0), (0.3, 0.0), (0.3, 0.4), (0.0, 0.4)]
)
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_gradients_with_masks_fixed(rng, dropout, recurrent_dropout, reset_after, return_sequences):
    rates = {"dropout": dropout, "recurrent_dropout": recurrent_dropout}
    layers = [GRU(4, reset_after=reset_after, return_sequences=return_sequences, **rates)]
    if return_sequences:
        layers.append(GRU(3, reset_after=not reset_after, go_backwards=True, **rates))
    m = _model((5, 3), *layers, Dense(2))
    for w in m.weights:  # biases away from zero, so their gradients are checked too
        if w.name.endswith("bias"):
            w.assign(0.5 * rng.standard_normal(w.value.shape))
    x = rng.standard_normal((4, 5, 3))
    y = 0.5 * rng.standard_normal((4, 2))
    net = ref.check_gradients(m, x, y, rtol=2e-6, atol=2e-9)
    if dropout or recurrent_dropout:  # the masks are live: training differs from inference
        assert not np.isclose(net.gradients(x, y, None, 1, True)[0], m.evaluate(x, y, verbose=0))


def _grads(m, x, step=5):
    y = np.zeros((x.shape[0],) + m.output_shape[1:])
    return m._network(training=True).gradients(x, y, None, step, True)


@pytest.mark.usefixtures("float64")
def test_single_input_mask_shared_by_gates_and_steps(rng):
    """dropout only: one (n, D) mask; a dropped feature has zero input gradient at every
    step and a zero kernel row across all three gates."""
    D, rate = 400, 0.3
    m = _model((6, D), GRU(3, dropout=rate))
    x = rng.standard_normal((2, 6, D))
    _, _, dx = _grads(m, x)
    dx = dx.reshape(x.shape)
    for s in range(2):
        dropped = dx[s, 0] == 0
        for t in range(6):
            np.testing.assert_array_equal(dx[s, t] == 0, dropped)
        assert abs(dropped.mean() - rate) < 0.08
    _, (dW, _, _), dx1 = _grads(m, x[:1])
    np.testing.assert_array_equal(np.all(dW == 0, axis=1), dx1.reshape(1, 6, D)[0, 0] == 0)


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("reset_after", [True, False])
def test_three_input_and_three_recurrent_masks(rng, reset_after):
    """recurrent_dropout > 0: each gate has its own input and recurrent mask (one sample: a
    dropped feature zeroes that gate's kernel row; a dropped state unit that gate's
    recurrent-kernel row, also for the h gate's (r ⊙ h) product without reset_after)."""
    D, U, rate, rec = 300, 300, 0.3, 0.4
    m = _model((5, D), GRU(U, dropout=rate, recurrent_dropout=rec, reset_after=reset_after))
    x = rng.standard_normal((1, 5, D))
    _, (dW, dR, _), _ = _grads(m, x)
    for grad, p, rows in ((dW, rate, D), (dR, rec, U)):
        patterns = [np.all(grad[:, q * U : (q + 1) * U] == 0, axis=1) for q in range(3)]
        for pat in patterns:
            assert pat.shape == (rows,)
            assert abs(pat.mean() - p) < 0.1
        assert len({pat.tobytes() for pat in patterns}) == 3  # independent per gate


def test_masks_fresh_per_call_and_absent_at_inference(rng):
    m = _model((8, 5), GRU(6, dropout=0.5, recurrent_dropout=0.5))
    x = rng.standard_normal((3, 8, 5)).astype(np.float32)
    a = m.predict(x, verbose=0)
    plain = _model((8, 5), GRU(6))
    plain.set_weights(m.get_weights())
    np.testing.assert_array_equal(a, plain.predict(x, verbose=0))
    mc1, mc2 = m.predict(x, training=True, verbose=0), m.predict(x, training=True, verbose=0)
    assert not np.array_equal(mc1, mc2) and not np.array_equal(mc1, a)


def test_training_bitwise_on_1_and_2_threads(rng):
    """Batches large enough that the time loop and the GEMMs split across threads."""
    x = rng.standard_normal((128, 20, 3)).astype(np.float32)
    y = (x.mean(axis=(1, 2)) > 0).astype(np.float32)

    def build():
        return _model(
            (20, 3),
            GRU(32, dropout=0.2, recurrent_dropout=0.2, return_sequences=True),
            GRU(16, dropout=0.1, reset_after=False, go_backwards=True),
            Dense(1, activation="sigmoid"),
            loss="binary_crossentropy",
        )

    (a, b), _ = ref.weights_per_thread_count(build, x, y, epochs=1, batch_size=64)
    assert a == b


@pytest.mark.parametrize("reset_after", [True, False])
def test_trains_saves_and_loads(tmp_path, rng, reset_after):
    x = rng.standard_normal((128, 8, 2)).astype(np.float32)
    y = (x[:, :, 0].sum(1) > 0).astype(np.float32)
    m = _model(
        (8, 2),
        GRU(8, dropout=0.1, recurrent_dropout=0.1, reset_after=reset_after),
        Dense(1, activation="sigmoid"),
    )
    m.compile(optimizer=dropnet.optimizers.Adam(0.02), loss="binary_crossentropy")
    hist = m.fit(x, y, epochs=8, batch_size=32, verbose=0).history
    assert hist["loss"][-1] < 0.8 * hist["loss"][0]
    path = tmp_path / "gru.keras"
    m.save(path)
    back = load_model(path)
    np.testing.assert_array_equal(back.predict(x, verbose=0), m.predict(x, verbose=0))
    assert back.layers[0].get_config() == m.layers[0].get_config()


def test_weights_and_summary_match_keras():
    m = _model((30, 1), GRU(32))
    kernel, recurrent, bias = m.get_weights()
    assert kernel.shape == (1, 96) and recurrent.shape == (32, 96) and bias.shape == (2, 96)
    assert not bias.any()
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(32), atol=1e-5)
    assert m.count_params() == 3 * (32 * (1 + 32) + 2 * 32) == 3360
    old = _model((30, 1), GRU(32, reset_after=False))
    assert old.get_weights()[2].shape == (96,) and old.count_params() == 3264
    config = GRU(4, recurrent_activation="tanh", reset_after=False).get_config()
    assert config["recurrent_activation"] == "tanh" and config["reset_after"] is False
    assert GRU.from_config(config).get_config() == config


MERGE = {
    "concat": lambda a, b: np.concatenate([a, b], axis=-1),
    "sum": lambda a, b: a + b,
    "mul": lambda a, b: a * b,
    "ave": lambda a, b: (a + b) / 2,
}


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("merge_mode", sorted(MERGE))
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_merges_both_directions(rng, merge_mode, return_sequences):
    dropnet.set_random_seed(0)
    m = Sequential(
        [
            Input((5, 2)),
            Bidirectional(GRU(3, return_sequences=return_sequences), merge_mode=merge_mode),
        ]
    )
    weights = m.get_weights()
    assert [w.shape for w in weights] == [(2, 9), (3, 9), (2, 9)] * 2
    x = rng.standard_normal((4, 5, 2))
    a, _ = gru_reference(x, *weights[:3])
    b, _ = gru_reference(x, *weights[3:], go_backwards=True)
    a, b = (a, b[:, ::-1]) if return_sequences else (a[:, -1], b[:, -1])
    np.testing.assert_allclose(m.predict(x, verbose=0), MERGE[merge_mode](a, b), rtol=1e-12)


@pytest.mark.usefixtures("float64")
def test_bidirectional_gradients(rng):
    dropnet.set_random_seed(1)
    m = Sequential(
        [
            Input((4, 2)),
            Bidirectional(GRU(2, return_sequences=True, reset_after=False)),
            Bidirectional(GRU(2), merge_mode="mul"),
            Dense(1),
        ]
    )
    m.compile("sgd", "mse")
    ref.check_gradients(m, rng.standard_normal((3, 4, 2)), rng.standard_normal((3, 1)))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"units": 0}, "units"),
        ({"units": -2}, "units"),
        ({"activation": "softmax"}, "activation"),
        ({"recurrent_activation": "elu"}, "recurrent_activation"),
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": -0.1}, "dropout"),
        ({"recurrent_dropout": 1.0}, "recurrent_dropout"),
        ({"recurrent_dropout": float("nan")}, "recurrent_dropout"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        GRU(**{"units": 4, **kwargs})


def test_wrong_input_rank():
    with pytest.raises(ValueError, match="rank 3"):
        Sequential([Input((5,)), GRU(3)])


# ---- the core op on hand-built networks: step masks and carried states

N, T, D, U = 4, 6, 3, 5
STEP_MASK = np.array(
    [
        [1, 1, 0, 1, 0, 0],  # masked steps inside and at the end
        [0, 0, 1, 1, 1, 0],  # leading masked steps: outputs zero until step 2
        [0, 0, 0, 0, 0, 0],  # nothing to read: output zero, state carried throughout
        [1, 1, 1, 1, 1, 1],
    ],
    dtype=np.float64,
)


def _attrs(**kw):
    return {
        "units": U,
        "act": "tanh",
        "recurrent_act": "sigmoid",
        "reset_after": True,
        "return_sequences": False,
        "go_backwards": False,
        "dropout": 0.0,
        "recurrent_dropout": 0.0,
        **kw,
    }


def _weights(rng, reset_after):
    W = rng.standard_normal((D, 3 * U)) * 0.5
    R = rng.standard_normal((U, 3 * U)) * 0.5
    b = rng.standard_normal((2, 3 * U) if reset_after else (3 * U,)) * 0.5
    return W, R, b


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_core_step_mask_carries_the_state(rng, reset_after, return_sequences, go_backwards):
    W, R, b = _weights(rng, reset_after)
    attrs = _attrs(
        reset_after=reset_after, return_sequences=return_sequences, go_backwards=go_backwards
    )
    out_shape = (T, U) if return_sequences else (U,)
    net = ref.rnn_core_network(
        "gru", attrs, T, D, out_shape, [W, R, b], ["kernel", "recurrent_kernel", "bias"], True
    )
    x = rng.standard_normal((N, T, D))
    hs, _ = gru_reference(
        x, W, R, b, step_mask=STEP_MASK, go_backwards=go_backwards, reset_after=reset_after
    )
    expect = hs if return_sequences else hs[:, -1]
    np.testing.assert_allclose(ref.predict(net, [x, STEP_MASK]), expect, rtol=1e-12, atol=1e-14)

    y = rng.standard_normal((N, *out_shape))
    loss, grads, (dx, dmask) = net.gradients([x, STEP_MASK], y, None, 0, False)
    assert loss == pytest.approx(np.mean(np.mean((expect - y) ** 2, axis=-1)), rel=1e-12)

    def f():
        return net.gradients([x, STEP_MASK], y, None, 0, False)[0]

    for value, g in zip([W, R, b, x], [*grads, dx.reshape(x.shape)]):
        np.testing.assert_allclose(g, ref.central_difference(f, value), rtol=1e-6, atol=1e-9)
    assert not dmask.any()
    assert not dx.reshape(x.shape)[STEP_MASK == 0].any()  # masked steps get no gradient


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_core_carried_state(rng, reset_after, go_backwards):
    """A state_h parameter (B, U): rows start from it; inference and training steps leave
    each row's final state in it, a gradient check does not; its gradient is zero; the
    training step's backward uses the states the forward started from."""
    W, R, b = _weights(rng, reset_after)
    S = rng.standard_normal((N, U))
    attrs = _attrs(reset_after=reset_after, return_sequences=True, go_backwards=go_backwards)
    roles = ["kernel", "recurrent_kernel", "bias", "state_h"]
    x = rng.standard_normal((N, T, D))
    y = rng.standard_normal((N, T, U))
    hs, final = gru_reference(
        x, W, R, b, S, STEP_MASK, go_backwards=go_backwards, reset_after=reset_after
    )

    state = S.copy()
    net = ref.rnn_core_network("gru", attrs, T, D, (T, U), [W, R, b, state], roles, True)
    loss, grads, _ = net.gradients([x, STEP_MASK], y, None, 0, False)
    assert loss == pytest.approx(np.mean(np.mean((hs - y) ** 2, axis=-1)), rel=1e-12)
    np.testing.assert_array_equal(state, S)  # a gradient check moves no state
    assert not grads[3].any()

    def f():
        return net.gradients([x, STEP_MASK], y, None, 0, False)[0]

    for value, g in zip([W, R, b], grads):
        np.testing.assert_allclose(g, ref.central_difference(f, value), rtol=1e-6, atol=1e-9)

    np.testing.assert_allclose(ref.predict(net, [x, STEP_MASK]), hs, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(state, final, rtol=1e-12, atol=1e-14)

    # A training step: weights move by the gradient taken from S, the state moves on.
    values = [W.copy(), R.copy(), b.copy(), S.copy()]
    trained = ref.rnn_core_network("gru", attrs, T, D, (T, U), values, roles, True, lr=0.1)
    trained.train_on_batch([x, STEP_MASK], y, None, 0)
    for before, after, g in zip([W, R, b], values, grads):
        np.testing.assert_allclose(after, before - 0.1 * g, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(values[3], final, rtol=1e-12, atol=1e-14)

    with pytest.raises(ValueError, match="batches of exactly 4 rows, received 3"):
        trained.train_on_batch([x[:3], STEP_MASK[:3]], y[:3], None, 1)
    *_, error, _ = net.predict(
        ([x[:3], STEP_MASK[:3]], None, None, 3, False, False, "x", 0), -1, -1, 0, None
    )
    assert isinstance(error, ValueError) and "exactly 4 rows" in str(error)


def test_core_carried_state_across_inference_slices(rng):
    """Inference splits a batch into passes; each pass's rows keep their own states."""
    B, steps, features = 20, 8, 512  # wide inputs: inference runs 8 rows per pass
    W = rng.standard_normal((features, 3 * U)) * 0.05
    R = rng.standard_normal((U, 3 * U)) * 0.5
    S = rng.standard_normal((B, U))
    state = S.copy()
    net = ref.rnn_core_network(
        "gru",
        _attrs(),
        steps,
        features,
        (U,),
        [W, R, state],
        ["kernel", "recurrent_kernel", "state_h"],
    )
    assert net.inference_rows < B
    x = rng.standard_normal((B, steps, features))
    hs, final = gru_reference(x, W, R, None, S)
    np.testing.assert_allclose(ref.predict(net, x), hs[:, -1], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(state, final, rtol=1e-12, atol=1e-14)


def test_core_refuses_bad_descriptions(rng):
    W, R, b = _weights(rng, True)
    with pytest.raises(ValueError, match="bias\\?, state_h\\?"):
        ref.rnn_core_network("gru", _attrs(), T, D, (U,), [W, b, R], ["kernel", "bias", "x"])
    with pytest.raises(ValueError, match="carried states must have shape"):
        ref.rnn_core_network(
            "gru",
            _attrs(),
            T,
            D,
            (U,),
            [W, R, np.zeros((2, U + 1))],
            ["kernel", "recurrent_kernel", "state_h"],
        )
    with pytest.raises(ValueError, match="bias shape"):
        ref.rnn_core_network(
            "gru",
            _attrs(reset_after=False),
            T,
            D,
            (U,),
            [W, R, b],
            ["kernel", "recurrent_kernel", "bias"],
        )


# ---- through the layers: masks and stateful=True


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("reset_after", [True, False])
def test_embedding_mask_skips_padding(rng, reset_after):
    """Embedding(mask_zero=True) -> GRU: the reference with the ids' step mask (trailing
    padding then equals truncation), and finite-difference gradients through the mask."""
    dropnet.set_random_seed(4)
    emb = dropnet.layers.Embedding(9, 3, mask_zero=True)
    gru = GRU(4, reset_after=reset_after, return_sequences=True, go_backwards=True)
    m = Sequential([Input((6,)), emb, gru, GRU(2)])
    m.compile("sgd", "mse")
    ids = np.array([[3, 1, 4, 0, 0, 0], [0, 0, 5, 2, 8, 0], [7, 0, 6, 0, 2, 1]], np.float64)
    table, *first = m.get_weights()[:4]
    hs, _ = gru_reference(
        table[ids.astype(int)],
        *first,
        step_mask=ids != 0,
        go_backwards=True,
        reset_after=reset_after,
    )
    hs2, _ = gru_reference(hs, *m.get_weights()[4:], step_mask=ids != 0)
    np.testing.assert_allclose(m.predict(ids, verbose=0), hs2[:, -1], rtol=1e-12, atol=1e-14)
    ref.check_gradients(m, ids, 0.5 * rng.standard_normal((3, 2)), input_gradient=False)


def test_stateful_gru_continues_each_sample(rng):
    seq = rng.standard_normal((2, 9, 3)).astype(np.float32)
    layer = GRU(4, stateful=True, reset_after=False)
    model = Sequential([Input(batch_shape=(2, 3, 3)), layer])
    out = [model.predict(seq[:, 3 * k : 3 * k + 3], verbose=0) for k in range(3)]
    whole = Sequential([Input((9, 3)), GRU(4, reset_after=False)])
    whole.set_weights(layer.get_weights())
    np.testing.assert_allclose(out[-1], whole.predict(seq, verbose=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.states[0], out[-1], rtol=1e-6)
    layer.reset_states()
    np.testing.assert_array_equal(model.predict(seq[:, :3], verbose=0), out[0])
    with pytest.raises(ValueError, match="batches of 2"):
        model.predict(seq[:1, :3], verbose=0)
