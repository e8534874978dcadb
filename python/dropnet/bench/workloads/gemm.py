"""Workload "gemm": float32 C = A @ B for square matrices, dropnet's own OpenMP GEMM
(dropnet._core.matmul) against numpy's BLAS and torch.mm, at fixed thread counts; and the
same product through a bias-free Dense layer's predict (dropnet only, set against the best
peer's sgemm of the same size)."""

from __future__ import annotations

import statistics
from types import ModuleType
from typing import Any

import numpy as np

from ..common import fmt_num, format_table
from ..timing import time_per_call
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
)

SIZES = (256, 512, 1024, 2048)
QUICK_SIZES = (256, 512)
MIN_TIME = 0.2  # seconds each timed sample must last
QUICK_MIN_TIME = 0.05
CHECK_MAX_N = 512
TARGET_VS_BEST_PEER = 0.95  # at n = 1024 and 2048
TARGET_SIZES = (1024, 2048)  # results are checked against a float64 product up to this size


def operands(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(n)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    return a, b


DENSE = "Dense.predict "  # the prefix of the Dense-layer cases


def _dense_predict(fw: ModuleType, n: int) -> Any:
    """A call of predict on an n x n batch through Dense(n, use_bias=False) holding B."""
    a, b = operands(n)
    model = fw.Sequential([fw.layers.Input((n,)), fw.layers.Dense(n, use_bias=False)])
    model.set_weights([b])
    return lambda: model.predict(a, batch_size=n, verbose=0)


def _rel_err(c: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    ref = a.astype(np.float64) @ b.astype(np.float64)
    return float(np.max(np.abs(np.asarray(c, dtype=np.float64) - ref)) / np.max(np.abs(ref)))


class GemmWorkload(Workload):
    name = "gemm"
    description = (
        "float32 square GEMM C = A @ B, n in 256..2048; GFLOP/s = 2n^3 / time per call "
        "(each sample >= 0.2 s of back-to-back calls after warm-up)"
    )
    frameworks = ("dropnet", "numpy", "torch")
    brief_info = ("dropnet",)

    def default_threads(self, cores: int) -> tuple[int, ...]:
        return (1, 2)

    def plan(self, opts: Options, frameworks: list[str], threads: tuple[int, ...]) -> list[Job]:
        params = {
            "sizes": list(QUICK_SIZES if opts.quick else SIZES),
            "min_time": QUICK_MIN_TIME if opts.quick else MIN_TIME,
        }
        return self.jobs(frameworks, threads, lambda fw: (dict(params), f"n={params['sizes']}"))

    def measure(self, fw: ModuleType, threads: int, params: dict[str, Any]) -> Records:
        fw.setup(threads)
        # (case prefix, the call computing an n x n product) per kind timed
        kinds: list[tuple[str, Any]] = [("", lambda n: fw.matmul(*operands(n)))]
        if fw.NAME == "dropnet":
            kinds.append((DENSE, lambda n: _dense_predict(fw, n)))
        records = []
        for prefix, call in kinds:
            for n in params["sizes"]:
                seconds, iters = time_per_call(call(n), float(params["min_time"]))
                records.append(
                    {
                        "case": f"{prefix}n={n}",
                        "n": n,
                        "seconds": seconds,
                        "iters": iters,
                        "gflops": 2.0 * n**3 / seconds / 1e9,
                    }
                )
        # Checked only after all timing: the float64 reference runs on numpy's BLAS, whose
        # idle-spinning worker threads would otherwise compete with the next timed size.
        for rec in records:
            if rec["n"] <= CHECK_MAX_N and not rec["case"].startswith(DENSE):
                a, b = operands(rec["n"])
                rec["max_rel_err"] = _rel_err(np.asarray(fw.matmul(a, b)()), a, b)
        return records

    def facts(self, fw: ModuleType) -> dict[str, Any]:
        if fw.NAME == "dropnet":
            return {
                "fma_peak_gflops": fw._core.fma_peak(0.3),
                "gemm_blocking": fw._core.gemm_blocking(),
            }
        if fw.NAME == "torch":
            return {"mkl": fw.torch.backends.mkl.is_available()}
        return {}

    def metric(self, case: str) -> Metric:
        n = int(case.split("=", 1)[1])
        return Metric(
            "throughput", "GFLOP/s", lambda s: 2.0 * n**3 / s / 1e9, higher_is_better=True
        )

    def headlines(self, summary: Summary, details: Details, runs: Runs) -> list[Headline]:
        rows = []
        peaks: dict[int, list[float]] = {}
        for run in runs:
            if run["framework"] == "dropnet" and run.get("info", {}).get("fma_peak_gflops"):
                peaks.setdefault(run["threads"], []).append(run["info"]["fma_peak_gflops"])
        sizes = {int(s["case"].split("=", 1)[1]) for s in summary}
        shown = set(TARGET_SIZES) & sizes or {max(sizes)}
        for threads in sorted({s["threads"] for s in summary}):
            at = [s for s in summary if s["threads"] == threads]
            best_peer = {
                s["case"]: s["value_median"]
                for s in sorted(at, key=lambda s: s["value_median"])
                if s["framework"] != "dropnet"
            }
            for row in default_headlines(self.name, at):
                n = int(row.measure.split("=", 1)[1])
                if n not in shown:
                    continue
                dense = row.measure.startswith(DENSE)
                row.measure = f"{DENSE if dense else 'sgemm '}n={n}, {threads} thr"
                peer = best_peer.get(f"n={n}")
                ours = row.values.get("dropnet")
                if peer and ours:
                    row.fraction, row.fraction_of = ours / peer, "best peer's sgemm"
                    row.target_fraction = TARGET_VS_BEST_PEER
                    row.target = f">= {TARGET_VS_BEST_PEER:.0%} of the best peer"
                    row.met = row.fraction >= TARGET_VS_BEST_PEER
                if ours and threads in peaks:
                    peak = statistics.median(peaks[threads])
                    row.note = f"{ours / peak:.0%} of the measured FMA peak ({peak:.0f} GFLOP/s)"
                rows.append(row)
        return rows

    def extra_report(self, summary: Summary, runs: Runs) -> tuple[str, Details]:
        by_key: dict[tuple[str, int], dict[str, dict[str, Any]]] = {}
        for s in summary:
            by_key.setdefault((s["case"], s["threads"]), {})[s["framework"]] = s
        rows: list[list[str]] = []
        fractions: list[dict[str, Any]] = []
        for (case, threads), fws in by_key.items():
            dn = fws.get("dropnet")
            peers = {fw: s for fw, s in fws.items() if fw != "dropnet"}
            if not peers:
                continue
            best_fw, best = max(peers.items(), key=lambda kv: kv[1]["value_median"])
            frac = dn["value_median"] / best["value_median"] if dn else None
            fractions.append(
                {
                    "case": case,
                    "threads": threads,
                    "best_peer": best_fw,
                    "best_peer_gflops": best["value_median"],
                    "dropnet_gflops": dn["value_median"] if dn else None,
                    "dropnet_fraction_of_best_peer": frac,
                }
            )
            rows.append(
                [
                    case,
                    str(threads),
                    fmt_num(dn["value_median"]) if dn else "-",
                    best_fw,
                    fmt_num(best["value_median"]),
                    f"{frac:.2f}" if frac is not None else "-",
                ]
            )
        text = format_table(
            ["size", "thr", "dropnet GFLOP/s", "best peer", "peer GFLOP/s", "dropnet/best"],
            rows,
            right=[False, True, True, False, True, True],
        )

        errs: dict[str, float] = {}
        for (fw,), recs in grouped(runs, "framework").items():
            checked = [r["max_rel_err"] for r in recs if "max_rel_err" in r]
            if checked:
                errs[fw] = max(0.0, *checked)
        numpy_runs = [
            r for r in runs if r["framework"] == "numpy" and r.get("info", {}).get("blas")
        ]
        blas: list[Any] = numpy_runs[0]["info"]["blas"] if numpy_runs else []
        if errs:
            text += f"\nmax relative error vs float64 (n <= {CHECK_MAX_N}): " + ", ".join(
                f"{fw} {e:.1e}" for fw, e in errs.items()
            )
        blocking = next(
            (r["info"]["gemm_blocking"] for r in runs if r.get("info", {}).get("gemm_blocking")),
            None,
        )
        if blocking:
            text += (
                f"\ndropnet GEMM blocking from this CPU's caches (L1d {blocking['l1d'] >> 10} KiB, "
                f"L2 {blocking['l2'] >> 10} KiB, last level {blocking['l3_per_core'] >> 10} KiB "
                f"per core): tile {blocking['mr']}x{blocking['nr']}, KC {blocking['kc']}, "
                f"MC {blocking['mc']}, NC {blocking['nc']}"
            )
        if blas:
            text += "\nnumpy BLAS: " + "; ".join(
                f"{b.get('internal_api')} {b.get('version')} core type {b.get('architecture')} "
                f"({b.get('threading_layer')})"
                for b in blas
            )
        return text, {
            "gemm_blocking": blocking,
            "dropnet_fraction_of_best_peer": fractions,
            "max_rel_err": errs,
            "numpy_blas": blas,
        }
