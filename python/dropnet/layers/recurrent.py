"""Recurrent layers: LSTM with Keras's arguments, weights (kernel, recurrent_kernel, bias
in gate order i, f, c, o) and variational dropout (Gal & Ghahramani 2016): the masks of
``dropout`` and ``recurrent_dropout`` are drawn once per sequence and reused at every step."""

from __future__ import annotations

import numpy as np

from .. import activations, constraints, initializers, regularizers
from .base import Layer
from .core import positive_int
from .dropout import _rate, _seed

# Activations the core's LSTM cell evaluates (each differentiable through its output).
LSTM_ACTIVATIONS = ("tanh", "sigmoid", "relu", "linear")


class LSTM(Layer):
    """Long short-term memory over (batch, steps, features) inputs.

    ``dropout`` masks the inputs and ``recurrent_dropout`` the recurrent state, one mask per
    sequence for all steps: with ``recurrent_dropout`` = 0 one input mask serves the four
    gates; otherwise each gate has its own input and recurrent mask (Keras's semantics).
    A ``Dropout`` layer after the LSTM instead masks its output once, not the recurrence.
    """

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias=True,
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        **kwargs,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        cls = type(self).__name__
        self.units = positive_int(units, f"{cls}(units={units!r})")
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        for what, name in (
            ("activation", self.activation),
            ("recurrent_activation", self.recurrent_activation),
        ):
            if name not in LSTM_ACTIVATIONS:
                raise ValueError(
                    f"{cls}({what}={name!r}): expected one of {', '.join(LSTM_ACTIVATIONS)}"
                )
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = _rate(cls, dropout, upper_inclusive=False, what="dropout")
        self.recurrent_dropout = _rate(
            cls, recurrent_dropout, upper_inclusive=False, what="recurrent_dropout"
        )
        self.seed = _seed(cls, seed)
        self.return_sequences = bool(return_sequences)
        self.go_backwards = bool(go_backwards)
        self.unroll = bool(
            unroll
        )  # accepted for compatibility: the core's time loop is always compiled
        if return_state:
            raise ValueError(
                f"{cls}: return_state=True returns several tensors, which a Sequential model cannot "
                "pass to its next layer; use return_sequences=True or the final output"
            )
        if stateful:
            raise ValueError(
                f"{cls}: stateful=True is not supported; every batch starts from zero states"
            )

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(
                f"{self.name}: expected inputs of rank 3 (batch, steps, features), received shape "
                f"(None, {', '.join(map(str, input_shape))})"
            )
        u = self.units
        self.kernel = self.add_weight(
            "kernel",
            (input_shape[-1], 4 * u),
            self.kernel_initializer,
            self.kernel_constraint,
            self.kernel_regularizer,
        )
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel",
            (u, 4 * u),
            self.recurrent_initializer,
            self.recurrent_constraint,
            self.recurrent_regularizer,
        )
        if self.use_bias:
            init = self.bias_initializer
            if self.unit_forget_bias:

                def init(shape, dtype, base=self.bias_initializer):
                    return np.concatenate(
                        [base((u,), dtype), np.ones((u,), dtype), base((2 * u,), dtype)]
                    )

            self.bias = self.add_weight(
                "bias", (4 * u,), init, self.bias_constraint, self.bias_regularizer
            )
        else:
            self.bias = None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units) if self.return_sequences else (self.units,)

    def _core_op(self):
        return "lstm", {
            "units": self.units,
            "act": self.activation,
            "recurrent_act": self.recurrent_activation,
            "return_sequences": self.return_sequences,
            "go_backwards": self.go_backwards,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": self.activation,
            "recurrent_activation": self.recurrent_activation,
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "unit_forget_bias": self.unit_forget_bias,
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
            "return_sequences": self.return_sequences,
            "go_backwards": self.go_backwards,
            "unroll": self.unroll,
        }
