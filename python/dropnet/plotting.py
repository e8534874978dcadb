"""Figures of what dropout did: learning curves side by side (matplotlib, Agg backend)."""

from __future__ import annotations

import os


def _pyplot():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg", "cairo", "ps"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_learning_curves(
    histories: dict,
    path: str | os.PathLike,
    metric: str = "accuracy",
    title: str | None = None,
    columns: int | None = None,
) -> str:
    """One panel per model: train and validation ``metric`` per epoch, in one row (or in
    rows of ``columns`` panels). Returns the path."""
    plt = _pyplot()
    n = len(histories)
    cols = n if columns is None else max(1, min(int(columns), n))
    rows = -(-n // cols)
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(
        rows, cols, figsize=(5.2 * cols, 4.0 * rows), sharey=True, squeeze=False
    )
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax, (name, hist) in zip(axes.flat, histories.items()):
        h = getattr(hist, "history", hist)
        train, val = h[metric], h.get("val_" + metric)
        epochs = range(1, len(train) + 1)
        ax.plot(epochs, train, label=f"train ({train[-1]:.3f})", lw=1.2)
        if val is not None:
            ax.plot(epochs, val, label=f"test ({val[-1]:.3f})", lw=1.2)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(loc="best")
    for row in axes:
        row[0].set_ylabel(metric)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_fold_scores(
    scores: dict,
    path: str | os.PathLike,
    reference: dict | None = None,
    title: str | None = None,
    reference_label: str = "reference",
) -> str:
    """Box plot of per-fold (or per-repeat) accuracy for each configuration, the points
    themselves on top, and an optional reference value per configuration. Returns the path."""
    import numpy as np

    plt = _pyplot()
    names = list(scores)
    fig, ax = plt.subplots(figsize=(1.9 * len(names) + 2.5, 4.2))
    data = [np.asarray(scores[n], dtype=float) for n in names]
    ax.boxplot(data, widths=0.5, showmeans=True, showfliers=False)  # the points are drawn
    ax.set_xticks(range(1, len(names) + 1), names)
    jitter = np.random.default_rng(0)
    for i, d in enumerate(data, 1):
        ax.plot(
            i + jitter.uniform(-0.08, 0.08, d.size), d, "o", ms=3.5, alpha=0.6, color="tab:blue"
        )
        ax.annotate(
            f"{d.mean():.3f} ± {d.std():.3f}",
            (i, 0.02),
            xycoords=("data", "axes fraction"),
            ha="center",
            fontsize=8,
        )
    if reference:
        for i, n in enumerate(names, 1):
            if n in reference:
                ax.plot(
                    [i - 0.3, i + 0.3],
                    [reference[n]] * 2,
                    "--",
                    color="tab:red",
                    lw=1.2,
                    label=reference_label if i == 1 else None,
                )
        ax.legend(loc="upper right")
    ax.set_ylabel("accuracy")
    ax.grid(alpha=0.3, axis="y")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_rate_curve(
    rates,
    mean,
    std,
    path: str | os.PathLike,
    title: str | None = None,
    ylabel: str = "test accuracy",
    label: str | None = None,
) -> str:
    """Mean accuracy against dropout rate with ± one standard deviation error bars."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.errorbar(rates, mean, yerr=std, fmt="o-", capsize=4, lw=1.4, label=label)
    best = max(range(len(mean)), key=lambda i: mean[i])
    ax.plot(
        [rates[best]],
        [mean[best]],
        "*",
        ms=14,
        color="tab:red",
        label=f"best: rate {rates[best]:g}",
    )
    ax.set_xlabel("dropout rate")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig, path) -> str:
    plt = _pyplot()
    path = os.fspath(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_mc_uncertainty(
    xx, yy, mean, std, train, test, path: str | os.PathLike, title: str | None = None
) -> str:
    """Two panels over a grid of the plane: the Monte-Carlo mean probability with its 0.5
    decision boundary, and the standard deviation across passes; train and test points
    on both."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.8))
    panels = (
        (axes[0], mean, "RdBu_r", (0.0, 1.0), "MC mean of P(class 1)"),
        (axes[1], std, "viridis", (0.0, None), "MC std (uncertainty)"),
    )
    for ax, field, cmap, (vmin, vmax), label in panels:
        im = ax.contourf(xx, yy, field, levels=21, cmap=cmap, vmin=vmin, vmax=vmax)
        fig.colorbar(im, ax=ax, label=label)
        ax.contour(xx, yy, mean, levels=[0.5], colors="k", linewidths=1.2)
        for (x, y), marker, name in ((train, "o", "train"), (test, "^", "test")):
            ax.scatter(
                x[:, 0],
                x[:, 1],
                c=y,
                cmap="coolwarm",
                marker=marker,
                edgecolors="k",
                linewidths=0.6,
                s=28,
                label=name,
            )
        ax.set_aspect("equal")
        ax.set_title(label + " (black: boundary at 0.5)")
    axes[0].legend(loc="lower right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)
