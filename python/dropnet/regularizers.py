"""Weight penalties added to the training loss (and their gradients, in the core)."""

from __future__ import annotations

import numpy as np


class Regularizer:
    l1 = 0.0
    l2 = 0.0

    def __call__(self, w: np.ndarray) -> float:
        return float(self.l1 * np.sum(np.abs(w)) + self.l2 * np.sum(np.square(w)))

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def _spec(self) -> dict:
        return {"l1": float(self.l1), "l2": float(self.l2)}


def _check(name, v):
    v = float(v)
    if not np.isfinite(v) or v < 0:
        raise ValueError(f"{name}: expected a finite factor >= 0, received {v}")
    return v


class L1L2(Regularizer):
    def __init__(self, l1=0.0, l2=0.0):
        self.l1, self.l2 = _check("L1L2", l1), _check("L1L2", l2)


class L1(Regularizer):
    def __init__(self, l1=0.01):
        self.l1 = _check("L1", l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    def __init__(self, l2=0.01):
        self.l2 = _check("L2", l2)

    def get_config(self):
        return {"l2": self.l2}


l1, l2, l1_l2 = L1, L2, L1L2
_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": L1L2, "l1l2": L1L2}
_BY_CLASS = {c.__name__: c for c in (L1, L2, L1L2)}


def get(identifier) -> Regularizer | None:
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    if isinstance(identifier, dict) and identifier.get("class_name") in _BY_CLASS:
        return _BY_CLASS[identifier["class_name"]](**identifier.get("config", {}))
    raise ValueError(f"unknown regularizer: expected one of l1, l2, l1_l2, received {identifier!r}")


def serialize(r: Regularizer | None):
    return None if r is None else {"class_name": type(r).__name__, "config": r.get_config()}
