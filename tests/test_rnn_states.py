"""Recurrent states in the functional API: return_state (a call returning the output and
the final states), initial_state (states given as inputs, with gradients into them),
Bidirectional with merge_mode=None and with states, stateful Bidirectional, the seq2seq
encoder-decoder pattern, and the per-step losses and accuracies of sequence outputs."""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref
from test_gru import gru_cell

import dropnet
from dropnet import regularizers
from dropnet.layers import (
    GRU,
    LSTM,
    Bidirectional,
    Dense,
    Input,
    Masking,
    SimpleRNN,
    TimeDistributed,
)
from dropnet.models import Model, Sequential, load_model

KINDS = {"LSTM": LSTM, "GRU": GRU, "SimpleRNN": SimpleRNN}
STATES = {"LSTM": 2, "GRU": 1, "SimpleRNN": 1}


def lstm_cell(W, R, b):
    """Keras's LSTM step on the state [h | c] (gate blocks i, f, c, o)."""
    U = R.shape[0]
    sig, _ = ref.rnn_activation("sigmoid")

    def cell(x, hc):
        h, c = hc[:, :U], hc[:, U:]
        z = x @ W + h @ R + b
        i, f, g, o = (z[:, q * U : (q + 1) * U] for q in range(4))
        c = sig(f) * c + sig(i) * np.tanh(g)
        return np.concatenate([sig(o) * np.tanh(c), c], 1)

    return cell


def simple_cell(W, R, b):
    return lambda x, h: np.tanh(x @ W + h @ R + b)


def reference_run(kind, layer, x, states, step_mask, go_backwards):
    """Outputs of every processed step (n, T, U) and the final states, in float64."""
    W, R, b = (w.numpy() for w in layer.weights)
    if kind == "LSTM":
        outs, last = ref.run_steps(
            lstm_cell(W, R, b), x, np.concatenate(states, 1), go_backwards, step_mask
        )
        U = R.shape[0]
        return outs[..., :U], [last[:, :U], last[:, U:]]
    cell = gru_cell(W, R, b) if kind == "GRU" else simple_cell(W, R, b)
    outs, last = ref.run_steps(cell, x, states[0], go_backwards, step_mask)
    return outs, [last]


def masked_batch(rng, n=6, T=5, D=3):
    """Inputs with leading, trailing and all-masked rows (Masking(0) masks all-zero steps)."""
    x = rng.standard_normal((n, T, D))
    x[1, :2] = 0
    x[2, -2:] = 0
    x[3] = 0
    return x, (np.abs(x).sum(-1) != 0).astype(np.float64)


def state_model(kind, units, masked, return_sequences=False, go_backwards=False, **kw):
    """Model([x, *initial states], [output, *final states]) around one recurrent layer."""
    x_in = Input((5, 3))
    states = [Input((units,)) for _ in range(STATES[kind])]
    h = Masking()(x_in) if masked else x_in
    layer = KINDS[kind](
        units, return_sequences=return_sequences, go_backwards=go_backwards, return_state=True, **kw
    )
    outs = layer(h, initial_state=states)
    return Model([x_in, *states], outs), layer


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_outputs_and_final_states_match_numpy(rng, kind, return_sequences, go_backwards):
    dropnet.set_random_seed(1)
    model, layer = state_model(kind, 4, True, return_sequences, go_backwards)
    x, step_mask = masked_batch(rng)
    states = [rng.standard_normal((6, 4)) for _ in range(STATES[kind])]
    got = model.predict([x, *states], verbose=0)
    outs, finals = reference_run(kind, layer, x, states, step_mask, go_backwards)
    want = outs if return_sequences else outs[:, -1]
    np.testing.assert_allclose(got[0], want, rtol=1e-12, atol=1e-13)
    for g, w in zip(got[1:], finals):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-13)
    # The all-masked row: zero output, the initial states handed through.
    assert not got[0][3].any()
    for g, s in zip(got[1:], states):
        np.testing.assert_array_equal(g[3], s[3])


@pytest.mark.usefixtures("float64")
@pytest.mark.filterwarnings("ignore:.*carry a mask")
@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_gradients_reach_the_initial_states(rng, kind, masked, dropout):
    """Every weight, the sequence and each initial state against central differences of a
    loss on the output and the final states (masks of a training step held fixed)."""
    dropnet.set_random_seed(2)
    model, _ = state_model(
        kind, 3, masked, return_sequences=True, dropout=dropout, recurrent_dropout=dropout
    )
    model.compile("sgd", "mse")
    x, step_mask = masked_batch(rng)
    inputs = [x] + [rng.standard_normal((6, 3)) for _ in range(STATES[kind])]
    targets = [rng.standard_normal(s) for s in [(6, 5, 3)] + [(6, 3)] * STATES[kind]]
    net = model._network(training=True)
    _, grads, dx = net.gradients(inputs, targets, None, 1, True)

    def loss():
        return net.gradients(inputs, targets, None, 1, True)[0]

    for w, g in zip(model.weights, grads):
        np.testing.assert_allclose(
            g, ref.central_difference(loss, w.value), rtol=1e-6, atol=1e-9, err_msg=w.name
        )
    # Nudging a masked (all-zero) step unmasks it: compare the sequence's kept steps only.
    keep = step_mask[..., None] if masked else 1.0
    np.testing.assert_allclose(
        np.reshape(dx[0], x.shape) * keep,
        ref.central_difference(loss, x) * keep,
        rtol=1e-6,
        atol=1e-9,
    )
    for a, g in zip(inputs[1:], dx[1:]):
        np.testing.assert_allclose(
            np.reshape(g, a.shape), ref.central_difference(loss, a), rtol=1e-6, atol=1e-9
        )


def seq2seq(T=5, V=6, latent=16):
    """Keras's encoder-decoder: the encoder's final states start the decoder; the same
    layers make the one-step inference models."""
    encoder_inputs = Input(shape=(T, V))
    _, state_h, state_c = LSTM(latent, return_state=True)(encoder_inputs)
    decoder_inputs = Input(shape=(T, V))
    decoder_lstm = LSTM(latent, return_sequences=True, return_state=True)
    decoder_outputs, _, _ = decoder_lstm(decoder_inputs, initial_state=[state_h, state_c])
    decoder_dense = Dense(V, activation="softmax")
    model = Model([encoder_inputs, decoder_inputs], decoder_dense(decoder_outputs))
    encoder_model = Model(encoder_inputs, [state_h, state_c])
    one_step = Input(shape=(1, V))
    states_in = [Input(shape=(latent,)), Input(shape=(latent,))]
    out, h, c = decoder_lstm(one_step, initial_state=states_in)
    decoder_model = Model([one_step, *states_in], [decoder_dense(out), h, c])
    return model, encoder_model, decoder_model


def reversal_data(rng, n=240, T=5, V=6):
    seq = rng.integers(1, V, size=(n, T))
    target = np.eye(V, dtype=np.float32)[seq[:, ::-1]]
    start = np.zeros((n, 1, V), np.float32)
    return np.eye(V, dtype=np.float32)[seq], np.concatenate([start, target[:, :-1]], 1), target


def test_seq2seq_learns_and_decodes_step_by_step_as_a_whole(rng, tmp_path):
    enc_x, dec_x, target = reversal_data(rng)
    dropnet.set_random_seed(4)
    model, encoder_model, decoder_model = seq2seq()
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit([enc_x, dec_x], target, batch_size=32, epochs=25, verbose=0)
    # Per-step cross-entropy starts near log(6) and the per-step accuracy beats chance.
    assert abs(hist.history["loss"][0] - np.log(6)) < 0.2
    assert hist.history["accuracy"][-1] > 0.35  # chance: 0.2
    full = model.predict([enc_x[:40], dec_x[:40]], verbose=0)
    np.testing.assert_allclose(
        hist.history["accuracy"][-1],
        (model.predict([enc_x, dec_x], verbose=0).argmax(-1) == target.argmax(-1)).mean(),
        atol=0.1,
    )
    # Teacher-forced one step at a time, states fed back: the same bits as the whole.
    states = encoder_model.predict(enc_x[:40], verbose=0)
    steps = []
    for t in range(5):
        out, h, c = decoder_model.predict([dec_x[:40, t : t + 1], *states], verbose=0)
        states = [h, c]
        steps.append(out)
    np.testing.assert_array_equal(np.concatenate(steps, 1), full)
    # Saved and loaded, each model keeps its graph (outputs named by layer and position).
    decoder_model.save(tmp_path / "decoder.dropnet")
    back = load_model(tmp_path / "decoder.dropnet")
    assert back.output_names == decoder_model.output_names
    lstm_name = back.output_names[1][:-2]
    assert back.output_names[1:] == [lstm_name + "_1", lstm_name + "_2"]
    args = [dec_x[:40, :1], *encoder_model.predict(enc_x[:40], verbose=0)]
    for a, b in zip(back.predict(args, verbose=0), decoder_model.predict(args, verbose=0)):
        np.testing.assert_array_equal(a, b)
    model.save(tmp_path / "model.dropnet")
    np.testing.assert_array_equal(
        load_model(tmp_path / "model.dropnet").predict([enc_x[:40], dec_x[:40]], verbose=0), full
    )


def test_seq2seq_training_is_the_same_on_one_and_two_threads(rng):
    enc_x, dec_x, target = reversal_data(rng, n=64)

    def build():
        dropnet.set_random_seed(5)
        model = seq2seq(latent=8)[0]
        model.compile("adam", "categorical_crossentropy")
        return model

    runs, _ = ref.weights_per_thread_count(
        build, [enc_x, dec_x], target, epochs=2, batch_size=16, shuffle=False
    )
    assert runs[0] == runs[1]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_unread_states_leave_the_layer_as_without_return_state(rng, kind, monkeypatch):
    from dropnet import _core

    made = []
    network = _core.Network
    monkeypatch.setattr(_core, "Network", lambda desc: made.append(desc) or network(desc))
    x = rng.standard_normal((8, 5, 3)).astype(np.float32)
    inp = Input((5, 3))
    dropnet.set_random_seed(6)
    out, *_ = KINDS[kind](4, return_state=True)(inp)
    with_states = Model(inp, out)
    inp2 = Input((5, 3))
    plain = Model(inp2, KINDS[kind](4)(inp2))
    plain.set_weights(with_states.get_weights())
    np.testing.assert_array_equal(with_states.predict(x, verbose=0), plain.predict(x, verbose=0))
    ops = [[node["op"] for node in desc["nodes"]] for desc in made]
    assert ops == [[KINDS[kind]._op]] * 2  # no slices: the op returns its output alone


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_merge_none_and_states(rng, return_sequences):
    """merge_mode=None returns both directions; return_state appends the forward layer's
    states, then the backward one's; initial_state starts them in that order."""
    dropnet.set_random_seed(7)
    x_in = Input((5, 3))
    states = [Input((4,)) for _ in range(4)]
    bi = Bidirectional(
        LSTM(4, return_sequences=return_sequences, return_state=True), merge_mode=None
    )
    outs = bi(x_in, initial_state=states)
    assert len(outs) == 6
    model = Model([x_in, *states], outs)
    x = rng.standard_normal((6, 5, 3))
    s = [rng.standard_normal((6, 4)) for _ in range(4)]
    got = model.predict([x, *s], verbose=0)
    fwd, fwd_states = reference_run("LSTM", bi.forward_layer, x, s[:2], None, False)
    bwd, bwd_states = reference_run("LSTM", bi.backward_layer, x, s[2:], None, True)
    if return_sequences:
        want = [fwd, bwd[:, ::-1]]  # the backward sequence back in time order
    else:
        want = [fwd[:, -1], bwd[:, -1]]
    for g, w in zip(got, want + fwd_states + bwd_states):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-13)
    model.compile("sgd", "mse")
    targets = [rng.standard_normal(g.shape) for g in got]
    net = model._network(training=True)
    _, grads, dx = net.gradients([x, *s], targets, None, 1, True)

    def loss():
        return net.gradients([x, *s], targets, None, 1, True)[0]

    for w, g in zip(model.weights, grads):
        np.testing.assert_allclose(g, ref.central_difference(loss, w.value), rtol=1e-6, atol=1e-9)
    for a, g in zip([x, *s], dx):
        np.testing.assert_allclose(
            np.reshape(g, a.shape), ref.central_difference(loss, a), rtol=1e-6, atol=1e-9
        )


def test_bidirectional_output_used_alone_and_merged_states(rng, tmp_path):
    x = rng.standard_normal((4, 5, 3)).astype(np.float32)
    inp = Input((5, 3))
    dropnet.set_random_seed(8)
    fwd_out, _ = Bidirectional(SimpleRNN(2), merge_mode=None)(inp)
    only_forward = Model(inp, fwd_out)  # the backward half runs, read by nothing
    layer = only_forward.layers[1]
    inp2 = Input((5, 3))
    alone = Model(inp2, SimpleRNN(2)(inp2))
    alone.set_weights(layer.forward_layer.get_weights())
    np.testing.assert_array_equal(only_forward.predict(x, verbose=0), alone.predict(x, verbose=0))
    inp3 = Input((5, 3))
    merged, h_f, c_f, h_b, c_b = Bidirectional(LSTM(3, return_state=True))(inp3)
    model = Model(inp3, [merged, h_f, c_f, h_b, c_b])
    out = model.predict(x, verbose=0)
    np.testing.assert_array_equal(out[0], np.concatenate([out[1], out[3]], 1))
    model.save(tmp_path / "bi.dropnet")
    for a, b in zip(load_model(tmp_path / "bi.dropnet").predict(x, verbose=0), out):
        np.testing.assert_array_equal(a, b)


def test_stateful_bidirectional_carries_both_directions(rng):
    x = rng.standard_normal((4, 5, 3)).astype(np.float32)
    inp = Input((5, 3), batch_size=4)
    dropnet.set_random_seed(9)
    bi = Bidirectional(GRU(3, stateful=True))
    model = Model(inp, bi(inp))
    first = model.predict(x, verbose=0)
    assert len(bi.states) == 2 and all(s.shape == (4, 3) and s.any() for s in bi.states)
    second = model.predict(x, verbose=0)
    assert not np.array_equal(first, second)  # each direction started from its last states
    model.reset_states()
    assert not any(s.any() for s in bi.states)
    np.testing.assert_array_equal(model.predict(x, verbose=0), first)
    given = [np.full((4, 3), 0.5, np.float32), np.full((4, 3), -0.5, np.float32)]
    bi.reset_states(given)  # the forward layer's states, then the backward layer's
    np.testing.assert_array_equal(bi.forward_layer.states[0], given[0])
    np.testing.assert_array_equal(bi.backward_layer.states[0], given[1])
    with pytest.raises(ValueError, match="expected 2 state arrays"):
        bi.reset_states(given[:1])
    bi.reset_states()
    model.compile("adam", "mse")
    model.fit(x, rng.standard_normal((4, 6)), batch_size=4, epochs=2, verbose=0, shuffle=False)
    with pytest.raises(ValueError, match="batch size 4"):
        model.predict(x, batch_size=2, verbose=0)


@pytest.mark.usefixtures("float64")
def test_activity_regularizer_counts_the_returned_states(rng):
    """As Keras's: the penalty covers every tensor the call returns."""
    x = rng.standard_normal((6, 5, 3))
    inp = Input((5, 3))
    dropnet.set_random_seed(10)
    out, h, c = LSTM(4, return_state=True, activity_regularizer=regularizers.l2(0.1))(inp)
    model = Model(inp, out)
    model.compile("sgd", "mse")
    y = rng.standard_normal((6, 4))
    probe = Model(inp, [out, h, c])
    o, hv, cv = probe.predict(x, verbose=0)
    penalty = 0.1 * sum(float((v * v).sum()) for v in (o, hv, cv)) / 6
    np.testing.assert_allclose(
        model.evaluate(x, y, verbose=0), float(((o - y) ** 2).mean()) + penalty, rtol=1e-10
    )


def test_bad_calls_name_the_problem():
    inp = Input((5, 3))
    with pytest.raises(ValueError, match="single output"):
        Sequential([inp, LSTM(2, return_state=True)])
    with pytest.raises(ValueError, match="single output"):
        Sequential([inp, Bidirectional(LSTM(2), merge_mode=None)])
    with pytest.raises(ValueError, match="initial_state expects 2"):
        LSTM(2)(inp, initial_state=[Input((2,))])
    with pytest.raises(ValueError, match=r"shape \(batch, 2\)"):
        GRU(2)(inp, initial_state=Input((3,)))
    with pytest.raises(ValueError, match="initial_state expects 4"):
        Bidirectional(LSTM(2))(inp, initial_state=[Input((2,)), Input((2,))])
    stateful_in = Input((5, 3), batch_size=2)
    with pytest.raises(ValueError, match="stateful"):
        SimpleRNN(2, stateful=True)(stateful_in, initial_state=Input((2,)))
    with pytest.raises(TypeError, match="mix"):
        LSTM(2)(inp, initial_state=[np.zeros((1, 2)), np.zeros((1, 2))])
    with pytest.raises(TypeError, match="one output"):
        TimeDistributed(LSTM(2, return_state=True))
    with pytest.raises(ValueError, match="merge_mode"):
        Bidirectional(LSTM(2), merge_mode="max")
    with pytest.raises(ValueError, match="return_state"):
        Bidirectional(LSTM(2, return_state=True), backward_layer=LSTM(2, go_backwards=True))
    # An activity_regularizer on a call of several outputs from a wrapper: refused.
    bi = Bidirectional(LSTM(2), merge_mode=None, activity_regularizer="l2")
    model = Model(inp, bi(inp))
    with pytest.raises(ValueError, match="several tensors"):
        model.predict(np.zeros((1, 5, 3), np.float32), verbose=0)


def test_layers_called_on_arrays_take_and_return_states(rng):
    x = rng.standard_normal((3, 4, 2)).astype(np.float32)
    h0, c0 = (rng.standard_normal((3, 5)).astype(np.float32) for _ in range(2))
    layer = LSTM(5, return_state=True)
    out, h, _ = layer(x, initial_state=[h0, c0])
    np.testing.assert_array_equal(out, h)
    again, *_ = layer(x, initial_state=[h0, c0])
    np.testing.assert_array_equal(again, out)
    assert not np.array_equal(layer(x)[0], out)  # zero initial states


def test_recurrent_and_dense_layers_run_on_other_step_counts(rng):
    """Their weights see only the features, so a layer built on 5 steps runs on 1 (the
    inference half of an encoder-decoder); other shapes are refused."""
    lstm, dense = LSTM(3, return_sequences=True), Dense(2)
    a = Input((5, 4))
    Model(a, dense(lstm(a)))
    b = Input((1, 4))
    one = Model(b, dense(lstm(b)))
    assert one.output_shape == (None, 1, 2)
    with pytest.raises(ValueError, match="built for input shape"):
        lstm(Input((5, 3)))
    with pytest.raises(ValueError, match="built for input shape"):
        dense(Input((5, 4)))


# ---- losses and accuracies of sequence outputs: per step, averaged over the steps


@pytest.mark.usefixtures("float64")
def test_categorical_losses_and_accuracy_are_per_step(rng):
    n, T, V = 7, 4, 5
    x = rng.standard_normal((n, T, 3))
    labels = rng.integers(0, V, size=(n, T))
    onehot = np.eye(V)[labels]
    w = rng.uniform(0.5, 2.0, n)
    inp = Input((T, 3))
    dropnet.set_random_seed(11)
    model = Model(inp, TimeDistributed(Dense(V, activation="softmax"))(inp))
    p = model.predict(x, verbose=0)
    step_ce = -np.log(np.clip((p * onehot).sum(-1), 1e-7, 1))  # (n, T)
    hit = (p.argmax(-1) == labels).astype(float)
    for loss, y, metric in (
        ("categorical_crossentropy", onehot, "accuracy"),
        ("sparse_categorical_crossentropy", labels, "accuracy"),
        ("sparse_categorical_crossentropy", labels[..., None], "sparse_categorical_accuracy"),
    ):
        model.compile("sgd", loss, metrics=[metric])
        got_loss, got_acc = model.evaluate(x, y, sample_weight=w, verbose=0)
        np.testing.assert_allclose(got_loss, (w * step_ce.mean(1)).sum() / n, rtol=1e-10)
        np.testing.assert_allclose(got_acc, (w * hit.mean(1)).sum() / w.sum(), rtol=1e-12)
    model.compile("sgd", "categorical_crossentropy")
    ref.check_gradients(model, x, onehot)
    model.compile("sgd", "sparse_categorical_crossentropy")
    ref.check_gradients(model, x, labels.astype(np.float64))
    with pytest.raises(ValueError, match="one class id per step"):
        model.evaluate(x, labels[:, :2], verbose=0)
    with pytest.raises(ValueError, match="class_weight"):
        model.fit(x, labels, class_weight={0: 2.0}, verbose=0)
