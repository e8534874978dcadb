"""Case study (tutorial extension): a max-norm constraint on the hidden layer.

The tutorial's second suggested extension. MaxNorm caps the norm of each hidden unit's
incoming weight vector after every update, the companion Srivastava et al. recommend for
dropout (it lets larger learning rates run without weights blowing up). Four models from
the same seed: plain, MaxNorm alone, Dropout(0.4) alone, and both.
"""

from __future__ import annotations

from dropnet.case_studies.circles import EPOCHS, add_common_arguments, check_positive, compare

NAME = "circles-maxnorm"
SUMMARY = "two-circles MLP: MaxNorm on the hidden layer, with and without dropout, with a plot"


def run(
    max_norm: float = 3.0,
    epochs: int = EPOCHS,
    seed: int = 1,
    plot: str | None = "circles-maxnorm.png",
    verbose: bool = True,
) -> dict:
    """Returns {variant: (train acc, test acc, seconds, history)}."""
    if not max_norm > 0:
        raise ValueError(f"max_norm: expected a positive value, received {max_norm}")
    variants = {
        "plain": {},
        f"MaxNorm({max_norm:g})": {"max_norm": max_norm},
        "Dropout(0.4)": {"dropout_rate": 0.4},
        f"MaxNorm({max_norm:g}) + Dropout(0.4)": {"max_norm": max_norm, "dropout_rate": 0.4},
    }
    return compare(
        variants,
        epochs,
        seed,
        plot,
        f"Two circles: MaxNorm({max_norm:g}) on the hidden layer",
        verbose,
    )


def add_arguments(parser) -> None:
    parser.add_argument("--max-norm", type=float, default=3.0, help="MaxNorm max_value (default 3)")
    add_common_arguments(parser, "circles-maxnorm.png")


def main(args) -> None:
    check_positive(args.epochs, "--epochs")
    run(max_norm=args.max_norm, epochs=args.epochs, seed=args.seed, plot=args.plot or None)
