"""The batchnorm case study (shortened): the configurations it builds, Monte-Carlo dropout
with BatchNormalization left in inference mode, the variance-shift measure, and a quick run
of both networks from Python and from the command line."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pytest

import dropnet
from dropnet.__main__ import main
from dropnet.case_studies import batchnorm
from dropnet.layers import BatchNormalization, Dense, Dropout, Input
from dropnet.models import Sequential


def _kinds(model) -> list[str]:
    return [type(layer).__name__ for layer in model.layers]


def _is_png(path) -> bool:
    image = matplotlib.image.imread(path)
    return image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 400


def test_mlp_configurations_differ_only_where_their_names_say():
    kinds = {c: _kinds(batchnorm.build_mlp(c, units=8)) for c in batchnorm.MLP_CONFIGS}
    assert kinds["none"] == ["Dense", "Dense", "Dense"]
    assert kinds["BN then dropout"] == [
        "Dense",
        "BatchNormalization",
        "Dropout",
        "Dense",
        "BatchNormalization",
        "Dropout",
        "Dense",
    ]
    swapped = ["BatchNormalization" if k == "Dropout" else k for k in kinds["dropout then BN"]]
    assert kinds["dropout then BN"] != kinds["BN then dropout"]
    assert [k for k in swapped if k != "BatchNormalization"] == ["Dense"] * 3
    assert kinds["dropout then BN"][1:3] == ["Dropout", "BatchNormalization"]
    assert kinds["BN"].count("BatchNormalization") == 2 and "Dropout" not in kinds["BN"]
    with pytest.raises(ValueError, match="MLP configuration"):
        batchnorm.build_mlp("BN twice")


def test_cnn_configurations_add_bn_after_each_conv_and_dense():
    kinds = {c: _kinds(batchnorm.build_cnn(c)) for c in batchnorm.CNN_CONFIGS}
    assert "BatchNormalization" not in kinds["none"] and "Dropout" not in kinds["none"]
    assert kinds["dropout"].count("SpatialDropout2D") == 1 and "Dropout" in kinds["dropout"]
    assert kinds["BN"].count("BatchNormalization") == 3
    both = kinds["BN + dropout"]
    assert both.count("BatchNormalization") == 3 and both.count("Dropout") == 1
    assert both.index("BatchNormalization", 4) < both.index("Dropout")  # BN, then dropout


def test_momentum_reaches_every_bn_layer_and_curves_mark_the_first_epoch_at_90_percent():
    for model in (
        batchnorm.build_mlp("dropout then BN", 8, momentum=0.9),
        batchnorm.build_cnn("BN", 0.9),
    ):
        assert {bn.momentum for bn in batchnorm.bn_layers(model)} == {0.9}
    assert batchnorm.first_epoch_reaching([0.5, 0.89, 0.9, 0.95]) == 3
    assert batchnorm.first_epoch_reaching([0.5, 0.7]) is None


def _bn_model(dropout: bool) -> Sequential:
    layers = [Input((6,)), Dense(16, activation="relu")]
    if dropout:
        layers.append(Dropout(0.5))
    layers += [BatchNormalization(), Dense(3, activation="softmax")]
    model = Sequential(layers)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def test_mc_dropout_keeps_batchnorm_in_inference_mode(rng):
    x = rng.standard_normal((200, 6)).astype(np.float32) * 3 + 1
    y = rng.integers(0, 3, 200)
    dropnet.set_random_seed(4)
    for has_dropout in (False, True):
        model = _bn_model(has_dropout)
        before = batchnorm.moving_statistics(model)
        model.fit(x, y, epochs=2, batch_size=50, verbose=0)
        trained = batchnorm.moving_statistics(model)
        # training moves the statistics, so an unchanged snapshot below means something
        assert not any(np.array_equal(a, b) for a, b in zip(before, trained))
        mc = batchnorm.mc_dropout(model, x, y, samples=8)
        assert mc["unchanged"] is True
        for a, b in zip(trained, batchnorm.moving_statistics(model)):
            np.testing.assert_array_equal(a, b)
        stochastic = model.predict(x, training=True, verbose=0)
        assert all(
            np.array_equal(a, b) for a, b in zip(trained, batchnorm.moving_statistics(model))
        )
        mean, std = model.predict_mc(x, n=5)
        if has_dropout:
            assert mc["std"] > 0 and std.max() > 0
            assert not np.allclose(stochastic, model.predict(x, verbose=0))
        else:
            # BN alone: every pass uses the moving statistics, so the passes agree exactly
            assert mc["std"] == 0 and std.max() == 0
            np.testing.assert_allclose(mean, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
            np.testing.assert_array_equal(stochastic, model.predict(x, verbose=0))
    plain = batchnorm.mc_dropout(batchnorm.build_mlp("none", 8), np.zeros((4, 64)), y[:4], 3)
    assert plain["unchanged"] is None and plain["std"] == 0  # no BN to check, no dropout


def test_variance_ratio_is_one_without_dropout_and_about_two_after_dropout_half(rng):
    # momentum 0 and one full batch: the moving variance is exactly the training batch's
    x = (rng.standard_normal((4000, 5)) * np.array([1.0, 2.0, 0.5, 3.0, 1.5])).astype(np.float32)
    for rate, expected, tol in ((0.0, 1.0, 1e-4), (0.5, 2.0, 0.15)):
        dropnet.set_random_seed(2)
        layers = [Input((5,))] + ([Dropout(rate)] if rate else [])
        model = Sequential(layers + [BatchNormalization(momentum=0.0)])
        model.compile(optimizer="sgd", loss="mse")
        model.fit(x, np.zeros_like(x), epochs=1, batch_size=len(x), shuffle=False, verbose=0)
        (ratio,) = batchnorm.variance_ratios(model, x)
        assert ratio == pytest.approx(expected, abs=tol)


def test_quick_run_of_both_networks(tmp_path, capsys):
    plot = tmp_path / "bn.png"
    res = batchnorm.run(
        epochs=3, cnn_epochs=1, seeds=2, seed=3, n_train=60, samples=4, plot=str(plot)
    )
    assert list(res) == ["mlp", "cnn"]
    assert list(res["mlp"]) == list(batchnorm.MLP_CONFIGS)
    assert list(res["cnn"]) == list(batchnorm.CNN_CONFIGS)
    for part, results in res.items():
        bn_count = 2 if part == "mlp" else 3
        for config, r in results.items():
            assert r["test"].shape == (2,) and np.all((0 < r["test"]) & (r["test"] <= 1))
            assert len(r["history"]["val_accuracy"]) == (3 if part == "mlp" else 1)
            assert r["mc_acc"].shape == (2,)
            assert r["reached_at"] is None or 1 <= r["reached_at"] <= len(r["history"]["loss"])
            if "dropout" in config:
                assert np.all(r["mc_std"] > 0), (part, config)
            else:
                assert np.all(r["mc_std"] == 0), (part, config)
            if "BN" in config:
                assert r["moving_stats_unchanged"] is True
                assert r["variance_ratio"].shape == (2, bn_count)
                assert np.all(r["variance_ratio"] > 0)
            else:
                assert r["moving_stats_unchanged"] is None and r["variance_ratio"] is None
    # five different models, not one model five times
    assert len({float(r["test"].mean()) for r in res["mlp"].values()}) > 1
    out = capsys.readouterr().out
    assert "dropout then BN" in out and "BN + dropout" in out
    assert "BN moving statistics unchanged by the Monte-Carlo passes: yes" in out
    assert _is_png(plot) and _is_png(tmp_path / "bn-mc.png")


def test_command_line(tmp_path, capsys):
    plot = tmp_path / "b.png"
    argv = ["run", "batchnorm", "--quick", "--parts", "mlp", "--seeds", "1", "--plot", str(plot)]
    assert main(argv) == 0
    assert plot.exists() and (tmp_path / "b-mc.png").exists()
    out = capsys.readouterr().out
    assert "MLP 64-256-256-10, 5 epochs" in out and "CNN" not in out
    assert main(["run", "batchnorm", "--parts", "rnn"]) == 2
    assert main(["run", "batchnorm", "--momentum", "1"]) == 2
    assert main(["run", "batchnorm", "--samples", "1"]) == 2
    assert "--samples: expected at least 2" in capsys.readouterr().err
