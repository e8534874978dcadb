"""The dropout family: Dropout (with noise_shape), SpatialDropout1D/2D/3D, GaussianDropout,
AlphaDropout and GaussianNoise. All are identities at inference; training draws fresh
counter-based masks every step."""

from __future__ import annotations

import numbers

import numpy as np

from .base import Layer


def _rate(layer: str, rate, upper_inclusive=True, what="rate") -> float:
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real):
        raise TypeError(
            f"{layer}({what}={rate!r}): expected a number, received {type(rate).__name__}"
        )
    r = float(rate)
    ok = 0.0 <= r <= 1.0 if upper_inclusive else 0.0 <= r < 1.0
    if not ok or not np.isfinite(r):
        bound = "<=" if upper_inclusive else "<"
        raise ValueError(f"{layer}({what}={rate}): expected 0 <= {what} {bound} 1, received {rate}")
    return r


def _seed(layer: str, seed):
    if seed is None:
        return None
    # The core keys masks by a 64-bit seed and reads attributes as signed 64-bit ints.
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63:
        raise ValueError(f"{layer}(seed={seed!r}): expected None or an int in [0, 2**63)")
    return int(seed)


class _Stochastic(Layer):
    supports_masking = True

    def __init__(self, rate, seed=None, upper_inclusive=True, **kwargs):
        super().__init__(**kwargs)
        self.rate = _rate(type(self).__name__, rate, upper_inclusive)
        self.seed = _seed(type(self).__name__, seed)

    op = "dropout"

    def _core_op(self):
        return self.op, {"rate": self.rate, "seed": self.seed}

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class Dropout(_Stochastic):
    """Inverted dropout: keep each element with probability 1 - rate, scaled by 1/(1 - rate).

    ``noise_shape`` (batch axis included, None entries filled from the input) draws one
    keep decision per mask element and broadcasts it over the axes of size 1.
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(rate, seed, **kwargs)
        if noise_shape is not None:
            try:
                noise_shape = tuple(None if d is None else int(d) for d in noise_shape)
            except (TypeError, ValueError) as exc:
                raise TypeError(
                    f"{type(self).__name__}: expected noise_shape as a tuple of ints or None, "
                    f"received {noise_shape!r}"
                ) from exc
        self.noise_shape = noise_shape

    def _resolved_noise(self, input_shape):
        """(varies along batch, per-sample mask shape)."""
        if self.noise_shape is None:
            return True, tuple(input_shape)
        full = (None,) + tuple(input_shape)
        if len(self.noise_shape) != len(full):
            raise ValueError(
                f"{self.name}: noise_shape {self.noise_shape} must have the input's rank "
                f"{len(full)} (batch axis included); input shape is (None, {', '.join(map(str, input_shape))})"
            )
        out = []
        for i, (n, d) in enumerate(zip(self.noise_shape, full)):
            if i == 0:
                if n not in (None, 1):
                    raise ValueError(
                        f"{self.name}: noise_shape batch entry must be None or 1, received {n}"
                    )
                continue
            n = d if n is None else n
            if n not in (1, d):
                raise ValueError(
                    f"{self.name}: noise_shape entry {i} must be 1 or {d} (the input size), received {n}"
                )
            out.append(n)
        return self.noise_shape[0] != 1, tuple(out)

    def build(self, input_shape):
        self._resolved_noise(input_shape)

    def _core_op(self):
        batch, noise = self._resolved_noise(self.input_shape)
        op, attrs = super()._core_op()
        return op, {**attrs, "noise_batch": batch, "noise_shape": list(noise)}

    def get_config(self):
        return {
            **super().get_config(),
            "noise_shape": None if self.noise_shape is None else list(self.noise_shape),
        }


class _SpatialDropout(Dropout):
    rank = 1

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)
        if data_format not in (None, "channels_last", "channels_first"):
            raise ValueError(
                f"{type(self).__name__}: expected data_format 'channels_last' or 'channels_first', "
                f"received {data_format!r}"
            )
        self.data_format = data_format or "channels_last"

    def _resolved_noise(self, input_shape):
        if len(input_shape) != self.rank + 1:
            raise ValueError(
                f"{self.name}: expected inputs of rank {self.rank + 2} (batch included), "
                f"received shape (None, {', '.join(map(str, input_shape))})"
            )
        ones = (1,) * self.rank
        if self.data_format == "channels_last":
            return True, ones + (input_shape[-1],)
        return True, (input_shape[0],) + ones

    def get_config(self):
        cfg = super().get_config()
        cfg.pop("noise_shape", None)
        return {**cfg, "data_format": self.data_format}


class SpatialDropout1D(_SpatialDropout):
    """Drops whole channels of (batch, steps, channels) inputs: mask (N, 1, C)."""

    rank = 1

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(rate, data_format=kwargs.pop("data_format", None), seed=seed, **kwargs)


class SpatialDropout2D(_SpatialDropout):
    """Drops whole feature maps of (N, H, W, C) inputs: mask (N, 1, 1, C)."""

    rank = 2


class SpatialDropout3D(_SpatialDropout):
    """Drops whole feature volumes of 5-D inputs: mask (N, 1, 1, 1, C)."""

    rank = 3


class GaussianDropout(_Stochastic):
    """Multiplies by noise ~ N(1, rate / (1 - rate)); rate must be < 1."""

    op = "gaussian_dropout"

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(rate, seed, upper_inclusive=False, **kwargs)


class AlphaDropout(Dropout):
    """Dropout that keeps SELU's self-normalization: dropped units take SELU's saturation
    value, then an affine map restores mean and variance. rate must be < 1."""

    op = "alpha_dropout"

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(rate, noise_shape=noise_shape, seed=seed, **kwargs)
        _rate(type(self).__name__, rate, upper_inclusive=False)


class GaussianNoise(Layer):
    """Adds N(0, stddev²) noise during training."""

    supports_masking = True

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        if (
            isinstance(stddev, bool)
            or not isinstance(stddev, numbers.Real)
            or not np.isfinite(stddev)
            or stddev < 0
        ):
            raise ValueError(f"GaussianNoise(stddev={stddev!r}): expected a finite number >= 0")
        self.stddev = float(stddev)
        self.seed = _seed("GaussianNoise", seed)

    def _core_op(self):
        return "gaussian_noise", {"stddev": self.stddev, "seed": self.seed}

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}
