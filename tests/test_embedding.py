"""Embedding: rows of the table by id (negative ids from the end), gradients added into the
rows used, bad ids refused naming them, Keras 2's input_length and weights=, SpatialDropout1D
dropping whole embedding dimensions per sequence, saving and thread counts."""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref

import dropnet
from dropnet.layers import (
    Dense,
    Embedding,
    Flatten,
    GlobalAveragePooling1D,
    Input,
    SpatialDropout1D,
)
from dropnet.models import Sequential, load_model


def test_rows_are_looked_up_and_negative_ids_count_from_the_end():
    m = Sequential([Input((4,)), Embedding(7, 3)])
    table = m.get_weights()[0]
    ids = np.array([[0, 6, 2, 2], [-1, -7, 3, 5]])
    out = m.predict(ids, verbose=0)
    assert out.shape == (2, 4, 3)
    np.testing.assert_array_equal(out, table[ids % 7])


@pytest.mark.usefixtures("float64")
def test_gradients_add_into_the_rows_used():
    dropnet.set_random_seed(1)
    m = Sequential([Input((5,)), Embedding(6, 3), Flatten(), Dense(2, activation="tanh")])
    m.compile("sgd", "mse")
    ids = np.array([[1, 1, 4, 0, 1], [5, 4, 4, 2, 0]], np.float64)  # repeats, unused row 3
    y = np.random.default_rng(1).standard_normal((2, 2))
    net = ref.check_gradients(m, ids, y, input_gradient=False)
    assert not net.gradients(ids, y, None, 1, True)[1][0][3].any()  # row 3 is not used


@pytest.mark.parametrize("bad", [7, -8, 1.5, 1e9])
def test_an_id_outside_the_table_is_refused_naming_it(bad):
    m = Sequential([Input((3,)), Embedding(7, 2), Flatten(), Dense(1)])
    m.compile("adam", "mse")
    ids = np.array([[0, 1, 2], [3, bad, 4]], np.float64)
    with pytest.raises(ValueError, match=r"input value .*\(input_dim=7\)"):
        m.predict(ids, verbose=0)
    before = m.get_weights()
    with pytest.raises(ValueError, match="input_dim=7"):
        m.fit(ids, np.zeros(2), verbose=0)
    for a, b in zip(before, m.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert m.optimizer.iterations == 0


def test_keras2_input_length_and_pretrained_weights():
    table = np.arange(20, dtype=np.float32).reshape(10, 2)
    m = Sequential([Embedding(10, 2, input_length=6, weights=[table]), Flatten(), Dense(1)])
    assert m.built and m.output_shape == (None, 1)
    np.testing.assert_array_equal(m.layers[0].get_weights()[0], table)
    m.compile("adam", "mse")
    ids = np.random.default_rng(2).integers(0, 10, (32, 6))
    m.fit(ids, ids.sum(axis=1).astype(np.float32), epochs=2, verbose=0)


def test_spatial_dropout_after_an_embedding_drops_whole_dimensions_per_sequence():
    dropnet.set_random_seed(3)
    m = Sequential([Input((12,)), Embedding(50, 8), SpatialDropout1D(0.5)])
    ids = np.random.default_rng(3).integers(0, 50, (64, 12))
    plain = m.predict(ids, verbose=0)
    noisy = m.predict(ids, training=True, verbose=0)
    dropped = noisy == 0
    # each (sequence, dimension) is dropped at every step or at none
    assert np.all(dropped.all(axis=1) | ~dropped.any(axis=1))
    np.testing.assert_allclose(noisy[~dropped], 2 * plain[~dropped], rtol=1e-6)
    assert 0.35 < dropped.all(axis=1).mean() < 0.65


def test_a_text_model_trains_saves_loads_and_is_thread_count_independent(tmp_path):
    rng = np.random.default_rng(4)
    ids = rng.integers(0, 30, (200, 10))
    y = (np.isin(ids, [3, 7]).sum(axis=1) > 0).astype(np.float32)

    def build():
        dropnet.set_random_seed(4)
        m = Sequential(
            [
                Input((10,)),
                Embedding(30, 8),
                GlobalAveragePooling1D(),
                Dense(1, activation="sigmoid"),
            ]
        )
        m.compile("adam", "binary_crossentropy", metrics=["accuracy"])
        return m

    runs, m = ref.weights_per_thread_count(build, ids, y, epochs=40, batch_size=20)
    assert runs[0] == runs[1]
    assert m.evaluate(ids, y, verbose=0)[1] > 0.8
    m.save(tmp_path / "text.dropnet")
    back = load_model(tmp_path / "text.dropnet")
    np.testing.assert_array_equal(back.predict(ids, verbose=0), m.predict(ids, verbose=0))


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Embedding(0, 4), "input_dim"),
        (lambda: Embedding(10, True), "output_dim"),
    ],
)
def test_bad_arguments_name_the_problem(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()
