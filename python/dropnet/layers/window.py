"""Sliding-window arithmetic shared by convolution and pooling: argument checking, Keras's
output sizes and padding, and the window description the core runs (channels-last, 1-D
layers as height 1)."""

from __future__ import annotations

import numpy as np

from .core import MAX_SIZE


def int_tuple(value, rank: int, what: str) -> tuple[int, ...]:
    """An int or a sequence of ``rank`` ints, each >= 1, as a tuple (Keras's normalization
    of kernel_size, strides, dilation_rate and pool_size)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        out = (int(value),) * rank
    else:
        try:
            out = tuple(value)
        except TypeError:
            raise TypeError(
                f"{what}: expected an int or a tuple of {rank} ints, received {value!r}"
            ) from None
    if len(out) != rank or any(
        isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in out
    ):
        raise ValueError(f"{what}: expected an int or a tuple of {rank} ints, received {value!r}")
    if any(not 1 <= v <= MAX_SIZE for v in out):
        raise ValueError(
            f"{what}: expected positive sizes of at most {MAX_SIZE}, received {value!r}"
        )
    return tuple(int(v) for v in out)


def check_padding(padding, allowed: tuple[str, ...], what: str) -> str:
    p = padding.lower() if isinstance(padding, str) else padding
    if p not in allowed:
        raise ValueError(f"{what}: expected padding in {allowed}, received {padding!r}")
    return p


def check_data_format(data_format, what: str) -> str:
    if data_format not in (None, "channels_last"):
        raise ValueError(
            f"{what}: only data_format='channels_last' is supported, received {data_format!r}"
        )
    return "channels_last"


def output_and_pad(n: int, k: int, stride: int, dilation: int, padding: str) -> tuple[int, int]:
    """(output size, zero cells before the input) along one axis, as Keras computes them."""
    span = dilation * (k - 1) + 1
    if padding == "valid":
        return (n - span) // stride + 1, 0
    if padding == "causal":
        return (n - 1) // stride + 1, span - 1
    out = -(-n // stride)
    total = max((out - 1) * stride + span - n, 0)
    return out, total // 2


def check_rank(name: str, rank: int, input_shape) -> None:
    """ValueError unless a per-sample shape has ``rank`` spatial axes and a channel axis."""
    if len(input_shape) != rank + 1:
        axes = "steps, channels" if rank == 1 else "height, width, channels"
        raise ValueError(
            f"{name}: expected inputs of rank {rank + 2} (batch, {axes}), received shape "
            f"(None, {', '.join(map(str, input_shape))})"
        )


class Window:
    """The spatial part of a conv or pooling layer of rank 1 or 2."""

    def __init__(self, layer: str, rank: int, size, strides, dilation, padding):
        self.layer, self.rank = layer, rank
        self.size, self.strides, self.dilation, self.padding = size, strides, dilation, padding

    def output_spatial(self, name: str, input_shape) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(output sizes, pads before) over the spatial axes; ValueError if any size is < 1."""
        check_rank(name, self.rank, input_shape)
        outs, pads = [], []
        for n, k, s, d in zip(input_shape[:-1], self.size, self.strides, self.dilation):
            out, pad = output_and_pad(n, k, s, d, self.padding)
            if out < 1:
                dilated = f" (dilation {self.dilation})" if max(self.dilation) > 1 else ""
                raise ValueError(
                    f"{name}: a window of {self.size}{dilated} does not fit the input "
                    f"of shape (None, {', '.join(map(str, input_shape))}) with padding='{self.padding}'; "
                    f"the output size would be {out}"
                )
            outs.append(out)
            pads.append(pad)
        return tuple(outs), tuple(pads)

    def core(self, name: str, input_shape) -> dict:
        """The core's window description: every spatial pair as (height, width)."""
        outs, pads = self.output_spatial(name, input_shape)
        lead = (1,) * (2 - self.rank)
        pad0 = (0,) * (2 - self.rank)
        return {
            "in": list(lead + tuple(input_shape[:-1])) + [int(input_shape[-1])],
            "out": list(lead + outs),
            "kernel": list(lead + self.size),
            "strides": list(lead + self.strides),
            "dilation": list(lead + self.dilation),
            "pad": list(pad0 + pads),
        }
