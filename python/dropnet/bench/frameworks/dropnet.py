"""The dropnet adapter: threads and seed through dropnet's API, Keras's API for models
(``layers``, ``Sequential``, ``optimizers``, ``Callback``), a timed ``fit`` and the core's
float32 GEMM."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..timing import Fit, keras_style_fit
from . import ADAM_EPSILON, ADAM_LEARNING_RATE, FrameworkMissing

try:
    import dropnet
    from dropnet import _core, layers, optimizers
    from dropnet.callbacks import Callback
    from dropnet.models import Sequential
except ImportError as exc:
    raise FrameworkMissing(f"dropnet: {exc}") from exc

NAME = "dropnet"
# Re-exported for the workloads, beside the functions below.
__all__ = ["Callback", "Sequential", "_core", "layers", "optimizers"]


def setup(threads: int, seed: int | None = None) -> None:
    dropnet.set_num_threads(threads)
    if seed is not None:
        dropnet.set_random_seed(seed)


def info(brief: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"dropnet": dropnet.__version__}
    if not brief:
        out["threads"] = dropnet.get_num_threads()
    return out


def adam() -> Any:
    return optimizers.Adam(learning_rate=ADAM_LEARNING_RATE, epsilon=ADAM_EPSILON)


def fit(model: Any, *args: Any, start: float | None = None, clock: bool = True, **kw: Any) -> Fit:
    """model.fit(*args, **kw), timed (see timing.keras_style_fit)."""
    return keras_style_fit(Callback, model, *args, start=start, clock=clock, **kw)


def matmul(a: np.ndarray, b: np.ndarray) -> Callable[[], Any]:
    """A call computing a @ b with dropnet's own GEMM."""
    return lambda: _core.matmul(a, b)
