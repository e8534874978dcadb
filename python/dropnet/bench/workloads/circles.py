"""Workload "circles": the classic dropout demonstration on sklearn's two-circles data,
a 2-500-1 MLP (model A) and the same with Dropout(0.4) (model B), trained with Adam and
validated on the test split every epoch, in dropnet, Keras (TensorFlow) and PyTorch."""

from __future__ import annotations

import statistics
import time
from types import ModuleType
from typing import Any

import numpy as np

from ..common import Stats, fmt_num, format_table
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
    first_in_process,
    grouped,
    median,
    pick_epochs,
)

FULL_EPOCHS = 4000
DEFAULT_EPOCHS = {"dropnet": FULL_EPOCHS, "keras": 200, "torch": 1000}
QUICK_EPOCHS = {"dropnet": 400, "keras": 10, "torch": 50}
TARGET_VS_TORCH, TARGET_VS_KERAS = 20.0, 500.0  # dropnet ms/epoch vs the peers'
MODELS = {"A": 0.0, "B": 0.4}  # model name -> dropout rate after the hidden layer (0: none)
HIDDEN = 500
BATCH = 32
N_TRAIN = 30

Data = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def load_data() -> Data:
    """100 noisy points on two circles; the first 30 train, the last 70 test."""
    from sklearn.datasets import make_circles

    x, y = make_circles(n_samples=100, noise=0.1, random_state=1)
    x = x.astype(np.float32)
    y = y.astype(np.float32)
    return x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]


def fit_keras_api(fw: ModuleType, rate: float, epochs: int, data: Data) -> dict[str, Any]:
    """dropnet or Keras: build, compile and fit the model (the timed part), then evaluate.
    Keras's epochs are stamped by a callback; dropnet's fit runs without one, as a user's
    would (it reports no per-epoch times)."""
    x_tr, y_tr, x_te, y_te = data
    layers = fw.layers
    start = time.perf_counter()
    hidden = [layers.Dense(HIDDEN, activation="relu")] + ([layers.Dropout(rate)] if rate else [])
    model = fw.Sequential([layers.Input((2,)), *hidden, layers.Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer=fw.adam(), metrics=["accuracy"])
    kw = {"validation_data": (x_te, y_te), "epochs": epochs, "batch_size": BATCH}
    fit = fw.fit(model, x_tr, y_tr, start=start, clock=fw.NAME != "dropnet", **kw)
    out: dict[str, Any] = {"fit_seconds": fit.end - start}
    for split, (x, y) in (("train", (x_tr, y_tr)), ("test", (x_te, y_te))):
        loss, acc = model.evaluate(x, y, verbose=0)
        out.update({f"{split}_loss": float(loss), f"{split}_acc": float(acc)})
    return {**out, **fit.record()}


def fit_torch(fw: ModuleType, rate: float, epochs: int, data: Data) -> dict[str, Any]:
    """PyTorch: the same model in the adapter's loop (logits, the sigmoid in the loss), the
    test split evaluated in eval mode after every epoch, as Keras's validation_data does."""
    torch, nn = fw.torch, fw.nn
    x_tr, y_tr, x_te, y_te = (torch.from_numpy(a) for a in data)
    y_tr, y_te = y_tr.unsqueeze(1), y_te.unsqueeze(1)
    start = time.perf_counter()
    hidden = [nn.Linear(2, HIDDEN), nn.ReLU()] + ([nn.Dropout(rate)] if rate else [])
    model = fw.glorot(nn.Sequential(*hidden, nn.Linear(HIDDEN, 1)))
    loss_fn = nn.BCEWithLogitsLoss()

    def evaluate(x: Any, y: Any) -> tuple[float, float]:
        model.eval()
        with torch.no_grad():
            logits = model(x)
            return loss_fn(logits, y).item(), ((logits > 0) == (y > 0.5)).float().mean().item()

    optimizer = fw.adam(model.parameters())
    kw = {"hits": fw.binary_hits, "validate": lambda: evaluate(x_te, y_te), "start": start}
    fit = fw.train(model, x_tr, y_tr, epochs, BATCH, optimizer, loss_fn, **kw)
    out: dict[str, Any] = {"fit_seconds": fit.end - start}
    for split, (x, y) in (("train", (x_tr, y_tr)), ("test", (x_te, y_te))):
        out[f"{split}_loss"], out[f"{split}_acc"] = evaluate(x, y)
    return {**out, **fit.record()}


class CirclesWorkload(Workload):
    name = "circles"
    description = (
        "make_circles(100, noise=0.1) MLP 2-500-1, model A (no dropout) and B "
        "(Dropout 0.4); Adam, BCE, batch 32, validation every epoch; "
        "time = model construction + compile + fit, reported per epoch"
    )
    frameworks = ("dropnet", "keras", "torch")
    brief_info = ("dropnet",)

    def plan(self, opts: Options, frameworks: list[str], threads: tuple[int, ...]) -> list[Job]:
        jobs: list[Job] = []
        # --quick: the dropout model only (Keras's per-model tracing dominates a short run).
        for model in ("B",) if opts.quick else MODELS:

            def job(fw: str, model: str = model) -> tuple[dict[str, Any], str]:
                epochs = pick_epochs(fw, opts, DEFAULT_EPOCHS, QUICK_EPOCHS)
                params = {"model": model, "epochs": epochs, "warmup": True}
                return params, f"model {model}, {epochs} epochs"

            jobs += self.jobs(frameworks, threads, job)
        return jobs

    def measure(self, fw: ModuleType, threads: int, params: dict[str, Any]) -> Records:
        fit = fit_torch if fw.NAME == "torch" else fit_keras_api
        data = load_data()
        epochs = int(params["epochs"])
        rate, seed = MODELS[params["model"]], int(params.get("seed", 0))
        if params.get("warmup", True) and first_in_process(self.name, fw.NAME):
            # An untimed one-epoch fit of a throwaway model first, so one-off process costs
            # (lazy imports, thread pools, first-call initialisation) stay out of the timing;
            # per-model costs such as Keras's graph tracing are still timed.
            fw.setup(threads, seed)
            fit(fw, rate, 1, data)
        fw.setup(threads, seed)
        res = fit(fw, rate, epochs, data)
        return [
            {
                "case": params["model"],
                "seconds": res["fit_seconds"] / epochs,
                "epochs": epochs,
                **res,
            }
        ]

    def metric(self, case: str) -> Metric:
        return Metric("time per epoch", "ms/epoch", lambda s: s * 1e3)

    def headlines(self, summary: Summary, details: Details, runs: Runs) -> list[Headline]:
        rows = default_headlines(self.name, summary)
        for row in rows:
            model = row.measure
            row.add_accuracy(runs, "test_acc")
            rate = MODELS[model]
            row.measure = f"model {model} ({f'Dropout {rate:g}' if rate else 'no dropout'}), epoch"
            row.target = f">= {TARGET_VS_TORCH:g}x PyTorch, >= {TARGET_VS_KERAS:g}x Keras"
            vs_torch, vs_keras = row.advantage("torch"), row.advantage("keras")
            if vs_torch is not None and vs_keras is not None:
                row.met = vs_torch >= TARGET_VS_TORCH and vs_keras >= TARGET_VS_KERAS
            row.note = "accuracy: test accuracy after the run (peers run fewer epochs)"
        return rows

    def extra_report(self, summary: Summary, runs: Runs) -> tuple[str, Details]:
        rows: list[list[str]] = []
        data: list[dict[str, Any]] = []
        groups = grouped(runs, "case", "framework", "threads", "epochs")
        for (case, fw, threads, epochs), recs in groups.items():
            fit = Stats([r["fit_seconds"] for r in recs])
            steady = [s for r in recs if (s := r.get("steady_seconds_per_epoch"))]
            full = epochs == FULL_EPOCHS
            full_time = fit.median if full else median(recs, "seconds") * FULL_EPOCHS
            entry: dict[str, Any] = {
                "case": case,
                "framework": fw,
                "threads": threads,
                "epochs": epochs,
                "fit_seconds": fit.as_dict(),
                "full_epochs_seconds": full_time,
                "full_epochs_measured": full,
                "steady_ms_per_epoch": statistics.median(steady) * 1e3 if steady else None,
                "train_acc": [r["train_acc"] for r in recs],
                "test_acc": [r["test_acc"] for r in recs],
            }
            data.append(entry)
            acc = [f"{statistics.median(entry[k]):.3f}" for k in ("train_acc", "test_acc")]
            rows.append(
                [
                    case,
                    fw,
                    str(threads),
                    str(epochs),
                    f"{fmt_num(fit.median)} [{fmt_num(fit.min)}-{fmt_num(fit.max)}]",
                    fmt_num(full_time) + ("" if full else " (proj.)"),
                    fmt_num(entry["steady_ms_per_epoch"]) if steady else "-",
                    *(acc if full else [f"({a})" for a in acc]),
                ]
            )
        head = ["model", "framework", "thr", "epochs", "fit s median [min-max]"]
        head += [f"{FULL_EPOCHS}-epoch s", "steady ms/ep", "train acc", "test acc"]
        text = format_table(head, rows, right=[False, False] + [True] * 7)
        text += (
            f"\n{FULL_EPOCHS}-epoch s: measured when the framework ran {FULL_EPOCHS} epochs, else "
            "projected from its median ms/epoch. steady ms/ep: median epoch time after the "
            "first (where the framework reports epoch ends). Accuracies (median over repeats) are "
            f"in parentheses when the run was shorter than {FULL_EPOCHS} epochs."
        )
        return text, {"per_run_group": data}
