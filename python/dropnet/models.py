"""The Sequential model: Keras's API over the core's training-loop driver.

Parameters, gradients' optimizer slots and the step count live in NumPy arrays owned
here; the core holds references to them and runs whole epochs (shuffle, batches,
forward, loss, backward, update, constraints, validation) in one call.
"""

from __future__ import annotations

import functools
import io
import sys
import threading

import numpy as np

from . import _core, backend, losses, optimizers, saving
from . import callbacks as callbacks_module
from . import metrics as metrics_module
from ._data import check_int, shape_str, to_float_array
from .layers.base import Layer, check_shape, unique_name
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


class Sequential:
    """A linear stack of layers, with Keras's ``add / compile / fit / evaluate / predict``."""

    def __init__(self, layers=None, name=None, trainable=True):
        self.name = name or unique_name("sequential")
        self.trainable = bool(trainable)
        self._layers: list[Layer] = []
        self._input_shape: tuple[int, ...] | None = None
        self._dtype: str | None = None
        self.optimizer: optimizers.Optimizer | None = None
        self.loss = None
        self._loss_name: str | None = None
        self._from_logits = False
        self._metric_args: list = []
        self._slots: dict[int, list[np.ndarray]] = {}
        self._net = None
        self._net_training = False
        self._seed: int | None = None
        self._mc_calls = 0
        # _lock guards the core network's creation and the Monte-Carlo call counter;
        # _training is held for a whole fit, so a second one fails instead of racing.
        self._lock = threading.RLock()
        self._training = threading.Lock()
        self.stop_training = False
        self.history = None
        self.compiled = False
        for layer in layers or []:
            self.add(layer)

    # ------------------------------------------------------------------ structure
    def add(self, layer) -> None:
        """Append a layer (an ``Input(shape=...)`` first declares the input shape)."""
        if isinstance(layer, InputLayer):
            if self._layers:
                raise ValueError(f"{self.name}: Input must come before every other layer")
            self._input_shape = layer.shape
            self._dtype = layer._dtype_arg
            return
        if isinstance(layer, Sequential):
            for inner in layer.layers:
                self.add(inner)
            return
        if not isinstance(layer, Layer):
            raise TypeError(
                f"{self.name}.add: expected a dropnet layer, received {type(layer).__name__}"
            )
        if any(layer is other for other in self._layers):
            raise ValueError(f"{self.name}.add: layer {layer.name!r} is already in the model")
        if not self._layers and self._input_shape is None and layer._input_shape_arg is not None:
            self._input_shape = layer._input_shape_arg
        if not self._layers and self._dtype is None:
            self._dtype = layer._dtype_arg
        self._layers.append(layer)
        self._net = None
        if self._input_shape is not None:
            try:
                self._build_layers(self._input_shape)
            except Exception:
                self._layers.pop()
                raise

    def pop(self) -> Layer:
        if not self._layers:
            raise ValueError(f"{self.name}: there are no layers to remove")
        layer = self._layers.pop()
        self._net = None
        return layer

    @property
    def layers(self) -> list[Layer]:
        return list(self._layers)

    @property
    def dtype(self) -> str:
        return self._dtype or backend.floatx()

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
        self._build_layers(check_shape(input_shape, f"{self.name}.build(input_shape)"))

    def _build_layers(self, input_shape) -> tuple[int, ...]:
        shape = tuple(input_shape)
        for layer in self._layers:
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
        self._input_shape = tuple(input_shape)
        return shape

    @property
    def built(self) -> bool:
        return self._input_shape is not None and all(layer.built for layer in self._layers)

    @property
    def input_shape(self):
        return None if self._input_shape is None else (None,) + tuple(self._input_shape)

    @property
    def output_shape(self):
        if not self.built or not self._layers:
            return self.input_shape
        return (None,) + tuple(self._layers[-1].output_shape)

    def _require_built(self, x: np.ndarray, what: str):
        if self._input_shape is None:
            if not self._layers:
                raise ValueError(f"{self.name}: the model has no layers")
            self._build_layers(x.shape[1:])
        elif x.shape[1:] != tuple(self._input_shape):
            expected = shape_str(self._input_shape)
            raise ValueError(
                f"{self.name}.{what}: expected input shape {expected}, received {shape_str(x.shape[1:])}"
            )

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
        """Configure training. ``loss`` and ``metrics`` take Keras's names."""
        if kwargs:
            raise TypeError(f"compile: unexpected keyword argument(s) {', '.join(sorted(kwargs))}")
        if loss_weights is not None or weighted_metrics is not None:
            raise ValueError(
                "compile: loss_weights and weighted_metrics are not supported (one output)"
            )
        self.optimizer = optimizers.get(optimizer)
        if loss is None:
            self._loss_name, self._from_logits = None, False
        else:
            self._loss_name, self._from_logits = losses.get(loss)
        self.loss = loss
        if metrics is None:
            metrics = []
        elif isinstance(metrics, (str, dict)) or callable(metrics):
            metrics = [metrics]
        self._metric_args = list(metrics)
        for m in self._metric_args:  # validate names now
            metrics_module.resolve(m, self._loss_name or "mean_squared_error", 1)
        self._slots = {}
        self._net = None
        self.compiled = True

    def _metric_specs(self) -> list[tuple[str, str]]:
        out_dim = int(self._layers[-1].built_shapes()[1][-1]) if self._layers else 1
        return [
            metrics_module.resolve(m, self._loss_name or "", out_dim) for m in self._metric_args
        ]

    @property
    def metrics_names(self) -> list[str]:
        return ["loss"] + [k for k, _ in self._metric_specs()] if self.compiled else []

    # ------------------------------------------------------------------ the core network
    def _params(self):
        out = []
        for layer in self._layers:
            for w in layer.weights:
                out.append((layer, w))
        return out

    def _network(self, training: bool):
        with self._lock:
            return self._make_network(training)

    def _make_network(self, training: bool):
        if training:
            if not self.compiled:
                raise ValueError(f"{self.name}: call compile() before fit/evaluate/train_on_batch")
            if self._loss_name is None:
                raise ValueError(f"{self.name}: compile() was called without a loss")
        if self._net is not None and (self._net_training or not training):
            return self._net
        if self._seed is None:
            self._seed = next_seed()
        if self._input_shape is None:
            raise ValueError(f"{self.name}: the model has no input shape yet")
        use_opt = self.compiled and self._loss_name is not None
        opt = self.optimizer
        if use_opt and opt is None:
            raise ValueError(f"{self.name}: call compile() with an optimizer first")
        params_desc: list[dict] = []
        index = {}
        for layer, w in self._params():
            index[id(w)] = len(params_desc)
            slots = []
            if opt is not None and use_opt:
                if id(w) not in self._slots:
                    self._slots[id(w)] = opt._make_slots(w.value)
                slots = self._slots[id(w)]
            params_desc.append(
                {
                    "value": w.value,
                    "slots": slots,
                    "trainable": bool(self.trainable and layer.trainable and w.trainable),
                    "constraint": None
                    if w.constraint is None
                    else w.constraint._spec(w.value.ndim),
                    "regularizer": None if w.regularizer is None else w.regularizer._spec(),
                }
            )
        # The chain as a graph: tensor 0 is the input, tensor i + 1 layer i's output.
        tensors = [list(self._input_shape)]
        nodes = []
        for i, layer in enumerate(self._layers):
            op, attrs = layer._core_op()
            tensors.append(list(layer.built_shapes()[1]))
            nodes.append(
                {
                    "op": op,
                    "inputs": [i],
                    "output": i + 1,
                    "params": [index[id(w)] for w in layer.weights],
                    "layer_id": i + 1,
                    "attrs": attrs,
                }
            )
        heads = []
        if use_opt:
            heads.append(
                {
                    "output": 0,
                    "loss": self._loss_name,
                    "from_logits": bool(self._from_logits),
                    "weight": 1.0,
                    "metrics": [kind for _, kind in self._metric_specs()],
                }
            )
        desc = {
            "dtype": self.dtype,
            "seed": int(self._seed),
            "tensors": tensors,
            "inputs": [0],
            "outputs": [len(self._layers)],
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

    # ------------------------------------------------------------------ data
    def _x(self, x, what="x") -> np.ndarray:
        arr = to_float_array(x, self.dtype, f"{self.name}.{what}")
        if (
            arr.ndim == 1
            and self._input_shape is not None
            and len(self._input_shape) == 1
            and self._input_shape[0] == 1
        ):
            arr = arr.reshape(-1, 1)
        self._require_built(arr, what)
        return arr

    def _y(self, y, n: int, what="y") -> np.ndarray:
        arr = to_float_array(y, self.dtype, f"{self.name}.{what}")
        if arr.shape[0] != n:
            raise ValueError(
                f"{self.name}.{what}: expected {n} samples (as in x), received {arr.shape[0]}"
            )
        out_shape = self._layers[-1].built_shapes()[1]
        if self._loss_name == "sparse_categorical_crossentropy":
            if arr.size != n:
                raise ValueError(
                    f"{self.name}.{what}: sparse_categorical_crossentropy expects one class id per sample, "
                    f"received shape {arr.shape}"
                )
            arr = arr.reshape(n, 1)
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
        if self._loss_name == "categorical_crossentropy" and arr.ndim == 1:
            hint = " (integer labels need loss='sparse_categorical_crossentropy', or one-hot encode them)"
        raise ValueError(
            f"{self.name}.{what}: expected targets of shape {shape_str(out_shape)}, received "
            f"{shape_str(arr.shape[1:])}{hint}"
        )

    def _weights_array(self, sample_weight, class_weight, y: np.ndarray, n: int):
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
            if y.shape[1] > 1 and self._loss_name != "sparse_categorical_crossentropy":
                ids = np.argmax(y, axis=1)
            else:
                ids = np.round(y[:, 0]).astype(np.int64)
            cw = np.ones(n, dtype=self.dtype)
            for cls, weight in class_weight.items():
                cw[ids == int(cls)] = float(weight)
            w = cw if w is None else np.ascontiguousarray(w * cw)
        return w

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
    ):
        """Train for ``epochs`` epochs; returns a History whose ``history`` dict holds the loss,
        the metrics and their ``val_`` forms per epoch."""
        if steps_per_epoch is not None or validation_steps is not None or validation_freq != 1:
            raise ValueError(
                "fit: steps_per_epoch, validation_steps and validation_freq are not supported"
            )
        if not self.compiled:
            raise ValueError(f"{self.name}: call compile() before fit()")
        batch_size = 32 if batch_size is None else check_int(batch_size, "fit(batch_size)", 1)
        epochs = check_int(epochs, "fit(epochs)", 0)
        initial_epoch = check_int(initial_epoch, "fit(initial_epoch)", 0)
        verbose = 1 if verbose == "auto" else check_int(verbose, "fit(verbose)", 0)
        xa = self._x(x)
        n = xa.shape[0]
        ya = self._y(y, n)
        w = self._weights_array(sample_weight, class_weight, ya, n)
        xv = yv = wv = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError(
                    "fit: expected validation_data as (x_val, y_val) or (x_val, y_val, sample_weight)"
                )
            xv = self._x(validation_data[0], "validation_data[0]")
            yv = self._y(validation_data[1], xv.shape[0], "validation_data[1]")
            if len(validation_data) == 3 and validation_data[2] is not None:
                wv = self._weights_array(validation_data[2], None, yv, xv.shape[0])
        elif validation_split:
            if not 0.0 < float(validation_split) < 1.0:
                raise ValueError(
                    f"fit: expected 0 < validation_split < 1, received {validation_split}"
                )
            split = int(n * (1.0 - float(validation_split)))
            if split < 1 or split >= n:
                raise ValueError(
                    f"fit: validation_split={validation_split} leaves no training or validation rows of {n}"
                )
            xa, xv = np.ascontiguousarray(xa[:split]), np.ascontiguousarray(xa[split:])
            ya, yv = np.ascontiguousarray(ya[:split]), np.ascontiguousarray(ya[split:])
            if w is not None:
                w, wv = np.ascontiguousarray(w[:split]), np.ascontiguousarray(w[split:])
            n = split
        net = self._network(training=True)
        history = callbacks_module.History()
        user_cbs = list(callbacks or [])
        for cb in user_cbs:
            if not isinstance(cb, callbacks_module.Callback):
                raise TypeError(f"fit: expected Callback instances, received {type(cb).__name__}")
        cbs = [history] + ([callbacks_module.ProgbarLogger(verbose)] if verbose else []) + user_cbs
        steps = -(-n // batch_size)
        params = {"verbose": verbose, "epochs": epochs, "steps": steps}
        for cb in cbs:
            cb.set_model(self)
            cb.set_params(params)
        keys = ["loss"] + [k for k, _ in self._metric_specs()]
        if xv is not None:
            keys += ["val_" + k for k in keys]
        self.history = history
        self.stop_training = False
        for cb in cbs:
            cb.on_train_begin()
        per_epoch = bool(user_cbs) or verbose > 0
        epoch = initial_epoch
        while epoch < epochs and not self.stop_training:
            count = 1 if per_epoch else epochs - epoch
            if per_epoch:
                for cb in cbs:
                    cb.on_epoch_begin(epoch)
            net.set_learning_rate(self._base_lr())
            rows, self.optimizer.iterations = net.fit(
                xa,
                ya,
                w,
                xv,
                yv,
                wv,
                batch_size,
                count,
                bool(shuffle),
                False,
                self.optimizer.iterations,
            )
            if per_epoch:
                for row in rows:
                    logs = {k: float(v) for k, v in zip(keys, row)}
                    for cb in cbs:
                        cb.on_epoch_end(epoch, logs)
                    epoch += 1
            else:
                history.extend(range(epoch, epoch + len(rows)), keys, rows)
                epoch += len(rows)
        for cb in cbs:
            cb.on_train_end()
        return history

    def _base_lr(self) -> float:
        if self.optimizer is None:
            raise ValueError(f"{self.name}: call compile() first")
        lr = self.optimizer.learning_rate
        if isinstance(lr, optimizers.LearningRateSchedule):
            return lr.initial_learning_rate
        return float(lr)

    @_exclusive_training
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on this batch; returns the loss (and metrics)."""
        xa = self._x(x)
        ya = self._y(y, xa.shape[0])
        w = self._weights_array(sample_weight, class_weight, ya, xa.shape[0])
        net = self._network(training=True)
        net.set_learning_rate(self._base_lr())
        out, self.optimizer.iterations = net.train_on_batch(xa, ya, w, self.optimizer.iterations)
        return self._results(out, return_dict)

    def _results(self, values, return_dict):
        names = self.metrics_names
        values = [float(v) for v in values]
        if return_dict:
            return dict(zip(names, values))
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
    ):
        """Loss (and metrics) in inference mode: ``[loss, *metrics]`` or the loss alone."""
        if batch_size is not None:
            check_int(batch_size, "evaluate(batch_size)", 1)
        xa = self._x(x)
        ya = self._y(y, xa.shape[0])
        w = self._weights_array(sample_weight, None, ya, xa.shape[0])
        out = self._network(training=True).evaluate(xa, ya, w)
        result = self._results(out, return_dict)
        if verbose not in (0, "auto") or (verbose == "auto" and sys.stdout.isatty()):
            print(" - ".join(f"{k}: {v:.4f}" for k, v in zip(self.metrics_names, out)))
        return result

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        return self.evaluate(x, y, sample_weight=sample_weight, verbose=0, return_dict=return_dict)

    # ------------------------------------------------------------------ inference
    def predict(
        self, x, batch_size=None, verbose="auto", steps=None, callbacks=None, training=False
    ):
        """Outputs for ``x``. ``training=True`` keeps dropout on (Monte-Carlo dropout): new
        masks on every call, from the model's seed."""
        if batch_size is not None:
            check_int(batch_size, "predict(batch_size)", 1)
        xa = self._x(x)
        net = self._network(training=False)
        mc = self._next_mc_calls(1) if training else -1
        out = net.predict(xa, mc)
        return out.reshape((xa.shape[0],) + tuple(self._layers[-1].output_shape))

    def _next_mc_calls(self, n: int) -> int:
        """Reserve n Monte-Carlo call numbers (each draws its own masks); returns the first."""
        with self._lock:
            first = self._mc_calls
            self._mc_calls += n
            return first

    def predict_on_batch(self, x):
        return self.predict(x)

    def __call__(self, x, training=False):
        return self.predict(x, training=training)

    def predict_mc(self, x, n=100, batch_size=None):
        """Monte-Carlo dropout: (mean, std) of ``n`` stochastic forward passes."""
        n = check_int(n, "predict_mc(n)", 1)
        xa = self._x(x)
        net = self._network(training=False)
        shape = (xa.shape[0],) + tuple(self._layers[-1].output_shape)
        # Welford's running mean and squared deviations in float64: no cancellation, and
        # exactly zero spread when every pass agrees.
        mean = np.zeros(shape, np.float64)
        m2 = np.zeros(shape, np.float64)
        first = self._next_mc_calls(n)
        for k in range(1, n + 1):
            out = net.predict(xa, first + k - 1).reshape(shape).astype(np.float64)
            delta = out - mean
            mean += delta / k
            m2 += delta * (out - mean)
        return mean.astype(self.dtype), np.sqrt(m2 / n).astype(self.dtype)

    # ------------------------------------------------------------------ weights
    @property
    def weights(self):
        return [w for layer in self._layers for w in layer.weights]

    @property
    def trainable_weights(self):
        return (
            [w for layer in self._layers for w in layer.trainable_weights] if self.trainable else []
        )

    def get_weights(self) -> list[np.ndarray]:
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights) -> None:
        weights = list(weights)
        own = self.weights
        if len(weights) != len(own):
            raise ValueError(
                f"{self.name}.set_weights: expected {len(own)} arrays, received {len(weights)}"
            )
        for w, new in zip(own, weights):
            w.assign(new)

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(
                f"{self.name}: the model is not built yet; give the first layer an input_shape"
            )
        return int(sum(layer.count_params() for layer in self._layers))

    # ------------------------------------------------------------------ description
    def summary(self, print_fn=None, line_length=None, **kwargs):
        """Print a Keras-style table of layers, output shapes and parameter counts."""
        pf = print_fn or print
        names = [f"{layer.name} ({type(layer).__name__})" for layer in self._layers]
        first = max([len(n) + 2 for n in names] + [29])
        width = max(line_length or 65, first + 36)
        cols = (first, 26)
        rule = "─" * width

        def row(a, b, c):
            return f"{a:<{cols[0]}}{b:<{cols[1]}}{c:>{width - cols[0] - cols[1]}}"

        pf(f'Model: "{self.name}"')
        pf(rule)
        pf(row("Layer (type)", "Output Shape", "Param #"))
        pf("═" * width)
        total = 0
        trainable = 0
        for layer in self._layers:
            shape = "?" if layer.output_shape is None else shape_str(layer.output_shape)
            count = layer.count_params() if layer.built else 0
            total += count
            if self.trainable and layer.trainable:
                trainable += count
            pf(row(f"{layer.name} ({type(layer).__name__})", shape, f"{count:,}"))
        pf(rule)
        itemsize = np.dtype(self.dtype).itemsize
        pf(f" Total params: {total:,} ({_bytes(total * itemsize)})")
        pf(f" Trainable params: {trainable:,} ({_bytes(trainable * itemsize)})")
        pf(
            f" Non-trainable params: {total - trainable:,} ({_bytes((total - trainable) * itemsize)})"
        )

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
    def from_config(cls, config: dict) -> Sequential:
        return saving.model_from_config(config)

    # ------------------------------------------------------------------ saving
    def save(self, filepath, overwrite=True, **kwargs) -> None:
        """Save architecture, weights and compile state to one file (see ``dropnet.saving``)."""
        saving.save_model(self, filepath, overwrite=overwrite)

    def save_weights(self, filepath, overwrite=True) -> None:
        saving.save_model(self, filepath, overwrite=overwrite, weights_only=True)

    def load_weights(self, filepath) -> None:
        saving.load_weights_into(self, filepath)

    def __getstate__(self):
        buf = io.BytesIO()
        saving.save_model(self, buf)
        return {"dropnet_model": buf.getvalue(), "seed": self._seed, "mc_calls": self._mc_calls}

    def __setstate__(self, state):
        other = saving.load_model(io.BytesIO(state["dropnet_model"]))
        self.__dict__.update(other.__dict__)
        self._seed = state.get("seed")
        self._mc_calls = state.get("mc_calls", 0)
        self._net = None

    def __repr__(self):
        return f"<Sequential name={self.name}, layers={len(self._layers)}>"


def _bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
    return f"{n} B"


def load_model(filepath, compile=True) -> Sequential:
    """Load a model written by ``Sequential.save``; the file is validated field by field."""
    return saving.load_model(filepath, compile=compile)


Model = Sequential
