"""The Layer base class: configuration, weights, shapes, and the description the core runs."""

from __future__ import annotations

import contextlib
import re
import threading
import warnings
from collections import defaultdict

import numpy as np

from .. import backend
from .._data import check_name

_NAME_COUNTS: dict[str, int] = defaultdict(int)
# Layer classes a model file may name: every public class defined in dropnet.layers,
# registered as it is defined (user-defined subclasses are never loaded from files).
LAYER_CLASSES: dict[str, type[Layer]] = {}
# Largest weight tensor a layer may allocate (elements); beyond it an error names the layer.
MAX_WEIGHT_ELEMENTS = 2**36
_BUDGET = threading.local()


@contextlib.contextmanager
def weight_budget(elements: int | None):
    """Limit the weight elements layers built inside may allocate in total (model loading
    uses the file's tensor sizes, so a crafted header cannot exhaust memory)."""
    previous = getattr(_BUDGET, "left", None)
    _BUDGET.left = elements
    try:
        yield
    finally:
        _BUDGET.left = previous


def _snake(name: str) -> str:
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return (
        re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
        .lower()
        .replace("2_d", "2d")
        .replace("1_d", "1d")
        .replace("3_d", "3d")
    )


def unique_name(base: str) -> str:
    n = _NAME_COUNTS[base]
    _NAME_COUNTS[base] += 1
    return base if n == 0 else f"{base}_{n}"


def check_shape(shape, what: str) -> tuple[int, ...]:
    """A per-sample shape as a tuple of positive ints."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (int(shape),)
    try:
        out = tuple(shape)
    except TypeError as exc:
        raise TypeError(f"{what}: expected a tuple of ints, received {shape!r}") from exc
    for d in out:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
            raise ValueError(f"{what}: expected positive ints, received {shape!r}")
    return tuple(int(d) for d in out)


class Weight:
    """One trainable tensor: a C-contiguous array the core updates in place. ``role`` is
    what the layer's op reads it as (kernel, recurrent_kernel, bias, ...)."""

    def __init__(self, name, value, constraint=None, regularizer=None, trainable=True, role=None):
        self.name = name
        self.role = role if role is not None else name.rsplit("/", 1)[-1]
        self.value = value
        self.constraint = constraint
        self.regularizer = regularizer
        self.trainable = trainable

    @property
    def shape(self):
        return self.value.shape

    def numpy(self) -> np.ndarray:
        return self.value.copy()

    def assign(self, new) -> None:
        new = np.asarray(new)
        if new.shape != self.value.shape:
            raise ValueError(
                f"weight {self.name!r}: expected shape {self.value.shape}, received {new.shape}"
            )
        if not np.all(np.isfinite(new)):
            raise ValueError(f"weight {self.name!r}: received NaN or infinite values")
        if not np.can_cast(new.dtype, self.value.dtype, casting="safe"):
            # A finite value beyond the weight's range would become infinite in the cast.
            with np.errstate(over="ignore"):
                cast = new.astype(self.value.dtype)
            if not np.all(np.isfinite(cast)):
                dtype = self.value.dtype
                biggest = float(np.max(np.abs(new[~np.isfinite(cast)])))
                raise ValueError(
                    f"weight {self.name!r}: received {biggest:.6g}, beyond {dtype.name}'s range "
                    f"(the largest magnitude it holds is {float(np.finfo(dtype).max):.6g})"
                )
            new = cast
        np.copyto(self.value, new, casting="unsafe")


class KerasTensor:
    """A symbolic tensor of the functional API: the per-sample ``shape`` of a layer's output
    (or of an ``Input``), and the node that produced it. It holds no values."""

    def __init__(
        self,
        shape,
        dtype: str,
        node: Node | None = None,
        name: str | None = None,
        index: int = 0,
    ):
        self.shape = tuple(int(d) for d in shape)
        self.dtype = dtype
        self.node = node
        self.name = name
        self._index = index  # which output of its node (a layer call may have several)
        # The mask carried with the tensor (Embedding(mask_zero=True), Masking): None, or
        # (tensor, value) — step t is kept where some element of tensor[t] differs from value.
        self._mask: tuple[KerasTensor, float] | None = None

    @property
    def layer(self) -> Layer | None:
        return None if self.node is None else self.node.layer

    def __repr__(self) -> str:
        made_by = "" if self.layer is None else f", produced by {self.layer.name!r}"
        return f"<KerasTensor shape={(None,) + self.shape}, dtype={self.dtype}{made_by}>"


class Node:
    """One call of a layer on symbolic tensors: what it read (the layer's input, then any
    initial states) and what it produced (one tensor, or several: a recurrent layer's
    output and its final states)."""

    def __init__(self, layer: Layer, inputs: list[KerasTensor]):
        self.layer = layer
        self.inputs = list(inputs)
        self.outputs: list[KerasTensor] = []

    @property
    def output(self) -> KerasTensor:
        return self.outputs[0]


class CoreCall:
    """What the graph tells a layer about one of its calls when it asks for the core ops
    that run it: the call, whether its input carries a mask the layer reads, which of its
    outputs the model uses, and a stateful model's batch size (None otherwise)."""

    def __init__(self, node: Node, masked: bool, used: list[bool], batch: int | None):
        self.node = node
        self.masked = masked
        self.used = used
        self.batch = batch

    def input_refs(self) -> list:
        """The references of the call's inputs in a core graph (see Layer._core_graph)."""
        return [-1 - k for k in range(len(self.node.inputs))] + (["mask"] if self.masked else [])


def as_tensor_list(inputs, what: str) -> list[KerasTensor] | None:
    """The symbolic tensors of a layer call (one, or a list/tuple of them); None when the
    call has no symbolic tensors at all (it is given arrays)."""
    items = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    symbolic = [isinstance(t, KerasTensor) for t in items]
    if not any(symbolic):
        return None
    if not all(symbolic):
        raise TypeError(f"{what}: expected symbolic tensors only, received a mix with arrays")
    return items


class Layer:
    """Base of every layer. Subclasses say which core op runs them (``_core_op``).

    Called on a symbolic tensor (``Dense(4)(inputs)``), a layer builds itself for that
    tensor's shape and returns the symbolic output: the functional API. A layer called
    twice shares its weights; ``input``/``output`` are those of its first call."""

    # Layers that take a list of tensors (the merge layers) set this.
    multiple_inputs = False
    # Layers that pass a mask on unchanged (as Keras's supports_masking), and layers that
    # read it (the recurrent layers, masked pooling: see _mask_op).
    supports_masking = False
    reads_mask = False

    def __init_subclass__(cls, abstract: bool = False, **kwargs):
        """Registers dropnet's own concrete layer classes (``abstract=True`` marks a base
        that is never a layer of a model) in LAYER_CLASSES."""
        super().__init_subclass__(**kwargs)
        package = __name__.rsplit(".", 1)[0]
        if cls.__module__.startswith(package) and not abstract and not cls.__name__.startswith("_"):
            LAYER_CLASSES[cls.__name__] = cls

    def __init__(
        self,
        *,
        name=None,
        input_shape=None,
        input_dim=None,
        batch_input_shape=None,
        batch_size=None,
        dtype=None,
        trainable=True,
        activity_regularizer=None,
        **kwargs,
    ):
        if kwargs:
            raise TypeError(
                f"{type(self).__name__}: unexpected keyword argument(s) {', '.join(sorted(kwargs))}"
            )
        from .. import regularizers

        # Adds R(output) / batch size to the loss in training and evaluation, as in Keras.
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.name = check_name(
            name if name is not None else unique_name(_snake(type(self).__name__)),
            type(self).__name__,
        )
        self.trainable = bool(trainable)
        self._dtype_arg = None if dtype is None else backend.standardize_dtype(dtype)
        shape = None
        if batch_input_shape is not None:
            shape = check_shape(
                tuple(batch_input_shape)[1:], f"{type(self).__name__}(batch_input_shape)"
            )
        if input_shape is not None:
            shape = check_shape(input_shape, f"{type(self).__name__}(input_shape)")
        if input_dim is not None:
            shape = check_shape((input_dim,), f"{type(self).__name__}(input_dim)")
        self._input_shape_arg = shape
        # Keras 2's batch_input_shape=(B, ...) / batch_size=B on a first layer: the batch
        # size a stateful recurrent model runs.
        self._batch_size_arg = batch_size
        if batch_input_shape is not None and len(batch_input_shape) > 0:
            first, *_ = batch_input_shape
            if first is not None:
                self._batch_size_arg = first
        size = self._batch_size_arg
        if size is not None:
            if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
                raise ValueError(
                    f"{type(self).__name__}: expected a batch size that is an int >= 1, received "
                    f"{size!r}"
                )
            self._batch_size_arg = int(size)
        self.built = False
        self.input_shape: tuple | None = None
        self.output_shape: tuple[int, ...] | None = None
        self.dtype = self._dtype_arg or backend.floatx()
        self._weights: list[Weight] = []
        self._inbound_nodes: list[Node] = []

    # ---- the functional API
    def __call__(self, inputs, training=None, mask=None, **kwargs):
        if kwargs:
            raise TypeError(f"{self.name}: unexpected call argument(s) {', '.join(sorted(kwargs))}")
        return self._call(inputs, [], training, mask)

    def _call(self, inputs, extra: list, training=None, mask=None):
        """A call on ``inputs`` and ``extra`` inputs that are not the layer's input proper (a
        recurrent layer's initial states): symbolic, or on arrays. One output tensor, or a
        list for a layer of several outputs."""
        if mask is not None:
            raise ValueError(
                f"{self.name}: an explicit mask= is not supported; masks come from "
                "Embedding(mask_zero=True) or a Masking layer"
            )
        tensors = as_tensor_list(inputs, self.name)
        others = as_tensor_list(extra, self.name) if extra else []
        if extra and (tensors is None) != (others is None):
            raise TypeError(
                f"{self.name}: expected symbolic tensors only or arrays only, received a mix"
            )
        if tensors is None or others is None:
            return self._call_on_arrays(inputs, list(extra), training)
        if self.multiple_inputs != isinstance(inputs, (list, tuple)):
            raise TypeError(
                f"{self.name} ({type(self).__name__}): expected "
                + ("a list of tensors" if self.multiple_inputs else "one tensor")
                + f", received {inputs!r}"
            )
        dtype = tensors[0].dtype
        shape = tuple(t.shape for t in tensors) if self.multiple_inputs else tensors[0].shape
        if self.built and not self._weights_fit(shape):
            raise ValueError(
                f"{self.name} ({type(self).__name__}) was built for input shape "
                f"{self.input_shape} and cannot be called on shape {shape}: its weights "
                "have that shape"
            )
        self._build(shape, dtype)
        self._check_extra_inputs(others)
        node = Node(self, tensors + others)
        node.outputs = [
            KerasTensor(s, dtype, node, name=self.name, index=k)
            for k, s in enumerate(self._call_output_shapes(shape))
        ]
        for t, m in zip(node.outputs, self._output_masks(tensors)):
            t._mask = m
        self._inbound_nodes.append(node)
        return node.outputs[0] if len(node.outputs) == 1 else list(node.outputs)

    def _check_extra_inputs(self, extra: list[KerasTensor]) -> None:
        """Refuses inputs beyond the layer's own (layers that take initial states accept them)."""
        if extra:
            raise TypeError(f"{self.name} ({type(self).__name__}) takes no initial states")

    def _call_node_inputs(self, inputs: list[KerasTensor]):
        """Calls the layer on the inputs a stored call lists (its input, then any extra)."""
        if self.multiple_inputs:
            return self._call(inputs, [])
        return self._call(inputs[0], inputs[1:])

    def _call_output_shapes(self, input_shape) -> list[tuple[int, ...]]:
        """The per-sample shapes of the outputs of a call on ``input_shape`` (one, unless
        the layer returns several)."""
        return [tuple(self.compute_output_shape(input_shape))]

    def _output_count(self) -> int:
        """How many tensors a call returns."""
        return 1

    # ---- masks
    def _output_mask(self, inputs: list[KerasTensor]):
        """The mask of this call's output, from its inputs' (Keras's compute_mask): passed on
        by layers that support masking, read by those that read it (each says what its
        output carries), and otherwise dropped with Keras's warning."""
        masks = [t._mask for t in inputs if t._mask is not None]
        if not masks:
            return None
        distinct = {(id(m[0]), m[1]) for m in masks}
        if self.supports_masking and len(distinct) == 1:
            return masks[0]
        why = (
            "does not support masking"
            if not self.supports_masking
            else "cannot combine the different masks of its inputs"
        )
        warnings.warn(
            f"Layer '{self.name}' ({type(self).__name__}) {why} and will therefore destroy the "
            "mask information. Downstream layers will not see the mask.",
            UserWarning,
            stacklevel=3,
        )
        return None

    def _output_masks(self, inputs: list[KerasTensor]) -> list:
        """The mask of each output of a call (the first output's from _output_mask)."""
        return [self._output_mask(inputs)] + [None] * (self._output_count() - 1)

    def _mask_op(self) -> tuple[str, dict]:
        """The core op of a call whose input carries a mask (layers with reads_mask): the
        op reads the step mask as its last input."""
        return self._core_op()

    def _call_on_arrays(self, x, extra: list, training):
        """``layer(array)``: the layer alone as a one-layer model, run on the values."""
        from ..models import Model
        from .core import Input

        arrays = (list(x) if self.multiple_inputs else [x]) + list(extra)
        inputs = [Input(np.shape(a)[1:]) for a in arrays]
        own = len(arrays) - len(extra)
        outputs = self._call(inputs[:own] if self.multiple_inputs else inputs[0], inputs[own:])
        model = Model(inputs, outputs)
        return model.predict(arrays if len(arrays) > 1 else arrays[0], training=bool(training))

    def _first_node(self, what: str) -> Node:
        if not self._inbound_nodes:
            raise AttributeError(
                f"{self.name} has no {what}: it has not been called on a symbolic tensor "
                "(in a functional model or a built Sequential)"
            )
        return self._inbound_nodes[0]

    @property
    def input(self):
        """The symbolic input of the layer's first call (a list for merge layers)."""
        node = self._first_node("input")
        return list(node.inputs) if self.multiple_inputs else node.inputs[0]

    @property
    def output(self):
        """The symbolic output of the layer's first call (a list for a layer of several)."""
        outs = self._first_node("output").outputs
        return outs[0] if len(outs) == 1 else list(outs)

    # ---- building
    def build(self, input_shape) -> None:
        """Create weights for a per-sample ``input_shape`` (batch axis excluded)."""

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def _weights_fit(self, input_shape) -> bool:
        """The built layer's weights serve a call on ``input_shape``: its own shape (layers
        whose weights see only the feature axis accept others, as Keras's do)."""
        return self.input_shape == tuple(input_shape)

    def _build(self, input_shape, dtype: str) -> tuple[int, ...]:
        if self.multiple_inputs:
            input_shape = tuple(tuple(int(d) for d in s) for s in input_shape)
        else:
            input_shape = tuple(int(d) for d in input_shape)
        if self.built and (not self._weights_fit(input_shape) or self.dtype != dtype):
            # Rebuilding would replace the weights another model (or this one) still uses.
            fits = self._weights_fit(input_shape)
            was = self.dtype if fits else self.input_shape
            now = dtype if fits else input_shape
            raise ValueError(
                f"{self.name} ({type(self).__name__}) was built for "
                f"{'dtype' if fits else 'input shape'} {was} and "
                f"cannot be used with {now}: its weights are made for it (a layer can be "
                "shared only where its input is the same; make a new layer instead)"
            )
        if not self.built:
            self.dtype = dtype
            self._weights = []
            self.build(input_shape)
            self.built = True
            self.input_shape = input_shape
        self.output_shape = tuple(self.compute_output_shape(input_shape))
        return self.output_shape

    def add_weight(self, name, shape, initializer, constraint=None, regularizer=None) -> Weight:
        count = 1
        for d in shape:
            count *= int(d)
        if count > MAX_WEIGHT_ELEMENTS:
            raise OverflowError(
                f"{self.name}: weight {name!r} of shape {tuple(shape)} has {count} elements; "
                f"expected at most {MAX_WEIGHT_ELEMENTS}"
            )
        left = getattr(_BUDGET, "left", None)
        if left is not None:
            if count > left:
                raise ValueError(
                    f"{self.name}: weight {name!r} of shape {tuple(shape)} is larger "
                    f"than the tensors stored for it"
                )
            _BUDGET.left = left - count
        value = np.ascontiguousarray(initializer(tuple(shape), self.dtype), dtype=self.dtype)
        w = Weight(f"{self.name}/{name}", value, constraint, regularizer, self.trainable, role=name)
        self._weights.append(w)
        return w

    def built_shapes(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(input shape, output shape) per sample; ValueError before the layer is built."""
        if self.input_shape is None or self.output_shape is None:
            raise ValueError(f"{self.name}: the layer is not built yet (it needs an input shape)")
        return self.input_shape, self.output_shape

    # ---- weights (Keras order and layout)
    @property
    def weights(self) -> list[Weight]:
        return list(self._weights)

    @property
    def trainable_weights(self) -> list[Weight]:
        return [w for w in self._weights if w.trainable] if self.trainable else []

    @property
    def non_trainable_weights(self) -> list[Weight]:
        return (
            [w for w in self._weights if not w.trainable] if self.trainable else list(self._weights)
        )

    def get_weights(self) -> list[np.ndarray]:
        return [w.numpy() for w in self._weights]

    def set_weights(self, weights) -> None:
        weights = list(weights)
        if len(weights) != len(self._weights):
            raise ValueError(
                f"{self.name}: expected {len(self._weights)} weight arrays, received {len(weights)}"
            )
        for w, new in zip(self._weights, weights):
            w.assign(new)

    def count_params(self) -> int:
        return int(sum(w.value.size for w in self._weights))

    # ---- configuration
    def get_config(self) -> dict:
        cfg = {"name": self.name, "trainable": self.trainable}
        if self._dtype_arg is not None:
            cfg["dtype"] = self._dtype_arg
        if self._batch_size_arg is not None:
            cfg["batch_size"] = self._batch_size_arg
        if self.activity_regularizer is not None:
            from .. import regularizers

            cfg["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return cfg

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    # ---- the description the core runs
    def _core_op(self) -> tuple[str, dict]:
        """(op kind, attributes) of the core op that runs this built layer; the op reads its
        parameters in ``weights`` order. The core refuses unknown kinds and attributes."""
        raise NotImplementedError(
            f"{type(self).__name__} does not name the core op that runs it (define _core_op)"
        )

    def _core_graph(self, call: CoreCall) -> tuple[list[tuple], list[int | None]]:
        """The core nodes that run one call, and which of them holds each output (None for
        an output the model does not use). A node is (op kind, attributes, input refs,
        parameters, per-sample output shape); a ref is an earlier node of the list (>= 0),
        the call's input k (-1 - k), or "mask" (the step mask of the input's mask). Most
        layers are one op (_core_op, or _mask_op on masked input) on all their inputs."""
        op, attrs = self._mask_op() if call.masked else self._core_op()
        return [(op, attrs, call.input_refs(), self.weights, call.node.outputs[0].shape)], [0]

    @property
    def _is_stateful(self) -> bool:
        """A stateful recurrent layer (or a wrapper of one): its states carry across batches."""
        return False

    # The layer adds its activity_regularizer's op in its own _core_graph (else the graph
    # adds it after the call's one output).
    applies_activity_regularizer = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"
