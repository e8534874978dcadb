"""Workload "text": training throughput of the text case study's recurrent-dropout model on
the bundled review sentences, in dropnet, Keras (TensorFlow) and PyTorch.

The 2,400 training sentences of the case study's split (tokenized by dropnet's Tokenizer, the
2,000 most frequent words, padded to 40 ids; the same arrays in every framework) train
Embedding(2000, 32) -> LSTM(32, dropout=0.5, recurrent_dropout=0.5) -> Dense(1, sigmoid),
Adam, binary cross-entropy, batch 32. dropnet and Keras run it as written; PyTorch, which has
no recurrent dropout, runs the lstm workload's two versions after an nn.Embedding: the step
loop with Keras's per-gate masks ("train", beside the others) and the fused nn.LSTM with the
input dropout only (a bound, not the same model). The figure is sentences per second over
the median epoch after the first; the report gives dropnet's ratio to each.
"""

from __future__ import annotations

import functools
import time
from typing import Any, Callable

import numpy as np

from .base import (
    FrameworkMissing,
    Headline,
    Job,
    Metric,
    Options,
    accuracy_by_framework,
    default_headlines,
    epoch_clock,
    pick_epochs,
    steady_epochs,
)
from .lstm import (
    BATCH,
    CASE,
    EPSILON,
    FUSED_CASE,
    LEARNING_RATE,
    LstmWorkload,
    _torch_dense_head,
    _torch_train,
    info_dropnet,
    info_keras,
    info_torch,
    torch_fused_lstm,
    torch_variational_lstm,
)

QUICK_SENTENCES = 600
DEFAULT_EPOCHS = {"dropnet": 10, "torch": 3, "keras": 3}
QUICK_EPOCHS = {"dropnet": 2, "torch": 2, "keras": 2}

Data = tuple[np.ndarray, np.ndarray]


@functools.lru_cache(maxsize=1)
def _training_set() -> Data:
    from dropnet.case_studies import text

    train = text.prepare()["train"]
    return train["x"].astype(np.int64), train["y"]


def load_data(n: int | None = None) -> Data:
    """The case study's training ids (n, MAXLEN) as int64 and labels as float32; the first
    n sentences (all 2,400 for None)."""
    x, y = _training_set()
    return x[:n], y[:n]


def _sizes() -> tuple[int, int, int, int, float]:
    from dropnet.case_studies import text

    return text.NUM_WORDS, text.MAXLEN, text.EMBED_DIM, text.UNITS, text.RATE


# ----------------------------------------------------------------------------- dropnet


def fit_dropnet(epochs: int, seed: int, threads: int, data: Data) -> dict[str, dict[str, Any]]:
    try:
        import dropnet
        from dropnet.callbacks import Callback
        from dropnet.layers import LSTM, Dense, Embedding, Input
        from dropnet.models import Sequential
        from dropnet.optimizers import Adam
    except ImportError as exc:
        raise FrameworkMissing(f"dropnet: {exc}") from exc
    words, steps, dim, units, rate = _sizes()
    x, y = data
    dropnet.set_num_threads(threads)
    dropnet.set_random_seed(seed)

    epoch_ends: list[float] = []
    start = time.perf_counter()
    model = Sequential(
        [
            Input((steps,)),
            Embedding(words, dim),
            LSTM(units, dropout=rate, recurrent_dropout=rate),
            Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=Adam(learning_rate=LEARNING_RATE, epsilon=EPSILON),
        loss="binary_crossentropy",
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
    return {CASE: _result(start, history, epoch_ends)}


def _result(start: float, history: dict, epoch_ends: list[float]) -> dict[str, Any]:
    return {
        "fit_seconds": time.perf_counter() - start,
        "first_loss": float(history["loss"][0]),
        "final_loss": float(history["loss"][-1]),
        "final_acc": float(history["accuracy"][-1]),
        **steady_epochs(epoch_ends, start),
    }


# ----------------------------------------------------------------------------- keras


def fit_keras(epochs: int, seed: int, threads: int, data: Data) -> dict[str, dict[str, Any]]:
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
    words, steps, dim, units, rate = _sizes()
    keras.utils.set_random_seed(seed)
    x, y = data
    (tf.constant([1.0]) + 1.0).numpy()  # start the TensorFlow runtime outside the timed region

    epoch_ends: list[float] = []
    layers = keras.layers
    start = time.perf_counter()
    model = keras.Sequential(
        [
            keras.Input(shape=(steps,), dtype="int32"),
            layers.Embedding(words, dim),
            layers.LSTM(units, dropout=rate, recurrent_dropout=rate),
            layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE, epsilon=EPSILON),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x.astype(np.int32),
        y,
        epochs=epochs,
        batch_size=BATCH,
        verbose=0,
        callbacks=[epoch_clock(keras.callbacks.Callback, epoch_ends)],
    ).history
    return {CASE: _result(start, history, epoch_ends)}


# ----------------------------------------------------------------------------- torch


def fit_torch(epochs: int, seed: int, threads: int, data: Data) -> dict[str, dict[str, Any]]:
    try:
        import torch
        from torch import nn
    except ImportError as exc:
        raise FrameworkMissing(f"torch: {exc}") from exc
    words, _, dim, units, rate = _sizes()
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    x = torch.from_numpy(data[0])
    y = torch.from_numpy(data[1])
    (torch.zeros(1) + 1).item()  # touch the runtime outside the timed region
    results = {}
    for case, make in ((CASE, torch_variational_lstm), (FUSED_CASE, torch_fused_lstm)):
        embedding = nn.Embedding(words, dim)
        nn.init.uniform_(embedding.weight, -0.05, 0.05)  # Keras's Embedding initialisation
        params, last_state = make(dim, units, 1.0 - rate)
        head = _torch_dense_head(units)

        def logits(xb: Any, embedding=embedding, last_state=last_state, head=head) -> Any:
            return head(last_state(embedding(xb))).squeeze(1)

        params = [*embedding.parameters(), *params, *head.parameters()]
        results[case] = _torch_train(torch, x, y, epochs, params, logits)
    return results


# ----------------------------------------------------------------------------- workload

FITTERS: dict[
    str, tuple[Callable[..., dict[str, dict[str, Any]]], Callable[[], dict[str, Any]]]
] = {
    "dropnet": (fit_dropnet, info_dropnet),
    "keras": (fit_keras, info_keras),
    "torch": (fit_torch, info_torch),
}


class TextWorkload(LstmWorkload):
    """The lstm workload's measurements and tables on the text case study's model and data."""

    name = "text"
    description = (
        "the text case study's Embedding(2000, 32) -> LSTM(32, dropout=0.5, "
        "recurrent_dropout=0.5) -> Dense(1, sigmoid) on its 2400 training sentences (40 ids "
        "each), Adam, binary CE, batch 32; sentences/s from the median epoch after the first. "
        "PyTorch: a Python step loop with the same per-sentence masks, and its fused nn.LSTM "
        "without recurrent dropout as a bound"
    )

    def epochs_for(self, framework: str, opts: Options) -> int:
        return pick_epochs(framework, opts, DEFAULT_EPOCHS, QUICK_EPOCHS)

    def plan(self, opts: Options, frameworks: list[str], threads: tuple[int, ...]) -> list[Job]:
        sentences = QUICK_SENTENCES if opts.quick else None
        label = f"{sentences or 2400} sentences"
        return [
            Job(
                fw,
                t,
                {"sentences": sentences, "epochs": self.epochs_for(fw, opts)},
                label=f"{label} x {self.epochs_for(fw, opts)} epochs",
            )
            for t in threads
            for fw in frameworks
        ]

    def run(self, framework: str, threads: int, params: dict[str, Any]) -> dict[str, Any]:
        fit, info = FITTERS[framework]
        epochs = int(params["epochs"])
        data = load_data(params.get("sentences"))
        n = len(data[1])
        results = fit(epochs, int(params.get("seed", 0)), threads, data)
        records = []
        for case, res in results.items():
            steady = res["steady_seconds_per_epoch"]
            records.append(
                {
                    "case": case,
                    "seconds": steady / n,  # per sentence; the table shows its inverse
                    "sequences": n,
                    "epochs": epochs,
                    "sequences_per_second": n / steady,
                    **res,
                }
            )
        return {"records": records, "info": info()}

    def metric(self, case: str) -> Metric:
        return Metric("throughput", "sentences/s", lambda s: 1.0 / s, higher_is_better=True)

    def headlines(
        self, summary: list[dict[str, Any]], details: dict[str, Any], runs: list[dict[str, Any]]
    ) -> list[Headline]:
        rows = [h for h in default_headlines(self.name, summary) if h.measure == CASE]
        fused = {r["threads"]: r.get("vs_torch_fused") for r in details.get("ratios", [])}
        for row in rows:
            row.accuracy = accuracy_by_framework(
                runs, CASE, row.threads, "final_acc", list(row.values)
            )
            row.measure = "train (Embedding + LSTM, recurrent dropout), sentences/s"
            note = "PyTorch column: its step loop with the same masks"
            if fused.get(row.threads):
                note = (
                    f"dropnet / PyTorch fused nn.LSTM (no recurrent dropout) = "
                    f"{fused[row.threads]:.2f}x; " + note
                )
            row.note = note
        return rows

    def extra_report(
        self, summary: list[dict[str, Any]], runs: list[dict[str, Any]]
    ) -> tuple[str, dict[str, Any]]:
        table, train_data = self.train_table(runs, unit="sentences")
        parts = [table] if table else []
        value = {(s["case"], s["framework"], s["threads"]): s["value_median"] for s in summary}
        ratios: list[dict[str, Any]] = []
        lines: list[str] = []
        for (case, fw, threads), v in value.items():
            if case != CASE or fw != "dropnet":
                continue
            peers = {
                "keras": value.get((CASE, "keras", threads)),
                "torch_loop": value.get((CASE, "torch", threads)),
                "torch_fused": value.get((FUSED_CASE, "torch", threads)),
            }
            entry = {"threads": threads, "dropnet_sentences_per_second": v}
            entry.update({f"vs_{k}": (v / p if p else None) for k, p in peers.items()})
            ratios.append(entry)
            for key, name in (
                ("vs_keras", "Keras (same model)"),
                ("vs_torch_loop", "PyTorch step loop with the same masks"),
                ("vs_torch_fused", "PyTorch fused nn.LSTM without recurrent dropout"),
            ):
                ratio = entry[key]
                lines.append(
                    f"thr={threads}: dropnet sentences/s / {name} = "
                    + (f"{ratio:.2f}x" if ratio else "not measured")
                )
        if lines:
            parts.append("Ratios (medians of the table above)\n" + "\n".join(lines))
        return "\n\n".join(parts), {"train": train_data, "ratios": ratios}
