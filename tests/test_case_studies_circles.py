"""The two-circles tutorial's extensions as case studies (shortened epochs): each runs,
writes its figure, returns the numbers it printed, and reproduces them from its seed."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pytest

from dropnet.__main__ import main
from dropnet.case_studies import (
    circles,
    circles_input_dropout,
    circles_maxnorm,
    circles_rate_grid,
    circles_repeats,
    mc_dropout,
)

EXTENSIONS = [
    "circles-input-dropout",
    "circles-maxnorm",
    "circles-repeats",
    "circles-rate-grid",
    "mc-dropout",
]


def _is_png(path) -> bool:
    image = matplotlib.image.imread(path)
    return image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def _accuracy(value) -> bool:
    return 0.0 <= value <= 1.0


def test_shared_builder_adds_only_what_is_asked():
    plain = circles.build_model()
    assert [type(layer).__name__ for layer in plain.layers] == ["Dense", "Dense"]
    full = circles.build_model(dropout_rate=0.4, input_rate=0.2, max_norm=3.0)
    assert [type(layer).__name__ for layer in full.layers] == [
        "Dropout",
        "Dense",
        "Dropout",
        "Dense",
    ]
    assert full.layers[1].kernel_constraint.max_value == 3.0
    assert full.input_shape == (None, 2)


def test_input_dropout_study(tmp_path):
    plot = tmp_path / "in.png"
    res = circles_input_dropout.run(rate=0.2, epochs=60, seed=3, plot=str(plot), verbose=False)
    assert list(res) == ["no dropout", "input dropout 0.2", "input 0.2 + hidden 0.4"]
    assert all(_accuracy(v[0]) and _accuracy(v[1]) for v in res.values())
    assert len(res["no dropout"][3].history["val_accuracy"]) == 60
    assert _is_png(plot)
    with pytest.raises(ValueError, match=r"rate: expected a value in \(0, 1\)"):
        circles_input_dropout.run(rate=1.0, plot=None, verbose=False)


def test_maxnorm_study_and_constraint_effect(tmp_path):
    plot = tmp_path / "mn.png"
    res = circles_maxnorm.run(max_norm=0.5, epochs=80, seed=2, plot=str(plot), verbose=False)
    assert len(res) == 4 and _is_png(plot)
    # Variants start from the same seed: the plain model reproduces itself bitwise.
    again = circles_maxnorm.run(max_norm=0.5, epochs=80, seed=2, plot=None, verbose=False)
    assert res["plain"][3].history["loss"] == again["plain"][3].history["loss"]
    # A tight cap changes training; the columns of the trained kernel respect it.
    assert res["plain"][3].history["loss"] != res["MaxNorm(0.5)"][3].history["loss"]
    model = circles.train_eval(2, 20, max_norm=0.5)[4]
    norms = np.linalg.norm(model.get_weights()[0], axis=0)
    assert np.all(norms <= 0.5 + 1e-5)


def test_repeats_study(tmp_path, capsys):
    plot = tmp_path / "rep.png"
    res = circles_repeats.run(repeats=3, epochs=40, seed=5, plot=str(plot))
    for accs in res.values():
        assert accs["test"].shape == (3,) and np.all((accs["test"] >= 0) & (accs["test"] <= 1))
    # The seed list reproduces the runs.
    again = circles_repeats.run(repeats=3, epochs=40, seed=5, plot=None, verbose=False)
    assert np.array_equal(res["dropout 0.4"]["test"], again["dropout 0.4"]["test"])
    out = capsys.readouterr().out
    assert "dropout's test-accuracy gain" in out and "overfit   test" in out
    assert _is_png(plot)


def test_rate_grid_study(tmp_path):
    plot = tmp_path / "grid.png"
    res = circles_rate_grid.run(
        rates=[0.6, 0.0, 0.3], repeats=2, epochs=40, seed=1, plot=str(plot), verbose=False
    )
    assert list(res["rates"]) == [0.0, 0.3, 0.6]
    assert res["test"].shape == (3, 2)
    assert np.allclose(res["mean"], res["test"].mean(axis=1)) and np.all(res["std"] >= 0)
    assert _is_png(plot)
    with pytest.raises(ValueError, match=r"rates: expected values in \[0, 1\)"):
        circles_rate_grid.run(rates=[0.2, 1.2], plot=None, verbose=False)


def test_mc_dropout_study(tmp_path):
    plot = tmp_path / "mc.png"
    res = mc_dropout.run(samples=20, epochs=200, seed=1, grid=31, plot=str(plot), verbose=False)
    assert _accuracy(res["deterministic_acc"]) and _accuracy(res["mc_acc"])
    assert res["mean"].shape == (31, 31) and res["std"].shape == (31, 31)
    assert np.all((res["mean"] >= 0) & (res["mean"] <= 1))
    assert res["std"].max() > 0 and np.all(res["std"] >= 0)  # dropout on at prediction: spread
    assert _is_png(plot)
    again = mc_dropout.run(samples=20, epochs=200, seed=1, grid=31, plot=None, verbose=False)
    assert np.array_equal(res["mean"], again["mean"])


def test_cli_lists_and_runs_the_extensions(tmp_path, capsys):
    assert main(["list"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in EXTENSIONS)
    plot = tmp_path / "cli.png"
    assert main(["run", "mc-dropout", "--epochs", "50", "--samples", "5", "--plot", str(plot)]) == 0
    assert "MC-averaged" in capsys.readouterr().out and _is_png(plot)
    assert main(["run", "circles-repeats", "--repeats", "0"]) == 2
    assert "repeats: expected at least 1" in capsys.readouterr().err
