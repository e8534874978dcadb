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

from types import ModuleType
from typing import Any, Callable

from .base import Details, Headline, Runs, Summary, default_headlines
from .lstm import (
    BATCH,
    CASE,
    FEATURES,
    N_SEQ,
    RATE,
    STEPS,
    UNITS,
    LstmWorkload,
    TorchModel,
    keras_recurrent_init,
    with_head,
)

DEFAULT_EPOCHS = {"dropnet": 10, "torch": 4, "keras": 3}
QUICK_EPOCHS = {"dropnet": 2, "torch": 2, "keras": 2}
FUSED_CASE = "fused nn.GRU, no recurrent dropout"  # PyTorch: the bound
TARGET_VS_FUSED = 1.5  # dropnet (variational) sequences/s >= 1.5x PyTorch's fused GRU


def fused_gru(fw: ModuleType) -> TorchModel:
    """PyTorch's fused nn.GRU with Keras's initialisation (zero biases; nn.GRU computes the
    candidate as Keras's reset_after=True does), the input dropout as one mask per sequence
    and no recurrent dropout; (parameters, last_state)."""
    torch = fw.torch
    gru = fw.nn.GRU(FEATURES, UNITS, batch_first=True)
    keras_recurrent_init(fw, gru.weight_ih_l0, gru.weight_hh_l0)
    with torch.no_grad():
        gru.bias_ih_l0.zero_()
        gru.bias_hh_l0.zero_()
    keep = 1.0 - RATE

    def last_state(xb: Any) -> Any:
        mask = torch.bernoulli(torch.full((xb.shape[0], 1, FEATURES), keep)) / keep
        out, _ = gru(xb * mask)
        return out[:, -1]

    return list(gru.parameters()), last_state


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
    default_epochs, quick_epochs = DEFAULT_EPOCHS, QUICK_EPOCHS

    def keras_layers(self, fw: ModuleType) -> list[Any]:
        layers = fw.layers
        return [
            layers.Input((STEPS, FEATURES)),
            layers.GRU(UNITS, dropout=RATE, recurrent_dropout=RATE),
        ]

    def torch_models(self, fw: ModuleType) -> dict[str, Callable[[], TorchModel]]:
        return {FUSED_CASE: lambda: with_head(fw, UNITS, *fused_gru(fw))}

    def headlines(self, summary: Summary, details: Details, runs: Runs) -> list[Headline]:
        """One row: dropnet and Keras with recurrent dropout; the PyTorch column is its fused
        GRU without it (the bound the target is set against)."""
        headlines = default_headlines(self.name, summary)
        bounds = {h.threads: h.values.get("torch") for h in headlines if h.measure == FUSED_CASE}
        rows = [h for h in headlines if h.measure == CASE]
        for row in rows:
            bound = bounds.get(row.threads)
            if bound is not None:
                row.values["torch"] = bound
            row.add_accuracy(runs, "final_acc", [f for f in row.values if f != "torch"])
            row.measure = "train (variational dropout), sequences/s"
            row.target = f">= {TARGET_VS_FUSED:g}x PyTorch's fused GRU without recurrent dropout"
            ratio = row.advantage("torch")
            row.met = None if ratio is None else ratio >= TARGET_VS_FUSED
            row.note = "PyTorch column: fused nn.GRU without recurrent dropout (not the same model)"
        return rows

    def extra_report(self, summary: Summary, runs: Runs) -> tuple[str, Details]:
        table, train_data = self.train_table(runs)
        fused = "PyTorch fused nn.GRU without recurrent dropout"
        versus = [("vs_torch_fused", fused, (FUSED_CASE, "torch"), TARGET_VS_FUSED)]
        targets, lines = self.ratios(summary, "dropnet (variational) sequences/s", versus)
        parts = [table] if table else []
        if lines:
            parts.append(
                "Target: dropnet's GRU with variational dropout at least "
                f"{TARGET_VS_FUSED:g}x PyTorch's fused GRU without recurrent dropout (medians of "
                "the table above)\n" + "\n".join(lines)
            )
        return "\n\n".join(parts), {"train": train_data, "targets": targets}
