"""The Keras two-circles dropout tutorial, written for Keras 2, run with only its imports
changed: the MLP overfits to Train 1.000, and the Dropout(0.4) variant trains."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import dropnet
from dropnet.layers import Dense, Dropout
from dropnet.models import Sequential

OVERFIT_SCRIPT = textwrap.dedent("""
    # mlp overfit on the two circles dataset
    from sklearn.datasets import make_circles
    from dropnet.layers import Dense
    from dropnet.models import Sequential
    from matplotlib import pyplot
    # generate 2d classification dataset
    X, y = make_circles(n_samples=100, noise=0.1, random_state=1)
    # split into train and test
    n_train = 30
    trainX, testX = X[:n_train, :], X[n_train:, :]
    trainy, testy = y[:n_train], y[n_train:]
    # define model
    model = Sequential()
    model.add(Dense(500, input_dim=2, activation='relu'))
    model.add(Dense(1, activation='sigmoid'))
    model.compile(loss='binary_crossentropy', optimizer='adam', metrics=['accuracy'])
    # fit model
    history = model.fit(trainX, trainy, validation_data=(testX, testy), epochs=4000, verbose=0)
    # evaluate the model
    _, train_acc = model.evaluate(trainX, trainy, verbose=0)
    _, test_acc = model.evaluate(testX, testy, verbose=0)
    print('Train: %.3f, Test: %.3f' % (train_acc, test_acc))
    # plot history
    pyplot.plot(history.history['acc'], label='train')
    pyplot.plot(history.history['val_acc'], label='test')
    pyplot.legend()
    pyplot.show()
""")

DROPOUT_SCRIPT = (
    OVERFIT_SCRIPT.replace(
        "from dropnet.layers import Dense\n",
        "from dropnet.layers import Dense\nfrom dropnet.layers import Dropout\n",
    )
    .replace(
        "model.add(Dense(500, input_dim=2, activation='relu'))\n",
        "model.add(Dense(500, input_dim=2, activation='relu'))\nmodel.add(Dropout(0.4))\n",
    )
    .replace("# mlp overfit", "# mlp with dropout")
)


def run_tutorial(tmp_path, source, name):
    script = tmp_path / name
    script.write_text(source)
    env = {**os.environ, "MPLBACKEND": "Agg"}
    done = subprocess.run(
        [sys.executable, str(script)],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    match = re.search(r"Train: (\d\.\d{3}), Test: (\d\.\d{3})", done.stdout)
    assert match, done.stdout
    return float(match.group(1)), float(match.group(2))


@pytest.mark.slow
def test_tutorial_overfit_model_reaches_train_accuracy_one(tmp_path):
    assert "Dropout" not in OVERFIT_SCRIPT
    train, test = run_tutorial(tmp_path, OVERFIT_SCRIPT, "overfit.py")
    assert train == 1.0
    assert 0.6 <= test < 1.0


@pytest.mark.slow
def test_tutorial_dropout_model_trains(tmp_path):
    assert "model.add(Dropout(0.4))" in DROPOUT_SCRIPT
    train, test = run_tutorial(tmp_path, DROPOUT_SCRIPT, "dropout.py")
    assert train >= 0.9
    assert test >= 0.7


def circles():
    from sklearn.datasets import make_circles

    X, y = make_circles(n_samples=100, noise=0.1, random_state=1)
    return X[:30], y[:30], X[30:], y[30:]


@pytest.mark.parametrize("rate", [None, 0.4])
def test_tutorial_models_learn_and_dropout_regularizes(rate):
    trainX, trainy, testX, testy = circles()
    dropnet.set_random_seed(1)
    model = Sequential()
    model.add(Dense(500, input_dim=2, activation="relu"))
    if rate:
        model.add(Dropout(rate))
    model.add(Dense(1, activation="sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    history = model.fit(trainX, trainy, validation_data=(testX, testy), epochs=4000, verbose=0)
    loss = history.history["loss"]
    assert len(loss) == 4000 and len(history.history["val_acc"]) == 4000
    assert loss[-1] < 0.5 * loss[0]
    if rate is None:
        assert loss[-1] < 0.01  # memorizes the 30 points
        val = history.history["val_loss"]
        assert val[-1] > 1.5 * min(val)  # and overfits: test loss rises after its minimum
    else:
        assert 0.02 < loss[-1] < 0.4  # dropout keeps the training loss from collapsing
    train_acc = model.evaluate(trainX, trainy, verbose=0)[1]
    assert train_acc >= 0.9
    # the last epoch's training-mode accuracy and inference accuracy agree for the plain model
    if rate is None:
        assert history.history["accuracy"][-1] == train_acc == 1.0
    assert np.isfinite(model.predict(testX)).all()
