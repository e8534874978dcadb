"""Bidirectional(LSTM): the merge of the layer run forwards and a copy run backwards (its
returned sequence put back in time order), Keras's weight order, gradients, saving."""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref

import dropnet
from dropnet.layers import LSTM, Bidirectional, Dense, Input
from dropnet.models import Sequential, load_model

MERGE = {
    "concat": lambda a, b: np.concatenate([a, b], axis=-1),
    "sum": lambda a, b: a + b,
    "mul": lambda a, b: a * b,
    "ave": lambda a, b: (a + b) / 2,
}


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("merge_mode", sorted(MERGE))
@pytest.mark.parametrize("return_sequences", [False, True])
def test_the_output_merges_a_forward_and_a_backward_pass(merge_mode, return_sequences):
    dropnet.set_random_seed(0)
    layer = Bidirectional(LSTM(3, return_sequences=return_sequences), merge_mode=merge_mode)
    m = Sequential([Input((5, 2)), layer])
    weights = m.get_weights()
    assert [w.name for w in m.weights] == [
        f"{p}_{layer.forward_layer.name.removeprefix('forward_')}/{r}"
        for p in ("forward", "backward")
        for r in ("kernel", "recurrent_kernel", "bias")
    ]
    fwd = Sequential([Input((5, 2)), LSTM(3, return_sequences=return_sequences)])
    bwd = Sequential([Input((5, 2)), LSTM(3, return_sequences=return_sequences, go_backwards=True)])
    fwd.set_weights(weights[:3])
    bwd.set_weights(weights[3:])
    x = np.random.default_rng(0).standard_normal((4, 5, 2))
    a, b = fwd.predict(x, verbose=0), bwd.predict(x, verbose=0)
    if return_sequences:
        b = b[:, ::-1]
    np.testing.assert_allclose(m.predict(x, verbose=0), MERGE[merge_mode](a, b), rtol=1e-12)
    assert m.output_shape[-1] == (6 if merge_mode == "concat" else 3)


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize("return_sequences", [False, True])
def test_gradients_match_finite_differences(return_sequences):
    dropnet.set_random_seed(1)
    m = Sequential(
        [
            Input((4, 2)),
            Bidirectional(LSTM(2, return_sequences=return_sequences)),
            *([] if not return_sequences else [Bidirectional(LSTM(2), merge_mode="sum")]),
            Dense(1),
        ]
    )
    m.compile("sgd", "mse")
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((3, 4, 2)), rng.standard_normal((3, 1))
    ref.check_gradients(m, x, y)


def test_trains_with_dropout_saves_and_loads(tmp_path):
    dropnet.set_random_seed(2)
    m = Sequential(
        [Input((6, 1)), Bidirectional(LSTM(8, dropout=0.2, recurrent_dropout=0.2)), Dense(1)]
    )
    m.compile(dropnet.optimizers.Adam(0.01), "mse")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((128, 6, 1)).astype(np.float32)
    y = x[:, 0, 0] - x[:, -1, 0]  # needs both ends of the sequence
    hist = m.fit(x, y, epochs=30, batch_size=16, verbose=0)
    assert hist.history["loss"][-1] < 0.5 * hist.history["loss"][0]
    m.save(tmp_path / "bi.dropnet")
    back = load_model(tmp_path / "bi.dropnet")
    np.testing.assert_array_equal(back.predict(x, verbose=0), m.predict(x, verbose=0))
    assert back.layers[0].merge_mode == "concat"


def test_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match="merge_mode"):
        Bidirectional(LSTM(2), merge_mode="max")
    with pytest.raises(TypeError, match="recurrent layer"):
        Bidirectional(Dense(2))
