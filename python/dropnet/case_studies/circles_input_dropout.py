"""Case study (tutorial extension): dropout on the input layer of the two-circles MLP.

The tutorial's first suggested extension, at the input rate Srivastava et al. suggest
(0.2, against 0.5 for hidden units). Compares the plain MLP, input dropout alone, and
input dropout with the tutorial's Dropout(0.4) after the hidden layer, from the same seed.

What it shows: on this problem input dropout hurts. The class is decided by the radius
x² + y², and a dropped coordinate (the other scaled by 1/0.8) moves a point to another
radius, so the training targets become noise: train accuracy falls to about 0.67 and
test accuracy to chance. (PyTorch with the same model and rate gives the same.)
"""

from __future__ import annotations

from dropnet.case_studies.circles import EPOCHS, add_common_arguments, check_positive, compare

NAME = "circles-input-dropout"
SUMMARY = "two-circles MLP: Dropout on the inputs vs none (tutorial extension), with a plot"


def run(
    rate: float = 0.2,
    epochs: int = EPOCHS,
    seed: int = 1,
    plot: str | None = "circles-input-dropout.png",
    verbose: bool = True,
) -> dict:
    """Returns {variant: (train acc, test acc, seconds, history)}."""
    if not 0.0 < rate < 1.0:
        raise ValueError(f"rate: expected a value in (0, 1), received {rate}")
    variants = {
        "no dropout": {},
        f"input dropout {rate:g}": {"input_rate": rate},
        f"input {rate:g} + hidden 0.4": {"input_rate": rate, "dropout_rate": 0.4},
    }
    return compare(
        variants, epochs, seed, plot, f"Two circles: Dropout({rate:g}) on the inputs", verbose
    )


def add_arguments(parser) -> None:
    parser.add_argument("--rate", type=float, default=0.2, help="input dropout rate (default 0.2)")
    add_common_arguments(parser, "circles-input-dropout.png")


def main(args) -> None:
    check_positive(args.epochs, "--epochs")
    run(rate=args.rate, epochs=args.epochs, seed=args.seed, plot=args.plot or None)
