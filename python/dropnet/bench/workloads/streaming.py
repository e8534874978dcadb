"""Workload "streaming": training throughput when the batches come from a data source instead
of in-memory arrays - a PyDataset (Sequence) slicing the arrays, a generator doing the same,
and an np.memmap file of the inputs (written just before, so it is read from the page cache) -
each against the arrays themselves, for an MLP on MNIST-sized vectors and the cnn workload's
network. dropnet only; the figure is each source's samples/s as a share of the arrays' in the
same process (shuffle=False everywhere, so every source trains on the same batches)."""

from __future__ import annotations

import os
import tempfile
from types import ModuleType
from typing import Any

import numpy as np

from . import cnn
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
    throughput,
)

SOURCES = ("arrays", "Sequence", "generator", "memmap")
TARGETS = {"Sequence": 0.9, "generator": 0.9, "memmap": 0.8}  # share of the arrays' samples/s
MLP_SHAPE, MLP_CLASSES, MLP_BATCH = (784,), 10, 128
SIZES = {"mlp": 16_384, "cnn": 2_048}
QUICK_SIZES = {"mlp": 4_096, "cnn": 512}
EPOCHS, QUICK_EPOCHS = 4, 2


def _mlp(fw: ModuleType) -> Any:
    layers = fw.layers
    model = fw.Sequential(
        [
            layers.Input(MLP_SHAPE),
            layers.Dense(512, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(512, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(MLP_CLASSES, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _sources(x: np.ndarray, y: np.ndarray, batch: int, folder: str) -> dict[str, Any]:
    """What fit receives per source: (x, fit keyword arguments)."""
    from dropnet.utils import PyDataset

    steps = -(-len(x) // batch)

    class Slices(PyDataset):
        def __len__(self) -> int:
            return steps

        def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
            return x[i * batch : (i + 1) * batch], y[i * batch : (i + 1) * batch]

    def forever() -> Any:
        while True:
            for i in range(steps):
                yield x[i * batch : (i + 1) * batch], y[i * batch : (i + 1) * batch]

    path = os.path.join(folder, "x.dat")
    mm = np.memmap(path, dtype=x.dtype, mode="w+", shape=x.shape)
    mm[:] = x
    mm.flush()
    return {
        "arrays": (x, {"y": y, "batch_size": batch}),
        "Sequence": (Slices(), {}),
        "generator": (forever(), {"steps_per_epoch": steps}),
        "memmap": (
            np.memmap(path, dtype=x.dtype, mode="r", shape=x.shape),
            {"y": y, "batch_size": batch},
        ),
    }


class StreamingWorkload(Workload):
    name = "streaming"
    description = (
        "dropnet's training throughput from a Sequence, a generator and a memory-mapped file "
        "as a share of the same fit on in-memory arrays (MLP 784-512-512-10 and the CNN)"
    )
    frameworks = ("dropnet",)
    brief_info = None

    def plan(self, opts: Options, frameworks: list[str], threads: tuple[int, ...]) -> list[Job]:
        return [
            Job("dropnet", t, {"model": m, "quick": opts.quick, "seed": opts.seed}, label=m)
            for m in ("mlp", "cnn")
            for t in threads
        ]

    def measure(self, fw: ModuleType, threads: int, params: dict[str, Any]) -> Records:
        which, quick = params["model"], bool(params.get("quick"))
        n = (QUICK_SIZES if quick else SIZES)[which]
        rng = np.random.default_rng(0)
        if which == "mlp":
            x = rng.standard_normal((n, *MLP_SHAPE), dtype=np.float32)
            y = rng.integers(0, MLP_CLASSES, size=n).astype(np.int32)
            build, batch = _mlp, MLP_BATCH
        else:
            x, y = cnn.load_data(n)
            build, batch = cnn.model, cnn.BATCH
        records = []
        with tempfile.TemporaryDirectory() as folder:
            for source, (data, kwargs) in _sources(x, y, batch, folder).items():
                fw.setup(threads, int(params.get("seed", 0)))
                epochs = QUICK_EPOCHS if quick else EPOCHS
                fit = fw.fit(build(fw), data, epochs=epochs, shuffle=False, **kwargs)
                records.append(
                    {"case": f"{which} {source}", "seconds": fit.steady / n, "samples": n}
                )
        return records

    def metric(self, case: str) -> Metric:
        return throughput("samples/s", "training throughput")

    def headlines(self, summary: Summary, details: Details, runs: Runs) -> list[Headline]:
        value = {(s["case"], s["threads"]): s["value_median"] for s in summary}
        rows = []
        for (case, threads), v in value.items():
            which, source = case.split(" ", 1)
            base = value.get((f"{which} arrays", threads))
            if source == "arrays" or not base:
                continue
            share = v / base
            rows.append(
                Headline(
                    self.name,
                    f"{which} from a {source}",
                    "share of arrays' samples/s",
                    True,
                    threads,
                    {"dropnet": share},
                    target=f">= {TARGETS[source]:.2f}",
                    met=share >= TARGETS[source],
                    note=f"{v:,.0f} vs {base:,.0f} samples/s",
                )
            )
        return rows
