"""Workload "cnn": training throughput of a small convolutional network on synthetic 32x32x3
images (10 classes), Conv2D-Conv2D-MaxPool-SpatialDropout-Conv2D-MaxPool-SpatialDropout-
Flatten-Dense-Dropout-Dense, trained with Adam, in dropnet, Keras (TensorFlow) and PyTorch.

A second part times a single Conv2D(32 -> 32, 3x3, same, relu) on a batch of 64 images of
32x32x32, forward and one training step, in GFLOP/s, next to the same child's float32 GEMM
throughput at n = 1024, so the convolution can be read as a fraction of the GEMM it is built
on (dropnet and PyTorch only).
"""

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
from .gemm import _operands, time_per_call

TARGET_VS_TORCH = 1.2  # training images/s vs PyTorch
IMAGE_SHAPE = (32, 32, 3)  # channels-last, as dropnet and Keras take it (NCHW in PyTorch)
CLASSES = 10
N_IMAGES = 2048
QUICK_IMAGES = 512
DATA_SEED = 0  # the images and labels are the same in every framework and repeat
DEFAULT_EPOCHS = {"dropnet": 6, "torch": 6, "keras": 3}
QUICK_EPOCHS = {"dropnet": 2, "torch": 2, "keras": 2}
BATCH = 64
LEARNING_RATE = 1e-3
EPSILON = 1e-7
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


# ----------------------------------------------------------------------------- dropnet


def dropnet_model() -> Any:
    """The workload's network in dropnet, compiled (also trained by the streaming workload)."""
    try:
        from dropnet.layers import (
            Conv2D,
            Dense,
            Dropout,
            Flatten,
            Input,
            MaxPooling2D,
            SpatialDropout2D,
        )
        from dropnet.models import Sequential
        from dropnet.optimizers import Adam
    except ImportError as exc:
        raise FrameworkMissing(f"dropnet: {exc}") from exc
    model = Sequential(
        [
            Input(IMAGE_SHAPE),
            Conv2D(32, 3, padding="same", activation="relu"),
            Conv2D(32, 3, padding="same", activation="relu"),
            MaxPooling2D(2),
            SpatialDropout2D(SPATIAL_RATE),
            Conv2D(64, 3, padding="same", activation="relu"),
            MaxPooling2D(2),
            SpatialDropout2D(SPATIAL_RATE),
            Flatten(),
            Dense(128, activation="relu"),
            Dropout(DENSE_RATE),
            Dense(CLASSES, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=Adam(learning_rate=LEARNING_RATE, epsilon=EPSILON),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def fit_dropnet(epochs: int, seed: int, threads: int, data: Data) -> dict[str, Any]:
    try:
        import dropnet
        from dropnet.callbacks import Callback
    except ImportError as exc:
        raise FrameworkMissing(f"dropnet: {exc}") from exc
    x, y = data
    dropnet.set_num_threads(threads)
    dropnet.set_random_seed(seed)

    epoch_ends: list[float] = []

    start = time.perf_counter()
    model = dropnet_model()
    history = model.fit(
        x,
        y,
        epochs=epochs,
        batch_size=BATCH,
        verbose=0,
        callbacks=[epoch_clock(Callback, epoch_ends)],
    ).history
    return {
        "fit_seconds": time.perf_counter() - start,
        "final_loss": float(history["loss"][-1]),
        "final_acc": float(history["accuracy"][-1]),
        **steady_epochs(epoch_ends, start),
    }


def conv_dropnet(threads: int, min_time: float) -> dict[str, float]:
    """Seconds per call of the single conv layer's predict and train_on_batch, and of a
    1024x1024 dropnet._core.matmul, in this process."""
    try:
        import dropnet
        from dropnet import _core
        from dropnet.layers import Conv2D, Input
        from dropnet.models import Sequential
        from dropnet.optimizers import Adam
    except ImportError as exc:
        raise FrameworkMissing(f"dropnet: {exc}") from exc
    dropnet.set_num_threads(threads)
    dropnet.set_random_seed(DATA_SEED)
    x, target = _conv_operands()
    model = Sequential(
        [
            Input((CONV_SIZE, CONV_SIZE, CONV_CHANNELS)),
            Conv2D(CONV_FILTERS, CONV_KERNEL, padding="same", activation="relu"),
        ]
    )
    model.compile(optimizer=Adam(learning_rate=LEARNING_RATE, epsilon=EPSILON), loss="mse")
    a, b = _operands(GEMM_N)
    fwd, _ = time_per_call(lambda: model.predict(x, batch_size=CONV_BATCH, verbose=0), min_time)
    train, _ = time_per_call(lambda: model.train_on_batch(x, target), min_time)
    gemm, _ = time_per_call(lambda: _core.matmul(a, b), min_time)
    return {"fwd": fwd, "train": train, "gemm": gemm}


def info_dropnet() -> dict[str, Any]:
    import dropnet

    return {"dropnet": getattr(dropnet, "__version__", "?"), "threads": dropnet.get_num_threads()}


# ----------------------------------------------------------------------------- keras


def fit_keras(epochs: int, seed: int, threads: int, data: Data) -> dict[str, Any]:
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
    x, y = data
    (tf.constant([1.0]) + 1.0).numpy()  # start the TensorFlow runtime outside the timed region

    epoch_ends: list[float] = []

    layers = keras.layers
    start = time.perf_counter()
    model = keras.Sequential(
        [
            keras.Input(shape=IMAGE_SHAPE),
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
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE, epsilon=EPSILON),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=epochs,
        batch_size=BATCH,
        verbose=0,
        callbacks=[epoch_clock(keras.callbacks.Callback, epoch_ends)],
    ).history
    return {
        "fit_seconds": time.perf_counter() - start,
        "final_loss": float(history["loss"][-1]),
        "final_acc": float(history["accuracy"][-1]),
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


def _torch_glorot(model: Any) -> None:
    """Keras's initialisation: Glorot-uniform kernels (PyTorch's fan-in/fan-out of a conv
    weight are in x kh x kw and out x kh x kw, the same as Keras's) and zero biases."""
    from torch import nn

    for layer in model.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)


def fit_torch(epochs: int, seed: int, threads: int, data: Data) -> dict[str, Any]:
    try:
        import torch
        from torch import nn
    except ImportError as exc:
        raise FrameworkMissing(f"torch: {exc}") from exc
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    x_np, y_np = data
    x = torch.from_numpy(np.ascontiguousarray(x_np.transpose(0, 3, 1, 2)))  # NHWC -> NCHW
    y = torch.from_numpy(y_np.astype(np.int64))
    (torch.zeros(1) + 1).item()  # touch the runtime outside the timed region
    n = x.shape[0]
    side = IMAGE_SHAPE[0] // 4  # after two 2x2 poolings

    start = time.perf_counter()
    model = nn.Sequential(
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
        nn.Linear(128, CLASSES),  # logits; the softmax lives in the loss
    )
    _torch_glorot(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, eps=EPSILON)
    loss_fn = nn.CrossEntropyLoss()

    epoch_ends: list[float] = []
    loss_sum = torch.zeros(())
    correct = torch.zeros((), dtype=torch.long)
    for _ in range(epochs):
        model.train()
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
        "fit_seconds": time.perf_counter() - start,
        "final_loss": loss_sum.item() / n,
        "final_acc": correct.item() / n,
        **steady_epochs(epoch_ends, start),
    }


def conv_torch(threads: int, min_time: float) -> dict[str, float]:
    """Seconds per call of the single conv layer's forward (no_grad) and training step
    (MSE, Adam), and of a 1024x1024 torch.mm, in this process."""
    try:
        import torch
        from torch import nn
    except ImportError as exc:
        raise FrameworkMissing(f"torch: {exc}") from exc
    torch.set_num_threads(threads)
    torch.manual_seed(DATA_SEED)
    x_np, target_np = _conv_operands()
    x = torch.from_numpy(np.ascontiguousarray(x_np.transpose(0, 3, 1, 2)))
    target = torch.from_numpy(np.ascontiguousarray(target_np.transpose(0, 3, 1, 2)))
    model = nn.Sequential(
        nn.Conv2d(CONV_CHANNELS, CONV_FILTERS, CONV_KERNEL, padding=CONV_KERNEL // 2), nn.ReLU()
    )
    _torch_glorot(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, eps=EPSILON)
    loss_fn = nn.MSELoss()

    def forward() -> Any:
        with torch.no_grad():
            return model(x)

    def train_step() -> Any:
        optimizer.zero_grad()
        loss = loss_fn(model(x), target)
        loss.backward()
        optimizer.step()
        return loss

    a, b = (torch.from_numpy(m) for m in _operands(GEMM_N))
    fwd, _ = time_per_call(forward, min_time)
    train, _ = time_per_call(train_step, min_time)
    gemm, _ = time_per_call(lambda: torch.mm(a, b), min_time)
    return {"fwd": fwd, "train": train, "gemm": gemm}


def info_torch() -> dict[str, Any]:
    import torch

    return {"torch": torch.__version__, "num_threads": torch.get_num_threads()}


def _conv_operands() -> tuple[np.ndarray, np.ndarray]:
    """The conv part's input batch and regression target (channels-last), fixed seed."""
    rng = np.random.default_rng(DATA_SEED)
    x = rng.standard_normal((CONV_BATCH, CONV_SIZE, CONV_SIZE, CONV_CHANNELS), dtype=np.float32)
    target = rng.standard_normal((CONV_BATCH, CONV_SIZE, CONV_SIZE, CONV_FILTERS), dtype=np.float32)
    return x, target


# ----------------------------------------------------------------------------- workload

FITTERS: dict[str, tuple[Callable[..., dict[str, Any]], Callable[[], dict[str, Any]]]] = {
    "dropnet": (fit_dropnet, info_dropnet),
    "keras": (fit_keras, info_keras),
    "torch": (fit_torch, info_torch),
}
CONV_TIMERS: dict[str, Callable[[int, float], dict[str, float]]] = {
    "dropnet": conv_dropnet,
    "torch": conv_torch,
}
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

    def epochs_for(self, framework: str, opts: Options) -> int:
        return pick_epochs(framework, opts, DEFAULT_EPOCHS, QUICK_EPOCHS)

    def plan(self, opts: Options, frameworks: list[str], threads: tuple[int, ...]) -> list[Job]:
        images = QUICK_IMAGES if opts.quick else N_IMAGES
        min_time = QUICK_MIN_TIME if opts.quick else MIN_TIME
        jobs: list[Job] = []
        for t in threads:
            for fw in frameworks:
                epochs = self.epochs_for(fw, opts)
                jobs.append(
                    Job(
                        fw,
                        t,
                        {"part": "train", "images": images, "epochs": epochs},
                        label=f"train, {images} images x {epochs} epochs",
                    )
                )
        for t in threads:
            for fw in frameworks:
                if fw in CONV_FRAMEWORKS:
                    jobs.append(
                        Job(fw, t, {"part": "conv", "min_time": min_time}, label="conv layer")
                    )
        return jobs

    def run(self, framework: str, threads: int, params: dict[str, Any]) -> dict[str, Any]:
        info = FITTERS[framework][1]
        if params["part"] == "conv":
            return {"records": self._run_conv(framework, threads, params), "info": info()}
        fit = FITTERS[framework][0]
        images, epochs = int(params["images"]), int(params["epochs"])
        res = fit(epochs, int(params.get("seed", 0)), threads, load_data(images))
        # The first epoch (model construction, compile, graph tracing, lazy initialisation)
        # is left out: throughput is the median of the later epochs.
        steady = res["steady_seconds_per_epoch"]
        record = {
            "case": "train",
            "seconds": steady / images,  # per image; the table shows its inverse
            "images": images,
            "epochs": epochs,
            "images_per_second": images / steady,
            **res,
        }
        return {"records": [record], "info": info()}

    def _run_conv(
        self, framework: str, threads: int, params: dict[str, Any]
    ) -> list[dict[str, Any]]:
        times = CONV_TIMERS[framework](threads, float(params["min_time"]))
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
            return Metric("throughput", "images/s", lambda s: 1.0 / s, higher_is_better=True)
        flops = CONV_CASES[case][1]
        return Metric("throughput", "GFLOP/s", lambda s: flops / s / 1e9, higher_is_better=True)

    def headlines(
        self, summary: list[dict[str, Any]], details: dict[str, Any], runs: list[dict[str, Any]]
    ) -> list[Headline]:
        rows = default_headlines(self.name, summary)
        for row in rows:
            if row.measure == "train":
                row.accuracy = accuracy_by_framework(
                    runs, "train", row.threads, "final_acc", list(row.values)
                )
                row.measure = "train, images/s"
                row.target = f">= {TARGET_VS_TORCH:g}x PyTorch"
                vs = row.advantage("torch")
                row.met = None if vs is None else vs >= TARGET_VS_TORCH
                row.note = "accuracy: training accuracy of the last epoch (with dropout)"
        return rows

    def extra_report(
        self, summary: list[dict[str, Any]], runs: list[dict[str, Any]]
    ) -> tuple[str, dict[str, Any]]:
        from ..common import fmt_num, format_table

        text_parts: list[str] = []
        train_groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for run in runs:
            for rec in run.get("records", []):
                if rec["case"] == "train":
                    train_groups.setdefault((run["framework"], run["threads"]), []).append(rec)
        train_data: list[dict[str, Any]] = []
        rows: list[list[str]] = []
        for (fw, threads), recs in train_groups.items():
            first = statistics.median(r["first_epoch_seconds"] for r in recs)
            steady = statistics.median(r["steady_seconds_per_epoch"] for r in recs)
            ips = statistics.median(r["images_per_second"] for r in recs)
            loss = statistics.median(r["final_loss"] for r in recs)
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
            rows.append(
                [
                    fw,
                    str(threads),
                    f"{recs[0]['images']} x {recs[0]['epochs']}",
                    fmt_num(first),
                    fmt_num(steady),
                    fmt_num(ips),
                    f"{loss:.3f}",
                ]
            )
        if rows:
            text_parts.append(
                format_table(
                    [
                        "framework",
                        "thr",
                        "images x epochs",
                        "first epoch s",
                        "steady s/epoch",
                        "images/s",
                        "final loss",
                    ],
                    rows,
                    right=[False, True, True, True, True, True, True],
                )
                + "\nfirst epoch s includes model construction, compile and any graph tracing; "
                "images/s = images / steady s/epoch (median epoch after the first). The labels "
                f"are random, so the loss stays near ln {CLASSES} = {np.log(CLASSES):.3f}."
            )

        by_key: dict[tuple[str, int], dict[str, float]] = {}
        for s in summary:
            if s["case"] in CONV_CASES:
                by_key.setdefault((s["framework"], s["threads"]), {})[s["case"]] = s["value_median"]
        conv_data: list[dict[str, Any]] = []
        rows = []
        for (fw, threads), values in by_key.items():
            fwd = values.get("conv fwd")
            train = values.get("conv train step")
            gemm = values.get(GEMM_CASE)
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
            rows.append(
                [
                    fw,
                    str(threads),
                    fmt_num(fwd) if fwd else "-",
                    fmt_num(train) if train else "-",
                    fmt_num(gemm) if gemm else "-",
                    f"{entry['fwd_fraction_of_gemm']:.2f}"
                    if entry["fwd_fraction_of_gemm"]
                    else "-",
                    f"{entry['train_fraction_of_gemm']:.2f}"
                    if entry["train_fraction_of_gemm"]
                    else "-",
                ]
            )
        if rows:
            text_parts.append(
                format_table(
                    [
                        "framework",
                        "thr",
                        "conv fwd GFLOP/s",
                        "conv train GFLOP/s",
                        f"GEMM {GEMM_N} GFLOP/s",
                        "fwd/GEMM",
                        "train/GEMM",
                    ],
                    rows,
                    right=[False, True, True, True, True, True, True],
                )
                + f"\nConv2D({CONV_CHANNELS}->{CONV_FILTERS}, {CONV_KERNEL}x{CONV_KERNEL}, same, "
                f"relu) on {CONV_BATCH} images of {CONV_SIZE}x{CONV_SIZE}x{CONV_CHANNELS}: "
                f"{CONV_FLOPS / 1e9:.3f} GFLOP forward (predict / no_grad), "
                f"{CONV_TRAIN_FLOPS / 1e9:.3f} GFLOP per training step (forward + kernel "
                "gradient; the first layer computes no input gradient), MSE loss and Adam "
                "included in the step's time. GEMM: each framework's own float32 "
                f"{GEMM_N}x{GEMM_N} product in the same process (dropnet._core.matmul, torch.mm)."
            )
        return "\n\n".join(text_parts), {"train": train_data, "conv": conv_data}
