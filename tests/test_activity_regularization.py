"""Activity regularization as Keras adds it: R(output) / batch size in the training loss, the
evaluation loss and val_loss, with its gradient; on any layer (activity_regularizer=) and as
the ActivityRegularization layer; kept by saving."""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref

import dropnet
from dropnet import optimizers, regularizers
from dropnet.layers import (
    LSTM,
    ActivityRegularization,
    Bidirectional,
    Conv1D,
    Dense,
    Flatten,
    Input,
    TimeDistributed,
)
from dropnet.models import Sequential, load_model


def _penalty(a, l1, l2):
    return l1 * np.abs(a).sum() + l2 * np.square(a).sum()


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize(
    "where", ["dense", "layer", "conv", "lstm", "bidirectional", "time_distributed"]
)
def test_the_loss_includes_the_penalty_over_the_batch_size(where):
    dropnet.set_random_seed(0)
    reg = regularizers.L1L2(0.05, 0.2)
    rng = np.random.default_rng(0)
    if where == "dense":
        body, shape = [Dense(4, activity_regularizer=reg)], (3,)
    elif where == "layer":
        body, shape = [Dense(4), ActivityRegularization(0.05, 0.2)], (3,)
    elif where == "conv":
        body, shape = [Conv1D(2, 3, activity_regularizer=reg), Flatten()], (6, 2)
    elif where == "lstm":
        body, shape = [LSTM(3, activity_regularizer=reg)], (5, 2)
    elif where == "bidirectional":  # on the wrapper's merged output
        body, shape = [Bidirectional(LSTM(3), activity_regularizer=reg)], (5, 2)
    else:
        body, shape = [TimeDistributed(Dense(2), activity_regularizer=reg), Flatten()], (5, 2)
    m = Sequential([Input(shape), *body, Dense(1)])
    m.compile(optimizers.SGD(0.0), "mse")
    x = rng.standard_normal((12, *shape))
    y = rng.standard_normal((12, 1))
    hidden = Sequential([Input(shape), *body]).predict(x, verbose=0)
    mse = np.mean((m.predict(x, verbose=0) - y) ** 2)
    expect = mse + _penalty(hidden, 0.05, 0.2) / 12
    np.testing.assert_allclose(m.evaluate(x, y, verbose=0), expect, rtol=1e-10)
    np.testing.assert_allclose(m.train_on_batch(x, y), expect, rtol=1e-10)
    # an epoch's loss is the batch-size-weighted mean of its batches' (penalty per batch)
    h = m.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False, validation_data=(x, y))
    np.testing.assert_allclose(h.history["loss"][0], expect, rtol=1e-10)
    np.testing.assert_allclose(h.history["val_loss"][0], expect, rtol=1e-10)


@pytest.mark.usefixtures("float64")
def test_gradients_include_the_penalty():
    dropnet.set_random_seed(1)
    m = Sequential(
        [
            Input((4,)),
            Dense(5, activation="tanh", activity_regularizer=regularizers.L1L2(0.1, 0.3)),
            ActivityRegularization(l2=0.5),
            Dense(2),
        ]
    )
    m.compile("sgd", "mse")
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((6, 4)), rng.standard_normal((6, 2))
    ref.check_gradients(m, x, y)


def test_saving_keeps_the_activity_regularizers(tmp_path):
    m = Sequential(
        [
            Input((3,)),
            Dense(4, activity_regularizer="l2"),
            ActivityRegularization(l1=0.01),
            Dense(1),
        ]
    )
    m.compile("adam", "mse")
    x = np.random.default_rng(2).standard_normal((20, 3)).astype(np.float32)
    m.fit(x, x.sum(axis=1), epochs=2, verbose=0)
    m.save(tmp_path / "a.dropnet")
    back = load_model(tmp_path / "a.dropnet")
    assert back.layers[0].get_config()["activity_regularizer"]["class_name"] == "L2"
    assert back.evaluate(x, x.sum(axis=1), verbose=0) == m.evaluate(x, x.sum(axis=1), verbose=0)


def test_an_unknown_activity_regularizer_is_refused():
    with pytest.raises(ValueError, match="unknown regularizer"):
        Dense(2, activity_regularizer="l3")
    with pytest.raises(ValueError, match="finite factor"):
        ActivityRegularization(l1=-1.0)
