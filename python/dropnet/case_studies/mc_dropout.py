"""Case study: Monte-Carlo dropout uncertainty on the two-circles model.

Keeping dropout on at prediction time and averaging many stochastic passes (Gal and
Ghahramani, 2016) turns the tutorial's Dropout(0.4) model into an approximate Bayesian
one: the mean is a smoothed prediction and the standard deviation across passes says
where the model is unsure. ``Sequential.predict_mc`` runs the passes; this study maps
both over the plane and checks the MC-averaged accuracy against the deterministic one.
"""

from __future__ import annotations

import numpy as np

from dropnet.case_studies.circles import EPOCHS, add_common_arguments, check_positive, train_eval
from dropnet.datasets import load_circles

NAME = "mc-dropout"
SUMMARY = (
    "two-circles Dropout(0.4) model: Monte-Carlo dropout mean and uncertainty maps, with a plot"
)


def run(
    samples: int = 100,
    rate: float = 0.4,
    epochs: int = EPOCHS,
    seed: int = 1,
    grid: int = 121,
    plot: str | None = "mc-dropout.png",
    verbose: bool = True,
) -> dict:
    """Returns {"deterministic_acc", "mc_acc", "std_correct", "std_wrong", "xx", "yy",
    "mean", "std"} (the last four over the plotted grid)."""
    check_positive(samples, "samples")
    check_positive(grid, "grid")
    if not 0.0 < rate < 1.0:
        raise ValueError(f"rate: expected a value in (0, 1), received {rate}")
    (trainX, trainy), (testX, testy) = load_circles()
    _, det_acc, seconds, _, model = train_eval(seed, epochs, dropout_rate=rate)
    mean_test, std_test = model.predict_mc(testX, n=samples)
    mc_pred = (mean_test[:, 0] > 0.5).astype(int)
    mc_acc = float(np.mean(mc_pred == testy))
    correct = mc_pred == testy
    std_correct = float(std_test[correct, 0].mean()) if correct.any() else float("nan")
    std_wrong = float(std_test[~correct, 0].mean()) if (~correct).any() else float("nan")

    both = np.vstack([trainX, testX])
    lo, hi = both.min(axis=0) - 0.4, both.max(axis=0) + 0.4
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], grid), np.linspace(lo[1], hi[1], grid))
    mean, std = model.predict_mc(np.column_stack([xx.ravel(), yy.ravel()]), n=samples)
    mean, std = mean[:, 0].reshape(xx.shape), std[:, 0].reshape(xx.shape)
    if verbose:
        print(f"Dropout({rate:g}) model, {epochs} epochs in {seconds:.2f} s; {samples} MC passes")
        print(f"test accuracy: deterministic {det_acc:.3f}, MC-averaged {mc_acc:.3f}")
        print(
            f"mean MC std on test points: correct {std_correct:.3f}, misclassified {std_wrong:.3f}"
        )
    result = {
        "deterministic_acc": float(det_acc),
        "mc_acc": mc_acc,
        "std_correct": std_correct,
        "std_wrong": std_wrong,
        "xx": xx,
        "yy": yy,
        "mean": mean,
        "std": std,
    }
    if plot:
        from dropnet.plotting import plot_mc_uncertainty

        path = plot_mc_uncertainty(
            xx,
            yy,
            mean,
            std,
            (trainX, trainy),
            (testX, testy),
            plot,
            title=f"Two circles, Dropout({rate:g}): {samples} Monte-Carlo dropout passes",
        )
        if verbose:
            print(f"figure written to {path}")
    return result


def add_arguments(parser) -> None:
    parser.add_argument("--samples", type=int, default=100, help="stochastic passes (default 100)")
    parser.add_argument("--rate", type=float, default=0.4, help="dropout rate (default 0.4)")
    add_common_arguments(parser, "mc-dropout.png")


def main(args) -> None:
    check_positive(args.epochs, "--epochs")
    run(
        samples=args.samples,
        rate=args.rate,
        epochs=args.epochs,
        seed=args.seed,
        plot=args.plot or None,
    )
