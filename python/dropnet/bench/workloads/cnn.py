"""Workload "cnn": training throughput of a small convolutional network on synthetic 32x32x3
images (10 classes), Conv2D-Conv2D-MaxPool-SpatialDropout-Conv2D-MaxPool-SpatialDropout-
Flatten-Dense-Dropout-Dense, trained with Adam, in dropnet, Keras (TensorFlow) and PyTorch.

A second part times a single Conv2D(32 -> 32, 3x3, same, relu) on a batch of 64 images of
32x32x32, forward and one training step, in GFLOP/s, next to the same child's float32 GEMM
throughput at n = 1024, so the convolution can be read as a fraction of the GEMM it is built
on (dropnet and PyTorch only).
"""

from __future__ import annotations

import time
from types import ModuleType
from typing import Any

import numpy as np

from ..common import fmt_num, format_table
from ..timing import Fit, time_per_call
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
    medians,
    pick_epochs,
    throughput,
)
from .gemm import operands

TARGET_VS_TORCH = 1.2  # training images/s vs PyTorch
IMAGE_SHAPE = (32, 32, 3)  # channels-last, as dropnet and Keras take it (NCHW in PyTorch)
CLASSES = 10
N_IMAGES = 2048
QUICK_IMAGES = 512
DATA_SEED = 0  # the images and labels are the same in every framework and repeat
DEFAULT_EPOCHS = {"dropnet": 6, "torch": 6, "keras": 3}
QUICK_EPOCHS = {"dropnet": 2, "torch": 2, "keras": 2}
BATCH = 64
SPATIAL_RATE = 0.2
DENSE_RATE = 0.5

# The conv-layer part: one Conv2D(32 -> 32, 3x3, same, relu) on CONV_BATCH images of
# CONV_SIZE x CONV_SIZE x CONV_CHANNELS.
CONV_FRAMEWORKS = ("dropnet", "torch")
CONV_BATCH = 64
CONV_SIZE = 32
CONV_CHANNELS = 32
CONV_FILTERS = 32
CONV_KERNEL = 3
CONV_FLOPS = (
    2.0 * CONV_BATCH * CONV_SIZE * CONV_SIZE * (CONV_KERNEL**2 * CONV_CHANNELS) * CONV_FILTERS
)
# A training step is the forward product plus the kernel-gradient product of the same size.
# The layer is the model's first, so no input gradient is computed (dropnet skips it for the
# first layer with parameters, PyTorch for an input that does not require grad).
CONV_TRAIN_FLOPS = 2.0 * CONV_FLOPS
GEMM_N = 1024
MIN_TIME = 0.5  # seconds each timed conv / GEMM sample must last
QUICK_MIN_TIME = 0.1

Data = tuple[np.ndarray, np.ndarray]


def load_data(n: int) -> Data:
    """n standard-normal float32 images (channels-last) and integer labels 0..9, fixed seed."""
    rng = np.random.default_rng(DATA_SEED)
    x = rng.standard_normal((n, *IMAGE_SHAPE), dtype=np.float32)
    y = rng.integers(0, CLASSES, size=n).astype(np.int32)
    return x, y


def model(fw: ModuleType) -> Any:
    """The workload's network in dropnet or Keras, compiled (the streaming workload trains
    it too)."""
    layers = fw.layers
    net = fw.Sequential(
        [
            layers.Input(IMAGE_SHAPE),
            layers.Conv2D(32, 3, padding="same", activation="relu"),
            layers.Conv2D(32, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.SpatialDropout2D(SPATIAL_RATE),
            layers.Conv2D(64, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.SpatialDropout2D(SPATIAL_RATE),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dropout(DENSE_RATE),
            layers.Dense(CLASSES, activation="softmax"),
        ]
    )
    net.compile(fw.adam(), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return net


def fit_keras_api(fw: ModuleType, epochs: int, data: Data) -> Fit:
    """dropnet or Keras: the clock starts before the model is built."""
    start = time.perf_counter()
    return fw.fit(model(fw), *data, start=start, epochs=epochs, batch_size=BATCH)


def fit_torch(fw: ModuleType, epochs: int, data: Data) -> Fit:
    """PyTorch: the same layers on NCHW tensors (logits: the softmax is in the loss)."""
    torch, nn = fw.torch, fw.nn
    x = torch.from_numpy(np.ascontiguousarray(data[0].transpose(0, 3, 1, 2)))  # NHWC -> NCHW
    y = torch.from_numpy(data[1].astype(np.int64))
    side = IMAGE_SHAPE[0] // 4  # after two 2x2 poolings
    start = time.perf_counter()
    net = nn.Sequential(
        nn.Conv2d(IMAGE_SHAPE[2], 32, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout2d(SPATIAL_RATE),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout2d(SPATIAL_RATE),
        nn.Flatten(),  # (C, H, W) order rather than Keras's (H, W, C): same work
        nn.Linear(64 * side * side, 128),
        nn.ReLU(),
        nn.Dropout(DENSE_RATE),
        nn.Linear(128, CLASSES),
    )
    fw.glorot(net)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = fw.adam(net.parameters())
    return fw.train(net, x, y, epochs, BATCH, optimizer, loss_fn, hits=fw.class_hits, start=start)


def conv_operands() -> tuple[np.ndarray, np.ndarray]:
    """The conv part's input batch and regression target (channels-last), fixed seed."""
    rng = np.random.default_rng(DATA_SEED)
    x = rng.standard_normal((CONV_BATCH, CONV_SIZE, CONV_SIZE, CONV_CHANNELS), dtype=np.float32)
    target = rng.standard_normal((CONV_BATCH, CONV_SIZE, CONV_SIZE, CONV_FILTERS), dtype=np.float32)
    return x, target


def conv_dropnet(fw: ModuleType, min_time: float) -> dict[str, float]:
    """Seconds per call of the single conv layer's predict and train_on_batch."""
    x, target = conv_operands()
    layers = fw.layers
    net = fw.Sequential(
        [
            layers.Input((CONV_SIZE, CONV_SIZE, CONV_CHANNELS)),
            layers.Conv2D(CONV_FILTERS, CONV_KERNEL, padding="same", activation="relu"),
        ]
    )
    net.compile(fw.adam(), "mse")
    fwd, _ = time_per_call(lambda: net.predict(x, batch_size=CONV_BATCH, verbose=0), min_time)
    train, _ = time_per_call(lambda: net.train_on_batch(x, target), min_time)
    return {"fwd": fwd, "train": train}


def conv_torch(fw: ModuleType, min_time: float) -> dict[str, float]:
    """Seconds per call of the single conv layer's forward (no_grad) and training step
    (MSE, Adam)."""
    torch, nn = fw.torch, fw.nn
    x, target = (
        torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2))) for a in conv_operands()
    )
    conv = nn.Conv2d(CONV_CHANNELS, CONV_FILTERS, CONV_KERNEL, padding=CONV_KERNEL // 2)
    net = fw.glorot(nn.Sequential(conv, nn.ReLU()))
    optimizer = fw.adam(net.parameters())
    loss_fn = nn.MSELoss()

    def forward() -> Any:
        with torch.no_grad():
            return net(x)

    def train_step() -> Any:
        optimizer.zero_grad()
        loss = loss_fn(net(x), target)
        loss.backward()
        optimizer.step()
        return loss

    fwd, _ = time_per_call(forward, min_time)
    train, _ = time_per_call(train_step, min_time)
    return {"fwd": fwd, "train": train}


GEMM_CASE = f"gemm n={GEMM_N}"
# conv-part case -> (key of the timer's result, floating-point operations per timed call)
CONV_CASES = {
    "conv fwd": ("fwd", CONV_FLOPS),
    "conv train step": ("train", CONV_TRAIN_FLOPS),
    GEMM_CASE: ("gemm", 2.0 * GEMM_N**3),
}


class CnnWorkload(Workload):
    name = "cnn"
    description = (
        "CNN on synthetic 32x32x3 images, 10 classes: Conv32-Conv32-MaxPool-SpatialDropout-"
        "Conv64-MaxPool-SpatialDropout-Dense128-Dropout-Dense10, Adam, sparse CE, batch 64; "
        "images/s from the median epoch after the first; plus one Conv2D(32->32, 3x3) layer "
        "in GFLOP/s against a 1024 GEMM"
    )
    frameworks = ("dropnet", "keras", "torch")

    def plan(self, opts: Options, frameworks: list[str], threads: tuple[int, ...]) -> list[Job]:
        images = QUICK_IMAGES if opts.quick else N_IMAGES
        min_time = QUICK_MIN_TIME if opts.quick else MIN_TIME

        def train(fw: str) -> tuple[dict[str, Any], str]:
            epochs = pick_epochs(fw, opts, DEFAULT_EPOCHS, QUICK_EPOCHS)
            params = {"part": "train", "images": images, "epochs": epochs}
            return params, f"train, {images} images x {epochs} epochs"

        conv = [fw for fw in frameworks if fw in CONV_FRAMEWORKS]
        return self.jobs(frameworks, threads, train) + self.jobs(
            conv, threads, lambda fw: ({"part": "conv", "min_time": min_time}, "conv layer")
        )

    def measure(self, fw: ModuleType, threads: int, params: dict[str, Any]) -> Records:
        if params["part"] == "conv":
            return self.measure_conv(fw, threads, float(params["min_time"]))
        images, epochs = int(params["images"]), int(params["epochs"])
        data = load_data(images)
        fw.setup(threads, int(params.get("seed", 0)))
        fit = (fit_torch if fw.NAME == "torch" else fit_keras_api)(fw, epochs, data)
        # The first epoch (model construction, compile, graph tracing, lazy initialisation)
        # is left out: throughput is the median of the later epochs.
        steady = fit.steady
        return [
            {
                "case": "train",
                "seconds": steady / images,  # per image; the table shows its inverse
                "images": images,
                "epochs": epochs,
                "images_per_second": images / steady,
                **fit.record("fit_seconds", "final_loss", "final_acc"),
            }
        ]

    def measure_conv(self, fw: ModuleType, threads: int, min_time: float) -> Records:
        """The conv layer's forward and training step, then the framework's own GEMM."""
        fw.setup(threads, DATA_SEED)
        gemm = fw.matmul(*operands(GEMM_N))
        times = (conv_torch if fw.NAME == "torch" else conv_dropnet)(fw, min_time)
        times["gemm"], _ = time_per_call(gemm, min_time)
        gemm_gflops = CONV_CASES[GEMM_CASE][1] / times["gemm"] / 1e9
        records = []
        for case, (key, flops) in CONV_CASES.items():
            gflops = flops / times[key] / 1e9
            records.append(
                {
                    "case": case,
                    "seconds": times[key],
                    "gflops": gflops,
                    "fraction_of_gemm": gflops / gemm_gflops,
                }
            )
        return records

    def metric(self, case: str) -> Metric:
        if case == "train":
            return throughput("images/s")
        flops = CONV_CASES[case][1]
        return Metric("throughput", "GFLOP/s", lambda s: flops / s / 1e9, higher_is_better=True)

    def headlines(self, summary: Summary, details: Details, runs: Runs) -> list[Headline]:
        rows = default_headlines(self.name, summary)
        for row in rows:
            if row.measure == "train":
                row.add_accuracy(runs, "final_acc")
                row.measure = "train, images/s"
                row.target = f">= {TARGET_VS_TORCH:g}x PyTorch"
                vs = row.advantage("torch")
                row.met = None if vs is None else vs >= TARGET_VS_TORCH
                row.note = "accuracy: training accuracy of the last epoch (with dropout)"
        return rows

    def extra_report(self, summary: Summary, runs: Runs) -> tuple[str, Details]:
        parts: list[str] = []
        train_data: list[dict[str, Any]] = []
        rows: list[list[str]] = []
        for (case, fw, threads), recs in grouped(runs, "case", "framework", "threads").items():
            if case != "train":
                continue
            first, steady = (
                median(recs, "first_epoch_seconds"),
                median(recs, "steady_seconds_per_epoch"),
            )
            ips, loss = median(recs, "images_per_second"), median(recs, "final_loss")
            train_data.append(
                {
                    "framework": fw,
                    "threads": threads,
                    "images": recs[0]["images"],
                    "epochs": recs[0]["epochs"],
                    "first_epoch_seconds": first,
                    "steady_seconds_per_epoch": steady,
                    "images_per_second": ips,
                    "final_loss": [r["final_loss"] for r in recs],
                    "final_acc": [r["final_acc"] for r in recs],
                }
            )
            size = f"{recs[0]['images']} x {recs[0]['epochs']}"
            rows.append(
                [fw, str(threads), size, *map(fmt_num, (first, steady, ips)), f"{loss:.3f}"]
            )
        if rows:
            head = ["framework", "thr", "images x epochs", "first epoch s", "steady s/epoch"]
            parts.append(
                format_table(head + ["images/s", "final loss"], rows, right=[False] + [True] * 6)
                + "\nfirst epoch s includes model construction, compile and any graph tracing; "
                "images/s = images / steady s/epoch (median epoch after the first). The labels "
                f"are random, so the loss stays near ln {CLASSES} = {np.log(CLASSES):.3f}."
            )

        by_key: dict[tuple[str, int], dict[str, float]] = {}
        for (case, fw, threads), value in medians(summary).items():
            if case in CONV_CASES:
                by_key.setdefault((fw, threads), {})[case] = value
        conv_data: list[dict[str, Any]] = []
        rows = []
        for (fw, threads), values in by_key.items():
            fwd, train, gemm = (values.get(c) for c in CONV_CASES)
            entry = {
                "framework": fw,
                "threads": threads,
                "conv_fwd_gflops": fwd,
                "conv_train_gflops": train,
                "gemm_gflops": gemm,
                "fwd_fraction_of_gemm": fwd / gemm if fwd and gemm else None,
                "train_fraction_of_gemm": train / gemm if train and gemm else None,
            }
            conv_data.append(entry)
            fractions = (entry["fwd_fraction_of_gemm"], entry["train_fraction_of_gemm"])
            rows.append(
                [fw, str(threads)]
                + [fmt_num(v) if v else "-" for v in (fwd, train, gemm)]
                + [f"{f:.2f}" if f else "-" for f in fractions]
            )
        if rows:
            head = ["framework", "thr", "conv fwd GFLOP/s", "conv train GFLOP/s"]
            head += [f"GEMM {GEMM_N} GFLOP/s", "fwd/GEMM", "train/GEMM"]
            parts.append(
                format_table(head, rows, right=[False] + [True] * 6)
                + f"\nConv2D({CONV_CHANNELS}->{CONV_FILTERS}, {CONV_KERNEL}x{CONV_KERNEL}, same, "
                f"relu) on {CONV_BATCH} images of {CONV_SIZE}x{CONV_SIZE}x{CONV_CHANNELS}: "
                f"{CONV_FLOPS / 1e9:.3f} GFLOP forward (predict / no_grad), "
                f"{CONV_TRAIN_FLOPS / 1e9:.3f} GFLOP per training step (forward + kernel "
                "gradient; the first layer computes no input gradient), MSE loss and Adam "
                "included in the step's time. GEMM: each framework's own float32 "
                f"{GEMM_N}x{GEMM_N} product in the same process (dropnet._core.matmul, torch.mm)."
            )
        return "\n\n".join(parts), {"train": train_data, "conv": conv_data}
