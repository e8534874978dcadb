"""Masks: Embedding(mask_zero=True) and Masking mark padded steps; the recurrent layers carry
their state over them, GlobalAveragePooling1D leaves them out, the layers that support
masking pass the mask on, and the others drop it with Keras's warning."""

import warnings

import numpy as np
import pytest
from reference import check_gradients, weights_per_thread_count

import dropnet
from dropnet import layers as L


def _pair(make_rnn, steps_a, steps_b, mask_zero=True, vocab=12, dim=4):
    """Two models sharing weights: an Embedding(mask_zero) one on steps_a steps and a plain
    one on steps_b steps."""
    emb = L.Embedding(vocab, dim, mask_zero=mask_zero)
    rnn = make_rnn()
    masked = dropnet.Sequential([L.Input((steps_a,)), emb, rnn])
    emb2, rnn2 = L.Embedding(vocab, dim), make_rnn()
    plain = dropnet.Sequential([L.Input((steps_b,)), emb2, rnn2])
    emb2.set_weights(emb.get_weights())
    rnn2.set_weights(rnn.get_weights())
    return masked, plain


def test_trailing_padding_equals_truncation():
    masked, plain = _pair(lambda: L.LSTM(5), 7, 4)
    ids = np.array([[3, 4, 5, 6, 0, 0, 0], [1, 2, 11, 9, 0, 0, 0]], np.float32)
    np.testing.assert_array_equal(
        masked.predict(ids, verbose=0), plain.predict(ids[:, :4], verbose=0)
    )


def test_leading_padding_outputs_zeros_then_the_real_run():
    masked, plain = _pair(lambda: L.LSTM(3, return_sequences=True), 6, 4)
    ids = np.array([[0, 0, 2, 7, 1, 9]], np.float32)
    out = masked.predict(ids, verbose=0)
    assert not out[0, :2].any()
    np.testing.assert_array_equal(out[0, 2:], plain.predict(ids[:, 2:], verbose=0)[0])


def test_masked_steps_in_the_middle_repeat_the_previous_output():
    masked, plain = _pair(lambda: L.LSTM(3, return_sequences=True), 5, 3)
    ids = np.array([[4, 0, 0, 5, 6]], np.float32)
    out = masked.predict(ids, verbose=0)[0]
    np.testing.assert_array_equal(out[1], out[0])
    np.testing.assert_array_equal(out[2], out[0])
    ref = plain.predict(np.array([[4, 5, 6]], np.float32), verbose=0)[0]
    np.testing.assert_allclose(out[[0, 3, 4]], ref, rtol=1e-6, atol=1e-7)


def test_go_backwards_skips_masked_steps():
    masked, plain = _pair(lambda: L.LSTM(4, go_backwards=True), 6, 3)
    ids = np.array([[5, 8, 2, 0, 0, 0]], np.float32)
    np.testing.assert_allclose(
        masked.predict(ids, verbose=0), plain.predict(ids[:, :3], verbose=0), rtol=1e-6
    )


def test_masking_layer_zeroes_and_masks_steps_whose_features_all_equal_the_value():
    x = np.array([[[1.0, 2.0], [-1.0, -1.0], [-1.0, 3.0], [-1.0, -1.0]]], np.float32)
    m = dropnet.Sequential([L.Input((4, 2)), L.Masking(mask_value=-1.0)])
    np.testing.assert_array_equal(m.predict(x, verbose=0)[0], [[1, 2], [0, 0], [-1, 3], [0, 0]])


def test_masking_then_lstm_equals_the_kept_steps_alone():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 6, 2)).astype(np.float32)
    x[:, 4:] = 0.0
    lstm = L.LSTM(4)
    masked = dropnet.Sequential([L.Input((6, 2)), L.Masking(), lstm])
    lstm2 = L.LSTM(4)
    plain = dropnet.Sequential([L.Input((4, 2)), lstm2])
    lstm2.set_weights(lstm.get_weights())
    np.testing.assert_array_equal(masked.predict(x, verbose=0), plain.predict(x[:, :4], verbose=0))


def test_layers_that_support_masking_pass_it_on():
    def rnn_after(*middle):
        emb = L.Embedding(10, 4, mask_zero=True, name="emb")
        lstm = L.LSTM(3)
        return dropnet.Sequential([L.Input((6,)), emb, *middle, lstm]), emb, lstm

    ids = np.array([[3, 2, 1, 0, 0, 0]], np.float32)
    ref, emb, lstm = rnn_after()
    for middle in (
        [L.Dropout(0.5)],
        [L.SpatialDropout1D(0.3)],
        [L.Activation("tanh"), L.Dense(4)],
        [L.TimeDistributed(L.Dense(4)), L.LayerNormalization()],
        [L.GaussianNoise(0.1)],
    ):
        model, emb2, lstm2 = rnn_after(*middle)
        emb2.set_weights(emb.get_weights())
        lstm2.set_weights(lstm.get_weights())
        # the same model cut after the real steps (inference: the stochastic layers are off)
        copies = [type(m).from_config({**m.get_config(), "name": m.name + "_cut"}) for m in middle]
        e, r = L.Embedding(10, 4), L.LSTM(3)
        cut = dropnet.Sequential([L.Input((3,)), e, *copies, r])
        e.set_weights(emb.get_weights())
        r.set_weights(lstm.get_weights())
        for a, b in zip(model.layers[1:-1], cut.layers[1:-1]):
            b.set_weights(a.get_weights())
        np.testing.assert_allclose(
            model.predict(ids, verbose=0),
            cut.predict(ids[:, :3], verbose=0),
            rtol=1e-5,
            atol=1e-6,
            err_msg=str(middle),
        )
    assert ref.predict(ids, verbose=0).shape == (1, 3)


def test_layers_without_mask_support_drop_it_with_a_warning():
    with pytest.warns(UserWarning, match="destroy the mask"):
        dropnet.Sequential([L.Input((5,)), L.Embedding(9, 3, mask_zero=True), L.Flatten()])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning without a mask
        dropnet.Sequential([L.Input((5,)), L.Embedding(9, 3), L.Flatten()])


def test_batch_normalization_after_a_mask_is_refused():
    with pytest.raises(ValueError, match="BatchNormalization after a mask"):
        dropnet.Sequential(
            [L.Input((5,)), L.Embedding(9, 3, mask_zero=True), L.BatchNormalization()]
        )


def test_explicit_mask_argument_is_refused():
    inp = L.Input((4, 2))
    with pytest.raises(ValueError, match="explicit mask"):
        L.LSTM(3)(inp, mask=inp)


def test_global_average_pooling_averages_the_kept_steps():
    emb = L.Embedding(6, 3, mask_zero=True)
    model = dropnet.Sequential([L.Input((4,)), emb, L.GlobalAveragePooling1D()])
    table = emb.get_weights()[0]
    ids = np.array([[1, 2, 0, 0], [0, 3, 0, 5], [0, 0, 0, 0]], np.float32)
    out = model.predict(ids, verbose=0)
    np.testing.assert_allclose(out[0], table[[1, 2]].mean(0), rtol=1e-6)
    np.testing.assert_allclose(out[1], table[[3, 5]].mean(0), rtol=1e-6)
    assert np.isnan(model.predict(ids[2:], verbose=0)).all()  # nothing kept: 0/0, as in Keras
    e = L.Embedding(6, 3, mask_zero=True)
    keep = dropnet.Sequential([L.Input((4,)), e, L.GlobalAveragePooling1D(keepdims=True)])
    e.set_weights(emb.get_weights())
    assert keep.predict(ids[:1], verbose=0).shape == (1, 1, 3)


def _masked_float64_model(head):
    dropnet.backend.set_floatx("float64")
    try:
        model = dropnet.Sequential([L.Input((6, 2)), L.Masking(mask_value=0.0), *head, L.Dense(1)])
    finally:
        dropnet.backend.set_floatx("float32")
    model.compile("sgd", "mse")
    return model


@pytest.mark.parametrize(
    "head",
    [
        lambda: [L.LSTM(3, return_sequences=True), L.GlobalAveragePooling1D()],
        lambda: [L.LSTM(3, go_backwards=True)],
        lambda: [L.Bidirectional(L.LSTM(2, return_sequences=True)), L.LSTM(2)],
    ],
    ids=["lstm-seq-pool", "lstm-backwards", "bidirectional-stack"],
)
def test_masked_gradients_match_finite_differences(head):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 6, 2))
    x[0, 4:] = 0.0
    x[1, :2] = 0.0
    x[2, 2:4] = 0.0
    y = rng.normal(size=(4, 1))
    model = _masked_float64_model(head())
    # The input gradient is left out: moving a masked value off the mask value unmasks it.
    check_gradients(model, x, y, input_gradient=False)


def test_masked_training_is_the_same_on_one_and_two_threads():
    rng = np.random.default_rng(1)
    ids = rng.integers(1, 20, size=(64, 9)).astype(np.float32)
    for i in range(64):
        ids[i, rng.integers(2, 9) :] = 0
    y = rng.integers(0, 2, size=(64, 1)).astype(np.float32)

    def build():
        dropnet.set_random_seed(9)
        model = dropnet.Sequential(
            [
                L.Input((9,)),
                L.Embedding(20, 8, mask_zero=True),
                L.LSTM(6, dropout=0.2, recurrent_dropout=0.2, seed=5),
                L.Dense(1, activation="sigmoid"),
            ]
        )
        model.compile("adam", "binary_crossentropy")
        return model

    runs, _ = weights_per_thread_count(build, ids, y, epochs=2, batch_size=16)
    assert runs[0] == runs[1]


def test_masked_model_saves_and_loads(tmp_path):
    model = dropnet.Sequential(
        [L.Input((5,)), L.Embedding(10, 4, mask_zero=True), L.LSTM(3), L.Dense(1)]
    )
    model.compile("adam", "mse")
    ids = np.array([[1, 2, 0, 0, 0], [4, 4, 4, 0, 0]], np.float32)
    model.save(tmp_path / "m.dropnet")
    back = dropnet.models.load_model(tmp_path / "m.dropnet")
    assert back.layers[0].mask_zero
    np.testing.assert_array_equal(back.predict(ids, verbose=0), model.predict(ids, verbose=0))


def test_an_output_carrying_a_mask_warns_that_the_loss_counts_every_step():
    model = dropnet.Sequential(
        [L.Input((5,)), L.Embedding(9, 3, mask_zero=True), L.LSTM(2, return_sequences=True)]
    )
    model.compile("adam", "mse")
    with pytest.warns(UserWarning, match="carry a mask"):
        model.fit(np.ones((4, 5), np.float32), np.zeros((4, 5, 2), np.float32), verbose=0)
