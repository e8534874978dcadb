"""Weight constraints, applied by the core after every optimizer step (never at init)."""

from __future__ import annotations

import numpy as np


def _axes(axis) -> list[int]:
    if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
        return [int(axis)]
    try:
        out = [int(a) for a in axis]
    except TypeError as exc:
        raise TypeError(f"expected axis as an int or a list of ints, received {axis!r}") from exc
    if not out:
        raise ValueError("expected at least one axis")
    return out


class Constraint:
    """Base class. ``constraint(w)`` applies it to a NumPy array (a reference for the core)."""

    kind = "none"

    def __call__(self, w: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def _spec(self, ndim: int) -> dict:
        spec = {"kind": self.kind, **self.get_config()}
        if "axis" in spec:
            axes = [a + ndim if a < 0 else a for a in _axes(spec.pop("axis"))]
            for a in axes:
                if not 0 <= a < ndim:
                    raise ValueError(
                        f"{type(self).__name__}: axis {a} is out of range for a weight of rank {ndim}"
                    )
            spec["axes"] = axes
        return spec


class _Norm(Constraint):
    def _norms(self, w):
        return np.sqrt(np.sum(np.square(w), axis=tuple(_axes(self.axis)), keepdims=True))


class MaxNorm(_Norm):
    """Rescale each slice whose L2 norm over ``axis`` exceeds ``max_value``."""

    kind = "max_norm"

    def __init__(self, max_value=2, axis=0):
        if max_value <= 0:
            raise ValueError(f"MaxNorm: expected max_value > 0, received {max_value}")
        self.max_value, self.axis = float(max_value), axis
        _axes(axis)

    def __call__(self, w):
        n = self._norms(w)
        return w * (np.clip(n, 0, self.max_value) / (1e-7 + n))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class UnitNorm(_Norm):
    kind = "unit_norm"

    def __init__(self, axis=0):
        self.axis = axis
        _axes(axis)

    def __call__(self, w):
        return w / (1e-7 + self._norms(w))

    def get_config(self):
        return {"axis": self.axis}


class MinMaxNorm(_Norm):
    kind = "min_max_norm"

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        if not 0 <= min_value <= max_value:
            raise ValueError(
                f"MinMaxNorm: expected 0 <= min_value <= max_value, received {min_value}, {max_value}"
            )
        self.min_value, self.max_value, self.rate, self.axis = (
            float(min_value),
            float(max_value),
            float(rate),
            axis,
        )
        _axes(axis)

    def __call__(self, w):
        n = self._norms(w)
        desired = self.rate * np.clip(n, self.min_value, self.max_value) + (1 - self.rate) * n
        return w * (desired / (1e-7 + n))

    def get_config(self):
        return {
            "min_value": self.min_value,
            "max_value": self.max_value,
            "rate": self.rate,
            "axis": self.axis,
        }


class NonNeg(Constraint):
    kind = "non_neg"

    def __call__(self, w):
        return w * (w >= 0)


# Keras's lower-case names, Keras 2's spellings among them (kernel_constraint=maxnorm(3)).
max_norm, unit_norm, min_max_norm, non_neg = MaxNorm, UnitNorm, MinMaxNorm, NonNeg
maxnorm, unitnorm, nonneg = MaxNorm, UnitNorm, NonNeg
_BY_NAME = {
    "max_norm": MaxNorm,
    "maxnorm": MaxNorm,
    "unit_norm": UnitNorm,
    "unitnorm": UnitNorm,
    "min_max_norm": MinMaxNorm,
    "non_neg": NonNeg,
    "nonneg": NonNeg,
}
_BY_CLASS = {c.__name__: c for c in (MaxNorm, UnitNorm, MinMaxNorm, NonNeg)}


def get(identifier) -> Constraint | None:
    if identifier is None or isinstance(identifier, Constraint):
        return identifier
    if isinstance(identifier, str):
        if identifier.lower() in _BY_NAME:
            return _BY_NAME[identifier.lower()]()
        if identifier in _BY_CLASS:
            return _BY_CLASS[identifier]()
    if isinstance(identifier, dict) and identifier.get("class_name") in _BY_CLASS:
        return _BY_CLASS[identifier["class_name"]](**identifier.get("config", {}))
    raise ValueError(
        f"unknown constraint: expected one of {', '.join(_BY_NAME)}, received {identifier!r}"
    )


def serialize(c: Constraint | None):
    return None if c is None else {"class_name": type(c).__name__, "config": c.get_config()}
