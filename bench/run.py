"""Benchmark harness for dropnet against its peers (Keras on TensorFlow, PyTorch, numpy):
runs every framework's timed code in its own child process, interleaved across repeats, and
reports medians, min/max and peer/dropnet ratios as a table and as JSON files."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import (
    BENCH_DIR,
    UNSET_IN_CHILDREN,
    OtherLoadMeter,
    Stats,
    child_env,
    fmt_num,
    format_table,
    framework_available,
    logical_cores,
    machine_info,
    package_versions,
    parent_env_snapshot,
    wait_until_idle,
)
from workloads import REGISTRY, get_workload
from workloads.base import Job, Options, Workload

WORKER = os.path.join(BENCH_DIR, "worker.py")
CHILD_TIMEOUT = 3 * 3600  # seconds; a child past this is killed and recorded as failed
BUSY_WARN = 0.25  # share of all CPUs busy just before a run, above which it is flagged
OTHER_WARN = 0.10  # share of all CPUs used by other processes during a run, likewise


def parse_int_list(text: str) -> tuple[int, ...]:
    values = tuple(int(v) for v in text.split(",") if v.strip())
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(
            f"expected positive integers separated by commas, got {text!r}"
        )
    return values


def parse_epochs(text: str) -> dict[str, int]:
    """'300' -> every peer 300 epochs; 'dropnet=500,keras=50' -> per framework;
    'all=100' -> every framework including dropnet."""
    out: dict[str, int] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, sep, value = part.rpartition("=")
        epochs = int(value)
        if epochs < 1:
            raise argparse.ArgumentTypeError("epochs must be >= 1")
        if not sep:
            out["*"] = epochs
        elif name == "all":
            out["*"] = out["dropnet"] = epochs
        else:
            out[name] = epochs
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--only",
        default=",".join(REGISTRY),
        help=f"comma-separated workloads to run (default: all of {', '.join(REGISTRY)})",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed repeats per framework and case (default 5, or 3 with --quick; min 3)",
    )
    p.add_argument(
        "--epochs",
        type=parse_epochs,
        default={},
        help="training epochs: N for every peer, or NAME=N,... per framework "
        "(dropnet, keras, torch, all); defaults dropnet 4000, keras 200, torch 1000",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: few epochs, small GEMM sizes, short samples, 3 repeats",
    )
    p.add_argument(
        "--threads",
        type=parse_int_list,
        default=None,
        help="thread counts, e.g. 1,2 (default: per workload; gemm 1,2, others all cores)",
    )
    p.add_argument(
        "--frameworks",
        default=None,
        help="comma-separated subset of frameworks to run (default: all of each workload's)",
    )
    p.add_argument("--seed", type=int, default=1, help="base random seed (repeat r uses seed+r)")
    p.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each child, wait up to SECONDS for the CPU to be idle (<10%% busy); "
        "the busy share seen before each run is recorded either way",
    )
    p.add_argument(
        "--out",
        default=os.path.join(BENCH_DIR, "results"),
        help="directory for the JSON result files (default: bench/results)",
    )
    return p


def run_child(workload: Workload, job: Job, repeat: int, seed: int) -> dict[str, Any]:
    """Run one job in a fresh interpreter and return its result dict plus bookkeeping."""
    params = dict(job.params, seed=seed)
    spec = {
        "workload": workload.name,
        "framework": job.framework,
        "threads": job.threads,
        "params": params,
    }
    with tempfile.TemporaryDirectory(prefix="dropnet-bench-") as tmp:
        spec_path, result_path = os.path.join(tmp, "spec.json"), os.path.join(tmp, "result.json")
        with open(spec_path, "w", encoding="utf-8") as fh:
            json.dump(spec, fh)
        start = time.perf_counter()
        try:
            proc = subprocess.run(
                [sys.executable, WORKER, spec_path, result_path],
                env=child_env(job.threads, job.env),
                capture_output=True,
                text=True,
                timeout=CHILD_TIMEOUT,
                check=False,
            )
            stderr, rc = proc.stderr, proc.returncode
        except subprocess.TimeoutExpired as exc:
            stderr, rc = str(exc), -1
        wall = time.perf_counter() - start
        if os.path.exists(result_path):
            with open(result_path, encoding="utf-8") as fh:
                result = json.load(fh)
        else:
            result = {
                "status": "error",
                "error": f"child exited with code {rc} without a result\n" + stderr[-3000:],
            }
    result.update(
        {
            "framework": job.framework,
            "threads": job.threads,
            "repeat": repeat,
            "params": params,
            "wall_seconds": wall,
        }
    )
    if result["status"] == "error":
        result["stderr_tail"] = stderr[-3000:]
    return result


def disturbed(result: dict[str, Any]) -> bool:
    """Whether other work on the machine likely slowed this run."""
    return (result.get("busy_before") or 0.0) > BUSY_WARN or (
        result.get("other_load_during") or 0.0
    ) > OTHER_WARN


def summarize(workload: Workload, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Group records by (case, framework, threads); medians, ranges and ratios vs dropnet."""
    groups: dict[tuple[str, str, int], Stats] = {}
    busy: dict[tuple[str, str, int], int] = {}
    for run in runs:
        for rec in run.get("records", []):
            key = (rec["case"], run["framework"], run["threads"])
            groups.setdefault(key, Stats()).values.append(float(rec["seconds"]))
            busy[key] = busy.get(key, 0) + disturbed(run)
    summary: list[dict[str, Any]] = []
    for (case, fw, threads), stats in groups.items():
        metric = workload.metric(case)
        values = [metric.to_value(s) for s in stats.values]
        base = groups.get((case, "dropnet", threads))
        ratio = stats.median / base.median if base else None
        summary.append(
            {
                "case": case,
                "framework": fw,
                "threads": threads,
                "seconds": stats.as_dict(),
                "metric": metric.name,
                "unit": metric.unit,
                "higher_is_better": metric.higher_is_better,
                "value_median": metric.to_value(stats.median),
                "value_min": min(values),
                "value_max": max(values),
                "values": values,
                "ratio_vs_dropnet": ratio,  # peer median time / dropnet median time
                "disturbed_repeats": busy[(case, fw, threads)],
            }
        )
    return summary


def main_table(workload: Workload, summary: list[dict[str, Any]]) -> str:
    rows = [
        [
            workload.name,
            s["case"],
            s["framework"],
            str(s["threads"]),
            fmt_num(s["value_median"]),
            fmt_num(s["value_min"]),
            fmt_num(s["value_max"]),
            s["unit"],
            (f"{s['ratio_vs_dropnet']:.2f}" if s["ratio_vs_dropnet"] is not None else "-"),
            str(len(s["values"])),
            str(s["disturbed_repeats"]),
        ]
        for s in summary
    ]
    return format_table(
        [
            "workload",
            "case",
            "framework",
            "thr",
            "median",
            "min",
            "max",
            "unit",
            "peer/dropnet time",
            "n",
            "busy",
        ],
        rows,
        right=[False, False, False, True, True, True, True, False, True, True, True],
    )


def git_state() -> dict[str, Any]:
    """Commit of the repository the harness lives in, and whether the work tree differs."""
    repo = os.path.dirname(BENCH_DIR)

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "-C", repo, *args], capture_output=True, text=True, check=False
        )

    try:
        head = git("rev-parse", "--verify", "--quiet", "HEAD")
        status = git("status", "--porcelain")
    except OSError:
        return {}
    return {
        "commit": head.stdout.strip() if head.returncode == 0 else None,
        "dirty": bool(status.stdout.strip()) if status.returncode == 0 else None,
    }


def run_workload(
    workload: Workload,
    opts: Options,
    wanted: set[str] | None,
    out_dir: str,
    context: dict[str, Any],
    wait_idle: float,
) -> None:
    skipped: dict[str, str] = {}
    frameworks: list[str] = []
    for fw in workload.frameworks:
        if wanted is not None and fw not in wanted:
            continue
        ok, why = framework_available(fw)
        if ok:
            frameworks.append(fw)
        else:
            skipped[fw] = why
    threads = opts.threads or workload.default_threads(logical_cores())
    jobs = workload.plan(opts, frameworks, threads)
    log(f"[{workload.name}] {workload.description}")
    for fw, why in skipped.items():
        log(f"[{workload.name}] skipping {fw}: {why}")

    runs: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    started = time.perf_counter()
    for repeat in range(opts.repeats):
        for job in jobs:  # frameworks alternate within each repeat: A B C A B C ...
            if job.framework in skipped:
                continue
            busy, waited = wait_until_idle(wait_idle)
            meter = OtherLoadMeter()
            meter.start()
            result = run_child(workload, job, repeat, opts.seed + repeat)
            result["other_load_during"] = meter.stop()
            result["busy_before"], result["idle_wait_seconds"] = busy, waited
            result["loadavg_after"] = os.getloadavg()[0]
            status = result["status"]
            brief = f"{result['wall_seconds']:.1f}s wall"
            if status == "ok":
                runs.append(result)
                first = result["records"][0] if result.get("records") else None
                if first is not None:
                    brief += f", {first['case']}: {first['seconds'] * 1e3:.3f} ms/unit"
            elif status == "missing":
                skipped[job.framework] = result["error"]
                brief = "skipped for the rest of the run: " + result["error"]
            else:
                errors.append(result)
                brief = "FAILED: " + result["error"].strip().splitlines()[-1]
            if disturbed(result):
                brief += (
                    f" [other work: {result['busy_before'] or 0:.0%} of the CPU before, "
                    f"{result['other_load_during'] or 0:.0%} during]"
                )
            log(
                f"[{workload.name}] repeat {repeat + 1}/{opts.repeats} {job.framework:8s} "
                f"thr={job.threads} {job.label}: {brief}"
            )
    elapsed = time.perf_counter() - started

    summary = summarize(workload, runs)
    extra_text, extra_data = workload.extra_report(summary, runs) if runs else ("", {})
    print(f"\n== {workload.name}: {workload.description}")
    print(
        f"   repeats={opts.repeats}, threads={','.join(map(str, threads))}; "
        "peer/dropnet time = peer median time / dropnet median time (> 1: dropnet faster); "
        "n = repeats, busy = repeats that shared the CPU with other work"
    )
    for fw, why in skipped.items():
        print(f"   note: {fw} skipped: {why}")
    busy_runs = [r for r in runs if disturbed(r)]
    if busy_runs:
        print(
            f"   WARNING: {len(busy_runs)} of {len(runs)} runs shared the CPU with other work "
            f"(over {BUSY_WARN:.0%} of it before the start or {OTHER_WARN:.0%} during); their "
            "times are likely inflated (rerun on a quiet machine, or use --wait-idle)"
        )
    for err in errors:
        print(
            f"   note: {err['framework']} (thr={err['threads']}, repeat {err['repeat'] + 1}) failed: "
            + err["error"].strip().splitlines()[-1]
        )
    if summary:
        print(main_table(workload, summary))
    if extra_text:
        print(extra_text)

    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"{workload.name}-{stamp}.json")
    document = {
        "workload": workload.name,
        "description": workload.description,
        **context,
        "options": {
            "repeats": opts.repeats,
            "quick": opts.quick,
            "threads": list(threads),
            "epochs_overrides": opts.epochs,
            "seed": opts.seed,
            "frameworks": frameworks,
            "wait_idle": wait_idle,
        },
        "skipped": skipped,
        "elapsed_seconds": elapsed,
        "summary": summary,
        "details": extra_data,
        "runs": runs,
        "errors": errors,
    }
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(document, fh, indent=1)
    print(f"   results: {path}")
    sys.stdout.flush()


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    repeats = args.repeats if args.repeats is not None else (3 if args.quick else 5)
    if repeats < 3:
        build_parser().error("--repeats must be at least 3")
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    try:
        workloads = [get_workload(n) for n in names]
    except KeyError as exc:
        build_parser().error(str(exc.args[0]))
    wanted = {f.strip() for f in args.frameworks.split(",")} if args.frameworks else None
    opts = Options(
        repeats=repeats, quick=args.quick, threads=args.threads, epochs=args.epochs, seed=args.seed
    )
    context = {
        "timestamp": dt.datetime.now().isoformat(timespec="seconds"),
        "command": [os.path.basename(sys.executable)] + sys.argv,
        "machine": machine_info(),
        "versions": package_versions(),
        "parent_env": parent_env_snapshot(),
        "child_env_unset": list(UNSET_IN_CHILDREN),
        "git": git_state(),
    }
    m = context["machine"]
    print(
        f"machine: {m['cpu_model']}, {m['logical_cores']} logical cores "
        f"({m['physical_cores'] or '?'} physical), Python {m['python']}"
    )
    print("versions: " + ", ".join(f"{k} {v}" for k, v in context["versions"].items()))
    for workload in workloads:
        run_workload(workload, opts, wanted, args.out, context, args.wait_idle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
