"""The text case study (shortened): the split and tokenization of the bundled sentences,
every configuration trained and reported per site and pooled with its figure, the two
dropout layers' masks on the study's own model, and the missing-folder message."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pytest

import dropnet
from dropnet.__main__ import main
from dropnet.case_studies import text
from dropnet.layers import Dropout, SpatialDropout1D
from dropnet.models import Model


@pytest.fixture(scope="module")
def data():
    return text.prepare()


def test_split_is_stratified_and_tokenized_on_the_training_sentences(data):
    tr, te = data["train"], data["test"]
    assert tr["x"].shape == (2400, text.MAXLEN) and te["x"].shape == (600, text.MAXLEN)
    for site in text.SOURCES:
        here = te["source"] == site
        assert here.sum() == 200 and te["y"][here].sum() == 100
    assert tr["x"].max() == text.NUM_WORDS - 1 and tr["x"].min() == 0
    assert data["vocabulary"] == 4615  # distinct words of the 2,400 training sentences
    # pre-padding: a short sentence's ids sit at the end, zeros before them
    lengths = (tr["x"] > 0).sum(axis=1)
    short = int(np.argmin(lengths))
    assert not tr["x"][short, : text.MAXLEN - lengths[short]].any()
    assert tr["bow"].shape == (2400, text.NUM_WORDS) and set(np.unique(tr["bow"])) == {0, 1}


def test_spatial_dropout_drops_whole_embedding_features_of_a_sentence(data):
    dropnet.set_random_seed(5)
    x = data["test"]["x"][:200]
    for variant, layer_type in ((text.VARIANTS[2], SpatialDropout1D), (text.VARIANTS[1], Dropout)):
        model = text.build_model(variant)
        assert isinstance(model.layers[1], layer_type)
        upto_dropout = Model(model.inputs, model.layers[1].output)
        plain = upto_dropout(x)
        noisy = upto_dropout(x, training=True)
        assert noisy.shape == (200, text.MAXLEN, text.EMBED_DIM)
        dropped = noisy == 0
        kept = ~dropped
        np.testing.assert_allclose(noisy[kept], plain[kept] / (1 - text.RATE), rtol=1e-6)
        assert 0.4 < dropped.mean() < 0.6
        whole = dropped.all(axis=1) | kept.all(axis=1)  # (sentence, feature): every step alike
        if layer_type is SpatialDropout1D:
            assert whole.all()
            # and different features, and sentences, get different masks
            assert 0.4 < dropped.all(axis=1).mean() < 0.6
            assert len({row.tobytes() for row in dropped[:, 0, :]}) > 100
        else:
            assert not whole.any()  # element-wise: no feature is dropped at all 40 steps


@pytest.mark.slow
def test_every_configuration_is_trained_and_reported_per_site(tmp_path, capsys):
    plot = tmp_path / "text.png"
    res = text.run(epochs=2, seeds=1, seed=2, plot=str(plot))
    assert list(res) == [*text.VARIANTS, text.BAG_OF_WORDS]
    for r in res.values():
        assert set(r["test"]) == {"amazon", "imdb", "yelp", "pooled"}
        for acc in r["test"].values():
            assert acc.shape == (1,) and 0.55 < acc[0] <= 1.0  # better than chance already
        pooled = np.mean([r["test"][s][0] for s in text.SOURCES])  # 200 test sentences each
        assert r["test"]["pooled"][0] == pytest.approx(pooled)
        assert len(r["history"]["val_accuracy"]) == 2
    # the configurations are different models, not one model four times
    assert len({round(float(r["test"]["pooled"][0]), 6) for r in res.values()}) >= 4
    out = capsys.readouterr().out
    for needle in (*text.VARIANTS, "pooled", "amazon", "imdb", "yelp", "How they differ"):
        assert needle in out
    image = matplotlib.image.imread(plot)
    assert image.ndim == 3 and image.shape[0] > 400 and image.shape[1] > 800  # 2 x 2 panels


def test_missing_folder_says_where_the_data_comes_from(tmp_path, capsys):
    assert main(["run", "text", "--data", str(tmp_path / "nope"), "--plot", ""]) == 2
    err = capsys.readouterr().err
    assert "amazon_cells_labelled.txt" in err and "Sentiment Labelled Sentences" in err
