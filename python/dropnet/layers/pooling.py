"""Pooling layers, channels-last: MaxPooling1D/2D, AveragePooling1D/2D and the global
poolings. Max ignores padded cells; average divides by the real cells of each window;
global pooling is one window over the whole map."""

from __future__ import annotations

from .base import Layer
from .window import Window, check_data_format, check_padding, check_rank, int_tuple


class Pooling(Layer, abstract=True):
    """Pooling over a sliding window (rank and max/avg set by the subclass)."""

    rank = 2
    mode = "max"

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        cls = type(self).__name__
        self.pool_size = int_tuple(pool_size, self.rank, f"{cls}(pool_size)")
        self.strides = (
            self.pool_size if strides is None else int_tuple(strides, self.rank, f"{cls}(strides)")
        )
        self.padding = check_padding(padding, ("valid", "same"), f"{cls}(padding)")
        self.data_format = check_data_format(data_format, cls)
        self.window = Window(
            cls, self.rank, self.pool_size, self.strides, (1,) * self.rank, self.padding
        )

    def build(self, input_shape):
        self.window.output_spatial(self.name, input_shape)

    def compute_output_shape(self, input_shape):
        outs, _ = self.window.output_spatial(self.name, input_shape)
        return outs + (input_shape[-1],)

    def _core_op(self):
        return "pool", {"mode": self.mode, **self.window.core(self.name, self.input_shape)}

    def get_config(self):
        return {
            **super().get_config(),
            "pool_size": list(self.pool_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": self.data_format,
        }


class MaxPooling1D(Pooling):
    """Maximum over windows of steps, per channel: (batch, steps, channels)."""

    rank = 1
    mode = "max"


class MaxPooling2D(Pooling):
    """Maximum over windows of (height, width), per channel."""

    rank = 2
    mode = "max"


class AveragePooling1D(Pooling):
    """Mean over windows of steps, per channel."""

    rank = 1
    mode = "avg"


class AveragePooling2D(Pooling):
    """Mean over windows of (height, width), per channel."""

    rank = 2
    mode = "avg"


class GlobalPooling(Layer, abstract=True):
    """Pooling over every spatial position: (batch, ..., channels) -> (batch, channels), or
    keeping size-1 spatial axes with keepdims=True."""

    rank = 2
    mode = "max"

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_data_format(data_format, type(self).__name__)
        self.keepdims = bool(keepdims)

    def _window(self, input_shape) -> Window:
        return Window(
            type(self).__name__,
            self.rank,
            tuple(input_shape[:-1]),
            (1,) * self.rank,
            (1,) * self.rank,
            "valid",
        )

    def build(self, input_shape):
        check_rank(self.name, self.rank, input_shape)

    def compute_output_shape(self, input_shape):
        self.build(input_shape)
        return ((1,) * self.rank if self.keepdims else ()) + (input_shape[-1],)

    def _core_op(self):
        return "pool", {
            "mode": self.mode,
            **self._window(self.input_shape).core(self.name, self.input_shape),
        }

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalMaxPooling1D(GlobalPooling):
    """Maximum over all steps, per channel."""

    rank = 1
    mode = "max"


class GlobalMaxPooling2D(GlobalPooling):
    """Maximum over the whole map, per channel."""

    rank = 2
    mode = "max"


class GlobalAveragePooling1D(GlobalPooling):
    """Mean over all steps, per channel; given a mask (Embedding(mask_zero=True), Masking),
    the mean of the kept steps (NaN where none is kept, as in Keras)."""

    rank = 1
    mode = "avg"
    reads_mask = True

    def _output_mask(self, inputs):
        return None  # the mask is used up here

    def _mask_op(self):
        return "masked_average", {"keepdims": self.keepdims}


class GlobalAveragePooling2D(GlobalPooling):
    """Mean over the whole map, per channel."""

    rank = 2
    mode = "avg"


MaxPool1D, MaxPool2D = MaxPooling1D, MaxPooling2D
AvgPool1D, AvgPool2D = AveragePooling1D, AveragePooling2D
GlobalMaxPool1D, GlobalMaxPool2D = GlobalMaxPooling1D, GlobalMaxPooling2D
GlobalAvgPool1D, GlobalAvgPool2D = GlobalAveragePooling1D, GlobalAveragePooling2D
