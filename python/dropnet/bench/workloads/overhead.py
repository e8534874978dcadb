"""Workload "overhead": the per-step floor that tiny models hit. One training step of a
2 -> 8 -> 1 MLP (Dense(8, relu), Dropout(0.2), Dense(1, sigmoid); Adam, binary
cross-entropy) at batch size 1, in microseconds.

Cases: "fit, batch 1" - the framework's own training loop over many one-sample batches
(dropnet and Keras: model.fit(batch_size=1), the median epoch after the first divided by the
steps; PyTorch: the ordinary loop zero_grad / forward / loss / backward / step over the
samples, no DataLoader); "train_on_batch" - one Python call per step (dropnet and Keras).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .base import (
    FrameworkMissing,
    Headline,
    Job,
    Metric,
    Options,
    Workload,
    default_headlines,
    epoch_clock,
    steady_epoch_seconds,
)

FIT = "fit, batch 1"
CALL = "train_on_batch"
TARGET_US = 5.0
# Steps per epoch (samples) and epochs per framework; the figure is the median later epoch.
STEPS = {"dropnet": 20_000, "torch": 2_000, "keras": 300}
QUICK_STEPS = {"dropnet": 5_000, "torch": 500, "keras": 100}
EPOCHS = 4
CALLS = {"dropnet": 20_000, "keras": 200}
QUICK_CALLS = {"dropnet": 5_000, "keras": 50}


def _data(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 2)).astype(np.float32)
    y = (x[:, 0] * x[:, 1] > 0).astype(np.float32).reshape(-1, 1)
    return x, y


def _per_call(fn: Any, calls: int) -> float:
    for _ in range(min(calls, 100)):
        fn()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def _time_keras_api(
    model: Any, callback_base: type, x: np.ndarray, y: np.ndarray, calls: int
) -> list[dict[str, Any]]:
    """Both cases for a model with Keras's API (dropnet or Keras): compile, fit with batch
    size 1 (median later epoch / steps), then `calls` train_on_batch calls of one sample."""
    model.compile(optimizer="adam", loss="binary_crossentropy")
    stamps: list[float] = []
    start = time.perf_counter()
    model.fit(
        x,
        y,
        batch_size=1,
        epochs=EPOCHS,
        verbose=0,
        callbacks=[epoch_clock(callback_base, stamps)],
    )
    steps = len(x)
    fit = steady_epoch_seconds(stamps, start)
    xb, yb = x[:1], y[:1]
    per_call = _per_call(lambda: model.train_on_batch(xb, yb), calls)
    return [
        {"case": FIT, "seconds": fit / steps, "steps": steps},
        {"case": CALL, "seconds": per_call, "calls": calls},
    ]


def run_dropnet(threads: int, steps: int, calls: int, seed: int) -> list[dict[str, Any]]:
    try:
        import dropnet
        from dropnet.callbacks import Callback
        from dropnet.layers import Dense, Dropout, Input
        from dropnet.models import Sequential
    except ImportError as exc:
        raise FrameworkMissing(f"dropnet: {exc}") from exc
    dropnet.set_num_threads(threads)
    dropnet.set_random_seed(seed)
    x, y = _data(steps)
    model = Sequential(
        [Input((2,)), Dense(8, activation="relu"), Dropout(0.2), Dense(1, activation="sigmoid")]
    )
    return _time_keras_api(model, Callback, x, y, calls)


def run_keras(threads: int, steps: int, calls: int, seed: int) -> list[dict[str, Any]]:
    try:
        import keras
        import tensorflow as tf
    except ImportError as exc:
        raise FrameworkMissing(f"keras/tensorflow: {exc}") from exc
    if tf.config.threading.get_intra_op_parallelism_threads() != threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    keras.utils.set_random_seed(seed)
    x, y = _data(steps)
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input(shape=(2,)),
            layers.Dense(8, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(1, activation="sigmoid"),
        ]
    )
    return _time_keras_api(model, keras.callbacks.Callback, x, y, calls)


def run_torch(threads: int, steps: int, calls: int, seed: int) -> list[dict[str, Any]]:
    try:
        import torch
        from torch import nn
    except ImportError as exc:
        raise FrameworkMissing(f"torch: {exc}") from exc
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    x_np, y_np = _data(steps)
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.BCEWithLogitsLoss()
    model.train()
    epoch_times = []
    for _ in range(EPOCHS):
        start = time.perf_counter()
        for i in torch.randperm(steps).tolist():
            opt.zero_grad()
            loss = loss_fn(model(x[i : i + 1]), y[i : i + 1])
            loss.backward()
            opt.step()
        epoch_times.append(time.perf_counter() - start)
    fit = float(np.median(epoch_times[1:]))
    return [{"case": FIT, "seconds": fit / steps, "steps": steps}]


RUNNERS = {"dropnet": run_dropnet, "keras": run_keras, "torch": run_torch}


class OverheadWorkload(Workload):
    name = "overhead"
    description = (
        "per-step floor: one training step of a 2 -> 8 -> 1 MLP with Dropout(0.2) at batch 1 "
        "(Adam, BCE), in the framework's fit loop and as a train_on_batch call"
    )
    frameworks = ("dropnet", "keras", "torch")

    def plan(self, opts: Options, frameworks: list[str], threads: tuple[int, ...]) -> list[Job]:
        steps = QUICK_STEPS if opts.quick else STEPS
        calls = QUICK_CALLS if opts.quick else CALLS
        return [
            Job(
                fw,
                t,
                {"steps": steps[fw], "calls": calls.get(fw, 0)},
                label=f"{steps[fw]} steps x {EPOCHS} epochs",
            )
            for t in threads
            for fw in frameworks
        ]

    def run(self, framework: str, threads: int, params: dict[str, Any]) -> dict[str, Any]:
        records = RUNNERS[framework](
            threads, int(params["steps"]), int(params["calls"]), int(params.get("seed", 0))
        )
        return {"records": records}

    def metric(self, case: str) -> Metric:
        return Metric("time per step", "µs/step", lambda s: s * 1e6)

    def headlines(
        self, summary: list[dict[str, Any]], details: dict[str, Any], runs: list[dict[str, Any]]
    ) -> list[Headline]:
        rows = default_headlines(self.name, summary)
        for row in rows:
            ours = row.values.get("dropnet")
            if row.measure == FIT:
                row.target = f"<= {TARGET_US:g} µs/step"
                row.met = ours is not None and ours <= TARGET_US
            else:
                row.note = "one Python call per step: argument checks and conversion included"
        return rows
