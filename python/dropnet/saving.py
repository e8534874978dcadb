"""The model file: a length-prefixed JSON header followed by raw little-endian arrays.

    b"DROPNET\\x00" | u64 header length | header (UTF-8 JSON) | tensor bytes

The header names the format version, the architecture (a Sequential's layers, or a
functional model's layers and the calls between them, from a fixed set of layer classes),
the compile settings, and every tensor's name, dtype, shape and byte range. Loading checks
every field before using it; nothing in a file is ever executed. The models are rebuilt
through their public constructors (docs/model-format.md).

Reading is bounded by the file: its first 16 bytes are checked before the header is read,
the whole header (the tensor table against the file's size) before the model is built, and
the model is built and compiled before any tensor byte is read; each tensor is then read
once, straight into its array.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import stat
import struct
import sys
import tempfile
import warnings
from typing import NamedTuple

import numpy as np

from ._data import _CHECK_CHUNK, MAX_INT, first_nonfinite

MAGIC = b"DROPNET\x00"
FORMAT_VERSION = 1
MAX_HEADER = 64 * 1024 * 1024
# The most layers (and, in a functional model, layer calls, inputs or outputs) a model file
# may list: checked before any layer is made. It is the most layer calls the core runs (their
# random streams are numbered in 15 bits), so every model that can be made can be saved, and
# models are refused at that count when made; deep real models have hundreds (Keras's
# ResNet152: 517 layers). What a crafted header can make loading build stays small: 32,767
# layers build in about a second.
MAX_LAYERS = 32_767
_DTYPES = {"float32": "<f4", "float64": "<f8"}
_CHUNK = 16 * 1024 * 1024  # bytes read at a time from a file object of unknown length
_WEIGHT_NAME = re.compile(r"weights/(0|[1-9][0-9]{0,8})")
_SLOT_NAME = re.compile(r"optimizer/(0|[1-9][0-9]{0,8})/(0|[1-9][0-9]{0,8})")


BAD_FILE = "not a valid dropnet model file"


def bad_file(msg: str) -> ValueError:
    return ValueError(f"{BAD_FILE}: {msg}")


# ---------------------------------------------------------------- writing
def _metric_names(ms) -> list:
    """Metric names as given; objects as {class_name, config}; dropnet's loss functions by
    name; Python functions of the user's as {function: name} (load_model's custom_objects
    gives them back)."""
    from . import metrics

    return [
        m
        if isinstance(m, str)
        else {"class_name": type(m).__name__, "config": m.get_config()}
        if isinstance(m, metrics.Metric)
        else {"function": metrics.function_name(m)}
        if metrics.is_python_function(m)
        else m.__name__
        for m in ms
    ]


def _compile_config(model):
    if not model.compiled:
        return None
    from . import optimizers

    model._heads_ready()
    config = {
        "optimizer": optimizers.serialize(model.optimizer),
        "iterations": int(model.optimizer.iterations),
    }
    if len(model._heads) <= 1 and model._n_outputs() <= 1:
        head = model._heads[0] if model._heads else None
        config.update(
            loss=None if head is None else head.loss,
            from_logits=bool(head and head.from_logits),
            metrics=[] if head is None else _metric_names(head.metrics),
        )
        if head is not None and head.params:
            config["loss_params"] = head.params
    else:
        config["losses"] = [
            {
                "output": h.output,
                "loss": h.loss,
                "from_logits": bool(h.from_logits),
                "weight": h.weight,
                "metrics": _metric_names(h.metrics),
                **({"loss_params": h.params} if h.params else {}),
            }
            for h in model._heads
        ]
    return config


def save_model(model, target, overwrite=True, weights_only=False, include_optimizer=True) -> None:
    config = model.get_config()
    size = architecture_size(config)
    if size > MAX_LAYERS:
        raise ValueError(
            f"{model.name}: a model file holds at most {MAX_LAYERS} layers or layer calls, "
            f"the model has {size}"
        )
    tensors = []
    for i, w in enumerate(model.weights):
        tensors.append((f"weights/{i}", w.value))
    if not weights_only and include_optimizer and model.compiled and model._slots:
        for i, w in enumerate(model.weights):
            for j, slot in enumerate(model._slots.get(w, [])):
                tensors.append((f"optimizer/{i}/{j}", slot))
    entries, offset = [], 0
    for name, arr in tensors:
        dt = np.dtype(arr.dtype).name
        nbytes = int(arr.nbytes)
        entries.append(
            {
                "name": name,
                "dtype": dt,
                "shape": list(arr.shape),
                "offset": offset,
                "nbytes": nbytes,
            }
        )
        offset += nbytes
    header = {
        "format": "dropnet",
        "format_version": FORMAT_VERSION,
        "weights_only": bool(weights_only),
        "model": {"class_name": model.file_class, "config": config},
        "compile": None if weights_only else _compile_config(model),
        "tensors": entries,
    }
    raw = json.dumps(header, allow_nan=False).encode("utf-8")
    if len(raw) > MAX_HEADER:
        raise ValueError(
            f"{model.name}: the model's description takes {len(raw)} bytes, more than a "
            f"model file holds ({MAX_HEADER})"
        )
    blob = [MAGIC, struct.pack("<Q", len(raw)), raw]
    blob += [
        np.ascontiguousarray(arr, dtype=_DTYPES[np.dtype(arr.dtype).name]).tobytes()
        for _, arr in tensors
    ]
    data = b"".join(blob)
    if isinstance(target, (str, os.PathLike)):
        path = os.fspath(target)
        if not overwrite and os.path.exists(path):
            raise FileExistsError(f"{path} exists and overwrite=False")
        atomic_write(path, data)
    else:
        target.write(data)


def _umask() -> int:
    try:  # Linux reports it without changing it (os.umask would, for a moment, for all threads)
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def atomic_write(path: str, data: bytes) -> None:
    """Writes ``data`` to ``path`` so that a reader sees the old file or the new one, never a
    part: a temporary file of its own beside the target (a symlink's target: the link stays
    a link), written and flushed to disk, then renamed over it. The target's permission bits
    are kept (a new file gets the usual ones); the temporary file is removed on any failure,
    so a full disk leaves nothing behind. Savers writing one path at once each replace it
    whole."""
    real = os.path.realpath(path)
    folder = os.path.dirname(real) or "."
    try:
        mode = stat.S_IMODE(os.stat(real).st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(real) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, real)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # the rename itself reaches the disk
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


# ---------------------------------------------------------------- reading
#
# A file is read front to back, once, and checked before anything it declares is used:
# 16 bytes (signature, header length), the header (every field and the tensor table, the
# byte ranges against the file's size), then the model is built and compiled from the
# header, and only then are the tensor bytes read, each straight into its array.


class _Entry(NamedTuple):
    """One tensor of the header's table, checked: where it is read to and how much."""

    name: str
    dtype: np.dtype  # little-endian, as stored
    shape: tuple[int, ...]
    nbytes: int

    @property
    def size(self) -> int:
        return self.nbytes // self.dtype.itemsize


class _Reader:
    """The bytes of a model file, read once from the start: a path's file (opened here,
    closed on exit), a binary file object, or ``bytes``. ``size`` is how many bytes the
    source holds when that is known (a file's size, the bytes' length, a seekable file
    object's end); else None (a pipe or a socket), and then nothing is allocated beyond
    the bytes that have arrived."""

    def __init__(self, source):
        self._file = None
        self._owned = False
        self._view: memoryview | None = None
        self.pos = 0
        self.size: int | None = None
        if isinstance(source, (str, os.PathLike)):
            self._file = _open_path(os.fspath(source))
            self._owned = True
            self.size = os.fstat(self._file.fileno()).st_size
        elif isinstance(source, (bytes, bytearray)):
            self._view = memoryview(source)
            self.size = len(source)
        elif isinstance(source, io.IOBase) or hasattr(source, "read"):
            self._file = source
            self.size = _remaining(source)
        else:
            raise TypeError(f"expected a path or a binary file, received {type(source).__name__}")

    def close(self) -> None:
        if self._owned and self._file is not None:
            self._file.close()

    def left(self) -> int | None:
        return None if self.size is None else max(self.size - self.pos, 0)

    def _chunk(self, n: int) -> bytes:
        assert self._file is not None
        data = self._file.read(n)
        if data is None:  # a non-blocking stream with nothing ready: treated as its end
            return b""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(
                f"expected a binary file (opened with 'rb'), its read() returned "
                f"{type(data).__name__}"
            )
        if len(data) > n:
            raise ValueError(f"the file object's read({n}) returned {len(data)} bytes")
        return bytes(data)

    def read(self, n: int) -> bytes:
        """The next ``n`` bytes, or fewer where the source ends."""
        if self._view is not None:
            out = bytes(self._view[self.pos : self.pos + n])
        else:
            parts, got = [], 0
            while got < n:
                part = self._chunk(min(n - got, _CHUNK))
                if not part:
                    break
                parts.append(part)
                got += len(part)
            out = b"".join(parts)
        self.pos += len(out)
        return out

    def readinto(self, out: memoryview) -> int:
        """Fills ``out`` from the source; the bytes filled (fewer where the source ends)."""
        n = len(out)
        if self._view is not None:
            k = max(0, min(n, len(self._view) - self.pos))
            out[:k] = self._view[self.pos : self.pos + k]
        else:
            k = 0
            readinto = getattr(self._file, "readinto", None)
            while k < n:
                if readinto is not None:
                    got = readinto(out[k:]) or 0
                else:
                    part = self._chunk(min(n - k, _CHUNK))
                    got = len(part)
                    out[k : k + got] = part
                if got <= 0:
                    break
                k += got
        self.pos += k
        return k

    def skip(self, n: int) -> bool:
        """Passes over ``n`` bytes; False if the source ends first."""
        if self._view is not None:
            k = max(0, min(n, len(self._view) - self.pos))
            self.pos += k
            return k == n
        if self.size is None:
            while n > 0:
                got = len(self.read(min(n, _CHUNK)))
                if got == 0:
                    return False
                n -= got
            return True
        assert self._file is not None
        self._file.seek(n, os.SEEK_CUR)  # within the size checked against the tensor table
        self.pos += n
        return True

    def at_end(self) -> bool:
        return not self.read(1)


def _open_path(path: str):
    """The file at ``path``, opened for reading once it is known to be a regular file (a
    pipe is never opened: that would wait for a writer)."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise FileNotFoundError(f"no model file at {path}") from None
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(f"{path} is a directory, not a model file")
    not_regular = f"{path} is not a regular file (a pipe or a device?), not a model file"
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(not_regular)
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except (FileNotFoundError, NotADirectoryError):
        raise FileNotFoundError(f"no model file at {path}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced between the two looks
            raise ValueError(not_regular)
        return os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise


def _remaining(f) -> int | None:
    """The bytes a seekable file object holds from its position, or None."""
    try:
        if not f.seekable():
            return None
        here = f.tell()
        end = f.seek(0, os.SEEK_END)
        f.seek(here)
    except (AttributeError, OSError, ValueError, TypeError):
        return None
    if not isinstance(here, int) or not isinstance(end, int):
        return None
    return max(end - here, 0)


def _read_header(reader: _Reader) -> tuple[dict, list[_Entry]]:
    """The header and its tensor table, checked, having read only the header's bytes."""
    prefix = reader.read(16)
    if len(prefix) < 16 or prefix[:8] != MAGIC:
        raise bad_file("missing the dropnet signature")
    (hlen,) = struct.unpack("<Q", prefix[8:16])
    left = reader.left()
    if hlen > MAX_HEADER or (left is not None and hlen > left):
        raise bad_file(f"header length {hlen} exceeds the file")
    raw = reader.read(hlen)
    if len(raw) < hlen:
        raise bad_file(f"header length {hlen} exceeds the file")
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise bad_file(f"header is not valid JSON ({exc})") from None
    del raw
    if not isinstance(header, dict) or header.get("format") != "dropnet":
        raise bad_file("header does not describe a dropnet model")
    if header.get("format_version") != FORMAT_VERSION:
        raise bad_file(
            f"unsupported format_version {header.get('format_version')!r} (this dropnet reads {FORMAT_VERSION})"
        )
    if not isinstance(header.get("weights_only", False), bool):
        raise bad_file(f"weights_only must be true or false, found {header['weights_only']!r}")
    return header, _tensor_table(header.get("tensors"), reader.left())


def _tensor_table(entries, available: int | None) -> list[_Entry]:
    """The tensor entries, each checked, their byte ranges following each other from 0 and
    (when the file's size is known) filling the rest of the file exactly."""
    if not isinstance(entries, list):
        raise bad_file("tensors must be a list")
    table: list[_Entry] = []
    names: set[str] = set()
    end = 0
    for e in entries:
        if not isinstance(e, dict):
            raise bad_file("tensor entry must be an object")
        name, dt, shape, off, nbytes = (
            e.get(k) for k in ("name", "dtype", "shape", "offset", "nbytes")
        )
        if not isinstance(name, str) or name in names:
            raise bad_file(f"bad or repeated tensor name {name!r}")
        names.add(name)
        if not isinstance(dt, str) or dt not in _DTYPES:
            raise bad_file(f"tensor {name}: unsupported dtype {dt!r}")
        if (
            not isinstance(shape, list)
            or len(shape) > 8
            or not all(
                isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**40 for d in shape
            )
        ):
            raise bad_file(f"tensor {name}: bad shape {shape!r}")
        count = 1
        for d in shape:
            count *= d
        dtype = np.dtype(_DTYPES[dt])
        if (
            not (isinstance(off, int) and isinstance(nbytes, int))
            or isinstance(off, bool)
            or isinstance(nbytes, bool)
        ):
            raise bad_file(f"tensor {name}: offset and nbytes must be ints")
        if (
            nbytes != count * dtype.itemsize
            or off != end
            or (available is not None and off + nbytes > available)
        ):
            raise bad_file(
                f"tensor {name}: byte range [{off}, {off + nbytes}) is inconsistent with the file"
            )
        end = off + nbytes
        table.append(_Entry(name, dtype, tuple(shape), nbytes))
    if available is not None and end != available:
        raise bad_file(f"{available - end} trailing bytes after the last tensor")
    return table


def _read_tensor(reader: _Reader, e: _Entry, out: np.ndarray | None = None) -> np.ndarray:
    """The next tensor of the file, read into ``out`` (an array of its dtype and shape) or
    into a new array of its own."""
    if out is None:
        if reader.size is None and e.nbytes > _CHUNK:
            return _read_growing(reader, e)
        out = np.empty(e.shape, e.dtype)
    if reader.readinto(out.reshape(-1).view(np.uint8).data) < e.nbytes:
        raise bad_file(f"the file ends inside tensor {e.name}")
    return _native(out)


def _read_growing(reader: _Reader, e: _Entry) -> np.ndarray:
    """A tensor from a source of unknown length, in pieces: memory grows with the bytes
    that arrive, never to a size the header merely claims."""
    buf = bytearray()
    while len(buf) < e.nbytes:
        part = reader.read(min(_CHUNK, e.nbytes - len(buf)))
        if not part:
            raise bad_file(f"the file ends inside tensor {e.name}")
        buf += part
    arr = np.frombuffer(buf, dtype=e.dtype).reshape(e.shape)
    return _native(arr if arr.flags.aligned else arr.copy())


def _native(arr: np.ndarray) -> np.ndarray:
    return arr if arr.dtype.isnative else arr.astype(arr.dtype.newbyteorder("="))


def _skip_or_fail(reader: _Reader, e: _Entry) -> None:
    if not reader.skip(e.nbytes):
        raise bad_file(f"the file ends inside tensor {e.name}")


def _check_end(reader: _Reader) -> None:
    if not reader.at_end():
        raise bad_file("trailing bytes after the last tensor")


def _first_negative(arr: np.ndarray) -> tuple[int, ...] | None:
    """The index of the first finite negative value (a NaN or -inf is not one), or None;
    checked in chunks, so a large array costs no array-sized temporary."""
    flat = arr.reshape(-1)
    for start in range(0, flat.size, _CHECK_CHUNK):
        part = flat[start : start + _CHECK_CHUNK]
        neg = (part < 0) & (part > -np.inf)
        if neg.any():
            pos = start + int(np.argmax(neg))
            return tuple(int(i) for i in np.unravel_index(pos, arr.shape))
    return None


def _cast_into(dest: np.ndarray, arr: np.ndarray, what: str) -> None:
    """Copies a tensor of another float type into ``dest``; a finite value beyond dest's
    range (it would become infinite) is refused."""
    with np.errstate(over="ignore"):
        cast = arr.astype(dest.dtype)
    if first_nonfinite(cast) is not None:
        grown = np.isfinite(arr) & ~np.isfinite(cast)
        if grown.any():
            raise bad_file(
                f"{what} holds {float(np.max(np.abs(arr[grown]))):.6g}, beyond "
                f"{dest.dtype.name}'s range (largest magnitude "
                f"{float(np.finfo(dest.dtype).max):.6g})"
            )
    np.copyto(dest, cast)


def _diverged_warning(names: list[str]) -> None:
    """One warning per load, naming the tensors that hold NaN or infinities."""
    if not names:
        return
    shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
    verb = "holds" if len(names) == 1 else "hold"
    warnings.warn(
        f"{shown} {verb} NaN or infinite values: the model was saved after training diverged",
        RuntimeWarning,
        stacklevel=4,
    )


def layer_from_entry(spec):
    """One layer from its ``{"class_name", "config"}`` entry, by dropnet's own classes only."""
    from .layers import LAYER_CLASSES

    if not isinstance(spec, dict):
        raise bad_file("layer entry must be an object")
    class_name = spec.get("class_name")
    cls = LAYER_CLASSES.get(class_name) if isinstance(class_name, str) else None
    if cls is None:
        raise bad_file(f"unknown layer class {class_name!r}")
    cfg = spec.get("config")
    if not isinstance(cfg, dict) or not all(isinstance(k, str) for k in cfg):
        raise bad_file(f"bad config for layer {spec.get('class_name')}")
    try:
        return cls.from_config(dict(cfg))
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        raise bad_file(f"layer {spec.get('class_name')}: {exc}") from None


def tensor_ref(ref, what: str) -> tuple[int, int, int]:
    """A functional config's [layer index, call index] or [layer index, call index, output
    index] reference to a tensor, checked; (layer, call, output)."""
    if (
        not isinstance(ref, list)
        or len(ref) not in (2, 3)
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in ref)
    ):
        raise bad_file(
            f"{what}: expected [layer index, call index(, output index)], received {ref!r}"
        )
    return ref[0], ref[1], ref[2] if len(ref) == 3 else 0


def architecture_size(config) -> int:
    """The most layers, layer calls, inputs or outputs a model config lists."""
    if not isinstance(config, dict):
        return 0
    lists = [config.get(k) for k in ("layers", "nodes", "inputs", "outputs")]
    return max((len(v) for v in lists if isinstance(v, list)), default=0)


def _build(cls, config, budget: int | None):
    """The model a config describes, its graph made (a Sequential calls its layers on a
    symbolic input here rather than at the first predict)."""
    n = architecture_size(config)
    if n > MAX_LAYERS:
        raise bad_file(
            f"the model lists {n} layers (or layer calls, inputs or outputs); a model file "
            f"holds at most {MAX_LAYERS}"
        )
    try:
        model = cls.from_config(config, max_weight_elements=budget)
        if model.built:
            _ = model.inputs
    except RecursionError:
        raise bad_file(
            "the architecture's chain of layer calls is too deep to build within Python's "
            f"recursion limit ({sys.getrecursionlimit()})"
        ) from None
    return model


def model_from_config(cls, config):
    """The model of a ``{"class_name", "config"}`` architecture alone (to_json), built as a
    model file's is: malformed configurations raise ValueError."""
    return _build(cls, config, None)


def _roles(model, table: list[_Entry], use_slots: bool) -> list[tuple[str, int, int] | None]:
    """What each tensor of the file is, checked against the model before any tensor byte
    is read: ("weight", i, 0), ("slot", i, j), or None (optimizer state left unread)."""
    weights = model.weights
    roles: list[tuple[str, int, int] | None] = []
    seen: set[int] = set()
    slots: dict[int, set[int]] = {}
    for e in table:
        m = _WEIGHT_NAME.fullmatch(e.name)
        if m:
            i = int(m[1])
            if i >= len(weights):
                raise bad_file("the file holds more weight tensors than the architecture has")
            if e.shape != weights[i].value.shape:
                raise bad_file(
                    f"tensor weights/{i} has shape {e.shape}, the layer expects "
                    f"{weights[i].value.shape}"
                )
            seen.add(i)
            roles.append(("weight", i, 0))
            continue
        m = _SLOT_NAME.fullmatch(e.name)
        if m:
            i, j = int(m[1]), int(m[2])
            if i >= len(weights):
                raise bad_file(f"{e.name}: the model has {len(weights)} weights")
            if e.shape != weights[i].value.shape:
                raise bad_file(
                    f"{e.name} has the wrong shape {e.shape} (its weight's is "
                    f"{weights[i].value.shape})"
                )
            slots.setdefault(i, set()).add(j)
            roles.append(("slot", i, j) if use_slots else None)
            continue
        raise bad_file(f"unknown tensor {e.name!r} (expected weights/i or optimizer/i/j)")
    for i in range(len(weights)):
        if i not in seen:
            raise bad_file(f"missing tensor weights/{i}")
    if use_slots:
        expected = model.optimizer.n_slots
        for i, js in sorted(slots.items()):
            if js != set(range(expected)):
                raise bad_file(
                    f"optimizer state for weight {i}: expected {expected} slots, found {len(js)}"
                )
    return roles


def load_model(source, classes: dict, compile=True, custom_objects=None):
    """The model a file describes. ``classes`` maps the file's model class names
    ("Sequential", "Functional") to the classes whose ``from_config`` rebuilds them;
    ``custom_objects`` the names of Python metric functions to the functions."""
    with contextlib.closing(_Reader(source)) as reader:
        header, table = _read_header(reader)
        model_info = header.get("model")
        if not isinstance(model_info, dict):
            raise bad_file("the header does not describe a model")
        class_name = model_info.get("class_name")
        if not isinstance(class_name, str) or class_name not in classes:
            raise bad_file(f"the model must be one of {', '.join(classes)}, found {class_name!r}")
        comp = header.get("compile")
        if comp is not None and not isinstance(comp, dict):
            raise bad_file(f"compile settings must be an object or null, found {comp!r}")
        if comp is None and any(_SLOT_NAME.fullmatch(e.name) for e in table):
            raise bad_file("the file holds optimizer state but no compile settings")
        # A source of unknown length is read first: what the header declares is then known
        # to be there before the model is built to hold it.
        early = None
        if reader.size is None:
            early = [_read_tensor(reader, e) for e in table]
            _check_end(reader)
        budget = sum(e.size for e in table if e.name.startswith("weights/"))
        model = _build(classes[class_name], model_info.get("config"), budget)
        if (model.weights or table) and not model.built:
            raise bad_file("weights given for a model without an input shape")
        use_slots = bool(compile) and comp is not None
        if use_slots:
            assert comp is not None
            _compile_from(model, comp, custom_objects or {})
        roles = _roles(model, table, use_slots)
        weights = model.weights
        arrays: list[np.ndarray | None] = []
        for k, (e, role) in enumerate(zip(table, roles)):
            if early is not None:
                arrays.append(early[k] if role is not None else None)
            elif role is None:
                _skip_or_fail(reader, e)
                arrays.append(None)
            else:  # a weight of the same type is read in place, the rest into arrays
                w = weights[role[1]]
                same = role[0] == "weight" and e.dtype == w.value.dtype
                arrays.append(_read_tensor(reader, e, w.value if same else None))
        if early is None:
            _check_end(reader)
        del early
    diverged = []
    kinds = model.optimizer._slot_kinds() if use_slots else []
    slots: dict[int, list] = {}
    for e, role, arr in zip(table, roles, arrays):
        if role is None or arr is None:
            continue
        kind, i, j = role
        w = weights[i]
        if first_nonfinite(arr) is not None:
            diverged.append(f"{e.name} ({w.name})" if kind == "weight" else e.name)
        if kind == "weight":
            if arr.dtype == w.value.dtype:
                if arr is not w.value:
                    np.copyto(w.value, arr)
            else:
                _cast_into(w.value, arr, f"tensor {e.name} ({w.name})")
            continue
        what, never_negative = kinds[j]
        if never_negative:
            at = _first_negative(arr)
            if at is not None:
                raise bad_file(
                    f"tensor {e.name}, the {type(model.optimizer).__name__} {what} of "
                    f"{w.name}, holds {arr[at]} at {at}; it is never negative"
                )
        if arr.dtype != w.value.dtype:
            slot = np.empty_like(w.value)
            _cast_into(slot, arr, f"tensor {e.name}")
            arr = slot
        slots.setdefault(i, [None] * len(kinds))[j] = arr
    for i, values in slots.items():
        model._slots[weights[i]] = values
    _diverged_warning(diverged)
    return model


_COMPILE_KEYS = {
    "optimizer",
    "iterations",
    "loss",
    "from_logits",
    "loss_params",
    "metrics",
    "losses",
}
_HEAD_KEYS = {"output", "loss", "from_logits", "weight", "metrics"}  # and optionally loss_params


def _loss_from(name, from_logits, params, where: str):
    """The loss to compile with for a stored name, from_logits flag and parameters: the
    name, or the loss object with them (so a later recompile of the heads keeps them)."""
    from . import losses

    if not isinstance(name, str):
        raise TypeError(f"{where}loss must be a loss name, found {name!r}")
    if not isinstance(from_logits, bool):
        raise TypeError(f"{where}from_logits must be true or false, found {from_logits!r}")
    if not isinstance(params, dict):
        raise TypeError(f"{where}loss_params must be an object, found {params!r}")
    canonical, _, _ = losses.spec(name)
    if not from_logits and not params:
        return name
    cls: type = losses._CLASSES[canonical]
    if not issubclass(cls, losses._FromLogits):
        if from_logits:
            raise ValueError(f"{where}from_logits is true for {canonical}, which takes no logits")
        return cls(**params)
    return cls(from_logits=from_logits, **params)


class MissingFunction(ValueError):
    """A model file names a Python function that load_model was not given."""


def _metric_list(metrics, where: str, custom_objects: dict) -> list:
    """The stored metrics: names, objects rebuilt from {class_name, config}, and Python
    functions from custom_objects by {function: name}."""
    from . import metrics as metrics_module

    classes = {cls.__name__: cls for cls in metrics_module._CLASSES}
    if not isinstance(metrics, list):
        raise TypeError(f"{where}metrics must be a list, found {metrics!r}")
    out = []
    for m in metrics:
        if isinstance(m, str):
            out.append(m)
        elif isinstance(m, dict) and set(m) == {"function"} and isinstance(m["function"], str):
            fn = custom_objects.get(m["function"])
            if not callable(fn):
                raise MissingFunction(
                    f"the model was compiled with the Python metric function {m['function']!r}: "
                    f"pass load_model(..., custom_objects={{{m['function']!r}: the function}}), "
                    "or load_model(..., compile=False) and compile it again"
                )
            out.append(fn)
        elif (
            isinstance(m, dict)
            and set(m) == {"class_name", "config"}
            and m["class_name"] in classes
            and isinstance(m["config"], dict)
        ):
            out.append(classes[m["class_name"]].from_config(m["config"]))
        else:
            raise ValueError(
                f"{where}metrics must be names, {{function: name}} or {{class_name, config}} of one of "
                f"{', '.join(classes)}, found {m!r}"
            )
    return out


def _compile_from(model, comp: dict, custom_objects: dict) -> None:
    """Compiles ``model`` as the file's settings say, each field checked for its type
    first (a wrong one is a bad file, never an error from deep inside compile)."""
    from . import optimizers

    try:
        unknown = sorted(set(comp) - _COMPILE_KEYS, key=str)
        if unknown:
            raise ValueError(f"unknown key(s) {', '.join(map(repr, unknown))}")
        spec = comp.get("optimizer")
        if not (
            isinstance(spec, dict)
            and isinstance(spec.get("class_name"), str)
            and isinstance(spec.get("config"), dict)
            and set(spec) == {"class_name", "config"}
        ):
            raise ValueError(f"the optimizer must be {{class_name, config}}, found {spec!r}")
        iterations = comp.get("iterations", 0)
        if (
            isinstance(iterations, bool)
            or not isinstance(iterations, int)
            or not 0 <= iterations <= MAX_INT
        ):
            raise ValueError(f"iterations must be an int from 0 to 2**53, found {iterations!r}")
        optimizer = optimizers.get(spec)
        n = model._n_outputs()
        heads = comp.get("losses")
        if heads is None:
            if n > 1:
                raise ValueError(f"one loss is given for a model with {n} outputs")
            loss = comp.get("loss")
            metrics = _metric_list(comp.get("metrics", []), "", custom_objects)
            from_logits = comp.get("from_logits", False)
            if loss is None:
                if from_logits is not False or metrics or "loss_params" in comp:
                    raise ValueError("from_logits, loss_params or metrics are given without a loss")
                model.compile(optimizer=optimizer, loss=None)
            else:
                loss = _loss_from(loss, from_logits, comp.get("loss_params", {}), "")
                model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
        else:
            if any(k in comp for k in ("loss", "metrics", "from_logits", "loss_params")):
                raise ValueError("both one loss and per-output losses are given")
            if not isinstance(heads, list) or not all(isinstance(h, dict) for h in heads):
                raise ValueError("losses must be a list of objects")
            per_loss: list = [None] * n
            per_weight: list = [1.0] * n
            per_metrics: list = [[] for _ in range(n)]
            for h in heads:
                if set(h) - {"loss_params"} != _HEAD_KEYS:
                    raise ValueError(
                        f"a loss entry needs exactly the keys {sorted(_HEAD_KEYS)} (and may have "
                        "loss_params)"
                    )
                k = h["output"]
                if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k < n:
                    raise ValueError(f"bad loss output {k!r}")
                if per_loss[k] is not None:
                    raise ValueError(f"two losses for output {k}")
                where = f"output {k}: "
                per_loss[k] = _loss_from(
                    h["loss"], h["from_logits"], h.get("loss_params", {}), where
                )
                weight = h["weight"]
                if isinstance(weight, bool) or not isinstance(weight, (int, float)):
                    raise TypeError(f"{where}the loss weight must be a number, found {weight!r}")
                per_weight[k] = weight
                per_metrics[k] = _metric_list(h["metrics"], where, custom_objects)
            if not heads:
                model.compile(optimizer=optimizer, loss=None)
            elif n == 1:
                model.compile(
                    optimizer=optimizer,
                    loss=per_loss[0],
                    loss_weights=per_weight,
                    metrics=per_metrics[0],
                )
            else:
                model.compile(
                    optimizer=optimizer,
                    loss=per_loss,
                    loss_weights=per_weight,
                    metrics=per_metrics,
                )
        model._heads_ready()
        model.optimizer.iterations = iterations
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:
        if str(exc).startswith(BAD_FILE) or isinstance(exc, MissingFunction):
            raise
        raise bad_file(f"compile settings: {exc}") from None


def load_weights_into(model, source) -> None:
    """Sets ``model``'s weights from a file, all of them or (a bad file) none."""
    with contextlib.closing(_Reader(source)) as reader:
        _, table = _read_header(reader)
        if not model.built:
            raise ValueError(
                f"{model.name}.load_weights: build the model (give it an input shape) first"
            )
        roles = _roles(model, table, use_slots=False)
        arrays: list[np.ndarray | None] = []
        for e, role in zip(table, roles):
            if role is None:
                _skip_or_fail(reader, e)
                arrays.append(None)
            else:
                arrays.append(_read_tensor(reader, e))
        _check_end(reader)
    weights = model.weights
    diverged, values = [], []
    for e, role, arr in zip(table, roles, arrays):
        if role is None or arr is None:
            continue
        w = weights[role[1]]
        if first_nonfinite(arr) is not None:
            diverged.append(f"{e.name} ({w.name})")
        if arr.dtype != w.value.dtype:
            cast = np.empty_like(w.value)
            _cast_into(cast, arr, f"tensor {e.name} ({w.name})")
            arr = cast
        values.append((w, arr))
    for w, arr in values:
        np.copyto(w.value, arr)
    _diverged_warning(diverged)
