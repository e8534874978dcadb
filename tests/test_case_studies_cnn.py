"""The digits CNN case study (shortened): three variants, their results and the figure."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pytest

from dropnet.__main__ import main
from dropnet.case_studies import cnn_digits


def test_split_is_stratified_and_scaled():
    xtr, xte, ytr, _ = cnn_digits.load_split(300)
    assert xtr.shape == (300, 8, 8, 1) and xte.shape == (1497, 8, 8, 1)
    assert xtr.dtype == np.float32 and 0.0 <= xtr.min() and xtr.max() <= 1.0
    assert np.all(np.bincount(ytr, minlength=10) >= 29)


@pytest.mark.slow
def test_three_variants(tmp_path, capsys):
    plot = tmp_path / "cnn.png"
    res = cnn_digits.run(epochs=12, seeds=2, seed=5, n_train=200, plot=str(plot))
    assert list(res) == list(cnn_digits.VARIANTS)
    for r in res.values():
        assert r["test"].shape == (2,)
        assert r["test"].mean() > 0.75  # chance is 0.1
        assert len(r["history"]["val_accuracy"]) == 12
    # without dropout the network fits its 200 images at least as well as with it
    assert res["no dropout"]["train"].mean() >= res["spatial dropout"]["train"].mean() - 0.02
    assert len({float(r["test"].mean()) for r in res.values()}) == 3
    assert "element-wise dropout" in capsys.readouterr().out
    image = matplotlib.image.imread(plot)
    assert image.ndim == 3 and image.shape[1] > 300


def test_command_line(tmp_path):
    plot = tmp_path / "c.png"
    assert (
        main(["run", "cnn", "--epochs", "2", "--seeds", "1", "--train", "100", "--plot", str(plot)])
        == 0
    )
    assert plot.exists()
    assert main(["run", "cnn", "--epochs", "0"]) == 2
