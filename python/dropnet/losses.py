"""Losses by name, class or function, as Keras's. The core computes them, value and
gradient (the cross-entropies from the logits when the model ends in sigmoid/softmax);
a name, class or function here says which loss, with which parameters. The functions
also compute per-sample losses of arrays, as Keras's do."""

from __future__ import annotations

import math
import types

import numpy as np

from . import _core

# Keras's (and Keras 2's) spellings of each loss, lower case → the core's name; compile
# also takes each class's name.
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
    "msle": "mean_squared_logarithmic_error",
    "mean_squared_logarithmic_error": "mean_squared_logarithmic_error",
    "mape": "mean_absolute_percentage_error",
    "mean_absolute_percentage_error": "mean_absolute_percentage_error",
    "hinge": "hinge",
    "squared_hinge": "squared_hinge",
    "categorical_hinge": "categorical_hinge",
    "kl_divergence": "kl_divergence",
    "kld": "kl_divergence",
    "kullback_leibler_divergence": "kl_divergence",
    "poisson": "poisson",
    "log_cosh": "log_cosh",
    "logcosh": "log_cosh",
    "huber": "huber",
    "huber_loss": "huber",
    "cosine_similarity": "cosine_similarity",
    "cosine_proximity": "cosine_similarity",
    "binary_focal_crossentropy": "binary_focal_crossentropy",
}


def _number(owner: str, what: str, value, low=-math.inf, high=math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{owner}: {what} must be a number, received {value!r}")
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(
            f"{owner}: {what} must be finite and in [{low}, {high}], received {value!r}"
        )
    return float(value)


def _last_axis(owner: str, axis) -> None:
    if axis != -1:
        raise ValueError(f"{owner}: only axis=-1 (the last axis) is supported, received {axis!r}")


class Loss:
    """A loss: ``kind`` is the core's name for it; ``_params`` what the core reads."""

    kind = ""
    name = "loss"

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        if reduction not in ("sum_over_batch_size", "auto", None):
            raise ValueError(
                f"{type(self).__name__}: only reduction='sum_over_batch_size' is supported, "
                f"received {reduction!r}"
            )
        self.from_logits = False
        if name is not None:
            self.name = name

    def _params(self) -> dict:
        return {}

    def get_config(self) -> dict:
        return {"name": self.name, **self._params()}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __call__(self, y_true, y_pred, sample_weight=None) -> float:
        """Σ w·ℓ over the count of ℓ values (Keras's sum_over_batch_size)."""
        per = _values(self.kind, y_true, y_pred, self.from_logits, self._params())
        w = np.ones(per.shape[:1]) if sample_weight is None else np.asarray(sample_weight, float)
        return float(np.sum(per * w.reshape(w.shape + (1,) * (per.ndim - w.ndim))) / per.size)


class _FromLogits(Loss):
    """The cross-entropies: computed from logits when from_logits is set."""

    def __init__(self, from_logits=False, name=None, reduction="sum_over_batch_size", dtype=None):
        super().__init__(name, reduction, dtype)
        self.from_logits = bool(from_logits)

    def get_config(self) -> dict:
        return {"from_logits": self.from_logits, **super().get_config()}


class _Smoothed(_FromLogits):
    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name=None,
        dtype=None,
    ):
        super().__init__(from_logits, name, reduction, dtype)
        _last_axis(type(self).__name__, axis)
        self.label_smoothing = _number(
            type(self).__name__, "label_smoothing", label_smoothing, 0, 1
        )

    def _params(self) -> dict:
        return {"label_smoothing": self.label_smoothing}


class BinaryCrossentropy(_Smoothed):
    kind = name = "binary_crossentropy"


class CategoricalCrossentropy(_Smoothed):
    kind = name = "categorical_crossentropy"


class SparseCategoricalCrossentropy(_FromLogits):
    kind = name = "sparse_categorical_crossentropy"

    def __init__(
        self,
        from_logits=False,
        name=None,
        reduction="sum_over_batch_size",
        dtype=None,
        ignore_class=None,
        axis=-1,
    ):
        super().__init__(from_logits, name, reduction, dtype)
        if ignore_class is not None:
            raise ValueError("SparseCategoricalCrossentropy: ignore_class is not supported")
        _last_axis("SparseCategoricalCrossentropy", axis)


class BinaryFocalCrossentropy(_Smoothed):
    kind = name = "binary_focal_crossentropy"

    def __init__(
        self,
        apply_class_balancing=False,
        alpha=0.25,
        gamma=2.0,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name=None,
        dtype=None,
    ):
        super().__init__(from_logits, label_smoothing, axis, reduction, name, dtype)
        self.apply_class_balancing = bool(apply_class_balancing)
        self.alpha = _number("BinaryFocalCrossentropy", "alpha", alpha)
        self.gamma = _number("BinaryFocalCrossentropy", "gamma", gamma, 0)

    def _params(self) -> dict:
        return {
            "apply_class_balancing": self.apply_class_balancing,
            "alpha": self.alpha,
            "gamma": self.gamma,
            **super()._params(),
        }


class MeanSquaredError(Loss):
    kind = name = "mean_squared_error"

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        super().__init__(name, reduction, dtype)


class MeanAbsoluteError(MeanSquaredError):
    kind = name = "mean_absolute_error"


class MeanSquaredLogarithmicError(MeanSquaredError):
    kind = name = "mean_squared_logarithmic_error"


class MeanAbsolutePercentageError(MeanSquaredError):
    kind = name = "mean_absolute_percentage_error"


class Hinge(MeanSquaredError):
    kind = name = "hinge"


class SquaredHinge(MeanSquaredError):
    kind = name = "squared_hinge"


class CategoricalHinge(MeanSquaredError):
    kind = name = "categorical_hinge"


class KLDivergence(MeanSquaredError):
    kind = name = "kl_divergence"


class Poisson(MeanSquaredError):
    kind = name = "poisson"


class LogCosh(MeanSquaredError):
    kind = name = "log_cosh"


class Huber(Loss):
    kind = "huber"
    name = "huber_loss"

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name=None, dtype=None):
        super().__init__(name, reduction, dtype)
        self.delta = _number("Huber", "delta", delta, 0)

    def _params(self) -> dict:
        return {"delta": self.delta}


class CosineSimilarity(Loss):
    kind = name = "cosine_similarity"

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name=None, dtype=None):
        super().__init__(name, reduction, dtype)
        _last_axis("CosineSimilarity", axis)


_CLASSES = {
    cls.kind: cls
    for cls in (
        BinaryCrossentropy,
        CategoricalCrossentropy,
        SparseCategoricalCrossentropy,
        BinaryFocalCrossentropy,
        MeanSquaredError,
        MeanAbsoluteError,
        MeanSquaredLogarithmicError,
        MeanAbsolutePercentageError,
        Hinge,
        SquaredHinge,
        CategoricalHinge,
        KLDivergence,
        Poisson,
        LogCosh,
        Huber,
        CosineSimilarity,
    )
}
_CANONICAL.update({cls.__name__.lower(): kind for kind, cls in _CLASSES.items()})


def _values(kind: str, y_true, y_pred, from_logits=False, params=None) -> np.ndarray:
    """Per-sample losses as Keras's loss functions return them: one per row of the last
    axis (shape y_pred.shape[:-1]), computed by the core in float64."""
    p = np.asarray(y_pred, dtype=np.float64)
    if p.ndim == 0:
        raise ValueError(f"{kind}: expected y_pred with a last axis, received a scalar")
    rows = np.ascontiguousarray(p.reshape(-1, p.shape[-1]))
    y = np.ascontiguousarray(y_true, dtype=np.float64)
    if kind == "sparse_categorical_crossentropy":
        y = y.reshape(-1)
        if y.size != rows.shape[0]:
            raise ValueError(
                f"{kind}: expected one class id per row of y_pred {p.shape}, received y_true of "
                f"shape {np.shape(y_true)}"
            )
    elif y.size != p.size:
        raise ValueError(
            f"{kind}: expected y_true of y_pred's shape {p.shape}, received {np.shape(y_true)}"
        )
    per, _ = _core.loss(kind, bool(from_logits), rows, y, None, **(params or {}))
    return per.reshape(p.shape[:-1])


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    _last_axis("binary_crossentropy", axis)
    return _values(
        "binary_crossentropy", y_true, y_pred, from_logits, {"label_smoothing": label_smoothing}
    )


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    _last_axis("categorical_crossentropy", axis)
    return _values(
        "categorical_crossentropy",
        y_true,
        y_pred,
        from_logits,
        {"label_smoothing": label_smoothing},
    )


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    if ignore_class is not None:
        raise ValueError("sparse_categorical_crossentropy: ignore_class is not supported")
    _last_axis("sparse_categorical_crossentropy", axis)
    return _values("sparse_categorical_crossentropy", y_true, y_pred, from_logits)


def binary_focal_crossentropy(
    y_true,
    y_pred,
    apply_class_balancing=False,
    alpha=0.25,
    gamma=2.0,
    from_logits=False,
    label_smoothing=0.0,
    axis=-1,
):
    params = BinaryFocalCrossentropy(
        apply_class_balancing, alpha, gamma, from_logits, label_smoothing, axis
    )._params()
    return _values("binary_focal_crossentropy", y_true, y_pred, from_logits, params)


def mean_squared_error(y_true, y_pred):
    return _values("mean_squared_error", y_true, y_pred)


def mean_absolute_error(y_true, y_pred):
    return _values("mean_absolute_error", y_true, y_pred)


def mean_squared_logarithmic_error(y_true, y_pred):
    return _values("mean_squared_logarithmic_error", y_true, y_pred)


def mean_absolute_percentage_error(y_true, y_pred):
    return _values("mean_absolute_percentage_error", y_true, y_pred)


def hinge(y_true, y_pred):
    return _values("hinge", y_true, y_pred)


def squared_hinge(y_true, y_pred):
    return _values("squared_hinge", y_true, y_pred)


def categorical_hinge(y_true, y_pred):
    return _values("categorical_hinge", y_true, y_pred)


def kl_divergence(y_true, y_pred):
    return _values("kl_divergence", y_true, y_pred)


def poisson(y_true, y_pred):
    return _values("poisson", y_true, y_pred)


def log_cosh(y_true, y_pred):
    return _values("log_cosh", y_true, y_pred)


def huber(y_true, y_pred, delta=1.0):
    return _values("huber", y_true, y_pred, params={"delta": _number("huber", "delta", delta, 0)})


def cosine_similarity(y_true, y_pred, axis=-1):
    _last_axis("cosine_similarity", axis)
    return _values("cosine_similarity", y_true, y_pred)


# Keras's (and Keras 2's) other names of the functions.
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
msle = MSLE = mean_squared_logarithmic_error
mape = MAPE = mean_absolute_percentage_error
kld = KLD = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh
huber_loss = huber
bce = BCE = binary_crossentropy

_FUNCTIONS = {
    fn: fn.__name__
    for fn in (
        binary_crossentropy,
        categorical_crossentropy,
        sparse_categorical_crossentropy,
        binary_focal_crossentropy,
        mean_squared_error,
        mean_absolute_error,
        mean_squared_logarithmic_error,
        mean_absolute_percentage_error,
        hinge,
        squared_hinge,
        categorical_hinge,
        kl_divergence,
        poisson,
        log_cosh,
        huber,
        cosine_similarity,
    )
}


def known_names() -> str:
    return ", ".join(sorted(set(_CANONICAL.values())))


def spec(identifier) -> tuple[str, bool, dict]:
    """(the core's name, from_logits, parameters) of a loss given by name, class, instance
    or one of this module's functions."""
    if isinstance(identifier, Loss) and identifier.kind:
        return identifier.kind, identifier.from_logits, identifier._params()
    if isinstance(identifier, type) and issubclass(identifier, Loss) and identifier.kind:
        return identifier.kind, False, {}
    if isinstance(identifier, types.FunctionType) and identifier in _FUNCTIONS:
        return _FUNCTIONS[identifier], False, {}
    if isinstance(identifier, str) and identifier.lower() in _CANONICAL:
        return _CANONICAL[identifier.lower()], False, {}
    if callable(identifier):  # a function of the user's, or a Loss subclass of theirs
        message = (
            f"unknown loss: received the Python function or object {identifier!r}. dropnet "
            "computes each loss and its gradient in its core and cannot differentiate Python "
            "code; use one of the built-in losses, by name, class (dropnet.losses.Huber(...)) or "
            f"function (dropnet.losses.huber): {known_names()}"
        )
    else:
        message = f"unknown loss: expected one of {known_names()}, received {identifier!r}"
    raise ValueError(message)


def get(identifier) -> tuple[str, bool]:
    """(canonical name, from_logits)."""
    return spec(identifier)[:2]
