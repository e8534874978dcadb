"""Shared pieces of the benchmark harness: machine and version facts, child-process
environments, robust statistics and plain-text table formatting."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# Environment variables that slow OpenBLAS on this kind of machine; children run without them.
UNSET_IN_CHILDREN = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

# The thread counts of OpenMP and the BLAS libraries, pinned in every child.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

# Distributions whose versions are recorded with every result file.
VERSIONED_PACKAGES = (
    "dropnet",
    "numpy",
    "scikit-learn",
    "threadpoolctl",
    "torch",
    "tensorflow",
    "tensorflow-cpu",
    "keras",
)


def cpu_info() -> dict[str, object]:
    """CPU model, instruction-set flags of interest and physical cores from /proc/cpuinfo
    (model from platform.processor(), no flags and None cores where it is unreadable)."""
    wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile")
    model, flags, cores = "", None, set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            text = fh.read()
    except OSError:
        text = ""
    for block in text.split("\n\n"):  # one block per logical CPU
        lines = (line.partition(":") for line in block.splitlines())
        fields = {key.strip(): value.strip() for key, _, value in lines}
        model = model or fields.get("model name", "")
        if flags is None and "flags" in fields:
            flags = [f for f in wanted if f in fields["flags"].split()]
        if "physical id" in fields and "core id" in fields:
            cores.add((fields["physical id"], fields["core id"]))
    return {
        "cpu_model": model or platform.processor() or "unknown",
        "cpu_flags": flags or [],
        "physical_cores": len(cores) or None,
    }


def logical_cores() -> int:
    """CPUs this process may run on (affinity-aware)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def machine_info() -> dict[str, object]:
    return {
        **cpu_info(),
        "logical_cores": logical_cores(),
        "os_cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "hostname": platform.node(),
    }


def package_versions(names: Iterable[str] = VERSIONED_PACKAGES) -> dict[str, str]:
    """Installed versions of the given distributions (absent ones are left out)."""
    out: dict[str, str] = {}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def child_env(threads: int) -> dict[str, str]:
    """Environment for a benchmark child: thread-count variables pinned, slow OpenBLAS
    overrides removed, Keras on the TensorFlow backend and TensorFlow's log quiet."""
    env = {k: v for k, v in os.environ.items() if k not in UNSET_IN_CHILDREN}
    env.update(dict.fromkeys(THREAD_VARIABLES, str(threads)), KERAS_BACKEND="tensorflow")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def parent_env_snapshot() -> dict[str, str | None]:
    """Thread and BLAS related variables of the invoking shell, for the record."""
    keys = UNSET_IN_CHILDREN + THREAD_VARIABLES + ("KERAS_BACKEND", "OMP_PROC_BIND", "OMP_PLACES")
    return {k: os.environ.get(k) for k in keys}


@dataclass
class Stats:
    """Median, min and max of a list of repeat measurements."""

    values: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def min(self) -> float:
        return min(self.values)

    @property
    def max(self) -> float:
        return max(self.values)

    def as_dict(self) -> dict[str, object]:
        return {
            "median": self.median,
            "min": self.min,
            "max": self.max,
            "values": list(self.values),
        }


def fmt_num(x: float | None, digits: int = 3) -> str:
    """Compact human formatting: 3 significant figures, no scientific notation for usual ranges."""
    if x is None:
        return "-"
    ax = abs(x)
    if ax >= 1000:
        return f"{x:,.0f}"
    if ax >= 100:
        return f"{x:.1f}"
    if ax >= 10:
        return f"{x:.2f}"
    if ax >= 1:
        return f"{x:.{digits}f}"
    return f"{x:.4f}"


def format_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool] | None = None
) -> str:
    """Plain-text table with a header rule; `right` marks right-aligned columns."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    align = list(right) if right is not None else [False] * len(headers)

    def line(cells: Sequence[str]) -> str:
        parts = [c.rjust(w) if a else c.ljust(w) for c, w, a in zip(cells, widths, align)]
        return "  ".join(parts).rstrip()

    out = [line(headers), "  ".join("-" * w for w in widths)]
    out.extend(line(r) for r in rows)
    return "\n".join(out)


def _cpu_times() -> tuple[int, int] | None:
    """(idle, total) jiffies over all CPUs from /proc/stat, or None where unavailable."""
    try:
        with open("/proc/stat", encoding="utf-8") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return idle, sum(fields[:8])


def busy_fraction(interval: float = 0.5) -> float | None:
    """Share of all CPUs busy over `interval` seconds (this process sleeps meanwhile), so
    other work on the machine shows up here; None where /proc/stat is unavailable."""
    first = _cpu_times()
    time.sleep(interval)
    second = _cpu_times()
    if first is None or second is None or second[1] == first[1]:
        return None
    return 1.0 - (second[0] - first[0]) / (second[1] - first[1])


def wait_until_idle(
    max_wait: float, threshold: float = 0.1, interval: float = 0.5
) -> tuple[float | None, float]:
    """Sample the CPU (over `interval` seconds) until it is below `threshold` busy or
    `max_wait` seconds pass. Returns (last busy fraction, seconds waited)."""
    start = time.perf_counter()
    busy = busy_fraction(interval)
    while busy is not None and busy > threshold and time.perf_counter() - start < max_wait:
        busy = busy_fraction(1.0)
    return busy, time.perf_counter() - start


class OtherLoadMeter:
    """Measures how much CPU other processes used while a job ran: machine-wide busy time
    from /proc/stat minus the CPU time of the harness's own workers (live ones read from
    /proc, finished ones from this process's reaped children), as a share of all cores."""

    def __init__(self) -> None:
        self._ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._start: tuple[tuple[int, int] | None, float, float] | None = None
        self._pids: list[int] = []

    def _own_cpu(self) -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        total = usage.ru_utime + usage.ru_stime
        for pid in self._pids:
            total += process_cpu_seconds(pid) or 0.0
        return total

    def start(self, pids: Iterable[int] = ()) -> None:
        self._pids = list(pids)
        self._start = (_cpu_times(), self._own_cpu(), time.perf_counter())

    def stop(self) -> float | None:
        """Share of all cores used by other work since start(), or None if unknown."""
        if self._start is None:
            return None
        times0, cpu0, wall0 = self._start
        times1, cpu1, wall1 = _cpu_times(), self._own_cpu(), time.perf_counter()
        if times0 is None or times1 is None or wall1 <= wall0:
            return None
        busy = ((times1[1] - times1[0]) - (times0[1] - times0[0])) / self._ticks
        others = max(0.0, busy - (cpu1 - cpu0))
        return others / ((wall1 - wall0) * logical_cores())


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a live process (all its threads), from /proc; None if gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
