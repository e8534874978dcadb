"""Case study: spatial dropout in a small CNN on scikit-learn's handwritten digits.

The first tutorial applies dropout after convolution and pooling layers and introduces
SpatialDropout2D (Tompson et al. 2015): neighbouring pixels of a feature map are strongly
correlated, so dropping single activations barely regularizes; dropping whole feature maps
does. The digits (8×8 grey images, 10 classes, shipped with scikit-learn) are trained on a
small stratified split (300 images) so the network can overfit, in three variants:

* spatial dropout: Conv2D(32, 3, same, relu) → Conv2D(32, 3, same, relu) → MaxPooling2D →
  SpatialDropout2D(0.2) → Flatten → Dense(64, relu) → Dropout(0.5) → Dense(10, softmax);
* no dropout: the same without either dropout layer;
* element-wise dropout: Dropout(0.2) in place of SpatialDropout2D.

Test accuracy is averaged over seeds; the figure shows the mean learning curves.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

import dropnet
from dropnet.case_studies.circles import check_positive, repeat_seeds
from dropnet.layers import Conv2D, Dense, Dropout, Flatten, Input, MaxPooling2D, SpatialDropout2D
from dropnet.models import Sequential

NAME = "cnn"
SUMMARY = (
    "CNN on scikit-learn's 8x8 digits: SpatialDropout2D vs no dropout vs element-wise "
    "Dropout, accuracy over seeds and learning curves"
)
VARIANTS = ("spatial dropout", "no dropout", "element-wise dropout")
N_TRAIN = 300
SPLIT_SEED = 0


def build_model(variant: str) -> Sequential:
    layers = [
        Input((8, 8, 1)),
        Conv2D(32, 3, padding="same", activation="relu"),
        Conv2D(32, 3, padding="same", activation="relu"),
        MaxPooling2D(),
    ]
    if variant == "spatial dropout":
        layers.append(SpatialDropout2D(0.2))
    elif variant == "element-wise dropout":
        layers.append(Dropout(0.2))
    layers += [Flatten(), Dense(64, activation="relu")]
    if variant != "no dropout":
        layers.append(Dropout(0.5))
    layers.append(Dense(10, activation="softmax"))
    model = Sequential(layers)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def load_split(n_train: int = N_TRAIN):
    """Digits as (N, 8, 8, 1) in [0, 1]: a stratified training split of n_train images,
    the rest for testing."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]
    return train_test_split(
        x, digits.target, train_size=n_train, stratify=digits.target, random_state=SPLIT_SEED
    )


def run(
    epochs: int = 80,
    seeds: int = 3,
    seed: int = 1,
    n_train: int = N_TRAIN,
    plot: str | None = "cnn.png",
    verbose: bool = True,
) -> dict:
    """Returns {variant: {"test": accuracies over seeds, "train": ..., "history": mean curves}}."""
    check_positive(epochs, "--epochs")
    check_positive(seeds, "--seeds")
    xtr, xte, ytr, yte = load_split(n_train)
    results: dict[str, dict[str, Any]] = {}
    for variant in VARIANTS:
        test, train, curves = [], [], []
        start = time.perf_counter()
        for s in repeat_seeds(seed, seeds):
            dropnet.set_random_seed(s)
            model = build_model(variant)
            hist = model.fit(
                xtr, ytr, validation_data=(xte, yte), epochs=epochs, batch_size=32, verbose=0
            )
            train.append(model.evaluate(xtr, ytr, verbose=0)[1])
            test.append(model.evaluate(xte, yte, verbose=0)[1])
            curves.append(hist.history)
        keys = ("accuracy", "val_accuracy", "loss", "val_loss")
        results[variant] = {
            "test": np.array(test),
            "train": np.array(train),
            "history": {k: list(np.mean([c[k] for c in curves], axis=0)) for k in keys},
            "seconds": time.perf_counter() - start,
        }
    if verbose:
        print(
            f"digits: {len(xtr)} training and {len(xte)} test images, {epochs} epochs, {seeds} seeds"
        )
        width = max(len(v) for v in VARIANTS)
        print(f"{'model':<{width}}  test accuracy: mean   std    min    max   train  (time)")
        for variant, r in results.items():
            t = r["test"]
            print(
                f"{variant:<{width}}  {'':15}{t.mean():.3f}  {t.std():.3f}  {t.min():.3f}  {t.max():.3f}"
                f"  {r['train'].mean():.3f}  ({r['seconds']:.1f} s)"
            )
    if plot:
        from dropnet.plotting import plot_learning_curves

        path = plot_learning_curves(
            {k: v["history"] for k, v in results.items()},
            plot,
            metric="accuracy",
            title=f"Digits CNN, {len(xtr)} training images (mean of {seeds} seeds)",
        )
        if verbose:
            print(f"figure written to {path}")
    return results


def add_arguments(parser) -> None:
    parser.add_argument("--epochs", type=int, default=80, help="training epochs (default 80)")
    parser.add_argument("--seeds", type=int, default=3, help="runs per model (default 3)")
    parser.add_argument(
        "--seed", type=int, default=1, help="first dropnet.set_random_seed value (default 1)"
    )
    parser.add_argument(
        "--train", type=int, default=N_TRAIN, help=f"training images (default {N_TRAIN})"
    )
    parser.add_argument(
        "--plot", default="cnn.png", help="figure path (default cnn.png; '' for none)"
    )


def main(args) -> None:
    check_positive(args.train, "--train")
    run(
        epochs=args.epochs,
        seeds=args.seeds,
        seed=args.seed,
        n_train=args.train,
        plot=args.plot or None,
    )
