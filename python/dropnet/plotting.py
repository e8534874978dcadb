"""Figures of what dropout did: learning curves side by side (matplotlib, Agg backend)."""

from __future__ import annotations

import os


def _pyplot():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg", "cairo", "ps"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_learning_curves(histories: dict, path: str | os.PathLike, metric: str = "accuracy",
                         title: str | None = None) -> str:
    """One panel per model: train and validation ``metric`` per epoch. Returns the path."""
    plt = _pyplot()
    n = len(histories)
    fig, axes = plt.subplots(1, n, figsize=(5.2 * n, 4.0), sharey=True, squeeze=False)
    for ax, (name, hist) in zip(axes[0], histories.items()):
        h = getattr(hist, "history", hist)
        train, val = h[metric], h.get("val_" + metric)
        epochs = range(1, len(train) + 1)
        ax.plot(epochs, train, label=f"train ({train[-1]:.3f})", lw=1.2)
        if val is not None:
            ax.plot(epochs, val, label=f"test ({val[-1]:.3f})", lw=1.2)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    axes[0][0].set_ylabel(metric)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = os.fspath(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
