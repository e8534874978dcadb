"""Workload "circles": the classic dropout demonstration on sklearn's two-circles data,
a 2-500-1 MLP (model A) and the same with Dropout(0.4) (model B), trained with Adam and
validated on the test split every epoch, in dropnet, Keras (TensorFlow) and PyTorch."""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable

import numpy as np

from .base import (
    FrameworkMissing,
    Headline,
    Job,
    Metric,
    Options,
    Workload,
    accuracy_by_framework,
    default_headlines,
    epoch_clock,
    first_in_process,
    pick_epochs,
    steady_epochs,
)

FULL_EPOCHS = 4000
DEFAULT_EPOCHS = {"dropnet": FULL_EPOCHS, "keras": 200, "torch": 1000}
QUICK_EPOCHS = {"dropnet": 400, "keras": 10, "torch": 50}
TARGET_VS_TORCH, TARGET_VS_KERAS = 20.0, 500.0  # dropnet ms/epoch vs the peers'
MODELS = {"A": 0.0, "B": 0.4}  # model name -> dropout rate after the hidden layer (0: none)
HIDDEN = 500
BATCH = 32
LEARNING_RATE = 1e-3
EPSILON = 1e-7
N_TRAIN = 30

Data = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def load_data() -> Data:
    """100 noisy points on two circles; the first 30 train, the last 70 test."""
    from sklearn.datasets import make_circles

    x, y = make_circles(n_samples=100, noise=0.1, random_state=1)
    x = x.astype(np.float32)
    y = y.astype(np.float32)
    return x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]


# ----------------------------------------------------------------------------- dropnet


def fit_dropnet(rate: float, epochs: int, seed: int, threads: int, data: Data) -> dict[str, Any]:
    try:
        import dropnet
        from dropnet.layers import Dense, Dropout
        from dropnet.models import Sequential
    except ImportError as exc:
        raise FrameworkMissing(f"dropnet: {exc}") from exc
    x_tr, y_tr, x_te, y_te = data
    dropnet.set_num_threads(threads)
    dropnet.set_random_seed(seed)
    make_optimizer = _dropnet_adam_factory()

    start = time.perf_counter()
    model = Sequential()
    model.add(Dense(HIDDEN, input_dim=2, activation="relu"))
    if rate:
        model.add(Dropout(rate))
    model.add(Dense(1, activation="sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer=make_optimizer(), metrics=["accuracy"])
    model.fit(x_tr, y_tr, validation_data=(x_te, y_te), epochs=epochs, verbose=0, batch_size=BATCH)
    fit_seconds = time.perf_counter() - start

    train_loss, train_acc = model.evaluate(x_tr, y_tr, verbose=0)
    test_loss, test_acc = model.evaluate(x_te, y_te, verbose=0)
    return {
        "fit_seconds": fit_seconds,
        "train_loss": float(train_loss),
        "train_acc": float(train_acc),
        "test_loss": float(test_loss),
        "test_acc": float(test_acc),
        "first_epoch_seconds": None,
        "steady_seconds_per_epoch": None,
    }


def _dropnet_adam_factory() -> Callable[[], Any]:
    """Adam with the harness's lr/epsilon when dropnet exposes an optimizer class, else 'adam'
    (whose defaults are the same as Keras's: lr 0.001, epsilon 1e-7)."""
    try:
        from dropnet.optimizers import Adam
    except ImportError:
        return lambda: "adam"
    return lambda: Adam(learning_rate=LEARNING_RATE, epsilon=EPSILON)


def info_dropnet() -> dict[str, Any]:
    import dropnet

    return {"dropnet": getattr(dropnet, "__version__", "?")}


# ----------------------------------------------------------------------------- keras


def fit_keras(rate: float, epochs: int, seed: int, threads: int, data: Data) -> dict[str, Any]:
    try:
        import keras
        import tensorflow as tf
    except ImportError as exc:
        raise FrameworkMissing(f"keras/tensorflow: {exc}") from exc
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(f"Keras backend is {keras.backend.backend()!r}, expected 'tensorflow'")
    if tf.config.threading.get_intra_op_parallelism_threads() != threads:  # settable once
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    keras.utils.set_random_seed(seed)
    x_tr, y_tr, x_te, y_te = data
    (tf.constant([1.0]) + 1.0).numpy()  # start the TensorFlow runtime outside the timed region

    epoch_ends: list[float] = []

    start = time.perf_counter()
    model = keras.Sequential()
    model.add(keras.Input(shape=(2,)))
    model.add(keras.layers.Dense(HIDDEN, activation="relu"))
    if rate:
        model.add(keras.layers.Dropout(rate))
    model.add(keras.layers.Dense(1, activation="sigmoid"))
    model.compile(
        loss="binary_crossentropy",
        optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE, epsilon=EPSILON),
        metrics=["accuracy"],
    )
    model.fit(
        x_tr,
        y_tr,
        validation_data=(x_te, y_te),
        epochs=epochs,
        verbose=0,
        batch_size=BATCH,
        callbacks=[epoch_clock(keras.callbacks.Callback, epoch_ends)],
    )
    fit_seconds = time.perf_counter() - start

    train_loss, train_acc = model.evaluate(x_tr, y_tr, verbose=0)
    test_loss, test_acc = model.evaluate(x_te, y_te, verbose=0)
    return {
        "fit_seconds": fit_seconds,
        "train_loss": float(train_loss),
        "train_acc": float(train_acc),
        "test_loss": float(test_loss),
        "test_acc": float(test_acc),
        **steady_epochs(epoch_ends, start),
    }


def info_keras() -> dict[str, Any]:
    import keras
    import tensorflow as tf

    return {
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "backend": keras.backend.backend(),
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
    }


# ----------------------------------------------------------------------------- torch


def fit_torch(rate: float, epochs: int, seed: int, threads: int, data: Data) -> dict[str, Any]:
    try:
        import torch
        from torch import nn
    except ImportError as exc:
        raise FrameworkMissing(f"torch: {exc}") from exc
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    x_tr, y_tr, x_te, y_te = (torch.from_numpy(a) for a in data)
    y_tr, y_te = y_tr.unsqueeze(1), y_te.unsqueeze(1)
    (torch.zeros(1) + 1).item()  # touch the runtime outside the timed region
    n = x_tr.shape[0]

    start = time.perf_counter()
    layers: list[nn.Module] = [nn.Linear(2, HIDDEN), nn.ReLU()]
    if rate:
        layers.append(nn.Dropout(rate))
    layers.append(nn.Linear(HIDDEN, 1))  # logits; the sigmoid lives in the loss
    model = nn.Sequential(*layers)
    for layer in model:  # Keras's initialisation (Glorot-uniform kernels, zero biases)
        if isinstance(layer, nn.Linear):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, eps=EPSILON)
    loss_fn = nn.BCEWithLogitsLoss()

    history: list[tuple[float, float, float, float]] = []
    epoch_ends: list[float] = []
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(n)
        loss_sum = torch.zeros(())
        correct = torch.zeros((), dtype=torch.long)
        for i in range(0, n, BATCH):
            idx = perm[i : i + BATCH]
            xb, yb = x_tr[idx], y_tr[idx]
            optimizer.zero_grad()
            logits = model(xb)
            loss = loss_fn(logits, yb)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                loss_sum += loss.detach() * len(idx)
                correct += ((logits > 0) == (yb > 0.5)).sum()
        model.eval()
        with torch.no_grad():
            logits = model(x_te)
            val_loss = loss_fn(logits, y_te).item()
            val_acc = ((logits > 0) == (y_te > 0.5)).float().mean().item()
        history.append((loss_sum.item() / n, correct.item() / n, val_loss, val_acc))
        epoch_ends.append(time.perf_counter())
    fit_seconds = time.perf_counter() - start

    model.eval()
    with torch.no_grad():
        out: dict[str, Any] = {"fit_seconds": fit_seconds}
        for split, (x, y) in (("train", (x_tr, y_tr)), ("test", (x_te, y_te))):
            logits = model(x)
            out[f"{split}_loss"] = loss_fn(logits, y).item()
            out[f"{split}_acc"] = ((logits > 0) == (y > 0.5)).float().mean().item()
    out.update(steady_epochs(epoch_ends, start))
    return out


def info_torch() -> dict[str, Any]:
    import torch

    return {"torch": torch.__version__, "num_threads": torch.get_num_threads()}


# ----------------------------------------------------------------------------- workload

FITTERS: dict[str, tuple[Callable[..., dict[str, Any]], Callable[[], dict[str, Any]]]] = {
    "dropnet": (fit_dropnet, info_dropnet),
    "keras": (fit_keras, info_keras),
    "torch": (fit_torch, info_torch),
}


class CirclesWorkload(Workload):
    name = "circles"
    description = (
        "make_circles(100, noise=0.1) MLP 2-500-1, model A (no dropout) and B "
        "(Dropout 0.4); Adam, BCE, batch 32, validation every epoch; "
        "time = model construction + compile + fit, reported per epoch"
    )
    frameworks = ("dropnet", "keras", "torch")

    def epochs_for(self, framework: str, opts: Options) -> int:
        return pick_epochs(framework, opts, DEFAULT_EPOCHS, QUICK_EPOCHS)

    def plan(self, opts: Options, frameworks: list[str], threads: tuple[int, ...]) -> list[Job]:
        jobs: list[Job] = []
        # --quick: the dropout model only (Keras's per-model tracing dominates a short run).
        for model in ("B",) if opts.quick else MODELS:
            for t in threads:
                for fw in frameworks:
                    epochs = self.epochs_for(fw, opts)
                    jobs.append(
                        Job(
                            fw,
                            t,
                            {"model": model, "epochs": epochs, "warmup": True},
                            label=f"model {model}, {epochs} epochs",
                        )
                    )
        return jobs

    def run(self, framework: str, threads: int, params: dict[str, Any]) -> dict[str, Any]:
        fit, info = FITTERS[framework]
        data = load_data()
        epochs = int(params["epochs"])
        rate, seed = MODELS[params["model"]], int(params.get("seed", 0))
        if params.get("warmup", True) and first_in_process(self.name, framework):
            # An untimed one-epoch fit of a throwaway model first, so one-off process costs
            # (lazy imports, thread pools, first-call initialisation) stay out of the timing;
            # per-model costs such as Keras's graph tracing are still timed.
            fit(rate, 1, seed, threads, data)
        res = fit(rate, epochs, seed, threads, data)
        record = {
            "case": params["model"],
            "seconds": res["fit_seconds"] / epochs,
            "epochs": epochs,
            **res,
        }
        return {"records": [record], "info": info()}

    def metric(self, case: str) -> Metric:
        return Metric("time per epoch", "ms/epoch", lambda s: s * 1e3)

    def extra_report(
        self, summary: list[dict[str, Any]], runs: list[dict[str, Any]]
    ) -> tuple[str, dict[str, Any]]:
        return self._tables(summary, runs)

    def headlines(
        self, summary: list[dict[str, Any]], details: dict[str, Any], runs: list[dict[str, Any]]
    ) -> list[Headline]:
        rows = default_headlines(self.name, summary)
        for row in rows:
            model = row.measure
            row.accuracy = accuracy_by_framework(
                runs, model, row.threads, "test_acc", list(row.values)
            )
            rate = MODELS[model]
            row.measure = f"model {model} ({f'Dropout {rate:g}' if rate else 'no dropout'}), epoch"
            row.target = f">= {TARGET_VS_TORCH:g}x PyTorch, >= {TARGET_VS_KERAS:g}x Keras"
            vs_torch, vs_keras = row.advantage("torch"), row.advantage("keras")
            if vs_torch is not None and vs_keras is not None:
                row.met = vs_torch >= TARGET_VS_TORCH and vs_keras >= TARGET_VS_KERAS
            row.note = "accuracy: test accuracy after the run (peers run fewer epochs)"
        return rows

    def _tables(
        self, summary: list[dict[str, Any]], runs: list[dict[str, Any]]
    ) -> tuple[str, dict[str, Any]]:
        from ..common import fmt_num, format_table

        groups: dict[tuple[str, str, int, int], list[dict[str, Any]]] = {}
        for run in runs:
            for rec in run.get("records", []):
                key = (rec["case"], run["framework"], run["threads"], rec["epochs"])
                groups.setdefault(key, []).append(rec)
        rows: list[list[str]] = []
        data: list[dict[str, Any]] = []
        for (case, fw, threads, epochs), recs in groups.items():
            fit = [r["fit_seconds"] for r in recs]
            per_epoch = statistics.median(r["seconds"] for r in recs)
            steady = [
                r["steady_seconds_per_epoch"] for r in recs if r.get("steady_seconds_per_epoch")
            ]
            full = epochs == FULL_EPOCHS
            full_time = statistics.median(fit) if full else per_epoch * FULL_EPOCHS
            entry: dict[str, Any] = {
                "case": case,
                "framework": fw,
                "threads": threads,
                "epochs": epochs,
                "fit_seconds": {
                    "median": statistics.median(fit),
                    "min": min(fit),
                    "max": max(fit),
                    "values": fit,
                },
                "full_epochs_seconds": full_time,
                "full_epochs_measured": full,
                "steady_ms_per_epoch": statistics.median(steady) * 1e3 if steady else None,
                "train_acc": [r["train_acc"] for r in recs],
                "test_acc": [r["test_acc"] for r in recs],
            }
            data.append(entry)
            if full:
                acc = (
                    f"{statistics.median(entry['train_acc']):.3f}",
                    f"{statistics.median(entry['test_acc']):.3f}",
                )
            else:
                acc = (
                    f"({statistics.median(entry['train_acc']):.3f})",
                    f"({statistics.median(entry['test_acc']):.3f})",
                )
            rows.append(
                [
                    case,
                    fw,
                    str(threads),
                    str(epochs),
                    f"{fmt_num(statistics.median(fit))} [{fmt_num(min(fit))}-{fmt_num(max(fit))}]",
                    fmt_num(full_time) + ("" if full else " (proj.)"),
                    fmt_num(entry["steady_ms_per_epoch"]) if steady else "-",
                    *acc,
                ]
            )
        text = format_table(
            [
                "model",
                "framework",
                "thr",
                "epochs",
                "fit s median [min-max]",
                f"{FULL_EPOCHS}-epoch s",
                "steady ms/ep",
                "train acc",
                "test acc",
            ],
            rows,
            right=[False, False, True, True, True, True, True, True, True],
        )
        text += (
            f"\n{FULL_EPOCHS}-epoch s: measured when the framework ran {FULL_EPOCHS} epochs, else "
            "projected from its median ms/epoch. steady ms/ep: median epoch time after the "
            "first (where the framework reports epoch ends). Accuracies (median over repeats) are "
            f"in parentheses when the run was shorter than {FULL_EPOCHS} epochs."
        )
        return text, {"per_run_group": data}
