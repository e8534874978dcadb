"""Case study (tutorial extension): repeated evaluation of the overfit and dropout models.

The tutorial's third suggested extension: one run says little when 70 test points
decide the score, so both models are trained N times from different seeds, and the
spread of test accuracy is summarised in a table and a box plot.
"""

from __future__ import annotations

import numpy as np

from dropnet.case_studies.circles import (
    EPOCHS,
    add_common_arguments,
    check_positive,
    repeat_seeds,
    train_eval,
)

NAME = "circles-repeats"
SUMMARY = "two-circles MLP: overfit vs Dropout(0.4) repeated N times, summary table and box plot"
MODELS = {"overfit": {}, "dropout 0.4": {"dropout_rate": 0.4}}


def run(
    repeats: int = 30,
    epochs: int = EPOCHS,
    seed: int = 1,
    plot: str | None = "circles-repeats.png",
    verbose: bool = True,
) -> dict:
    """Returns {model: {"train": array, "test": array}} of per-repeat accuracies."""
    check_positive(repeats, "repeats")
    seeds = repeat_seeds(seed, repeats)
    results = {}
    for name, kwargs in MODELS.items():
        runs = [train_eval(s, epochs, **kwargs) for s in seeds]
        results[name] = {
            "train": np.array([r[0] for r in runs]),
            "test": np.array([r[1] for r in runs]),
        }
    if verbose:
        print(f"{repeats} runs of {epochs} epochs per model, seeds {seeds[0]}..{seeds[-1]}")
        print(f"{'model':>12}  {'split':>5}  {'mean':>6}  {'std':>6}  {'min':>6}  {'max':>6}")
        for name, accs in results.items():
            for split in ("train", "test"):
                a = accs[split]
                print(
                    f"{name:>12}  {split:>5}  {a.mean():6.3f}  {a.std():6.3f}  {a.min():6.3f}  {a.max():6.3f}"
                )
        gain = results["dropout 0.4"]["test"] - results["overfit"]["test"]
        print(
            f"dropout's test-accuracy gain over the same seeds: {gain.mean():+.3f} "
            f"(better in {int(np.sum(gain > 0))}, worse in {int(np.sum(gain < 0))} of {repeats})"
        )
    if plot:
        from dropnet.plotting import plot_fold_scores

        path = plot_fold_scores(
            {k: v["test"] for k, v in results.items()},
            plot,
            reference={"overfit": 0.757, "dropout 0.4": 0.814},
            title=f"Two circles: test accuracy over {repeats} seeds",
            reference_label="tutorial (one run)",
        )
        if verbose:
            print(f"figure written to {path}")
    return results


def add_arguments(parser) -> None:
    parser.add_argument("--repeats", type=int, default=30, help="runs per model (default 30)")
    add_common_arguments(parser, "circles-repeats.png")


def main(args) -> None:
    check_positive(args.epochs, "--epochs")
    run(repeats=args.repeats, epochs=args.epochs, seed=args.seed, plot=args.plot or None)
