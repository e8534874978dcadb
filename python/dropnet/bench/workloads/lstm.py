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

import time
from collections.abc import Sequence
from types import ModuleType
from typing import Any, Callable

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
    medians,
    pick_epochs,
    throughput,
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
CASE = "train"  # the variational model, in every framework
FUSED_CASE = "fused nn.LSTM, no recurrent dropout"  # PyTorch only: the bound
TARGET_VS_FUSED = 1.0  # dropnet (variational) sequences/s >= PyTorch fused, no recurrent dropout
TARGET_VS_LOOP = 5.0  # dropnet sequences/s >= 5x PyTorch's step loop with the same masks

Data = tuple[np.ndarray, np.ndarray]
# A PyTorch model as the recurrent workloads train it: (parameters, batch -> logits).
TorchModel = tuple[list[Any], Callable[[Any], Any]]


def load_data(n: int) -> Data:
    """n standard-normal float32 sequences (n, STEPS, FEATURES) and a learnable 0/1 label:
    the sign of a fixed random projection of the sequence mean; fixed seed, and the
    projection is drawn first so that it does not depend on n."""
    rng = np.random.default_rng(DATA_SEED)
    w = rng.standard_normal(FEATURES)
    x = rng.standard_normal((n, STEPS, FEATURES), dtype=np.float32)
    y = (x.mean(axis=1) @ w > 0).astype(np.float32)
    return x, y


def keras_recurrent_init(fw: ModuleType, weight_ih: Any, weight_hh: Any) -> None:
    """Keras's initialisation of a recurrent layer's kernels on PyTorch's (G*U, D) / (G*U, U)
    layout (G gates): Glorot-uniform kernel (fan-in D, fan-out G*U, as Keras's (D, G*U)
    kernel) and orthogonal recurrent kernel (orthonormal rows of Keras's (U, G*U) matrix,
    stored transposed)."""
    torch = fw.torch
    units = weight_hh.shape[1]
    torch.nn.init.xavier_uniform_(weight_ih)
    recurrent = torch.empty(units, weight_hh.shape[0])
    torch.nn.init.orthogonal_(recurrent)
    with torch.no_grad():
        weight_hh.copy_(recurrent.T)


def _keras_lstm_init(fw: ModuleType, weight_ih: Any, weight_hh: Any, bias: Any) -> None:
    """Keras's LSTM initialisation (gates i, f, g, o): the kernels as above, zero bias but 1
    for the forget gate."""
    keras_recurrent_init(fw, weight_ih, weight_hh)
    units = weight_hh.shape[1]
    with fw.torch.no_grad():
        bias.zero_()
        bias[units : 2 * units] = 1.0


def with_head(fw: ModuleType, units: int, params: list[Any], last_state: Any) -> TorchModel:
    """A recurrent stack's (parameters, last_state) with Dense(1) on top (Keras's Glorot-
    uniform kernel, zero bias; the sigmoid is in the loss): (parameters, batch -> logits)."""
    head = fw.glorot(fw.nn.Linear(units, 1))
    return [*params, *head.parameters()], lambda xb: head(last_state(xb)).squeeze(1)


def variational_lstm(fw: ModuleType, features: int, units: int, keep: float) -> TorchModel:
    """Keras's LSTM(units, dropout=recurrent_dropout=1 - keep) as a PyTorch step loop, with
    Keras's initialisation: (parameters, last_state) where last_state(x) maps a (batch,
    steps, features) batch to the final hidden state in training mode. The gates' weights
    are (4, U, D) / (4, U, U) stacks, so that each gate's product gets its own input and
    recurrent mask in one torch.bmm per operand."""
    torch, nn = fw.torch, fw.nn
    w_ih = nn.Parameter(torch.empty(4 * units, features))
    w_hh = nn.Parameter(torch.empty(4 * units, units))
    bias = nn.Parameter(torch.empty(4 * units))
    _keras_lstm_init(fw, w_ih, w_hh, bias)

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


def fused_lstm(fw: ModuleType, features: int, units: int, keep: float) -> TorchModel:
    """The bound: PyTorch's fused nn.LSTM with Keras's initialisation, the input dropout as
    one mask per sequence and no recurrent dropout; (parameters, last_state) as above."""
    torch = fw.torch
    lstm = fw.nn.LSTM(features, units, batch_first=True)
    _keras_lstm_init(fw, lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0)
    with torch.no_grad():
        lstm.bias_hh_l0.zero_()  # Keras has one bias; PyTorch adds the two

    def last_state(xb: Any) -> Any:
        mask = torch.bernoulli(torch.full((xb.shape[0], 1, features), keep)) / keep
        out, _ = lstm(xb * mask)
        return out[:, -1]

    return list(lstm.parameters()), last_state


class LstmWorkload(Workload):
    """Training throughput of a recurrent model with variational dropout: dropnet and Keras
    run it as written, PyTorch its torch_models (a step loop with the same masks and/or a
    fused layer without recurrent dropout). The gru and text workloads are variants."""

    name = "lstm"
    description = (
        f"LSTM({UNITS}, dropout={RATE}, recurrent_dropout={RATE}) -> Dense(1, sigmoid) on "
        f"{N_SEQ} synthetic sequences of {STEPS} steps x {FEATURES} features, Adam, binary CE, "
        f"batch {BATCH}; sequences/s from the median epoch after the first. PyTorch: a Python "
        "step loop with the same per-sequence masks, and its fused nn.LSTM without recurrent "
        "dropout as a bound"
    )
    frameworks = ("dropnet", "keras", "torch")
    unit = "sequences"  # what the throughput counts
    default_epochs, quick_epochs = DEFAULT_EPOCHS, QUICK_EPOCHS

    def epochs_for(self, framework: str, opts: Options) -> int:
        return pick_epochs(framework, opts, self.default_epochs, self.quick_epochs)

    def plan(self, opts: Options, frameworks: list[str], threads: tuple[int, ...]) -> list[Job]:
        def job(fw: str) -> tuple[dict[str, Any], str]:
            sequences = (QUICK_SEQUENCES if opts.quick else SEQUENCES)[fw]
            epochs = self.epochs_for(fw, opts)
            params = {"sequences": sequences, "epochs": epochs}
            return params, f"{sequences} sequences x {epochs} epochs"

        return self.jobs(frameworks, threads, job)

    def data(self, params: dict[str, Any]) -> Data:
        return load_data(int(params["sequences"]))

    def keras_layers(self, fw: ModuleType) -> list[Any]:
        """The model below its Dense(1, sigmoid) head, in dropnet or Keras."""
        layers = fw.layers
        return [
            layers.Input((STEPS, FEATURES)),
            layers.LSTM(UNITS, dropout=RATE, recurrent_dropout=RATE),
        ]

    def keras_inputs(self, fw: ModuleType, x: np.ndarray) -> np.ndarray:
        return x

    def torch_models(self, fw: ModuleType) -> dict[str, Callable[[], TorchModel]]:
        """case -> a function building PyTorch's model for it (built in turn, just before
        its training)."""
        keep = 1.0 - RATE
        return {
            CASE: lambda: with_head(fw, UNITS, *variational_lstm(fw, FEATURES, UNITS, keep)),
            FUSED_CASE: lambda: with_head(fw, UNITS, *fused_lstm(fw, FEATURES, UNITS, keep)),
        }

    def measure(self, fw: ModuleType, threads: int, params: dict[str, Any]) -> Records:
        x, y = self.data(params)
        n, epochs = len(y), int(params["epochs"])
        fw.setup(threads, int(params.get("seed", 0)))
        fits: dict[str, Fit] = {}
        if fw.NAME == "torch":
            xt, yt = fw.torch.from_numpy(x), fw.torch.from_numpy(y)
            hits = fw.binary_hits
            for case, build in self.torch_models(fw).items():
                weights, logits = build()
                loss_fn, optimizer = fw.nn.BCEWithLogitsLoss(), fw.adam(weights)
                fits[case] = fw.train(logits, xt, yt, epochs, BATCH, optimizer, loss_fn, hits=hits)
        else:
            start = time.perf_counter()
            model = fw.Sequential(
                [*self.keras_layers(fw), fw.layers.Dense(1, activation="sigmoid")]
            )
            model.compile(fw.adam(), "binary_crossentropy", metrics=["accuracy"])
            x = self.keras_inputs(fw, x)
            fits[CASE] = fw.fit(model, x, y, start=start, epochs=epochs, batch_size=BATCH)
        # The first epoch (model construction, compile, graph tracing, lazy initialisation)
        # is left out: throughput is the median of the later epochs.
        return [
            {
                "case": case,
                "seconds": fit.steady / n,  # per sequence; the table shows its inverse
                "sequences": n,
                "epochs": epochs,
                "sequences_per_second": n / fit.steady,
                **fit.record("fit_seconds", "first_loss", "final_loss", "final_acc"),
            }
            for case, fit in fits.items()
        ]

    def metric(self, case: str) -> Metric:
        return throughput(f"{self.unit}/s")

    def headlines(self, summary: Summary, details: Details, runs: Runs) -> list[Headline]:
        rows = [h for h in default_headlines(self.name, summary) if h.measure == CASE]
        targets = {t["threads"]: t for t in details.get("targets", [])}
        for row in rows:
            row.add_accuracy(runs, "final_acc")
            row.measure = "train (variational dropout), sequences/s"
            fused = targets.get(row.threads, {}).get("vs_torch_fused")
            row.target = f">= {TARGET_VS_FUSED:g}x PyTorch's fused LSTM without recurrent dropout"
            row.met = None if fused is None else fused >= TARGET_VS_FUSED
            if fused is not None:
                row.note = (
                    f"dropnet / PyTorch fused nn.LSTM (no recurrent dropout) = {fused:.2f}x; "
                    "PyTorch column: its step loop with the same masks"
                )
        return rows

    def train_table(self, runs: Runs) -> tuple[str, Records]:
        """The per-case training table (first and steady epoch, throughput, loss, accuracy)
        as text, and its rows as data."""
        unit = self.unit
        data: Records = []
        rows: list[list[str]] = []
        for (case, fw, threads), recs in grouped(runs, "case", "framework", "threads").items():
            first = median(recs, "first_epoch_seconds")
            steady = median(recs, "steady_seconds_per_epoch")
            sps = median(recs, "sequences_per_second")
            data.append(
                {
                    "case": case,
                    "framework": fw,
                    "threads": threads,
                    "sequences": recs[0]["sequences"],
                    "epochs": recs[0]["epochs"],
                    "first_epoch_seconds": first,
                    "steady_seconds_per_epoch": steady,
                    "sequences_per_second": sps,
                    **{k: [r[k] for r in recs] for k in ("first_loss", "final_loss", "final_acc")},
                }
            )
            size = f"{recs[0]['sequences']} x {recs[0]['epochs']}"
            losses = [f"{median(recs, k):.3f}" for k in ("first_loss", "final_loss", "final_acc")]
            rows.append(
                [fw, case, str(threads), size, *map(fmt_num, (first, steady, sps)), *losses]
            )
        if not rows:
            return "", data
        head = ["framework", "case", "thr", f"{unit} x epochs", "first epoch s", "steady s/epoch"]
        head += [f"{unit}/s", "epoch-1 loss", "final loss", "final acc"]
        table = format_table(head, rows, right=[False, False] + [True] * 8)
        return table + (
            "\nfirst epoch s includes model construction, compile and any graph tracing; "
            f"{unit}/s = {unit} / steady s/epoch (median epoch after the first). Loss "
            "and accuracy are the training figures of the first and last epoch (with "
            "dropout); the fused case has no recurrent dropout, so it fits faster."
        ), data

    def ratios(
        self,
        summary: Summary,
        subject: str,
        versus: Sequence[tuple[str, str, tuple[str, str], float | None]],
    ) -> tuple[Records, list[str]]:
        """dropnet's CASE figure over others at each thread count: `versus` lists (key,
        name, (case, framework), target or None); one data entry per thread count (the
        ratios under their keys, then the targets under "target_" + key) and one text line
        per ratio."""
        value = medians(summary)
        entries: Records = []
        lines: list[str] = []
        for (case, fw, threads), v in value.items():
            if case != CASE or fw != "dropnet":
                continue
            entry: dict[str, Any] = {"threads": threads, f"dropnet_{self.unit}_per_second": v}
            targets: dict[str, float] = {}
            for key, name, other, target in versus:
                theirs = value.get((*other, threads))
                ratio = entry[key] = v / theirs if theirs else None
                line = f"thr={threads}: {subject} / {name} = "
                line += f"{ratio:.2f}x" if ratio else "not measured"
                if target is not None:
                    targets[f"target_{key}"] = target
                    verdict = "" if ratio is None else (" met" if ratio >= target else " NOT met")
                    line += f" (target >= {target:g}x){verdict}"
                lines.append(line)
            entries.append({**entry, **targets})
        return entries, lines

    def extra_report(self, summary: Summary, runs: Runs) -> tuple[str, Details]:
        table, train_data = self.train_table(runs)
        fused = "PyTorch fused nn.LSTM without recurrent dropout"
        loop = "PyTorch step loop with the same masks"
        targets, lines = self.ratios(
            summary,
            "dropnet (variational) sequences/s",
            [
                ("vs_torch_fused", fused, (FUSED_CASE, "torch"), TARGET_VS_FUSED),
                ("vs_torch_loop", loop, (CASE, "torch"), TARGET_VS_LOOP),
            ],
        )
        parts = [table] if table else []
        if lines:
            parts.append(
                "Targets: dropnet with variational dropout at least as fast as PyTorch's fused "
                f"LSTM without recurrent dropout, and at least {TARGET_VS_LOOP:g}x PyTorch's "
                "variational step loop (medians of the table above)\n" + "\n".join(lines)
            )
        return "\n\n".join(parts), {"train": train_data, "targets": targets}
