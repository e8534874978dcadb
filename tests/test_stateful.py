"""stateful=True recurrent layers: each batch continues the previous one (sample i from
sample i), across batches, epochs and calls, until reset_states(); the batch size is the
model's own, and the calls that would break the continuity are refused or warned about."""

import warnings

import numpy as np
import pytest
from reference import check_gradients, weights_per_thread_count

import dropnet
from dropnet import layers as L
from dropnet.models import load_model


def _stateful(batch=2, steps=5, features=3, units=4, **kw):
    return dropnet.Sequential(
        [L.LSTM(units, stateful=True, batch_input_shape=(batch, steps, features), **kw), L.Dense(1)]
    )


def _whole(lstm, steps, features=3):
    """A plain model with the same LSTM weights, over sequences of `steps` steps."""
    copy = L.LSTM(lstm.units)
    model = dropnet.Sequential([L.Input((steps, features)), copy])
    copy.set_weights(lstm.get_weights())
    return model


def test_batches_continue_the_previous_batch_sample_by_sample():
    rng = np.random.default_rng(0)
    seq = rng.normal(size=(2, 15, 3)).astype(np.float32)  # 2 sequences of 15 steps
    lstm = L.LSTM(4, stateful=True)
    model = dropnet.Sequential([L.Input(batch_shape=(2, 5, 3)), lstm])
    # Three batches of 5 steps: batch k holds steps 5k..5k+4 of both sequences.
    chunks = np.concatenate([seq[:, 5 * k : 5 * k + 5] for k in range(3)])
    out = model.predict(chunks, verbose=0)
    whole = _whole(lstm, 15)
    np.testing.assert_allclose(out[4:], whole.predict(seq, verbose=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[:2], _whole(lstm, 5).predict(seq[:, :5], verbose=0), rtol=1e-6)
    # The carried states are the final h (and c) of each sequence.
    np.testing.assert_allclose(lstm.states[0], out[4:], rtol=1e-6)


def test_reset_states_zeroes_and_sets():
    model = _stateful()
    x = np.ones((2, 5, 3), np.float32)
    first = model.predict(x, verbose=0)
    assert not np.array_equal(model.predict(x, verbose=0), first)  # carried on
    model.reset_states()
    lstm = model.layers[0]
    assert all(not s.any() for s in lstm.states)
    np.testing.assert_array_equal(model.predict(x, verbose=0), first)
    lstm.reset_state()  # Keras 3's name
    lstm.reset_states([np.full((2, 4), 0.5), np.zeros((2, 4))])
    np.testing.assert_array_equal(lstm.states[0], 0.5)
    with pytest.raises(ValueError, match=r"shape \(2, 4\)"):
        lstm.reset_states([np.zeros((3, 4)), np.zeros((2, 4))])
    with pytest.raises(ValueError, match="2 state array"):
        lstm.reset_states([np.zeros((2, 4))])
    with pytest.raises(ValueError, match="stateful layer"):
        L.LSTM(3).reset_states()


def test_the_batch_size_is_the_models_own():
    model = _stateful()
    model.compile("adam", "mse")
    x, y = np.zeros((6, 5, 3), np.float32), np.zeros((6, 1), np.float32)
    with pytest.raises(ValueError, match="batch size 2.*batch_size=3"):
        model.fit(x, y, batch_size=3, shuffle=False, verbose=0)
    with pytest.raises(ValueError, match="5 samples, which is not a multiple of 2"):
        model.fit(x[:5], y[:5], shuffle=False, verbose=0)
    with pytest.raises(ValueError, match="not a multiple"):
        model.predict(x[:3], verbose=0)
    with pytest.raises(ValueError, match="not a multiple"):
        model.evaluate(x[:3], y[:3], verbose=0)
    with pytest.raises(ValueError, match="exactly 2 rows"):
        model.train_on_batch(x[:4], y[:4])
    with pytest.raises(ValueError, match="predict_mc"):
        model.predict_mc(x, n=3)
    # batch_size left out: the model's own
    model.fit(x, y, shuffle=False, verbose=0, epochs=1)
    assert model.predict(x, verbose=0).shape == (6, 1)


def test_shuffling_a_stateful_model_warns():
    model = _stateful()
    model.compile("adam", "mse")
    x, y = np.zeros((4, 5, 3), np.float32), np.zeros((4, 1), np.float32)
    with pytest.warns(UserWarning, match="shuffle=False"):
        model.fit(x, y, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(x, y, shuffle=False, verbose=0)


def test_a_stateful_model_needs_a_static_batch_size():
    with pytest.raises(ValueError, match="static batch size"):
        dropnet.Sequential([L.Input((5, 3)), L.LSTM(2, stateful=True)])
    inp = L.Input((5, 3), batch_size=4)
    model = dropnet.Model(inp, L.LSTM(2, stateful=True)(inp))
    assert model.predict(np.zeros((8, 5, 3), np.float32), verbose=0).shape == (8, 2)
    with pytest.raises(ValueError, match="batch size"):
        L.LSTM(2, batch_input_shape=(0, 5, 3))


def test_fit_one_epoch_at_a_time_and_reset_learns():
    # The shampoo-sales loop: one epoch per fit call, batch size 1, no shuffling, reset between.
    series = np.sin(np.linspace(0, 12, 49)).astype(np.float32)
    x, y = series[:-1].reshape(48, 1, 1), series[1:].reshape(48, 1)
    dropnet.set_random_seed(3)
    model = dropnet.Sequential([L.LSTM(8, stateful=True, batch_input_shape=(1, 1, 1)), L.Dense(1)])
    model.compile("adam", "mse")
    losses = []
    for _ in range(12):
        h = model.fit(x, y, epochs=1, batch_size=1, shuffle=False, verbose=0)
        losses.append(h.history["loss"][0])
        model.reset_states()
    assert losses[-1] < 0.5 * losses[0]


def test_validation_carries_the_states_too():
    model = _stateful()
    model.compile("adam", "mse")
    x, y = np.ones((4, 5, 3), np.float32), np.zeros((4, 1), np.float32)
    model.fit(x, y, epochs=1, shuffle=False, verbose=0, validation_data=(x, y))
    with pytest.raises(ValueError, match="validation_data.*not a multiple"):
        model.fit(x, y, shuffle=False, verbose=0, validation_data=(x[:3], y[:3]))


def test_stateful_gradients_include_the_carried_state():
    dropnet.backend.set_floatx("float64")
    try:
        model = _stateful(units=3)
    finally:
        dropnet.backend.set_floatx("float32")
    model.compile("sgd", "mse")
    rng = np.random.default_rng(2)
    model.predict(np.zeros((2, 5, 3)), verbose=0)  # makes the states
    model.layers[0].reset_states([rng.normal(size=(2, 3)), rng.normal(size=(2, 3))])
    before = model.layers[0].states
    check_gradients(model, rng.normal(size=(2, 5, 3)), rng.normal(size=(2, 1)))
    for a, b in zip(before, model.layers[0].states):  # a gradient check leaves them alone
        np.testing.assert_array_equal(a, b)


def test_stateful_training_is_the_same_on_one_and_two_threads():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(32, 6, 3)).astype(np.float32)
    y = rng.normal(size=(32, 1)).astype(np.float32)

    def build():
        dropnet.set_random_seed(5)
        model = _stateful(batch=8, steps=6, units=16, dropout=0.1, recurrent_dropout=0.2)
        model.compile("adam", "mse")
        return model

    runs, _ = weights_per_thread_count(build, x, y, epochs=2, shuffle=False)
    assert runs[0] == runs[1]


def test_save_and_load_keep_stateful_and_the_batch_size(tmp_path):
    model = _stateful()
    x = np.ones((2, 5, 3), np.float32)
    first = model.predict(x, verbose=0)
    model.save(tmp_path / "s.dropnet")
    back = load_model(tmp_path / "s.dropnet")
    assert back.layers[0].stateful
    np.testing.assert_array_equal(back.predict(x, verbose=0), first)  # states start at zero
    with pytest.raises(ValueError, match="not a multiple"):
        back.predict(x[:1], verbose=0)


@pytest.mark.parametrize("rnn", [L.LSTM, L.GRU, L.SimpleRNN])
def test_steps_before_the_first_kept_one_output_zeros_whatever_the_carried_state(rnn):
    layer = rnn(3, stateful=True, return_sequences=True)
    model = dropnet.Sequential(
        [L.Input(batch_shape=(2, 4)), L.Embedding(9, 2, mask_zero=True), layer]
    )
    ids = np.array([[0, 0, 5, 6], [0, 0, 0, 0]], np.float32)
    model.predict(np.ones((2, 4), np.float32), verbose=0)  # carried states now non-zero
    carried = layer.states
    assert all(np.abs(s).max() > 0 for s in carried)
    out = model.predict(ids, verbose=0)
    assert not out[0, :2].any() and out[0, 2:].all()
    assert not out[1].any()
    # the all-masked row keeps its state; the other moved on
    np.testing.assert_array_equal(layer.states[0][1], carried[0][1])
    assert not np.array_equal(layer.states[0][0], carried[0][0])
