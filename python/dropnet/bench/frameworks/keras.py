"""The Keras adapter (TensorFlow backend): the one place TensorFlow's thread pools are
sized, Keras's API for models, and a timed ``fit``."""

from __future__ import annotations

from typing import Any

from ..timing import Fit, keras_style_fit
from . import ADAM_EPSILON, ADAM_LEARNING_RATE, FrameworkMissing

try:
    import keras
    import tensorflow as tf
except ImportError as exc:
    raise FrameworkMissing(f"keras/tensorflow: {exc}") from exc

NAME = "keras"
layers = keras.layers
optimizers = keras.optimizers
constraints = keras.constraints
Sequential = keras.Sequential
Callback = keras.callbacks.Callback


def setup(threads: int, seed: int | None = None) -> None:
    """TensorFlow's intra- and inter-op pools sized to `threads` (possible only before its
    runtime starts: the worker calls this first), Keras seeded, and the runtime started, so
    that no timed region pays for it."""
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(f"Keras backend is {keras.backend.backend()!r}, expected 'tensorflow'")
    if tf.config.threading.get_intra_op_parallelism_threads() != threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    if seed is not None:
        keras.utils.set_random_seed(seed)
    (tf.constant([1.0]) + 1.0).numpy()


def info(brief: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"keras": keras.__version__, "tensorflow": tf.__version__}
    if not brief:
        out["backend"] = keras.backend.backend()
        out["intra_op_threads"] = tf.config.threading.get_intra_op_parallelism_threads()
        out["inter_op_threads"] = tf.config.threading.get_inter_op_parallelism_threads()
    return out


def adam() -> Any:
    return optimizers.Adam(learning_rate=ADAM_LEARNING_RATE, epsilon=ADAM_EPSILON)


def fit(model: Any, *args: Any, start: float | None = None, clock: bool = True, **kw: Any) -> Fit:
    """model.fit(*args, **kw), timed (see timing.keras_style_fit)."""
    return keras_style_fit(Callback, model, *args, start=start, clock=clock, **kw)
