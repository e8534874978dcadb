"""Workload "gru": training throughput of a GRU with variational dropout on the sequences of
the "lstm" workload (4096 synthetic sequences of 50 steps x 8 features, the same learnable
binary target): GRU(64, dropout=0.2, recurrent_dropout=0.2) -> Dense(1, sigmoid), Adam,
binary cross-entropy, batch 32, in dropnet, Keras (TensorFlow) and PyTorch.

dropnet and Keras run that model as written (Keras leaves its fused kernel for a step loop
when recurrent_dropout is set). PyTorch has no recurrent dropout: its figure is the fused
nn.GRU with the input dropout (one mask per sequence) but none on the recurrence, a bound on
what PyTorch manages when the recurrent regularization is dropped, not the same model. The
target: dropnet with recurrent dropout at least 1.5x that bound.

The figure is sequences per second over the median epoch after the first (Keras trains on the
first 2048 sequences only, its step loop being slow).
"""

from __future__ import annotations

import time
from typing import Any, Callable

from .base import (
    FrameworkMissing,
    Headline,
    Options,
    accuracy_by_framework,
    default_headlines,
    epoch_clock,
    pick_epochs,
    steady_epochs,
)
from .lstm import (
    BATCH,
    EPSILON,
    FEATURES,
    LEARNING_RATE,
    N_SEQ,
    RATE,
    STEPS,
    UNITS,
    Data,
    LstmWorkload,
    _torch_dense_head,
    _torch_train,
    info_dropnet,
    info_keras,
    info_torch,
    load_data,
)

DEFAULT_EPOCHS = {"dropnet": 10, "torch": 4, "keras": 3}
QUICK_EPOCHS = {"dropnet": 2, "torch": 2, "keras": 2}
CASE = "train"  # the variational model (dropnet, Keras)
FUSED_CASE = "fused nn.GRU, no recurrent dropout"  # PyTorch: the bound
TARGET_VS_FUSED = 1.5  # dropnet (variational) sequences/s >= 1.5x PyTorch's fused GRU


def _record(history: dict[str, list[float]], start: float, ends: list[float]) -> dict[str, Any]:
    return {
        "fit_seconds": time.perf_counter() - start,
        "first_loss": float(history["loss"][0]),
        "final_loss": float(history["loss"][-1]),
        "final_acc": float(history["accuracy"][-1]),
        **steady_epochs(ends, start),
    }


def fit_dropnet(epochs: int, seed: int, threads: int, data: Data) -> dict[str, dict[str, Any]]:
    try:
        import dropnet
        from dropnet.callbacks import Callback
        from dropnet.layers import GRU, Dense, Input
        from dropnet.models import Sequential
        from dropnet.optimizers import Adam
    except ImportError as exc:
        raise FrameworkMissing(f"dropnet: {exc}") from exc
    x, y = data
    dropnet.set_num_threads(threads)
    dropnet.set_random_seed(seed)
    ends: list[float] = []
    start = time.perf_counter()
    model = Sequential(
        [
            Input((STEPS, FEATURES)),
            GRU(UNITS, dropout=RATE, recurrent_dropout=RATE),
            Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=Adam(learning_rate=LEARNING_RATE, epsilon=EPSILON),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x, y, epochs=epochs, batch_size=BATCH, verbose=0, callbacks=[epoch_clock(Callback, ends)]
    ).history
    return {CASE: _record(history, start, ends)}


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
    keras.utils.set_random_seed(seed)
    x, y = data
    (tf.constant([1.0]) + 1.0).numpy()  # start the TensorFlow runtime outside the timed region
    ends: list[float] = []
    start = time.perf_counter()
    model = keras.Sequential(
        [
            keras.Input(shape=(STEPS, FEATURES)),
            keras.layers.GRU(UNITS, dropout=RATE, recurrent_dropout=RATE),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE, epsilon=EPSILON),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=epochs,
        batch_size=BATCH,
        verbose=0,
        callbacks=[epoch_clock(keras.callbacks.Callback, ends)],
    ).history
    return {CASE: _record(history, start, ends)}


def fit_torch(epochs: int, seed: int, threads: int, data: Data) -> dict[str, dict[str, Any]]:
    try:
        import torch
        from torch import nn
    except ImportError as exc:
        raise FrameworkMissing(f"torch: {exc}") from exc
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    x = torch.from_numpy(data[0])
    y = torch.from_numpy(data[1])
    (torch.zeros(1) + 1).item()  # touch the runtime outside the timed region
    keep = 1.0 - RATE
    # Keras's initialisation: Glorot-uniform kernel, orthogonal recurrent kernel (rows of
    # Keras's (U, 3U) matrix orthonormal, stored transposed), zero biases. nn.GRU computes
    # the candidate as Keras's reset_after=True does.
    gru = nn.GRU(FEATURES, UNITS, batch_first=True)
    nn.init.xavier_uniform_(gru.weight_ih_l0)
    recurrent = torch.empty(UNITS, 3 * UNITS)
    nn.init.orthogonal_(recurrent)
    with torch.no_grad():
        gru.weight_hh_l0.copy_(recurrent.T)
        gru.bias_ih_l0.zero_()
        gru.bias_hh_l0.zero_()
    head = _torch_dense_head()

    def fused_logits(xb: Any) -> Any:
        mask = torch.bernoulli(torch.full((xb.shape[0], 1, FEATURES), keep)) / keep
        out, _ = gru(xb * mask)
        return head(out[:, -1]).squeeze(1)

    fused = _torch_train(torch, x, y, epochs, [*gru.parameters(), *head.parameters()], fused_logits)
    return {FUSED_CASE: fused}


FITTERS: dict[
    str, tuple[Callable[..., dict[str, dict[str, Any]]], Callable[[], dict[str, Any]]]
] = {
    "dropnet": (fit_dropnet, info_dropnet),
    "keras": (fit_keras, info_keras),
    "torch": (fit_torch, info_torch),
}


class GruWorkload(LstmWorkload):
    """The lstm workload's data, jobs and tables with a GRU; PyTorch's figure is its fused
    GRU without recurrent dropout."""

    name = "gru"
    description = (
        f"GRU({UNITS}, dropout={RATE}, recurrent_dropout={RATE}) -> Dense(1, sigmoid) on "
        f"{N_SEQ} synthetic sequences of {STEPS} steps x {FEATURES} features, Adam, binary CE, "
        f"batch {BATCH}; sequences/s from the median epoch after the first. PyTorch: its fused "
        "nn.GRU without recurrent dropout, as a bound"
    )

    def epochs_for(self, framework: str, opts: Options) -> int:
        return pick_epochs(framework, opts, DEFAULT_EPOCHS, QUICK_EPOCHS)

    def run(self, framework: str, threads: int, params: dict[str, Any]) -> dict[str, Any]:
        fit, info = FITTERS[framework]
        sequences, epochs = int(params["sequences"]), int(params["epochs"])
        results = fit(epochs, int(params.get("seed", 0)), threads, load_data(sequences))
        records = []
        for case, res in results.items():
            steady = res["steady_seconds_per_epoch"]
            records.append(
                {
                    "case": case,
                    "seconds": steady / sequences,  # per sequence; the table shows its inverse
                    "sequences": sequences,
                    "epochs": epochs,
                    "sequences_per_second": sequences / steady,
                    **res,
                }
            )
        return {"records": records, "info": info()}

    def headlines(
        self, summary: list[dict[str, Any]], details: dict[str, Any], runs: list[dict[str, Any]]
    ) -> list[Headline]:
        """One row: dropnet and Keras with recurrent dropout; the PyTorch column is its fused
        GRU without it (the bound the target is set against)."""
        headlines = default_headlines(self.name, summary)
        bounds = {h.threads: h.values.get("torch") for h in headlines if h.measure == FUSED_CASE}
        rows = [h for h in headlines if h.measure == CASE]
        for row in rows:
            bound = bounds.get(row.threads)
            if bound is not None:
                row.values["torch"] = bound
            row.accuracy = accuracy_by_framework(
                runs, CASE, row.threads, "final_acc", [f for f in row.values if f != "torch"]
            )
            row.measure = "train (variational dropout), sequences/s"
            row.target = f">= {TARGET_VS_FUSED:g}x PyTorch's fused GRU without recurrent dropout"
            ratio = row.advantage("torch")
            row.met = None if ratio is None else ratio >= TARGET_VS_FUSED
            row.note = "PyTorch column: fused nn.GRU without recurrent dropout (not the same model)"
        return rows

    def extra_report(
        self, summary: list[dict[str, Any]], runs: list[dict[str, Any]]
    ) -> tuple[str, dict[str, Any]]:
        table, train_data = self.train_table(runs)
        parts = [table] if table else []
        value = {(s["case"], s["framework"], s["threads"]): s["value_median"] for s in summary}
        targets: list[dict[str, Any]] = []
        lines: list[str] = []
        for (case, fw, threads), v in value.items():
            if case != CASE or fw != "dropnet":
                continue
            fused = value.get((FUSED_CASE, "torch", threads))
            ratio = v / fused if fused else None
            targets.append(
                {
                    "threads": threads,
                    "dropnet_sequences_per_second": v,
                    "vs_torch_fused": ratio,
                    "target_vs_torch_fused": TARGET_VS_FUSED,
                }
            )
            measured = f"{ratio:.2f}x" if ratio else "not measured"
            verdict = "" if ratio is None else (" met" if ratio >= TARGET_VS_FUSED else " NOT met")
            lines.append(
                f"thr={threads}: dropnet (variational) sequences/s / PyTorch fused nn.GRU "
                f"without recurrent dropout = {measured} (target >= {TARGET_VS_FUSED:g}x)"
                f"{verdict}"
            )
        if lines:
            parts.append(
                "Target: dropnet's GRU with variational dropout at least "
                f"{TARGET_VS_FUSED:g}x PyTorch's fused GRU without recurrent dropout (medians of "
                "the table above)\n" + "\n".join(lines)
            )
        return "\n\n".join(parts), {"train": train_data, "targets": targets}
