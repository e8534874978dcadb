"""Process-wide settings: float type, threads, SIMD level, and the build report."""

from __future__ import annotations

import gc
import os
import sys

import numpy as np

from . import _core

_FLOATX = "float32"
_EPSILON = 1e-7


def floatx() -> str:
    """The default float type of new models ('float32' or 'float64')."""
    return _FLOATX


def set_floatx(value: str) -> None:
    """Set the default float type of models built from now on."""
    global _FLOATX
    if value not in ("float32", "float64"):
        raise ValueError(f"set_floatx: expected 'float32' or 'float64', received {value!r}")
    _FLOATX = value


def epsilon() -> float:
    return _EPSILON


def image_data_format() -> str:
    """'channels_last': images are (height, width, channels), the only layout dropnet has."""
    return "channels_last"


def set_image_data_format(data_format: str) -> None:
    """Accepts 'channels_last' only: dropnet has no other image layout."""
    if data_format != "channels_last":
        raise ValueError(
            "set_image_data_format: dropnet supports only 'channels_last' (images as height, "
            f"width, channels), received {data_format!r}"
        )


def clear_session(free_memory: bool = True) -> None:
    """Start layer and model names afresh, as Keras does: the next Dense is 'dense' again.
    Existing models keep working. With free_memory, also run the garbage collector."""
    from .layers import base  # here: the layers import this module

    base._NAME_COUNTS.clear()
    if free_memory:
        gc.collect()


def get_value(x):
    """A variable's value as NumPy (Keras's ``backend.get_value``): an optimizer's
    ``learning_rate``/``lr``, a weight array, or a number."""
    if hasattr(x, "numpy"):
        return x.numpy()
    return np.asarray(x)


def set_value(x, value) -> None:
    """Set a variable in place (Keras's ``backend.set_value``): an optimizer's
    ``learning_rate``/``lr`` (``K.set_value(model.optimizer.lr, 0.01)``) or a NumPy array."""
    if hasattr(x, "assign"):
        x.assign(value)
        return
    if isinstance(x, np.ndarray):
        value = np.asarray(value, dtype=x.dtype)
        if value.shape not in ((), x.shape):
            raise ValueError(f"set_value: expected shape {x.shape}, received {value.shape}")
        x[...] = value
        return
    raise TypeError(
        f"set_value: expected an optimizer's learning rate or a NumPy array, received "
        f"{type(x).__name__} (a plain number cannot be set in place)"
    )


def standardize_dtype(dtype) -> str:
    """'float32'/'float64' from any spelling numpy understands; anything else is an error."""
    if dtype is None:
        return _FLOATX
    try:
        name = np.dtype(dtype).name
    except TypeError as exc:
        raise TypeError(f"expected dtype float32 or float64, received {dtype!r}") from exc
    if name not in ("float32", "float64"):
        raise TypeError(f"expected dtype float32 or float64, received {name}")
    return name


def get_num_threads() -> int:
    """Threads the core's kernels use (OpenMP's max threads)."""
    return int(_core.num_threads())


MAX_THREADS = max(256, 4 * (os.cpu_count() or 1))


def set_num_threads(n: int) -> None:
    """Set the threads the core's kernels use; results are bitwise the same for any n.
    More than MAX_THREADS (four per CPU, at least 256) is refused: thread pools that large
    cannot be created."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"set_num_threads: expected an int, received {type(n).__name__}")
    if not 1 <= n <= MAX_THREADS:
        raise ValueError(
            f"set_num_threads: expected 1 <= n <= {MAX_THREADS} ({os.cpu_count()} CPUs here), "
            f"received {n}"
        )
    _core.set_num_threads(int(n))


def show_config(file=None) -> dict:
    """Print and return the build and run-time configuration of the core."""
    cfg = dict(_core.config())
    cfg["numpy"] = np.__version__
    cfg["python"] = sys.version.split()[0]
    cfg["DROPNET_CPU_CAPABILITY"] = os.environ.get("DROPNET_CPU_CAPABILITY", "")
    lines = [
        f"dropnet {cfg['version']}",
        f"  SIMD level in use : {cfg['isa']} (best on this CPU: {cfg['isa_best']})",
        f"  kernels built for : {cfg['isa_built']}",
        f"  OpenMP            : {'yes' if cfg['openmp'] else 'no'}, {cfg['threads']} threads",
        f"  compiler          : {cfg['compiler']}",
        f"  python / numpy    : {cfg['python']} / {cfg['numpy']}",
    ]
    print("\n".join(lines), file=file or sys.stdout)
    return cfg
