"""The Sonar case studies on the bundled UCI data (shortened epochs): the tutorial's three
configurations under cross-validation and the GridSearchCV dropout-rate curve."""

from __future__ import annotations

import shutil

import matplotlib.image
import numpy as np
import pytest

from dropnet.__main__ import main
from dropnet.case_studies import sonar, sonar_rate_grid
from dropnet.datasets import SONAR_FILE


def _is_png(path) -> bool:
    image = matplotlib.image.imread(path)
    return image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


@pytest.mark.slow
def test_sonar_study_runs_three_configurations(tmp_path, capsys):
    plot = tmp_path / "sonar.png"
    results = sonar.run(folds=4, epochs=40, seed=1, plot=str(plot))
    assert list(results) == ["Baseline", "Visible", "Hidden"]
    for scores, seconds in results.values():
        assert scores.shape == (4,) and seconds > 0
        assert 0.6 < scores.mean() <= 1.0  # chance is 0.53
    out = capsys.readouterr().out
    assert "Baseline: " in out and "tutorial: 86.04% (4.58%)" in out
    assert _is_png(plot)
    again = sonar.run(folds=4, epochs=40, seed=1, plot=None, verbose=False)
    for name in results:
        assert np.array_equal(results[name][0], again[name][0])


@pytest.mark.slow
def test_sonar_rate_grid_study(tmp_path):
    plot = tmp_path / "grid.png"
    res = sonar_rate_grid.run(
        rates=[0.5, 0.0, 0.2],
        folds=3,
        epochs=10,
        seed=0,
        n_jobs=1,
        plot=str(plot),
        verbose=False,
    )
    assert list(res["rates"]) == [0.0, 0.2, 0.5]
    assert res["mean"].shape == (3,) and np.all((res["mean"] > 0) & (res["mean"] <= 1))
    assert np.all(res["std"] >= 0) and res["best_rate"] in (0.0, 0.2, 0.5)
    assert _is_png(plot)
    with pytest.raises(ValueError, match=r"rates: expected values in \[0, 1\)"):
        sonar_rate_grid.run(rates=[1.0], plot=None, verbose=False)


def test_cli_runs_sonar_with_no_data_flag_and_explains_missing_data(tmp_path, capsys):
    assert main(["run", "sonar", "--folds", "2", "--epochs", "2", "--plot", ""]) == 0
    assert "Hidden: " in capsys.readouterr().out
    own = tmp_path / "own.csv"  # a user's own file in the same layout
    shutil.copyfile(SONAR_FILE, own)
    assert (
        main(["run", "sonar", "--data", str(own), "--folds", "2", "--epochs", "2", "--plot", ""])
        == 0
    )
    assert main(["run", "sonar", "--data", str(tmp_path / "nope.csv")]) == 2
    err = capsys.readouterr().err
    assert "Connectionist Bench (Sonar, Mines vs. Rocks)" in err and "R (rock) or M (mine)" in err
    assert main(["run", "sonar-rate-grid", "--folds", "1"]) == 2
    assert "--folds: expected at least 2" in capsys.readouterr().err
