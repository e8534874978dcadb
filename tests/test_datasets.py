"""The data sets that ship inside the package: where they live, what they hold, their cited
sources and licences, and the loaders' handling of a user's own file or folder."""

from __future__ import annotations

import os

import numpy as np
import pytest

import dropnet
from dropnet import datasets


def test_bundled_files_live_inside_the_installed_package():
    package = os.path.dirname(os.path.abspath(dropnet.__file__))
    sentiment = [os.path.join(datasets.SENTIMENT_DIR, f) for f in datasets.SENTIMENT_FILES.values()]
    sentiment.append(os.path.join(datasets.SENTIMENT_DIR, "README.md"))
    for path in (datasets.SONAR_FILE, datasets.TEMPERATURES_FILE, *sentiment):
        assert os.path.commonpath([package, os.path.abspath(path)]) == package
        assert os.path.isfile(path)


def test_bundled_sonar_is_the_uci_table():
    X, y = datasets.load_sonar()
    assert X.shape == (208, 60) and y.shape == (208,)
    assert np.all((X >= 0) & (X <= 1))
    assert int(y.sum()) == 111 and int((y == 0).sum()) == 97  # 111 mines, 97 rocks


def test_bundled_temperatures_are_four_years_of_days():
    t = datasets.load_daily_min_temperatures()
    assert t.shape == (1461,) and t.dtype == np.float64
    assert -15 < t.min() < 0 and 15 < t.max() < 25  # Seattle minima in °C
    # summer is warmer than winter: July's mean minimum above January's
    assert t[182:213].mean() > t[0:31].mean() + 5


def test_bundled_sentiment_sentences_are_1000_per_site_half_positive():
    texts, labels, sources = datasets.load_sentiment_sentences()
    assert len(texts) == 3000 and labels.shape == (3000,) and sources.shape == (3000,)
    for site in ("amazon", "imdb", "yelp"):
        assert np.sum(sources == site) == 1000 and labels[sources == site].sum() == 500
    assert texts[0].startswith("So there is no way for me to plug it in here in the US")
    assert labels[0] == 0 and labels[1] == 1
    # U+0085 inside an IMDb sentence does not split it
    assert "The script is\x85was there a script?" in texts
    assert all(t and "\t" not in t and "\n" not in t for t in texts)


def test_data_readme_cites_sources_and_licences():
    with open(os.path.join(datasets.DATA_DIR, "README.md"), encoding="utf-8") as f:
        text = f.read()
    for needle in ("sonar.csv", "CC BY 4.0", "10.24432/C5T01Q", "Sejnowski"):
        assert needle in text
    for needle in ("seattle-daily-min-temperatures.csv", "NOAA", "public domain"):
        assert needle in text
    for needle in ("sentiment-labelled-sentences/", "10.24432/C57604", "Kotzias"):
        assert needle in text
    # the citation also travels beside the files themselves, as CC BY 4.0 asks
    with open(os.path.join(datasets.SENTIMENT_DIR, "README.md"), encoding="utf-8") as f:
        beside = f.read()
    for needle in ("10.24432/C57604", "Kotzias", "CC BY 4.0", "unchanged"):
        assert needle in beside


def test_loaders_read_a_users_own_file_in_the_same_layout(tmp_path):
    own = tmp_path / "melbourne-like.csv"
    own.write_text('"Date","Temp"\n"1981-01-01",20.7\n"1981-01-02",17.9\n"1981-01-03",?0.2\n')
    np.testing.assert_array_equal(datasets.load_daily_min_temperatures(own), [20.7, 17.9, 0.2])
    rows = "\n".join(",".join(["0.5"] * 60 + [label]) for label in "MRM")
    (tmp_path / "s.csv").write_text(rows + "\n")
    X, y = datasets.load_sonar(tmp_path / "s.csv")
    assert X.shape == (3, 60) and list(y) == [1, 0, 1]


def test_sentiment_loader_reads_a_folder_of_the_same_layout(tmp_path):
    for name in datasets.SENTIMENT_FILES.values():
        (tmp_path / name).write_text(f"Fine.\t1\nNot {name}!  \t0\n\n", encoding="utf-8")
    texts, labels, sources = datasets.load_sentiment_sentences(tmp_path)
    assert texts[:2] == ["Fine.", "Not amazon_cells_labelled.txt!"]
    assert labels.tolist() == [1, 0] * 3 and sources.tolist()[::2] == ["amazon", "imdb", "yelp"]
    (tmp_path / "yelp_labelled.txt").write_text("no label here\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"yelp_labelled.txt:1: expected a sentence, a tab"):
        datasets.load_sentiment_sentences(tmp_path)
    os.remove(tmp_path / "imdb_labelled.txt")
    with pytest.raises(FileNotFoundError, match="no imdb_labelled.txt.*Sentiment Labelled"):
        datasets.load_sentiment_sentences(tmp_path)


def test_loaders_name_the_expected_layout_for_a_missing_or_bad_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="Connectionist Bench"):
        datasets.load_sonar(tmp_path / "nope.csv")
    with pytest.raises(FileNotFoundError, match="YYYY-MM-DD"):
        datasets.load_daily_min_temperatures(tmp_path / "nope.csv")
    (tmp_path / "bad.csv").write_text("1,2,3\n")
    with pytest.raises(ValueError, match="expected 60 numbers then R or M"):
        datasets.load_sonar(tmp_path / "bad.csv")
