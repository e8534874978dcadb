"""Data sets.

Keras's ``keras.datasets``, read offline from the files Keras downloads (dropnet never
downloads): ``mnist``, ``fashion_mnist``, ``cifar10``, ``imdb``, ``reuters`` and
``boston_housing``, each a module whose ``load_data`` returns what Keras's returns.

The case studies' data: the two-circles problem, the UCI Sonar table, a daily minimum
temperatures series (or a synthetic stand-in for it) and the UCI sentiment-labelled review
sentences. The last three ship with the package (``dropnet/data/``, sources and licences in
its README.md); every loader also reads files of the same format from a path."""

from __future__ import annotations

import os

import numpy as np

from . import boston_housing, cifar10, fashion_mnist, imdb, mnist, reuters

__all__ = [
    "DATA_DIR",
    "SENTIMENT_DIR",
    "SENTIMENT_FILES",
    "SENTIMENT_SOURCE",
    "SONAR_FILE",
    "SONAR_SOURCE",
    "TEMPERATURES_FILE",
    "TEMPERATURES_SOURCE",
    "boston_housing",
    "cifar10",
    "fashion_mnist",
    "imdb",
    "load_circles",
    "load_daily_min_temperatures",
    "load_sentiment_sentences",
    "load_sonar",
    "mnist",
    "reuters",
    "synthetic_temperatures",
]

DATA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")
SONAR_FILE = os.path.join(DATA_DIR, "sonar.csv")
TEMPERATURES_FILE = os.path.join(DATA_DIR, "seattle-daily-min-temperatures.csv")
SENTIMENT_DIR = os.path.join(DATA_DIR, "sentiment-labelled-sentences")
SENTIMENT_FILES = {
    "amazon": "amazon_cells_labelled.txt",
    "imdb": "imdb_labelled.txt",
    "yelp": "yelp_labelled.txt",
}

SONAR_SOURCE = (
    'the UCI Machine Learning Repository data set "Connectionist Bench (Sonar, Mines vs. Rocks)" '
    "(file sonar.all-data, usually saved as sonar.csv): 208 rows of 60 numbers in [0, 1] followed "
    "by a label R (rock) or M (mine), comma-separated, no header"
)


def load_circles(
    n_samples: int = 100, noise: float = 0.1, random_state: int = 1, n_train: int = 30
):
    """The tutorial's split of scikit-learn's make_circles: first ``n_train`` rows train."""
    from sklearn.datasets import make_circles

    X, y = make_circles(n_samples=n_samples, noise=noise, random_state=random_state)
    return (X[:n_train], y[:n_train]), (X[n_train:], y[n_train:])


def load_sonar(path: str | os.PathLike | None = None):
    """(X (208, 60) float, y (208,) int with M=1, R=0) from the UCI Sonar CSV: the bundled
    copy by default, else the file at ``path``."""
    path = SONAR_FILE if path is None else os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Sonar data not found at {path!r}. Expected {SONAR_SOURCE}.")
    rows, labels = [], []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            parts = line.split(",")
            if len(parts) != 61 or parts[60] not in ("R", "M"):
                raise ValueError(
                    f"{path}:{lineno}: expected 60 numbers then R or M; {SONAR_SOURCE}"
                )
            try:
                rows.append([float(v) for v in parts[:60]])
            except ValueError:
                raise ValueError(f"{path}:{lineno}: expected 60 numbers then R or M") from None
            labels.append(1 if parts[60] == "M" else 0)
    if not rows:
        raise ValueError(f"{path}: no rows; expected {SONAR_SOURCE}")
    return np.asarray(rows), np.asarray(labels)


TEMPERATURES_SOURCE = (
    "a daily temperature CSV: a header line, then one row per day, "
    '"YYYY-MM-DD",temperature in chronological order (the layout of the bundled Seattle '
    "series and of the Melbourne daily-min-temperatures.csv)"
)


def load_daily_min_temperatures(path: str | os.PathLike | None = None) -> np.ndarray:
    """The temperatures (float64, in °C, chronological) of a daily-minimum-temperatures CSV:
    by default the bundled Seattle series (NOAA, 2012-2015, 1,461 days), else ``path``."""
    path = TEMPERATURES_FILE if path is None else os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"temperature data not found at {path!r}. Expected {TEMPERATURES_SOURCE}; "
            "or pass --data synthetic for a generated series."
        )
    values = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or (lineno == 1 and not line[:1].isdigit() and not line.startswith('"1')):
                continue  # blank lines and the header
            parts = line.rsplit(",", 1)
            try:
                values.append(float(parts[-1].strip().strip('"').lstrip("?")))
            except (ValueError, IndexError):
                raise ValueError(
                    f"{path}:{lineno}: expected a date and a temperature; {TEMPERATURES_SOURCE}"
                ) from None
    if len(values) < 2:
        raise ValueError(f"{path}: too few rows; expected {TEMPERATURES_SOURCE}")
    return np.asarray(values)


SENTIMENT_SOURCE = (
    'the UCI Machine Learning Repository data set "Sentiment Labelled Sentences" '
    "(https://doi.org/10.24432/C57604): a folder holding "
    + ", ".join(SENTIMENT_FILES.values())
    + ", each one sentence per line, a tab, then the label 0 or 1"
)


def load_sentiment_sentences(path: str | os.PathLike | None = None):
    """(texts, labels, sources) of the UCI Sentiment Labelled Sentences: 3,000 review
    sentences (list of str), their labels (int64 array, 1 positive, 0 negative) and the site
    each comes from ("amazon", "imdb" or "yelp", an array of str), in file order. Reads the
    bundled copy by default, else the folder ``path`` holding the three files."""
    folder = SENTIMENT_DIR if path is None else os.fspath(path)
    texts: list[str] = []
    labels: list[int] = []
    sources: list[str] = []
    for source, name in SENTIMENT_FILES.items():
        file = os.path.join(folder, name)
        if not os.path.isfile(file):
            raise FileNotFoundError(
                f"sentiment data not found: no {name} in {folder!r}. Expected {SENTIMENT_SOURCE}."
            )
        # Read line by line (the file object splits at "\n" only): a few IMDb sentences hold
        # U+0085, which str.splitlines() would take for a line break.
        with open(file, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                text, tab, label = line.rstrip("\r\n").rpartition("\t")
                if not tab or label.strip() not in ("0", "1"):
                    raise ValueError(
                        f"{file}:{lineno}: expected a sentence, a tab, then 0 or 1; "
                        f"{SENTIMENT_SOURCE}"
                    )
                texts.append(text.strip())
                labels.append(int(label))
                sources.append(source)
    return texts, np.asarray(labels, dtype=np.int64), np.asarray(sources)


def synthetic_temperatures(days: int = 3650, seed: int = 0) -> np.ndarray:
    """A noisy seasonal series shaped like the daily minimum temperatures: a yearly cycle
    around 11 °C with amplitude 4 °C, day-to-day persistence (AR(1), 0.7) and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(days)
    season = 11.0 + 4.0 * np.cos(2 * np.pi * (t - 15) / 365.25)
    noise = np.empty(days)
    noise[0] = 0.0
    shocks = rng.normal(0.0, 2.2, days)
    for i in range(1, days):
        noise[i] = 0.7 * noise[i - 1] + shocks[i]
    return season + noise
