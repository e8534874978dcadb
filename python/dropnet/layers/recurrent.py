"""Recurrent layers: LSTM, GRU and SimpleRNN with Keras's arguments, weights (kernel,
recurrent_kernel, bias in Keras's gate order) and variational dropout (Gal & Ghahramani
2016): the masks of ``dropout`` and ``recurrent_dropout`` are drawn once per sequence and
reused at every step."""

from __future__ import annotations

import numpy as np

from .. import activations, constraints, initializers, regularizers
from .base import CoreCall, KerasTensor, Layer, Node, Weight
from .core import positive_int
from .dropout import _rate, _seed

# Activations the core's recurrent cells evaluate (each differentiable through its output).
RNN_ACTIVATIONS = ("tanh", "sigmoid", "relu", "linear")


class BaseRNN(Layer, abstract=True):
    """What LSTM, GRU and SimpleRNN share: Keras's arguments, weights kernel (features,
    gates·units), recurrent_kernel (units, gates·units) and bias, and variational dropout
    (Gal & Ghahramani 2016): the masks of ``dropout`` and ``recurrent_dropout`` are drawn
    once per sequence and reused at every step. Subclasses name their core op, their
    number of gates and any arguments of their own."""

    _op = ""
    _gates = 1
    _activation_args: tuple[str, ...] = ("activation",)
    reads_mask = True  # masked steps carry the state

    def __init__(
        self,
        units,
        activation="tanh",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        **kwargs,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        cls = type(self).__name__
        self.units = positive_int(units, f"{cls}(units={units!r})")
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = _rate(cls, dropout, upper_inclusive=False, what="dropout")
        self.recurrent_dropout = _rate(
            cls, recurrent_dropout, upper_inclusive=False, what="recurrent_dropout"
        )
        self.seed = _seed(cls, seed)
        self.return_sequences = bool(return_sequences)
        self.go_backwards = bool(go_backwards)
        # Accepted for compatibility: the core's time loop is always compiled.
        self.unroll = bool(unroll)
        # return_state=True: a call returns [output, *final states] (h; for an LSTM h, c).
        self.return_state = bool(return_state)
        # stateful=True: each batch starts from the states the previous batch ended with
        # (sample i continuing sample i), kept in _states (batch size, units) beside the
        # weights, never saved with them, zeroed by reset_states().
        self.stateful = bool(stateful)
        self._states: list[np.ndarray] = []
        self._state_weights: list[Weight] = []

    _state_names: tuple[str, ...] = ("state_h",)

    @property
    def _is_stateful(self) -> bool:
        return self.stateful

    def _carried_states(self, batch: int) -> list[Weight]:
        """The carried states for batches of ``batch`` rows (zeros when new), as the
        untrained parameters the core reads and writes (roles state_h[, state_c])."""
        shape = (batch, self.units)
        if (
            not self._states
            or self._states[0].shape != shape
            or self._states[0].dtype != self.dtype
        ):
            self._states = [np.zeros(shape, self.dtype) for _ in self._state_names]
            self._state_weights = [
                Weight(f"{self.name}/{role}", value, trainable=False, role=role)
                for role, value in zip(self._state_names, self._states)
            ]
        return self._state_weights

    # ---- calls: initial states in, final states out
    def __call__(self, inputs, initial_state=None, training=None, mask=None, **kwargs):
        if kwargs:
            raise TypeError(f"{self.name}: unexpected call argument(s) {', '.join(sorted(kwargs))}")
        if initial_state is None:
            return self._call(inputs, [], training, mask)
        states = (
            list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        )
        return self._call(inputs, states, training, mask)

    def _check_extra_inputs(self, extra) -> None:
        self._check_initial_states(extra, len(self._state_names))

    def _check_initial_states(self, extra, count: int) -> None:
        """initial_state: ``count`` tensors of shape (batch, units), or none."""
        if not extra:
            return
        if self.stateful:
            raise ValueError(
                f"{self.name}: a stateful layer starts from the states it carries; "
                "initial_state is not supported with stateful=True"
            )
        if len(extra) != count:
            raise ValueError(
                f"{self.name} ({type(self).__name__}): initial_state expects {count} tensor(s) "
                f"of shape (batch, {self.units}), received {len(extra)}"
            )
        for t in extra:
            if tuple(t.shape) != (self.units,):
                raise ValueError(
                    f"{self.name} ({type(self).__name__}): each initial state must have shape "
                    f"(batch, {self.units}), received (None, {', '.join(map(str, t.shape))})"
                )

    def _output_count(self) -> int:
        return 1 + len(self._state_names) if self.return_state else 1

    def _call_output_shapes(self, input_shape):
        main = tuple(self.compute_output_shape(input_shape))
        return [main] + [(self.units,)] * (self._output_count() - 1)

    applies_activity_regularizer = True

    def _core_graph(self, call):
        """The layer's op on its input (and initial states, and step mask). With
        return_state, when the model reads a final state (or an activity_regularizer counts
        them), the op returns the output and the final states side by side and slices take
        them apart; the activity penalty then covers all of them, as Keras's does."""
        node = call.node
        main = node.outputs[0].shape
        size = int(np.prod(main))  # per-sample elements of the output proper
        op, attrs = self._core_op()
        pack = self.return_state and (any(call.used[1:]) or self.activity_regularizer is not None)
        attrs = {**attrs, "return_state": pack, "initial_state": len(node.inputs) > 1}
        weights = list(self.weights)
        if self.stateful:
            assert call.batch is not None
            weights += self._carried_states(call.batch)
        width = size + (len(self._state_names) * self.units if pack else 0)
        shape = (width,) if pack else main
        entries: list[tuple] = [(op, attrs, call.input_refs(), weights, shape)]
        reg = self.activity_regularizer
        if reg is not None:
            entries.append(("activity_regularization", reg._spec(), [0], [], shape))
        if not pack:
            return entries, [len(entries) - 1] + [None] * (len(node.outputs) - 1)
        source, outs = len(entries) - 1, []
        for k, t in enumerate(node.outputs):
            if not call.used[k]:
                outs.append(None)
                continue
            start = 0 if k == 0 else size + (k - 1) * self.units
            entries.append(("slice", {"start": start}, [source], [], t.shape))
            outs.append(len(entries) - 1)
        return entries, outs

    def reset_states(self, states=None) -> None:
        """Zero the carried states of a stateful layer (Keras 2's name), or set them to
        ``states``: one (batch size, units) array per state (h; for an LSTM h and c)."""
        if not self.stateful:
            raise ValueError(f"{self.name}: reset_states() needs a stateful layer (stateful=True)")
        if states is None:
            for a in self._states:
                a.fill(0)
            return
        values = list(states) if isinstance(states, (list, tuple)) else [states]
        if not self._states:
            raise ValueError(
                f"{self.name}: the layer has no states yet (they are made with the model's "
                "first fit, evaluate or predict)"
            )
        if len(values) != len(self._states):
            raise ValueError(
                f"{self.name}: expected {len(self._states)} state array(s), received {len(values)}"
            )
        arrays = []
        for a, v in zip(self._states, values):
            v = np.asarray(v, dtype=a.dtype)
            if v.shape != a.shape:
                raise ValueError(
                    f"{self.name}: expected a state of shape {a.shape}, received {v.shape}"
                )
            if not np.all(np.isfinite(v)):
                raise ValueError(f"{self.name}: states must be finite")
            arrays.append(v)
        for a, v in zip(self._states, arrays):
            a[...] = v

    def reset_state(self, states=None) -> None:
        """Keras 3's name of reset_states()."""
        self.reset_states(states)

    @property
    def states(self) -> list[np.ndarray]:
        """Copies of the carried states of a stateful layer."""
        return [a.copy() for a in self._states]

    def _check_activations(self) -> None:
        for what in self._activation_args:
            name = getattr(self, what)
            if name not in RNN_ACTIVATIONS:
                raise ValueError(
                    f"{type(self).__name__}({what}={name!r}): expected one of "
                    f"{', '.join(RNN_ACTIVATIONS)}"
                )

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(
                f"{self.name}: expected inputs of rank 3 (batch, steps, features), received shape "
                f"(None, {', '.join(map(str, input_shape))})"
            )
        width = self._gates * self.units
        self.kernel = self.add_weight(
            "kernel",
            (input_shape[-1], width),
            self.kernel_initializer,
            self.kernel_constraint,
            self.kernel_regularizer,
        )
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel",
            (self.units, width),
            self.recurrent_initializer,
            self.recurrent_constraint,
            self.recurrent_regularizer,
        )
        self.bias = (
            self.add_weight(
                "bias",
                self._bias_shape(),
                self._bias_init(),
                self.bias_constraint,
                self.bias_regularizer,
            )
            if self.use_bias
            else None
        )

    def _bias_shape(self) -> tuple[int, ...]:
        return (self._gates * self.units,)

    def _bias_init(self):
        return self.bias_initializer

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units) if self.return_sequences else (self.units,)

    def _weights_fit(self, input_shape) -> bool:
        # Any number of steps: the weights see the features (a decoder run one step at a time).
        assert self.input_shape is not None
        return len(input_shape) == 2 and input_shape[-1] == self.input_shape[-1]

    def _output_mask(self, inputs):
        return inputs[0]._mask if self.return_sequences else None

    def _core_attrs(self) -> dict:
        """The op's attributes beyond those every recurrent op has."""
        return {}

    def _core_op(self):
        return self._op, {
            "units": self.units,
            "act": self.activation,
            **self._core_attrs(),
            "return_sequences": self.return_sequences,
            "go_backwards": self.go_backwards,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }

    def _own_config(self) -> dict:
        """Configuration entries of the subclass's own arguments."""
        return {}

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": self.activation,
            **self._own_config(),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
        }


class LSTM(BaseRNN):
    """Long short-term memory over (batch, steps, features) inputs; gate blocks i, f, c, o.

    ``dropout`` masks the inputs and ``recurrent_dropout`` the recurrent state, one mask per
    sequence for all steps: with ``recurrent_dropout`` = 0 one input mask serves the four
    gates; otherwise each gate has its own input and recurrent mask (Keras's semantics).
    A ``Dropout`` layer after the LSTM instead masks its output once, not the recurrence.
    """

    _op = "lstm"
    _gates = 4
    _activation_args = ("activation", "recurrent_activation")
    _state_names = ("state_h", "state_c")

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        *,
        unit_forget_bias=True,
        **kwargs,
    ):
        super().__init__(units, activation=activation, use_bias=use_bias, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)
        self._check_activations()

    def _bias_init(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        u = self.units

        def init(shape, dtype, base=self.bias_initializer):
            return np.concatenate([base((u,), dtype), np.ones((u,), dtype), base((2 * u,), dtype)])

        return init

    def _core_attrs(self):
        return {"recurrent_act": self.recurrent_activation}

    def _own_config(self):
        return {
            "recurrent_activation": self.recurrent_activation,
            "unit_forget_bias": self.unit_forget_bias,
        }


class GRU(BaseRNN):
    """Gated recurrent unit over (batch, steps, features) inputs; gate blocks z (update),
    r (reset) and h (candidate), as Keras: z = σ(xW_z + hR_z + b_z), r likewise,
    ĥ = act(xW_h + b_h + r ⊙ (hR_h + b'_h)) with ``reset_after`` (the default; bias of shape
    (2, 3·units): input bias, then recurrent bias), else act(xW_h + (r ⊙ h)R_h + b_h) (bias
    (3·units,)); the new state is z ⊙ h + (1 − z) ⊙ ĥ.

    ``dropout`` masks the inputs and ``recurrent_dropout`` the recurrent state, one mask per
    sequence for all steps: with ``recurrent_dropout`` = 0 one input mask serves the three
    gates; otherwise each gate has its own input and recurrent mask.
    """

    _op = "gru"
    _gates = 3
    _activation_args = ("activation", "recurrent_activation")

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        *,
        reset_after=True,
        **kwargs,
    ):
        super().__init__(units, activation=activation, use_bias=use_bias, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.reset_after = bool(reset_after)
        self._check_activations()

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _core_attrs(self):
        return {"recurrent_act": self.recurrent_activation, "reset_after": self.reset_after}

    def _own_config(self):
        return {
            "recurrent_activation": self.recurrent_activation,
            "reset_after": self.reset_after,
        }


class SimpleRNN(BaseRNN):
    """Fully connected recurrence over (batch, steps, features) inputs:
    h = act(xW + b + hR), as Keras. ``dropout`` masks the inputs and ``recurrent_dropout``
    the previous state before its product (the carried state stays unmasked), one mask each
    per sequence, reused at every step."""

    _op = "simple_rnn"

    def __init__(self, units, activation="tanh", use_bias=True, **kwargs):
        super().__init__(units, activation=activation, use_bias=use_bias, **kwargs)
        self._check_activations()


_MERGES = {"concat": "concatenate", "sum": "add", "mul": "multiply", "ave": "average", None: None}


class Bidirectional(Layer):
    """Runs an RNN over the sequence forwards and a copy of it backwards, and merges their
    outputs (``merge_mode``: 'concat', 'sum', 'mul' or 'ave'; None returns both). Weights:
    the forward layer's, then the backward one's, as in Keras. With ``return_sequences`` the
    backward layer's sequence is put back in time order before the merge. With
    ``return_state`` a call returns [output(s), *forward states, *backward states], and
    ``initial_state`` takes the forward layer's states, then the backward layer's."""

    reads_mask = True

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, BaseRNN):
            raise TypeError(
                "Bidirectional: expected a recurrent layer (LSTM, GRU, SimpleRNN), received "
                f"{type(layer).__name__}"
            )
        if merge_mode not in _MERGES:
            raise ValueError(
                "Bidirectional(merge_mode): expected one of 'concat', 'sum', 'mul', 'ave', None, "
                f"received {merge_mode!r}"
            )
        self.merge_mode = merge_mode
        config = layer.get_config()
        self.forward_layer = type(layer).from_config(
            {**config, "name": "forward_" + layer.name.removeprefix("forward_")}
        )
        if backward_layer is None:
            self.backward_layer = type(layer).from_config(
                {
                    **config,
                    "name": "backward_" + layer.name.removeprefix("backward_"),
                    "go_backwards": not layer.go_backwards,
                }
            )
        else:
            if (
                not isinstance(backward_layer, BaseRNN)
                or backward_layer.go_backwards == layer.go_backwards
            ):
                raise ValueError(
                    "Bidirectional(backward_layer): expected a recurrent layer reading the other "
                    "way (go_backwards differing from the forward layer's)"
                )
            for what in ("return_sequences", "return_state", "stateful"):
                if getattr(backward_layer, what) != getattr(layer, what):
                    raise ValueError(
                        f"Bidirectional: the forward and backward layers must agree on {what}"
                    )
            if type(backward_layer) is not type(layer) or backward_layer.units != layer.units:
                raise ValueError(
                    "Bidirectional(backward_layer): expected a layer of the same kind and units "
                    f"as the forward one ({type(layer).__name__}({layer.units})), received "
                    f"{type(backward_layer).__name__}({backward_layer.units})"
                )
            self.backward_layer = backward_layer
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self._initial = None if weights is None else list(weights)

    # ---- states
    @property
    def _is_stateful(self) -> bool:
        return self.forward_layer.stateful

    def reset_states(self, states=None) -> None:
        """Zero (or set) the carried states of both directions: ``states`` lists the forward
        layer's, then the backward layer's."""
        if states is None:
            self.forward_layer.reset_states()
            self.backward_layer.reset_states()
            return
        values = list(states)
        half = len(values) // 2
        if len(values) != 2 * len(self.forward_layer._state_names):
            raise ValueError(
                f"{self.name}: expected {2 * len(self.forward_layer._state_names)} state "
                f"arrays (forward, then backward), received {len(values)}"
            )
        self.forward_layer.reset_states(values[:half])
        self.backward_layer.reset_states(values[half:])

    def reset_state(self, states=None) -> None:
        """Keras 3's name of reset_states()."""
        self.reset_states(states)

    @property
    def states(self) -> list[np.ndarray]:
        return self.forward_layer.states + self.backward_layer.states

    # ---- calls
    def __call__(self, inputs, initial_state=None, training=None, mask=None, **kwargs):
        if kwargs:
            raise TypeError(f"{self.name}: unexpected call argument(s) {', '.join(sorted(kwargs))}")
        states = [] if initial_state is None else list(initial_state)
        return self._call(inputs, states, training, mask)

    def _check_extra_inputs(self, extra) -> None:
        self.forward_layer._check_initial_states(extra, 2 * len(self.forward_layer._state_names))

    def build(self, input_shape):
        self.forward_layer._build(input_shape, self.dtype)
        self.backward_layer._build(input_shape, self.dtype)
        self._weights = list(self.forward_layer.weights) + list(self.backward_layer.weights)
        if self._initial is not None:
            self.set_weights(self._initial)
            self._initial = None

    def _weights_fit(self, input_shape) -> bool:
        return self.forward_layer._weights_fit(input_shape)

    def compute_output_shape(self, input_shape):
        """The merged output's shape (with merge_mode=None, each direction's)."""
        shape = tuple(self.forward_layer.compute_output_shape(input_shape))
        if self.merge_mode == "concat":
            shape = shape[:-1] + (2 * shape[-1],)
        return shape

    def _main_outputs(self) -> int:
        return 2 if self.merge_mode is None else 1

    def _output_count(self) -> int:
        states = 2 * len(self.forward_layer._state_names) if self.return_state else 0
        return self._main_outputs() + states

    def _call_output_shapes(self, input_shape):
        main = tuple(self.compute_output_shape(input_shape))
        count = self._output_count() - self._main_outputs()
        return [main] * self._main_outputs() + [(self.forward_layer.units,)] * count

    def _output_masks(self, inputs):
        mask = inputs[0]._mask if self.return_sequences else None
        count = self._main_outputs()
        return [mask] * count + [None] * (self._output_count() - count)

    def _core_graph(self, call):
        """The nodes that run one call: each direction's RNN on the input (its initial
        states, the step mask), the backward sequence put back in time order, the merge
        (none with merge_mode None); then the final states when the model reads them."""
        node, entries = call.node, []
        count = len(self.forward_layer._state_names)
        given = len(node.inputs) > 1
        mains = self._main_outputs()

        def run(layer: BaseRNN, first_state: int, used_states: list[bool]) -> list:
            """Appends the entries of one direction's call; its outputs' entry indices."""
            states = list(range(first_state, first_state + count)) if given else []
            sub = Node(layer, [node.inputs[0]] + [node.inputs[k] for k in states])
            sub.outputs = [
                KerasTensor(shape, self.dtype, sub, index=k)
                for k, shape in enumerate(layer._call_output_shapes(node.inputs[0].shape))
            ]
            sub_entries, sub_outs = layer._core_graph(
                CoreCall(sub, call.masked, [True, *used_states], call.batch)
            )
            outer = [-1] + [-1 - k for k in states]  # the sub-call's input k in this call
            base = len(entries)
            for op, attrs, refs, ws, shape in sub_entries:
                refs = [r if r == "mask" else outer[-1 - r] if r < 0 else base + r for r in refs]
                entries.append((op, attrs, refs, ws, shape))
            return [None if o is None else base + o for o in sub_outs]

        used = call.used[mains:]
        fwd = run(self.forward_layer, 1, used[:count] if self.return_state else [])
        bwd = run(self.backward_layer, 1 + count, used[count:] if self.return_state else [])
        direction = tuple(self.forward_layer.compute_output_shape(node.inputs[0].shape))
        back = bwd[0]
        if self.return_sequences:
            entries.append(("reverse_steps", {}, [back], [], direction))
            back = len(entries) - 1
        if self.merge_mode is None:
            outs = [fwd[0], back]
        else:
            op = _MERGES[self.merge_mode]
            attrs = {"axis": len(direction) - 1} if op == "concatenate" else {}
            entries.append((op, attrs, [fwd[0], back], [], node.outputs[0].shape))
            outs = [len(entries) - 1]
        return entries, outs + fwd[1:] + bwd[1:]

    def get_config(self):
        config = {
            **super().get_config(),
            "layer": {
                "class_name": type(self.forward_layer).__name__,
                "config": self.forward_layer.get_config(),
            },
            "merge_mode": self.merge_mode,
        }
        config["layer"]["config"]["name"] = self.forward_layer.name.removeprefix("forward_")
        config["backward_layer"] = {
            "class_name": type(self.backward_layer).__name__,
            "config": self.backward_layer.get_config(),
        }
        return config

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        layer = _rnn_from_entry(config.pop("layer"), "layer")
        back = config.pop("backward_layer", None)
        backward = None if back is None else _rnn_from_entry(back, "backward_layer")
        return cls(layer, backward_layer=backward, **config)


def _rnn_from_entry(entry, what: str) -> BaseRNN:
    from .base import LAYER_CLASSES

    name = entry.get("class_name") if isinstance(entry, dict) else None
    cls = LAYER_CLASSES.get(name) if isinstance(name, str) else None
    if cls is None or not issubclass(cls, BaseRNN):
        raise ValueError(f"Bidirectional: {what} must be a recurrent layer's configuration")
    cfg = entry.get("config")
    if not isinstance(cfg, dict):
        raise TypeError(f"Bidirectional: {what} has no configuration object")
    return cls.from_config(dict(cfg))


def _time_distributable(layer) -> bool:
    """Layers that act on each step's values alone, so running them over (steps, ...)
    inputs at once is running them at every step with shared weights."""
    from .core import Activation, ActivityRegularization, Dense, LeakyReLU
    from .dropout import AlphaDropout, Dropout, GaussianDropout, GaussianNoise, _SpatialDropout
    from .normalization import BatchNormalization, LayerNormalization

    if isinstance(layer, _SpatialDropout) or (
        isinstance(layer, Dropout) and layer.noise_shape is not None
    ):
        return False
    if isinstance(layer, (BatchNormalization, LayerNormalization)):
        return layer.axis == -1
    return isinstance(
        layer,
        (
            Dense,
            Activation,
            LeakyReLU,
            Dropout,
            AlphaDropout,
            GaussianDropout,
            GaussianNoise,
            ActivityRegularization,
        ),
    )


class TimeDistributed(Layer):
    """Applies ``layer`` to every step of (batch, steps, ...) inputs with one set of weights:
    ``TimeDistributed(Dense(1))`` after an LSTM returning sequences, or
    ``TimeDistributed(Conv2D(...))`` over the frames of a clip before an LSTM. Layers that act
    on each step's values alone (Dense, Activation, the dropout family, normalization over
    the last axis) run over all steps as one op; any other layer runs once per step through
    the core's time_distributed op, over the same memory. Dropout inside draws a new mask
    per step, as in Keras."""

    supports_masking = True

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        if (
            not isinstance(layer, Layer)
            or layer.multiple_inputs
            or isinstance(layer, (Bidirectional, TimeDistributed))
            or type(layer).__name__ == "InputLayer"
            or layer._output_count() > 1
        ):
            raise TypeError(
                "TimeDistributed: expected a layer of one input and one output (not a merge "
                "layer, Input, Bidirectional, TimeDistributed or return_state=True), received "
                f"{type(layer).__name__}"
            )
        if isinstance(layer, BaseRNN) and layer.stateful:
            raise ValueError("TimeDistributed: a stateful recurrent layer cannot be wrapped")
        if layer.activity_regularizer is not None:
            raise ValueError(
                "TimeDistributed: give the activity_regularizer to TimeDistributed itself, "
                "not to the layer it wraps"
            )
        self.layer = layer

    def build(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(
                f"{self.name}: expected (batch, steps, ...) inputs, received shape "
                f"(None, {', '.join(map(str, input_shape))})"
            )
        self.layer._build(tuple(input_shape[1:]), self.dtype)
        self._weights = list(self.layer.weights)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.layer.compute_output_shape(tuple(input_shape[1:])))

    def _core_graph(self, call):
        """The wrapped layer's op over all steps at once when it acts on each step's values
        alone, else inside a time_distributed op (a mask passes by)."""
        inner = self.layer
        assert self.output_shape is not None
        if not _time_distributable(inner):
            op, attrs = inner._core_op()
            nested = {"op": op, **{f"inner.{k}": v for k, v in attrs.items()}}
            return [("time_distributed", nested, [-1], inner.weights, tuple(self.output_shape))], [
                0
            ]
        own = inner.input_shape
        inner.input_shape = self.input_shape  # the op sees (steps, ...)
        try:
            op, attrs = inner._core_op()
        finally:
            inner.input_shape = own
        return [(op, attrs, [-1], inner.weights, tuple(self.output_shape))], [0]

    def get_config(self):
        return {
            **super().get_config(),
            "layer": {"class_name": type(self.layer).__name__, "config": self.layer.get_config()},
        }

    @classmethod
    def from_config(cls, config: dict):
        from .base import LAYER_CLASSES

        config = dict(config)
        entry = config.pop("layer", None)
        name = entry.get("class_name") if isinstance(entry, dict) else None
        inner_cls = LAYER_CLASSES.get(name) if isinstance(name, str) else None
        if (
            inner_cls is None
            or not isinstance(entry, dict)
            or not isinstance(entry.get("config"), dict)
        ):
            raise TypeError("TimeDistributed: layer must be a layer configuration")
        return cls(inner_cls.from_config(dict(entry["config"])), **config)
