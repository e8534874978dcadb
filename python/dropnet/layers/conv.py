"""Convolution layers: Conv1D and Conv2D, channels-last, Keras's arguments and kernel layout
``kernel_size + (input channels, filters)`` (cross-correlation, as Keras computes it)."""

from __future__ import annotations

from .core import KernelLayer, positive_int
from .window import Window, check_data_format, check_padding, int_tuple


class Conv(KernelLayer, abstract=True):
    """N-D convolution over channels-last inputs (rank set by the subclass)."""

    rank = 2
    paddings: tuple[str, ...] = ("valid", "same")

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        groups=1,
        activation=None,
        **kwargs,
    ):
        super().__init__(activation=activation, **kwargs)
        cls = type(self).__name__
        self.filters = positive_int(filters, f"{cls}(filters={filters!r})")
        self.kernel_size = int_tuple(kernel_size, self.rank, f"{cls}(kernel_size)")
        self.strides = int_tuple(strides, self.rank, f"{cls}(strides)")
        self.dilation_rate = int_tuple(dilation_rate, self.rank, f"{cls}(dilation_rate)")
        self.padding = check_padding(padding, self.paddings, f"{cls}(padding)")
        self.data_format = check_data_format(data_format, cls)
        if groups != 1:
            raise ValueError(f"{cls}: only groups=1 is supported, received groups={groups!r}")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                f"{cls}: strides > 1 together with dilation_rate > 1 is not supported, received "
                f"strides={self.strides}, dilation_rate={self.dilation_rate}"
            )
        self.window = Window(
            cls, self.rank, self.kernel_size, self.strides, self.dilation_rate, self.padding
        )

    def build(self, input_shape):
        self.window.output_spatial(self.name, input_shape)
        self._add_kernel_and_bias(self.kernel_size + (input_shape[-1], self.filters), self.filters)

    def compute_output_shape(self, input_shape):
        outs, _ = self.window.output_spatial(self.name, input_shape)
        return outs + (self.filters,)

    def _core_op(self):
        return "conv", {
            **self._activation_attrs(),
            "filters": self.filters,
            **self.window.core(self.name, self.input_shape),
        }

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": list(self.dilation_rate),
        }


class Conv1D(Conv):
    """1-D convolution over (batch, steps, channels); padding may also be 'causal' (the
    output at step t sees only steps <= t)."""

    rank = 1
    paddings = ("valid", "same", "causal")


class Conv2D(Conv):
    """2-D convolution over (batch, height, width, channels)."""

    rank = 2


Convolution1D = Conv1D
Convolution2D = Conv2D
