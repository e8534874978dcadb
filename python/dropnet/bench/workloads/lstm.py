"""Workload "lstm": training throughput of an LSTM with variational dropout (Gal &
Ghahramani 2016: one input and one recurrent mask per sequence, reused at every step) on
4096 synthetic sequences of 50 steps x 8 features with a learnable binary target:
LSTM(64, dropout=0.2, recurrent_dropout=0.2) -> Dense(1, sigmoid), Adam, binary
cross-entropy, batch 32, in dropnet, Keras (TensorFlow) and PyTorch.

dropnet and Keras run that model as written (Keras leaves its fused kernel for a step loop
when recurrent_dropout is set). PyTorch has no recurrent dropout, so its job runs twice:
a Python loop over the steps with Keras's masks (four input and four recurrent masks per
sequence, one per gate, drawn once per batch and reused at every step; each step one batched
product per operand over the four gates), reported as "train" beside the other frameworks;
and the fused nn.LSTM with the input dropout (one mask per sequence) but no recurrent dropout,
a bound: what PyTorch manages when the recurrent regularization is dropped.

The figure is sequences per second over the median epoch after the first (Keras trains on the
first 2048 sequences only, its step loop being slow); the report adds dropnet's ratios to both
PyTorch figures beside the targets (at least 1x the fused bound, at least 5x the step loop).
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

N_SEQ = 4096
# Sequences per epoch: Keras's step loop is slow, so it trains on the first half (the
# throughput is per sequence either way).
SEQUENCES = {"dropnet": N_SEQ, "torch": N_SEQ, "keras": N_SEQ // 2}
QUICK_SEQUENCES = {"dropnet": 1024, "torch": 512, "keras": 256}
STEPS = 50
FEATURES = 8
UNITS = 64
RATE = 0.2  # dropout and recurrent_dropout
DATA_SEED = 0  # the sequences and labels are the same in every framework and repeat
DEFAULT_EPOCHS = {"dropnet": 10, "torch": 3, "keras": 3}
QUICK_EPOCHS = {"dropnet": 2, "torch": 2, "keras": 2}
BATCH = 32
LEARNING_RATE = 1e-3
EPSILON = 1e-7
CASE = "train"  # the variational model, in every framework
FUSED_CASE = "fused nn.LSTM, no recurrent dropout"  # PyTorch only: the bound
TARGET_VS_FUSED = 1.0  # dropnet (variational) sequences/s >= PyTorch fused, no recurrent dropout
TARGET_VS_LOOP = 5.0  # dropnet sequences/s >= 5x PyTorch's step loop with the same masks

Data = tuple[np.ndarray, np.ndarray]


def load_data(n: int) -> Data:
    """n standard-normal float32 sequences (n, STEPS, FEATURES) and a learnable 0/1 label:
    the sign of a fixed random projection of the sequence mean; fixed seed, and the
    projection is drawn first so that it does not depend on n."""
    rng = np.random.default_rng(DATA_SEED)
    w = rng.standard_normal(FEATURES)
    x = rng.standard_normal((n, STEPS, FEATURES), dtype=np.float32)
    y = (x.mean(axis=1) @ w > 0).astype(np.float32)
    return x, y


# ----------------------------------------------------------------------------- dropnet


def fit_dropnet(epochs: int, seed: int, threads: int, data: Data) -> dict[str, dict[str, Any]]:
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
    dropnet.set_random_seed(seed)

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
    history = model.fit(
        x,
        y,
        epochs=epochs,
        batch_size=BATCH,
        verbose=0,
        callbacks=[epoch_clock(Callback, epoch_ends)],
    ).history
    return {
        CASE: {
            "fit_seconds": time.perf_counter() - start,
            "first_loss": float(history["loss"][0]),
            "final_loss": float(history["loss"][-1]),
            "final_acc": float(history["accuracy"][-1]),
            **steady_epochs(epoch_ends, start),
        }
    }


def info_dropnet() -> dict[str, Any]:
    import dropnet

    return {"dropnet": getattr(dropnet, "__version__", "?"), "threads": dropnet.get_num_threads()}


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
    keras.utils.set_random_seed(seed)
    x, y = data
    (tf.constant([1.0]) + 1.0).numpy()  # start the TensorFlow runtime outside the timed region

    epoch_ends: list[float] = []

    layers = keras.layers
    start = time.perf_counter()
    model = keras.Sequential(
        [
            keras.Input(shape=(STEPS, FEATURES)),
            layers.LSTM(UNITS, dropout=RATE, recurrent_dropout=RATE),
            layers.Dense(1, activation="sigmoid"),
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
        callbacks=[epoch_clock(keras.callbacks.Callback, epoch_ends)],
    ).history
    return {
        CASE: {
            "fit_seconds": time.perf_counter() - start,
            "first_loss": float(history["loss"][0]),
            "final_loss": float(history["loss"][-1]),
            "final_acc": float(history["accuracy"][-1]),
            **steady_epochs(epoch_ends, start),
        }
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


def _keras_lstm_init(weight_ih: Any, weight_hh: Any, bias: Any) -> None:
    """Keras's LSTM initialisation on PyTorch's (4U, D) / (4U, U) layout, gates i, f, g, o:
    Glorot-uniform kernel (fan-in D, fan-out 4U, as Keras's (D, 4U) kernel), orthogonal
    recurrent kernel (orthonormal rows of Keras's (U, 4U) matrix, stored transposed), zero
    bias but 1 for the forget gate."""
    import torch

    units = weight_hh.shape[1]
    torch.nn.init.xavier_uniform_(weight_ih)
    recurrent = torch.empty(units, weight_hh.shape[0])
    torch.nn.init.orthogonal_(recurrent)
    with torch.no_grad():
        weight_hh.copy_(recurrent.T)
        bias.zero_()
        bias[units : 2 * units] = 1.0


def _torch_dense_head(units: int = UNITS) -> Any:
    """Dense(1) with Keras's Glorot-uniform kernel and zero bias; the sigmoid is in the loss."""
    from torch import nn

    head = nn.Linear(units, 1)
    nn.init.xavier_uniform_(head.weight)
    nn.init.zeros_(head.bias)
    return head


def _torch_train(
    torch: Any,
    x: Any,
    y: Any,
    epochs: int,
    params: list[Any],
    logits_of: Callable[[Any], Any],
) -> dict[str, Any]:
    """An ordinary training loop: a torch.randperm shuffle each epoch, batches of BATCH,
    BCE-with-logits, Adam; logits_of(xb) is the model's (batch,) logits in training mode."""
    loss_fn = torch.nn.BCEWithLogitsLoss()
    optimizer = torch.optim.Adam(params, lr=LEARNING_RATE, eps=EPSILON)
    n = x.shape[0]

    epoch_ends: list[float] = []
    epoch_losses: list[float] = []
    correct = torch.zeros((), dtype=torch.long)
    start = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(n)
        loss_sum = torch.zeros(())
        correct = torch.zeros((), dtype=torch.long)
        for i in range(0, n, BATCH):
            idx = perm[i : i + BATCH]
            xb, yb = x[idx], y[idx]
            optimizer.zero_grad()
            logits = logits_of(xb)
            loss = loss_fn(logits, yb)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                loss_sum += loss.detach() * len(idx)
                correct += ((logits > 0) == (yb > 0.5)).sum()
        epoch_losses.append(loss_sum.item() / n)
        epoch_ends.append(time.perf_counter())
    return {
        "fit_seconds": time.perf_counter() - start,
        "first_loss": epoch_losses[0],
        "final_loss": epoch_losses[-1],
        "final_acc": correct.item() / n,
        **steady_epochs(epoch_ends, start),
    }


def torch_variational_lstm(
    features: int, units: int, keep: float
) -> tuple[list[Any], Callable[[Any], Any]]:
    """Keras's LSTM(units, dropout=recurrent_dropout=1 - keep) as a PyTorch step loop, with
    Keras's initialisation: (parameters, last_state) where last_state(x) maps a (batch,
    steps, features) batch to the final hidden state in training mode. The gates' weights
    are (4, U, D) / (4, U, U) stacks, so that each gate's product gets its own input and
    recurrent mask in one torch.bmm per operand."""
    import torch
    from torch import nn

    w_ih = nn.Parameter(torch.empty(4 * units, features))
    w_hh = nn.Parameter(torch.empty(4 * units, units))
    bias = nn.Parameter(torch.empty(4 * units))
    _keras_lstm_init(w_ih, w_hh, bias)

    def last_state(xb: Any) -> Any:
        n, steps = xb.shape[0], xb.shape[1]
        # Keras's masks: one per gate and sequence, scaled by 1/keep, reused at every step.
        mx = torch.bernoulli(torch.full((4, n, features), keep)) / keep
        mh = torch.bernoulli(torch.full((4, n, units), keep)) / keep
        wx = w_ih.view(4, units, features).transpose(1, 2)  # (4, D, U)
        wh = w_hh.view(4, units, units).transpose(1, 2)  # (4, U, U)
        b = bias.view(4, 1, units)
        h = torch.zeros(n, units)
        c = torch.zeros(n, units)
        for t in range(steps):
            # gate g: (x_t * mx_g) @ W_g + (h * mh_g) @ R_g + b_g, for g = i, f, g, o
            z = torch.bmm(xb[:, t].unsqueeze(0) * mx, wx)
            z = z + torch.bmm(h.unsqueeze(0) * mh, wh) + b
            i, f, o = torch.sigmoid(z[0]), torch.sigmoid(z[1]), torch.sigmoid(z[3])
            g = torch.tanh(z[2])
            c = f * c + i * g
            h = o * torch.tanh(c)
        return h

    return [w_ih, w_hh, bias], last_state


def torch_fused_lstm(
    features: int, units: int, keep: float
) -> tuple[list[Any], Callable[[Any], Any]]:
    """The bound: PyTorch's fused nn.LSTM with Keras's initialisation, the input dropout as
    one mask per sequence and no recurrent dropout; (parameters, last_state) as above."""
    import torch
    from torch import nn

    lstm = nn.LSTM(features, units, batch_first=True)
    _keras_lstm_init(lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0)
    with torch.no_grad():
        lstm.bias_hh_l0.zero_()  # Keras has one bias; PyTorch adds the two

    def last_state(xb: Any) -> Any:
        mask = torch.bernoulli(torch.full((xb.shape[0], 1, features), keep)) / keep
        out, _ = lstm(xb * mask)
        return out[:, -1]

    return list(lstm.parameters()), last_state


def fit_torch(epochs: int, seed: int, threads: int, data: Data) -> dict[str, dict[str, Any]]:
    try:
        import torch
    except ImportError as exc:
        raise FrameworkMissing(f"torch: {exc}") from exc
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    x = torch.from_numpy(data[0])
    y = torch.from_numpy(data[1])
    (torch.zeros(1) + 1).item()  # touch the runtime outside the timed region
    keep = 1.0 - RATE
    results = {}
    for case, make in ((CASE, torch_variational_lstm), (FUSED_CASE, torch_fused_lstm)):
        params, last_state = make(FEATURES, UNITS, keep)
        head = _torch_dense_head()

        def logits(xb: Any, last_state=last_state, head=head) -> Any:
            return head(last_state(xb)).squeeze(1)

        results[case] = _torch_train(torch, x, y, epochs, [*params, *head.parameters()], logits)
    return results


def info_torch() -> dict[str, Any]:
    import torch

    return {"torch": torch.__version__, "num_threads": torch.get_num_threads()}


# ----------------------------------------------------------------------------- workload

FITTERS: dict[
    str, tuple[Callable[..., dict[str, dict[str, Any]]], Callable[[], dict[str, Any]]]
] = {
    "dropnet": (fit_dropnet, info_dropnet),
    "keras": (fit_keras, info_keras),
    "torch": (fit_torch, info_torch),
}


class LstmWorkload(Workload):
    name = "lstm"
    description = (
        f"LSTM({UNITS}, dropout={RATE}, recurrent_dropout={RATE}) -> Dense(1, sigmoid) on "
        f"{N_SEQ} synthetic sequences of {STEPS} steps x {FEATURES} features, Adam, binary CE, "
        f"batch {BATCH}; sequences/s from the median epoch after the first. PyTorch: a Python "
        "step loop with the same per-sequence masks, and its fused nn.LSTM without recurrent "
        "dropout as a bound"
    )
    frameworks = ("dropnet", "keras", "torch")

    def epochs_for(self, framework: str, opts: Options) -> int:
        return pick_epochs(framework, opts, DEFAULT_EPOCHS, QUICK_EPOCHS)

    def plan(self, opts: Options, frameworks: list[str], threads: tuple[int, ...]) -> list[Job]:
        jobs: list[Job] = []
        for t in threads:
            for fw in frameworks:
                sequences = (QUICK_SEQUENCES if opts.quick else SEQUENCES)[fw]
                epochs = self.epochs_for(fw, opts)
                jobs.append(
                    Job(
                        fw,
                        t,
                        {"sequences": sequences, "epochs": epochs},
                        label=f"{sequences} sequences x {epochs} epochs",
                    )
                )
        return jobs

    def run(self, framework: str, threads: int, params: dict[str, Any]) -> dict[str, Any]:
        fit, info = FITTERS[framework]
        sequences, epochs = int(params["sequences"]), int(params["epochs"])
        results = fit(epochs, int(params.get("seed", 0)), threads, load_data(sequences))
        # The first epoch (model construction, compile, graph tracing, lazy initialisation)
        # is left out: throughput is the median of the later epochs.
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

    def metric(self, case: str) -> Metric:
        return Metric("throughput", "sequences/s", lambda s: 1.0 / s, higher_is_better=True)

    def headlines(
        self, summary: list[dict[str, Any]], details: dict[str, Any], runs: list[dict[str, Any]]
    ) -> list[Headline]:
        rows = [h for h in default_headlines(self.name, summary) if h.measure == CASE]
        targets = {t["threads"]: t for t in details.get("targets", [])}
        for row in rows:
            row.accuracy = accuracy_by_framework(
                runs, CASE, row.threads, "final_acc", list(row.values)
            )
            row.measure = "train (variational dropout), sequences/s"
            t = targets.get(row.threads, {})
            fused = t.get("vs_torch_fused")
            row.target = f">= {TARGET_VS_FUSED:g}x PyTorch's fused LSTM without recurrent dropout"
            row.met = None if fused is None else fused >= TARGET_VS_FUSED
            if fused is not None:
                row.note = (
                    f"dropnet / PyTorch fused nn.LSTM (no recurrent dropout) = {fused:.2f}x; "
                    "PyTorch column: its step loop with the same masks"
                )
        return rows

    def train_table(
        self, runs: list[dict[str, Any]], unit: str = "sequences"
    ) -> tuple[str, list[dict[str, Any]]]:
        """The per-case training table (first and steady epoch, throughput, loss, accuracy)
        as text, throughput in ``unit`` per second, and its rows as data."""
        from ..common import fmt_num, format_table

        table = ""
        groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
        for run in runs:
            for rec in run.get("records", []):
                groups.setdefault((rec["case"], run["framework"], run["threads"]), []).append(rec)
        train_data: list[dict[str, Any]] = []
        rows: list[list[str]] = []
        for (case, fw, threads), recs in groups.items():
            first = statistics.median(r["first_epoch_seconds"] for r in recs)
            steady = statistics.median(r["steady_seconds_per_epoch"] for r in recs)
            sps = statistics.median(r["sequences_per_second"] for r in recs)
            first_loss = statistics.median(r["first_loss"] for r in recs)
            loss = statistics.median(r["final_loss"] for r in recs)
            acc = statistics.median(r["final_acc"] for r in recs)
            train_data.append(
                {
                    "case": case,
                    "framework": fw,
                    "threads": threads,
                    "sequences": recs[0]["sequences"],
                    "epochs": recs[0]["epochs"],
                    "first_epoch_seconds": first,
                    "steady_seconds_per_epoch": steady,
                    "sequences_per_second": sps,
                    "first_loss": [r["first_loss"] for r in recs],
                    "final_loss": [r["final_loss"] for r in recs],
                    "final_acc": [r["final_acc"] for r in recs],
                }
            )
            rows.append(
                [
                    fw,
                    case,
                    str(threads),
                    f"{recs[0]['sequences']} x {recs[0]['epochs']}",
                    fmt_num(first),
                    fmt_num(steady),
                    fmt_num(sps),
                    f"{first_loss:.3f}",
                    f"{loss:.3f}",
                    f"{acc:.3f}",
                ]
            )
        if rows:
            table = (
                format_table(
                    [
                        "framework",
                        "case",
                        "thr",
                        f"{unit} x epochs",
                        "first epoch s",
                        "steady s/epoch",
                        f"{unit}/s",
                        "epoch-1 loss",
                        "final loss",
                        "final acc",
                    ],
                    rows,
                    right=[False, False, True, True, True, True, True, True, True, True],
                )
                + "\nfirst epoch s includes model construction, compile and any graph tracing; "
                f"{unit}/s = {unit} / steady s/epoch (median epoch after the first). Loss "
                "and accuracy are the training figures of the first and last epoch (with "
                "dropout); the fused case has no recurrent dropout, so it fits faster."
            )
        return table, train_data

    def extra_report(
        self, summary: list[dict[str, Any]], runs: list[dict[str, Any]]
    ) -> tuple[str, dict[str, Any]]:
        table, train_data = self.train_table(runs)
        text_parts = [table] if table else []

        value = {(s["case"], s["framework"], s["threads"]): s["value_median"] for s in summary}
        target_data: list[dict[str, Any]] = []
        lines: list[str] = []
        for (case, fw, threads), v in value.items():
            if case != CASE or fw != "dropnet":
                continue
            fused = value.get((FUSED_CASE, "torch", threads))
            loop = value.get((CASE, "torch", threads))
            entry = {
                "threads": threads,
                "dropnet_sequences_per_second": v,
                "vs_torch_fused": v / fused if fused else None,
                "vs_torch_loop": v / loop if loop else None,
                "target_vs_torch_fused": TARGET_VS_FUSED,
                "target_vs_torch_loop": TARGET_VS_LOOP,
            }
            target_data.append(entry)
            for name, ratio, target in (
                (
                    "PyTorch fused nn.LSTM without recurrent dropout",
                    entry["vs_torch_fused"],
                    TARGET_VS_FUSED,
                ),
                ("PyTorch step loop with the same masks", entry["vs_torch_loop"], TARGET_VS_LOOP),
            ):
                measured = f"{ratio:.2f}x" if ratio else "not measured"
                verdict = "" if ratio is None else (" met" if ratio >= target else " NOT met")
                lines.append(
                    f"thr={threads}: dropnet (variational) sequences/s / {name} = {measured} "
                    f"(target >= {target:g}x){verdict}"
                )
        if lines:
            text_parts.append(
                "Targets: dropnet with variational dropout at least as fast as PyTorch's fused "
                f"LSTM without recurrent dropout, and at least {TARGET_VS_LOOP:g}x PyTorch's "
                "variational step loop (medians of the table above)\n" + "\n".join(lines)
            )
        return "\n\n".join(text_parts), {"train": train_data, "targets": target_data}
