"""dropnet's benchmark harness: dropnet against Keras (TensorFlow) and PyTorch on the
machine it runs on. ``dropnet bench`` (or ``python bench/run.py`` in the repository) runs
every workload and writes JSON, a Markdown report and a bar chart; see ``run.main``."""

from .run import main

__all__ = ["main"]
