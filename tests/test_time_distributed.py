"""TimeDistributed: the wrapped layer at every step with one set of weights, for the layers
that act on each step's values alone; others refused."""

from __future__ import annotations

import numpy as np
import pytest

import dropnet
from dropnet.layers import (
    LSTM,
    BatchNormalization,
    Conv1D,
    Dense,
    Dropout,
    Input,
    RepeatVector,
    SpatialDropout1D,
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
    "layer", [lambda: Conv1D(2, 3), lambda: SpatialDropout1D(0.2), lambda: BatchNormalization(1)]
)
def test_layers_that_do_not_act_on_each_step_alone_are_refused(layer):
    with pytest.raises(TypeError, match="TimeDistributed"):
        TimeDistributed(layer())
