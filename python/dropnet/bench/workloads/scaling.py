"""Workload "scaling": how dropnet's training cost grows as the problem doubles, and what a
second thread buys. Time per training step (fit, median epoch after the first) of

* an MLP, 64 inputs -> Dense(W, relu) -> Dropout(0.5) -> Dense(W, relu) -> Dropout(0.5) ->
  Dense(1, sigmoid), Adam, binary cross-entropy: batch size 16..1024 at W = 256, and width
  W 64..1024 at batch 128;
* an LSTM(64, dropout=0.2, recurrent_dropout=0.2) -> Dense(1, sigmoid) on 8 features: sequence
  length 25..400 at batch 32, and batch size 16..512 at 50 steps;

each at 1 thread and at all cores. Work (FLOPs) per step grows linearly with batch and
sequence length and about quadratically with width; the figure plots time per step against
the doubled size with a reference line proportional to the work, so a cost that grows
linearly in the work follows the line.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from ..common import format_table
from .base import Details, Headline, Job, Metric, Options, Records, Runs, Summary, Workload

MLP_IN = 64
LSTM_UNITS, LSTM_FEATURES = 64, 8
SWEEPS: dict[str, tuple[str, str, list[int]]] = {
    # name -> (model, what doubles, sizes)
    "mlp batch": ("mlp", "batch", [16, 32, 64, 128, 256, 512, 1024]),
    "mlp width": ("mlp", "width", [64, 128, 256, 512, 1024]),
    "lstm seq len": ("lstm", "steps", [25, 50, 100, 200, 400]),
    "lstm batch": ("lstm", "batch", [16, 32, 64, 128, 256, 512]),
}
QUICK_SWEEPS: dict[str, tuple[str, str, list[int]]] = {
    "mlp batch": ("mlp", "batch", [64, 128]),
    "mlp width": ("mlp", "width", [128, 256]),
    "lstm seq len": ("lstm", "steps", [25, 50]),
    "lstm batch": ("lstm", "batch", [16, 32]),
}
DEFAULTS = {"mlp": {"batch": 128, "width": 256}, "lstm": {"batch": 32, "steps": 50}}
EPOCHS = 3
MIN_STEPS = 24  # steps per epoch
MIN_SAMPLES = 2048


def work(model: str, batch: int, width: int = 0, steps: int = 0) -> float:
    """Multiply-adds of one training step (forward + backward ~ 3x forward)."""
    if model == "mlp":
        return 3.0 * batch * (MLP_IN * width + width * width + width)
    gates = 4 * LSTM_UNITS
    return 3.0 * batch * steps * gates * (LSTM_FEATURES + LSTM_UNITS) + 3.0 * batch * LSTM_UNITS


def time_step(fw: ModuleType, model: str, dims: dict[str, int], seed: int, quick: bool) -> float:
    """Seconds per training step of one configuration, from the median later epoch."""
    layers = fw.layers
    batch = dims["batch"]
    n = max(MIN_STEPS * batch, MIN_SAMPLES) // (4 if quick else 1)
    n -= n % batch
    rng = np.random.default_rng(seed)
    if model == "mlp":
        width = dims["width"]
        x = rng.standard_normal((n, MLP_IN)).astype(np.float32)
        stack = [layers.Input((MLP_IN,))]
        for _ in range(2):
            stack += [layers.Dense(width, activation="relu"), layers.Dropout(0.5)]
    else:
        x = rng.standard_normal((n, dims["steps"], LSTM_FEATURES)).astype(np.float32)
        stack = [
            layers.Input((dims["steps"], LSTM_FEATURES)),
            layers.LSTM(LSTM_UNITS, dropout=0.2, recurrent_dropout=0.2),
        ]
    y = (x.reshape(n, -1).mean(axis=1) > 0).astype(np.float32)
    net = fw.Sequential([*stack, layers.Dense(1, activation="sigmoid")])
    net.compile(optimizer="adam", loss="binary_crossentropy")
    return fw.fit(net, x, y, batch_size=batch, epochs=EPOCHS).steady / (n // batch)


class ScalingWorkload(Workload):
    name = "scaling"
    description = (
        "dropnet's time per training step as batch size, width and sequence length double "
        "(an MLP with dropout and an LSTM with variational dropout), 1 thread and all cores"
    )
    frameworks = ("dropnet",)
    brief_info = None

    def default_threads(self, cores: int) -> tuple[int, ...]:
        return (1, cores) if cores > 1 else (1,)

    def plan(self, opts: Options, frameworks: list[str], threads: tuple[int, ...]) -> list[Job]:
        sweeps = QUICK_SWEEPS if opts.quick else SWEEPS
        return [
            Job(fw, t, {"sweep": name, "quick": opts.quick}, label=name)
            for name in sweeps
            for t in threads
            for fw in frameworks
        ]

    def measure(self, fw: ModuleType, threads: int, params: dict[str, Any]) -> Records:
        name, seed = params["sweep"], int(params.get("seed", 0))
        model, what, sizes = (QUICK_SWEEPS if params.get("quick") else SWEEPS)[name]
        records = []
        for size in sizes:
            dims = dict(DEFAULTS[model], **{what: size})
            fw.setup(threads, seed)
            seconds = time_step(fw, model, dims, seed, bool(params.get("quick")))
            records.append(
                {
                    "case": f"{name}={size}",
                    "sweep": name,
                    "size": size,
                    "seconds": seconds,
                    "work": work(model, **dims),
                }
            )
        return records

    def metric(self, case: str) -> Metric:
        return Metric("time per step", "ms/step", lambda s: s * 1e3)

    def _series(self, summary: Summary) -> dict[str, dict[int, list[tuple[int, float]]]]:
        """sweep -> threads -> [(size, median seconds per step)] in size order."""
        out: dict[str, dict[int, list[tuple[int, float]]]] = {}
        for s in summary:
            name, size = s["case"].rsplit("=", 1)
            out.setdefault(name, {}).setdefault(s["threads"], []).append(
                (int(size), s["seconds"]["median"])
            )
        for per in out.values():
            for pts in per.values():
                pts.sort()
        return out

    def extra_report(self, summary: Summary, runs: Runs) -> tuple[str, Details]:
        works = {rec["case"]: rec["work"] for run in runs for rec in run.get("records", [])}
        series = self._series(summary)
        rows, data = [], {}
        for name, per in series.items():
            threads = sorted(per)
            top = threads[-1]
            pts = per[top]
            (s0, t0), (s1, t1) = pts[0], pts[-1]
            w0, w1 = works[f"{name}={s0}"], works[f"{name}={s1}"]
            growth = (t1 / t0) / (w1 / w0)  # 1: time grows exactly as the work
            speedups = (
                {size: dict(per[1]).get(size, float("nan")) / t for size, t in pts}
                if 1 in per and top != 1
                else {}
            )
            data[name] = {
                "threads": threads,
                "points": {str(t): per[t] for t in threads},
                "time_growth_over_work_growth": growth,
                "speedup_vs_1_thread": speedups,
                "work": {str(s): works[f"{name}={s}"] for s, _ in pts},
            }
            rows.append(
                [
                    name,
                    f"{s0} -> {s1}",
                    f"{w1 / w0:.0f}x",
                    f"{t1 / t0:.1f}x",
                    f"{growth:.2f}",
                    ", ".join(f"{sp:.2f}" for sp in speedups.values()) if speedups else "-",
                ]
            )
        text = format_table(
            [
                "sweep",
                "sizes",
                "work grows",
                "time grows",
                "time/work growth",
                "2-thread speedup by size",
            ],
            rows,
            right=[False, False, True, True, True, False],
        )
        text += (
            "\ntime/work growth: (time at the largest size / time at the smallest) divided by the "
            "same ratio of work; 1 = cost exactly linear in the work, below 1 = larger problems "
            "run more efficiently."
        )
        return text, {"sweeps": data}

    def headlines(self, summary: Summary, details: Details, runs: Runs) -> list[Headline]:
        rows = []
        for name, d in details.get("sweeps", {}).items():
            top = d["threads"][-1]
            pts = d["points"][str(top)]
            (s0, t0), (s1, t1) = pts[0], pts[-1]
            speed = d["speedup_vs_1_thread"]
            note = f"time grows {t1 / t0:.1f}x for {d['work'][str(s1)] / d['work'][str(s0)]:.0f}x the work"
            if speed:
                best = max(speed.values())
                note += f"; {top} threads vs 1: {min(speed.values()):.2f}x to {best:.2f}x"
            rows.append(
                Headline(
                    self.name,
                    f"{name} {s0} -> {s1}",
                    "time/work growth",
                    False,
                    top,
                    {"dropnet": d["time_growth_over_work_growth"]},
                    target="<= 1.1 (linear in the work)",
                    met=d["time_growth_over_work_growth"] <= 1.1,
                    note=note,
                )
            )
        return rows

    def figures(self, details: Details, runs: Runs, prefix: str) -> list[str]:
        sweeps = details.get("sweeps", {})
        if not sweeps:
            return []
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(sweeps), figsize=(4.2 * len(sweeps), 3.8), squeeze=False)
        for ax, (name, d) in zip(axes[0], sweeps.items()):
            for threads in d["threads"]:
                pts = d["points"][str(threads)]
                ax.plot(
                    [s for s, _ in pts],
                    [t * 1e3 for _, t in pts],
                    marker="o",
                    label=f"{threads} thread{'s' if threads > 1 else ''}",
                )
            ref_pts = d["points"][str(d["threads"][0])]
            s0, t0 = ref_pts[0]
            w0 = d["work"][str(s0)]
            sizes = [s for s, _ in ref_pts]
            ax.plot(
                sizes,
                [t0 * 1e3 * d["work"][str(s)] / w0 for s in sizes],
                linestyle="--",
                color="gray",
                label="proportional to work",
            )
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel(name.split(" ", 1)[1])
            ax.set_ylabel("ms per training step")
            ax.set_title(name.split(" ", 1)[0].upper() + ": " + name.split(" ", 1)[1])
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7, loc="best")
        fig.suptitle("dropnet: time per training step as the problem doubles", fontsize=10)
        fig.tight_layout()
        path = prefix + ".png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return [path]
