"""Case study: Sonar cross-validated accuracy against the dropout rate.

The tutorial's "hidden" configuration (Dropout after each hidden layer, MaxNorm(3)
kernels, SGD 0.1/0.9) with its rate searched by scikit-learn's GridSearchCV over
``mlp__model__rate`` (the pipeline step ``mlp``, routed to the build function's ``rate``),
folds fitted in parallel processes. Plots mean ± std of fold accuracy per rate.
"""

from __future__ import annotations

import time

import numpy as np

from dropnet.case_studies import DEFAULT_RATES, check_rates
from dropnet.case_studies.sonar import (
    add_cv_arguments,
    check_cv_arguments,
    create_hidden,
    make_pipeline,
)
from dropnet.datasets import load_sonar

NAME = "sonar-rate-grid"
SUMMARY = "Sonar MLP: 10-fold CV accuracy vs dropout rate 0.0-0.9 via GridSearchCV, with a plot"


def run(
    data: str | None = None,
    rates=DEFAULT_RATES,
    folds: int = 10,
    epochs: int = 300,
    seed: int = 7,
    n_jobs=-1,
    plot: str | None = "sonar-rate-grid.png",
    verbose: bool = True,
) -> dict:
    """Grid-search the rate; returns {"rates", "mean", "std", "best_rate", "seconds"}."""
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    X, y = load_sonar(data)
    rates = check_rates(rates)
    search = GridSearchCV(
        make_pipeline(create_hidden, epochs=epochs, random_state=seed),
        param_grid={"mlp__model__rate": rates},
        cv=StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed),
        n_jobs=n_jobs,
    )
    start = time.perf_counter()
    search.fit(X, y)
    seconds = time.perf_counter() - start
    res = search.cv_results_
    order = np.argsort(np.asarray(res["param_mlp__model__rate"], dtype=float))
    out_rates = np.asarray(res["param_mlp__model__rate"], dtype=float)[order]
    mean = np.asarray(res["mean_test_score"])[order]
    std = np.asarray(res["std_test_score"])[order]
    best = float(search.best_params_["mlp__model__rate"])
    if verbose:
        print(f"{'rate':>5}  {'accuracy':>17}")
        for r, m, s in zip(out_rates, mean, std):
            print(f"{r:5.1f}  {m * 100:7.2f}% ({s * 100:5.2f}%){'  <- best' if r == best else ''}")
        print(
            f"{len(rates)} rates x {folds} folds x {epochs} epochs in {seconds:.2f} s "
            f"(n_jobs={n_jobs})"
        )
    result = {"rates": out_rates, "mean": mean, "std": std, "best_rate": best, "seconds": seconds}
    if plot:
        from dropnet.plotting import plot_rate_curve

        path = plot_rate_curve(
            out_rates,
            mean,
            std,
            plot,
            title=f"Sonar: {folds}-fold CV accuracy vs dropout rate (hidden layers)",
            ylabel="cross-validated accuracy",
        )
        if verbose:
            print(f"figure written to {path}")
    return result


def add_arguments(parser) -> None:
    add_cv_arguments(
        parser,
        "sonar-rate-grid.png",
        -1,
        "GridSearchCV n_jobs: fits in parallel processes (default -1, all cores)",
    )
    parser.add_argument(
        "--rates",
        type=float,
        nargs="+",
        default=list(DEFAULT_RATES),
        help="dropout rates to try (default 0.0 0.1 ... 0.9)",
    )


def main(args) -> None:
    check_cv_arguments(args)
    run(
        data=args.data,
        rates=args.rates,
        folds=args.folds,
        epochs=args.epochs,
        seed=args.seed,
        n_jobs=args.jobs,
        plot=args.plot or None,
    )
