"""One adapter per framework the harness measures: ``dropnet``, ``keras`` (on TensorFlow),
``torch`` and ``numpy``. Importing an adapter imports its framework (FrameworkMissing when it
cannot); every adapter has ``NAME``, ``setup(threads, seed=None)``, which limits the
framework to ``threads`` through its own API (and seeds it), and ``info(brief=False)``, the
versions (and, unless brief, thread settings) recorded with each run, and ``adam()``, Adam
with Keras's defaults. The dropnet and Keras adapters share Keras's API (``layers``,
``Sequential``, ``optimizers``, ``Callback``) and a timed ``fit``; the torch adapter has the
training loop PyTorch leaves to its users.

The parent process only asks whether a framework is installed (``available``); adapters are
imported inside the workers (``load``), which pay each framework's import once, untimed."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

# Top-level modules each framework needs; used to skip a framework that is not installed.
MODULES: dict[str, tuple[str, ...]] = {
    "dropnet": ("dropnet",),
    "numpy": ("numpy",),
    "torch": ("torch",),
    "keras": ("keras", "tensorflow"),
}


# Adam as every workload configures it in every framework: Keras's defaults.
ADAM_LEARNING_RATE, ADAM_EPSILON = 1e-3, 1e-7


class FrameworkMissing(Exception):
    """Raised inside a worker when the framework (or one of its parts) cannot be imported."""


def available(framework: str) -> tuple[bool, str]:
    """Whether the framework's modules can be found, without importing them."""
    wanted = MODULES.get(framework, (framework,))
    missing = [m for m in wanted if importlib.util.find_spec(m) is None]
    if missing:
        return False, "not installed (missing module: " + ", ".join(missing) + ")"
    return True, ""


def load(framework: str) -> ModuleType:
    """The framework's adapter module (importing the framework itself)."""
    if framework not in MODULES:
        raise FrameworkMissing(f"{framework}: no adapter for this framework")
    return importlib.import_module(f"{__name__}.{framework}")
