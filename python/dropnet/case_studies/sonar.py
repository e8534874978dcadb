"""Case study: the Sonar rocks-vs-mines MLP under 10-fold cross-validation.

The Keras tutorial's experiment, written as the tutorial writes it: a scikit-learn
Pipeline of StandardScaler and the estimator, scored by cross_val_score over
StratifiedKFold(10, shuffle=True), 300 epochs of batch 16, in three configurations:
the baseline MLP, dropout on the visible (input) layer, and dropout after each hidden
layer, the latter two with MaxNorm(3) kernels and a larger learning rate.
"""

from __future__ import annotations

import time

from dropnet.constraints import MaxNorm
from dropnet.datasets import load_sonar
from dropnet.layers import Dense, Dropout
from dropnet.models import Sequential
from dropnet.optimizers import SGD

NAME = "sonar"
SUMMARY = "Sonar MLP, 10-fold CV: baseline vs visible vs hidden dropout (the Keras tutorial)"

# The tutorial's printed results: mean (std) of fold accuracy, in percent.
TUTORIAL = {"Baseline": (86.04, 4.58), "Visible": (83.52, 7.68), "Hidden": (83.59, 7.31)}


def create_baseline():
    model = Sequential()
    model.add(Dense(60, input_shape=(60,), activation="relu"))
    model.add(Dense(30, activation="relu"))
    model.add(Dense(1, activation="sigmoid"))
    sgd = SGD(learning_rate=0.01, momentum=0.8)
    model.compile(loss="binary_crossentropy", optimizer=sgd, metrics=["accuracy"])
    return model


def create_visible(rate=0.2):
    model = Sequential()
    model.add(Dropout(rate, input_shape=(60,)))
    model.add(Dense(60, activation="relu", kernel_constraint=MaxNorm(3)))
    model.add(Dense(30, activation="relu", kernel_constraint=MaxNorm(3)))
    model.add(Dense(1, activation="sigmoid"))
    sgd = SGD(learning_rate=0.1, momentum=0.9)
    model.compile(loss="binary_crossentropy", optimizer=sgd, metrics=["accuracy"])
    return model


def create_hidden(rate=0.2):
    model = Sequential()
    model.add(Dense(60, input_shape=(60,), activation="relu", kernel_constraint=MaxNorm(3)))
    model.add(Dropout(rate))
    model.add(Dense(30, activation="relu", kernel_constraint=MaxNorm(3)))
    model.add(Dropout(rate))
    model.add(Dense(1, activation="sigmoid"))
    sgd = SGD(learning_rate=0.1, momentum=0.9)
    model.compile(loss="binary_crossentropy", optimizer=sgd, metrics=["accuracy"])
    return model


CONFIGS = {"Baseline": create_baseline, "Visible": create_visible, "Hidden": create_hidden}


def make_pipeline(build, epochs: int = 300, batch_size: int = 16, random_state=None):
    """The tutorial's Pipeline: StandardScaler, then the estimator around ``build``."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from dropnet.wrappers import SequentialClassifier

    estimators = [
        ("standardize", StandardScaler()),
        (
            "mlp",
            SequentialClassifier(
                model=build,
                epochs=epochs,
                batch_size=batch_size,
                verbose=0,
                random_state=random_state,
            ),
        ),
    ]
    return Pipeline(estimators)


def cross_validate(build, X, y, folds: int = 10, epochs: int = 300, seed: int = 7, n_jobs=None):
    """Fold accuracies of the tutorial's pipeline over StratifiedKFold(folds, shuffle=True)."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    kfold = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    pipeline = make_pipeline(build, epochs=epochs, random_state=seed)
    return cross_val_score(pipeline, X, y, cv=kfold, n_jobs=n_jobs)


def run(
    data: str | None = None,
    folds: int = 10,
    epochs: int = 300,
    seed: int = 7,
    n_jobs=None,
    plot: str | None = "sonar.png",
    verbose: bool = True,
) -> dict:
    """Cross-validate the three configurations; returns {name: (fold accuracies, seconds)}."""
    X, y = load_sonar(data)
    # scikit-learn's first imports take a second or two; keep them out of the timings.
    import sklearn.model_selection
    import sklearn.pipeline  # noqa: F401

    import dropnet.wrappers  # noqa: F401

    results = {}
    for name, build in CONFIGS.items():
        start = time.perf_counter()
        scores = cross_validate(build, X, y, folds=folds, epochs=epochs, seed=seed, n_jobs=n_jobs)
        seconds = time.perf_counter() - start
        results[name] = (scores, seconds)
        if verbose:
            ref_mean, ref_std = TUTORIAL[name]
            print(
                f"{name}: {scores.mean() * 100:.2f}% ({scores.std() * 100:.2f}%)   "
                f"tutorial: {ref_mean:.2f}% ({ref_std:.2f}%)   "
                f"[{folds} folds x {epochs} epochs in {seconds:.2f} s]"
            )
    if verbose:
        total = sum(s for _, s in results.values())
        print(
            f"all three configurations: {total:.2f} s (fold accuracy varies with the CV seed; "
            "see --seed)"
        )
    if plot:
        from dropnet.plotting import plot_fold_scores

        path = plot_fold_scores(
            {k: v[0] for k, v in results.items()},
            plot,
            reference={k: v[0] / 100 for k, v in TUTORIAL.items()},
            title=f"Sonar: {folds}-fold CV accuracy, {epochs} epochs",
            reference_label="tutorial (mean)",
        )
        if verbose:
            print(f"figure written to {path}")
    return results


def add_cv_arguments(parser, plot: str, jobs_default, jobs_help: str) -> None:
    """The options every Sonar study takes: data, folds, epochs, seed, jobs and plot."""
    parser.add_argument(
        "--data", default=None, help="a UCI Sonar CSV (default: the copy bundled with dropnet)"
    )
    parser.add_argument("--folds", type=int, default=10, help="cross-validation folds (default 10)")
    parser.add_argument(
        "--epochs", type=int, default=300, help="training epochs per fit (default 300)"
    )
    parser.add_argument("--seed", type=int, default=7, help="CV shuffle and model seed (default 7)")
    parser.add_argument("--jobs", type=int, default=jobs_default, help=jobs_help)
    parser.add_argument("--plot", default=plot, help=f"figure path (default {plot}; '' for none)")


def check_cv_arguments(args) -> None:
    if args.folds < 2:
        raise ValueError(f"--folds: expected at least 2, received {args.folds}")
    if args.epochs < 1:
        raise ValueError(f"--epochs: expected at least 1, received {args.epochs}")


def add_arguments(parser) -> None:
    add_cv_arguments(
        parser, "sonar.png", None, "folds fitted in parallel processes (joblib n_jobs; default 1)"
    )


def main(args) -> None:
    check_cv_arguments(args)
    run(
        data=args.data,
        folds=args.folds,
        epochs=args.epochs,
        seed=args.seed,
        n_jobs=args.jobs,
        plot=args.plot or None,
    )
