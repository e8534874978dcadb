"""Workload "batchnorm": training throughput of an MLP with BatchNormalization and dropout,
784 -> (Dense 512 -> BatchNormalization -> relu -> Dropout 0.2) x 2 -> Dense 10 (softmax), on
synthetic MNIST-sized vectors at batch 128 with Adam, in dropnet and PyTorch. The same child
also trains the MLP without its BatchNormalization layers, so the report shows what BN costs
in each framework."""

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
    pick_epochs,
    steady_epochs,
)

FEATURES, HIDDEN, CLASSES = 784, 512, 10
BATCH = 128
RATE = 0.2
MOMENTUM, BN_EPSILON = 0.99, 1e-3  # Keras's BatchNormalization defaults
LEARNING_RATE = 1e-3
EPSILON = 1e-7
N_SAMPLES, QUICK_SAMPLES = 16_384, 4_096
DEFAULT_EPOCHS = {"dropnet": 5, "torch": 5}
QUICK_EPOCHS = {"dropnet": 3, "torch": 3}
DATA_SEED = 0  # the same vectors and labels in every framework and repeat
CASES = {"BN MLP": True, "plain MLP": False}  # case -> with BatchNormalization

Data = tuple[np.ndarray, np.ndarray]


def load_data(n: int) -> Data:
    """n standard-normal float32 vectors, labelled by the largest of 10 fixed random
    projections (learnable, so the training accuracy shows that both frameworks learn)."""
    rng = np.random.default_rng(DATA_SEED)
    x = rng.standard_normal((n, FEATURES), dtype=np.float32)
    projection = rng.standard_normal((FEATURES, CLASSES), dtype=np.float32)
    y = (x @ projection).argmax(axis=1).astype(np.int32)
    return x, y


# ----------------------------------------------------------------------------- dropnet


def fit_dropnet(bn: bool, epochs: int, seed: int, threads: int, data: Data) -> dict[str, Any]:
    try:
        import dropnet
        from dropnet.callbacks import Callback
        from dropnet.layers import (
            Activation,
            BatchNormalization,
            Dense,
            Dropout,
            Input,
            KerasTensor,
            Layer,
        )
        from dropnet.models import Sequential
        from dropnet.optimizers import Adam
    except ImportError as exc:
        raise FrameworkMissing(f"dropnet: {exc}") from exc
    x, y = data
    dropnet.set_num_threads(threads)
    dropnet.set_random_seed(seed)

    epoch_ends: list[float] = []
    start = time.perf_counter()
    layers: list[Layer | KerasTensor] = [Input((FEATURES,))]
    for _ in range(2):
        if bn:
            layers += [
                Dense(HIDDEN),
                BatchNormalization(momentum=MOMENTUM, epsilon=BN_EPSILON),
                Activation("relu"),
            ]
        else:
            layers.append(Dense(HIDDEN, activation="relu"))
        layers.append(Dropout(RATE))
    model = Sequential([*layers, Dense(CLASSES, activation="softmax")])
    model.compile(
        optimizer=Adam(learning_rate=LEARNING_RATE, epsilon=EPSILON),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=epochs,
        batch_size=BATCH,
        verbose=0,
        callbacks=[epoch_clock(Callback, epoch_ends)],
    ).history
    return {
        "final_loss": float(history["loss"][-1]),
        "final_acc": float(history["accuracy"][-1]),
        **steady_epochs(epoch_ends, start),
    }


def info_dropnet() -> dict[str, Any]:
    import dropnet

    return {"dropnet": getattr(dropnet, "__version__", "?"), "threads": dropnet.get_num_threads()}


# ----------------------------------------------------------------------------- torch


def fit_torch(bn: bool, epochs: int, seed: int, threads: int, data: Data) -> dict[str, Any]:
    try:
        import torch
        from torch import nn
    except ImportError as exc:
        raise FrameworkMissing(f"torch: {exc}") from exc
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    x = torch.from_numpy(data[0])
    y = torch.from_numpy(data[1].astype(np.int64))
    (torch.zeros(1) + 1).item()  # touch the runtime outside the timed region
    n = x.shape[0]

    start = time.perf_counter()
    layers: list[Any] = []
    width = FEATURES
    for _ in range(2):
        layers.append(nn.Linear(width, HIDDEN))
        if bn:
            # PyTorch's momentum weighs the new batch: Keras's 0.99 is PyTorch's 0.01.
            layers.append(nn.BatchNorm1d(HIDDEN, eps=BN_EPSILON, momentum=1.0 - MOMENTUM))
        layers += [nn.ReLU(), nn.Dropout(RATE)]
        width = HIDDEN
    model = nn.Sequential(*layers, nn.Linear(HIDDEN, CLASSES))  # the softmax lives in the loss
    for layer in model:  # Keras's initialisation: Glorot-uniform kernels, zero biases
        if isinstance(layer, nn.Linear):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, eps=EPSILON)
    loss_fn = nn.CrossEntropyLoss()

    epoch_ends: list[float] = []
    loss_sum = torch.zeros(())
    correct = torch.zeros((), dtype=torch.long)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(n)
        loss_sum = torch.zeros(())
        correct = torch.zeros((), dtype=torch.long)
        for i in range(0, n, BATCH):
            idx = perm[i : i + BATCH]
            xb, yb = x[idx], y[idx]
            optimizer.zero_grad()
            logits = model(xb)
            loss = loss_fn(logits, yb)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                loss_sum += loss.detach() * len(idx)
                correct += (logits.argmax(1) == yb).sum()
        epoch_ends.append(time.perf_counter())
    return {
        "final_loss": loss_sum.item() / n,
        "final_acc": correct.item() / n,
        **steady_epochs(epoch_ends, start),
    }


def info_torch() -> dict[str, Any]:
    import torch

    return {"torch": torch.__version__, "num_threads": torch.get_num_threads()}


# ----------------------------------------------------------------------------- workload

FITTERS: dict[str, tuple[Callable[..., dict[str, Any]], Callable[[], dict[str, Any]]]] = {
    "dropnet": (fit_dropnet, info_dropnet),
    "torch": (fit_torch, info_torch),
}


class BatchNormWorkload(Workload):
    name = "batchnorm"
    description = (
        f"MLP {FEATURES}-{HIDDEN}-{HIDDEN}-{CLASSES}, each hidden layer Dense -> "
        f"BatchNormalization -> relu -> Dropout({RATE:g}), on synthetic vectors, Adam, sparse "
        f"CE, batch {BATCH}; samples/s from the median epoch after the first, beside the same "
        "MLP without BatchNormalization"
    )
    frameworks = ("dropnet", "torch")

    def plan(self, opts: Options, frameworks: list[str], threads: tuple[int, ...]) -> list[Job]:
        samples = QUICK_SAMPLES if opts.quick else N_SAMPLES
        jobs = []
        for t in threads:
            for fw in frameworks:
                epochs = pick_epochs(fw, opts, DEFAULT_EPOCHS, QUICK_EPOCHS)
                jobs.append(
                    Job(
                        fw,
                        t,
                        {"samples": samples, "epochs": epochs},
                        label=f"{samples} samples x {epochs} epochs, with and without BN",
                    )
                )
        return jobs

    def run(self, framework: str, threads: int, params: dict[str, Any]) -> dict[str, Any]:
        fit, info = FITTERS[framework]
        samples, epochs = int(params["samples"]), int(params["epochs"])
        if epochs < 2:
            raise ValueError(
                "the batchnorm workload needs at least 2 epochs (the first is untimed)"
            )
        data = load_data(samples)
        records = []
        for case, bn in CASES.items():
            res = fit(bn, epochs, int(params.get("seed", 0)), threads, data)
            steady = res["steady_seconds_per_epoch"]
            records.append(
                {
                    "case": case,
                    "seconds": steady / samples,  # per sample; the table shows its inverse
                    "samples": samples,
                    "epochs": epochs,
                    "ms_per_step": steady / -(-samples // BATCH) * 1e3,
                    **res,
                }
            )
        return {"records": records, "info": info()}

    def metric(self, case: str) -> Metric:
        return Metric("training throughput", "samples/s", lambda s: 1.0 / s, higher_is_better=True)

    def headlines(
        self, summary: list[dict[str, Any]], details: dict[str, Any], runs: list[dict[str, Any]]
    ) -> list[Headline]:
        rows = [r for r in default_headlines(self.name, summary) if r.measure == "BN MLP"]
        for row in rows:
            row.accuracy = accuracy_by_framework(
                runs, "BN MLP", row.threads, "final_acc", list(row.values)
            )
            row.measure = f"BN MLP train, batch {BATCH}"
            cost = details.get("bn_cost", {})
            parts = [
                f"{fw} {cost[key]:.2f}x"
                for fw in row.values
                if (key := f"{fw}/{row.threads}") in cost
            ]
            row.note = (
                "accuracy: training accuracy of the last epoch (with dropout); time with BN over "
                "time without: " + (", ".join(parts) if parts else "-")
            )
        return rows

    def extra_report(
        self, summary: list[dict[str, Any]], runs: list[dict[str, Any]]
    ) -> tuple[str, dict[str, Any]]:
        from ..common import fmt_num, format_table

        groups: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
        for run in runs:
            for rec in run.get("records", []):
                groups.setdefault((run["framework"], run["threads"], rec["case"]), []).append(rec)
        rows: list[list[str]] = []
        data: list[dict[str, Any]] = []
        for (fw, threads, case), recs in groups.items():
            ms = statistics.median(r["ms_per_step"] for r in recs)
            entry = {
                "framework": fw,
                "threads": threads,
                "case": case,
                "ms_per_step": ms,
                "first_epoch_seconds": statistics.median(r["first_epoch_seconds"] for r in recs),
                "final_loss": [r["final_loss"] for r in recs],
                "final_acc": [r["final_acc"] for r in recs],
            }
            data.append(entry)
            rows.append(
                [
                    fw,
                    str(threads),
                    case,
                    fmt_num(ms),
                    fmt_num(entry["first_epoch_seconds"]),
                    f"{statistics.median(entry['final_loss']):.3f}",
                    f"{statistics.median(entry['final_acc']):.3f}",
                ]
            )
        cost: dict[str, float] = {}
        steps = {(d["framework"], d["threads"], d["case"]): d["ms_per_step"] for d in data}
        for (fw, threads, case), ms in steps.items():
            plain = steps.get((fw, threads, "plain MLP"))
            if case == "BN MLP" and plain:
                cost[f"{fw}/{threads}"] = ms / plain
        text = format_table(
            [
                "framework",
                "thr",
                "model",
                "ms/step",
                "first epoch s",
                "final loss",
                "final train acc",
            ],
            rows,
            right=[False, True, False, True, True, True, True],
        )
        text += (
            "\nms/step: the median epoch after the first over its steps. BN cost (time per step "
            "with BatchNormalization over without): "
            + (", ".join(f"{k} {v:.2f}x" for k, v in cost.items()) or "-")
        )
        return text, {"per_case": data, "bn_cost": cost}
