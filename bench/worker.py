"""Child-process entry point: runs one job (a workload for one framework and thread count)
and writes its records as JSON. Usage: python worker.py SPEC.json RESULT.json"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from workloads import get_workload
from workloads.base import FrameworkMissing


def main(spec_path: str, result_path: str) -> int:
    with open(spec_path, encoding="utf-8") as fh:
        spec = json.load(fh)
    workload = get_workload(spec["workload"])
    out: dict = {"status": "ok"}
    start = time.perf_counter()
    try:
        out.update(workload.run(spec["framework"], int(spec["threads"]), spec["params"]))
    except FrameworkMissing as exc:
        out = {"status": "missing", "error": str(exc)}
    except Exception:  # noqa: BLE001 - reported to the parent, which carries on with the other jobs
        out = {"status": "error", "error": traceback.format_exc()}
    out["child_seconds"] = time.perf_counter() - start
    with open(result_path, "w", encoding="utf-8") as fh:
        json.dump(out, fh)
    return 0 if out["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
