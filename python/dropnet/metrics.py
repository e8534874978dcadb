"""Metric names: resolving 'accuracy' to its binary/categorical/sparse form, as Keras does."""

from __future__ import annotations

_ALIASES = {
    "mse": "mean_squared_error",
    "mean_squared_error": "mean_squared_error",
    "mae": "mean_absolute_error",
    "mean_absolute_error": "mean_absolute_error",
    "binary_accuracy": "binary_accuracy",
    "categorical_accuracy": "categorical_accuracy",
    "sparse_categorical_accuracy": "sparse_categorical_accuracy",
}


def resolve(identifier, loss: str, output_dim: int) -> tuple[str, dict]:
    """(history key, the core's description of the metric) for one entry of
    ``compile(metrics=...)``."""
    key, kind = _resolve(identifier, loss, output_dim)
    return key, {"kind": kind, "threshold": 0.5} if kind == "binary_accuracy" else {"kind": kind}


def _resolve(identifier, loss: str, output_dim: int) -> tuple[str, str]:
    name = identifier if isinstance(identifier, str) else getattr(identifier, "__name__", None)
    if not isinstance(name, str):
        raise TypeError(f"expected a metric name or a function, received {identifier!r}")
    if name in ("accuracy", "acc"):
        if loss == "binary_crossentropy":
            kind = "binary_accuracy"
        elif loss == "sparse_categorical_crossentropy":
            kind = "sparse_categorical_accuracy"
        elif loss == "categorical_crossentropy":
            kind = "categorical_accuracy"
        else:
            kind = "binary_accuracy" if output_dim == 1 else "categorical_accuracy"
        return name, kind
    if name.lower() in _ALIASES:
        return name, _ALIASES[name.lower()]
    raise ValueError(
        "unknown metric: expected accuracy, acc, binary_accuracy, categorical_accuracy, "
        f"sparse_categorical_accuracy, mse or mae, received {identifier!r}"
    )


# Keys that read the same list in History (Keras 2 and Keras 3 spellings).
KEY_ALIASES = {
    "acc": "accuracy",
    "accuracy": "acc",
    "val_acc": "val_accuracy",
    "val_accuracy": "val_acc",
}
