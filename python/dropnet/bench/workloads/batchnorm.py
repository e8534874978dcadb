"""Workload "batchnorm": training throughput of an MLP with BatchNormalization and dropout,
784 -> (Dense 512 -> BatchNormalization -> relu -> Dropout 0.2) x 2 -> Dense 10 (softmax), on
synthetic MNIST-sized vectors at batch 128 with Adam, in dropnet and PyTorch. The same child
also trains the MLP without its BatchNormalization layers, so the report shows what BN costs
in each framework."""

from __future__ import annotations

import time
from types import ModuleType
from typing import Any

import numpy as np

from ..common import fmt_num, format_table
from ..timing import Fit
from .base import (
    Details,
    Headline,
    Job,
    Metric,
    Options,
    Records,
    Runs,
    Summary,
    Workload,
    default_headlines,
    grouped,
    median,
    pick_epochs,
    throughput,
)

FEATURES, HIDDEN, CLASSES = 784, 512, 10
BATCH = 128
RATE = 0.2
MOMENTUM, BN_EPSILON = 0.99, 1e-3  # Keras's BatchNormalization defaults
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


def fit_dropnet(fw: ModuleType, bn: bool, epochs: int, data: Data) -> Fit:
    layers = fw.layers
    start = time.perf_counter()
    stack = [layers.Input((FEATURES,))]
    for _ in range(2):
        if bn:
            stack += [
                layers.Dense(HIDDEN),
                layers.BatchNormalization(momentum=MOMENTUM, epsilon=BN_EPSILON),
                layers.Activation("relu"),
            ]
        else:
            stack.append(layers.Dense(HIDDEN, activation="relu"))
        stack.append(layers.Dropout(RATE))
    model = fw.Sequential([*stack, layers.Dense(CLASSES, activation="softmax")])
    model.compile(fw.adam(), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return fw.fit(model, *data, start=start, epochs=epochs, batch_size=BATCH)


def fit_torch(fw: ModuleType, bn: bool, epochs: int, data: Data) -> Fit:
    torch, nn = fw.torch, fw.nn
    x = torch.from_numpy(data[0])
    y = torch.from_numpy(data[1].astype(np.int64))
    start = time.perf_counter()
    stack: list[Any] = []
    width = FEATURES
    for _ in range(2):
        stack.append(nn.Linear(width, HIDDEN))
        if bn:
            # PyTorch's momentum weighs the new batch: Keras's 0.99 is PyTorch's 0.01.
            stack.append(nn.BatchNorm1d(HIDDEN, eps=BN_EPSILON, momentum=1.0 - MOMENTUM))
        stack += [nn.ReLU(), nn.Dropout(RATE)]
        width = HIDDEN
    model = fw.glorot(nn.Sequential(*stack, nn.Linear(HIDDEN, CLASSES)))  # softmax: in the loss
    loss_fn = nn.CrossEntropyLoss()
    optimizer = fw.adam(model.parameters())
    return fw.train(model, x, y, epochs, BATCH, optimizer, loss_fn, hits=fw.class_hits, start=start)


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

        def job(fw: str) -> tuple[dict[str, Any], str]:
            epochs = pick_epochs(fw, opts, DEFAULT_EPOCHS, QUICK_EPOCHS)
            label = f"{samples} samples x {epochs} epochs, with and without BN"
            return {"samples": samples, "epochs": epochs}, label

        return self.jobs(frameworks, threads, job)

    def measure(self, fw: ModuleType, threads: int, params: dict[str, Any]) -> Records:
        samples, epochs = int(params["samples"]), int(params["epochs"])
        if epochs < 2:
            raise ValueError(
                "the batchnorm workload needs at least 2 epochs (the first is untimed)"
            )
        data = load_data(samples)
        records = []
        for case, bn in CASES.items():
            fw.setup(threads, int(params.get("seed", 0)))
            fit = (fit_torch if fw.NAME == "torch" else fit_dropnet)(fw, bn, epochs, data)
            steady = fit.steady
            records.append(
                {
                    "case": case,
                    "seconds": steady / samples,  # per sample; the table shows its inverse
                    "samples": samples,
                    "epochs": epochs,
                    "ms_per_step": steady / -(-samples // BATCH) * 1e3,
                    **fit.record("final_loss", "final_acc"),
                }
            )
        return records

    def metric(self, case: str) -> Metric:
        return throughput("samples/s", "training throughput")

    def headlines(self, summary: Summary, details: Details, runs: Runs) -> list[Headline]:
        rows = [r for r in default_headlines(self.name, summary) if r.measure == "BN MLP"]
        for row in rows:
            row.add_accuracy(runs, "final_acc")
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

    def extra_report(self, summary: Summary, runs: Runs) -> tuple[str, Details]:
        rows: list[list[str]] = []
        data: list[dict[str, Any]] = []
        for (fw, threads, case), recs in grouped(runs, "framework", "threads", "case").items():
            ms = median(recs, "ms_per_step")
            entry = {
                "framework": fw,
                "threads": threads,
                "case": case,
                "ms_per_step": ms,
                "first_epoch_seconds": median(recs, "first_epoch_seconds"),
                "final_loss": [r["final_loss"] for r in recs],
                "final_acc": [r["final_acc"] for r in recs],
            }
            data.append(entry)
            figures = [fmt_num(ms), fmt_num(entry["first_epoch_seconds"])]
            figures += [f"{median(recs, k):.3f}" for k in ("final_loss", "final_acc")]
            rows.append([fw, str(threads), case, *figures])
        cost: dict[str, float] = {}
        steps = {(d["framework"], d["threads"], d["case"]): d["ms_per_step"] for d in data}
        for (fw, threads, case), ms in steps.items():
            plain = steps.get((fw, threads, "plain MLP"))
            if case == "BN MLP" and plain:
                cost[f"{fw}/{threads}"] = ms / plain
        head = ["framework", "thr", "model", "ms/step", "first epoch s", "final loss"]
        right = [False, True, False, True, True, True, True]
        text = format_table([*head, "final train acc"], rows, right=right)
        text += (
            "\nms/step: the median epoch after the first over its steps. BN cost (time per step "
            "with BatchNormalization over without): "
            + (", ".join(f"{k} {v:.2f}x" for k, v in cost.items()) or "-")
        )
        return text, {"per_case": data, "bn_cost": cost}
