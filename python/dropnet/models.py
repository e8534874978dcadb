"""Models: ``Model`` (Keras's functional API: a graph of layers from inputs to outputs) and
``Sequential`` (its chain case, with ``add``/``pop``), over the core's graph driver.

Parameters, optimizer slots and the step count live in NumPy arrays owned here; the core
holds references to them and runs whole epochs (shuffle, batches, forward, loss, backward,
update, constraints, validation) in one call. The description the core receives is built
by ``_make_network`` from the model's nodes; nothing else in the package writes it.
"""

from __future__ import annotations

import contextlib
import functools
import io
import itertools
import json
import os
import shutil
import sys
import threading
import time
import warnings
import weakref
from typing import Any

import numpy as np

from . import _core, backend, losses, optimizers, saving, sources
from . import callbacks as callbacks_module
from . import metrics as metrics_module
from ._data import MAX_INT, check_int, check_name, first_nonfinite, shape_str, to_float_array
from .layers.base import (
    CoreCall,
    KerasTensor,
    Layer,
    Node,
    Weight,
    check_shape,
    unique_name,
    weight_budget,
)
from .layers.core import InputLayer
from .utils import next_seed


def _exclusive_training(method):
    """Run a training method holding the model's training lock; a second one started while
    it runs (from another thread) raises instead of updating the weights concurrently."""

    @functools.wraps(method)
    def run(self, *args, **kwargs):
        if not self._training.acquire(blocking=False):
            raise ValueError(
                f"{self.name}.{method.__name__}: this model is already being trained by another thread"
            )
        try:
            return method(self, *args, **kwargs)
        finally:
            self._training.release()

    return run


MAX_LAYER_CALLS = saving.MAX_LAYERS  # layer calls per model (the core's limit)
_LIVE_MODELS: weakref.WeakSet = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # Only the forking thread lives on in a child: locks held by the parent's other threads
    # (a fit running there) would never be released. The core frees its own the same way.
    for model in list(_LIVE_MODELS):
        model._lock = threading.RLock()
        model._training = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _flatten(structure) -> tuple[list, list[str] | None]:
    """(items, dict keys or None) of a tensor, a list/tuple of them, or a dict of them."""
    if isinstance(structure, dict):
        return list(structure.values()), [str(k) for k in structure]
    if isinstance(structure, (list, tuple)):
        return list(structure), None
    return [structure], None


_RAN_OUT = 3  # the core's Stop::ran_out


def _verbose(verbose, call: str) -> int:
    if verbose == "auto":
        return 1
    return check_int(verbose, f"{call}(verbose)", 0)


def _validation_flags(freq, initial_epoch: int, runs: int) -> list[bool] | None:
    """Which epochs validate: every ``freq``-th (an int), or those listed (Keras 2's
    collection of 1-based epoch numbers); None for every epoch."""
    if isinstance(freq, bool):
        raise TypeError(
            f"fit: expected validation_freq as an int or a list of epochs, received {freq!r}"
        )
    if isinstance(freq, (int, np.integer)):
        freq = check_int(freq, "fit(validation_freq)", 1)
        if freq == 1:
            return None
        return [(initial_epoch + e + 1) % freq == 0 for e in range(runs)]
    try:
        wanted = {int(v) for v in freq}
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"fit: expected validation_freq as an int or a list of epochs, received {freq!r}"
        ) from exc
    return [(initial_epoch + e + 1) in wanted for e in range(runs)]


def _callback_list(callbacks, call: str) -> list:
    if callbacks is None:
        return []
    if isinstance(callbacks, callbacks_module.Callback):
        callbacks = [callbacks]
    out = list(callbacks)
    for cb in out:
        if not isinstance(cb, callbacks_module.Callback):
            raise TypeError(f"{call}: expected Callback instances, received {type(cb).__name__}")
    return out


def _batches(x, batch_size: int) -> int | None:
    """Steps of an inference pass, for the progress bar (None when unknown)."""
    if sources.is_sequence(x):
        return len(x)
    if sources.is_source(x):
        return None
    first = x[0] if isinstance(x, (list, tuple)) and x and hasattr(x[0], "shape") else x
    if isinstance(first, dict):
        first = next(iter(first.values()))
    n = getattr(first, "shape", (None,))[0] if hasattr(first, "shape") else None
    return None if n is None else -(-int(n) // batch_size)


def _keras2_generator_call(name: str):
    """Keras 2's ``evaluate_generator``/``predict_generator``: ``name`` on a generator or
    Sequence."""

    def call(
        self,
        generator,
        steps=None,
        callbacks=None,
        max_queue_size=10,
        workers=1,
        use_multiprocessing=False,
        verbose=0,
    ):
        return getattr(self, name)(
            generator,
            steps=steps,
            callbacks=callbacks,
            verbose=verbose,
            max_queue_size=max_queue_size,
            workers=workers,
            use_multiprocessing=use_multiprocessing,
        )

    call.__name__ = f"{name}_generator"
    call.__doc__ = f"Keras 2's name: {name} on a generator or Sequence."
    return call


class _InferenceProgress:
    """evaluate/predict progress. verbose 1 on a terminal: a live bar once the pass has run
    for a tick (quick calls draw nothing until the end). At the end, evaluate prints its
    line (Keras's layout) when verbose; predict prints one only if it drew a bar."""

    def __init__(
        self, verbose: int, steps: int | None, batch_size: int, by_rows: bool, logs: bool = True
    ):
        self.steps, self.batch_size, self.by_rows, self.logs = steps, batch_size, by_rows, logs
        self.verbose = verbose
        self.live = verbose == 1 and sys.stdout.isatty()
        self.bar = callbacks_module.ProgbarLogger(verbose)
        self.bar.params = {"steps": steps, "epochs": 1}
        self.bar._live = self.live
        self.bar._epoch = 0
        self.bar._headed = 0  # no "Epoch" header
        self.t0 = time.perf_counter()

    def tick(self, batch: int, rows: int, logs, seconds: float) -> None:
        done = -(-rows // self.batch_size) if self.by_rows else batch
        self.bar.on_tick(
            callbacks_module.TRAIN, 0, done, rows, logs if self.logs else None, seconds
        )

    def finish(self, logs: dict | None, steps: int | None = None) -> None:
        if not self.verbose or (not self.logs and not self.bar._drawn):
            return
        self.bar.params = {"steps": steps or self.steps, "epochs": 1}
        self.bar.on_epoch_end(0, logs or {}, seconds=time.perf_counter() - self.t0)


class _Hooks:
    """The core's hooks for evaluate/predict: callbacks, and the live bar on ticks."""

    def __init__(self, cbl, progress: _InferenceProgress | None, keys: list[str]):
        self.cbl, self.progress, self.keys = cbl, progress, keys
        self.wanted = cbl.wanted if cbl is not None else []
        self.ticks = progress is not None and progress.live

    @staticmethod
    def make(cbl, progress, keys):
        """The hooks, or None when nothing asks for events or ticks (the core then calls
        Python only to check for Ctrl-C)."""
        if (cbl is None or not cbl.wanted) and (progress is None or not progress.live):
            return None
        return _Hooks(cbl, progress, keys)

    def __call__(self, event, phase, epoch, batch, rows, logs, seconds=0.0):
        if event == callbacks_module.TICK:
            if self.progress is not None:
                named = None if logs is None else dict(zip(self.keys, logs))
                self.progress.tick(batch, rows, named, seconds)
            return 0
        return self.cbl(event, phase, epoch, batch, rows, logs, seconds)


class _Step:
    """What lets ``train_on_batch`` skip its checks: the network and learning rate of the
    last call, and the layout its arrays had when they needed no conversion. Single input
    and output, dense targets and no Python metrics only; anything else takes the full path."""

    def __init__(self, net, dtype, x_shape, y_shape, lr):
        self.net, self.dtype, self.x_shape, self.y_shape, self.lr = net, dtype, x_shape, y_shape, lr

    @staticmethod
    def of(model, net, x, xs, y, ys, lr, python_metrics, w) -> _Step | None:
        """The fast path's record after a full call, or None when that call's arrays needed
        converting (or its kind of call cannot take the fast path)."""
        if (
            python_metrics
            or w is not None
            or len(xs) != 1
            or len(ys) != 1
            or xs[0] is not x
            or ys[0] is not y
            or model._heads[0].loss == "sparse_categorical_crossentropy"
        ):
            return None
        return _Step(net, x.dtype, x.shape[1:], y.shape[1:], lr)

    def fits(self, x: np.ndarray, y: np.ndarray) -> bool:
        xs, ys = x.shape, y.shape
        return (
            xs[1:] == self.x_shape
            and ys[1:] == self.y_shape
            and xs[0] == ys[0] > 0
            and x.dtype == self.dtype
            and y.dtype == self.dtype
            and x.flags.c_contiguous
            and y.flags.c_contiguous
        )


class Head:
    """One model output's loss: its canonical name, whether its output is logits, its
    parameters, its weight in the total loss, and its metrics as given to compile."""

    def __init__(
        self, output: int, loss: str, from_logits: bool, params: dict, weight: float, metrics: list
    ):
        self.output = output
        self.loss = loss
        self.from_logits = from_logits
        self.params = params  # the loss's parameters (label_smoothing, delta, ...)
        self.weight = weight
        self.metrics = metrics


class Model:
    """A graph of layers from ``inputs`` to ``outputs`` (symbolic tensors made by ``Input``
    and by calling layers), with Keras's ``compile / fit / evaluate / predict``.

    ``inputs`` and ``outputs`` may each be one tensor, a list, or a dict (then data and
    losses may be given by the same keys)."""

    file_class = "Functional"  # the model class a saved file names

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        if kwargs:
            raise TypeError(f"Model: unexpected keyword argument(s) {', '.join(sorted(kwargs))}")
        if inputs is None or outputs is None:
            raise TypeError(
                "Model: expected Model(inputs=..., outputs=...) built from Input() tensors; "
                "subclassed models with a call() method are not supported"
            )
        self._init_state(name or unique_name("functional"), trainable)
        self._set_graph(inputs, outputs)

    def _init_state(self, name, trainable) -> None:
        check_name(name, "Model")
        self.name = name
        self.trainable = bool(trainable)
        self._dtype: str | None = None
        # The float type is fixed when the model is made (as Keras fixes its dtype policy):
        # a later set_floatx changes the models made after it, not this one.
        self._floatx = backend.floatx()
        self._inputs: list[KerasTensor] = []
        self._outputs: list[KerasTensor] = []
        self._in_shapes: list[tuple[int, ...]] = []
        self._out_shapes: list[tuple[int, ...]] = []
        self._input_keys: list[str] | None = None
        self._output_keys: list[str] | None = None
        self._nodes: list[Node] = []
        self.optimizer: optimizers.Optimizer | None = None
        self.loss = None
        self._heads: list[Head] = []
        self._loss_spec = None  # compile's arguments, resolved per output when built
        self._slots: dict[Weight, list[np.ndarray]] = {}
        self._net: _core.Network | None = None
        self._net_training = False
        self._step: _Step | None = None  # train_on_batch's fast path
        self._seed: int | None = None
        self._mc_calls = 0
        # _lock guards the core network's creation and the Monte-Carlo call counter;
        # _training is held for a whole fit, so a second one fails instead of racing.
        self._lock = threading.RLock()
        self._training = threading.Lock()
        _LIVE_MODELS.add(self)
        self.stop_training = False
        self.history = None
        self.compiled = False

    # ------------------------------------------------------------------ the graph
    def _set_graph(self, inputs, outputs) -> None:
        ins, self._input_keys = _flatten(inputs)
        outs, self._output_keys = _flatten(outputs)
        for t in ins + outs:
            if not isinstance(t, KerasTensor):
                raise TypeError(
                    f"{self.name}: inputs and outputs must be symbolic tensors (from Input() "
                    f"and layer calls), received {type(t).__name__}"
                )
        for t in ins:
            if not isinstance(t.layer, InputLayer):
                raise TypeError(
                    f"{self.name}: every input must be an Input() tensor; {t!r} is a layer's output"
                )
        if len({id(t) for t in ins}) != len(ins):
            raise ValueError(f"{self.name}: an Input appears twice among the inputs")
        if not outs:
            raise ValueError(f"{self.name}: expected at least one output")
        # Nodes between the inputs and the outputs, each after the nodes it reads from.
        order: list[Node] = []
        state: dict[int, int] = {}  # id(node) -> 1 visiting, 2 done
        input_ids = {id(t) for t in ins}

        def visit(root: KerasTensor) -> None:
            # Depth first, each node after its inputs; an explicit stack, so a chain of any
            # length is walked without Python's recursion limit.
            stack: list[tuple[KerasTensor, int]] = [(root, 0)]
            while stack:
                t, k = stack.pop()
                node = t.node
                if k == 0:
                    if id(t) in input_ids or node is None:
                        continue
                    if isinstance(node.layer, InputLayer):
                        raise ValueError(
                            f"{self.name}: the outputs depend on Input {node.layer.name!r}, "
                            "which is not among the model's inputs"
                        )
                    if state.get(id(node)) == 2:
                        continue
                    state[id(node)] = 1
                assert node is not None
                if k < len(node.inputs):
                    stack.append((t, k + 1))
                    stack.append((node.inputs[k], 0))
                else:
                    state[id(node)] = 2
                    order.append(node)

        for t in outs:
            visit(t)
        if len(order) > MAX_LAYER_CALLS:
            raise ValueError(
                f"{self.name}: {len(order)} layer calls; a model holds at most "
                f"{MAX_LAYER_CALLS} (the core numbers each call's random streams in 15 bits)"
            )
        self._inputs, self._outputs, self._nodes = ins, outs, order
        if any(n.layer._is_stateful for n in order):
            self._stateful_batch()  # refuses a stateful model without one static batch size
        self._in_shapes = [t.shape for t in ins]
        self._out_shapes = [t.shape for t in outs]
        dtypes = {t.layer._dtype_arg for t in ins if t.layer is not None}
        self._dtype = dtypes.pop() if len(dtypes) == 1 else None
        self._net = None

    @property
    def layers(self) -> list[Layer]:
        """The Input layers, then every layer in the order the graph first calls it."""
        seen: dict[int, Layer] = {}
        for t in self._inputs:
            assert t.layer is not None
            seen.setdefault(id(t.layer), t.layer)
        for node in self._nodes:
            seen.setdefault(id(node.layer), node.layer)
        return list(seen.values())

    def _weight_layers(self) -> list[Layer]:
        return self.layers

    def _declared_batch_sizes(self) -> set[int]:
        return {
            t.layer.batch_size
            for t in self._inputs
            if isinstance(t.layer, InputLayer) and t.layer.batch_size is not None
        }

    def _stateful_batch(self) -> int | None:
        """The batch size of a model with stateful recurrent layers (None without any):
        declared by Input(batch_shape=...)/Input(..., batch_size=B), or Keras 2's
        batch_input_shape=/batch_size= on the first layer."""
        if not any(x._is_stateful for x in self._weight_layers()):
            return None
        sizes = self._declared_batch_sizes()
        if len(sizes) != 1:
            raise ValueError(
                f"{self.name}: a model with stateful=True recurrent layers needs one static batch "
                "size: give Input(batch_shape=(B, steps, features)) or Input(shape, batch_size=B), "
                "or batch_input_shape=(B, steps, features) on the first layer"
                + (f"; received several: {sorted(sizes)}" if sizes else "")
            )
        return sizes.pop()

    def _stateful_rows(self, batch_size, rows: int | None, what: str, shuffle=False) -> int | None:
        """The batch size a call runs: a stateful model's own (a different one is refused,
        as are sample counts it does not divide), else batch_size as given."""
        batch = self._stateful_batch()
        if batch is None:
            return batch_size
        if batch_size is not None and batch_size != batch:
            raise ValueError(
                f"{what}: the model is stateful with batch size {batch} (sample i of each batch "
                f"continues sample i of the previous one); received batch_size={batch_size}"
            )
        if rows is not None and rows % batch:
            raise ValueError(
                f"{what}: a stateful model runs whole batches of {batch} samples; received "
                f"{rows} samples, which is not a multiple of {batch}"
            )
        if shuffle:
            warnings.warn(
                f"{what}: shuffle=True reorders the samples of a stateful model, so a batch no "
                "longer continues the previous one; pass shuffle=False",
                UserWarning,
                stacklevel=3,
            )
        return batch

    def reset_states(self) -> None:
        """Zero the carried states of every stateful recurrent layer (Keras 2)."""
        with self._holding("reset_states"):
            for layer in self._weight_layers():
                if layer._is_stateful:
                    layer.reset_states()  # type: ignore[attr-defined]

    def get_layer(self, name=None, index=None) -> Layer:
        """The layer called ``name``, or at position ``index`` of ``layers``."""
        layers = self.layers
        if index is not None:
            if name is not None:
                raise ValueError(f"{self.name}.get_layer: give a name or an index, not both")
            if not isinstance(index, int) or not -len(layers) <= index < len(layers):
                raise ValueError(
                    f"{self.name}.get_layer: index {index!r} out of range for {len(layers)} layers"
                )
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        names = ", ".join(layer.name for layer in layers)
        raise ValueError(f"{self.name}.get_layer: no layer named {name!r} (layers: {names})")

    @property
    def inputs(self) -> list[KerasTensor]:
        return list(self._inputs)

    @property
    def outputs(self) -> list[KerasTensor]:
        return list(self._outputs)

    @property
    def input(self):
        return self._inputs[0] if len(self._inputs) == 1 else list(self._inputs)

    @property
    def output(self):
        return self._outputs[0] if len(self._outputs) == 1 else list(self._outputs)

    @property
    def input_names(self) -> list[str]:
        if self._input_keys is not None:
            return list(self._input_keys)
        return [t.layer.name for t in self._inputs if t.layer is not None]

    @property
    def output_names(self) -> list[str]:
        if self._output_keys is not None:
            return list(self._output_keys)
        # A layer's name, with the output's position for the later outputs of a layer
        # returning several (an LSTM's final states: lstm, lstm_1, lstm_2).
        return [
            (t.layer.name + (f"_{t._index}" if t._index else ""))
            if t.layer is not None
            else f"output_{i}"
            for i, t in enumerate(self._outputs)
        ]

    @property
    def dtype(self) -> str:
        return self._dtype or getattr(self, "_floatx", None) or backend.floatx()

    @property
    def built(self) -> bool:
        return bool(self._inputs)

    def _ensure_graph(self) -> None:
        """Sequential builds its chain on demand; a functional model always has its graph."""

    def _input_shapes(self) -> list[tuple[int, ...]]:
        return self._in_shapes

    def _output_shapes(self) -> list[tuple[int, ...]]:
        return self._out_shapes

    @property
    def input_shape(self):
        shapes = [(None,) + s for s in self._input_shapes()]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        shapes = [(None,) + s for s in self._output_shapes()]
        return shapes[0] if len(shapes) == 1 else shapes

    def _n_outputs(self) -> int:
        return len(self._outputs)

    # ------------------------------------------------------------------ compile
    def compile(
        self,
        optimizer="rmsprop",
        loss=None,
        metrics=None,
        loss_weights=None,
        weighted_metrics=None,
        run_eagerly=False,
        steps_per_execution=1,
        jit_compile="auto",
        auto_scale_loss=True,
        **kwargs,
    ):
        """Configure training. ``loss`` (and ``loss_weights``, ``metrics``) take Keras's
        names, one for all outputs or one per output as a list or a dict by output name."""
        if kwargs:
            raise TypeError(f"compile: unexpected keyword argument(s) {', '.join(sorted(kwargs))}")
        if weighted_metrics is not None:
            raise ValueError("compile: weighted_metrics is not supported")
        optimizer = optimizers.get(optimizer)
        with self._holding("compile"):  # not while another thread's fit uses the network
            self.optimizer = optimizer
            self.loss = loss
            self._loss_spec = (loss, loss_weights, metrics)
            self._slots = {}
            self._net = None
            self.compiled = True
        if self.built or self._n_outputs():
            self._resolve_heads()
        else:  # a Sequential without an input shape: checked again once it is built
            self._check_loss_names(loss, metrics)

    @staticmethod
    def _check_loss_names(loss, metrics) -> None:
        if loss is not None and not isinstance(loss, (list, tuple, dict)):
            loss_name = losses.get(loss)[0]
        else:
            loss_name = "mean_squared_error"
        for m in [] if metrics is None else metrics if isinstance(metrics, list) else [metrics]:
            if not isinstance(m, (list, dict)) and not isinstance(m, type):
                metrics_module.resolve(m, loss_name, 1)

    def _per_output(self, value, what: str, default):
        """compile's argument as one entry per output (None where not given)."""
        n = self._n_outputs()
        names = self.output_names
        if isinstance(value, dict):
            unknown = set(value) - set(names)
            if unknown:
                raise ValueError(
                    f"compile({what}=...): unknown output name(s) {', '.join(sorted(map(str, unknown)))}; "
                    f"the outputs are {', '.join(names)}"
                )
            return [value.get(k, default) for k in names]
        if isinstance(value, (list, tuple)) and what != "metrics":
            if len(value) != n:
                raise ValueError(
                    f"compile({what}=...): expected {n} entries (one per output), received {len(value)}"
                )
            return list(value)
        return [value if value is not None else default] * n

    def _resolve_heads(self) -> None:
        loss, loss_weights, metrics = self._loss_spec or (None, None, None)
        n = self._n_outputs()
        per_loss = self._per_output(loss, "loss", None)
        per_weight = self._per_output(loss_weights, "loss_weights", 1.0)
        if metrics is None:
            per_metrics: list = [[] for _ in range(n)]
        elif isinstance(metrics, dict):
            per_metrics = self._per_output(metrics, "metrics", [])
        elif (
            isinstance(metrics, (list, tuple))
            and n > 1
            and metrics
            and all(isinstance(m, (list, tuple)) or m is None for m in metrics)
        ):
            if len(metrics) != n:
                raise ValueError(
                    f"compile(metrics=...): expected {n} lists (one per output), received {len(metrics)}"
                )
            per_metrics = [list(m or []) for m in metrics]
        else:  # one list for every output (Keras 2)
            flat = [metrics] if isinstance(metrics, str) or callable(metrics) else list(metrics)
            per_metrics = [flat] * n
        heads = []
        for i in range(n):
            ms = per_metrics[i]
            ms = [ms] if isinstance(ms, str) or callable(ms) else list(ms)
            ms = [metrics_module.instance(m) for m in ms]  # a class given: made once, here
            if per_loss[i] is None:
                if ms and n > 1:
                    raise ValueError(
                        f"compile: output {self.output_names[i]!r} has metrics but no loss"
                    )
                continue
            name, from_logits, params = losses.spec(per_loss[i])
            weight = per_weight[i]
            if (
                isinstance(weight, bool)
                or not isinstance(weight, (int, float, np.number))
                or not (np.isfinite(weight) and weight >= 0)
            ):
                raise ValueError(
                    f"compile(loss_weights=...): expected finite numbers >= 0, received {weight!r}"
                )
            out_dim = int(self._output_shapes()[i][-1]) if self._output_shapes()[i] else 1
            for m in ms:  # validate names now
                metrics_module.resolve(m, name, out_dim)
            heads.append(Head(i, name, from_logits, params, float(weight), ms))
        if loss is not None and not heads:
            raise ValueError("compile: no output has a loss")
        self._heads = heads

    # Single-output views of the loss (the scikit-learn wrappers and model files read them).
    @property
    def _loss_name(self) -> str | None:
        self._heads_ready()
        return self._heads[0].loss if self._heads else None

    @property
    def _from_logits(self) -> bool:
        self._heads_ready()
        return bool(self._heads and self._heads[0].from_logits)

    @property
    def _metric_args(self) -> list:
        self._heads_ready()
        return list(self._heads[0].metrics) if self._heads else []

    def _heads_ready(self) -> None:
        if self.compiled and not self._heads and self._loss_spec and self._n_outputs():
            self._resolve_heads()

    def _metric_entries(self) -> list[tuple[str, int, dict | None, Any]]:
        """(history key, head number, the core's description or None for a Python
        function, the metric as given) of every head's metrics, heads in order; a name met
        again gets _1, _2, ... as in Keras."""
        entries = []
        multi = len(self._heads) > 1
        names = self.output_names
        for i, h in enumerate(self._heads):
            shape = self._output_shapes()[h.output]
            out_dim = int(shape[-1]) if shape else 1
            for m in h.metrics:
                key, spec = metrics_module.resolve(m, h.loss, out_dim)
                entries.append((f"{names[h.output]}_{key}" if multi else key, i, spec, m))
        keys = metrics_module.unique_keys([e[0] for e in entries])
        return [(k, i, spec, m) for k, (_, i, spec, m) in zip(keys, entries)]

    def _python_metrics(self) -> list[tuple[str, int, Any]]:
        """(history key, head number, function) of the metrics given as Python functions."""
        return [(k, i, m) for k, i, spec, m in self._metric_entries() if spec is None]

    def _result_keys(self) -> list[str]:
        """The names of the values a core pass reports: the loss, each head's loss (several
        heads), the metrics the core computes."""
        keys = ["loss"]
        if len(self._heads) > 1:
            keys += [f"{self.output_names[h.output]}_loss" for h in self._heads]
        return keys + [k for k, _, spec, _ in self._metric_entries() if spec is not None]

    @property
    def metrics_names(self) -> list[str]:
        """The core's results, then the Python functions' (computed after the pass)."""
        if not self.compiled:
            return []
        self._heads_ready()
        return self._result_keys() + [k for k, _, _ in self._python_metrics()]

    def _python_logs(self, fns, xs, ys, w, prefix="") -> dict:
        """Each Python metric function's value over arrays: one inference pass for the
        predictions, then ``fn(y_true, y_pred)``'s per-sample values averaged with the
        sample weights (a scalar result is taken as it is)."""
        if not fns:
            return {}
        pred = self.predict(xs[0] if len(xs) == 1 else xs, verbose=0)
        if isinstance(pred, dict):
            pred = list(pred.values())  # (in the outputs' order)
        elif not isinstance(pred, list):
            pred = [pred]
        logs = {}
        for key, i, fn in fns:
            head = self._heads[i]
            values = np.asarray(fn(ys[i], pred[head.output]), dtype=np.float64)
            if values.ndim == 0:
                logs[prefix + key] = float(values)
                continue
            n = pred[head.output].shape[0]
            if values.shape[0] != n:
                raise ValueError(
                    f"metric {key!r}: expected one value per sample (first axis {n}), "
                    f"received shape {values.shape}"
                )
            per = values.reshape(n, -1).mean(axis=1)
            weights = np.ones(n) if w is None else np.asarray(w, np.float64)
            total = weights.sum()
            logs[prefix + key] = float(per @ weights / total) if total > 0 else 0.0
        return logs

    def _check_python_metrics(self, what: str, *data) -> list:
        """The Python metric functions, after checking they can run on this call's data:
        arrays (a generator's batches cannot be read twice), and a model without stateful
        layers (the extra pass would move their states)."""
        fns = self._python_metrics()
        if fns and any(sources.is_source(d) for d in data):
            raise ValueError(
                f"{what}: the Python metric function(s) {', '.join(k for k, _, _ in fns)} run "
                "on the predictions of the data after each pass, so they need arrays, not a "
                "generator or PyDataset"
            )
        if fns and self._stateful_batch() is not None:
            raise ValueError(
                f"{what}: the Python metric function(s) {', '.join(k for k, _, _ in fns)} run "
                "the model over the data again, which would move a stateful layer's states"
            )
        return fns

    # ------------------------------------------------------------------ the core network
    def _network(self, training: bool):
        with self._lock:
            return self._make_network(training)

    def _make_network(self, training: bool):
        if training:
            if not self.compiled:
                raise ValueError(f"{self.name}: call compile() before fit/evaluate/train_on_batch")
            self._heads_ready()
            if not self._heads:
                raise ValueError(f"{self.name}: compile() was called without a loss")
        if self._net is not None and (self._net_training or not training):
            return self._net
        if self._seed is None:
            self._seed = next_seed()
        self._ensure_graph()
        if not self._inputs:
            raise ValueError(f"{self.name}: the model has no input shape yet")
        use_opt = self.compiled and bool(self._heads)
        opt = self.optimizer
        if use_opt and opt is None:
            raise ValueError(f"{self.name}: call compile() with an optimizer first")
        # Parameters in model.weights order; slots follow the Weight objects themselves.
        params_desc: list[dict] = []
        index: dict[int, int] = {}
        weights = self._layer_weights()
        decays = [0.0] * len(weights)
        if opt is not None and use_opt:
            present = {id(w) for _, w in weights}
            self._slots = {w: s for w, s in self._slots.items() if id(w) in present}
            decays = opt._weight_decays([w for _, w in weights])
        for (layer, w), decay in zip(weights, decays):
            index[id(w)] = len(params_desc)
            slots = []
            if opt is not None and use_opt:
                if w not in self._slots:
                    self._slots[w] = opt._make_slots(w.value)
                slots = self._slots[w]
            params_desc.append(
                {
                    "value": w.value,
                    "slots": slots,
                    "trainable": self._trains(layer, w),
                    "constraint": None
                    if w.constraint is None
                    else w.constraint._spec(w.value.ndim),
                    "regularizer": None if w.regularizer is None else w.regularizer._spec(),
                    "weight_decay": decay,
                }
            )
        # Tensors: the inputs, then each node's output in graph order.
        tensor_index = {id(t): i for i, t in enumerate(self._inputs)}
        tensors = [list(t.shape) for t in self._inputs]
        nodes: list[dict] = []
        step_masks: dict[tuple[int, float], int] = {}

        def add_node(op, attrs, inputs, shape, params=(), roles=()) -> int:
            """Appends an op node and its output tensor; returns the tensor's index."""
            tensors.append(list(shape))
            nodes.append(
                {
                    "op": op,
                    "inputs": list(inputs),
                    "output": len(tensors) - 1,
                    "params": list(params),
                    "roles": list(roles),
                    "layer_id": len(nodes) + 1,
                    "attrs": attrs,
                }
            )
            return len(tensors) - 1

        def step_mask(mask) -> int:
            """The tensor holding a mask's step values, computed once per mask."""
            source, value = mask
            key = (id(source), value)
            if key not in step_masks:
                step_masks[key] = add_node(
                    "step_mask", {"value": value}, [tensor_index[id(source)]], [source.shape[0]]
                )
            return step_masks[key]

        # Tensors some later call or the model's outputs read: a call's unused outputs get
        # no core node (a recurrent layer's unread final states are not even returned).
        used = {id(t) for node in self._nodes for t in node.inputs}
        used.update(id(t) for t in self._outputs)
        batch = self._stateful_batch()

        def param(w: Weight) -> int:
            """The core parameter of a weight; a stateful layer's carried states (not model
            weights) become parameters the core reads and writes, never trained."""
            if id(w) not in index:
                index[id(w)] = len(params_desc)
                params_desc.append(
                    {
                        "value": w.value,
                        "slots": [],
                        "trainable": False,
                        "constraint": None,
                        "regularizer": None,
                        "weight_decay": 0.0,
                    }
                )
            return index[id(w)]

        for node in self._nodes:
            layer = node.layer
            mask = node.inputs[0]._mask if layer.reads_mask and node.inputs else None
            call = CoreCall(node, mask is not None, [id(t) in used for t in node.outputs], batch)
            entries, outs = layer._core_graph(call)
            inner: list[int] = []
            for op, attrs, refs, ws, shape in entries:
                inputs = [
                    step_mask(mask)
                    if r == "mask"
                    else tensor_index[id(node.inputs[-1 - r])]
                    if r < 0
                    else inner[r]
                    for r in refs
                ]
                params = [param(w) for w in ws]
                inner.append(add_node(op, attrs, inputs, shape, params, [w.role for w in ws]))
            reg = layer.activity_regularizer
            if reg is not None and not layer.applies_activity_regularizer:
                if len(node.outputs) > 1:
                    raise ValueError(
                        f"{layer.name} ({type(layer).__name__}): an activity_regularizer on a "
                        "layer returning several tensors is not supported"
                    )
                # Its own op after the layer; later calls read its output.
                assert outs[0] is not None
                inner.append(
                    add_node(
                        "activity_regularization",
                        reg._spec(),
                        [inner[outs[0]]],
                        node.outputs[0].shape,
                    )
                )
                outs = [len(inner) - 1]
            for t, o in zip(node.outputs, outs):
                if o is not None:
                    tensor_index[id(t)] = inner[o]
        heads = []
        masked = [self.output_names[k] for k, t in enumerate(self._outputs) if t._mask is not None]
        if use_opt and masked:
            warnings.warn(
                f"{self.name}: output(s) {', '.join(masked)} carry a mask (from "
                "Embedding(mask_zero=True) or Masking); Keras leaves the masked steps out of the "
                "loss, dropnet counts them in it (a model ending in a layer that uses the mask "
                "up, such as an RNN without return_sequences or GlobalAveragePooling1D, is not "
                "affected)",
                UserWarning,
                stacklevel=3,
            )
        if use_opt:
            entries = self._metric_entries()
            for i, h in enumerate(self._heads):
                kinds = [spec for _, hi, spec, _ in entries if hi == i and spec is not None]
                heads.append(
                    {
                        "output": h.output,
                        "loss": h.loss,
                        "from_logits": bool(h.from_logits),
                        "loss_params": h.params,
                        "weight": h.weight,
                        "metrics": kinds,
                    }
                )
        desc = {
            "dtype": self.dtype,
            "seed": int(self._seed),
            "tensors": tensors,
            "inputs": list(range(len(self._inputs))),
            "outputs": [tensor_index[id(t)] for t in self._outputs],
            "params": params_desc,
            "nodes": nodes,
            "heads": heads,
            "optimizer": opt._spec()
            if opt is not None and use_opt
            else optimizers.SGD(0.0)._spec(),
        }
        self._net = _core.Network(desc)
        self._net_training = use_opt
        return self._net

    @contextlib.contextmanager
    def _holding(self, what: str):
        """Hold the core network while Python reads or writes its weights or replaces it:
        waits for another thread's predict, raises RuntimeError at once while another
        thread's fit trains it (never a mix of two steps' weights)."""
        net = self._net
        if net is None:
            yield
            return
        net.acquire(f"{self.name}.{what}")
        try:
            yield
        finally:
            net.release()

    def _warn_nonfinite_weights(self, what: str) -> None:
        """Called when a call's results hold NaN or infinity: says so if the model's own
        weights do (the values then come from a diverged model, not from the data). The
        weights are scanned only in that case, so the check costs nothing otherwise."""
        bad = [w.name for w in self.weights if first_nonfinite(w.value) is not None]
        if bad:
            names = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
            warnings.warn(
                f"{self.name}.{what}: the model's weights hold NaN or infinite values ({names}), "
                "so its results do too; was it saved or trained after its loss diverged?",
                RuntimeWarning,
                stacklevel=3,
            )

    def _warn_nonfinite_loss(self, rows, first_epoch: int) -> None:
        """One warning per fit when an epoch's training loss was NaN or infinite."""
        if not len(rows):
            return
        bad = np.flatnonzero(~np.isfinite(np.asarray(rows)[:, 0]))
        if len(bad):
            warnings.warn(
                f"{self.name}.fit: the loss became {rows[bad[0]][0]} in epoch "
                f"{first_epoch + int(bad[0]) + 1} and training diverged; try a smaller "
                "learning_rate or clipnorm=; the TerminateOnNaN callback stops training at "
                "the first such epoch",
                RuntimeWarning,
                stacklevel=4,
            )

    def _layer_weights(self) -> list[tuple[Layer, Weight]]:
        return [(layer, w) for layer in self._weight_layers() for w in layer.weights]

    def _trains(self, layer: Layer, w: Weight) -> bool:
        """Whether training updates the weight (the model, its layer and it are trainable)."""
        return bool(self.trainable and layer.trainable and w.trainable)

    # ------------------------------------------------------------------ data
    def _structured(self, data, keys: list[str] | None, names, count: int, what: str):
        """Arrays given as one (a single input or output), a list in order, or a dict by
        name (``names()`` gives them), as a list in order."""
        if isinstance(data, dict):
            wanted = keys if keys is not None else names()
            missing = [k for k in wanted if k not in data]
            if missing:
                raise ValueError(
                    f"{self.name}.{what}: missing entries for {', '.join(missing)} "
                    f"(expected the keys {', '.join(wanted)})"
                )
            return [data[k] for k in wanted]
        if count == 1:
            if isinstance(data, (list, tuple)) and len(data) == 1 and not np.isscalar(data[0]):
                first = np.asarray(data[0]) if not hasattr(data[0], "shape") else data[0]
                if np.ndim(first) >= 1 and np.ndim(first) == len(self._input_shapes()[0]) + 1:
                    return [data[0]]
            return [data]
        if not isinstance(data, (list, tuple)):
            raise TypeError(
                f"{self.name}.{what}: the model has {count}; expected a list of {count} arrays "
                f"or a dict by name, received {type(data).__name__}"
            )
        if len(data) != count:
            raise ValueError(f"{self.name}.{what}: expected {count} arrays, received {len(data)}")
        return list(data)

    def _xs(self, x, what="x") -> list[np.ndarray]:
        self._ensure_graph_for(x, what)
        shapes = self._input_shapes()
        if len(shapes) == 1 and not isinstance(x, (dict, list, tuple)):
            return [self._input_array(x, shapes[0], what)]  # kept short: paid every step
        items = self._structured(
            x, self._input_keys, lambda: self.input_names, len(shapes), f"{what} (inputs)"
        )
        names = self.input_names
        out = [
            self._input_array(item, shape, what if len(items) == 1 else f"{what}[{name}]")
            for item, shape, name in zip(items, shapes, names)
        ]
        if len({a.shape[0] for a in out}) > 1:
            raise ValueError(
                f"{self.name}.{what}: every input needs the same number of samples, received "
                + ", ".join(str(a.shape[0]) for a in out)
            )
        return out

    def _input_array(self, item, shape: tuple[int, ...], label: str) -> np.ndarray:
        arr = to_float_array(item, self.dtype, f"{self.name}.{label}")
        if arr.ndim == 1 and shape == (1,):
            arr = arr.reshape(-1, 1)
        if arr.shape[1:] != shape:
            raise ValueError(
                f"{self.name}.{label}: expected input shape {shape_str(shape)}, received "
                f"{shape_str(arr.shape[1:])}"
            )
        return arr

    def _ensure_graph_for(self, x, what: str) -> None:
        """Sequential: build from the first data seen when no input shape was given."""

    def _x(self, x, what="x") -> np.ndarray:
        """The single input's array (single-input models)."""
        return self._xs(x, what)[0]

    def _ys(self, y, n: int, what="y") -> list[np.ndarray]:
        self._heads_ready()
        if not self._heads:
            raise ValueError(f"{self.name}: compile() was called without a loss")
        if len(self._outputs) == 1 and not isinstance(y, dict):
            return [self._y_for(self._heads[0], y, n, what)]  # kept short: paid every step
        items = self._structured(
            y, self._output_keys, lambda: self.output_names, len(self._outputs), what
        )
        return [self._y_for(h, items[h.output], n, what) for h in self._heads]

    def _y(self, y, n: int, what="y") -> np.ndarray:
        return self._ys(y, n, what)[0]

    def _y_for(self, head: Head, y, n: int, what: str) -> np.ndarray:
        out_shapes = self._output_shapes()
        if len(out_shapes) > 1:
            what = f"{what}[{self.output_names[head.output]}]"
        arr = to_float_array(y, self.dtype, f"{self.name}.{what}")
        if arr.shape[0] != n:
            raise ValueError(
                f"{self.name}.{what}: expected {n} samples (as in x), received {arr.shape[0]}"
            )
        out_shape = out_shapes[head.output]
        if head.loss == "sparse_categorical_crossentropy":
            # One class id per row of the output's last axis: per sample, or per step of a
            # sequence output (labels (n, steps) or (n, steps, 1)).
            ids = int(np.prod(out_shape[:-1], dtype=np.int64))
            if arr.size != n * ids or arr.shape[1 : 1 + len(out_shape) - 1] != out_shape[:-1]:
                expected = (
                    "one class id per sample"
                    if ids == 1
                    else (f"one class id per step, shape {shape_str(out_shape[:-1])}")
                )
                raise ValueError(
                    f"{self.name}.{what}: sparse_categorical_crossentropy expects {expected}, "
                    f"received shape {arr.shape}"
                )
            arr = arr.reshape(n, ids)
            classes = out_shape[-1]
            if np.any(arr != np.round(arr)) or np.any(arr < 0) or np.any(arr >= classes):
                raise ValueError(
                    f"{self.name}.{what}: expected integer class ids in [0, {classes}), received values "
                    f"from {arr.min()} to {arr.max()}"
                )
            return arr
        if arr.shape[1:] == out_shape:
            return arr
        if arr.ndim == 1 and out_shape == (1,):
            return arr.reshape(n, 1)
        if arr.ndim == 2 and arr.shape[1] == 1 and out_shape == ():
            return arr
        hint = ""
        if head.loss == "categorical_crossentropy" and arr.ndim == 1:
            hint = " (integer labels need loss='sparse_categorical_crossentropy', or one-hot encode them)"
        raise ValueError(
            f"{self.name}.{what}: expected targets of shape {shape_str(out_shape)}, received "
            f"{shape_str(arr.shape[1:])}{hint}"
        )

    def _weights_array(self, sample_weight, class_weight, ys: list[np.ndarray], n: int):
        w = None
        if sample_weight is not None:
            w = to_float_array(sample_weight, self.dtype, f"{self.name}.sample_weight")
            if w.size != n:
                raise ValueError(
                    f"{self.name}.sample_weight: expected {n} weights, received shape {w.shape}"
                )
            w = np.ascontiguousarray(w.reshape(n))
            if np.any(w < 0):
                raise ValueError(f"{self.name}.sample_weight: expected weights >= 0")
        if class_weight is not None:
            if not isinstance(class_weight, dict):
                raise TypeError(f"{self.name}.class_weight: expected a dict class -> weight")
            if len(self._heads) != 1:
                raise ValueError(
                    f"{self.name}.class_weight: only models with one output take class weights"
                )
            y = ys[0]
            if self._output_shapes()[self._heads[0].output][:-1]:
                raise ValueError(
                    f"{self.name}.class_weight: not supported for targets of more than 2 "
                    "dimensions (a sequence output); give sample_weight instead"
                )
            if y.shape[1] > 1 and self._heads[0].loss != "sparse_categorical_crossentropy":
                ids = np.argmax(y, axis=1)
            else:
                ids = np.round(y[:, 0]).astype(np.int64)
            cw = np.ones(n, dtype=self.dtype)
            for cls, weight in class_weight.items():
                if (
                    isinstance(cls, bool)
                    or not isinstance(cls, (int, float, np.number))
                    or not float(cls).is_integer()
                ):
                    raise TypeError(
                        f"{self.name}.class_weight: expected integer class ids as keys, received {cls!r}"
                    )
                if isinstance(weight, bool) or not isinstance(weight, (int, float, np.number)):
                    raise TypeError(
                        f"{self.name}.class_weight[{cls}]: expected a number, received {weight!r}"
                    )
                if not (np.isfinite(weight) and weight >= 0):
                    raise ValueError(
                        f"{self.name}.class_weight[{cls}]: expected a finite weight >= 0, received {weight}"
                    )
                cw[ids == int(cls)] = float(weight)
            w = cw if w is None else np.ascontiguousarray(w * cw)
        return w

    # ------------------------------------------------------------------ data sources
    def _input_arrays(self, x, what: str) -> tuple[list[np.ndarray], bool]:
        """The model's input arrays, and whether they are read in place and checked per batch
        (memory-mapped inputs: not converted or scanned up front, so files larger than memory
        train as they are)."""
        if isinstance(x, np.memmap) or (
            isinstance(x, (list, tuple)) and any(isinstance(a, np.memmap) for a in x)
        ):
            self._ensure_graph_for(x, what)
            items = [x] if isinstance(x, np.memmap) else list(x)
            shapes = self._input_shapes()
            if len(items) != len(shapes):
                return self._xs(x, what), False
            out = []
            for item, shape in zip(items, shapes):
                if not isinstance(item, np.memmap):
                    out.append(self._input_array(item, shape, what))
                    continue
                if item.dtype.kind not in "biuf":
                    raise TypeError(
                        f"{self.name}.{what}: expected a memory map of numbers, received dtype {item.dtype}"
                    )
                if item.ndim == 1 and shape == (1,):
                    item = item.reshape(-1, 1)
                if item.shape[1:] != shape or item.shape[0] < 1:
                    raise ValueError(
                        f"{self.name}.{what}: expected input shape {shape_str(shape)}, received "
                        f"{shape_str(item.shape[1:])}"
                    )
                if not item.flags.c_contiguous or not item.dtype.isnative:
                    raise ValueError(
                        f"{self.name}.{what}: expected a C-contiguous memory map in native byte order"
                    )
                out.append(item)
            if len({a.shape[0] for a in out}) > 1:
                raise ValueError(
                    f"{self.name}.{what}: every input needs the same number of samples"
                )
            return out, True
        return self._xs(x, what), False

    def _build_from_source(self, data) -> None:
        """An unbuilt Sequential learns its input shape from the first batch."""
        if self.built or not sources.is_sequence(data):
            return
        x, _, _ = sources.unpack(data[0], "the first batch")
        self._ensure_graph_for(x, "x")

    def _pull(
        self,
        data,
        mode: str,
        what: str,
        *,
        shuffle=False,
        limit=None,
        class_weight=None,
        queue_opts=None,
    ):
        """A batch source over a generator, iterable or PyDataset, checking each batch as
        the arrays of ``mode`` ('fit', 'evaluate', 'predict') are checked."""
        if not self.built and not sources.is_sequence(data):
            one_shot = isinstance(data, sources.Iterator)
            first = next(data if one_shot else iter(data), None)
            if first is None:
                raise ValueError(f"{mode}: the {sources.source_kind(data)} yielded no batches")
            x0, _, _ = sources.unpack(first, "the first batch")
            self._ensure_graph_for(x0, "x")
            if one_shot:
                data = itertools.chain([first], data)
        self._build_from_source(data)

        def convert(item, where):
            x, y, w = sources.unpack(item)
            xs = self._xs(x)
            n = xs[0].shape[0]
            if mode == "predict":
                return xs, [], None
            if y is None:
                raise ValueError(
                    "expected batches of (x, y) or (x, y, sample_weight), received x alone"
                )
            ys = self._ys(y, n)
            return xs, ys, self._weights_array(w, class_weight, ys, n)

        if self._seed is None:
            self._seed = next_seed()
        return sources.Pull(
            data, convert, bool(shuffle), int(self._seed), limit, what, queue_opts or {}
        )

    @staticmethod
    def _queue_opts(max_queue_size, workers, use_multiprocessing, data, what: str):
        opts = {
            "max_queue_size": max_queue_size,
            "workers": workers,
            "use_multiprocessing": use_multiprocessing,
        }
        if all(v is None for v in opts.values()):
            return None
        if not sources.is_source(data):
            raise ValueError(
                f"{what}: max_queue_size, workers and use_multiprocessing apply to generators and "
                "Sequences, not to arrays"
            )
        if max_queue_size is not None:
            check_int(max_queue_size, f"{what}(max_queue_size)", 1)
        if workers is not None:
            check_int(workers, f"{what}(workers)", 0)
        return opts

    def _stopped(
        self, call: str, stop: int, phase: int, epoch: int, batch: int, error, data, steps
    ):
        """Raises what ended a core call early: the exception it kept (Ctrl-C, a callback's
        or a source's error), or a source that ran out of batches."""
        if error is not None:
            raise error
        if stop != _RAN_OUT:
            return
        kind = sources.source_kind(data) if sources.is_source(data) else "arrays"
        where = (
            "the validation data"
            if phase == callbacks_module.TEST and call == "fit"
            else f"the {kind}"
        )
        steps_name = (
            "validation_steps"
            if phase == callbacks_module.TEST and call == "fit"
            else ("steps_per_epoch" if call == "fit" else "steps")
        )
        if batch == 0 and steps is None:
            hint = ""
            if epoch > 0 and isinstance(data, sources.Iterator):
                hint = (
                    f": a generator is used up by its first epoch; pass {steps_name} with a "
                    "generator that loops forever, or use a Sequence"
                )
            raise ValueError(f"{call}: {where} yielded no batches in epoch {epoch + 1}{hint}")
        raise ValueError(
            f"{call}: {where} ran out of data after {batch} batch(es) of epoch {epoch + 1}; "
            f"expected {steps_name}={steps}: a generator must yield that many batches for every "
            "epoch (make it loop forever), or pass fewer steps"
        )

    # ------------------------------------------------------------------ training
    @_exclusive_training
    def fit(
        self,
        x=None,
        y=None,
        batch_size=None,
        epochs=1,
        verbose="auto",
        callbacks=None,
        validation_split=0.0,
        validation_data=None,
        shuffle=True,
        class_weight=None,
        sample_weight=None,
        initial_epoch=0,
        steps_per_epoch=None,
        validation_steps=None,
        validation_batch_size=None,
        validation_freq=1,
        max_queue_size=None,
        workers=None,
        use_multiprocessing=None,
    ):
        """Train for ``epochs`` epochs on arrays (in memory or memory-mapped), a generator or
        iterable of batches, or a ``PyDataset``/``Sequence``; returns a History whose
        ``history`` dict holds the loss, the metrics and their ``val_`` forms per epoch.
        Ctrl-C stops within a batch: the completed epochs stay in ``model.history``, the
        weights are those of the last completed step, and fit can be called again."""
        if not self.compiled:
            raise ValueError(f"{self.name}: call compile() before fit()")
        batch_arg = None if batch_size is None else check_int(batch_size, "fit(batch_size)", 1)
        batch_size = 32 if batch_arg is None else batch_arg
        epochs = check_int(epochs, "fit(epochs)", 0)
        initial_epoch = check_int(initial_epoch, "fit(initial_epoch)", 0)
        verbose = _verbose(verbose, "fit")
        runs = max(epochs - initial_epoch, 0)
        if steps_per_epoch is not None:
            steps_per_epoch = check_int(steps_per_epoch, "fit(steps_per_epoch)", 1)
        if validation_steps is not None:
            validation_steps = check_int(validation_steps, "fit(validation_steps)", 1)
        flags = _validation_flags(validation_freq, initial_epoch, runs)
        queue_opts = self._queue_opts(max_queue_size, workers, use_multiprocessing, x, "fit")
        pulls: list[sources.Pull] = []
        check = False
        split_val = None
        if sources.is_source(x):
            for name, value in (("y", y), ("sample_weight", sample_weight)):
                if value is not None:
                    raise ValueError(
                        f"fit: {name} must not be given when x is a {sources.source_kind(x)} "
                        "(its batches hold the targets and weights)"
                    )
            if validation_split:
                raise ValueError(
                    "fit: validation_split needs arrays; pass validation_data with a generator or Sequence"
                )
            if sources.is_sequence(x):
                n_batches = len(x)
                if n_batches < 1:
                    raise ValueError(f"fit: the {sources.source_kind(x)} has no batches (len 0)")
                if steps_per_epoch is not None and steps_per_epoch > n_batches:
                    raise ValueError(
                        f"fit: steps_per_epoch={steps_per_epoch} exceeds the {sources.source_kind(x)}'s "
                        f"{n_batches} batches"
                    )
            limit = None if steps_per_epoch is None else steps_per_epoch * runs
            train = self._pull(
                x,
                "fit",
                "fit",
                shuffle=shuffle,
                limit=limit,
                class_weight=class_weight,
                queue_opts=queue_opts,
            )
            pulls.append(train)
            steps = steps_per_epoch or (len(x) if sources.is_sequence(x) else None)
        else:
            xs, check = self._input_arrays(x, "x")
            n = xs[0].shape[0]
            ys = self._ys(y, n)
            w = self._weights_array(sample_weight, class_weight, ys, n)
            xv = yv = wv = None
            if validation_data is None and validation_split:
                if not 0.0 < float(validation_split) < 1.0:
                    raise ValueError(
                        f"fit: expected 0 < validation_split < 1, received {validation_split}"
                    )
                split = int(n * (1.0 - float(validation_split)))
                if split < 1 or split >= n:
                    raise ValueError(
                        f"fit: validation_split={validation_split} leaves no training or validation rows of {n}"
                    )

                def cut(arrays):
                    head = [
                        a[:split] if isinstance(a, np.memmap) else np.ascontiguousarray(a[:split])
                        for a in arrays
                    ]
                    tail = [
                        a[split:] if isinstance(a, np.memmap) else np.ascontiguousarray(a[split:])
                        for a in arrays
                    ]
                    return head, tail

                xs, xv = cut(xs)
                ys, yv = cut(ys)
                if w is not None:
                    (w,), (wv,) = cut([w])
                n = split
                split_val = [
                    xv,
                    yv,
                    wv,
                    xv[0].shape[0],
                    False,
                    check,
                    "fit: x (its validation_split part)",
                    split,
                ]
            stateful = self._stateful_rows(batch_arg, n, "fit", shuffle)
            if stateful is not None:
                batch_size = stateful
                if split_val is not None:
                    self._stateful_rows(None, split_val[3], "fit (validation_split)")
                    split_val[3] = batch_size
            batches = -(-n // batch_size)
            if steps_per_epoch is not None and steps_per_epoch > batches:
                raise ValueError(
                    f"fit: steps_per_epoch={steps_per_epoch} exceeds the {batches} batches of "
                    f"{batch_size} in {n} samples"
                )
            train = (xs, ys, w, batch_size, bool(shuffle), check, "fit: x", 0)
            steps = steps_per_epoch or batches
        net = self._network(training=True)
        val = split_val
        val_check = False
        if validation_data is not None:
            if sources.is_source(validation_data):
                val = self._pull(validation_data, "evaluate", "fit(validation_data)")
                pulls.append(val)
            else:
                if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (
                    2,
                    3,
                ):
                    raise ValueError(
                        "fit: expected validation_data as (x_val, y_val) or (x_val, y_val, sample_weight)"
                    )
                xv, val_check = self._input_arrays(validation_data[0], "validation_data[0]")
                nv = xv[0].shape[0]
                yv = self._ys(validation_data[1], nv, "validation_data[1]")
                wv = None
                if len(validation_data) == 3 and validation_data[2] is not None:
                    wv = self._weights_array(validation_data[2], None, yv, nv)
                val = [xv, yv, wv, nv, False, val_check, "fit: validation_data[0]", 0]
                stateful_val = self._stateful_rows(None, nv, "fit (validation_data)")
                if stateful_val is not None:
                    val[3] = stateful_val
        keys = self._result_keys()
        python_metrics = self._check_python_metrics("fit", x, validation_data)
        extra = None
        if python_metrics:  # (arrays, checked above: train is a tuple, val a list or None)
            train_data, val_data = train, val

            def extra(validated: bool) -> dict:
                logs = self._python_logs(python_metrics, *train_data[:3])
                if validated and val_data is not None:
                    xv, yv, wv = val_data[:3]
                    logs.update(self._python_logs(python_metrics, xv, yv, wv, prefix="val_"))
                return logs

        history = callbacks_module.History()
        user_cbs = _callback_list(callbacks, "fit")
        params = {
            "verbose": verbose,
            "epochs": epochs,
            "steps": steps,
            "initial_epoch": initial_epoch,
            "validate": flags,
        }
        progbar = callbacks_module.ProgbarLogger(verbose) if verbose else None
        val_keys = ["val_" + k for k in keys] if val is not None else []
        cbl = callbacks_module.CallbackList(
            user_cbs, self, net, params, keys, val_keys, progbar, history, extra
        )
        if isinstance(val, list):
            # Whole-array validation runs in inference chunks; batches of validation_batch_size
            # only when a callback asks for test batches or validation_steps counts them.
            if (
                validation_steps is not None
                or (callbacks_module.TEST, callbacks_module.BATCH_END) in cbl.wanted
                or (
                    callbacks_module.TEST,
                    callbacks_module.BATCH_BEGIN,
                )
                in cbl.wanted
            ):
                val[3] = check_int(
                    validation_batch_size or batch_size, "fit(validation_batch_size)", 1
                )
            val = tuple(val)
        hooks = cbl if (cbl.wanted or cbl.ticks) else None
        self.history = history
        self.stop_training = False
        cbl.call("on_train_begin", {})
        net.set_schedule(self.optimizer._lr_spec())
        first_step = self.optimizer.iterations
        try:
            rows, iterations, stop, phase, s_epoch, s_batch, error = net.fit(
                train,
                val,
                runs,
                initial_epoch,
                -1 if steps_per_epoch is None else steps_per_epoch,
                -1 if validation_steps is None else validation_steps,
                flags,
                False,
                self.optimizer.iterations,
                hooks,
            )
        finally:
            for pull in pulls:
                pull.close()
        self.optimizer.iterations = iterations
        if not cbl.epoch_events:
            if flags is None:
                history.extend(
                    range(initial_epoch, initial_epoch + len(rows)), keys + val_keys, rows
                )
            else:
                for e, row in enumerate(rows):
                    history.on_epoch_end(initial_epoch + e, cbl.epoch_logs(e, row))
        cbl.catch_up(len(rows), rows)
        if progbar is not None and progbar._drawn:
            progbar._write("\n")
        if not any(isinstance(c, callbacks_module.TerminateOnNaN) for c in user_cbs):
            self._warn_nonfinite_loss(rows, initial_epoch)  # (TerminateOnNaN reports it)
        self._stopped(
            "fit",
            stop,
            phase,
            s_epoch,
            s_batch,
            error,
            x if phase == 0 else validation_data,
            steps_per_epoch if phase == 0 else validation_steps,
        )
        if self.optimizer.use_ema and iterations > first_step:
            # As Keras's fit ends: the trained weights become their moving averages.
            for layer, w in self._layer_weights():
                if self._trains(layer, w):
                    np.copyto(w.value, self._slots[w][-1])
        cbl.call("on_train_end", {})
        return history

    def fit_generator(
        self,
        generator,
        steps_per_epoch=None,
        epochs=1,
        verbose=1,
        callbacks=None,
        validation_data=None,
        validation_steps=None,
        validation_freq=1,
        class_weight=None,
        max_queue_size=10,
        workers=1,
        use_multiprocessing=False,
        shuffle=True,
        initial_epoch=0,
    ):
        """Keras 2's name: fit on a generator or Sequence."""
        return self.fit(
            generator,
            steps_per_epoch=steps_per_epoch,
            epochs=epochs,
            verbose=verbose,
            callbacks=callbacks,
            validation_data=validation_data,
            validation_steps=validation_steps,
            validation_freq=validation_freq,
            class_weight=class_weight,
            max_queue_size=max_queue_size,
            workers=workers,
            use_multiprocessing=use_multiprocessing,
            shuffle=shuffle,
            initial_epoch=initial_epoch,
        )

    @_exclusive_training
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on this batch; returns the loss (and metrics)."""
        step = self._step
        if (
            step is not None
            and sample_weight is None
            and class_weight is None
            and type(x) is np.ndarray
            and type(y) is np.ndarray
            and step.net is self._net
            and step.fits(x, y)
        ):
            # The arrays are as a previous call's checks left them (dtype, layout, shapes):
            # the core checks their values, and the step skips the conversions.
            opt = self.optimizer
            assert opt is not None
            lr = opt._lr_spec()
            if lr != step.lr:
                step.net.set_schedule(lr)
                step.lr = lr
            out, it = step.net.train_on_batch([x], [y], None, opt._iterations, True)
            if out is not None:
                if it > MAX_INT:
                    opt.iterations = it  # refuses, as the full path does
                opt._iterations = it
                if len(out) == 1 and not return_dict:
                    return float(out[0])
                return self._results(out, return_dict)
        xs = self._xs(x)
        ys = self._ys(y, xs[0].shape[0])
        w = self._weights_array(sample_weight, class_weight, ys, xs[0].shape[0])
        net = self._network(training=True)
        python_metrics = self._check_python_metrics("train_on_batch")
        lr = self.optimizer._lr_spec()
        net.set_schedule(lr)
        out, self.optimizer.iterations = net.train_on_batch(xs, ys, w, self.optimizer.iterations)
        extra = self._python_logs(python_metrics, xs, ys, w)  # (on the updated weights)
        self._step = _Step.of(self, net, x, xs, y, ys, lr, python_metrics, w)
        return self._results([*out, *extra.values()], return_dict)

    def _results(self, values, return_dict):
        values = [float(v) for v in values]
        if return_dict:
            return dict(zip(self.metrics_names, values))
        return values[0] if len(values) == 1 else values

    def evaluate(
        self,
        x=None,
        y=None,
        batch_size=None,
        verbose="auto",
        sample_weight=None,
        steps=None,
        callbacks=None,
        return_dict=False,
        max_queue_size=None,
        workers=None,
        use_multiprocessing=None,
    ):
        """Loss (and metrics) in inference mode over arrays, a generator or a PyDataset:
        ``[loss, *metrics]`` or the loss alone."""
        batch_arg = None if batch_size is None else check_int(batch_size, "evaluate(batch_size)", 1)
        batch_size = 32 if batch_arg is None else batch_arg
        if steps is not None:
            steps = check_int(steps, "evaluate(steps)", 1)
        verbose = _verbose(verbose, "evaluate")
        queue_opts = self._queue_opts(max_queue_size, workers, use_multiprocessing, x, "evaluate")
        cbs = _callback_list(callbacks, "evaluate")
        pull = data = None
        if sources.is_source(x):
            if y is not None or sample_weight is not None:
                raise ValueError(
                    "evaluate: y and sample_weight come from the batches of a generator or Sequence"
                )
            pull = data = self._pull(x, "evaluate", "evaluate", limit=steps, queue_opts=queue_opts)
        else:
            xs, check = self._input_arrays(x, "x")
            ys = self._ys(y, xs[0].shape[0])
            w = self._weights_array(sample_weight, None, ys, xs[0].shape[0])
        net = self._network(training=True)  # (after the data: an unbuilt Sequential builds from it)
        python_metrics = self._check_python_metrics("evaluate", x)
        stateful = self._stateful_rows(batch_arg, None if data else xs[0].shape[0], "evaluate")
        if stateful is not None:
            batch_size = stateful
        keys = self._result_keys()
        cbl = None
        if cbs:
            params = {"verbose": verbose, "steps": steps}
            cbl = callbacks_module.CallbackList(cbs, self, net, params, keys)
        if data is None:
            per_batch = steps is not None or (
                cbl is not None and any(pe[0] == callbacks_module.TEST for pe in cbl.wanted)
            )
            rows = batch_size if per_batch or stateful else xs[0].shape[0]
            data = (xs, ys, w, rows, False, check, "evaluate: x", 0)
        progress = None
        if verbose:
            progress = _InferenceProgress(
                verbose, steps or _batches(x, batch_size), batch_size, pull is None
            )
        hooks = _Hooks.make(cbl, progress, keys)
        try:
            out, seen, stop, s_batch, error = net.evaluate(
                data, -1 if steps is None else steps, hooks
            )
        finally:
            if pull is not None:
                pull.close()
        if error is None and python_metrics:  # over the rows evaluated (all, unless steps)
            rows_of = (
                [a[:seen] for a in xs],
                [a[:seen] for a in ys],
                None if w is None else w[:seen],
            )
            out = [*out, *self._python_logs(python_metrics, *rows_of).values()]
        if error is None and progress is not None:
            progress.finish(dict(zip(self.metrics_names, out)))
        self._stopped("evaluate", stop, callbacks_module.TEST, 0, s_batch, error, x, steps)
        if not all(np.isfinite(out)):
            self._warn_nonfinite_weights("evaluate")
        return self._results(out, return_dict)

    evaluate_generator = _keras2_generator_call("evaluate")

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        return self.evaluate(x, y, sample_weight=sample_weight, verbose=0, return_dict=return_dict)

    # ------------------------------------------------------------------ inference
    def predict(
        self,
        x,
        batch_size=None,
        verbose="auto",
        steps=None,
        callbacks=None,
        training=False,
        max_queue_size=None,
        workers=None,
        use_multiprocessing=None,
    ):
        """Outputs for ``x`` - arrays, a generator or a PyDataset (a list, or a dict if the
        outputs were given as one, for several outputs). ``training=True`` keeps dropout on
        (Monte-Carlo dropout): new masks on every call, from the model's seed."""
        batch_arg = None if batch_size is None else check_int(batch_size, "predict(batch_size)", 1)
        batch_size = 32 if batch_arg is None else batch_arg
        if steps is not None:
            steps = check_int(steps, "predict(steps)", 1)
        verbose = _verbose(verbose, "predict")
        queue_opts = self._queue_opts(max_queue_size, workers, use_multiprocessing, x, "predict")
        cbs = _callback_list(callbacks, "predict")
        pull = None
        if sources.is_source(x):
            pull = data = self._pull(x, "predict", "predict", limit=steps, queue_opts=queue_opts)
            net = self._network(training=False)
        else:
            xs, check = self._input_arrays(x, "x")
            net = self._network(training=False)
            data = None
        stateful = self._stateful_rows(batch_arg, None if data else xs[0].shape[0], "predict")
        if stateful is not None:
            batch_size = stateful
        cbl = None
        if cbs:
            params = {"verbose": verbose, "steps": steps}
            cbl = callbacks_module.CallbackList(cbs, self, None, params, [])
        if data is None:
            per_batch = steps is not None or (
                cbl is not None and any(pe[0] == callbacks_module.PREDICT for pe in cbl.wanted)
            )
            data = (
                xs,
                None,
                None,
                batch_size if per_batch or stateful else xs[0].shape[0],
                False,
                check,
                "predict: x",
                0,
            )
        progress = None
        if verbose == 1 and sys.stdout.isatty():  # predict prints only a bar it drew
            progress = _InferenceProgress(
                verbose, steps or _batches(x, batch_size), batch_size, pull is None, logs=False
            )
        hooks = _Hooks.make(cbl, progress, [])
        mc = self._next_mc_calls(1) if training else -1
        try:
            out, rows, stop, s_batch, error, finite = net.predict(
                data, -1 if steps is None else steps, mc, 0, hooks
            )
        finally:
            if pull is not None:
                pull.close()
        if error is None and progress is not None:
            progress.finish(None)
        self._stopped("predict", stop, callbacks_module.PREDICT, 0, s_batch, error, x, steps)
        if not finite:
            self._warn_nonfinite_weights("predict")
        return self._structure_outputs(out, rows)

    predict_generator = _keras2_generator_call("predict")

    def predict_classes(self, x, batch_size=32, verbose=0):
        """Keras 2's class predictions: the argmax of each row for several output units,
        else (probability > 0.5) as int32 of shape (samples, 1)."""
        proba = self.predict(x, batch_size=batch_size, verbose=verbose)
        if isinstance(proba, (list, dict)):
            raise TypeError(f"{self.name}.predict_classes: needs a model with one output")
        if proba.shape[-1] > 1:
            return proba.argmax(axis=-1)
        return (proba > 0.5).astype("int32")

    def predict_proba(self, x, batch_size=32, verbose=0):
        """Keras 2's name for ``predict``, warning when the outputs are not probabilities."""
        proba = self.predict(x, batch_size=batch_size, verbose=verbose)
        for out in proba if isinstance(proba, list) else [proba]:
            if out.size and (out.min() < 0.0 or out.max() > 1.0):
                warnings.warn(
                    f"{self.name}.predict_proba: the network returns values outside [0, 1] "
                    "(is its last activation a softmax or a sigmoid?)",
                    UserWarning,
                    stacklevel=2,
                )
        return proba

    def _structure_outputs(self, out, n: int):
        shapes = self._output_shapes()
        if len(shapes) == 1 and self._output_keys is None:
            return out.reshape((n,) + tuple(shapes[0]))
        outs = [
            o.reshape((n,) + tuple(s)) for o, s in zip(out if len(shapes) > 1 else [out], shapes)
        ]
        if self._output_keys is not None:
            return dict(zip(self._output_keys, outs))
        return outs

    def _next_mc_calls(self, n: int) -> int:
        """Reserve n Monte-Carlo call numbers (each draws its own masks); returns the first."""
        with self._lock:
            first = self._mc_calls
            self._mc_calls += n
            return first

    def predict_on_batch(self, x):
        return self.predict(x, verbose=0)

    def __call__(self, x, training=False):
        if isinstance(x, KerasTensor) or (
            isinstance(x, (list, tuple)) and any(isinstance(t, KerasTensor) for t in x)
        ):
            raise TypeError(
                f"{self.name}: calling a model on symbolic tensors (a model as a layer) is not "
                "supported; build one Model from the layers instead"
            )
        return self.predict(x, training=training, verbose=0)

    def predict_mc(self, x, n=100, batch_size=None):
        """Monte-Carlo dropout: (mean, std) of ``n`` stochastic forward passes (per output,
        for several outputs). The core runs the ``n`` passes over a chunk of rows at a time
        and keeps only that chunk's running mean and spread (Welford's, in float64), so
        memory grows with the rows, not with ``n``."""
        n = check_int(n, "predict_mc(n)", 1)
        xs, check = self._input_arrays(x, "x")
        rows = xs[0].shape[0]
        net = self._network(training=False)
        if self._stateful_batch() is not None:
            raise ValueError(
                "predict_mc: a stateful model's passes would each move its carried states; "
                "call predict(x, training=True) once per pass instead"
            )
        # Masks depend on each row alone, so batch_size only bounds each call's rows.
        batch = rows if batch_size is None else check_int(batch_size, "predict_mc(batch_size)", 1)
        first = self._next_mc_calls(n)
        outs, _, stop, s_batch, error, finite = net.predict(
            (xs, None, None, batch, False, check, "predict_mc: x", 0), -1, first, n, None
        )
        self._stopped("predict_mc", stop, callbacks_module.PREDICT, 0, s_batch, error, x, None)
        k = len(outs) // 2
        shapes = self._output_shapes()
        means = [o.reshape((rows,) + tuple(s)) for o, s in zip(outs[:k], shapes)]
        stds = [o.reshape((rows,) + tuple(s)) for o, s in zip(outs[k:], shapes)]
        if not finite:
            self._warn_nonfinite_weights("predict_mc")
        if len(shapes) == 1:
            return means[0], stds[0]
        return means, stds

    # ------------------------------------------------------------------ weights
    @property
    def weights(self) -> list[Weight]:
        return [w for _, w in self._layer_weights()]

    @property
    def trainable_weights(self) -> list[Weight]:
        if not self.trainable:
            return []
        return [w for layer in self._weight_layers() for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self) -> list[Weight]:
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    def get_weights(self) -> list[np.ndarray]:
        with self._holding("get_weights"):
            return [w.numpy() for w in self.weights]

    def set_weights(self, weights) -> None:
        weights = list(weights)
        own = self.weights
        if len(weights) != len(own):
            raise ValueError(
                f"{self.name}.set_weights: expected {len(own)} arrays, received {len(weights)}"
            )
        with self._holding("set_weights"):
            for w, new in zip(own, weights):
                w.assign(new)

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(
                f"{self.name}: the model is not built yet; give the first layer an input_shape"
            )
        return int(sum(layer.count_params() for layer in self._weight_layers()))

    # ------------------------------------------------------------------ description
    def _summary_rows(self) -> tuple[list[tuple[Layer, str, str]], bool]:
        """(layer, output shape, connected to) per layer, as Keras lists them, and whether
        the graph is a plain chain (then Keras leaves out the "Connected to" column)."""
        calls: dict[int, list[Node]] = {}
        for node in self._nodes:
            calls.setdefault(id(node.layer), []).append(node)
        read = [id(t) for node in self._nodes for t in node.inputs]
        chain = (
            len(self._inputs) == 1
            and all(len(node.inputs) == 1 for node in self._nodes)
            and all(len(c) == 1 for c in calls.values())
            and len(set(read)) == len(read)
        )
        rows = []
        for layer in self.layers:
            nodes = calls.get(id(layer), [])
            outputs = nodes[-1].outputs if nodes else [t for t in self._inputs if t.layer is layer]
            shapes = [shape_str(t.shape) for t in outputs]
            shape = shapes[0] if len(shapes) == 1 else f"[{', '.join(shapes)}]"
            sources = [
                f"{u.layer.name}[{self._call_index(u.node)}][{u._index}]"
                for node in nodes
                for u in node.inputs
                if u.layer is not None
            ]
            rows.append((layer, shape, ", ".join(sources) or "-"))
        return rows, chain

    def _call_index(self, node: Node | None) -> int:
        """The position of `node` among this model's calls of its layer."""
        if node is None or isinstance(node.layer, InputLayer):
            return 0
        calls = [m for m in self._nodes if m.layer is node.layer]
        return next(i for i, m in enumerate(calls) if m is node)

    def summary(
        self,
        line_length=None,
        positions=None,
        print_fn=None,
        expand_nested=False,
        show_trainable=False,
        layer_range=None,
    ):
        """Print Keras 3's table of the layers: name and class, output shape, parameter
        count and (unless the graph is a chain) the layers each one reads; then the
        parameter totals. ``line_length`` defaults to Keras's (88, or 108 with the
        "Connected to" column) within the terminal's width; ``layer_range`` = [first name,
        last name] prints part of the table."""
        del expand_nested  # no layer nests a model
        rows, chain = self._summary_rows()
        if layer_range is not None:
            names = [layer.name for layer, _, _ in rows]
            if (
                not isinstance(layer_range, (list, tuple))
                or len(layer_range) != 2
                or not set(layer_range) <= set(names)
            ):
                raise ValueError(
                    f"{self.name}.summary(layer_range): expected [first name, last name] among "
                    f"{names}, received {layer_range!r}"
                )
            first, last = (
                names.index(layer_range[0]),
                len(names) - names[::-1].index(layer_range[1]),
            )
            rows = rows[first:last]
        header = ["Layer (type)", "Output Shape", "Param #"]
        align = ["<", "<", ">"]
        default, cuts = (88, [0.45, 0.80, 1.0]) if chain else (108, [0.3, 0.56, 0.74, 1.0])
        if not chain:
            header.append("Connected to")
            align.append("<")
        if show_trainable:
            default += 12
            cuts = [c * 0.90 for c in cuts] + [1.0]
            header.append("Trainable")
            align.append("^")
        if positions is not None:
            cuts = [float(p) for p in positions]
        width = line_length or min(default, shutil.get_terminal_size().columns - 4)
        table = []
        for layer, shape, reads in rows:
            count = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
            cells = [f"{layer.name} ({type(layer).__name__})", shape, count]
            if not chain:
                cells.append(reads)
            if show_trainable:
                cells.append(("Y" if layer.trainable else "N") if layer.weights else "-")
            table.append(cells)
        itemsize = np.dtype(self.dtype).itemsize
        total = self.count_params()
        trainable = sum(int(w.value.size) for w in self.trainable_weights)
        lines = [f'Model: "{self.name}"', *_box_table(header, align, cuts, width, table)]
        for what, count in (
            ("Total", total),
            ("Trainable", trainable),
            ("Non-trainable", total - trainable),
        ):
            lines.append(f" {what} params: {count:,} ({_bytes(count * itemsize)})")
        slots = sum(int(a.size) for arrays in self._slots.values() for a in arrays)
        if slots:
            lines.append(f" Optimizer params: {slots:,} ({_bytes(slots * itemsize)})")
        for line in lines:
            (print_fn or print)(line)

    def get_config(self) -> dict:
        """The graph: every layer's class and configuration, then each call of a layer as
        the layers (and call numbers) it reads."""
        layers = self.layers
        position = {id(layer): i for i, layer in enumerate(layers)}

        def ref(t: KerasTensor) -> list[int]:
            """[layer, call of it] (and which output of the call, when not the first)."""
            assert t.layer is not None
            out = [position[id(t.layer)], self._call_index(t.node)]
            return out + [t._index] if t._index else out

        return {
            "name": self.name,
            "layers": [
                {"class_name": type(layer).__name__, "config": layer.get_config()}
                for layer in layers
            ],
            "nodes": [
                {"layer": position[id(node.layer)], "inputs": [ref(t) for t in node.inputs]}
                for node in self._nodes
            ],
            "inputs": [ref(t) for t in self._inputs],
            "outputs": [ref(t) for t in self._outputs],
            "input_keys": self._input_keys,
            "output_keys": self._output_keys,
        }

    @classmethod
    def from_config(cls, config: dict, max_weight_elements: int | None = None) -> Model:
        """The model a ``get_config()`` describes: its layers created from their configs,
        then called on each other in the stored order, as a user builds it. With
        ``max_weight_elements`` (a file's tensor sizes), building stops before allocating
        more weights than the file can fill. Malformed configs raise ValueError."""
        bad = saving.bad_file
        if not isinstance(config, dict):
            raise bad("model config must be an object")
        for key in ("layers", "nodes", "inputs", "outputs"):
            if not isinstance(config.get(key), list):
                raise bad(f"functional model config needs a list {key!r}")
        layers = [saving.layer_from_entry(spec) for spec in config["layers"]]
        # Per layer, the outputs of each of its calls so far.
        calls: list[list[list[KerasTensor]]] = [
            [[layer.output]] if isinstance(layer, InputLayer) else [] for layer in layers
        ]

        def tensor(ref, what):
            li, ci, k = saving.tensor_ref(ref, what)
            if li >= len(layers) or ci >= len(calls[li]):
                raise bad(f"{what}: {ref!r} refers to a call that has not happened yet")
            if k >= len(calls[li][ci]):
                raise bad(f"{what}: {ref!r} refers to an output the call does not have")
            return calls[li][ci][k]

        try:
            with weight_budget(max_weight_elements):
                for k, node in enumerate(config["nodes"]):
                    if not isinstance(node, dict) or not isinstance(node.get("inputs"), list):
                        raise bad(f"node {k}: expected an object with a list of inputs")
                    li = node.get("layer")
                    if not isinstance(li, int) or isinstance(li, bool) or not 0 <= li < len(layers):
                        raise bad(f"node {k}: bad layer index {li!r}")
                    layer = layers[li]
                    if isinstance(layer, InputLayer):
                        raise bad(f"node {k}: an Input layer is never called")
                    ins = [tensor(r, f"node {k} input") for r in node["inputs"]]
                    if not ins:
                        raise bad(f"node {k}: a call needs at least one input")
                    layer._call_node_inputs(ins)
                    calls[li].append(list(layer._inbound_nodes[-1].outputs))
        except (TypeError, ValueError, OverflowError) as exc:
            if str(exc).startswith(saving.BAD_FILE):
                raise
            raise bad(f"architecture does not build: {exc}") from None
        structures = []
        for key, refs in (("input_keys", config["inputs"]), ("output_keys", config["outputs"])):
            items = [tensor(r, key.split("_")[0]) for r in refs]
            keys = config.get(key)
            if keys is not None and (
                not isinstance(keys, list)
                or len(keys) != len(items)
                or not all(isinstance(v, str) for v in keys)
            ):
                raise bad(f"bad {key} {keys!r}")
            structures.append(
                dict(zip(keys, items)) if keys else items[0] if len(items) == 1 else items
            )
        name = config.get("name")
        try:
            return cls(structures[0], structures[1], name=name if isinstance(name, str) else None)
        except (TypeError, ValueError) as exc:
            raise bad(f"architecture does not connect: {exc}") from None

    def to_json(self, **kwargs) -> str:
        """The architecture as JSON (Keras's ``to_json``; ``kwargs`` go to json.dumps):
        ``model_from_json`` rebuilds it with fresh weights."""
        return json.dumps({"class_name": self.file_class, "config": self.get_config()}, **kwargs)

    # ------------------------------------------------------------------ saving
    def save(self, filepath, overwrite=True, include_optimizer=True, save_format=None, **kwargs):
        """Save architecture, weights and compile state to one file (docs/model-format.md),
        whatever the file's extension (``model.h5`` too). ``include_optimizer=False``
        (Keras 2) leaves the optimizer's state out."""
        if kwargs:
            raise TypeError(f"save: unexpected keyword argument(s) {', '.join(sorted(kwargs))}")
        if save_format not in (None, "dropnet"):
            raise ValueError(
                f"save(save_format={save_format!r}): dropnet writes its own format only "
                "(docs/model-format.md), read back by dropnet.models.load_model"
            )
        with self._holding("save"):
            saving.save_model(
                self, filepath, overwrite=overwrite, include_optimizer=bool(include_optimizer)
            )

    def save_weights(self, filepath, overwrite=True) -> None:
        with self._holding("save_weights"):
            saving.save_model(self, filepath, overwrite=overwrite, weights_only=True)

    def load_weights(self, filepath) -> None:
        with self._holding("load_weights"):
            saving.load_weights_into(self, filepath)

    def __getstate__(self):
        buf = io.BytesIO()
        saving.save_model(self, buf)
        # Python metric functions travel by reference (pickle's way with functions).
        functions = {
            metrics_module.function_name(m): m
            for h in self._heads
            for m in h.metrics
            if metrics_module.is_python_function(m)
        }
        return {
            "dropnet_model": buf.getvalue(),
            "seed": self._seed,
            "mc_calls": self._mc_calls,
            "functions": functions,
        }

    def __setstate__(self, state):
        other = load_model(
            io.BytesIO(state["dropnet_model"]), custom_objects=state.get("functions")
        )
        self.__dict__.update(other.__dict__)
        self._seed = state.get("seed")
        self._mc_calls = state.get("mc_calls", 0)
        self._net = None

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, layers={len(self.layers)}>"


class Sequential(Model):
    """A linear stack of layers, with Keras's ``add / compile / fit / evaluate / predict``:
    the chain case of ``Model``. Once it has an input shape, its layers are also called on
    symbolic tensors, so ``model.inputs``, ``layer.output`` and sub-models work."""

    file_class = "Sequential"

    def __init__(self, layers=None, name=None, trainable=True):
        self._init_state(name or unique_name("sequential"), trainable)
        self._layers: list[Layer] = []
        self._input_shape: tuple[int, ...] | None = None
        self._input_layer: InputLayer | None = None
        self._graph_stale = True
        # The constructor's layers are built once, together (add() builds as it goes, which
        # would make a long list quadratic).
        self._adding_many = True
        try:
            for layer in layers or []:
                self.add(layer)
        finally:
            self._adding_many = False
        if self._layers and self._input_shape is not None:
            self._build_layers(self._input_shape)
            self._ensure_graph()

    # ------------------------------------------------------------------ structure
    def add(self, layer) -> None:
        """Append a layer (an ``Input(shape=...)`` first declares the input shape)."""
        if isinstance(layer, KerasTensor) and isinstance(layer.layer, InputLayer):
            layer = layer.layer
        if isinstance(layer, InputLayer):
            if self._layers:
                raise ValueError(f"{self.name}: Input must come before every other layer")
            self._input_shape = layer.shape
            self._input_layer = layer
            self._dtype = layer._dtype_arg
            self._changed()
            return
        if isinstance(layer, Sequential):
            for inner in layer.layers:
                self.add(inner)
            return
        if not isinstance(layer, Layer):
            raise TypeError(
                f"{self.name}.add: expected a dropnet layer, received {type(layer).__name__}"
            )
        if layer.multiple_inputs:
            raise TypeError(
                f"{self.name}.add: {type(layer).__name__} merges several tensors; use the "
                "functional API (Model(inputs, outputs))"
            )
        self._check_single_output(layer, f"{self.name}.add")
        if id(layer) in self._layer_ids():
            raise ValueError(f"{self.name}.add: layer {layer.name!r} is already in the model")
        if not self._layers and self._input_shape is None and layer._input_shape_arg is not None:
            self._input_shape = layer._input_shape_arg
        if not self._layers and self._dtype is None:
            self._dtype = layer._dtype_arg
        self._layers.append(layer)
        self._ids.add(id(layer))
        self._changed()
        if self._input_shape is not None and not getattr(self, "_adding_many", False):
            try:
                self._build_layers(self._input_shape)
                self._ensure_graph()
            except Exception:
                self._layers.pop()
                self._ids.discard(id(layer))
                self._changed()
                raise

    @staticmethod
    def _check_single_output(layer: Layer, what: str) -> None:
        if layer._output_count() > 1:
            raise ValueError(
                f"{what}: {layer.name} ({type(layer).__name__}) returns several tensors "
                "(return_state=True, or Bidirectional(merge_mode=None)); every layer of a "
                "Sequential model must have a single output: use the functional API"
            )

    def _layer_ids(self) -> set[int]:
        """ids of the layers, kept with the list (a set: adding many layers stays linear)."""
        ids = getattr(self, "_ids", None)
        if ids is None or len(ids) != len(self._layers):
            self._ids = ids = {id(layer) for layer in self._layers}
        return ids

    def pop(self) -> Layer:
        if not self._layers:
            raise ValueError(f"{self.name}: there are no layers to remove")
        layer = self._layers.pop()
        self._layer_ids().discard(id(layer))
        self._changed()
        if self._input_shape is not None:
            self._ensure_graph()
        return layer

    def _changed(self) -> None:
        self._net = None
        self._graph_stale = True
        if self.compiled:
            self._heads = []  # resolved again for the new output

    @property
    def layers(self) -> list[Layer]:
        return list(self._layers)

    def _weight_layers(self) -> list[Layer]:
        return self._layers

    def _declared_batch_sizes(self) -> set[int]:
        sizes = super()._declared_batch_sizes()
        if self._layers and self._layers[0]._batch_size_arg is not None:
            sizes.add(self._layers[0]._batch_size_arg)
        return sizes

    def build(self, input_shape=None) -> None:
        """Build for ``input_shape`` (batch axis included, as in Keras, or per-sample)."""
        if input_shape is None:
            if self._input_shape is None:
                raise ValueError(f"{self.name}.build: expected an input shape")
            input_shape = self._input_shape
        else:
            input_shape = tuple(input_shape)
            if input_shape and input_shape[0] is None:
                input_shape = input_shape[1:]
        shape = check_shape(input_shape, f"{self.name}.build(input_shape)")
        if self._input_shape is not None and tuple(shape) != tuple(self._input_shape):
            raise ValueError(
                f"{self.name}.build: the model is set up for input shape "
                f"{shape_str(self._input_shape)} and cannot be built for {shape_str(shape)} "
                "(its weights have that shape); make a new model for the new shape"
            )
        self._build_layers(shape)

    def _build_layers(self, input_shape) -> tuple[int, ...]:
        shape = tuple(input_shape)
        for layer in self._layers:
            self._check_single_output(layer, self.name)
            try:
                shape = layer._build(shape, self.dtype)
            except (ValueError, TypeError) as exc:
                msg = str(exc)
                if layer.name not in msg:
                    msg = (
                        f"{layer.name} ({type(layer).__name__}) on input {shape_str(shape)}: {msg}"
                    )
                raise type(exc)(msg) from None
            total = int(np.prod(shape, dtype=np.float64))
            if total >= 2**50:
                raise OverflowError(f"{layer.name}: output shape {shape} is too large")
        if self._input_shape != tuple(input_shape):
            self._graph_stale = True
        self._input_shape = tuple(input_shape)
        return shape

    @property
    def built(self) -> bool:
        return self._input_shape is not None and all(layer.built for layer in self._layers)

    def _n_outputs(self) -> int:
        return 1 if self._layers or self._input_shape is not None else 0

    def _ensure_graph(self) -> None:
        """Call the layers on a symbolic input (again after the stack changed), so the
        chain is a graph like any model's."""
        if not self._graph_stale or self._input_shape is None:
            return
        for node in self._nodes:  # forget the calls of the previous chain
            node.layer._inbound_nodes = [m for m in node.layer._inbound_nodes if m is not node]
        self._build_layers(self._input_shape)
        if self._input_layer is None or self._input_layer.shape != self._input_shape:
            self._input_layer = InputLayer(shape=self._input_shape, dtype=self._dtype)
        t = self._input_layer.output
        inputs = t
        for layer in self._layers:
            t = layer(t)
        dtype = self._dtype
        self._set_graph(inputs, t)
        self._dtype = dtype
        self._graph_stale = False

    def _ensure_graph_for(self, x, what: str) -> None:
        if not self._graph_stale:
            return
        if self._input_shape is None:
            if not self._layers:
                raise ValueError(f"{self.name}: the model has no layers")
            arr = to_float_array(x, self.dtype, f"{self.name}.{what}")
            self._build_layers(arr.shape[1:])
        self._ensure_graph()

    def _input_shapes(self) -> list[tuple[int, ...]]:
        if self._graph_stale:
            self._ensure_graph()
        return self._in_shapes

    def _output_shapes(self) -> list[tuple[int, ...]]:
        if self._input_shape is None:
            return [self._layers[-1].output_shape or ()] if self._layers else []
        if self._graph_stale:
            self._ensure_graph()
        return self._out_shapes

    @property
    def inputs(self) -> list[KerasTensor]:
        self._ensure_graph()
        return super().inputs

    @property
    def outputs(self) -> list[KerasTensor]:
        self._ensure_graph()
        return super().outputs

    @property
    def output_names(self) -> list[str]:
        return [self._layers[-1].name] if self._layers else ["output"]

    @property
    def input_shape(self):
        return None if self._input_shape is None else (None,) + tuple(self._input_shape)

    @property
    def output_shape(self):
        if not self.built or not self._layers:
            return self.input_shape
        return (None,) + tuple(self._layers[-1].output_shape or ())

    def _summary_rows(self) -> tuple[list[tuple[Layer, str, str]], bool]:
        rows = [
            (layer, "?" if layer.output_shape is None else shape_str(layer.output_shape), "-")
            for layer in self._layers
        ]
        return rows, True

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "input_shape": None if self._input_shape is None else list(self._input_shape),
            "dtype": self._dtype,
            "layers": [
                {"class_name": type(layer).__name__, "config": layer.get_config()}
                for layer in self._layers
            ],
        }

    @classmethod
    def from_config(cls, config: dict, max_weight_elements: int | None = None) -> Sequential:
        """The model a ``get_config()`` describes (see Model.from_config)."""
        bad = saving.bad_file
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise bad("model config must hold a list of layers")
        dtype = config.get("dtype")
        if dtype not in (None, "float32", "float64"):
            raise bad(f"unsupported model dtype {dtype!r}")
        name = config.get("name")
        model = cls(name=name if isinstance(name, str) else None)
        model._dtype = dtype
        model._layers = [saving.layer_from_entry(spec) for spec in config["layers"]]
        input_shape = config.get("input_shape")
        if input_shape is not None:
            if not isinstance(input_shape, list) or not all(
                isinstance(d, int) and not isinstance(d, bool) for d in input_shape
            ):
                raise bad(f"bad input_shape {input_shape!r}")
            try:
                with weight_budget(max_weight_elements):
                    model._build_layers(tuple(input_shape))
            except (TypeError, ValueError, OverflowError) as exc:
                raise bad(f"architecture does not build: {exc}") from None
        return model

    def __repr__(self):
        return f"<Sequential name={self.name}, layers={len(self._layers)}>"


def _bytes(n: float) -> str:
    """A byte count as Keras's summary writes it: 196.00 B, 1.04 KB."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n / 1024 < 1 or unit == "TB":
            return f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} TB"


def _box_table(header, align, cuts, width: int, rows) -> list[str]:
    """The lines of a table in Keras 3's summary style: heavy header box, a rule between
    rows, columns at fractions ``cuts`` of ``width`` (narrowed together to fit the
    borders), cells wrapped at spaces and a word too long for its cell cut with "…"."""
    widths, at = [], 0
    for cut in cuts:
        w = int(cut * width) - at
        if w < 4:
            raise ValueError("summary: the line is too narrow to print the table")
        widths.append(w)
        at += w
    excess, share = sum(widths) + len(widths) + 1 - width, len(widths)
    for k in range(len(widths)):  # the excess taken evenly, rounding as Python does
        if excess <= 0:
            break
        cut = min(widths[k], round(excess / share))
        widths[k] -= cut
        excess -= cut
        share -= 1
    inner = [w - 2 for w in widths]

    def wrap(text: str, w: int) -> list[str]:
        lines: list[str] = []
        for word in text.split(" "):
            if lines and len(lines[-1]) + 1 + len(word) <= w:
                lines[-1] += " " + word
            else:
                lines.append(word)
        return [line if len(line) <= w else line[: w - 1] + "…" for line in lines]

    def row(cells, left, mid, right) -> list[str]:
        parts = [wrap(str(c), w) for c, w in zip(cells, inner)]
        out = []
        for k in range(max(len(p) for p in parts)):
            texts = [
                f" {(p[k] if k < len(p) else ''):{a}{w}} " for p, a, w in zip(parts, align, inner)
            ]
            out.append(left + mid.join(texts) + right)
        return out

    def rule(left, mid, right, line) -> str:
        return left + mid.join(line * w for w in widths) + right

    lines = [rule("┏", "┳", "┓", "━"), *row(header, "┃", "┃", "┃"), rule("┡", "╇", "┩", "━")]
    for k, cells in enumerate(rows):
        if k:
            lines.append(rule("├", "┼", "┤", "─"))
        lines += row(cells, "│", "│", "│")
    lines.append(rule("└", "┴", "┘", "─"))
    return lines


def load_model(filepath, compile=True, custom_objects=None) -> Model:
    """Load a model written by ``Model.save``; the file is validated field by field.
    ``custom_objects`` maps the names of Python metric functions it was compiled with to
    the functions."""
    return saving.load_model(
        filepath,
        {"Sequential": Sequential, "Functional": Model},
        compile=compile,
        custom_objects=custom_objects,
    )


def model_from_json(json_string, custom_objects=None) -> Model:
    """The model a ``to_json()`` string describes, with freshly initialized weights
    (Keras's ``model_from_json``; load weights with ``load_weights``). Keras's own JSON
    describes Keras layer configurations and is not read."""
    if custom_objects:
        raise ValueError(
            "model_from_json: custom_objects are not supported (dropnet builds only its own "
            "layer classes from a description)"
        )
    try:
        spec = json.loads(json_string)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"model_from_json: expected the JSON of Model.to_json(): {exc}") from None
    classes = {"Sequential": Sequential, "Functional": Model, "Model": Model}
    if not isinstance(spec, dict) or spec.get("class_name") not in classes:
        raise ValueError(
            "model_from_json: expected an object with class_name 'Sequential' or 'Functional' "
            "and a config, as Model.to_json() writes"
        )
    return saving.model_from_config(classes[spec["class_name"]], spec.get("config"))


def clone_model(model: Model) -> Model:
    """A new model with the same architecture and freshly initialized weights (as Keras's
    clone_model): nothing is shared with ``model``."""
    if not isinstance(model, Model):
        raise TypeError(f"clone_model: expected a dropnet model, received {type(model).__name__}")
    return type(model).from_config(model.get_config())
