"""Merge layers of the functional API: Add, Subtract, Multiply, Average, Maximum, Minimum
(element-wise, inputs of one shape) and Concatenate (along an axis), with Keras's
lower-case function forms (``add([a, b])``, ``concatenate([a, b], axis=-1)``)."""

from __future__ import annotations

from .base import Layer
from .core import positive_int


class Merge(Layer, abstract=True):
    """Base of the merge layers: a list of at least two tensors in, one tensor out."""

    supports_masking = True

    multiple_inputs = True
    op = ""

    def _check_count(self, shapes) -> None:
        if len(shapes) < 2:
            raise ValueError(
                f"{self.name} ({type(self).__name__}): expected a list of at least 2 tensors, "
                f"received {len(shapes)}"
            )

    def build(self, input_shape):
        self._check_count(input_shape)
        if any(tuple(s) != tuple(input_shape[0]) for s in input_shape):
            shapes = ", ".join(str(tuple(s)) for s in input_shape)
            raise ValueError(
                f"{self.name} ({type(self).__name__}): expected inputs of one shape, received "
                f"{shapes}"
            )

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def _core_op(self):
        return self.op, {}


class Add(Merge):
    """Element-wise sum of the inputs."""

    op = "add"


class Subtract(Merge):
    """``inputs[0] - inputs[1]``: exactly two inputs."""

    op = "subtract"

    def _check_count(self, shapes) -> None:
        if len(shapes) != 2:
            raise ValueError(
                f"{self.name} (Subtract): expected a list of exactly 2 tensors, received "
                f"{len(shapes)}"
            )


class Multiply(Merge):
    """Element-wise product of the inputs."""

    op = "multiply"


class Average(Merge):
    """Element-wise mean of the inputs."""

    op = "average"


class Maximum(Merge):
    """Element-wise maximum of the inputs (the gradient goes to the first input that
    attains it)."""

    op = "maximum"


class Minimum(Merge):
    """Element-wise minimum of the inputs."""

    op = "minimum"


class Concatenate(Merge):
    """Joins the inputs along ``axis`` (Keras counts the batch axis: -1 is the last axis,
    1 the first one after the batch); every other axis must match."""

    op = "concatenate"

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int) or axis == 0:
            raise ValueError(
                f"Concatenate(axis={axis!r}): expected a non-zero int (axis 0 is the batch)"
            )
        self.axis = axis

    def _sample_axis(self, rank: int) -> int:
        """The axis in per-sample terms (batch excluded)."""
        axis = self.axis + rank if self.axis < 0 else self.axis - 1
        if not 0 <= axis < rank:
            raise ValueError(
                f"{self.name} (Concatenate): axis {self.axis} is out of range for inputs of "
                f"rank {rank + 1} (batch included)"
            )
        return axis

    def build(self, input_shape):
        self._check_count(input_shape)
        ranks = {len(s) for s in input_shape}
        if len(ranks) != 1:
            raise ValueError(f"{self.name} (Concatenate): expected inputs of one rank")
        axis = self._sample_axis(ranks.pop())
        for s in input_shape:
            if any(a != b for d, (a, b) in enumerate(zip(s, input_shape[0])) if d != axis):
                shapes = ", ".join(str(tuple(x)) for x in input_shape)
                raise ValueError(
                    f"{self.name} (Concatenate): inputs must match on every axis but {self.axis}, "
                    f"received {shapes}"
                )

    def compute_output_shape(self, input_shape):
        self.build(input_shape)
        axis = self._sample_axis(len(input_shape[0]))
        out = list(input_shape[0])
        out[axis] = positive_int(sum(int(s[axis]) for s in input_shape), f"{self.name} output")
        return tuple(out)

    def _core_op(self):
        return "concatenate", {"axis": self._sample_axis(len(self.input_shape[0]))}

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def add(inputs, **kwargs):
    """Functional form of ``Add``."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """Functional form of ``Subtract``."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """Functional form of ``Multiply``."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """Functional form of ``Average``."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """Functional form of ``Maximum``."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """Functional form of ``Minimum``."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """Functional form of ``Concatenate``."""
    return Concatenate(axis=axis, **kwargs)(inputs)
