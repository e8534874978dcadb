"""The dropout family through models: identity at inference, exact inverted-dropout
scaling in training mode, noise_shape and spatial broadcasting, the statistics of the
Gaussian and alpha variants, Monte-Carlo prediction, and argument validation."""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref
from hypothesis import given, settings
from hypothesis import strategies as st

import dropnet
from dropnet.layers import (
    AlphaDropout,
    Dense,
    Dropout,
    GaussianDropout,
    GaussianNoise,
    Input,
    SpatialDropout1D,
    SpatialDropout2D,
    SpatialDropout3D,
)
from dropnet.models import Sequential

ALL_LAYERS = {
    "Dropout": (lambda s: Dropout(0.5, input_shape=s), (6,)),
    "Dropout-noise_shape": (
        lambda s: Dropout(0.5, noise_shape=(None, 1, 4), input_shape=s),
        (3, 4),
    ),
    "SpatialDropout1D": (lambda s: SpatialDropout1D(0.5, input_shape=s), (5, 4)),
    "SpatialDropout2D": (lambda s: SpatialDropout2D(0.5, input_shape=s), (3, 4, 2)),
    "SpatialDropout2D-channels_first": (
        lambda s: SpatialDropout2D(0.5, data_format="channels_first", input_shape=s),
        (2, 3, 4),
    ),
    "SpatialDropout3D": (lambda s: SpatialDropout3D(0.5, input_shape=s), (2, 3, 2, 3)),
    "GaussianDropout": (lambda s: GaussianDropout(0.4, input_shape=s), (6,)),
    "AlphaDropout": (lambda s: AlphaDropout(0.3, input_shape=s), (6,)),
    "GaussianNoise": (lambda s: GaussianNoise(0.7, input_shape=s), (6,)),
}


def single(layer):
    return Sequential([layer])


def positive_inputs(rng, n, shape, dtype=np.float32):
    return rng.uniform(0.5, 1.5, (n,) + tuple(shape)).astype(dtype)


@pytest.mark.parametrize("name", list(ALL_LAYERS))
def test_dropout_layer_inference_is_identity(name, rng):
    make, shape = ALL_LAYERS[name]
    model = single(make(shape))
    x = rng.standard_normal((10,) + shape).astype(np.float32)
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    np.testing.assert_array_equal(model(x), x)


@pytest.mark.parametrize("name", list(ALL_LAYERS))
def test_dropout_layer_evaluate_runs_in_inference_mode(name, rng):
    make, shape = ALL_LAYERS[name]
    model = Sequential([make(shape)])
    model.compile(optimizer="sgd", loss="mse")
    x = rng.standard_normal((10,) + shape).astype(np.float32)
    assert model.evaluate(x, x, verbose=0) == 0.0


@pytest.mark.parametrize("name", list(ALL_LAYERS))
def test_dropout_layer_training_mode_changes_output(name, rng):
    make, shape = ALL_LAYERS[name]
    model = single(make(shape))
    x = positive_inputs(rng, 50, shape)
    a = model.predict(x, training=True)
    b = model.predict(x, training=True)
    assert not np.array_equal(a, x)
    assert not np.array_equal(a, b)  # a fresh mask every call


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=30, deadline=None)
@given(
    rate=st.floats(0.05, 0.95),
    n=st.integers(1, 70),
    width=st.sampled_from([1, 7, 8, 9, 17, 33, 64]),
    seed=st.integers(0, 2**32 - 1),
)
def test_dropout_training_kept_values_scaled_exactly(dtype, rate, n, width, seed):
    rng = np.random.default_rng(seed)
    dropnet.set_random_seed(seed)
    model = single(Dropout(rate, input_shape=(width,), dtype=np.dtype(dtype).name))
    x = positive_inputs(rng, n, (width,), dtype)
    y = model.predict(x, training=True)
    assert y.dtype == dtype
    kept = y != 0
    np.testing.assert_array_equal(y[kept], x[kept] / dtype(1 - rate))
    assert np.all(y[~kept] == 0)


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5, 0.8])
def test_dropout_training_keep_fraction_within_5_sigma(rate, rng):
    model = single(Dropout(rate, input_shape=(200,)))
    x = positive_inputs(rng, 500, (200,))
    y = model.predict(x, training=True)
    frac = np.mean(y != 0)
    assert abs(frac - (1 - rate)) < 5 * np.sqrt(rate * (1 - rate) / y.size)
    mean, var = ref.dropout_moments(x, rate)
    assert abs(np.mean(y - mean)) < 5 * np.sqrt(np.mean(var) / y.size)


def test_dropout_rate_zero_is_identity_in_training(rng):
    for layer in (
        Dropout(0.0, input_shape=(5,)),
        SpatialDropout1D(0.0, input_shape=(3, 5)),
        GaussianDropout(0.0, input_shape=(5,)),
        AlphaDropout(0.0, input_shape=(5,)),
        GaussianNoise(0.0, input_shape=(5,)),
    ):
        model = single(layer)
        x = rng.standard_normal((8,) + layer._input_shape_arg).astype(np.float32)
        np.testing.assert_array_equal(
            model.predict(x, training=True), x, err_msg=type(layer).__name__
        )


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda: Dropout(1.0, input_shape=(7,)), (7,)),
        (lambda: SpatialDropout1D(1.0, input_shape=(3, 4)), (3, 4)),
        (lambda: SpatialDropout2D(1.0, input_shape=(2, 2, 3)), (2, 2, 3)),
    ],
    ids=["Dropout", "SpatialDropout1D", "SpatialDropout2D"],
)
def test_dropout_rate_one_outputs_zeros(make, shape, rng):
    model = single(make())
    x = positive_inputs(rng, 9, shape)
    y = model.predict(x, training=True)
    assert np.all(y == 0) and np.all(np.isfinite(y))
    np.testing.assert_array_equal(model.predict(x), x)


def test_dropout_noise_shape_mask_constant_along_size_one_axes(rng):
    model = single(Dropout(0.5, noise_shape=(None, 1, 6), input_shape=(5, 6)))
    x = positive_inputs(rng, 40, (5, 6))
    keep = model.predict(x, training=True) != 0
    assert np.all(keep == keep[:, :1, :])
    assert 0.3 < keep.mean() < 0.7
    assert not np.all(keep == keep[:1])  # still varies across the batch


def test_dropout_noise_shape_batch_one_shares_mask_across_samples(rng):
    model = single(Dropout(0.5, noise_shape=(1, None), input_shape=(30,)))
    x = positive_inputs(rng, 20, (30,))
    keep = model.predict(x, training=True) != 0
    assert np.all(keep == keep[:1])
    assert 0 < keep.mean() < 1


def test_dropout_noise_shape_none_entries_filled_by_position(rng):
    model = single(Dropout(0.5, noise_shape=(None, 4, 1), input_shape=(4, 6)))
    x = positive_inputs(rng, 30, (4, 6))
    keep = model.predict(x, training=True) != 0
    assert np.all(keep == keep[:, :, :1])
    assert not np.all(keep == keep[:, :1, :1])


def test_dropout_noise_shape_with_wrong_rank_raises():
    with pytest.raises(ValueError):
        single(Dropout(0.5, noise_shape=(None, 1), input_shape=(4, 6)))


def test_spatial_dropout1d_mask_constant_over_steps(rng):
    model = single(SpatialDropout1D(0.4, input_shape=(7, 9)))
    x = positive_inputs(rng, 60, (7, 9))
    y = model.predict(x, training=True)
    keep = y != 0
    assert np.all(keep == keep[:, :1, :])
    np.testing.assert_array_equal(y[keep], x[keep] / np.float32(0.6))
    assert abs(keep[:, 0, :].mean() - 0.6) < 5 * np.sqrt(0.24 / keep[:, 0, :].size)


def test_spatial_dropout2d_mask_constant_over_height_and_width(rng):
    model = single(SpatialDropout2D(0.5, input_shape=(4, 5, 8)))
    x = positive_inputs(rng, 30, (4, 5, 8))
    keep = model.predict(x, training=True) != 0
    assert np.all(keep == keep[:, :1, :1, :])
    assert 0.3 < keep.mean() < 0.7


def test_spatial_dropout2d_channels_first_mask_constant_over_height_and_width(rng):
    model = single(SpatialDropout2D(0.5, data_format="channels_first", input_shape=(8, 4, 5)))
    x = positive_inputs(rng, 30, (8, 4, 5))
    keep = model.predict(x, training=True) != 0
    assert np.all(keep == keep[:, :, :1, :1])
    assert 0.3 < keep.mean() < 0.7


def test_spatial_dropout3d_mask_constant_over_volume(rng):
    model = single(SpatialDropout3D(0.5, input_shape=(2, 3, 4, 6)))
    x = positive_inputs(rng, 30, (2, 3, 4, 6))
    keep = model.predict(x, training=True) != 0
    assert np.all(keep == keep[:, :1, :1, :1, :])
    model = single(SpatialDropout3D(0.5, data_format="channels_first", input_shape=(6, 2, 3, 4)))
    keep = model.predict(positive_inputs(rng, 30, (6, 2, 3, 4)), training=True) != 0
    assert np.all(keep == keep[:, :, :1, :1, :1])


@pytest.mark.parametrize(
    "layer, shape",
    [
        (SpatialDropout1D, (5,)),
        (SpatialDropout1D, (2, 3, 4)),
        (SpatialDropout2D, (4, 5)),
        (SpatialDropout3D, (2, 3, 4)),
    ],
)
def test_spatial_dropout_wrong_rank_raises(layer, shape):
    with pytest.raises(ValueError):
        single(layer(0.5, input_shape=shape))


@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_gaussian_dropout_statistics(rate, rng):
    model = single(GaussianDropout(rate, input_shape=(100,)))
    x = rng.uniform(0.5, 2.0, (400, 100)).astype(np.float32)
    y = model.predict(x, training=True).astype(np.float64)
    eps = y / x  # the multiplicative noise
    var = rate / (1 - rate)
    assert abs(eps.mean() - 1.0) < 5 * np.sqrt(var / eps.size)
    assert eps.var() == pytest.approx(var, rel=0.05)
    mean, v = ref.gaussian_dropout_moments(x, rate)
    assert abs(np.mean(y - mean)) < 5 * np.sqrt(np.mean(v) / y.size)


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.6])
def test_alpha_dropout_statistics_and_values(rate, rng):
    model = single(AlphaDropout(rate, input_shape=(100,)))
    x = rng.standard_normal((400, 100)).astype(np.float32)
    y = model.predict(x, training=True).astype(np.float64)
    a, b = ref.alpha_dropout_coefficients(rate)
    dropped_value = a * ref.ALPHA_PRIME + b
    kept = np.isclose(y, a * x + b, rtol=1e-5, atol=1e-6)
    dropped = np.isclose(y, dropped_value, rtol=1e-5, atol=1e-6)
    assert np.all(kept | dropped)
    frac = np.mean(dropped & ~kept)
    assert abs(frac - rate) < 5 * np.sqrt(rate * (1 - rate) / y.size) + 0.002
    mean, var = ref.alpha_dropout_moments(x, rate)
    assert abs(np.mean(y - mean)) < 5 * np.sqrt(np.mean(var) / y.size)
    # unit-variance, zero-mean inputs keep (approximately) zero mean and unit variance
    assert abs(y.mean()) < 0.05
    assert y.var() == pytest.approx(1.0, abs=0.06)


def test_gaussian_noise_statistics(rng):
    model = single(GaussianNoise(0.3, input_shape=(100,)))
    x = rng.standard_normal((400, 100)).astype(np.float32)
    noise = model.predict(x, training=True).astype(np.float64) - x
    assert abs(noise.mean()) < 5 * 0.3 / np.sqrt(noise.size)
    assert noise.std() == pytest.approx(0.3, rel=0.03)


def test_layer_seed_fixes_mask_sequence(rng):
    x = positive_inputs(rng, 20, (30,))
    a = single(Dropout(0.5, seed=5, input_shape=(30,)))
    b = single(Dropout(0.5, seed=5, input_shape=(30,)))
    c = single(Dropout(0.5, seed=6, input_shape=(30,)))
    ya, yb, yc = (m.predict(x, training=True) for m in (a, b, c))
    np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(ya, yc)
    np.testing.assert_array_equal(a.predict(x, training=True), b.predict(x, training=True))


def test_predict_mc_std_positive_with_dropout(rng):
    model = Sequential([Dense(16, activation="relu", input_dim=3), Dropout(0.5), Dense(2)])
    x = rng.standard_normal((5, 3)).astype(np.float32)
    mean, std = model.predict_mc(x, 50)
    assert mean.shape == (5, 2) and std.shape == (5, 2)
    assert np.all(std > 0)
    assert mean.dtype == np.float32 and std.dtype == np.float32
    np.testing.assert_allclose(mean, model.predict(x), atol=1.0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_predict_mc_std_zero_without_dropout(dtype, rng):
    model = Sequential([Dense(16, activation="relu", input_dim=3, dtype=dtype), Dense(2)])
    x = rng.standard_normal((5, 3))
    mean, std = model.predict_mc(x, 30)
    np.testing.assert_array_equal(std, 0.0)
    np.testing.assert_array_equal(mean, model.predict(x))


def test_predict_mc_matches_mean_and_std_of_training_predictions(rng):
    dropnet.set_random_seed(9)
    model = Sequential(
        [Dense(8, activation="tanh", input_dim=3, dtype="float64"), Dropout(0.4), Dense(1)]
    )
    x = rng.standard_normal((4, 3))
    model._mc_calls = 0
    samples = np.stack([model.predict(x, training=True) for _ in range(40)])
    model._mc_calls = 0
    mean, std = model.predict_mc(x, 40)
    np.testing.assert_allclose(mean, samples.mean(axis=0), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(std, samples.std(axis=0), rtol=1e-6, atol=1e-9)


INVALID = [
    (lambda: Dropout(1.5), "Dropout(rate=1.5)"),
    (lambda: Dropout(-0.1), "Dropout(rate=-0.1)"),
    (lambda: Dropout(float("nan")), "Dropout(rate=nan)"),
    (lambda: SpatialDropout1D(2), "SpatialDropout1D(rate=2)"),
    (lambda: SpatialDropout2D(-1), "SpatialDropout2D(rate=-1)"),
    (lambda: SpatialDropout3D(1.01), "SpatialDropout3D(rate=1.01)"),
    (lambda: GaussianDropout(1.0), "GaussianDropout(rate=1.0)"),
    (lambda: GaussianDropout(-0.5), "GaussianDropout(rate=-0.5)"),
    (lambda: AlphaDropout(1.0), "AlphaDropout(rate=1.0)"),
    (lambda: AlphaDropout(3), "AlphaDropout(rate=3)"),
    (lambda: GaussianNoise(-1.0), "GaussianNoise(stddev=-1.0)"),
]


@pytest.mark.parametrize("make, text", INVALID, ids=[t for _, t in INVALID])
def test_dropout_invalid_rate_raises_value_error_naming_layer_and_value(make, text):
    with pytest.raises(ValueError) as info:
        make()
    assert text in str(info.value)


@pytest.mark.parametrize("layer", [Dropout, SpatialDropout1D, GaussianDropout, AlphaDropout])
def test_dropout_non_numeric_rate_raises_type_error(layer):
    with pytest.raises(TypeError, match=layer.__name__):
        layer("0.5")


def test_gaussian_noise_stddev_above_one_trains_and_predicts():
    """stddev is not a rate: values above 1 are valid (the core once rejected them)."""
    x = np.ones((64, 3), dtype=np.float32)
    m = Sequential([Input((3,)), GaussianNoise(2.5)])
    np.testing.assert_array_equal(m.predict(x, verbose=0), x)
    noisy = m.predict(x, training=True, verbose=0)
    assert 2.0 < float(np.std(noisy - x)) < 3.0
