"""TimeDistributed: the wrapped layer at every step with one set of weights — step-local
layers as one op over all steps, any other layer (Conv2D, pooling, Flatten, ...) through the
core's time_distributed op."""

from __future__ import annotations

import numpy as np
import pytest

import dropnet
from dropnet.layers import (
    LSTM,
    BatchNormalization,
    Dense,
    Dropout,
    Input,
    RepeatVector,
    TimeDistributed,
)
from dropnet.models import Sequential, load_model


def test_a_dense_layer_runs_at_every_step_with_shared_weights():
    dropnet.set_random_seed(0)
    m = Sequential([Input((5, 3)), TimeDistributed(Dense(2, activation="tanh"))])
    kernel, bias = m.get_weights()
    x = np.random.default_rng(0).standard_normal((4, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(m.predict(x, verbose=0), np.tanh(x @ kernel + bias), rtol=1e-5)
    assert m.output_shape == (None, 5, 2) and m.count_params() == 8


def test_the_sequence_to_sequence_pattern_trains_saves_and_loads(tmp_path):
    dropnet.set_random_seed(1)
    m = Sequential(
        [
            Input((4,)),
            RepeatVector(6),
            LSTM(16, return_sequences=True),
            TimeDistributed(Dropout(0.1)),
            TimeDistributed(BatchNormalization()),
            TimeDistributed(Dense(1)),
        ]
    )
    m.compile(dropnet.optimizers.Adam(0.01), "mse")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((128, 4)).astype(np.float32)
    y = np.stack([x.sum(axis=1) * (t + 1) / 6 for t in range(6)], axis=1)[..., None]
    hist = m.fit(x, y, epochs=20, batch_size=16, verbose=0)
    assert hist.history["loss"][-1] < 0.5 * hist.history["loss"][0]
    m.save(tmp_path / "s2s.dropnet")
    back = load_model(tmp_path / "s2s.dropnet")
    np.testing.assert_array_equal(back.predict(x, verbose=0), m.predict(x, verbose=0))
    assert isinstance(back.layers[-1].layer, Dense)


@pytest.mark.parametrize(
    "make",
    [
        lambda: dropnet.layers.Add(),
        lambda: dropnet.layers.Bidirectional(LSTM(2)),
        lambda: TimeDistributed(Dense(2)),
    ],
    ids=["merge", "bidirectional", "nested"],
)
def test_layers_it_cannot_wrap_are_refused(make):
    with pytest.raises(TypeError, match="TimeDistributed"):
        TimeDistributed(make())


def test_stateful_and_inner_activity_regularizers_are_refused():
    with pytest.raises(ValueError, match="stateful"):
        TimeDistributed(LSTM(2, stateful=True))
    with pytest.raises(ValueError, match="activity_regularizer"):
        TimeDistributed(Dense(2, activity_regularizer="l2"))


def _frames_model(dtype="float32"):
    """The CNN-LSTM pattern: a small CNN on every frame of a clip, then an LSTM."""
    L = dropnet.layers
    dropnet.backend.set_floatx(dtype)
    try:
        return Sequential(
            [
                Input((4, 6, 6, 2)),
                TimeDistributed(L.Conv2D(3, 3, activation="relu")),
                TimeDistributed(L.MaxPooling2D(2)),
                TimeDistributed(L.Flatten()),
                TimeDistributed(Dropout(0.3, seed=1)),
                LSTM(3),
                Dense(1),
            ]
        )
    finally:
        dropnet.backend.set_floatx("float32")


def test_a_cnn_runs_on_every_frame_with_shared_weights():
    L = dropnet.layers
    dropnet.set_random_seed(2)
    model = _frames_model()
    conv = model.layers[0].layer
    frame = Sequential(
        [Input((6, 6, 2)), c := L.Conv2D(3, 3, activation="relu"), L.MaxPooling2D(2), L.Flatten()]
    )
    c.set_weights(conv.get_weights())
    x = np.random.default_rng(1).standard_normal((5, 4, 6, 6, 2)).astype(np.float32)
    upto = dropnet.Model(model.inputs, model.layers[2].output)
    got = upto.predict(x, verbose=0)
    assert got.shape == (5, 4, 12)
    for t in range(4):
        np.testing.assert_allclose(got[:, t], frame.predict(x[:, t], verbose=0), rtol=1e-6)
    assert len(model.get_weights()) == 2 + 3 + 2  # conv, lstm, dense: one set each


def test_dropout_inside_draws_a_mask_per_step():
    m = Sequential([Input((6, 40)), TimeDistributed(Dropout(0.5, noise_shape=(None, 40), seed=3))])
    out = m.predict(np.ones((2, 6, 40), np.float32), training=True, verbose=0)
    kept = out != 0
    # noise_shape (batch, 40): one mask per step's row, so steps differ
    assert not all((kept[:, t] == kept[:, 0]).all() for t in range(1, 6))


def test_frame_model_gradients_match_finite_differences():
    from reference import check_gradients

    model = _frames_model("float64")
    model.compile("sgd", "mse")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 4, 6, 6, 2))
    check_gradients(model, x, rng.standard_normal((3, 1)), rtol=1e-5, atol=1e-8)


def test_frame_model_trains_the_same_on_one_and_two_threads(tmp_path):
    from reference import weights_per_thread_count

    rng = np.random.default_rng(5)
    x = rng.standard_normal((16, 4, 6, 6, 2)).astype(np.float32)
    y = rng.standard_normal((16, 1)).astype(np.float32)

    def build():
        dropnet.set_random_seed(6)
        model = _frames_model()
        model.compile("adam", "mse")
        return model

    runs, model = weights_per_thread_count(build, x, y, epochs=2, batch_size=8)
    assert runs[0] == runs[1]
    model.save(tmp_path / "frames.dropnet")
    back = load_model(tmp_path / "frames.dropnet")
    np.testing.assert_array_equal(back.predict(x, verbose=0), model.predict(x, verbose=0))


def test_normalization_over_another_axis_runs_per_step():
    m = Sequential([Input((3, 4, 2)), TimeDistributed(BatchNormalization(axis=1))])
    x = np.random.default_rng(7).standard_normal((2, 3, 4, 2)).astype(np.float32)
    assert m.predict(x, verbose=0).shape == (2, 3, 4, 2)
    assert [w.shape for w in m.get_weights()] == [(4,)] * 4
