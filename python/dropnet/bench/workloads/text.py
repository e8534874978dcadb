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
from types import ModuleType
from typing import Any, Callable

import numpy as np

from .base import (
    Details,
    Headline,
    Job,
    Options,
    Runs,
    Summary,
    default_headlines,
)
from .lstm import (
    CASE,
    FUSED_CASE,
    LstmWorkload,
    TorchModel,
    fused_lstm,
    variational_lstm,
    with_head,
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
    unit = "sentences"
    default_epochs, quick_epochs = DEFAULT_EPOCHS, QUICK_EPOCHS

    def plan(self, opts: Options, frameworks: list[str], threads: tuple[int, ...]) -> list[Job]:
        sentences = QUICK_SENTENCES if opts.quick else None

        def job(fw: str) -> tuple[dict[str, Any], str]:
            epochs = self.epochs_for(fw, opts)
            params = {"sentences": sentences, "epochs": epochs}
            return params, f"{sentences or 2400} sentences x {epochs} epochs"

        return self.jobs(frameworks, threads, job)

    def data(self, params: dict[str, Any]) -> Data:
        return load_data(params.get("sentences"))

    def keras_layers(self, fw: ModuleType) -> list[Any]:
        words, steps, dim, units, rate = _sizes()
        layers = fw.layers
        # Keras takes the ids as int32 (see keras_inputs); dropnet as they are.
        dtype = {"dtype": "int32"} if fw.NAME == "keras" else {}
        return [
            layers.Input((steps,), **dtype),
            layers.Embedding(words, dim),
            layers.LSTM(units, dropout=rate, recurrent_dropout=rate),
        ]

    def keras_inputs(self, fw: ModuleType, x: np.ndarray) -> np.ndarray:
        return x.astype(np.int32) if fw.NAME == "keras" else x

    def torch_models(self, fw: ModuleType) -> dict[str, Callable[[], TorchModel]]:
        words, _, dim, units, rate = _sizes()
        nn = fw.nn

        def model(recurrent: Callable[..., TorchModel]) -> TorchModel:
            embedding = nn.Embedding(words, dim)
            nn.init.uniform_(embedding.weight, -0.05, 0.05)  # Keras's Embedding initialisation
            params, last_state = recurrent(fw, dim, units, 1.0 - rate)
            stack = [*embedding.parameters(), *params]
            return with_head(fw, units, stack, lambda xb: last_state(embedding(xb)))

        return {
            CASE: lambda: model(variational_lstm),
            FUSED_CASE: lambda: model(fused_lstm),
        }

    def headlines(self, summary: Summary, details: Details, runs: Runs) -> list[Headline]:
        rows = [h for h in default_headlines(self.name, summary) if h.measure == CASE]
        fused = {r["threads"]: r.get("vs_torch_fused") for r in details.get("ratios", [])}
        for row in rows:
            row.add_accuracy(runs, "final_acc")
            row.measure = "train (Embedding + LSTM, recurrent dropout), sentences/s"
            note = "PyTorch column: its step loop with the same masks"
            if fused.get(row.threads):
                note = (
                    f"dropnet / PyTorch fused nn.LSTM (no recurrent dropout) = "
                    f"{fused[row.threads]:.2f}x; " + note
                )
            row.note = note
        return rows

    def extra_report(self, summary: Summary, runs: Runs) -> tuple[str, Details]:
        table, train_data = self.train_table(runs)
        ratios, lines = self.ratios(
            summary,
            "dropnet sentences/s",
            [
                ("vs_keras", "Keras (same model)", (CASE, "keras"), None),
                ("vs_torch_loop", "PyTorch step loop with the same masks", (CASE, "torch"), None),
                (
                    "vs_torch_fused",
                    "PyTorch fused nn.LSTM without recurrent dropout",
                    (FUSED_CASE, "torch"),
                    None,
                ),
            ],
        )
        parts = [table] if table else []
        if lines:
            parts.append("Ratios (medians of the table above)\n" + "\n".join(lines))
        return "\n\n".join(parts), {"train": train_data, "ratios": ratios}
