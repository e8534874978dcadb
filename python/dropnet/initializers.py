"""Weight initializers with Keras's names, fans and truncation rules."""

from __future__ import annotations

import math

import numpy as np

from .utils import generator

_TRUNC_STD = 0.87962566103423978  # std of a unit normal truncated at ±2


def compute_fans(shape) -> tuple[float, float]:
    """(fan_in, fan_out): dense (in, out); conv kernels (k..., in, out) times the receptive field."""
    shape = tuple(shape)
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    if len(shape) == 2:
        return float(shape[0]), float(shape[1])
    receptive = float(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    """Base class: ``init(shape, dtype)`` returns a new array."""

    def __call__(self, shape, dtype="float32") -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class _Seeded(Initializer):
    def __init__(self, seed: int | None = None):
        self.seed = seed

    def _rng(self) -> np.random.Generator:
        return generator(self.seed)

    def get_config(self) -> dict:
        return {"seed": self.seed}


_CHUNK = 1 << 20  # values drawn (in float64) per step of a fill


def _filled(shape, dtype, draw) -> np.ndarray:
    """An array of ``dtype`` filled from ``draw(count)`` (float64 values) a chunk at a time:
    the same values as one draw of the whole shape (the generator's stream is consumed in
    the same order), with a temporary of one chunk instead of a float64 copy of the array."""
    out = np.empty(tuple(int(d) for d in shape), dtype=dtype)
    flat = out.reshape(-1)
    for start in range(0, flat.size, _CHUNK):
        flat[start : start + _CHUNK] = draw(min(_CHUNK, flat.size - start))
    return out


def _truncated_normal(rng: np.random.Generator, shape, stddev: float, dtype) -> np.ndarray:
    """Normal(0, stddev) redrawn outside ±2 stddev: the values of drawing the whole shape,
    then redrawing the entries outside in index order until none is, but filled in chunks
    and keeping only the positions still to redraw."""
    out = np.empty(tuple(int(d) for d in shape), dtype=dtype)
    flat = out.reshape(-1)
    redo = []
    for start in range(0, flat.size, _CHUNK):
        part = rng.standard_normal(min(_CHUNK, flat.size - start))
        bad = np.abs(part) > 2.0
        flat[start : start + part.size] = part * stddev
        redo.append(start + np.flatnonzero(bad))
    idx = np.concatenate(redo) if redo else np.empty(0, np.int64)
    while idx.size:
        part = rng.standard_normal(idx.size)
        bad = np.abs(part) > 2.0
        flat[idx[~bad]] = part[~bad] * stddev
        idx = idx[bad]
    return out


class VarianceScaling(_Seeded):
    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        super().__init__(seed)
        if scale <= 0:
            raise ValueError(f"VarianceScaling: expected scale > 0, received {scale}")
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"VarianceScaling: unknown mode {mode!r}")
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError(f"VarianceScaling: unknown distribution {distribution!r}")
        self.scale, self.mode, self.distribution = float(scale), mode, distribution

    def __call__(self, shape, dtype="float32"):
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        var = self.scale / max(1.0, n)
        rng = self._rng()
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * var)
            return _filled(shape, dtype, lambda k: rng.uniform(-limit, limit, k))
        if self.distribution == "truncated_normal":
            return _truncated_normal(rng, shape, math.sqrt(var) / _TRUNC_STD, dtype)
        std = math.sqrt(var)
        return _filled(shape, dtype, lambda k: rng.standard_normal(k) * std)

    def get_config(self):
        return {
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            "seed": self.seed,
        }


def _preset(name, scale, mode, distribution):
    class Preset(VarianceScaling):
        def __init__(self, seed=None):
            super().__init__(scale, mode, distribution, seed)

        def get_config(self):
            return {"seed": self.seed}

    Preset.__name__ = Preset.__qualname__ = name
    return Preset


GlorotUniform = _preset("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _preset("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _preset("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _preset("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _preset("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _preset("LecunNormal", 1.0, "fan_in", "truncated_normal")


class RandomUniform(_Seeded):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = float(minval), float(maxval)

    def __call__(self, shape, dtype="float32"):
        rng = self._rng()
        return _filled(shape, dtype, lambda k: rng.uniform(self.minval, self.maxval, k))

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class RandomNormal(_Seeded):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = float(mean), float(stddev)

    def __call__(self, shape, dtype="float32"):
        rng = self._rng()
        return _filled(shape, dtype, lambda k: self.mean + self.stddev * rng.standard_normal(k))

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class TruncatedNormal(_Seeded):
    """Normal(mean, stddev) with the values beyond two standard deviations redrawn."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = float(mean), float(stddev)

    def __call__(self, shape, dtype="float32"):
        out = _truncated_normal(self._rng(), shape, self.stddev, dtype)
        if self.mean:
            out += np.asarray(self.mean, dtype=out.dtype)
        return out

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class Orthogonal(_Seeded):
    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = float(gain)

    def __call__(self, shape, dtype="float32"):
        if len(shape) < 2:
            raise ValueError(f"Orthogonal: expected a shape of rank >= 2, received {tuple(shape)}")
        rows = int(np.prod(shape[:-1]))
        cols = int(shape[-1])
        a = self._rng().standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return np.ascontiguousarray(self.gain * q[:rows, :cols].reshape(shape), dtype=dtype)

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


class Constant(Initializer):
    def __init__(self, value=0.0):
        self.value = float(value)

    def __call__(self, shape, dtype="float32"):
        return np.full(shape, self.value, dtype=dtype)

    def get_config(self):
        return {"value": self.value}


class Zeros(Constant):
    def __init__(self):
        super().__init__(0.0)

    def get_config(self):
        return {}


class Ones(Constant):
    def __init__(self):
        super().__init__(1.0)

    def get_config(self):
        return {}


_BY_NAME = {
    "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal,
    "he_uniform": HeUniform,
    "he_normal": HeNormal,
    "lecun_uniform": LecunUniform,
    "lecun_normal": LecunNormal,
    "orthogonal": Orthogonal,
    "zeros": Zeros,
    "zero": Zeros,  # Keras 2
    "ones": Ones,
    "one": Ones,  # Keras 2
    "uniform": RandomUniform,
    "random_uniform": RandomUniform,
    "normal": RandomNormal,
    "random_normal": RandomNormal,
    "truncated_normal": TruncatedNormal,
    "constant": Constant,
    "variance_scaling": VarianceScaling,
}
_BY_CLASS = {cls.__name__: cls for cls in _BY_NAME.values()}

zeros = zero = Zeros
ones = one = Ones
glorot_uniform, glorot_normal = GlorotUniform, GlorotNormal
he_uniform, he_normal = HeUniform, HeNormal
lecun_uniform, lecun_normal = LecunUniform, LecunNormal


def get(identifier) -> Initializer:
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in _BY_NAME:
            return _BY_NAME[key]()
        if identifier in _BY_CLASS:
            return _BY_CLASS[identifier]()
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if isinstance(identifier, dict) and identifier.get("class_name") in _BY_CLASS:
        return _BY_CLASS[identifier["class_name"]](**identifier.get("config", {}))
    raise ValueError(
        f"unknown initializer: expected one of {', '.join(sorted(_BY_NAME))}, received {identifier!r}"
    )


def serialize(init: Initializer) -> dict:
    return {"class_name": type(init).__name__, "config": init.get_config()}
