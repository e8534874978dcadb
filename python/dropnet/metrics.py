"""Metrics by name, class or function, as Keras's. Each entry of ``compile(metrics=...)``
resolves to its history key and either the core's description of it (computed during each
pass: a sample-weighted mean of per-sample values, or a ratio of counts accumulated over
the pass) or a Python function, run on the predictions after the pass (see models.py)."""

from __future__ import annotations

import collections
import re
import types
from typing import ClassVar

import numpy as np

from . import losses


class Metric:
    """A metric the core computes. ``default_name`` is Keras's name when none is given;
    ``numbered`` classes number their unnamed instances per process (auc, auc_1, ...);
    ``labels`` says which labels it reads: those of the output's shape ('dense') or one
    class id per row ('sparse', with sparse_categorical_crossentropy)."""

    default_name = ""
    numbered = False
    labels = "dense"
    _instances: ClassVar[collections.Counter] = collections.Counter()

    def __init__(self, name=None, dtype=None):
        if name is None:
            name = self.default_name
            if self.numbered:
                count = Metric._instances[name]
                Metric._instances[name] += 1
                name = f"{name}_{count}" if count else name
        elif not isinstance(name, str):
            raise TypeError(f"{type(self).__name__}: name must be a string, received {name!r}")
        self.name = name
        self.dtype = dtype

    def _config(self) -> dict:
        return {}

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, **self._config()}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def _spec(self) -> dict:
        """The core's description."""
        raise NotImplementedError


class _Kind(Metric):
    """A metric that is one of the core's kinds, without parameters."""

    kind = ""

    def _spec(self) -> dict:
        return {"kind": self.kind}


class MeanSquaredError(_Kind):
    default_name = kind = "mean_squared_error"


class MeanAbsoluteError(_Kind):
    default_name = kind = "mean_absolute_error"


class CategoricalAccuracy(_Kind):
    default_name = kind = "categorical_accuracy"


class SparseCategoricalAccuracy(_Kind):
    default_name = kind = "sparse_categorical_accuracy"
    labels = "sparse"


class BinaryAccuracy(Metric):
    default_name = "binary_accuracy"

    def __init__(self, name=None, dtype=None, threshold=0.5):
        super().__init__(name, dtype)
        self.threshold = losses._number("BinaryAccuracy", "threshold", threshold)

    def _config(self) -> dict:
        return {"threshold": self.threshold}

    def _spec(self) -> dict:
        return {"kind": "binary_accuracy", "threshold": self.threshold}


class _TopK(Metric):
    def __init__(self, k=5, name=None, dtype=None):
        super().__init__(name, dtype)
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"{type(self).__name__}: k must be an integer >= 1, received {k!r}")
        self.k = int(k)

    def _config(self) -> dict:
        return {"k": self.k}

    def _spec(self) -> dict:
        return {"kind": self.default_name, "k": self.k}


class TopKCategoricalAccuracy(_TopK):
    """Whether the label's class (the argmax of a one-hot row) is among the k largest
    outputs; ties at the k-th value count as in."""

    default_name = "top_k_categorical_accuracy"


class SparseTopKCategoricalAccuracy(_TopK):
    default_name = "sparse_top_k_categorical_accuracy"
    labels = "sparse"

    def __init__(self, k=5, name=None, dtype=None, from_sorted_ids=False):
        super().__init__(k, name, dtype)
        if from_sorted_ids:
            raise ValueError("SparseTopKCategoricalAccuracy: from_sorted_ids is not supported")


class _Counted(Metric):
    """Precision and recall: positive above the threshold, ratios of counts over the pass."""

    numbered = True

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name, dtype)
        owner = type(self).__name__
        if top_k is not None or class_id is not None:
            raise ValueError(f"{owner}: top_k and class_id are not supported")
        if isinstance(thresholds, (list, tuple)):
            if len(thresholds) != 1:
                raise ValueError(
                    f"{owner}: only one threshold is supported, received {thresholds!r}"
                )
            thresholds = thresholds[0]
        self.thresholds = (
            None if thresholds is None else losses._number(owner, "thresholds", thresholds, 0, 1)
        )

    def _config(self) -> dict:
        return {"thresholds": self.thresholds}

    def _spec(self) -> dict:
        threshold = 0.5 if self.thresholds is None else self.thresholds
        return {"kind": self.default_name, "threshold": threshold}


class Precision(_Counted):
    default_name = "precision"


class Recall(_Counted):
    default_name = "recall"


class AUC(Metric):
    """Area under the ROC or precision-recall curve, from per-threshold counts over the
    pass: thresholds −ε, i/(n − 1) (0 < i < n − 1) and 1 + ε, trapezoids over (false
    positive rate, recall) for ROC, Keras's interpolation of precision for PR."""

    default_name = "auc"
    numbered = True

    def __init__(
        self,
        num_thresholds=200,
        curve="ROC",
        summation_method="interpolation",
        name=None,
        dtype=None,
        thresholds=None,
        multi_label=False,
        num_labels=None,
        label_weights=None,
        from_logits=False,
    ):
        if (
            isinstance(num_thresholds, bool)
            or not isinstance(num_thresholds, (int, np.integer))
            or not 1 < num_thresholds <= 2**20
        ):
            raise ValueError(
                f"AUC: num_thresholds must be an integer from 2 to 2**20, received {num_thresholds!r}"
            )
        if curve not in ("ROC", "roc", "PR", "pr"):
            raise ValueError(f"AUC: curve must be 'ROC' or 'PR', received {curve!r}")
        if summation_method not in ("interpolation", "Interpolation"):
            raise ValueError(
                "AUC: only summation_method='interpolation' is supported, received "
                f"{summation_method!r}"
            )
        if thresholds is not None or label_weights is not None:
            raise ValueError("AUC: thresholds and label_weights are not supported")
        if num_labels is not None and not multi_label:
            raise ValueError("AUC: num_labels is needed only when multi_label is True")
        super().__init__(name, dtype)
        self.num_thresholds = int(num_thresholds)
        self.curve = curve.upper()
        self.summation_method = "interpolation"
        self.multi_label = bool(multi_label)
        self.num_labels = num_labels
        self.from_logits = bool(from_logits)

    def _config(self) -> dict:
        return {
            "num_thresholds": self.num_thresholds,
            "curve": self.curve,
            "summation_method": self.summation_method,
            "multi_label": self.multi_label,
            "num_labels": self.num_labels,
            "from_logits": self.from_logits,
        }

    def _spec(self) -> dict:
        return {
            "kind": "auc",
            "num_thresholds": self.num_thresholds,
            "curve": self.curve,
            "multi_label": self.multi_label,
            "from_logits": self.from_logits,
        }


class _LossMean(Metric):
    """The sample-weighted mean of a loss over the pass (Keras's metric of the same name;
    cosine similarity reports +cos, the loss's negative, as Keras's metric does)."""

    loss = ""
    negate = False

    def _loss_params(self) -> dict:
        return {}

    def _spec(self) -> dict:
        return {
            "kind": "loss",
            "loss": self.loss,
            "from_logits": bool(getattr(self, "from_logits", False)),
            "negate": self.negate,
            **self._loss_params(),
        }


class MeanAbsolutePercentageError(_LossMean):
    default_name = loss = "mean_absolute_percentage_error"


class MeanSquaredLogarithmicError(_LossMean):
    default_name = loss = "mean_squared_logarithmic_error"


class Hinge(_LossMean):
    default_name = loss = "hinge"


class SquaredHinge(_LossMean):
    default_name = loss = "squared_hinge"


class CategoricalHinge(_LossMean):
    default_name = loss = "categorical_hinge"


class KLDivergence(_LossMean):
    default_name = loss = "kl_divergence"


class Poisson(_LossMean):
    default_name = loss = "poisson"


class LogCoshError(_LossMean):
    default_name = "logcosh"
    loss = "log_cosh"


class CosineSimilarity(_LossMean):
    default_name = loss = "cosine_similarity"
    negate = True

    def __init__(self, name=None, dtype=None, axis=-1):
        super().__init__(name, dtype)
        losses._last_axis("CosineSimilarity", axis)


class _CrossentropyMean(_LossMean):
    def __init__(self, name=None, dtype=None, from_logits=False, label_smoothing=0.0, axis=-1):
        super().__init__(name, dtype)
        owner = type(self).__name__
        losses._last_axis(owner, axis)
        self.from_logits = bool(from_logits)
        self.label_smoothing = losses._number(owner, "label_smoothing", label_smoothing, 0, 1)

    def _config(self) -> dict:
        return {"from_logits": self.from_logits, "label_smoothing": self.label_smoothing}

    def _loss_params(self) -> dict:
        return {"label_smoothing": self.label_smoothing}


class BinaryCrossentropy(_CrossentropyMean):
    default_name = loss = "binary_crossentropy"


class CategoricalCrossentropy(_CrossentropyMean):
    default_name = loss = "categorical_crossentropy"


class SparseCategoricalCrossentropy(_LossMean):
    default_name = loss = "sparse_categorical_crossentropy"
    labels = "sparse"

    def __init__(self, name=None, dtype=None, from_logits=False, axis=-1):
        super().__init__(name, dtype)
        losses._last_axis("SparseCategoricalCrossentropy", axis)
        self.from_logits = bool(from_logits)

    def _config(self) -> dict:
        return {"from_logits": self.from_logits}


class _LossNamed(_LossMean):
    """A loss compile takes as a metric name though Keras has no metric of it (huber, kld,
    binary_focal_crossentropy, ...): its mean with the loss's defaults."""

    def __init__(self, loss: str, name: str):
        super().__init__(name)
        self.loss = loss
        self.labels = "sparse" if loss == "sparse_categorical_crossentropy" else "dense"


_CLASSES = (
    MeanSquaredError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError,
    CosineSimilarity,
    LogCoshError,
    Hinge,
    SquaredHinge,
    CategoricalHinge,
    KLDivergence,
    Poisson,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    TopKCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    Precision,
    Recall,
    AUC,
)


def _snake(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


# The strings compile takes, lower case → class: Keras's (each class's name and its
# snake_case form, and mse, mae, mape, msle, bce in either case).
_NAMES = {n.lower(): cls for cls in _CLASSES for n in (cls.__name__, _snake(cls.__name__))}
_NAMES.update(
    mse=MeanSquaredError,
    mae=MeanAbsoluteError,
    mape=MeanAbsolutePercentageError,
    msle=MeanSquaredLogarithmicError,
    bce=BinaryCrossentropy,
)


def known_names() -> str:
    snake = sorted(
        {_snake(cls.__name__) for cls in _CLASSES} | {"mse", "mae", "mape", "msle", "bce"}
    )
    return ", ".join(["accuracy", "acc", *snake]) + " (or a class name: AUC, ...), or a loss name"


def resolve(identifier, loss: str, output_dim: int) -> tuple[str, dict | None]:
    """(history key, the core's description) of one entry of ``compile(metrics=...)`` on
    a head with this loss; the description is None for a Python function (the caller runs
    it). Checks the metric reads the labels the loss takes."""
    sparse = loss == "sparse_categorical_crossentropy"
    if isinstance(identifier, str):
        key = identifier
        metric = _named(identifier, loss, output_dim)
    elif isinstance(identifier, Metric) and _builtin(identifier):
        key, metric = identifier.name, identifier
    elif isinstance(identifier, types.FunctionType) and identifier in losses._FUNCTIONS:
        key = identifier.__name__
        metric = _named(losses._FUNCTIONS[identifier], loss, output_dim)
    elif isinstance(identifier, (Metric, type)) and issubclass(_class(identifier), Metric):
        raise ValueError(
            f"metric {identifier!r}: a Metric class of your own (update_state/result) is not "
            "supported; give a function of (y_true, y_pred) returning per-sample values, or "
            f"one of {known_names()}"
        )
    elif is_python_function(identifier):
        return function_name(identifier), None
    else:
        raise TypeError(
            f"unknown metric: expected a metric name, a dropnet.metrics object or a function, "
            f"received {identifier!r}"
        )
    if metric.labels != ("sparse" if sparse else "dense"):
        takes = (
            "one class id per row (loss sparse_categorical_crossentropy)"
            if metric.labels == "sparse"
            else "labels of the output's shape"
        )
        raise ValueError(
            f"metric {key!r} reads {takes}; the loss {loss} takes "
            + ("class ids" if sparse else "labels of the output's shape")
        )
    return key, metric._spec()


def _class(identifier) -> type:
    return identifier if isinstance(identifier, type) else type(identifier)


def _builtin(identifier) -> bool:
    """A class of this module's, or an instance of one (a subclass of one counts: the core
    computes what it inherits)."""
    cls = _class(identifier)
    return issubclass(cls, Metric) and cls._spec is not Metric._spec


def _named(name: str, loss: str, output_dim: int) -> Metric:
    if name in ("accuracy", "acc"):
        # Keras's pick: from the loss, or the output's size without a cross-entropy loss
        if loss == "binary_crossentropy":
            return BinaryAccuracy()
        if loss == "sparse_categorical_crossentropy":
            return SparseCategoricalAccuracy()
        if loss == "categorical_crossentropy" or output_dim != 1:
            return CategoricalAccuracy()
        return BinaryAccuracy()
    cls = _NAMES.get(name.lower())
    if cls is not None:  # (named, so a string takes no number from the unnamed instances)
        return cls(name=cls.default_name)
    try:
        kind, _, _ = losses.spec(name)
    except ValueError:
        raise ValueError(
            f"unknown metric: expected one of {known_names()}, received {name!r}"
        ) from None
    return _LossNamed(kind, name)


def instance(identifier):
    """The metric to keep for a compile entry: a class of this module's made into its
    instance (numbered then, as Keras numbers it when compile builds it), else as given."""
    return identifier() if isinstance(identifier, type) and _builtin(identifier) else identifier


def is_python_function(identifier) -> bool:
    """A callable compile runs in Python: not a metric object or class, nor one of
    dropnet.losses' functions (the core computes those)."""
    return (
        callable(identifier)
        and not isinstance(identifier, (Metric, type))
        and not (isinstance(identifier, types.FunctionType) and identifier in losses._FUNCTIONS)
    )


def function_name(fn) -> str:
    name = getattr(fn, "__name__", None)
    return name if isinstance(name, str) else _snake(type(fn).__name__)


def unique_keys(keys: list[str]) -> list[str]:
    """Keras's rule for a name met again in one compile: the second gets _1, the third _2,
    and so on (skipping any number another entry already goes by)."""
    taken = set(keys)
    count: dict[str, int] = {}
    out = []
    for key in keys:
        if key in count:
            while f"{key}_{count[key]}" in taken:
                count[key] += 1
            taken.add(f"{key}_{count[key]}")
            key, count[key] = f"{key}_{count[key]}", count[key] + 1
        else:
            count[key] = 1
        out.append(key)
    return out


# History keys that read the same list: Keras 2's spellings of Keras 3's (accuracy as acc,
# and a metric string logged by its function's name: mse as mean_squared_error, ...).
_SPELLINGS = [
    ("acc", "accuracy"),
    ("mse", "mean_squared_error"),
    ("mae", "mean_absolute_error"),
    ("mape", "mean_absolute_percentage_error"),
    ("msle", "mean_squared_logarithmic_error"),
]
KEY_ALIASES = {
    prefix + a: prefix + b
    for short, full in _SPELLINGS
    for a, b in ((short, full), (full, short))
    for prefix in ("", "val_")
}
