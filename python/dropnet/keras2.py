"""Keras 2's module paths, so tutorial imports work with only ``keras`` changed to
``dropnet``: ``from dropnet.layers.merge import concatenate``,
``from dropnet.layers.core import Dense, Dropout``, ``from dropnet.utils.np_utils import
to_categorical``, ``from dropnet.wrappers.scikit_learn import KerasClassifier``,
``from dropnet.utils.vis_utils import plot_model``. An old path imports as the module that
now holds its names (imported only when asked for), and every old layer module answers
every layer name, as tutorials mix them freely."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys

from . import layers, utils

_PACKAGE = __name__.rsplit(".", 1)[0]
# Old module path (below the package) -> the module that holds its names now.
_ALIASES = {
    **{
        f"layers.{old}": "layers"
        for old in (
            "merge",
            "embeddings",
            "noise",
            "convolutional",
            "advanced_activations",
            "wrappers",
            "local",
        )
    },
    "utils.np_utils": "utils",
    "utils.vis_utils": "utils",
    "wrappers.scikit_learn": "wrappers",
}
# dropnet.layers submodules that Keras 2 also had: they also answer every layer name.
_REAL_LAYER_MODULES = ("core", "recurrent", "normalization", "pooling", "embedding")


class _AliasLoader(importlib.abc.Loader):
    """Loads an old path as the module that holds its names now, which keeps its own
    spec (the import system sets the old path's on it)."""

    def __init__(self, target: str):
        self.target = target
        self.own_spec = None

    def create_module(self, spec):
        module = importlib.import_module(self.target)
        self.own_spec = module.__spec__
        return module

    def exec_module(self, module) -> None:
        module.__spec__ = self.own_spec


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        head, _, rest = fullname.partition(".")
        if head != _PACKAGE or rest not in _ALIASES:
            return None
        return importlib.machinery.ModuleSpec(
            fullname, _AliasLoader(f"{_PACKAGE}.{_ALIASES[rest]}")
        )


def _layer(name: str):
    """A layer name looked up in dropnet.layers (AttributeError when there is none)."""
    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(layers, name)


def install() -> None:
    """Registers the old paths (once). dropnet.utils (and dropnet.wrappers, in its own
    file) gets an empty __path__: the import system then asks the finder for the old
    submodule paths below it."""
    utils.__path__ = []
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.append(_AliasFinder())
    for name in _REAL_LAYER_MODULES:
        module = sys.modules[f"{layers.__name__}.{name}"]
        setattr(module, "__getattr__", _layer)  # noqa: B010 (a module-level __getattr__, PEP 562)
