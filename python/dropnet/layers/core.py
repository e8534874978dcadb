"""Core layers: Input, Dense, Activation, LeakyReLU, Flatten, Reshape."""

from __future__ import annotations

import numpy as np

from .. import activations, constraints, initializers, regularizers
from .base import KerasTensor, Layer, Node, check_shape

# Largest size a layer argument (units, filters, kernel or pool size, stride, dilation) may
# take: the core indexes windows with 32-bit-safe arithmetic.
MAX_SIZE = 2**31 - 1


def positive_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{what}: expected a positive int, received {value!r}")
    if not 1 <= value <= MAX_SIZE:
        raise ValueError(f"{what}: expected a positive int of at most {MAX_SIZE}, received {value}")
    return int(value)


class InputLayer(Layer):
    """The entry of a model: a per-sample shape (and dtype). ``Input(...)`` returns its
    symbolic tensor, the start of a functional model or the first entry of a Sequential."""

    def __init__(
        self,
        shape=None,
        batch_size=None,
        dtype=None,
        name=None,
        input_shape=None,
        batch_shape=None,
        **kwargs,
    ):
        shape = shape if shape is not None else input_shape
        if batch_shape is not None:  # (batch size or None, *shape)
            if shape is not None or batch_size is not None:
                raise ValueError("Input: give batch_shape, or shape and batch_size, not both")
            if not isinstance(batch_shape, (tuple, list)) or len(batch_shape) < 1:
                raise ValueError(f"Input(batch_shape): expected a tuple, received {batch_shape!r}")
            batch_size, *rest = batch_shape
            shape = tuple(rest)
        if shape is None:
            raise ValueError("Input: expected shape=(...), received None")
        if batch_size is not None:
            batch_size = positive_int(batch_size, f"Input(batch_size={batch_size!r})")
        super().__init__(name=name, dtype=dtype, input_shape=shape, batch_size=batch_size, **kwargs)
        self.shape = self._input_shape_arg
        self.batch_size = batch_size
        self.built = True
        self.input_shape = self.output_shape = self.shape
        node = Node(self, [])
        node.outputs = [KerasTensor(self.shape, self.dtype, node, name=self.name)]
        self._inbound_nodes.append(node)

    def get_config(self):
        return {**super().get_config(), "shape": list(self.shape)}


def Input(
    shape=None, batch_size=None, dtype=None, name=None, batch_shape=None, **kwargs
) -> KerasTensor:
    """Keras's ``Input(shape=...)``: the symbolic input of a functional model, or the first
    entry of a Sequential model. A batch size (``batch_size=`` or ``batch_shape=``) is what
    stateful recurrent layers run."""
    return InputLayer(
        shape=shape,
        batch_size=batch_size,
        dtype=dtype,
        name=name,
        batch_shape=batch_shape,
        **kwargs,
    ).output


class KernelLayer(Layer, abstract=True):
    """Base of layers with a kernel, an optional bias and a fused activation (Dense, Conv):
    Keras's initializer, regularizer and constraint arguments and their configuration."""

    def __init__(
        self,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    def _add_kernel_and_bias(self, kernel_shape, units: int) -> None:
        self.kernel = self.add_weight(
            "kernel",
            kernel_shape,
            self.kernel_initializer,
            self.kernel_constraint,
            self.kernel_regularizer,
        )
        self.bias = (
            self.add_weight(
                "bias", (units,), self.bias_initializer, self.bias_constraint, self.bias_regularizer
            )
            if self.use_bias
            else None
        )

    def _activation_attrs(self) -> dict:
        return {"act": self.activation, "alpha": 1.0 if self.activation == "elu" else 0.2}

    def get_config(self):
        return {
            **super().get_config(),
            "activation": self.activation,
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        }


class Dense(KernelLayer):
    """Densely-connected layer: ``y = activation(x @ kernel + bias)`` on the last axis.

    kernel has shape (input features, units), as in Keras.
    """

    supports_masking = True

    def __init__(self, units, activation=None, **kwargs):
        super().__init__(activation=activation, **kwargs)
        self.units = positive_int(units, f"Dense(units={units!r})")

    def build(self, input_shape):
        if len(input_shape) < 1:
            raise ValueError(
                f"{self.name}: expected an input with a feature axis, received shape {input_shape}"
            )
        self._add_kernel_and_bias((input_shape[-1], self.units), self.units)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def _weights_fit(self, input_shape) -> bool:
        # Any leading axes: the kernel sees the last one (a decoder's Dense on 1 step).
        assert self.input_shape is not None
        return len(input_shape) >= 1 and input_shape[-1] == self.input_shape[-1]

    def _core_op(self):
        return "dense", self._activation_attrs()

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class Activation(Layer):
    """Applies an activation function as its own layer."""

    supports_masking = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def _core_op(self):
        return "activation", {
            "act": self.activation,
            "alpha": 1.0 if self.activation == "elu" else 0.2,
        }

    def get_config(self):
        return {**super().get_config(), "activation": self.activation}


class LeakyReLU(Layer):
    """``x if x > 0 else negative_slope * x``; Keras 2's ``alpha=`` is accepted too."""

    supports_masking = True

    def __init__(self, negative_slope=0.3, alpha=None, **kwargs):
        super().__init__(**kwargs)
        slope = negative_slope if alpha is None else alpha
        if isinstance(slope, bool) or not isinstance(slope, (int, float, np.floating, np.integer)):
            raise TypeError(f"LeakyReLU: expected a number for negative_slope, received {slope!r}")
        if not np.isfinite(slope) or slope < 0:
            raise ValueError(f"LeakyReLU(negative_slope={slope}): expected a finite value >= 0")
        self.negative_slope = float(slope)

    def _core_op(self):
        return "activation", {"act": "leaky_relu", "alpha": self.negative_slope}

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class Masking(Layer):
    """Masks the steps of (batch, steps, features) inputs whose features all equal
    ``mask_value``: their values become 0, and the layers after it see the mask (the
    recurrent layers carry their state over those steps)."""

    supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(mask_value, bool) or not isinstance(mask_value, (int, float)):
            raise TypeError(
                f"Masking(mask_value): expected a number, received {type(mask_value).__name__}"
            )
        self.mask_value = float(mask_value)

    def build(self, input_shape):
        if len(input_shape) < 1:
            raise ValueError(f"{self.name}: expected (batch, steps, ...) inputs")

    def _output_mask(self, inputs):
        return (inputs[0], self.mask_value)

    def _core_op(self):
        return "masking", {"value": self.mask_value}

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}


class Flatten(Layer):
    """Flattens each sample in row-major order (Keras order over (H, W, C))."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError(
                f"Flatten: only data_format='channels_last' is supported, received {data_format!r}"
            )

    def compute_output_shape(self, input_shape):
        return (int(np.prod(input_shape, dtype=np.int64)),)

    def _core_op(self):
        return "reshape", {}


class Reshape(Layer):
    """Reshapes each sample to ``target_shape`` (one entry may be -1)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        try:
            shape = tuple(int(d) for d in target_shape)
        except TypeError as exc:
            raise TypeError(
                f"Reshape: expected a tuple of ints, received {target_shape!r}"
            ) from exc
        if sum(d == -1 for d in shape) > 1 or any(d < 1 and d != -1 for d in shape):
            raise ValueError(
                f"Reshape: expected positive sizes and at most one -1, received {shape}"
            )
        self.target_shape = shape

    def compute_output_shape(self, input_shape):
        total = int(np.prod(input_shape, dtype=np.int64))
        known = int(np.prod([d for d in self.target_shape if d != -1], dtype=np.int64))
        shape = tuple(total // known if d == -1 else d for d in self.target_shape)
        if int(np.prod(shape, dtype=np.int64)) != total:
            raise ValueError(
                f"{self.name}: cannot reshape a sample of shape {tuple(input_shape)} into {self.target_shape}"
            )
        return check_shape(shape, f"{self.name}")

    def _core_op(self):
        return "reshape", {}

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}


class RepeatVector(Layer):
    """Repeats each sample's vector ``n`` times: (batch, features) -> (batch, n, features)."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = positive_int(n, f"RepeatVector(n={n!r})")

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 1:
            raise ValueError(
                f"{self.name}: expected inputs of shape (batch, features), received "
                f"(batch, {', '.join(map(str, input_shape))})"
            )
        return (self.n, int(input_shape[0]))

    def _core_op(self):
        return "repeat", {"times": self.n}

    def get_config(self):
        return {**super().get_config(), "n": self.n}


class ActivityRegularization(Layer):
    """The identity, adding ``l1 * sum(|x|) + l2 * sum(x**2)`` of its input, divided by the
    batch size, to the loss (training and evaluation), as Keras does."""

    supports_masking = True

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        super().__init__(**kwargs)
        from ..regularizers import L1L2

        spec = L1L2(l1, l2)
        self.l1, self.l2 = spec.l1, spec.l2

    def _core_op(self):
        return "activity_regularization", {"l1": self.l1, "l2": self.l2}

    def get_config(self):
        return {**super().get_config(), "l1": self.l1, "l2": self.l2}
