"""Callbacks, run once per epoch in Python while the epoch itself runs in the core."""

from __future__ import annotations

import csv
import math
import os
import re
import sys
import time

import numpy as np

from .metrics import KEY_ALIASES


class HistoryDict(dict):
    """``history.history``: also answers the other spelling of a key (Keras 2's
    ``acc``/``val_acc`` for ``accuracy``/``val_accuracy``, ``mean_squared_error`` for
    ``mse``, ... see metrics.KEY_ALIASES) with the same list."""

    def _alias(self, key):
        other = KEY_ALIASES.get(key)
        return other if other is not None and dict.__contains__(self, other) else None

    def __missing__(self, key):
        other = self._alias(key)
        if other is None:
            raise KeyError(key)
        return dict.__getitem__(self, other)

    def __contains__(self, key):
        return dict.__contains__(self, key) or self._alias(key) is not None

    def get(self, key, default=None):
        # (dict.get would miss the Keras 2 alias keys that __getitem__ resolves)
        return self[key] if key in self else default  # noqa: SIM401


# Phases and events, numbered as the core numbers them (cpp/include/dropnet/spec.hpp).
TRAIN, TEST, PREDICT = 0, 1, 2
EPOCH_BEGIN, EPOCH_END, BATCH_BEGIN, BATCH_END, PASS_BEGIN, PASS_END, TICK = range(7)

# The hooks behind each (phase, event): a callback overriding one of them asks the core
# for that event; the loop runs at full speed in C++ when no callback asks.
_HOOKS = {
    (TRAIN, EPOCH_BEGIN): ("on_epoch_begin",),
    (TRAIN, EPOCH_END): ("on_epoch_end",),
    (TRAIN, BATCH_BEGIN): ("on_train_batch_begin", "on_batch_begin"),
    (TRAIN, BATCH_END): ("on_train_batch_end", "on_batch_end"),
    (TEST, PASS_BEGIN): ("on_test_begin",),
    (TEST, PASS_END): ("on_test_end",),
    (TEST, BATCH_BEGIN): ("on_test_batch_begin",),
    (TEST, BATCH_END): ("on_test_batch_end",),
    (PREDICT, PASS_BEGIN): ("on_predict_begin",),
    (PREDICT, PASS_END): ("on_predict_end",),
    (PREDICT, BATCH_BEGIN): ("on_predict_batch_begin",),
    (PREDICT, BATCH_END): ("on_predict_batch_end",),
}


class Callback:
    """Base class: override the hooks you need. Epoch hooks run after each epoch; batch
    hooks (``on_train_batch_end``, Keras 2's ``on_batch_end``, ``on_test_batch_*``,
    ``on_predict_batch_*``) run after each batch, with Keras's ``logs`` (running means over
    the epoch so far) - only for callbacks that define them, so the core loop keeps its
    speed otherwise. Setting ``self.model.stop_training = True`` ends training after the
    current batch (from a batch hook) or epoch."""

    def __init__(self):
        self.model = None
        self.params: dict = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def _wants(self, hook: str) -> bool:
        """Whether this callback does something in ``hook`` (overrides it)."""
        return getattr(type(self), hook, None) is not getattr(Callback, hook, None)

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_test_begin(self, logs=None): ...
    def on_test_end(self, logs=None): ...
    def on_predict_begin(self, logs=None): ...
    def on_predict_end(self, logs=None): ...

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_batch_begin(self, batch, logs=None): ...
    def on_batch_end(self, batch, logs=None): ...
    def on_test_batch_begin(self, batch, logs=None): ...
    def on_test_batch_end(self, batch, logs=None): ...
    def on_predict_batch_begin(self, batch, logs=None): ...
    def on_predict_batch_end(self, batch, logs=None): ...


class History(Callback):
    """Records every epoch's logs; ``fit`` returns it."""

    def __init__(self):
        super().__init__()
        self.history = HistoryDict()
        self.epoch: list[int] = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)

    def extend(self, epochs, keys, rows) -> None:
        """Record many epochs at once: ``rows`` is (epochs × keys), as the core returns them."""
        self.epoch.extend(epochs)
        for k, column in zip(keys, rows.T):
            self.history.setdefault(k, []).extend(column.tolist())


def _step_time(seconds: float) -> str:
    if seconds >= 1.0:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"


def _format_logs(logs: dict) -> str:
    # Keras 3 lists the values by name.
    return "".join(f" - {k}: {v:.4f}" for k, v in sorted(logs.items()) if _is_number(v))


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool)


class ProgbarLogger(Callback):
    """Keras-style progress. verbose 1 on a terminal: a live bar per epoch (steps done of
    the epoch's steps, time left, running loss and metrics) redrawn at most ten times a
    second, then the epoch's line; when epochs end faster than that, the live line shows
    the latest epoch and the epochs in between are not printed (the History has them all).
    verbose 2, or verbose 1 to a file or pipe: one line per epoch."""

    interval = 0.1  # seconds between redraws

    def __init__(self, verbose=1, file=None):
        super().__init__()
        self.verbose = verbose
        self.file = file
        self._live = False
        self._t_epoch = self._t_draw = 0.0
        self._epoch = -1
        self._headed = -1
        self._drawn = False
        self._seconds: float | None = None  # the epoch's time, as the core measured it

    def _out(self):
        return self.file or sys.stdout

    def on_train_begin(self, logs=None):
        out = self._out()
        self._live = self.verbose == 1 and bool(getattr(out, "isatty", lambda: False)())
        self._epoch = self._headed = -1
        self._t_draw = time.perf_counter()

    def _write(self, text: str) -> None:
        out = self._out()
        out.write(text)
        out.flush()

    def _header(self, epoch: int) -> None:
        if self._headed != epoch:
            self._headed = epoch
            self._write(f"Epoch {epoch + 1}/{self.params.get('epochs')}\n")

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._t_epoch = time.perf_counter()
        self._drawn = False
        if not self._live:
            self._header(epoch)

    def _bar(self, done: int, total: int | None) -> str:
        if not total:
            return f"{done}/Unknown"
        width = len(str(total))
        filled = int(20 * min(done, total) / total)
        if self._live:
            cells = (
                "\x1b[32m" + "━" * filled + "\x1b[0m" + "\x1b[37m" + "━" * (20 - filled) + "\x1b[0m"
            )
        else:
            cells = "━" * 20
        return f"{done:>{width}}/{total} {cells}"

    def on_tick(self, phase, epoch, batch, rows, logs, seconds) -> None:
        """Redraws the live bar (the core calls it on its time budget; ``seconds`` since the
        epoch began)."""
        now = time.perf_counter()
        if not self._live or phase != TRAIN or now - self._t_draw < self.interval:
            return
        self._t_draw = now
        if epoch != self._epoch:
            self.on_epoch_begin(epoch)
        self._header(epoch)
        steps = self.params.get("steps")
        elapsed = seconds
        if batch and steps:
            eta = elapsed / batch * max(steps - batch, 0)
            timing = f"{_duration(eta)} {_step_time(elapsed / batch)}"
        else:
            timing = f"{_duration(elapsed)}"
        self._write(f"\r{self._bar(batch, steps)} {timing}{_format_logs(logs or {})}\x1b[K")
        self._drawn = True

    def on_epoch_end(self, epoch, logs=None, steps=None, seconds=None):
        now = time.perf_counter()
        steps = steps or self.params.get("steps") or 0
        if seconds is None:
            seconds, self._seconds = self._seconds, None
        dt = (now - self._t_epoch) if seconds is None else seconds
        metrics = _format_logs(logs or {})
        if self.verbose:
            self._header(epoch)
            self._write(
                self._line_start(steps, dt) + metrics + ("\x1b[K\n" if self._live else "\n")
            )
        if self._live:
            self._t_draw = now
        self._epoch = epoch
        self._drawn = False

    def _line_start(self, steps: int, seconds: float) -> str:
        """An epoch line up to its values: steps, bar (verbose 1), time, time per step."""
        per_step = _step_time(seconds / max(steps, 1))
        if self.verbose == 1:
            lead = "\r" if self._live else ""
            return f"{lead}{self._bar(steps, steps)} {_duration(seconds)} {per_step}"
        return f"{steps}/{steps} - {_duration(seconds)} - {per_step}"

    def epoch_lines(self, epochs, rows, names, validated, seconds: float) -> None:
        """The lines of many finished epochs at once (one write), from the core's rows:
        ``names`` label the row's values, ``validated[i]`` says whether epoch i's row holds
        validation values (the names starting with val_)."""
        steps = self.params.get("steps") or 0
        start = self._line_start(steps, seconds)
        templates = {}
        for with_val in (False, True):
            keep = [i for i, n in enumerate(names) if with_val or not n.startswith("val_")]
            keep.sort(key=lambda i: names[i])
            templates[with_val] = start + "".join(f" - {names[i]}: {{{i}:.4f}}" for i in keep)
        end = "\x1b[K\n" if self._live else "\n"
        total = self.params.get("epochs")
        text = []
        for epoch, row, val in zip(epochs, rows, validated):
            head = ""
            if not (self._live and self._headed == epoch):
                head = f"Epoch {epoch + 1}/{total}\n"
                if self._live and self._drawn:  # a bar of an earlier epoch is on the line
                    head = "\r\x1b[K" + head
            self._drawn = False
            text.append(head + templates[val].format(*row) + end)
        self._write("".join(text))
        self._headed = self._epoch = epochs[-1] if len(epochs) else self._epoch
        self._drawn = False
        if self._live:
            self._t_draw = time.perf_counter()


class CallbackList:
    """The callbacks of one fit, evaluate or predict call, and the hooks the core calls:
    ``hooks(event, phase, epoch, batch, rows, logs)`` runs the callbacks that asked for the
    event (``wanted`` lists the (phase, event) pairs), and on ticks redraws the progress bar
    and prints the lines of epochs the core finished since the last tick. After any
    callback it hands a changed learning rate to the core (it takes effect from the next
    step) and answers 1 when ``model.stop_training`` was set. ``extra(validated)`` adds
    values to each epoch's logs (the Python metric functions'), so epochs end in Python."""

    def __init__(
        self,
        callbacks,
        model,
        net,
        params,
        keys,
        val_keys=(),
        progbar=None,
        history=None,
        extra=None,
    ):
        self.callbacks = list(callbacks)
        self.model, self.net, self.params = model, net, params
        self.keys, self.val_keys = list(keys), list(val_keys)
        self.progbar, self.history = progbar, history
        for cb in self.all():
            cb.set_model(model)
            cb.set_params(params)
        self.wanted = [
            pe
            for pe, hooks in _HOOKS.items()
            if any(cb._wants(h) for cb in self.callbacks for h in hooks)
        ]
        self.extra = extra
        if (progbar is not None and params.get("steps") is None) or extra is not None:
            # (the bar learns each epoch's step count there; extra values join the logs)
            self.wanted.append((TRAIN, EPOCH_END))
        self.epoch_events = (TRAIN, EPOCH_END) in self.wanted
        if self.epoch_events and (TRAIN, EPOCH_BEGIN) not in self.wanted and progbar is not None:
            self.wanted.append((TRAIN, EPOCH_BEGIN))  # the bar's header comes first
        self.ticks = progbar is not None
        self.first_epoch = int(params.get("initial_epoch", 0))
        self.validate = params.get("validate")  # per epoch run: validated (None: all)
        self.hist: np.ndarray | None = None
        self.shown = 0  # epochs whose line the progress bar printed (tick mode)
        self._t_shown = time.perf_counter()
        self._lr = (
            model.optimizer._lr_spec() if net is not None and model.optimizer is not None else None
        )

    def all(self) -> list[Callback]:
        return self.callbacks + [c for c in (self.progbar, self.history) if c is not None]

    def begin_fit(self, hist: np.ndarray) -> None:
        """The history array the core fills (read at ticks for the progress lines)."""
        self.hist = hist

    def epoch_logs(self, e: int, row) -> dict:
        """Epoch ``e`` (counted from the first epoch run) as Keras's logs dict."""
        logs = {k: float(v) for k, v in zip(self.keys, row)}
        if self.val_keys and (self.validate is None or self.validate[e]):
            logs.update({k: float(v) for k, v in zip(self.val_keys, row[len(self.keys) :])})
        return logs

    def catch_up(self, done: int, hist=None) -> None:
        """Prints the progress lines of the epochs completed up to ``done`` not yet shown (a
        live bar shows only the latest of several)."""
        hist = self.hist if hist is None else hist
        if self.progbar is None or self.epoch_events or hist is None or done <= self.shown:
            return
        now = time.perf_counter()
        seconds = (now - self._t_shown) / (done - self.shown)
        first = done - 1 if self.progbar._live else self.shown
        runs = range(first, done)
        names = self.keys + self.val_keys
        validated = [
            bool(self.val_keys) and (self.validate is None or self.validate[e]) for e in runs
        ]
        self.progbar.epoch_lines(
            [self.first_epoch + e for e in runs],
            hist[first:done].tolist(),
            names,
            validated,
            seconds,
        )
        self.shown = done
        self._t_shown = now

    def call(self, hook: str, *args) -> None:
        for cb in self.all():
            getattr(cb, hook)(*args)

    def __call__(self, event, phase, epoch, batch, rows, logs, seconds=0.0):
        if event == TICK:
            if phase == TRAIN:
                self.catch_up(epoch - self.first_epoch)
                if self.progbar is not None:
                    named = None if logs is None else dict(zip(self.keys, logs))
                    self.progbar.on_tick(phase, epoch, batch, rows, named, seconds)
            return 1 if phase == TRAIN and self.model.stop_training else 0
        if phase == TRAIN:
            if event == EPOCH_BEGIN:
                self.call("on_epoch_begin", epoch, {})
            elif event == EPOCH_END:
                e = epoch - self.first_epoch
                epoch_logs = self.epoch_logs(e, logs)
                if self.extra is not None:
                    validated = bool(self.val_keys) and (self.validate is None or self.validate[e])
                    epoch_logs.update(self.extra(validated))
                if self.progbar is not None:
                    if self.params.get("steps") is None:
                        self.progbar.params = {**self.progbar.params, "steps": batch}
                    self.progbar._seconds = seconds
                self.call("on_epoch_end", epoch, epoch_logs)
                self.shown = e + 1
                self._t_shown = time.perf_counter()
            elif event == BATCH_BEGIN:
                self.call("on_train_batch_begin", batch, {})
            elif event == BATCH_END:
                self.call("on_train_batch_end", batch, dict(zip(self.keys, logs)))
        else:
            prefix = "on_test" if phase == TEST else "on_predict"
            keys = self.keys if phase == TEST else []
            named = {} if logs is None else dict(zip(keys, logs))
            if event == PASS_BEGIN:
                self.call(f"{prefix}_begin", {})
            elif event == PASS_END:
                self.call(f"{prefix}_end", named)
            elif event == BATCH_BEGIN:
                self.call(f"{prefix}_batch_begin", batch, {})
            elif event == BATCH_END:
                self.call(f"{prefix}_batch_end", batch, named)
        self.sync_lr()
        return 1 if phase == TRAIN and self.model.stop_training else 0

    def sync_lr(self) -> None:
        """A learning rate a callback set reaches the core before the next step."""
        if self._lr is None:
            return
        lr = self.model.optimizer._lr_spec()
        if lr != self._lr:
            self._lr = lr
            self.net.set_schedule(lr)


def _better_fn(monitor: str, mode: str, owner: str):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{owner}: expected mode 'auto', 'min' or 'max', received {mode!r}")
    if mode == "auto":
        # Keras's metrics that grow as the model improves (a numbered copy: auc_1, ...)
        name = re.sub(r"_\d+$", "", monitor)
        rising = ("auc", "precision", "recall", "cosine_similarity")
        mode = "max" if ("acc" in monitor or name.endswith(rising)) else "min"
    return mode, (np.greater if mode == "max" else np.less)


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs."""

    def __init__(
        self,
        monitor="val_loss",
        min_delta=0,
        patience=0,
        verbose=0,
        mode="auto",
        baseline=None,
        restore_best_weights=False,
        start_from_epoch=0,
    ):
        super().__init__()
        self.monitor, self.patience, self.verbose = monitor, int(patience), verbose
        self.baseline, self.restore_best_weights = baseline, bool(restore_best_weights)
        self.start_from_epoch = int(start_from_epoch)
        self.mode, self._op = _better_fn(monitor, mode, "EarlyStopping")
        self.min_delta = abs(float(min_delta)) * (1 if self.mode == "max" else -1)
        self.stopped_epoch = 0

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = -np.inf if self.mode == "max" else np.inf
        self.best_weights = None
        self.best_epoch = 0

    def _improved(self, current, reference):
        if reference is None:
            return True
        return bool(self._op(current - self.min_delta, reference))

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None:
            if self.monitor in KEY_ALIASES and logs:
                current = logs.get(KEY_ALIASES[self.monitor])
            if current is None:
                print(
                    f"EarlyStopping: metric {self.monitor!r} is not available; available: "
                    f"{', '.join(logs or {})}",
                    file=sys.stderr,
                )
                return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
        self.wait += 1
        if self._improved(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._improved(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(
                    f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}."
                )
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(Callback):
    """Save the model (or its weights) after epochs, optionally only when ``monitor`` improves.
    ``filepath`` may hold format fields such as ``{epoch:02d}`` and ``{val_loss:.2f}``."""

    def __init__(
        self,
        filepath,
        monitor="val_loss",
        verbose=0,
        save_best_only=False,
        save_weights_only=False,
        mode="auto",
        save_freq="epoch",
        initial_value_threshold=None,
    ):
        super().__init__()
        if save_freq != "epoch":
            raise ValueError("ModelCheckpoint: only save_freq='epoch' is supported")
        self.filepath = os.fspath(filepath)
        self.monitor, self.verbose = monitor, verbose
        self.save_best_only, self.save_weights_only = bool(save_best_only), bool(save_weights_only)
        self.mode, self._op = _better_fn(monitor, mode, "ModelCheckpoint")
        self.best = initial_value_threshold

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        for k, other in KEY_ALIASES.items():
            if other in logs and k not in logs:
                logs[k] = logs[other]
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                print(
                    f"ModelCheckpoint: can save best model only with {self.monitor} available",
                    file=sys.stderr,
                )
                return
            if self.best is not None and not self._op(current, self.best):
                if self.verbose > 0:
                    print(
                        f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}"
                    )
                return
            if self.verbose > 0:
                prev = "inf" if self.best is None else f"{self.best:.5f}"
                print(
                    f"\nEpoch {epoch + 1}: {self.monitor} improved from {prev} to {current:.5f}, "
                    f"saving model to {path}"
                )
            self.best = current
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)


class LearningRateScheduler(Callback):
    """Sets the optimizer's learning rate to ``schedule(epoch, lr)`` before each epoch."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler: expected a callable, received {schedule!r}")
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        opt = self.model.optimizer
        try:
            lr = self.schedule(epoch, float(opt.learning_rate))
        except TypeError:
            lr = self.schedule(epoch)
        lr = float(lr)
        if not math.isfinite(lr) or lr < 0:
            raise ValueError(
                f"LearningRateScheduler: the schedule returned {lr}; expected a finite rate >= 0"
            )
        opt.learning_rate = lr
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class TerminateOnNaN(Callback):
    """Stops training when the loss becomes NaN or infinite."""

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Epoch {epoch + 1}: invalid loss, terminating training")
            self.model.stop_training = True


class CSVLogger(Callback):
    """Streams epoch results to a CSV file."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.sep, self.append = os.fspath(filename), separator, append
        self._file = None
        self._writer = None
        self._keys = None

    def on_train_begin(self, logs=None):
        exists = (
            self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        )
        # open for the whole fit, closed in on_train_end
        self._file = open(self.filename, "a" if self.append else "w", newline="")  # noqa: SIM115
        self._header = not exists

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._keys is None:
            self._keys = sorted(logs)
            self._writer = csv.DictWriter(
                self._file, fieldnames=["epoch"] + self._keys, delimiter=self.sep
            )
            if self._header:
                self._writer.writeheader()
        self._writer.writerow({"epoch": epoch, **{k: logs.get(k, "NA") for k in self._keys}})
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = None
            self._writer = None
            self._keys = None


class LambdaCallback(Callback):
    """A callback from functions: ``on_epoch_begin(epoch, logs)``, ``on_epoch_end(epoch,
    logs)``, ``on_train_begin(logs)``, ``on_train_end(logs)``, ``on_train_batch_begin(batch,
    logs)``, ``on_train_batch_end(batch, logs)``; other keyword arguments name further hooks
    (Keras 2's ``on_batch_begin``/``on_batch_end`` among them)."""

    _NAMES = (
        "on_epoch_begin",
        "on_epoch_end",
        "on_train_begin",
        "on_train_end",
        "on_train_batch_begin",
        "on_train_batch_end",
    )

    def __init__(
        self,
        on_epoch_begin=None,
        on_epoch_end=None,
        on_train_begin=None,
        on_train_end=None,
        on_train_batch_begin=None,
        on_train_batch_end=None,
        **kwargs,
    ):
        super().__init__()
        given = {
            "on_epoch_begin": on_epoch_begin,
            "on_epoch_end": on_epoch_end,
            "on_train_begin": on_train_begin,
            "on_train_end": on_train_end,
            "on_train_batch_begin": on_train_batch_begin,
            "on_train_batch_end": on_train_batch_end,
        }
        for name, fn in kwargs.items():
            if not (name.startswith("on_") and hasattr(Callback, name)):
                raise TypeError(f"LambdaCallback: unexpected keyword argument {name!r}")
            given[name] = fn
        self._fns = {}
        for name, fn in given.items():
            if fn is None:
                continue
            if not callable(fn):
                raise TypeError(f"LambdaCallback: {name} must be callable, received {fn!r}")
            self._fns[name] = fn
            setattr(self, name, self._bind(name, fn))

    @staticmethod
    def _bind(name: str, fn):
        if name.endswith(("_train_begin", "_train_end", "_test_begin", "_test_end")) or name in (
            "on_predict_begin",
            "on_predict_end",
        ):
            return lambda logs=None: fn(logs)
        return lambda index, logs=None: fn(index, logs)

    def _wants(self, hook: str) -> bool:
        if hook in ("on_train_batch_begin", "on_train_batch_end"):
            return hook in self._fns or hook.replace("train_", "") in self._fns
        return hook in self._fns


class ReduceLROnPlateau(Callback):
    """Multiplies the learning rate by ``factor`` when ``monitor`` has not improved by
    ``min_delta`` for ``patience`` epochs, then waits ``cooldown`` epochs; never below
    ``min_lr``. The rate before any reduction is logged as ``learning_rate``."""

    def __init__(
        self,
        monitor="val_loss",
        factor=0.1,
        patience=10,
        verbose=0,
        mode="auto",
        min_delta=1e-4,
        cooldown=0,
        min_lr=0.0,
        **kwargs,
    ):
        super().__init__()
        if "epsilon" in kwargs:  # Keras 2's name for min_delta
            min_delta = kwargs.pop("epsilon")
        if kwargs:
            raise TypeError(
                f"ReduceLROnPlateau: unexpected keyword argument(s) {', '.join(kwargs)}"
            )
        factor = float(factor)
        if not (0.0 <= factor < 1.0):
            raise ValueError(f"ReduceLROnPlateau: expected 0 <= factor < 1, received {factor}")
        self.monitor, self.factor, self.verbose = monitor, factor, verbose
        self.patience, self.cooldown = int(patience), int(cooldown)
        self.min_delta, self.min_lr = abs(float(min_delta)), float(min_lr)
        self.mode, self._op = _better_fn(monitor, mode, "ReduceLROnPlateau")
        self._reset()

    def _reset(self) -> None:
        self.best = None
        self.wait = 0
        self.cooldown_counter = 0

    def on_train_begin(self, logs=None):
        from .optimizers import LearningRateSchedule

        if isinstance(self.model.optimizer._learning_rate, LearningRateSchedule):
            raise TypeError(
                "ReduceLROnPlateau: the optimizer's learning rate is a schedule; give it a "
                "number to reduce"
            )
        self._reset()

    def _improved(self, current) -> bool:
        if self.best is None:
            return True
        if self.mode == "min":
            return current < self.best - self.min_delta
        return current > self.best + self.min_delta

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        opt = self.model.optimizer
        old_lr = float(opt.learning_rate)
        logs["learning_rate"] = old_lr
        current = logs.get(self.monitor)
        if current is None and self.monitor in KEY_ALIASES:
            current = logs.get(KEY_ALIASES[self.monitor])
        if current is None:
            print(
                f"ReduceLROnPlateau: metric {self.monitor!r} is not available; available: "
                f"{', '.join(k for k in logs if k != 'learning_rate')}",
                file=sys.stderr,
            )
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(current):
            self.best = current
            self.wait = 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            if self.wait >= self.patience and old_lr > float(np.float32(self.min_lr)):
                new_lr = max(old_lr * self.factor, self.min_lr)
                opt.learning_rate = new_lr
                if self.verbose > 0:
                    print(
                        f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}."
                    )
                self.cooldown_counter = self.cooldown
                self.wait = 0
