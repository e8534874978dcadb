"""Workload "dropout": memory bandwidth of dropout's forward and backward passes on a 64 MiB
float32 tensor (4096 x 4096, rate 0.5), against the copy bandwidth of the same machine.

Each framework's own kernels are timed: dropnet's element-wise Dropout path (mask drawn and
applied in one pass; backward from the 1-bit mask), PyTorch's native_dropout and
native_dropout_backward (what autograd runs for nn.Dropout). Bandwidth counts the tensor
traffic every implementation must move: forward reads x and writes y, backward reads dy and
writes dx, 4 x 64 MiB (masks are extra). The copy reference moves 2 x 64 MiB per copy and is
the best of dropnet's team-parallel memcpy, numpy's copyto and torch's copy_.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from ..timing import median_call
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

SIDE = 4096  # 4096 x 4096 float32 = 64 MiB
RATE = 0.5
CALLS = 15  # timed calls per case and job (median)
QUICK_CALLS = 3
TARGET = 0.60  # dropout fwd+bwd bandwidth >= 60% of copy bandwidth
COPY = "copy"
DROPOUT = "dropout fwd+bwd"
TENSOR_BYTES = SIDE * SIDE * 4
BYTES = {COPY: 2 * TENSOR_BYTES, DROPOUT: 4 * TENSOR_BYTES}


def run_dropnet(fw: ModuleType, calls: int) -> Records:
    core = fw._core
    x = np.random.default_rng(0).standard_normal((SIDE, SIDE), dtype=np.float32)
    y, dy, dx = np.empty_like(x), np.empty_like(x), np.empty_like(x)
    dy[...] = 1.0
    mask = np.empty(x.size // 32, np.uint32)
    copies = {
        "dropnet": median_call(lambda: core.copy(x, y), calls),
        "numpy": median_call(lambda: np.copyto(y, x), calls),
    }
    state = {"step": 0}

    def step() -> None:
        state["step"] += 1  # a fresh mask every call, as in training
        core.dropout_forward(x, RATE, 1, state["step"], out=y, mask=mask)
        core.dropout_backward(dy, mask, RATE, out=dx)

    seconds = median_call(step, calls)
    kept = float(np.count_nonzero(y)) / y.size
    return [
        {"case": COPY, "seconds": min(copies.values()), "copy_seconds": copies},
        {"case": DROPOUT, "seconds": seconds, "kept_fraction": kept},
    ]


def run_torch(fw: ModuleType, calls: int) -> Records:
    torch = fw.torch
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((SIDE, SIDE), dtype=np.float32))
    y = torch.empty_like(x)
    dy = torch.ones_like(x)
    aten = torch.ops.aten
    scale = 1.0 / (1.0 - RATE)

    def step() -> Any:
        _, mask = aten.native_dropout(x, RATE, True)
        aten.native_dropout_backward(dy, mask, scale)
        return mask

    with torch.no_grad():
        copy_s = median_call(lambda: y.copy_(x), calls)
        seconds = median_call(step, calls)
        kept = float(step().float().mean())
    return [
        {"case": COPY, "seconds": copy_s},
        {"case": DROPOUT, "seconds": seconds, "kept_fraction": kept},
    ]


class DropoutWorkload(Workload):
    name = "dropout"
    description = (
        "dropout forward+backward on a 64 MiB float32 tensor (rate 0.5) as GB/s of tensor "
        "traffic (4 x 64 MiB per step), against copy bandwidth (2 x 64 MiB per copy)"
    )
    frameworks = ("dropnet", "torch")
    brief_info = ("dropnet", "torch")

    def plan(self, opts: Options, frameworks: list[str], threads: tuple[int, ...]) -> list[Job]:
        calls = QUICK_CALLS if opts.quick else CALLS
        return self.jobs(frameworks, threads, lambda fw: ({"calls": calls}, f"{calls} calls"))

    def measure(self, fw: ModuleType, threads: int, params: dict[str, Any]) -> Records:
        fw.setup(threads)
        return (run_torch if fw.NAME == "torch" else run_dropnet)(fw, int(params["calls"]))

    def metric(self, case: str) -> Metric:
        nbytes = BYTES[case]
        return Metric("bandwidth", "GB/s", lambda s: nbytes / s / 1e9, higher_is_better=True)

    def extra_report(self, summary: Summary, runs: Runs) -> tuple[str, Details]:
        out: dict[str, Any] = {}
        lines = []
        for threads in sorted({s["threads"] for s in summary}):
            at = {(s["case"], s["framework"]): s for s in summary if s["threads"] == threads}
            copy_best = max(
                (s["value_median"] for (case, _), s in at.items() if case == COPY), default=None
            )
            ours = at.get((DROPOUT, "dropnet"))
            if copy_best and ours:
                frac = ours["value_median"] / copy_best
                out[str(threads)] = {"copy_gbs": copy_best, "fraction": frac}
                lines.append(
                    f"thr={threads}: dropnet dropout fwd+bwd {ours['value_median']:.1f} GB/s = "
                    f"{frac:.0%} of the best copy bandwidth {copy_best:.1f} GB/s "
                    f"(target >= {TARGET:.0%})"
                )
        return "\n".join(lines), {"fraction_of_copy": out}

    def headlines(self, summary: Summary, details: Details, runs: Runs) -> list[Headline]:
        rows = [h for h in default_headlines(self.name, summary) if h.measure == DROPOUT]
        for row in rows:
            got = details.get("fraction_of_copy", {}).get(str(row.threads))
            row.measure = "dropout fwd+bwd, 64 MiB"
            row.target = f">= {TARGET:.0%} of copy bandwidth"
            if got:
                row.fraction, row.fraction_of = got["fraction"], "copy bandwidth"
                row.target_fraction = TARGET
                row.met = got["fraction"] >= TARGET
                row.note = f"copy bandwidth {got['copy_gbs']:.1f} GB/s (best of the frameworks)"
        return rows
