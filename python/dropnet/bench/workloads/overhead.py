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
from types import ModuleType
from typing import Any

import numpy as np

from ..timing import mean_call
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


def run_keras_api(fw: ModuleType, x: np.ndarray, y: np.ndarray, calls: int) -> Records:
    """Both cases in dropnet or Keras: compile, fit with batch size 1 (median later epoch /
    steps), then `calls` train_on_batch calls of one sample."""
    layers = fw.layers
    model = fw.Sequential(
        [
            layers.Input((2,)),
            layers.Dense(8, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer="adam", loss="binary_crossentropy")
    steps = len(x)
    fit = fw.fit(model, x, y, batch_size=1, epochs=EPOCHS)
    xb, yb = x[:1], y[:1]
    per_call = mean_call(lambda: model.train_on_batch(xb, yb), calls)
    return [
        {"case": FIT, "seconds": fit.steady / steps, "steps": steps},
        {"case": CALL, "seconds": per_call, "calls": calls},
    ]


def run_torch(fw: ModuleType, x_np: np.ndarray, y_np: np.ndarray) -> Records:
    """PyTorch's ordinary loop over one-sample slices in a shuffled order (no DataLoader),
    each epoch timed on its own."""
    torch, nn = fw.torch, fw.nn
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    steps = len(x_np)
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 1))
    opt = fw.adam(model.parameters())
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


class OverheadWorkload(Workload):
    name = "overhead"
    description = (
        "per-step floor: one training step of a 2 -> 8 -> 1 MLP with Dropout(0.2) at batch 1 "
        "(Adam, BCE), in the framework's fit loop and as a train_on_batch call"
    )
    frameworks = ("dropnet", "keras", "torch")
    brief_info = None

    def plan(self, opts: Options, frameworks: list[str], threads: tuple[int, ...]) -> list[Job]:
        steps = QUICK_STEPS if opts.quick else STEPS
        calls = QUICK_CALLS if opts.quick else CALLS
        return self.jobs(
            frameworks,
            threads,
            lambda fw: (
                {"steps": steps[fw], "calls": calls.get(fw, 0)},
                f"{steps[fw]} steps x {EPOCHS} epochs",
            ),
        )

    def measure(self, fw: ModuleType, threads: int, params: dict[str, Any]) -> Records:
        fw.setup(threads, int(params.get("seed", 0)))
        x, y = _data(int(params["steps"]))
        if fw.NAME == "torch":
            return run_torch(fw, x, y)
        return run_keras_api(fw, x, y, int(params["calls"]))

    def metric(self, case: str) -> Metric:
        return Metric("time per step", "µs/step", lambda s: s * 1e6)

    def headlines(self, summary: Summary, details: Details, runs: Runs) -> list[Headline]:
        rows = default_headlines(self.name, summary)
        for row in rows:
            ours = row.values.get("dropnet")
            if row.measure == FIT:
                row.target = f"<= {TARGET_US:g} µs/step"
                row.met = ours is not None and ours <= TARGET_US
            else:
                row.note = "one Python call per step: argument checks and conversion included"
        return rows
