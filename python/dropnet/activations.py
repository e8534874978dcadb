"""Activation names understood by layers (the math runs in the core)."""

from __future__ import annotations

ACTIVATIONS = (
    "linear",
    "relu",
    "sigmoid",
    "tanh",
    "softmax",
    "elu",
    "selu",
    "leaky_relu",
    "softplus",
)
_ALIASES = {None: "linear", "": "linear", "linear": "linear"}


def get(identifier) -> str:
    """Canonical activation name; accepts names and dropnet/keras-like callables by name."""
    if identifier in _ALIASES:
        return _ALIASES[identifier]
    name = identifier if isinstance(identifier, str) else getattr(identifier, "__name__", None)
    if isinstance(name, str) and name.lower() in ACTIVATIONS:
        return name.lower()
    raise ValueError(
        f"unknown activation: expected one of {', '.join(ACTIVATIONS)}, received {identifier!r}"
    )


def serialize(name: str) -> str:
    return name
