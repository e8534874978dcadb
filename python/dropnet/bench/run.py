"""Benchmark harness for dropnet against its peers (Keras on TensorFlow, PyTorch, numpy):
runs each framework in its own worker process, interleaves the frameworks across repeats,
and reports medians, min/max and peer/dropnet ratios as tables, JSON files, a Markdown
report and a bar chart. ``dropnet bench`` and ``python bench/run.py`` run it."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from typing import Any

from .common import (
    UNSET_IN_CHILDREN,
    OtherLoadMeter,
    Stats,
    fmt_num,
    format_table,
    logical_cores,
    machine_info,
    package_versions,
    parent_env_snapshot,
    wait_until_idle,
)
from .frameworks import available
from .pool import WorkerPool
from .progress import Progress
from .report import write_report
from .workloads import REGISTRY, get_workload
from .workloads.base import Headline, Job, Options, Workload

BUSY_WARN = 0.25  # share of all CPUs busy just before a run, above which it is flagged
OTHER_WARN = 0.10  # share of all CPUs used by other processes during a run, likewise
DEFAULT_OUT = "dropnet-bench"  # result directory (relative to the working directory)


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


def build_parser(
    prog: str | None = None, default_out: str = DEFAULT_OUT
) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="dropnet against Keras and PyTorch on this machine: every workload, "
        "frameworks interleaved, medians of repeated runs; writes JSON, a Markdown report "
        "and a bar chart",
    )
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
        "(dropnet, keras, torch, all); default per workload",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="about a minute: small sizes, few epochs, 3 repeats (a smoke test of the "
        "full report, not its figures)",
    )
    p.add_argument(
        "--threads",
        type=parse_int_list,
        default=None,
        help="thread counts, e.g. 1,2 (default: per workload; gemm and scaling 1 and all "
        "cores, others all cores)",
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
        help="before each run, wait up to SECONDS for the CPU to be idle (<10%% busy); "
        "the busy share seen before each run is recorded either way",
    )
    p.add_argument(
        "--fresh-processes",
        action="store_true",
        help="a new process for every run instead of one worker per framework and thread "
        "count (slower: each run pays the framework's import)",
    )
    p.add_argument(
        "--sonar-csv",
        default=None,
        metavar="PATH",
        help="a UCI Sonar CSV for the sonar workload (default: $DROPNET_SONAR_CSV, else the "
        "copy bundled with dropnet)",
    )
    p.add_argument(
        "--report-from",
        nargs="+",
        default=None,
        metavar="JSON",
        help="run nothing: rebuild the report from saved <workload>-<timestamp>.json files",
    )
    p.add_argument(
        "--no-progress", action="store_true", help="plain log lines instead of a progress bar"
    )
    p.add_argument(
        "--out",
        default=default_out,
        help=f"directory for the results: JSON per workload, report .md/.json/.png "
        f"(default: {default_out})",
    )
    return p


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
    head = ["workload", "case", "framework", "thr", "median", "min", "max", "unit"]
    rows = [
        [workload.name, s["case"], s["framework"], str(s["threads"])]
        + [fmt_num(s[k]) for k in ("value_median", "value_min", "value_max")]
        + [s["unit"], "-" if s["ratio_vs_dropnet"] is None else f"{s['ratio_vs_dropnet']:.2f}"]
        + [str(len(s["values"])), str(s["disturbed_repeats"])]
        for s in summary
    ]
    right = [False, False, False, True, True, True, True, False, True, True, True]
    return format_table([*head, "peer/dropnet time", "n", "busy"], rows, right=right)


def git_state() -> dict[str, Any]:
    """Commit of the source tree dropnet was imported from, when it is a git checkout."""
    try:
        import dropnet

        where = os.path.dirname(os.path.abspath(dropnet.__file__))
    except ImportError:
        return {}

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "-C", where, *args], capture_output=True, text=True, check=False
        )

    try:
        head = git("rev-parse", "--verify", "--quiet", "HEAD")
        if head.returncode != 0:
            return {}
        status = git("status", "--porcelain", "--untracked-files=no")
    except OSError:
        return {}
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}


def dropnet_build() -> dict[str, Any]:
    """The core's build facts (compiler, instruction set chosen, threads), if importable."""
    try:
        from dropnet import _core

        return {k: v for k, v in _core.config().items() if isinstance(v, (str, int, float, bool))}
    except (ImportError, AttributeError):
        return {}


class Plan:
    """A workload's frameworks, thread counts and jobs for this run."""

    def __init__(self, workload: Workload, opts: Options, wanted: set[str] | None) -> None:
        self.workload = workload
        self.skipped: dict[str, str] = {}
        self.frameworks: list[str] = []
        missing = workload.unavailable()
        for fw in workload.frameworks:
            if wanted is not None and fw not in wanted:
                continue
            ok, why = (False, missing) if missing else available(fw)
            if ok:
                self.frameworks.append(fw)
            else:
                self.skipped[fw] = why
        self.threads = opts.threads or workload.default_threads(logical_cores())
        self.jobs = workload.plan(opts, self.frameworks, self.threads)
        self.runs: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.elapsed = 0.0


def run_job(
    pool: WorkerPool, plan: Plan, job: Job, repeat: int, seed: int, wait_idle: float
) -> dict[str, Any]:
    """One timed run of one job in its framework's worker, with the machine's load around it."""
    busy, waited = wait_until_idle(wait_idle, interval=0.1)
    params = dict(job.params, seed=seed)
    spec = {
        "workload": plan.workload.name,
        "framework": job.framework,
        "threads": job.threads,
        "params": params,
    }
    meter = OtherLoadMeter()
    meter.start(pool.pids())
    start = time.perf_counter()
    result, pid = pool.run(spec)
    wall = time.perf_counter() - start
    result["other_load_during"] = meter.stop()
    result.update(
        {
            "framework": job.framework,
            "threads": job.threads,
            "repeat": repeat,
            "params": params,
            "wall_seconds": wall,
            "worker_pid": pid,
            "busy_before": busy,
            "idle_wait_seconds": waited,
            "loadavg_after": os.getloadavg()[0],
        }
    )
    return result


def run_plan(
    pool: WorkerPool, plan: Plan, opts: Options, wait_idle: float, progress: Progress
) -> None:
    workload = plan.workload
    started = time.perf_counter()
    for repeat in range(opts.repeats):
        for job in plan.jobs:  # frameworks alternate within each repeat: A B C A B C ...
            if job.framework in plan.skipped:
                progress.advance()
                continue
            progress.show(
                f"{workload.name} {job.framework} {job.label} ({repeat + 1}/{opts.repeats})"
            )
            result = run_job(pool, plan, job, repeat, opts.seed + repeat, wait_idle)
            status = result["status"]
            brief = f"{result['wall_seconds']:.1f}s wall"
            if status == "ok":
                plan.runs.append(result)
                first = result["records"][0] if result.get("records") else None
                if first is not None:
                    brief += f", {first['case']}: {first['seconds'] * 1e3:.3f} ms/unit"
            elif status == "missing":
                plan.skipped[job.framework] = result["error"]
                brief = "skipped for the rest of the run: " + result["error"]
                progress.note(f"[{workload.name}] {job.framework}: {brief}")
            else:
                plan.errors.append(result)
                brief = "FAILED: " + result["error"].strip().splitlines()[-1]
                progress.note(f"[{workload.name}] {job.framework} thr={job.threads}: {brief}")
            if disturbed(result):
                brief += (
                    f" [other work: {result['busy_before'] or 0:.0%} of the CPU before, "
                    f"{result['other_load_during'] or 0:.0%} during]"
                )
            progress.advance(
                f"[{workload.name}] repeat {repeat + 1}/{opts.repeats} {job.framework:8s} "
                f"thr={job.threads} {job.label}: {brief}"
            )
    plan.elapsed = time.perf_counter() - started


def report_workload(
    plan: Plan, opts: Options, out_dir: str, context: dict[str, Any], wait_idle: float, stamp: str
) -> tuple[list[Headline], list[str]]:
    """Print a workload's tables, write its JSON; returns its headline rows and figures."""
    workload, runs = plan.workload, plan.runs
    summary = summarize(workload, runs)
    extra_text, extra_data = workload.extra_report(summary, runs) if runs else ("", {})
    print(f"\n== {workload.name}: {workload.description}")
    print(
        f"   repeats={opts.repeats}, threads={','.join(map(str, plan.threads))}; "
        "peer/dropnet time = peer median time / dropnet median time (> 1: dropnet faster); "
        "n = repeats, busy = repeats that shared the CPU with other work"
    )
    for fw, why in plan.skipped.items():
        print(f"   note: {fw} skipped: {why}")
    busy_runs = [r for r in runs if disturbed(r)]
    if busy_runs:
        print(
            f"   WARNING: {len(busy_runs)} of {len(runs)} runs shared the CPU with other work "
            f"(over {BUSY_WARN:.0%} of it before the start or {OTHER_WARN:.0%} during); their "
            "times are likely inflated (rerun on a quiet machine, or use --wait-idle)"
        )
    for err in plan.errors:
        print(
            f"   note: {err['framework']} (thr={err['threads']}, repeat {err['repeat'] + 1}) "
            "failed: " + err["error"].strip().splitlines()[-1]
        )
    if summary:
        print(main_table(workload, summary))
    if extra_text:
        print(extra_text)
    headlines = workload.headlines(summary, extra_data, runs) if summary else []
    figures = workload.figures(extra_data, runs, os.path.join(out_dir, f"{workload.name}-{stamp}"))

    path = os.path.join(out_dir, f"{workload.name}-{stamp}.json")
    document = {
        "workload": workload.name,
        "description": workload.description,
        **context,
        "options": {
            "repeats": opts.repeats,
            "quick": opts.quick,
            "threads": list(plan.threads),
            "epochs_overrides": opts.epochs,
            "seed": opts.seed,
            "frameworks": plan.frameworks,
            "wait_idle": wait_idle,
        },
        "skipped": plan.skipped,
        "elapsed_seconds": plan.elapsed,
        "summary": summary,
        "headlines": [h.as_dict() for h in headlines],
        "details": extra_data,
        "figures": figures,
        "runs": runs,
        "errors": plan.errors,
    }
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(document, fh, indent=1)
    print(f"   results: {path}")
    for fig in figures:
        print(f"   figure: {fig}")
    sys.stdout.flush()
    return headlines, figures


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def show_report(paths: dict[str, str]) -> None:
    """Print the Markdown report and the paths of the files written."""
    with open(paths["md"], encoding="utf-8") as fh:
        print(fh.read())
    for kind, path in paths.items():
        print(f"   {kind}: {path}")


def rebuild_report(paths: list[str], out_dir: str) -> dict[str, str]:
    """The report of saved per-workload result files, with the current headline rules."""
    headlines: list[Headline] = []
    figures: list[str] = []
    context: dict[str, Any] = {}
    options: dict[str, Any] = {"workloads": [], "elapsed_seconds": 0.0}
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    docs = []
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
        if "workload" not in doc or "summary" not in doc:
            raise ValueError(f"{path}: not a per-workload result file of dropnet bench")
        docs.append(doc)
    order = list(REGISTRY)
    docs.sort(key=lambda d: order.index(d["workload"]) if d["workload"] in order else len(order))
    for doc in docs:
        workload = get_workload(doc["workload"])
        if not context:
            context = {k: doc[k] for k in ("timestamp", "machine", "versions") if k in doc}
            context["dropnet_build"] = doc.get("dropnet_build", {})
            context["git"] = doc.get("git", {})
            options.update(repeats=doc["options"]["repeats"], quick=doc["options"]["quick"])
        options["workloads"].append(workload.name)
        options["elapsed_seconds"] += doc.get("elapsed_seconds", 0.0)
        headlines += workload.headlines(doc["summary"], doc.get("details", {}), doc["runs"])
        figures += workload.figures(
            doc.get("details", {}), doc["runs"], os.path.join(out_dir, f"{workload.name}-{stamp}")
        )
    return write_report(
        headlines, figures, context, options, os.path.join(out_dir, f"report-{stamp}")
    )


def main(
    argv: list[str] | None = None, prog: str | None = None, default_out: str = DEFAULT_OUT
) -> int:
    parser = build_parser(prog, default_out)
    args = parser.parse_args(argv)
    if args.report_from:
        os.makedirs(args.out, exist_ok=True)
        try:
            paths = rebuild_report(args.report_from, args.out)
        except (OSError, ValueError, KeyError) as exc:
            parser.error(f"--report-from: {exc}")
        show_report(paths)
        return 0
    repeats = args.repeats if args.repeats is not None else (3 if args.quick else 5)
    if repeats < 3:
        parser.error(f"--repeats must be at least 3, received {repeats}")
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    try:
        workloads = [get_workload(n) for n in names]
    except KeyError as exc:
        parser.error(str(exc.args[0]))
    wanted = {f.strip() for f in args.frameworks.split(",")} if args.frameworks else None
    if args.sonar_csv:
        if not os.path.isfile(args.sonar_csv):
            from dropnet.datasets import SONAR_SOURCE

            parser.error(f"--sonar-csv: no file at {args.sonar_csv!r}. Expected {SONAR_SOURCE}.")
        os.environ["DROPNET_SONAR_CSV"] = os.path.abspath(args.sonar_csv)
    opts = Options(
        repeats=repeats, quick=args.quick, threads=args.threads, epochs=args.epochs, seed=args.seed
    )
    context: dict[str, Any] = {
        "timestamp": dt.datetime.now().isoformat(timespec="seconds"),
        "command": [os.path.basename(sys.executable)] + (sys.argv if argv is None else argv),
        "machine": machine_info(),
        "versions": package_versions(),
        "dropnet_build": dropnet_build(),
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
    os.makedirs(args.out, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    plans = [Plan(w, opts, wanted) for w in workloads]
    total = sum(len(p.jobs) for p in plans) * opts.repeats
    started = time.perf_counter()
    headlines: list[Headline] = []
    figures: list[str] = []
    with WorkerPool(fresh=args.fresh_processes) as pool:
        needed = [
            (j.framework, j.threads) for p in plans for j in p.jobs if j.framework not in p.skipped
        ]
        log(f"starting {len(set(needed))} worker processes (framework imports are not timed)")
        failed = pool.start(needed)
        for p in plans:
            p.skipped.update({fw: why for fw, why in failed.items() if fw in p.frameworks})
        progress = Progress(total, enabled=not args.no_progress)
        for plan in plans:
            log(f"[{plan.workload.name}] {plan.workload.description}")
            for fw, why in plan.skipped.items():
                log(f"[{plan.workload.name}] skipping {fw}: {why}")
            run_plan(pool, plan, opts, args.wait_idle, progress)
            progress.clear()
            rows, figs = report_workload(plan, opts, args.out, context, args.wait_idle, stamp)
            headlines += rows
            figures += figs
            progress.redraw()
        progress.close()
    elapsed = time.perf_counter() - started
    paths = write_report(
        headlines,
        figures,
        context,
        {
            "repeats": opts.repeats,
            "quick": opts.quick,
            "workloads": names,
            "elapsed_seconds": elapsed,
            "fresh_processes": args.fresh_processes,
        },
        os.path.join(args.out, f"report-{stamp}"),
    )
    print(f"\n== report ({elapsed:.0f} s)")
    show_report(paths)
    return 0
