"""The LSTM temperature-forecasting case study (shortened): the three dropout variants on
the bundled series and on the synthetic one, the windowing, and the missing-file message."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pytest

from dropnet.__main__ import main
from dropnet.case_studies import lstm
from dropnet.datasets import load_daily_min_temperatures


def test_windows_are_chronological_and_scaled_on_train():
    series = np.arange(100, dtype=float)
    (xtr, ytr), (xte, yte), (mean, std) = lstm.make_windows(series, window=5, test_fraction=0.2)
    assert xtr.shape == (76, 5, 1) and xte.shape == (19, 5, 1)
    z = (series - mean) / std
    np.testing.assert_allclose(xtr[0, :, 0], z[:5], rtol=1e-6)
    np.testing.assert_allclose(ytr[0], z[5], rtol=1e-6)
    np.testing.assert_allclose(yte[-1], z[-1], rtol=1e-6)
    assert mean == pytest.approx(series[:81].mean())  # statistics of the training part only


@pytest.mark.slow
def test_bundled_series_three_variants(tmp_path, capsys):
    plot = tmp_path / "lstm.png"
    res = lstm.run(epochs=4, seeds=2, seed=3, plot=str(plot))
    assert list(res) == list(lstm.VARIANTS)
    series = load_daily_min_temperatures()
    assert len(series) == 1461
    for r in res.values():
        assert r["rmse"].shape == (2,)
        # better than predicting the mean temperature (std ≈ 5.0 °C) after a few epochs
        assert 1.2 < r["rmse"].mean() < 3.5
        assert len(r["history"]["loss"]) == 4
    # the three variants are different models, not one model three times
    assert len({round(float(r["rmse"].mean()), 6) for r in res.values()}) == 3
    out = capsys.readouterr().out
    assert "persistence" in out and "Why they differ" in out and "Seattle" in out
    image = matplotlib.image.imread(plot)
    assert image.ndim == 3 and image.shape[1] > 300


def test_synthetic_series_from_the_command_line(tmp_path, capsys):
    plot = tmp_path / "s.png"
    assert (
        main(
            [
                "run",
                "lstm",
                "--data",
                "synthetic",
                "--epochs",
                "2",
                "--seeds",
                "1",
                "--plot",
                str(plot),
            ]
        )
        == 0
    )
    assert "synthetic seasonal series" in capsys.readouterr().out
    assert plot.exists()


def test_missing_file_says_where_the_data_comes_from(tmp_path, capsys):
    assert main(["run", "lstm", "--data", str(tmp_path / "nope.csv"), "--plot", ""]) == 2
    err = capsys.readouterr().err
    assert "YYYY-MM-DD" in err and "--data synthetic" in err
