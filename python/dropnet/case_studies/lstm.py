"""Case study: dropout in an LSTM forecaster of daily minimum temperatures.

The first Keras tutorial's recurrent example uses LSTM(32, dropout=0.5,
recurrent_dropout=0.5); readers keep asking how that differs from a Dropout layer after
the LSTM. Here the three are trained on the same task, one-step-ahead forecasting of the
daily minimum temperature from the previous 30 days, on the series that ships with dropnet
(Seattle, 2012-2015, NOAA; ``--data`` reads another file of the same layout, such as the
tutorials' Melbourne series):

* no dropout: LSTM(32) -> Dense(1);
* Dropout(0.5) after the LSTM: the LSTM's final output is masked, the recurrence is not;
* LSTM(32, dropout=0.5, recurrent_dropout=0.5): variational dropout (Gal & Ghahramani
  2016), one mask per sequence on the inputs and on the recurrent state, reused at every
  time step, so the recurrence itself is regularized.

Windows are scaled with the training part's statistics; the split is chronological (the
last 20% of windows are the test set). Test RMSE is in °C, averaged over seeds, beside the
persistence forecast (tomorrow = today); the figure shows the mean learning curves.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

import dropnet
from dropnet.case_studies.circles import check_positive, repeat_seeds
from dropnet.datasets import load_daily_min_temperatures, synthetic_temperatures
from dropnet.layers import LSTM, Dense, Dropout, Input, Layer
from dropnet.models import Sequential

NAME = "lstm"
SUMMARY = (
    "LSTM temperature forecaster: no dropout vs Dropout after the LSTM vs "
    "dropout/recurrent_dropout inside it, test RMSE and learning curves"
)
WINDOW = 30
TEST_FRACTION = 0.2
VARIANTS = ("no dropout", "Dropout(0.5) after LSTM", "LSTM(dropout=0.5, recurrent_dropout=0.5)")
EXPLANATION = (
    "Why they differ: Dropout after the LSTM masks its final output once per example and "
    "leaves the recurrence untouched, while dropout=/recurrent_dropout= mask the inputs and "
    "the hidden state inside the recurrence with the same mask at every time step, so the "
    "noise acts on the state that carries information across all 30 steps."
)


def build_model(variant: str, units: int = 32) -> Sequential:
    layers: list[Layer]
    if variant == VARIANTS[2]:
        layers = [LSTM(units, dropout=0.5, recurrent_dropout=0.5)]
    elif variant == VARIANTS[1]:
        layers = [LSTM(units), Dropout(0.5)]
    else:
        layers = [LSTM(units)]
    model = Sequential([Input((WINDOW, 1)), *layers, Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    return model


def load_series(data: str | None) -> np.ndarray:
    """The bundled series for None, a generated one for "synthetic", else the file at ``data``."""
    return synthetic_temperatures() if data == "synthetic" else load_daily_min_temperatures(data)


def make_windows(series: np.ndarray, window: int = WINDOW, test_fraction: float = TEST_FRACTION):
    """Chronological split of (previous `window` days -> next day), scaled by the training
    part's mean and std: ((x_train, y_train), (x_test, y_test), (mean, std))."""
    if len(series) < window + 10:
        raise ValueError(
            f"expected a series of at least {window + 10} values, received {len(series)}"
        )
    n = len(series) - window
    split = round(n * (1 - test_fraction))
    mean, std = series[: split + window].mean(), series[: split + window].std()
    z = ((series - mean) / std).astype(np.float32)
    idx = np.arange(window)[None, :] + np.arange(n)[:, None]
    x, y = z[idx][:, :, None], z[window:]
    return (x[:split], y[:split]), (x[split:], y[split:]), (float(mean), float(std))


def run(
    data: str | None = None,
    epochs: int = 30,
    seeds: int = 3,
    seed: int = 1,
    plot: str | None = "lstm.png",
    verbose: bool = True,
) -> dict:
    """Returns {variant: {"rmse": array over seeds (°C), "history": mean curves}}."""
    check_positive(epochs, "--epochs")
    check_positive(seeds, "--seeds")
    (xtr, ytr), (xte, yte), (_, std) = make_windows(load_series(data))
    persistence = float(np.sqrt(np.mean((xte[:, -1, 0] - yte) ** 2)) * std)
    results: dict[str, dict[str, Any]] = {}
    for variant in VARIANTS:
        rmses, curves = [], []
        start = time.perf_counter()
        for s in repeat_seeds(seed, seeds):
            dropnet.set_random_seed(s)
            model = build_model(variant)
            hist = model.fit(
                xtr, ytr, validation_data=(xte, yte), epochs=epochs, batch_size=32, verbose=0
            )
            pred = model.predict(xte, verbose=0)[:, 0]
            rmses.append(float(np.sqrt(np.mean((pred - yte) ** 2)) * std))
            curves.append(hist.history)
        seconds = time.perf_counter() - start
        history = {k: list(np.mean([c[k] for c in curves], axis=0)) for k in ("loss", "val_loss")}
        results[variant] = {"rmse": np.array(rmses), "history": history, "seconds": seconds}
    if verbose:
        if data is None:
            source = "Seattle daily minimum temperatures 2012-2015 (bundled)"
        else:
            source = "synthetic seasonal series" if data == "synthetic" else data
        print(
            f"{source}: {len(xtr)} training and {len(xte)} test windows of {WINDOW} days, "
            f"{epochs} epochs, {seeds} seeds"
        )
        width = max(len(v) for v in VARIANTS)
        print(f"{'model':<{width}}  test RMSE °C (mean ± std over seeds)  final train/test loss")
        for variant, r in results.items():
            h = r["history"]
            print(
                f"{variant:<{width}}  {r['rmse'].mean():.3f} ± {r['rmse'].std():.3f}"
                f"{'':19}{h['loss'][-1]:.4f} / {h['val_loss'][-1]:.4f}   ({r['seconds']:.1f} s)"
            )
        print(f"{'persistence (tomorrow = today)':<{width}}  {persistence:.3f}")
        print(EXPLANATION)
    if plot:
        from dropnet.plotting import plot_learning_curves

        path = plot_learning_curves(
            {k: v["history"] for k, v in results.items()},
            plot,
            metric="loss",
            title=f"LSTM(32) forecasting tomorrow's minimum temperature "
            f"(mean of {seeds} seeds; scaled MSE)",
        )
        if verbose:
            print(f"figure written to {path}")
    return results


def add_arguments(parser) -> None:
    parser.add_argument(
        "--data",
        default=None,
        help="a daily temperatures CSV (default: the bundled Seattle series), or 'synthetic'",
    )
    parser.add_argument("--epochs", type=int, default=30, help="training epochs (default 30)")
    parser.add_argument("--seeds", type=int, default=3, help="runs per model (default 3)")
    parser.add_argument(
        "--seed", type=int, default=1, help="first dropnet.set_random_seed value (default 1)"
    )
    parser.add_argument(
        "--plot", default="lstm.png", help="figure path (default lstm.png; '' for none)"
    )


def main(args) -> None:
    run(
        data=args.data, epochs=args.epochs, seeds=args.seeds, seed=args.seed, plot=args.plot or None
    )
