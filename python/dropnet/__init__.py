"""dropnet: dropout-regularized neural networks with Keras's Sequential and functional APIs.

The numeric work runs in a C++ core (OpenMP threads, SIMD kernels chosen at run time);
models, layers, optimizers and callbacks follow Keras, so tutorial code runs after
changing only its imports.
"""

from __future__ import annotations

try:
    from . import _core
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        "dropnet's compiled core (dropnet._core) could not be imported. Install the package "
        "with `pip install .` from the source tree (a C++17 compiler, CMake and pybind11 are "
        "needed), and import it from outside the source folder. Original error: " + str(exc)
    ) from exc

from . import (
    activations,
    backend,
    callbacks,
    constraints,
    initializers,
    keras2,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    preprocessing,
    regularizers,
    utils,
)
from .backend import get_num_threads, set_num_threads, show_config
from .layers import Input
from .models import Model, Sequential, clone_model, load_model
from .utils import set_random_seed

keras2.install()

__version__ = _core.__version__

__all__ = [
    "Input",
    "Model",
    "Sequential",
    "activations",
    "backend",
    "callbacks",
    "clone_model",
    "constraints",
    "get_num_threads",
    "initializers",
    "layers",
    "load_model",
    "losses",
    "metrics",
    "models",
    "optimizers",
    "preprocessing",
    "regularizers",
    "set_num_threads",
    "set_random_seed",
    "show_config",
    "utils",
]
