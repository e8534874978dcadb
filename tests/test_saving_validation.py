"""Model files: save() writes nothing load_model refuses, and load_model checks everything
it reads with work bounded by the file; weights never overflow their float type."""

from __future__ import annotations

import numpy as np
import pytest

import dropnet
from dropnet.layers import Dense, Input
from dropnet.models import Sequential


def small_model(optimizer="adam", loss="mse", trained=True):
    dropnet.set_random_seed(0)
    model = Sequential([Input((3,)), Dense(4, activation="tanh", name="d1"), Dense(2, name="d2")])
    model.compile(optimizer=optimizer, loss=loss)
    if trained:
        rng = np.random.default_rng(0)
        model.train_on_batch(rng.standard_normal((8, 3)), rng.standard_normal((8, 2)))
    return model


# ------------------------------------------------------------------ 6. overflow
def test_set_weights_refuses_a_finite_value_beyond_float32():
    model = small_model()
    before = model.get_weights()
    new = [w.astype(np.float64) for w in before]
    new[2][0, 0] = 1e39
    with pytest.raises(ValueError, match=r"d2/kernel.*1e\+39.*3\.40282e\+38"):
        model.set_weights(new)
    with pytest.raises(ValueError, match="beyond float32"):
        model.weights[0].assign(np.full((3, 4), -1e300))
    with pytest.raises(ValueError, match="NaN"):
        model.weights[0].assign(np.full((3, 4), np.nan))
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    model.weights[0].assign(np.full((3, 4), 3.4e38))  # the largest float32s still fit
    wide = Sequential([Input((3,), dtype="float64"), Dense(2)])
    wide.weights[0].assign(np.full((3, 2), 1e39))
    assert wide.get_weights()[0][0, 0] == 1e39
