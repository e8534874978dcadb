"""The numpy adapter: its BLAS limited through threadpoolctl (where installed; else only by
the worker's OPENBLAS_NUM_THREADS / OMP_NUM_THREADS), and the BLAS facts recorded."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

NAME = "numpy"
_limits: list[Any] = []  # the threadpoolctl limit in force (kept for the process's life)


def setup(threads: int, seed: int | None = None) -> None:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    _limits[:] = [threadpool_limits(limits=threads, user_api="blas")]


def info(brief: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"numpy": np.__version__}
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        out["thread_control"] = "OPENBLAS_NUM_THREADS/OMP_NUM_THREADS environment"
        return out
    out["thread_control"] = "threadpoolctl"
    keys = ("internal_api", "version", "architecture", "num_threads", "threading_layer", "prefix")
    blas = [lib for lib in threadpool_info() if lib.get("user_api") == "blas"]
    out["blas"] = [{k: lib.get(k) for k in keys} for lib in blas]
    return out


def matmul(a: np.ndarray, b: np.ndarray) -> Callable[[], Any]:
    """A call computing a @ b with numpy's BLAS."""
    return lambda: a @ b
