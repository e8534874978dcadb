"""The model file: a length-prefixed JSON header followed by raw little-endian arrays.

    b"DROPNET\\x00" | u64 header length | header (UTF-8 JSON) | tensor bytes

The header names the format version, the architecture (a Sequential's layers, or a
functional model's layers and the calls between them, from a fixed set of layer classes),
the compile settings, and every tensor's name, dtype, shape and byte range. Loading checks
every field before using it; nothing in a file is ever executed. The models are rebuilt
through their public constructors (docs/model-format.md).
"""

from __future__ import annotations

import io
import json
import os
import stat
import struct
import tempfile

import numpy as np

MAGIC = b"DROPNET\x00"
FORMAT_VERSION = 1
MAX_HEADER = 64 * 1024 * 1024
_DTYPES = {"float32": "<f4", "float64": "<f8"}


BAD_FILE = "not a valid dropnet model file"


def bad_file(msg: str) -> ValueError:
    return ValueError(f"{BAD_FILE}: {msg}")


# ---------------------------------------------------------------- writing
def _metric_names(ms) -> list[str]:
    return [m if isinstance(m, str) else getattr(m, "__name__", str(m)) for m in ms]


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
    else:
        config["losses"] = [
            {
                "output": h.output,
                "loss": h.loss,
                "from_logits": bool(h.from_logits),
                "weight": h.weight,
                "metrics": _metric_names(h.metrics),
            }
            for h in model._heads
        ]
    return config


def save_model(model, target, overwrite=True, weights_only=False) -> None:
    tensors = []
    for i, w in enumerate(model.weights):
        tensors.append((f"weights/{i}", w.value))
    if not weights_only and model.compiled and model._slots:
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
        "model": {"class_name": model.file_class, "config": model.get_config()},
        "compile": None if weights_only else _compile_config(model),
        "tensors": entries,
    }
    raw = json.dumps(header, allow_nan=False).encode("utf-8")
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
def _read(source) -> bytes:
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if os.path.isdir(path):
            raise IsADirectoryError(f"{path} is a directory, not a model file")
        if os.path.exists(path) and not os.path.isfile(path):
            raise ValueError(
                f"{path} is not a regular file (a pipe or a device?), not a model file"
            )
        if not os.path.exists(path):
            raise FileNotFoundError(f"no model file at {path}")
        with open(path, "rb") as f:
            return f.read()
    if isinstance(source, (bytes, bytearray)):
        return bytes(source)
    if isinstance(source, io.IOBase) or hasattr(source, "read"):
        return source.read()
    raise TypeError(f"expected a path or a binary file, received {type(source).__name__}")


def _parse(data: bytes) -> tuple[dict, dict]:
    if len(data) < 16 or data[:8] != MAGIC:
        raise bad_file("missing the dropnet signature")
    (hlen,) = struct.unpack("<Q", data[8:16])
    if hlen > MAX_HEADER or 16 + hlen > len(data):
        raise bad_file(f"header length {hlen} exceeds the file")
    try:
        header = json.loads(data[16 : 16 + hlen].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise bad_file(f"header is not valid JSON ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != "dropnet":
        raise bad_file("header does not describe a dropnet model")
    if header.get("format_version") != FORMAT_VERSION:
        raise bad_file(
            f"unsupported format_version {header.get('format_version')!r} (this dropnet reads {FORMAT_VERSION})"
        )
    body = memoryview(data)[16 + hlen :]
    entries = header.get("tensors")
    if not isinstance(entries, list):
        raise bad_file("tensors must be a list")
    tensors, end = {}, 0
    for e in entries:
        if not isinstance(e, dict):
            raise bad_file("tensor entry must be an object")
        name, dt, shape, off, nbytes = (
            e.get(k) for k in ("name", "dtype", "shape", "offset", "nbytes")
        )
        if not isinstance(name, str) or name in tensors:
            raise bad_file(f"bad or repeated tensor name {name!r}")
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
        itemsize = np.dtype(_DTYPES[dt]).itemsize
        if (
            not (isinstance(off, int) and isinstance(nbytes, int))
            or isinstance(off, bool)
            or isinstance(nbytes, bool)
        ):
            raise bad_file(f"tensor {name}: offset and nbytes must be ints")
        if nbytes != count * itemsize or off != end or off + nbytes > len(body):
            raise bad_file(
                f"tensor {name}: byte range [{off}, {off + nbytes}) is inconsistent with the file"
            )
        end = off + nbytes
        tensors[name] = (
            np.frombuffer(body[off : off + nbytes], dtype=_DTYPES[dt]).reshape(shape).astype(dt)
        )
    if end != len(body):
        raise bad_file(f"{len(body) - end} trailing bytes after the last tensor")
    return header, tensors


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


def index_pair(ref, what: str) -> tuple[int, int]:
    """A functional config's [layer index, call index] reference, checked."""
    if (
        not isinstance(ref, list)
        or len(ref) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in ref)
    ):
        raise bad_file(f"{what}: expected [layer index, call index], received {ref!r}")
    return ref[0], ref[1]


def _assign_weights(model, tensors: dict) -> None:
    own = model.weights
    for i, w in enumerate(own):
        t = tensors.get(f"weights/{i}")
        if t is None:
            raise bad_file(f"missing tensor weights/{i}")
        if t.shape != w.value.shape:
            raise bad_file(
                f"tensor weights/{i} has shape {t.shape}, the layer expects {w.value.shape}"
            )
        if not np.all(np.isfinite(t)):
            raise bad_file(f"tensor weights/{i} holds NaN or infinite values")
        np.copyto(w.value, t, casting="unsafe")
    if f"weights/{len(own)}" in tensors:
        raise bad_file("the file holds more weight tensors than the architecture has")


def load_model(source, classes: dict, compile=True):
    """The model a file describes. ``classes`` maps the file's model class names
    ("Sequential", "Functional") to the classes whose ``from_config`` rebuilds them."""
    header, tensors = _parse(_read(source))
    model_info = header.get("model")
    if not isinstance(model_info, dict):
        raise bad_file("the header does not describe a model")
    class_name = model_info.get("class_name")
    if not isinstance(class_name, str) or class_name not in classes:
        raise bad_file(f"the model must be one of {', '.join(classes)}, found {class_name!r}")
    budget = sum(int(t.size) for k, t in tensors.items() if k.startswith("weights/"))
    model = classes[class_name].from_config(model_info.get("config"), max_weight_elements=budget)
    if model.weights or tensors:
        if not model.built:
            raise bad_file("weights given for a model without an input shape")
        _assign_weights(model, tensors)
    comp = header.get("compile")
    if compile and isinstance(comp, dict):
        _compile_from(model, comp)
        for i, w in enumerate(model.weights):
            slots = []
            j = 0
            while f"optimizer/{i}/{j}" in tensors:
                t = tensors[f"optimizer/{i}/{j}"]
                if t.shape != w.value.shape:
                    raise bad_file(f"optimizer/{i}/{j} has the wrong shape")
                slots.append(np.ascontiguousarray(t, dtype=w.value.dtype))
                j += 1
            if slots:
                expected = len(model.optimizer._make_slots(w.value))
                if len(slots) != expected:
                    raise bad_file(
                        f"optimizer state for weight {i}: expected {expected} slots, found {len(slots)}"
                    )
                model._slots[w] = slots
    return model


def _compile_from(model, comp: dict) -> None:
    from . import optimizers

    try:
        optimizer = optimizers.get(comp.get("optimizer"))
        heads = comp.get("losses")
        if heads is None:
            model.compile(
                optimizer=optimizer, loss=comp.get("loss"), metrics=comp.get("metrics") or []
            )
            logits = [bool(comp.get("from_logits"))]
        else:
            if not isinstance(heads, list) or not all(isinstance(h, dict) for h in heads):
                raise ValueError("losses must be a list of objects")
            n = len(model.outputs)
            loss: list = [None] * n
            weights: list = [1.0] * n
            metrics: list = [[] for _ in range(n)]
            for h in heads:
                k = h.get("output")
                if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k < n:
                    raise ValueError(f"bad loss output {k!r}")
                loss[k], weights[k], metrics[k] = h.get("loss"), h.get("weight"), h.get("metrics")
            model.compile(optimizer=optimizer, loss=loss, loss_weights=weights, metrics=metrics)
            logits = [bool(h.get("from_logits")) for h in heads]
        model._heads_ready()
        for head, flag in zip(model._heads, logits):
            head.from_logits = head.from_logits or flag
        iterations = comp.get("iterations", 0)
        if not isinstance(iterations, int) or iterations < 0:
            raise ValueError(f"bad iterations {iterations!r}")
        model.optimizer.iterations = iterations
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise bad_file(f"compile settings: {exc}") from None


def load_weights_into(model, source) -> None:
    _, tensors = _parse(_read(source))
    if not model.built:
        raise ValueError(
            f"{model.name}.load_weights: build the model (give it an input shape) first"
        )
    _assign_weights(model, tensors)
