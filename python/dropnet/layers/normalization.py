"""BatchNormalization and LayerNormalization, with Keras 3's arguments and weight order."""

from __future__ import annotations

import math
import numbers

from .. import constraints, initializers, regularizers
from .base import Layer
from .dropout import _rate


def _epsilon(value, owner: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}(epsilon): expected a number, received {type(value).__name__}")
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{owner}(epsilon): expected a finite value > 0, received {value!r}")
    return v


class _Normalization(Layer, abstract=True):
    """gamma and beta with their initializers, regularizers and constraints."""

    def __init__(
        self,
        epsilon,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        cls = type(self).__name__
        self.epsilon = _epsilon(epsilon, cls)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)

    def _add_gamma_beta(self, shape) -> None:
        self.gamma = (
            self.add_weight(
                "gamma",
                shape,
                self.gamma_initializer,
                self.gamma_constraint,
                self.gamma_regularizer,
            )
            if self.scale
            else None
        )
        self.beta = (
            self.add_weight(
                "beta", shape, self.beta_initializer, self.beta_constraint, self.beta_regularizer
            )
            if self.center
            else None
        )

    def _axis_index(self, axis: int, rank: int) -> int:
        """A Keras axis (counting the batch axis) as an index into the per-sample shape."""
        a = axis + rank + 1 if axis < 0 else axis
        if not 1 <= a <= rank:
            raise ValueError(
                f"{self.name}: axis {axis} is out of range for inputs of rank {rank + 1} "
                "(the batch axis cannot be normalized over as a feature axis)"
            )
        return a - 1

    def get_config(self):
        return {
            **super().get_config(),
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": constraints.serialize(self.beta_constraint),
            "gamma_constraint": constraints.serialize(self.gamma_constraint),
        }


class BatchNormalization(_Normalization):
    """Normalizes each channel (``axis``) with the batch's mean and variance while training,
    and with moving averages of them otherwise. Weights, in Keras's order: gamma (if
    ``scale``), beta (if ``center``), moving_mean, moving_variance (not trained: updated as
    ``moving = moving * momentum + batch * (1 - momentum)`` by each training step, with the
    batch's biased variance, as in Keras).

    A frozen layer (``trainable = False``) normalizes with its moving statistics during
    training too (Keras 3). Monte-Carlo dropout (``predict(training=True)``, ``predict_mc``)
    draws dropout masks but keeps normalization in inference mode."""

    def __init__(
        self,
        axis=-1,
        momentum=0.99,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        moving_mean_initializer="zeros",
        moving_variance_initializer="ones",
        synchronized=False,
        **kwargs,
    ):
        # (beta/gamma regularizers and constraints reach _Normalization by keyword)
        super().__init__(epsilon, center, scale, beta_initializer, gamma_initializer, **kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError(f"BatchNormalization(axis): expected an int, received {axis!r}")
        self.axis = axis
        self.momentum = _rate("BatchNormalization", momentum, what="momentum")  # in [0, 1]
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.synchronized = bool(synchronized)  # one process: nothing to synchronize

    def _output_mask(self, inputs):
        if inputs[0]._mask is not None:
            raise ValueError(
                f"{self.name}: BatchNormalization after a mask (Embedding(mask_zero=True) or "
                "Masking) would need statistics of the kept steps only, which dropnet does not "
                "compute; normalize after the recurrent layer, or use LayerNormalization"
            )

    def build(self, input_shape):
        a = self._axis_index(self.axis, len(input_shape))
        shape = (input_shape[a],)
        self._add_gamma_beta(shape)
        self.moving_mean = self.add_weight("moving_mean", shape, self.moving_mean_initializer)
        self.moving_variance = self.add_weight(
            "moving_variance", shape, self.moving_variance_initializer
        )
        self.moving_mean.trainable = self.moving_variance.trainable = False

    def _core_op(self):
        assert self.input_shape is not None
        return "batch_norm", {
            "axis": self._axis_index(self.axis, len(self.input_shape)),
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "frozen": not self.trainable,
        }

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
            "synchronized": self.synchronized,
        }


class LayerNormalization(_Normalization):
    """Normalizes each sample over ``axis`` (the last axes: -1 by default, or a list of
    trailing axes), with gamma and beta of those axes' shape; the same in training and
    inference."""

    supports_masking = True

    def __init__(
        self,
        axis=-1,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        rms_scaling=False,
        **kwargs,
    ):
        super().__init__(epsilon, center, scale, beta_initializer, gamma_initializer, **kwargs)
        axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
        if not axes or any(isinstance(a, bool) or not isinstance(a, int) for a in axes):
            raise TypeError(
                f"LayerNormalization(axis): expected an int or a list of ints, received {axis!r}"
            )
        if rms_scaling:
            raise ValueError("LayerNormalization: rms_scaling=True is not supported")
        self.axis = axis if isinstance(axis, int) else list(axes)
        self._axes = axes

    def _normalized(self, rank: int) -> list[int]:
        axes = sorted({self._axis_index(a, rank) for a in self._axes})
        if axes != list(range(rank - len(axes), rank)):
            raise ValueError(
                f"{self.name}: axis {self.axis!r} must name the last axes of the input "
                "(normalizing over other axes is not supported)"
            )
        return axes

    def build(self, input_shape):
        axes = self._normalized(len(input_shape))
        self._add_gamma_beta(tuple(input_shape[a] for a in axes))

    def _core_op(self):
        assert self.input_shape is not None
        size = 1
        for a in self._normalized(len(self.input_shape)):
            size *= self.input_shape[a]
        return "layer_norm", {
            "size": size,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
        }

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "rms_scaling": False}
