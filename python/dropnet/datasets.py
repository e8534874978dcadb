"""Data sets of the case studies: the two-circles problem and the UCI Sonar table."""

from __future__ import annotations

import os

import numpy as np

SONAR_SOURCE = (
    'the UCI Machine Learning Repository data set "Connectionist Bench (Sonar, Mines vs. Rocks)" '
    "(file sonar.all-data, usually saved as sonar.csv): 208 rows of 60 numbers in [0, 1] followed "
    "by a label R (rock) or M (mine), comma-separated, no header"
)


def load_circles(n_samples: int = 100, noise: float = 0.1, random_state: int = 1, n_train: int = 30):
    """The tutorial's split of scikit-learn's make_circles: first ``n_train`` rows train."""
    from sklearn.datasets import make_circles

    X, y = make_circles(n_samples=n_samples, noise=noise, random_state=random_state)
    return (X[:n_train], y[:n_train]), (X[n_train:], y[n_train:])


def load_sonar(path: str | os.PathLike = "sonar.csv"):
    """(X (208, 60) float, y (208,) int with M=1, R=0) from the UCI Sonar CSV."""
    path = os.fspath(path)
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
                raise ValueError(f"{path}:{lineno}: expected 60 numbers then R or M; {SONAR_SOURCE}")
            try:
                rows.append([float(v) for v in parts[:60]])
            except ValueError:
                raise ValueError(f"{path}:{lineno}: expected 60 numbers then R or M") from None
            labels.append(1 if parts[60] == "M" else 0)
    if not rows:
        raise ValueError(f"{path}: no rows; expected {SONAR_SOURCE}")
    return np.asarray(rows), np.asarray(labels)
