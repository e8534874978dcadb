"""Input conversion at the API boundary: one conversion to a C-contiguous float array,
with clear errors for anything that is not finite numeric data."""

from __future__ import annotations

import numbers

import numpy as np


def to_float_array(x, dtype: str, what: str, allow_empty: bool = False) -> np.ndarray:
    """``x`` as a C-contiguous array of ``dtype``; raises TypeError/ValueError naming ``what``."""
    if x is None:
        raise TypeError(f"{what}: expected an array of numbers, received None")
    if isinstance(x, (str, bytes)):
        raise TypeError(f"{what}: expected an array of numbers, received a string")
    if isinstance(x, dict):
        raise TypeError(f"{what}: expected an array of numbers, received a dict")
    if hasattr(x, "to_numpy") and not isinstance(x, np.ndarray):
        x = x.to_numpy()
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{what}: could not be read as an array of numbers ({exc})") from exc
    kind = arr.dtype.kind
    if kind in "USV":
        raise TypeError(f"{what}: expected numbers, received an array of dtype {arr.dtype}")
    if kind == "c":
        raise TypeError(f"{what}: expected real numbers, received complex values")
    if kind == "O":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{what}: expected numbers, received an object array ({exc})") from exc
    if kind not in "biufO":
        raise TypeError(f"{what}: expected numbers, received an array of dtype {arr.dtype}")
    if arr.ndim == 0:
        raise ValueError(f"{what}: expected an array with a sample axis, received a scalar")
    if arr.shape[0] == 0 and not allow_empty:
        raise ValueError(f"{what}: expected at least one sample, received shape {arr.shape}")
    out = np.ascontiguousarray(arr, dtype=dtype)
    bad = first_nonfinite(out)
    if bad is not None:
        raise ValueError(f"{what}: contains NaN or infinite values (first at index {bad})")
    return out


_CHECK_CHUNK = 1 << 18  # elements checked at a time: the check's scratch stays small


def first_nonfinite(arr: np.ndarray) -> tuple[int, ...] | None:
    """The index of the first NaN or infinity in a C-contiguous float array, or None; checked
    in chunks, so a large array costs no array-sized temporary."""
    if arr.size <= _CHECK_CHUNK and np.isfinite(arr).all():
        return None
    flat = arr.reshape(-1)
    for start in range(0, flat.size, _CHECK_CHUNK):
        part = flat[start : start + _CHECK_CHUNK]
        if not np.isfinite(part).all():
            pos = start + int(np.argmin(np.isfinite(part)))
            return tuple(int(i) for i in np.unravel_index(pos, arr.shape))
    return None


MAX_INT = 2**53  # the largest count, size or step any argument may take (beyond it the
# core's 64-bit indices and float64 arithmetic would not hold it exactly)


def check_int(value, what: str, minimum: int = 0, maximum: int = MAX_INT) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what}: expected an int, received {value!r}")
    number = int(value)
    if number < minimum:
        raise ValueError(f"{what}: expected an int >= {minimum}, received {number}")
    if number > maximum:
        raise ValueError(f"{what}: expected an int <= {maximum}, received {number}")
    return number


def check_name(name, owner: str) -> str:
    """A layer or model name: a str that is valid text (a lone surrogate cannot be printed
    by summary() or written as UTF-8)."""
    if not isinstance(name, str):
        raise TypeError(f"{owner}: expected name to be a str, received {name!r}")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"{owner}: the name {name!r} is not valid text ({exc.reason} at position {exc.start})"
        ) from None
    return name


def shape_str(shape) -> str:
    return "(None, " + ", ".join(str(d) for d in shape) + ")" if len(shape) else "(None,)"
