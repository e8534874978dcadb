"""Optimizers and learning-rate schedules with Keras's names, defaults and formulas.

The update itself runs in the core (one fused pass per parameter); these objects hold
hyperparameters, the step count, and the slot arrays (moments, accumulators).
"""

from __future__ import annotations

import numbers
from typing import ClassVar

import numpy as np

from . import _core
from ._data import MAX_INT, check_int
from .layers.base import Weight


class LearningRateSchedule:
    """Base class: ``schedule(step)`` gives the rate at a step counted from 0."""

    kind = "constant"
    initial_learning_rate: float

    def __call__(self, step):
        raise NotImplementedError

    def _spec(self) -> dict:
        """The core's description of the schedule."""
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class _Decay(LearningRateSchedule):
    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name=None):
        self.initial_learning_rate = _positive(
            type(self).__name__, "initial_learning_rate", initial_learning_rate
        )
        self.decay_steps = _positive(type(self).__name__, "decay_steps", decay_steps, strict=True)
        self.decay_rate = _positive(type(self).__name__, "decay_rate", decay_rate)
        self.staircase = bool(staircase)
        self.name = name

    def __call__(self, step):
        """The rate at optimizer step ``step``, by the core's formula (the one training uses)."""
        return _core.schedule_value(self._spec(), int(step))

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }

    def _spec(self):
        return {
            "kind": self.kind,
            "initial": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
        }


class ExponentialDecay(_Decay):
    """lr · decay_rate^(step / decay_steps)."""

    kind = "exponential"


class InverseTimeDecay(_Decay):
    """lr / (1 + decay_rate · step / decay_steps)."""

    kind = "inverse_time"


def _positive(owner, what, value, strict=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{owner}: expected {what} to be a finite number, received {value!r}")
    if value < 0 or (strict and value == 0):
        raise ValueError(f"{owner}: expected {what} {'>' if strict else '>='} 0, received {value}")
    return float(value)


class LearningRate(float):
    """An optimizer's learning rate: a float that knows its optimizer, so that Keras code
    setting the rate in place (``assign``, ``backend.set_value``) sets it. A change made
    from a callback during ``fit`` takes effect from the next step."""

    _owner: Optimizer

    def __new__(cls, value: float, owner: Optimizer):
        obj = super().__new__(cls, value)
        obj._owner = owner
        return obj

    def assign(self, value) -> None:
        self._owner.learning_rate = float(value)

    def numpy(self) -> np.ndarray:
        return np.asarray(float(self), dtype=np.float32)

    def __reduce__(self):
        return (float, (float(self),))


class Optimizer:
    """Base optimizer. ``lr=`` (Keras 2) is accepted for ``learning_rate``, and ``decay=d``
    means lr / (1 + d · iterations), as in Keras 2.

    Each step, for every trainable weight: clip the gradients, decay the weight
    (``weight_decay``: θ ← θ − θ·weight_decay·lr, unless excluded by
    ``exclude_from_weight_decay``), update it, update its moving average (``use_ema``), then
    apply its constraint."""

    kind = "sgd"
    # Slots the update rule keeps per weight; with use_ema the moving average follows them.
    _update_slots = 0
    # The update rule's slots in the core's order (cpp/src/kernels/optim.cpp): what each
    # holds, and whether the rule keeps it >= 0 (a running average or sum of squares: a
    # negative value can only come from a damaged file). The first _update_slots are in use.
    _SLOTS: ClassVar[tuple[tuple[str, bool], ...]] = ()

    def __init__(
        self,
        learning_rate=0.001,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name=None,
        lr=None,
        decay=None,
        weight_decay=None,
        use_ema=False,
        ema_momentum=0.99,
        ema_overwrite_frequency=None,
        **kwargs,
    ):
        cls = type(self).__name__
        if kwargs:
            raise TypeError(f"{cls}: unexpected keyword argument(s) {', '.join(sorted(kwargs))}")
        self.weight_decay = (
            None if weight_decay is None else _positive(cls, "weight_decay", weight_decay)
        )
        if not isinstance(use_ema, (bool, np.bool_)):
            raise TypeError(f"{cls}: expected use_ema to be True or False, received {use_ema!r}")
        self.use_ema = bool(use_ema)
        self.ema_momentum = _positive(cls, "ema_momentum", ema_momentum)
        if self.ema_momentum > 1:
            raise ValueError(f"{cls}: expected 0 <= ema_momentum <= 1, received {ema_momentum}")
        self.ema_overwrite_frequency = (
            None
            if ema_overwrite_frequency is None
            else check_int(ema_overwrite_frequency, f"{cls}(ema_overwrite_frequency)", 1)
        )
        # Set when a model compiled with the optimizer first runs; fixes the exclusions.
        self.built = False
        self._excluded_weights: frozenset = frozenset()
        self._excluded_names: tuple[str, ...] = ()
        if lr is not None:
            learning_rate = lr
        clips = [c for c in (clipnorm, clipvalue, global_clipnorm) if c is not None]
        if len(clips) > 1:
            raise ValueError(
                f"{cls}: only one of clipnorm, clipvalue and global_clipnorm can be set"
            )
        self.clipnorm = None if clipnorm is None else _positive(cls, "clipnorm", clipnorm, True)
        self.clipvalue = None if clipvalue is None else _positive(cls, "clipvalue", clipvalue, True)
        self.global_clipnorm = (
            None
            if global_clipnorm is None
            else _positive(cls, "global_clipnorm", global_clipnorm, True)
        )
        self.decay = 0.0 if decay is None else _positive(cls, "decay", decay)
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{cls}: expected name to be a str, received {name!r}")
        self.name = name or cls.lower()
        self.iterations = 0
        self.learning_rate = learning_rate

    @property
    def learning_rate(self):
        """The rate (a schedule, or a number that Keras code can also set in place:
        ``optimizer.learning_rate.assign(x)``, Keras 2's ``K.set_value(optimizer.lr, x)``)."""
        lr = self._learning_rate
        return lr if isinstance(lr, LearningRateSchedule) else LearningRate(lr, self)

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(value, LearningRateSchedule):
            if self.decay:
                raise ValueError(
                    f"{type(self).__name__}: decay= cannot be combined with a schedule"
                )
            self._learning_rate = value
        else:
            self._learning_rate = _positive(type(self).__name__, "learning_rate", value)

    lr = learning_rate  # Keras 2 attribute name

    @property
    def iterations(self) -> int:
        """The steps taken so far (the next step's bias correction and scheduled rate
        count from it): an int from 0 to 2**53."""
        return self._iterations

    @iterations.setter
    def iterations(self, value) -> None:
        self._iterations = check_int(value, f"{type(self).__name__}.iterations", 0, MAX_INT)

    @property
    def n_slots(self) -> int:
        """Slots kept per weight: the update rule's, then the moving average (use_ema)."""
        return self._update_slots + self.use_ema

    def _slot_kinds(self) -> list[tuple[str, bool]]:
        """(what it holds, whether it is never negative) for each slot the optimizer keeps
        per weight, in the order of the model file's ``optimizer/i/j`` tensors."""
        average = [("moving average of the weight (use_ema)", False)] if self.use_ema else []
        return list(self._SLOTS[: self._update_slots]) + average

    def exclude_from_weight_decay(self, var_list=None, var_names=None) -> None:
        """Leave weights out of ``weight_decay``: those in ``var_list`` (weights such as
        ``layer.kernel`` or ``model.weights[i]``) and those whose name (``'dense/bias'``)
        contains one of the strings in ``var_names``. Each call replaces the previous
        exclusions. It must come before the optimizer is built: before a model compiled with
        it first runs (fit, evaluate, predict, train_on_batch)."""
        cls = type(self).__name__
        if self.built:
            raise ValueError(
                f"{cls}.exclude_from_weight_decay: the optimizer is already built (a model "
                "compiled with it has run); exclude weights before the model's first fit, "
                "evaluate, predict or train_on_batch"
            )
        weights = _listed(var_list, f"{cls}.exclude_from_weight_decay(var_list)")
        for w in weights:
            if not isinstance(w, Weight):
                raise TypeError(
                    f"{cls}.exclude_from_weight_decay: expected var_list to hold weights "
                    f"(layer.kernel, model.weights[i]), received {type(w).__name__}"
                )
        names = _listed(var_names, f"{cls}.exclude_from_weight_decay(var_names)")
        for n in names:
            if not isinstance(n, str):
                raise TypeError(
                    f"{cls}.exclude_from_weight_decay: expected var_names to hold strings, "
                    f"received {n!r}"
                )
        self._excluded_weights = frozenset(weights)
        self._excluded_names = tuple(names)

    def _weight_decays(self, weights: list[Weight]) -> list[float]:
        """Each weight's decoupled decay rate (0 where excluded), for a model's network: the
        optimizer is built from here on, so the network's rates stay those of its exclusions."""
        self.built = True
        return [
            0.0
            if not self.weight_decay
            or w in self._excluded_weights
            or any(n in w.name for n in self._excluded_names)
            else self.weight_decay
            for w in weights
        ]

    def current_learning_rate(self) -> float:
        """The rate the next step will use."""
        lr = self._learning_rate
        if isinstance(lr, LearningRateSchedule):
            return float(lr(self.iterations))
        return _core.schedule_value(self._lr_spec(), int(self.iterations))

    def _lr_spec(self) -> dict:
        lr = self._learning_rate
        if isinstance(lr, LearningRateSchedule):
            return lr._spec()
        if self.decay:
            return {"kind": "keras2_decay", "initial": lr, "decay_rate": self.decay}
        return {"kind": "constant", "initial": lr}

    def _hyper(self) -> dict:
        return {}

    def _core_hyper(self) -> dict:
        """The hyperparameters the core's update reads (the configuration may hold more)."""
        return self._hyper()

    def _spec(self) -> dict:
        return {
            "kind": self.kind,
            "lr": self._lr_spec(),
            "clipnorm": self.clipnorm or 0.0,
            "clipvalue": self.clipvalue or 0.0,
            "global_clipnorm": self.global_clipnorm or 0.0,
            **self._core_hyper(),
            "use_ema": self.use_ema,
            **(
                {
                    "ema_momentum": self.ema_momentum,
                    "ema_overwrite_frequency": self.ema_overwrite_frequency or 0,
                }
                if self.use_ema
                else {}
            ),
        }

    def _make_slots(self, value: np.ndarray) -> list[np.ndarray]:
        return [np.zeros_like(value) for _ in range(self.n_slots)]

    def get_config(self) -> dict:
        lr = self._learning_rate
        if isinstance(lr, LearningRateSchedule):
            lr = {"class_name": type(lr).__name__, "config": lr.get_config()}
        cfg = {
            "name": self.name,
            "learning_rate": lr,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "clipvalue": self.clipvalue,
            "global_clipnorm": self.global_clipnorm,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
        }
        if self.decay:
            cfg["decay"] = self.decay
        if self._excluded_names:
            cfg["exclude_from_weight_decay"] = list(self._excluded_names)
        return {**cfg, **self._hyper()}

    @classmethod
    def from_config(cls, config):
        """The optimizer a ``get_config()`` describes; a config of the wrong form raises
        ValueError (TypeError for an unknown argument)."""
        if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
            raise ValueError(f"{cls.__name__}: expected a config object, received {config!r}")
        config = dict(config)
        lr = config.get("learning_rate")
        if isinstance(lr, dict):
            name = lr.get("class_name")
            sched = _SCHEDULES.get(name) if isinstance(name, str) else None
            if sched is None or not isinstance(lr.get("config"), dict):
                raise ValueError(
                    f"{cls.__name__}: learning_rate must be a number or a schedule "
                    f"{{'class_name': one of {', '.join(_SCHEDULES)}, 'config': {{...}}}}, "
                    f"received {lr!r}"
                )
            config["learning_rate"] = sched.from_config(lr["config"])
        excluded = config.pop("exclude_from_weight_decay", None)
        opt = cls(**config)
        if excluded is not None:
            opt.exclude_from_weight_decay(var_names=excluded)
        return opt


def _fraction(owner: str, what: str, value) -> float:
    """A decay rate: 0 <= value < 1 (at 1 the average would never move)."""
    v = _positive(owner, what, value)
    if v >= 1:
        raise ValueError(f"{owner}: expected 0 <= {what} < 1, received {value}")
    return v


def _listed(value, what: str) -> list:
    """None (nothing) or a list or tuple of items; a lone string is refused, not split."""
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{what}: expected a list, received {type(value).__name__}")
    return list(value)


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum: m ← μm − lr·g; θ += m."""

    kind = "sgd"
    _SLOTS = (("momentum (the velocity m)", False),)

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        m = _positive("SGD", "momentum", momentum)
        if m > 1:
            raise ValueError(f"SGD: expected 0 <= momentum <= 1, received {momentum}")
        self.momentum, self.nesterov = m, bool(nesterov)
        self._update_slots = 1 if m > 0 else 0

    def _hyper(self):
        return {"momentum": self.momentum, "nesterov": self.nesterov}


class _Moments(Optimizer):
    """The β1, β2 and ε of Adam and its variants, each decay rate in [0, 1)."""

    _update_slots = 2

    def __init__(self, learning_rate, beta_1, beta_2, epsilon, **kwargs):
        super().__init__(learning_rate, **kwargs)
        cls = type(self).__name__
        self.beta_1 = _fraction(cls, "beta_1", beta_1)
        self.beta_2 = _fraction(cls, "beta_2", beta_2)
        self.epsilon = _positive(cls, "epsilon", epsilon, True)

    def _hyper(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Adam(_Moments):
    kind = "adam"
    _SLOTS = (
        ("first moment m", False),
        ("second moment v", True),
        ("largest second moment v_hat (amsgrad)", True),
    )

    def __init__(
        self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs
    ):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, **kwargs)
        self.amsgrad = bool(amsgrad)
        self._update_slots = 3 if self.amsgrad else 2

    def _hyper(self):
        return {**super()._hyper(), "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay, on by default (the core runs Adam's update after the
    decay every optimizer has)."""

    def __init__(
        self,
        learning_rate=0.001,
        weight_decay=0.004,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad=False,
        **kwargs,
    ):
        if weight_decay is None:
            raise ValueError("AdamW: expected weight_decay to be a number, received None")
        super().__init__(
            learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay=weight_decay, **kwargs
        )


class Adamax(_Moments):
    """Adam with the infinity norm: u ← max(β2·u, |g|); θ −= lr·m/((1 − β1ᵗ)(u + ε))."""

    kind = "adamax"
    _SLOTS = (("first moment m", False), ("infinity norm u", True))

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, **kwargs)


class Nadam(_Moments):
    """Adam with Nesterov momentum, on the momentum schedule μₜ = β1(1 − ½·0.96ᵗ)."""

    kind = "nadam"
    _SLOTS = (("first moment m", False), ("second moment v", True))

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, **kwargs)


class Lion(Optimizer):
    """θ −= lr·sign(β1·m + (1 − β1)·g); m ← β2·m + (1 − β2)·g."""

    kind = "lion"
    _update_slots = 1
    _SLOTS = (("momentum m", False),)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _positive("Lion", "beta_1", beta_1)
        if not 0 < self.beta_1 <= 1:
            raise ValueError(f"Lion: expected 0 < beta_1 <= 1, received {beta_1}")
        self.beta_2 = _positive("Lion", "beta_2", beta_2)
        if self.beta_2 > 1:
            raise ValueError(f"Lion: expected 0 <= beta_2 <= 1, received {beta_2}")

    def _hyper(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2}


class RMSprop(Optimizer):
    kind = "rmsprop"
    _update_slots = 3
    _SLOTS = (
        ("mean square of the gradients", True),
        ("momentum", False),
        ("mean gradient (centered)", False),
    )

    def __init__(
        self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs
    ):
        super().__init__(learning_rate, **kwargs)
        self.rho = _fraction("RMSprop", "rho", rho)
        self.momentum = _fraction("RMSprop", "momentum", momentum)
        self.epsilon = _positive("RMSprop", "epsilon", epsilon, True)
        self.centered = bool(centered)

    def _hyper(self):
        return {
            "rho": self.rho,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }


class Adagrad(Optimizer):
    kind = "adagrad"
    _update_slots = 1
    _SLOTS = (("accumulator of squared gradients", True),)

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = _positive(
            "Adagrad", "initial_accumulator_value", initial_accumulator_value
        )
        self.epsilon = _positive("Adagrad", "epsilon", epsilon, True)

    def _make_slots(self, value):
        slots = super()._make_slots(value)
        slots[0].fill(self.initial_accumulator_value)
        return slots

    def _hyper(self):
        return {
            "initial_accumulator_value": self.initial_accumulator_value,
            "epsilon": self.epsilon,
        }

    def _core_hyper(self):
        # The initial accumulator only fills the slots (_make_slots).
        return {"epsilon": self.epsilon}


class Adadelta(Optimizer):
    kind = "adadelta"
    _update_slots = 2
    _SLOTS = (
        ("accumulated squared gradients", True),
        ("accumulated squared updates", True),
    )

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho = _fraction("Adadelta", "rho", rho)
        self.epsilon = _positive("Adadelta", "epsilon", epsilon, True)

    def _hyper(self):
        return {"rho": self.rho, "epsilon": self.epsilon}


_SCHEDULES: dict[str, type[_Decay]] = {
    "ExponentialDecay": ExponentialDecay,
    "InverseTimeDecay": InverseTimeDecay,
}
_BY_NAME = {
    "sgd": SGD,
    "adam": Adam,
    "rmsprop": RMSprop,
    "adagrad": Adagrad,
    "adadelta": Adadelta,
    "adamax": Adamax,
    "nadam": Nadam,
    "adamw": AdamW,
    "lion": Lion,
}
_BY_CLASS: dict[str, type[Optimizer]] = {c.__name__: c for c in _BY_NAME.values()}


def get(identifier) -> Optimizer:
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    if isinstance(identifier, dict) and isinstance(identifier.get("class_name"), str):
        cls = _BY_CLASS.get(identifier["class_name"])
        if cls is not None:
            return cls.from_config(identifier.get("config", {}))
    raise ValueError(
        f"unknown optimizer: expected one of {', '.join(_BY_NAME)}, received {identifier!r}"
    )


def serialize(opt: Optimizer) -> dict:
    return {"class_name": type(opt).__name__, "config": opt.get_config()}


schedules = type(
    "schedules",
    (),
    {
        "ExponentialDecay": ExponentialDecay,
        "InverseTimeDecay": InverseTimeDecay,
        "LearningRateSchedule": LearningRateSchedule,
    },
)
