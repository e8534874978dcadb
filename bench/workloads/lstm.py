"""Workload "lstm": training throughput of an LSTM with variational dropout (Gal &
Ghahramani 2016: one input and one recurrent mask per sequence, reused at every step) on
4096 synthetic sequences of 50 steps × 8 features with a binary target:
LSTM(64, dropout=0.2, recurrent_dropout=0.2) -> Dense(1, sigmoid), Adam, batch 32.

dropnet and Keras run that model as written. PyTorch has no recurrent dropout, so it runs
twice: a Python loop over the steps with Keras's per-gate masks, each step one batched
product per operand over the four gates (the same semantics as an LSTMCell loop with
variational masks, "train" in the table), and its fused nn.LSTM without any recurrent
dropout (a bound: what PyTorch manages when the regularization is dropped).
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from .base import (
    FrameworkMissing,
    Job,
    Metric,
    Options,
    Workload,
    epoch_clock,
    pick_epochs,
    steady_epochs,
)

N_SEQ = 4096
QUICK_SEQ = 1024
STEPS = 50
FEATURES = 8
UNITS = 64
RATE = 0.2  # dropout and recurrent_dropout
BATCH = 32
LEARNING_RATE = 1e-3
EPSILON = 1e-7
DATA_SEED = 0
DEFAULT_EPOCHS = {"dropnet": 6, "torch": 3, "keras": 3}
QUICK_EPOCHS = {"dropnet": 2, "torch": 2, "keras": 2}
CASE = "train"  # the variational model in every framework
FUSED_CASE = "fused nn.LSTM, no recurrent dropout"

Data = tuple[np.ndarray, np.ndarray]


def load_data(n: int) -> Data:
    """n standard-normal sequences and a learnable label: the sign of a fixed random
    projection of the sequence mean."""
    rng = np.random.default_rng(DATA_SEED)
    x = rng.standard_normal((n, STEPS, FEATURES), dtype=np.float32)
    w = rng.standard_normal(FEATURES)
    y = (x.mean(axis=1) @ w > 0).astype(np.float32)
    return x, y


def _record(case: str, n: int, epochs: int, res: dict[str, Any]) -> dict[str, Any]:
    steady = res["steady_seconds_per_epoch"]
    return {
        "case": case,
        "seconds": steady / n,
        "sequences": n,
        "epochs": epochs,
        "sequences_per_second": n / steady,
        **res,
    }


# ----------------------------------------------------------------------------- dropnet


def fit_dropnet(epochs: int, threads: int, data: Data) -> list[dict[str, Any]]:
    try:
        import dropnet
        from dropnet.callbacks import Callback
        from dropnet.layers import LSTM, Dense, Input
        from dropnet.models import Sequential
        from dropnet.optimizers import Adam
    except ImportError as exc:
        raise FrameworkMissing(f"dropnet: {exc}") from exc
    x, y = data
    dropnet.set_num_threads(threads)
    dropnet.set_random_seed(DATA_SEED)
    epoch_ends: list[float] = []

    start = time.perf_counter()
    model = Sequential(
        [
            Input((STEPS, FEATURES)),
            LSTM(UNITS, dropout=RATE, recurrent_dropout=RATE),
            Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=Adam(learning_rate=LEARNING_RATE, epsilon=EPSILON),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    hist = model.fit(
        x,
        y,
        epochs=epochs,
        batch_size=BATCH,
        verbose=0,
        callbacks=[epoch_clock(Callback, epoch_ends)],
    ).history
    res = {
        "final_loss": float(hist["loss"][-1]),
        "final_acc": float(hist["accuracy"][-1]),
        **steady_epochs(epoch_ends, start),
    }
    return [_record(CASE, len(x), epochs, res)]


def info_dropnet() -> dict[str, Any]:
    import dropnet

    return {"dropnet": getattr(dropnet, "__version__", "?"), "threads": dropnet.get_num_threads()}


# ----------------------------------------------------------------------------- keras


def fit_keras(epochs: int, threads: int, data: Data) -> list[dict[str, Any]]:
    try:
        import keras
        import tensorflow as tf
    except ImportError as exc:
        raise FrameworkMissing(f"keras/tensorflow: {exc}") from exc
    if tf.config.threading.get_intra_op_parallelism_threads() != threads:  # settable once
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    keras.utils.set_random_seed(DATA_SEED)
    x, y = data
    (tf.constant([1.0]) + 1.0).numpy()  # start the runtime outside the timed region
    epoch_ends: list[float] = []

    start = time.perf_counter()
    model = keras.Sequential(
        [
            keras.Input((STEPS, FEATURES)),
            keras.layers.LSTM(UNITS, dropout=RATE, recurrent_dropout=RATE),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE, epsilon=EPSILON),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    hist = model.fit(
        x,
        y,
        epochs=epochs,
        batch_size=BATCH,
        verbose=0,
        callbacks=[epoch_clock(keras.callbacks.Callback, epoch_ends)],
    ).history
    res = {
        "final_loss": float(hist["loss"][-1]),
        "final_acc": float(hist["accuracy"][-1]),
        **steady_epochs(epoch_ends, start),
    }
    return [_record(CASE, len(x), epochs, res)]


def info_keras() -> dict[str, Any]:
    import keras
    import tensorflow as tf

    return {
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
    }


# ----------------------------------------------------------------------------- torch


def _keras_init(weight_ih: Any, weight_hh: Any, bias: Any) -> None:
    """Keras's LSTM initialisation on PyTorch's (4U, D) / (4U, U) layout, gates i, f, g, o:
    Glorot-uniform kernel, orthogonal recurrent kernel (rows of the (U, 4U) matrix), zero
    bias but 1 for the forget gate."""
    import torch

    torch.nn.init.xavier_uniform_(weight_ih)
    rt = torch.empty(weight_hh.shape[1], weight_hh.shape[0])
    torch.nn.init.orthogonal_(rt)
    with torch.no_grad():
        weight_hh.copy_(rt.T)
        bias.zero_()
        bias[UNITS : 2 * UNITS] = 1.0


def _torch_loop(
    torch: Any, x: Any, y: Any, epochs: int, step: Callable[[Any, Any], Any], params: list[Any]
) -> dict[str, Any]:
    """Adam over shuffled batches of BATCH; step(xb, yb) returns the batch loss."""
    optimizer = torch.optim.Adam(params, lr=LEARNING_RATE, eps=EPSILON)
    n = x.shape[0]
    epoch_ends: list[float] = []
    start = time.perf_counter()
    loss_sum = 0.0
    for _ in range(epochs):
        perm = torch.randperm(n)
        loss_sum = 0.0
        for i in range(0, n, BATCH):
            idx = perm[i : i + BATCH]
            optimizer.zero_grad()
            loss = step(x[idx], y[idx])
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(idx)
        epoch_ends.append(time.perf_counter())
    return {"final_loss": loss_sum / n, **steady_epochs(epoch_ends, start)}


def fit_torch(epochs: int, threads: int, data: Data) -> list[dict[str, Any]]:
    try:
        import torch
        from torch import nn
    except ImportError as exc:
        raise FrameworkMissing(f"torch: {exc}") from exc
    torch.set_num_threads(threads)
    torch.manual_seed(DATA_SEED)
    x = torch.from_numpy(data[0])
    y = torch.from_numpy(data[1])
    bce = nn.BCEWithLogitsLoss()
    keep = 1.0 - RATE

    # Variational loop: per-gate weights so each gate gets its own input and recurrent mask.
    w_ih = nn.Parameter(torch.empty(4 * UNITS, FEATURES))
    w_hh = nn.Parameter(torch.empty(4 * UNITS, UNITS))
    b = nn.Parameter(torch.empty(4 * UNITS))
    _keras_init(w_ih, w_hh, b)
    head = nn.Linear(UNITS, 1)
    nn.init.xavier_uniform_(head.weight)
    nn.init.zeros_(head.bias)

    def variational_step(xb: Any, yb: Any) -> Any:
        n = xb.shape[0]
        mx = torch.bernoulli(torch.full((4, n, FEATURES), keep)) / keep  # one per gate and sequence
        mh = torch.bernoulli(torch.full((4, n, UNITS), keep)) / keep
        h = torch.zeros(n, UNITS)
        c = torch.zeros(n, UNITS)
        wi, wh, bb = w_ih.view(4, UNITS, FEATURES), w_hh.view(4, UNITS, UNITS), b.view(4, 1, UNITS)
        for t in range(STEPS):
            # (4, n, D) @ (4, D, U) + (4, n, U) @ (4, U, U): each gate's masked products
            z = torch.bmm(xb[:, t].unsqueeze(0) * mx, wi.transpose(1, 2))
            z = z + torch.bmm(h.unsqueeze(0) * mh, wh.transpose(1, 2)) + bb
            i, f, g, o = (
                torch.sigmoid(z[0]),
                torch.sigmoid(z[1]),
                torch.tanh(z[2]),
                torch.sigmoid(z[3]),
            )
            c = f * c + i * g
            h = o * torch.tanh(c)
        return bce(head(h).squeeze(1), yb)

    loop = _torch_loop(torch, x, y, epochs, variational_step, [w_ih, w_hh, b, *head.parameters()])

    # Fused bound: nn.LSTM with no dropout of any kind on the recurrence.
    lstm = nn.LSTM(FEATURES, UNITS, batch_first=True)
    _keras_init(lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0)
    with torch.no_grad():
        lstm.bias_hh_l0.zero_()
    head2 = nn.Linear(UNITS, 1)

    def fused_step(xb: Any, yb: Any) -> Any:
        out, _ = lstm(xb)
        return bce(head2(out[:, -1]).squeeze(1), yb)

    fused = _torch_loop(torch, x, y, epochs, fused_step, [*lstm.parameters(), *head2.parameters()])
    n = len(data[0])
    return [_record(CASE, n, epochs, loop), _record(FUSED_CASE, n, epochs, fused)]


def info_torch() -> dict[str, Any]:
    import torch

    return {"torch": torch.__version__, "num_threads": torch.get_num_threads()}


# ----------------------------------------------------------------------------- workload

FITTERS: dict[str, tuple[Callable[..., list[dict[str, Any]]], Callable[[], dict[str, Any]]]] = {
    "dropnet": (fit_dropnet, info_dropnet),
    "keras": (fit_keras, info_keras),
    "torch": (fit_torch, info_torch),
}


class LstmWorkload(Workload):
    name = "lstm"
    description = (
        f"LSTM({UNITS}, dropout={RATE}, recurrent_dropout={RATE}) -> Dense(1, sigmoid) on {N_SEQ} "
        f"sequences of {STEPS} steps x {FEATURES} features, Adam, batch {BATCH}; sequences/s from "
        "the median epoch after the first. PyTorch: a Python step loop with the same per-sequence "
        "masks, and its fused nn.LSTM without recurrent dropout as a bound"
    )
    frameworks = ("dropnet", "keras", "torch")

    def plan(self, opts: Options, frameworks: list[str], threads: tuple[int, ...]) -> list[Job]:
        n = QUICK_SEQ if opts.quick else N_SEQ
        jobs = []
        for t in threads:
            for fw in frameworks:
                epochs = pick_epochs(fw, opts, DEFAULT_EPOCHS, QUICK_EPOCHS)
                jobs.append(
                    Job(
                        fw,
                        t,
                        {"sequences": n, "epochs": epochs},
                        label=f"{n} sequences x {epochs} epochs",
                    )
                )
        return jobs

    def run(self, framework: str, threads: int, params: dict[str, Any]) -> dict[str, Any]:
        fit, info = FITTERS[framework]
        records = fit(int(params["epochs"]), threads, load_data(int(params["sequences"])))
        return {"records": records, "info": info()}

    def metric(self, case: str) -> Metric:
        return Metric("throughput", "sequences/s", lambda s: 1.0 / s, higher_is_better=True)

    def extra_report(
        self, summary: list[dict[str, Any]], runs: list[dict[str, Any]]
    ) -> tuple[str, dict[str, Any]]:
        value = {(s["case"], s["framework"], s["threads"]): s["value_median"] for s in summary}
        lines, data = [], []
        for (case, fw, threads), v in sorted(value.items()):
            if fw != "dropnet":
                continue
            fused = value.get((FUSED_CASE, "torch", threads))
            loop = value.get((CASE, "torch", threads))
            entry = {
                "threads": threads,
                "dropnet": v,
                "vs_fused": v / fused if fused else None,
                "vs_loop": v / loop if loop else None,
            }
            data.append(entry)
            if fused:
                lines.append(
                    f"threads {threads}: dropnet (variational) / PyTorch fused nn.LSTM without "
                    f"recurrent dropout = {entry['vs_fused']:.2f} (target >= 1)"
                )
            if loop:
                lines.append(
                    f"threads {threads}: dropnet / PyTorch step loop with the same masks = "
                    f"{entry['vs_loop']:.2f} (target >= 5)"
                )
        return "\n".join(lines), {"targets": data}
