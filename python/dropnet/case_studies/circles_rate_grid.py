"""Case study (tutorial extension): test accuracy against the dropout rate.

The tutorial's fourth suggested extension: a grid of rates for the Dropout layer after
the hidden layer, each trained from several seeds, reporting mean ± std test accuracy
per rate (rate 0 is the overfit model: a Dropout of rate 0 is the identity).
"""

from __future__ import annotations

import numpy as np

from dropnet.case_studies import DEFAULT_RATES, check_rates
from dropnet.case_studies.circles import (
    EPOCHS,
    add_common_arguments,
    check_positive,
    repeat_seeds,
    train_eval,
)

NAME = "circles-rate-grid"
SUMMARY = "two-circles MLP: test accuracy vs dropout rate 0.0-0.9 over repeats, with error bars"


def run(
    rates=DEFAULT_RATES,
    repeats: int = 10,
    epochs: int = EPOCHS,
    seed: int = 1,
    plot: str | None = "circles-rate-grid.png",
    verbose: bool = True,
) -> dict:
    """Returns {"rates", "mean", "std", "test": (rates × repeats) accuracies}."""
    check_positive(repeats, "repeats")
    rates = check_rates(rates)
    seeds = repeat_seeds(seed, repeats)
    test = np.array([[train_eval(s, epochs, dropout_rate=r)[1] for s in seeds] for r in rates])
    mean, std = test.mean(axis=1), test.std(axis=1)
    if verbose:
        print(f"{'rate':>5}  test accuracy over {repeats} seeds ({epochs} epochs)")
        for r, m, s in zip(rates, mean, std):
            print(f"{r:5.1f}  {m:.3f} ± {s:.3f}")
    result = {"rates": np.array(rates), "mean": mean, "std": std, "test": test}
    if plot:
        from dropnet.plotting import plot_rate_curve

        path = plot_rate_curve(
            rates,
            mean,
            std,
            plot,
            title=f"Two circles: test accuracy vs dropout rate ({repeats} seeds)",
        )
        if verbose:
            print(f"figure written to {path}")
    return result


def add_arguments(parser) -> None:
    parser.add_argument(
        "--rates",
        type=float,
        nargs="+",
        default=list(DEFAULT_RATES),
        help="dropout rates (default 0.0 0.1 ... 0.9)",
    )
    parser.add_argument("--repeats", type=int, default=10, help="seeds per rate (default 10)")
    add_common_arguments(parser, "circles-rate-grid.png")


def main(args) -> None:
    check_positive(args.epochs, "--epochs")
    run(
        rates=args.rates,
        repeats=args.repeats,
        epochs=args.epochs,
        seed=args.seed,
        plot=args.plot or None,
    )
