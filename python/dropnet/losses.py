"""Loss names and classes (the computation runs in the core, from logits where possible)."""

from __future__ import annotations

_CANONICAL = {
    "binary_crossentropy": "binary_crossentropy",
    "bce": "binary_crossentropy",
    "categorical_crossentropy": "categorical_crossentropy",
    "cce": "categorical_crossentropy",
    "sparse_categorical_crossentropy": "sparse_categorical_crossentropy",
    "mse": "mean_squared_error",
    "mean_squared_error": "mean_squared_error",
    "mae": "mean_absolute_error",
    "mean_absolute_error": "mean_absolute_error",
}


class Loss:
    name = "loss"

    def __init__(self, from_logits=False, name=None, reduction="sum_over_batch_size"):
        if reduction not in ("sum_over_batch_size", "auto", None):
            raise ValueError(
                f"{type(self).__name__}: only reduction='sum_over_batch_size' is supported"
            )
        self.from_logits = bool(from_logits)
        if name is not None:
            self.name = name

    def get_config(self):
        return {"from_logits": self.from_logits, "name": self.name}


class BinaryCrossentropy(Loss):
    name = "binary_crossentropy"


class CategoricalCrossentropy(Loss):
    name = "categorical_crossentropy"


class SparseCategoricalCrossentropy(Loss):
    name = "sparse_categorical_crossentropy"


class MeanSquaredError(Loss):
    name = "mean_squared_error"

    def __init__(self, name=None, reduction="sum_over_batch_size"):
        super().__init__(False, name, reduction)


class MeanAbsoluteError(MeanSquaredError):
    name = "mean_absolute_error"


binary_crossentropy = "binary_crossentropy"
categorical_crossentropy = "categorical_crossentropy"
sparse_categorical_crossentropy = "sparse_categorical_crossentropy"
mean_squared_error = mse = "mean_squared_error"
mean_absolute_error = mae = "mean_absolute_error"

_CLASS_TO_NAME = {
    BinaryCrossentropy: "binary_crossentropy",
    CategoricalCrossentropy: "categorical_crossentropy",
    SparseCategoricalCrossentropy: "sparse_categorical_crossentropy",
    MeanSquaredError: "mean_squared_error",
    MeanAbsoluteError: "mean_absolute_error",
}


def get(identifier) -> tuple[str, bool]:
    """(canonical name, from_logits)."""
    if isinstance(identifier, Loss):
        for cls, canonical in _CLASS_TO_NAME.items():
            if type(identifier) is cls:
                return canonical, identifier.from_logits
    if isinstance(identifier, type) and identifier in _CLASS_TO_NAME:
        return _CLASS_TO_NAME[identifier], False
    name = identifier if isinstance(identifier, str) else getattr(identifier, "__name__", None)
    if isinstance(name, str) and name.lower() in _CANONICAL:
        return _CANONICAL[name.lower()], False
    raise ValueError(
        "unknown loss: expected one of binary_crossentropy, categorical_crossentropy, "
        f"sparse_categorical_crossentropy, mse, mae, received {identifier!r}"
    )
