"""Activation names understood by layers (the math runs in the core)."""

from __future__ import annotations

from . import _core

# The core's table (its names.hpp), the one place activation names are written.
ACTIVATIONS = tuple(_core.names["activations"])
# Keras's other names for the same functions.
_ALIASES = {
    None: "linear",
    "": "linear",
    "linear": "linear",
    "swish": "silu",
    "hard_swish": "hard_silu",
}


def get(identifier) -> str:
    """Canonical activation name; accepts names and dropnet/keras-like callables by name."""
    if identifier in _ALIASES:
        return _ALIASES[identifier]
    name = identifier if isinstance(identifier, str) else getattr(identifier, "__name__", None)
    if isinstance(name, str) and name.lower() in _ALIASES:
        return _ALIASES[name.lower()]
    if isinstance(name, str) and name.lower() in ACTIVATIONS:
        return name.lower()
    raise ValueError(
        f"unknown activation: expected one of {', '.join(ACTIVATIONS)}, received {identifier!r}"
    )


def serialize(name: str) -> str:
    return name
