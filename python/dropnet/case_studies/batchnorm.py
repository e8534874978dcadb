"""Case study: dropout, batch normalization, both, and the order of the two.

Both networks train on the 300-image stratified split of scikit-learn's 8×8 digits that the
``cnn`` study uses (the other 1497 images are the test set):

* an MLP on the 64 pixels, Dense(256, relu) → Dense(256, relu) → Dense(10, softmax), in
  five configurations: none; Dropout(0.5) after each hidden layer; BatchNormalization after
  each; BN then Dropout; Dropout then BN. BN follows the activation everywhere, so the last
  two differ only in the order of the two layers;
* the small CNN of the ``cnn`` study (two Conv2D(32, 3, same, relu), MaxPooling2D, Flatten,
  Dense(64, relu), Dense(10, softmax)) in four: none; dropout (SpatialDropout2D(0.2) after
  the pooling, Dropout(0.5) after Dense(64)); BN after each convolution and after Dense(64);
  both (each BN before the dropout that follows it).

Test accuracy is the mean ± std over seeds, with mean learning curves and the first epoch
at which the mean test accuracy reaches 90%. BN's moving statistics start at mean 0 and
variance 1 and, with Keras's momentum of 0.99, forget that start slowly: 300 images at batch
32 are 10 steps per epoch, and until the moving statistics have caught up a model with BN
predicts poorly in inference mode (``--momentum`` changes it).

Every trained model then runs Monte-Carlo dropout (``predict_mc``). dropnet keeps
BatchNormalization in inference mode during those passes (moving statistics used, never
updated; Keras's ``training=True`` would normalize with each pass's batch and overwrite
them), so a model with BN and no dropout has zero spread, and the moving statistics are
compared before and after the passes. Where a dropout layer lies on the path into a BN layer, BN's moving
variance was gathered on dropped activations, which vary more than the same activations at
test time (the "variance shift" of Li et al., 2019); the study measures, per BN layer, the
moving variance over the variance its input has on the test set in inference mode (a
ratio that also shows moving statistics that have not caught up yet).
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

import dropnet
from dropnet.case_studies.circles import check_positive, repeat_seeds
from dropnet.case_studies.cnn_digits import N_TRAIN, load_split
from dropnet.layers import (
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Input,
    KerasTensor,
    Layer,
    MaxPooling2D,
    SpatialDropout2D,
)
from dropnet.models import Model, Sequential

NAME = "batchnorm"
SUMMARY = (
    "digits MLP and CNN: dropout vs BatchNormalization vs both (either order), accuracy over "
    "seeds, curves, and Monte-Carlo dropout with BN in inference mode"
)
MLP_CONFIGS = ("none", "dropout", "BN", "BN then dropout", "dropout then BN")
CNN_CONFIGS = ("none", "dropout", "BN", "BN + dropout")
PARTS = {"mlp": MLP_CONFIGS, "cnn": CNN_CONFIGS}
TITLES = {"mlp": "MLP 64-256-256-10", "cnn": "CNN"}
MLP_UNITS = 256
MLP_RATE = 0.5
MOMENTUM = 0.99  # Keras's BatchNormalization default
REACHED = 0.9  # the curves' landmark: the first epoch whose mean test accuracy reaches it
DEFAULTS = {"epochs": 100, "cnn_epochs": 100, "seeds": 5, "train": N_TRAIN, "samples": 50}
# --quick: a smoke run of every configuration in a few seconds, not the reference figures.
QUICK = {"epochs": 5, "cnn_epochs": 2, "seeds": 2, "train": 100, "samples": 10}


def _compile(layers: list[Layer | KerasTensor]) -> Sequential:
    model = Sequential(layers)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def build_mlp(
    config: str, units: int = MLP_UNITS, rate: float = MLP_RATE, momentum: float = MOMENTUM
) -> Sequential:
    """The MLP in one of MLP_CONFIGS: each hidden Dense(units, relu) is followed by nothing,
    Dropout(rate), BatchNormalization(momentum), or both in the order the name gives."""
    after = {
        "none": [],
        "dropout": ["dropout"],
        "BN": ["BN"],
        "BN then dropout": ["BN", "dropout"],
        "dropout then BN": ["dropout", "BN"],
    }
    if config not in after:
        raise ValueError(f"MLP configuration: expected one of {MLP_CONFIGS}, received {config!r}")
    layers: list[Layer | KerasTensor] = [Input((64,))]
    for _ in range(2):
        layers.append(Dense(units, activation="relu"))
        for kind in after[config]:
            layers.append(
                Dropout(rate) if kind == "dropout" else BatchNormalization(momentum=momentum)
            )
    layers.append(Dense(10, activation="softmax"))
    return _compile(layers)


def build_cnn(config: str, momentum: float = MOMENTUM) -> Sequential:
    """The ``cnn`` study's network in one of CNN_CONFIGS: BatchNormalization(momentum) after
    each convolution and after Dense(64) (with BN), SpatialDropout2D(0.2) after the pooling
    and Dropout(0.5) after Dense(64) (with dropout)."""
    if config not in CNN_CONFIGS:
        raise ValueError(f"CNN configuration: expected one of {CNN_CONFIGS}, received {config!r}")
    bn, drop = "BN" in config, "dropout" in config

    def norm() -> list[Layer]:
        return [BatchNormalization(momentum=momentum)] if bn else []

    layers: list[Layer | KerasTensor] = [
        Input((8, 8, 1)),
        Conv2D(32, 3, padding="same", activation="relu"),
        *norm(),
        Conv2D(32, 3, padding="same", activation="relu"),
        *norm(),
        MaxPooling2D(),
    ]
    if drop:
        layers.append(SpatialDropout2D(0.2))
    layers += [Flatten(), Dense(64, activation="relu"), *norm()]
    if drop:
        layers.append(Dropout(0.5))
    layers.append(Dense(10, activation="softmax"))
    return _compile(layers)


def bn_layers(model: Sequential) -> list[BatchNormalization]:
    return [layer for layer in model.layers if isinstance(layer, BatchNormalization)]


def moving_statistics(model: Sequential) -> list[np.ndarray]:
    """Copies of every BN layer's moving mean and moving variance."""
    return [
        w.numpy().copy() for bn in bn_layers(model) for w in (bn.moving_mean, bn.moving_variance)
    ]


def variance_ratios(model: Sequential, x: np.ndarray) -> list[float]:
    """Per BN layer: the median over channels of (moving variance + ε) / (variance of the
    layer's input over ``x`` in inference mode + ε). Near 1 when BN saw in training what it
    sees at test time; above 1 when dropout upstream inflated the training variance."""
    out = []
    for i, layer in enumerate(model.layers):
        if not isinstance(layer, BatchNormalization):
            continue
        if i == 0:
            a = np.asarray(x)
        else:
            below = Model(model.inputs, model.layers[i - 1].output)
            a = below.predict(x, batch_size=256, verbose=0)
        test_var = a.reshape(-1, a.shape[-1]).astype(np.float64).var(axis=0)
        moving = layer.moving_variance.numpy().astype(np.float64)
        out.append(float(np.median((moving + layer.epsilon) / (test_var + layer.epsilon))))
    return out


def mc_dropout(model: Sequential, x: np.ndarray, y: np.ndarray, samples: int) -> dict[str, Any]:
    """Monte-Carlo dropout on the test set: accuracy of the mean of ``samples`` passes, the
    std across passes of the probability of the class that mean predicts (averaged over all
    test points, the correct ones and the misclassified ones), and whether the BN layers'
    moving statistics came through the passes unchanged (None without BN)."""
    before = moving_statistics(model)
    mean, std = model.predict_mc(x, n=samples)
    after = moving_statistics(model)
    pred = mean.argmax(axis=1)
    spread = std[np.arange(len(pred)), pred]
    correct = pred == y
    return {
        "acc": float(np.mean(correct)),
        "std": float(spread.mean()),
        "std_correct": float(spread[correct].mean()) if correct.any() else float("nan"),
        "std_wrong": float(spread[~correct].mean()) if (~correct).any() else float("nan"),
        "unchanged": all(np.array_equal(a, b) for a, b in zip(before, after)) if before else None,
    }


def first_epoch_reaching(curve: list[float], level: float = REACHED) -> int | None:
    """The first epoch (counted from 1) at which ``curve`` reaches ``level``, or None."""
    hits = np.flatnonzero(np.asarray(curve) >= level)
    return int(hits[0]) + 1 if hits.size else None


def train_part(
    part: str, data, epochs: int, seeds: list[int], samples: int, momentum: float = MOMENTUM
) -> dict[str, dict[str, Any]]:
    """Train every configuration of ``part`` ("mlp" or "cnn") once per seed."""
    xtr, xte, ytr, yte = data
    if part == "mlp":
        xtr, xte = xtr.reshape(len(xtr), -1), xte.reshape(len(xte), -1)
    build = build_mlp if part == "mlp" else build_cnn
    results: dict[str, dict[str, Any]] = {}
    for config in PARTS[part]:
        test, train, curves, mcs, ratios = [], [], [], [], []
        seconds = 0.0
        for s in seeds:
            dropnet.set_random_seed(s)
            model = build(config, momentum=momentum)
            start = time.perf_counter()
            hist = model.fit(
                xtr, ytr, validation_data=(xte, yte), epochs=epochs, batch_size=32, verbose=0
            )
            seconds += time.perf_counter() - start
            train.append(model.evaluate(xtr, ytr, verbose=0)[1])
            test.append(model.evaluate(xte, yte, verbose=0)[1])
            curves.append(hist.history)
            mcs.append(mc_dropout(model, xte, yte, samples))
            if bn_layers(model):
                ratios.append(variance_ratios(model, xte))
        keys = ("accuracy", "val_accuracy", "loss", "val_loss")
        unchanged = [m["unchanged"] for m in mcs if m["unchanged"] is not None]
        history = {k: list(np.mean([c[k] for c in curves], axis=0)) for k in keys}
        results[config] = {
            "test": np.array(test),
            "train": np.array(train),
            "history": history,
            "reached_at": first_epoch_reaching(history["val_accuracy"]),
            "seconds": seconds,
            "mc_acc": np.array([m["acc"] for m in mcs]),
            "mc_std": np.array([m["std"] for m in mcs]),
            "mc_std_correct": np.array([m["std_correct"] for m in mcs]),
            "mc_std_wrong": np.array([m["std_wrong"] for m in mcs]),
            "moving_stats_unchanged": all(unchanged) if unchanged else None,
            "variance_ratio": np.array(ratios) if ratios else None,  # (seeds, BN layers)
        }
    return results


def _print_part(part: str, results: dict[str, dict[str, Any]], epochs: int) -> None:
    width = max(len(c) for c in [*results, "configuration"])
    print(f"\n{TITLES[part]}, {epochs} epochs")
    print(
        f"{'configuration':<{width}}  test accuracy  train  {REACHED:.0%} at  "
        "MC: accuracy  std (all / correct / wrong)  BN moving var / test var"
    )
    for config, r in results.items():
        t = r["test"]
        reached = "-" if r["reached_at"] is None else str(r["reached_at"])
        ratio = r["variance_ratio"]
        ratio_text = ", ".join(f"{v:.2f}" for v in ratio.mean(axis=0)) if ratio is not None else "-"
        mc = (
            f"{r['mc_acc'].mean():.3f}     {r['mc_std'].mean():.3f} / "
            f"{np.nanmean(r['mc_std_correct']):.3f} / {np.nanmean(r['mc_std_wrong']):.3f}"
        )
        print(
            f"{config:<{width}}  {t.mean():.3f} ± {t.std():.3f}  {r['train'].mean():.3f}  "
            f"{reached:>6}  {mc}     {ratio_text:<16}  ({r['seconds']:.1f} s)"
        )
    checked = [r["moving_stats_unchanged"] for r in results.values()]
    checked = [c for c in checked if c is not None]
    if checked:
        verdict = "yes" if all(checked) else "NO"
        print(f"BN moving statistics unchanged by the Monte-Carlo passes: {verdict}")


def mc_figure_path(plot: str) -> str:
    """The Monte-Carlo figure's path beside the main figure: NAME-mc.EXT."""
    stem, ext = os.path.splitext(plot)
    return f"{stem}-mc{ext or '.png'}"


def run(
    epochs: int = DEFAULTS["epochs"],
    cnn_epochs: int = DEFAULTS["cnn_epochs"],
    seeds: int = DEFAULTS["seeds"],
    seed: int = 1,
    n_train: int = DEFAULTS["train"],
    samples: int = DEFAULTS["samples"],
    parts: tuple[str, ...] = ("mlp", "cnn"),
    momentum: float = MOMENTUM,
    plot: str | None = "batchnorm.png",
    verbose: bool = True,
) -> dict:
    """Returns {part: {configuration: {"test", "train", "mc_acc", "mc_std", "mc_std_correct",
    "mc_std_wrong": arrays over seeds; "history": mean curves; "reached_at": the first
    epoch whose mean test accuracy reaches REACHED, or None; "seconds": training time;
    "moving_stats_unchanged": bool, or None without BN; "variance_ratio": (seeds, BN
    layers) array, or None without BN}}} for each part in ``parts`` ("mlp", "cnn")."""
    check_positive(epochs, "--epochs")
    check_positive(cnn_epochs, "--cnn-epochs")
    check_positive(seeds, "--seeds")
    check_positive(n_train, "--train")
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"--momentum: expected a value in [0, 1), received {momentum}")
    if samples < 2:
        raise ValueError(f"--samples: expected at least 2, received {samples}")
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        raise ValueError(f"--parts: expected some of {', '.join(PARTS)}, received {parts}")
    data = load_split(n_train)
    run_seeds = repeat_seeds(seed, seeds)
    if verbose:
        print(
            f"digits: {len(data[0])} training and {len(data[1])} test images, {seeds} seeds, "
            f"{samples} Monte-Carlo dropout passes per trained model"
        )
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for part in PARTS:
        if part not in parts:
            continue
        part_epochs = epochs if part == "mlp" else cnn_epochs
        results[part] = train_part(part, data, part_epochs, run_seeds, samples, momentum)
        if verbose:
            _print_part(part, results[part], part_epochs)
    if plot:
        from dropnet.plotting import plot_config_comparison, plot_mc_spread

        named = {TITLES[p]: r for p, r in results.items()}
        paths = [
            plot_config_comparison(
                named,
                plot,
                title=f"Digits, {len(data[0])} training images: dropout and "
                f"BatchNormalization (mean of {seeds} seeds)",
            ),
            plot_mc_spread(
                named,
                mc_figure_path(plot),
                title=f"Monte-Carlo dropout ({samples} passes) with BatchNormalization in "
                "inference mode",
            ),
        ]
        if verbose:
            print("figures written to " + " and ".join(paths))
    return results


def add_arguments(parser) -> None:
    d = DEFAULTS
    parser.add_argument(
        "--epochs", type=int, default=None, help=f"MLP training epochs (default {d['epochs']})"
    )
    parser.add_argument(
        "--cnn-epochs",
        type=int,
        default=None,
        help=f"CNN training epochs (default {d['cnn_epochs']})",
    )
    parser.add_argument(
        "--seeds", type=int, default=None, help=f"runs per configuration (default {d['seeds']})"
    )
    parser.add_argument(
        "--seed", type=int, default=1, help="first dropnet.set_random_seed value (default 1)"
    )
    parser.add_argument(
        "--train", type=int, default=None, help=f"training images (default {d['train']})"
    )
    parser.add_argument(
        "--samples",
        type=int,
        default=None,
        help=f"Monte-Carlo dropout passes per model (default {d['samples']})",
    )
    parser.add_argument(
        "--momentum",
        type=float,
        default=MOMENTUM,
        help=f"BatchNormalization momentum (default {MOMENTUM}, Keras's)",
    )
    parser.add_argument(
        "--parts", default="mlp,cnn", help="networks to study: mlp, cnn or mlp,cnn (default)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run in seconds: "
        + ", ".join(f"{k.replace('_', '-')} {v}" for k, v in QUICK.items())
        + " unless given",
    )
    parser.add_argument(
        "--plot",
        default="batchnorm.png",
        help="figure path (default batchnorm.png; the Monte-Carlo figure goes beside it as "
        "batchnorm-mc.png; '' for none)",
    )


def main(args) -> None:
    sizes = QUICK if args.quick else DEFAULTS
    given = {
        "epochs": args.epochs,
        "cnn_epochs": args.cnn_epochs,
        "seeds": args.seeds,
        "train": args.train,
        "samples": args.samples,
    }
    v = {k: sizes[k] if value is None else value for k, value in given.items()}
    run(
        epochs=v["epochs"],
        cnn_epochs=v["cnn_epochs"],
        seeds=v["seeds"],
        seed=args.seed,
        n_train=v["train"],
        samples=v["samples"],
        parts=tuple(p.strip() for p in args.parts.split(",") if p.strip()),
        momentum=args.momentum,
        plot=args.plot or None,
    )
