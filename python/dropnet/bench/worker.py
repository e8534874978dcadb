"""Worker process of the benchmark harness: ``python -m dropnet.bench.worker FRAMEWORK THREADS``.

A worker serves one framework at one thread count (set through its environment by the
parent). It imports the framework once, reports ``{"status": "ready"}``, then runs jobs:
one JSON line in on stdin (workload, framework, threads, params), one JSON line out with
the job's records. Anything the frameworks print goes to stderr, so the protocol stream
carries only results. The parent interleaves jobs of several workers, so each framework
keeps its own process (TensorFlow and PyTorch never share one) and pays its import once.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from typing import Any, TextIO

from . import frameworks
from .frameworks import FrameworkMissing
from .workloads import get_workload


def run_job(spec: dict[str, Any]) -> dict[str, Any]:
    """One job: the workload's records, or status "missing" / "error" with the reason."""
    out: dict[str, Any] = {"status": "ok"}
    start = time.perf_counter()
    try:
        workload = get_workload(spec["workload"])
        out.update(workload.run(spec["framework"], int(spec["threads"]), spec["params"]))
    except FrameworkMissing as exc:
        out = {"status": "missing", "error": str(exc)}
    except Exception:  # noqa: BLE001 - reported to the parent, which carries on with other jobs
        out = {"status": "error", "error": traceback.format_exc()}
    out["child_seconds"] = time.perf_counter() - start
    return out


def import_framework(framework: str, threads: int) -> dict[str, Any]:
    """Import the framework through its adapter up front (untimed), so jobs measure only
    their work, and limit it to `threads` (TensorFlow's thread pools must be sized before
    its runtime starts: they cannot change afterwards)."""
    start = time.perf_counter()
    try:
        frameworks.load(framework).setup(threads)
    except Exception as exc:  # noqa: BLE001 - an unusable framework is reported, not fatal
        why = str(exc) if isinstance(exc, FrameworkMissing) else f"{framework}: {exc}"
        return {"status": "missing", "error": why}
    return {"status": "ready", "import_seconds": time.perf_counter() - start, "pid": os.getpid()}


def serve(framework: str, threads: int, jobs: TextIO, results: TextIO) -> None:
    def send(message: dict[str, Any]) -> None:
        results.write(json.dumps(message) + "\n")
        results.flush()

    ready = import_framework(framework, threads)
    send(ready)
    if ready["status"] != "ready":
        return
    for line in jobs:
        if not line.strip():
            continue
        send(run_job(json.loads(line)))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or not args[1].isdigit():
        print("usage: python -m dropnet.bench.worker FRAMEWORK THREADS", file=sys.stderr)
        return 2
    # The protocol keeps the original stdout; everything printed from here on goes to stderr.
    results = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    serve(args[0], int(args[1]), sys.stdin, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
