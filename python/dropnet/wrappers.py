"""scikit-learn estimators around a model-building function: ``SequentialClassifier`` and
``SequentialRegressor`` (SciKeras's ``KerasClassifier``/``KerasRegressor`` interface).

``model`` is a function returning a ``Sequential`` (compiled or not) or a ``Sequential``
itself. Parameters route by prefix, as in SciKeras: ``model__rate=0.3`` reaches the build
function as ``rate=0.3``; ``fit__``, ``compile__`` and ``optimizer__`` prefixes reach
``Sequential.fit``, ``Sequential.compile`` and the optimizer's constructor. Unprefixed
extra parameters reach the build function when it takes them. A build function that
takes ``meta`` receives the facts of the data (``n_features_in_``, ``n_classes_``,
``classes_``, ...); one that takes ``compile_kwargs`` receives the resolved compile
arguments.

With an integer ``random_state`` a fit (initial weights, dropout masks, shuffles) is a
pure function of the data and the parameters: the same bits in any process, on any
thread count, so ``cross_val_score(..., n_jobs=k)`` and Dask or Ray joblib backends
reproduce a local run exactly. Estimators pickle through the model file format.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
from collections import defaultdict

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from . import optimizers
from .models import Model
from .utils import seed_scope

# Lets ``dropnet.wrappers.scikit_learn`` (Keras 2's path) import as this module: see keras2.py.
__path__: list[str] = []

_ROUTES = ("model", "fit", "compile", "optimizer", "predict", "score")
# Sequential.fit arguments the estimator sets itself from its own parameters.
_FIT_PARAMS = (
    "batch_size",
    "epochs",
    "verbose",
    "callbacks",
    "validation_split",
    "shuffle",
    "class_weight",
)


def _one_hot(y) -> bool:
    """Rows of one 1 and 0s elsewhere (to_categorical's output), at least two columns."""
    y = np.asarray(y)
    if y.ndim != 2 or y.shape[1] < 2 or y.shape[0] == 0:
        return False
    return bool(np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1))


def _one_hot_target(target_type) -> bool:
    return target_type == "multilabel-indicator"


def _prefixed(params: dict, prefix: str) -> dict:
    head = prefix + "__"
    return {k[len(head) :]: v for k, v in params.items() if k.startswith(head)}


class _SequentialEstimator(BaseEstimator):
    """What the classifier and the regressor share: parameter routing, building,
    compiling, fitting (cold, warm or partial) and predicting."""

    def __init__(
        self,
        model=None,
        *,
        build_fn=None,
        warm_start=False,
        random_state=None,
        optimizer="rmsprop",
        loss=None,
        metrics=None,
        batch_size=None,
        epochs=1,
        verbose=0,
        callbacks=None,
        validation_split=0.0,
        shuffle=True,
        class_weight=None,
        **kwargs,
    ):
        self.model = model
        self.build_fn = build_fn
        self.warm_start = warm_start
        self.random_state = random_state
        self.optimizer = optimizer
        self.loss = loss
        self.metrics = metrics
        self.batch_size = batch_size
        self.epochs = epochs
        self.verbose = verbose
        self.callbacks = callbacks
        self.validation_split = validation_split
        self.shuffle = shuffle
        self.class_weight = class_weight
        # Parameters beyond the signature (routed or bare) live in one private dict, so
        # the instance holds exactly its declared parameters, as scikit-learn expects.
        self._extra = dict(kwargs)

    # ---------------------------------------------------------------- parameters
    def __getattr__(self, name):
        extra = self.__dict__.get("_extra")
        if extra is not None and name in extra:
            return extra[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def get_params(self, deep=True):
        out = super().get_params(deep=deep)
        out.update(self.__dict__.get("_extra", {}))
        return out

    def set_params(self, **params):
        # Routed keys (model__rate, optimizer__momentum, ...) are plain parameters here:
        # scikit-learn's default would look for a sub-estimator called ``model``.
        names = self._init_names()
        for key, value in params.items():
            if key in names:
                setattr(self, key, value)
            elif (
                ("__" in key and key.split("__", 1)[0] in _ROUTES)
                or key in self._extra
                or self._bare_route(key) is not None
            ):
                # Keras 2's wrapper took build-function (and fit) arguments bare, so grids
                # such as dict(dropout_rate=[...], neurons=[...]) search them.
                self._extra[key] = value
            else:
                raise ValueError(
                    f"Invalid parameter {key!r} for estimator {type(self).__name__}: expected one of "
                    f"{', '.join(sorted(self.get_params(deep=False)))} or a routed name such as "
                    f"model__{key}"
                )
        return self

    @classmethod
    def _init_names(cls) -> set:
        sig = inspect.signature(cls.__init__)
        return {
            p.name
            for p in sig.parameters.values()
            if p.kind is p.KEYWORD_ONLY or (p.kind is p.POSITIONAL_OR_KEYWORD and p.name != "self")
        }

    def _extra_params(self) -> dict:
        """Parameters given beyond the signature: routed (prefix__name) or bare."""
        return dict(self._extra)

    def _bare_route(self, name: str) -> str | None:
        """Where a bare parameter goes, as in Keras 2's wrapper: "model" when the build
        function takes it, else "fit" or "predict" when Model.fit or Model.predict does;
        None when nothing takes it."""
        target = self.model if self.model is not None else self.build_fn
        if callable(target) and not isinstance(target, Model):
            try:
                params = dict(inspect.signature(target).parameters)
            except (TypeError, ValueError):
                params = {}
            if name in params and name not in ("meta", "compile_kwargs"):
                return "model"
            if any(p.kind is p.VAR_KEYWORD for p in params.values()):
                return "model"
        for route, method in (("fit", Model.fit), ("predict", Model.predict)):
            if name in inspect.signature(method).parameters and name not in ("self", "x", "y"):
                return route
        return None

    def _bare(self, route: str) -> dict:
        """The bare parameters bound for ``route``; ValueError naming any that nothing takes
        (a misspelt or outdated name is never silently dropped)."""
        bare = {k: v for k, v in self._extra.items() if "__" not in k}
        routes = {k: self._bare_route(k) for k in bare}
        unknown = sorted(k for k, r in routes.items() if r is None)
        if unknown:
            raise ValueError(
                f"{type(self).__name__}: {', '.join(unknown)} is not a parameter of the build "
                "function, of Model.fit or of Model.predict"
            )
        return {k: v for k, v in bare.items() if routes[k] == route}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        tags.input_tags.allow_nan = False
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_")

    # ---------------------------------------------------------------- building
    def _build_function(self):
        target = self.model if self.model is not None else self.build_fn
        if target is None:
            raise ValueError(
                f"{type(self).__name__}: expected model= (a function returning a Sequential, or a "
                "Sequential), received None"
            )
        if self.model is not None and self.build_fn is not None:
            raise ValueError(f"{type(self).__name__}: give model= or build_fn=, not both")
        return target

    def _build_model(self, meta: dict) -> Model:
        target = self._build_function()
        if isinstance(target, Model):
            model = copy.deepcopy(target)
        elif callable(target):
            model = target(**self._build_kwargs(target, meta))
        else:
            raise TypeError(
                f"{type(self).__name__}: expected model= to be a function or a model, received "
                f"{type(target).__name__}"
            )
        if not isinstance(model, Model):
            raise TypeError(
                f"{type(self).__name__}: the model function must return a dropnet Sequential or "
                f"Model, received {type(model).__name__}"
            )
        if len(model.outputs if model.built else [None]) != 1 or (
            model.built and len(model.inputs) != 1
        ):
            raise ValueError(
                f"{type(self).__name__}: the model must have one input and one output, received "
                f"{len(model.inputs)} and {len(model.outputs)}"
            )
        if not model.compiled or model._loss_name is None:
            model.compile(**self._compile_kwargs(model, meta))
        return model

    def _build_kwargs(self, fn, meta: dict) -> dict:
        params = self.get_params(deep=False)
        extra = self._extra_params()
        routed = _prefixed(extra, "model")
        bare = self._bare("model")
        sig = inspect.signature(fn)
        takes_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
        kwargs = {}
        for name in sig.parameters:
            if name == "meta":
                kwargs["meta"] = dict(meta)
            elif name == "compile_kwargs":
                kwargs["compile_kwargs"] = self._compile_kwargs(None, meta)
            elif name in routed:
                kwargs[name] = routed[name]
            elif name in bare:
                kwargs[name] = bare[name]
            elif name in params and name not in ("model", "build_fn"):
                kwargs[name] = params[name]
        if takes_any:
            for source in (bare, routed):
                for name, value in source.items():
                    kwargs.setdefault(name, value)
        return kwargs

    def _optimizer(self):
        opt = self.optimizer
        kwargs = _prefixed(self._extra_params(), "optimizer")
        if isinstance(opt, optimizers.Optimizer):
            if kwargs:
                opt = type(opt).from_config({**opt.get_config(), **kwargs})
            else:
                opt = copy.deepcopy(opt)
            return opt
        if isinstance(opt, type) and issubclass(opt, optimizers.Optimizer):
            return opt(**kwargs)
        if isinstance(opt, str):
            cls = type(optimizers.get(opt))
            return cls(**kwargs)
        raise TypeError(
            f"{type(self).__name__}: expected optimizer as a name, an Optimizer class or instance, "
            f"received {type(opt).__name__}"
        )

    def _compile_kwargs(self, model, meta: dict) -> dict:
        kwargs = {"optimizer": self._optimizer(), "loss": self.loss, "metrics": self.metrics}
        kwargs.update(_prefixed(self._extra_params(), "compile"))
        if kwargs["loss"] is None:
            kwargs["loss"] = self._default_loss(model, meta)
        return kwargs

    # ---------------------------------------------------------------- fitting
    def fit(self, X, y, sample_weight=None, **kwargs):
        """Build (unless warm-starting a fitted estimator) and train for ``epochs`` epochs."""
        return self._fit(X, y, sample_weight, kwargs, warm=bool(self.warm_start))

    def partial_fit(self, X, y, sample_weight=None, **kwargs):
        """One epoch on (X, y), building the model on the first call."""
        kwargs = dict(kwargs)
        kwargs["epochs"] = 1
        return self._fit(X, y, sample_weight, kwargs, warm=True)

    def _fit(self, X, y, sample_weight, fit_kwargs: dict, warm: bool):
        reuse = warm and self.__sklearn_is_fitted__()
        X, y = self._validate(X, y, reset=not reuse)
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=np.float64)
            if sample_weight.ndim != 1 or sample_weight.shape[0] != X.shape[0]:
                raise ValueError(
                    f"{type(self).__name__}.fit: expected sample_weight of shape ({X.shape[0]},), "
                    f"received {sample_weight.shape}"
                )
            if sample_weight.size and not np.any(sample_weight):
                raise ValueError(
                    f"{type(self).__name__}.fit: sample weights must contain at least one non-zero "
                    "number; all are zero"
                )
        encoded = self._encode_targets(y, reset=not reuse)
        run_kwargs = {
            "batch_size": self.batch_size,
            "epochs": self.epochs,
            "verbose": self.verbose,
            "callbacks": self.callbacks,
            "validation_split": self.validation_split,
            "shuffle": self.shuffle,
            "class_weight": self._class_weight(y),
        }
        run_kwargs.update(self._bare("fit"))
        run_kwargs.update(_prefixed(self._extra_params(), "fit"))
        run_kwargs.update(fit_kwargs)
        if run_kwargs.get("callbacks") is not None:
            # The estimator's parameters must survive fit unchanged (scikit-learn's contract).
            run_kwargs["callbacks"] = copy.deepcopy(list(run_kwargs["callbacks"]))
        seed = None
        if not reuse and self.random_state is not None:
            seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        scope = seed_scope(seed) if seed is not None else contextlib.nullcontext()
        with scope:
            if not reuse:
                self.model_ = self._build_model(self._meta())
                self._check_output(self.model_)
                self.history_ = defaultdict(list)
            targets = self._model_targets(encoded)
            hist = self.model_.fit(X, targets, sample_weight=sample_weight, **run_kwargs)
        for key, values in hist.history.items():
            self.history_[key].extend(values)
        return self

    def _class_weight(self, y):
        if self.class_weight is not None:
            raise ValueError(f"{type(self).__name__}: class_weight applies to classifiers only")

    def _validate(self, X, y=None, reset=True):
        """X (and y) checked in scikit-learn's words, which its estimator checks look for;
        a column-vector y is flattened with scikit-learn's warning. ``reset`` records the
        input's shape and dtype for ``meta``."""
        dtype = (np.float64, np.float32)
        if y is None:
            if reset:
                validate_data(
                    self, X, y, reset=reset, allow_nd=True, dtype=dtype
                )  # raises: y needed
            return validate_data(self, X, reset=reset, allow_nd=True, dtype=dtype), None
        y = y.to_numpy() if hasattr(y, "to_numpy") else np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        X, y = validate_data(
            self,
            X,
            y,
            reset=reset,
            allow_nd=True,
            multi_output=True,
            y_numeric=isinstance(self, RegressorMixin),
            dtype=dtype,
        )
        if reset:
            self.X_shape_ = tuple(X.shape)
            self.X_dtype_ = X.dtype
        return X, y

    def _meta(self) -> dict:
        meta = {k: getattr(self, k) for k in self._meta_keys() if hasattr(self, k)}
        meta["X_shape_"] = self.X_shape_
        meta["X_dtype_"] = self.X_dtype_
        return meta

    def _output_units(self, model: Model) -> int:
        shape = model.output_shape
        return int(np.prod(shape[1:])) if shape and len(shape) > 1 else 1

    def _predict_kwargs(self) -> dict:
        kwargs = {"verbose": 0, **self._bare("predict")}
        kwargs.update(_prefixed(self._extra_params(), "predict"))
        return kwargs

    def _predict_raw(self, X, mc_samples=None, spread=False):
        """The model's outputs (n, units) in float64; with ``mc_samples``, the mean (and with
        ``spread`` the standard deviation) over that many Monte-Carlo dropout passes, of
        probabilities when the model outputs logits."""
        check_is_fitted(self)
        X, _ = self._validate(X, reset=False)
        expected = tuple(self.X_shape_[1:])
        if X.shape[1:] != expected:
            raise ValueError(
                f"{type(self).__name__}: expected samples of shape {expected}, received {X.shape[1:]}"
            )
        kwargs = self._predict_kwargs()
        if mc_samples is None:
            if spread:
                raise ValueError(f"{type(self).__name__}: the spread needs mc_samples")
            out = self.model_.predict(X, **kwargs)
            return self._as_output(np.asarray(out, dtype=np.float64).reshape(X.shape[0], -1))
        if isinstance(mc_samples, bool) or not isinstance(mc_samples, (int, np.integer)):
            raise TypeError(
                f"{type(self).__name__}: expected mc_samples to be an int >= 1, received "
                f"{mc_samples!r}"
            )
        if mc_samples < 1:
            raise ValueError(
                f"{type(self).__name__}: expected mc_samples >= 1, received {mc_samples}"
            )
        if not getattr(self.model_, "_from_logits", False):
            mean, std = self.model_.predict_mc(
                X, n=int(mc_samples), batch_size=kwargs.get("batch_size")
            )
            mean = np.asarray(mean, dtype=np.float64).reshape(X.shape[0], -1)
            std = np.asarray(std, dtype=np.float64).reshape(X.shape[0], -1)
        else:  # the mean of probabilities, not of logits: one converted pass at a time
            total = np.zeros((X.shape[0], self._output_units(self.model_)))
            squares = np.zeros_like(total)
            for _ in range(int(mc_samples)):
                out = self.model_.predict(X, training=True, **kwargs)
                p = self._as_output(np.asarray(out, dtype=np.float64).reshape(X.shape[0], -1))
                total += p
                squares += p * p
            mean = total / mc_samples
            std = np.sqrt(np.maximum(squares / mc_samples - mean * mean, 0.0))
        return (mean, std) if spread else mean

    def _as_output(self, raw: np.ndarray) -> np.ndarray:
        """The model's raw outputs as the estimator's (probabilities for a classifier)."""
        return raw


class SequentialClassifier(ClassifierMixin, _SequentialEstimator):
    """A scikit-learn classifier training a dropnet ``Sequential``.

    Labels of any type are encoded to 0..K-1 (``classes_`` keeps the originals). A model
    with one sigmoid output is trained on 0/1 targets; one with K outputs on class ids
    (sparse categorical cross-entropy) or, when compiled with categorical cross-entropy,
    on one-hot rows. Without a compiled loss the loss follows the output: binary
    cross-entropy for one unit, sparse categorical cross-entropy for K.
    ``predict_proba`` gives K columns (two for a single sigmoid output).
    """

    @staticmethod
    def _meta_keys():
        return ("n_features_in_", "n_classes_", "classes_", "target_type_", "n_outputs_expected_")

    def _encode_targets(self, y, reset: bool) -> np.ndarray:
        check_classification_targets(y)
        target_type = type_of_target(y)
        if _one_hot(y):
            # One-hot rows (to_categorical output, as Keras 2's multi-class tutorials give
            # them): classes 0..K-1, and predict answers in the same form.
            if reset:
                self.classes_ = np.arange(y.shape[1])
                self.n_classes_ = y.shape[1]
                self.target_type_ = target_type
                self.n_outputs_expected_ = self.n_classes_
            elif (
                getattr(self, "target_type_", None) != target_type or y.shape[1] != self.n_classes_
            ):
                raise ValueError(
                    f"{type(self).__name__}: expected targets like those of the first fit, "
                    f"received one-hot rows of {y.shape[1]} columns"
                )
            return np.argmax(y, axis=1)
        if target_type not in ("binary", "multiclass"):
            raise ValueError(
                f"{type(self).__name__}: expected one label per sample (binary or multiclass "
                f"targets, or one-hot rows), received {target_type} targets of shape "
                f"{np.shape(y)}"
            )
        if reset:
            classes = getattr(self, "_partial_classes", None)
            self.classes_ = np.unique(y) if classes is None else classes
            self.n_classes_ = len(self.classes_)
            self.target_type_ = target_type
            self.n_outputs_expected_ = 1 if self.n_classes_ <= 2 else self.n_classes_
        ids = np.searchsorted(self.classes_, y)
        ids = np.clip(ids, 0, len(self.classes_) - 1)
        unknown = self.classes_[ids] != y
        if np.any(unknown):
            raise ValueError(
                f"{type(self).__name__}: labels {np.unique(np.asarray(y)[unknown])[:5].tolist()} are "
                f"not among the classes seen at the first fit {self.classes_.tolist()}"
            )
        return ids

    def _class_weight(self, y):
        """class_weight ('balanced' or {label: weight}) keyed by encoded class id."""
        cw = self.class_weight
        if cw is None:
            return None
        if _one_hot(y):
            y = np.argmax(y, axis=1)
        if isinstance(cw, str):
            if cw != "balanced":
                raise ValueError(
                    f"{type(self).__name__}: expected class_weight 'balanced' or a dict, "
                    f"received {cw!r}"
                )
            from sklearn.utils.class_weight import compute_class_weight

            present = np.unique(y)
            weights = compute_class_weight("balanced", classes=present, y=y)
            return {
                int(np.searchsorted(self.classes_, c)): float(w) for c, w in zip(present, weights)
            }
        if not isinstance(cw, dict):
            raise TypeError(
                f"{type(self).__name__}: expected class_weight 'balanced' or a dict, "
                f"received {type(cw).__name__}"
            )
        out = {}
        for label, weight in cw.items():
            pos = np.flatnonzero(self.classes_ == label)
            if pos.size:
                out[int(pos[0])] = float(weight)
        return out

    def _model_targets(self, ids: np.ndarray) -> np.ndarray:
        """Class ids as the model's loss wants them: 0/1, ids, or one-hot rows."""
        units = self._output_units(self.model_)
        if units > 1 and self.model_._loss_name == "categorical_crossentropy":
            out = np.zeros((ids.size, units))
            out[np.arange(ids.size), ids] = 1.0
            return out
        return ids.astype(np.float64)

    def _check_output(self, model: Model) -> None:
        units = self._output_units(model)
        if units == 1:
            if self.n_classes_ > 2:
                raise ValueError(
                    f"{type(self).__name__}: the model has one output unit but the targets have "
                    f"{self.n_classes_} classes; give the last layer {self.n_classes_} units "
                    "(meta['n_classes_'] tells the build function)"
                )
        elif units < self.n_classes_:
            raise ValueError(
                f"{type(self).__name__}: the model has {units} output units but the targets have "
                f"{self.n_classes_} classes"
            )

    def _default_loss(self, model, meta) -> str:
        units = (
            self._output_units(model) if model is not None else meta.get("n_outputs_expected_", 1)
        )
        return "binary_crossentropy" if units == 1 else "sparse_categorical_crossentropy"

    def fit(self, X, y, sample_weight=None, **kwargs):
        """Encode the labels, build (unless warm-starting) and train."""
        self._partial_classes = None
        return self._fit(X, y, sample_weight, kwargs, warm=bool(self.warm_start))

    def partial_fit(self, X, y, classes=None, sample_weight=None, **kwargs):
        """One epoch; ``classes`` declares every label on the first call."""
        if not self.__sklearn_is_fitted__():
            self._partial_classes = None if classes is None else np.unique(np.asarray(classes))
        kwargs = dict(kwargs)
        kwargs["epochs"] = 1
        return self._fit(X, y, sample_weight, kwargs, warm=True)

    def predict_proba(self, X, mc_samples=None) -> np.ndarray:
        """Class probabilities, one column per class of ``classes_``; with ``mc_samples``,
        their mean over that many Monte-Carlo dropout passes (dropout kept on)."""
        return self._probabilities(self._predict_raw(X, mc_samples))

    def predict_uncertainty(self, X, mc_samples=100) -> tuple[np.ndarray, np.ndarray]:
        """Monte-Carlo dropout: the mean and the standard deviation of each class's
        probability over ``mc_samples`` passes with dropout kept on."""
        mean, std = self._predict_raw(X, mc_samples, spread=True)
        if mean.shape[1] == 1 and self.n_classes_ == 2:  # one sigmoid unit: both columns
            return self._probabilities(mean), np.column_stack([std[:, 0], std[:, 0]])
        return self._probabilities(mean), std[:, : self.n_classes_]

    def _as_output(self, raw):
        if getattr(self.model_, "_from_logits", False):
            if raw.shape[1] == 1:
                raw = 1.0 / (1.0 + np.exp(-raw))
            else:
                raw = np.exp(raw - raw.max(axis=1, keepdims=True))
                raw /= raw.sum(axis=1, keepdims=True)
        return raw

    def _probabilities(self, raw: np.ndarray) -> np.ndarray:
        """One column per class (two for a single sigmoid unit)."""
        if raw.shape[1] == 1:
            p = np.clip(raw[:, 0], 0.0, 1.0)
            if self.n_classes_ == 1:
                return np.ones((raw.shape[0], 1))
            return np.column_stack([1.0 - p, p])
        return raw[:, : self.n_classes_]

    def predict(self, X, mc_samples=None) -> np.ndarray:
        """The most probable class of each sample, as a label of ``classes_`` (one-hot
        rows when fitted on one-hot rows); with ``mc_samples``, by the Monte-Carlo mean."""
        ids = np.argmax(self.predict_proba(X, mc_samples), axis=1)
        if _one_hot_target(self.target_type_):
            out = np.zeros((ids.size, self.n_classes_), dtype=np.int64)
            out[np.arange(ids.size), ids] = 1
            return out
        return self.classes_[ids]

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy (``score__`` parameters reach scikit-learn's accuracy_score)."""
        from sklearn.metrics import accuracy_score

        kwargs = _prefixed(self._extra_params(), "score")
        return float(accuracy_score(y, self.predict(X), sample_weight=sample_weight, **kwargs))


class SequentialRegressor(RegressorMixin, _SequentialEstimator):
    """A scikit-learn regressor training a dropnet ``Sequential``; ``score`` is R².
    Without a compiled loss it trains on mean squared error."""

    @staticmethod
    def _meta_keys():
        return ("n_features_in_", "n_outputs_", "target_type_")

    def _encode_targets(self, y, reset: bool) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64)
        if reset:
            self.n_outputs_ = 1 if y.ndim == 1 else int(y.shape[1])
            self.target_type_ = type_of_target(y, raise_unknown=False)
            self._y_ndim = y.ndim
        return y

    def _model_targets(self, y: np.ndarray) -> np.ndarray:
        return y

    def _check_output(self, model: Model) -> None:
        units = self._output_units(model)
        if units != self.n_outputs_:
            raise ValueError(
                f"{type(self).__name__}: the model has {units} output units but the targets have "
                f"{self.n_outputs_} columns"
            )

    def _default_loss(self, model, meta) -> str:
        return "mean_squared_error"

    def predict(self, X, mc_samples=None) -> np.ndarray:
        """Predictions, one value per sample for single-output targets; with
        ``mc_samples``, their mean over that many Monte-Carlo dropout passes."""
        return self._shaped(self._predict_raw(X, mc_samples))

    def predict_uncertainty(self, X, mc_samples=100) -> tuple[np.ndarray, np.ndarray]:
        """Monte-Carlo dropout: the mean and standard deviation of the predictions over
        ``mc_samples`` passes with dropout kept on."""
        mean, std = self._predict_raw(X, mc_samples, spread=True)
        return self._shaped(mean), self._shaped(std)

    def _shaped(self, raw: np.ndarray) -> np.ndarray:
        return raw[:, 0] if self._y_ndim == 1 else raw

    def score(self, X, y, sample_weight=None) -> float:
        """R² (``score__`` parameters reach scikit-learn's r2_score)."""
        from sklearn.metrics import r2_score

        kwargs = _prefixed(self._extra_params(), "score")
        return float(r2_score(y, self.predict(X), sample_weight=sample_weight, **kwargs))


# SciKeras's names, so the tutorial's pipeline runs with only its import changed.
KerasClassifier = SequentialClassifier
KerasRegressor = SequentialRegressor

__all__ = ["KerasClassifier", "KerasRegressor", "SequentialClassifier", "SequentialRegressor"]
