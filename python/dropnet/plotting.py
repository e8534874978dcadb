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


def plot_config_comparison(parts: dict, path: str | os.PathLike, title: str | None = None) -> str:
    """One row per network ({network: {configuration: result}}, each result holding a mean
    "history" and per-seed "test" accuracies, optionally "mc_acc" and "mc_std"): test
    accuracy and training loss per epoch of every configuration, and each seed's final test
    accuracy with mean ± std; where Monte-Carlo passes had a spread (the model has dropout),
    the accuracy of their mean is marked beside it. Returns the path."""
    import numpy as np

    plt = _pyplot()
    names = list(dict.fromkeys(c for results in parts.values() for c in results))
    colors = {c: plt.get_cmap("tab10")(i % 10) for i, c in enumerate(names)}
    rows = len(parts)
    fig, axes = plt.subplots(rows, 3, figsize=(16.5, 4.1 * rows), squeeze=False)
    for (network, results), (ax_acc, ax_loss, ax_final) in zip(parts.items(), axes):
        for config, r in results.items():
            h = r["history"]
            epochs = range(1, len(h["val_accuracy"]) + 1)
            ax_acc.plot(epochs, h["val_accuracy"], lw=1.2, color=colors[config], label=config)
            ax_loss.plot(epochs, h["loss"], lw=1.2, color=colors[config], label=config)
        ax_acc.set_title(f"{network}: test accuracy per epoch")
        ax_acc.set_xlabel("epoch")
        ax_acc.set_ylabel("accuracy")
        low = min(
            min(r["history"]["val_accuracy"][len(r["history"]["val_accuracy"]) // 4 :])
            for r in results.values()
        )
        ax_acc.set_ylim(max(0.0, low - 0.02), None)
        ax_loss.set_title(f"{network}: training loss per epoch")
        ax_loss.set_xlabel("epoch")
        ax_loss.set_yscale("log")
        for ax in (ax_acc, ax_loss):
            ax.grid(alpha=0.3)
            ax.legend(loc="best", fontsize=8)
        jitter = np.random.default_rng(0)
        for i, (config, r) in enumerate(results.items()):
            t = np.asarray(r["test"], dtype=float)
            ax_final.plot(
                i + jitter.uniform(-0.08, 0.08, t.size),
                t,
                "o",
                ms=3.5,
                alpha=0.5,
                color=colors[config],
            )
            ax_final.errorbar([i], [t.mean()], yerr=[t.std()], fmt="_", ms=18, capsize=5, color="k")
            if "mc_acc" in r and np.mean(r["mc_std"]) > 0:
                ax_final.plot(
                    [i + 0.25],
                    [np.mean(r["mc_acc"])],
                    "D",
                    mfc="none",
                    color=colors[config],
                    label="MC-dropout mean" if i == len(results) - 1 else None,
                )
        ticks = [
            f"{c}\n{np.mean(r['test']):.3f} ± {np.std(r['test']):.3f}" for c, r in results.items()
        ]
        ax_final.set_xticks(range(len(results)), ticks, fontsize=8)
        ax_final.set_title(f"{network}: final test accuracy per seed (mean ± std)")
        ax_final.grid(alpha=0.3, axis="y")
        handles, _ = ax_final.get_legend_handles_labels()
        if handles:
            ax_final.legend(loc="best", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_mc_spread(parts: dict, path: str | os.PathLike, title: str | None = None) -> str:
    """Monte-Carlo dropout per network ({network: {configuration: result}} with per-seed
    "mc_std_correct", "mc_std_wrong" and, for models with BatchNormalization, a
    "variance_ratio" array of seeds × BN layers): the mean spread on correctly and wrongly
    classified test points per configuration, then BN's moving variance over its input's
    test-time variance for each BN layer. Returns the path."""
    import numpy as np

    plt = _pyplot()
    n = len(parts)
    fig, axes = plt.subplots(
        1,
        n + 1,
        figsize=(5.0 * (n + 1), 4.4),
        squeeze=False,
        gridspec_kw={"width_ratios": [1] * n + [1.3]},
    )
    for ax, (network, results) in zip(axes[0], parts.items()):
        x = np.arange(len(results))
        correct = [np.nanmean(r["mc_std_correct"]) for r in results.values()]
        wrong = [np.nanmean(r["mc_std_wrong"]) for r in results.values()]
        ax.bar(x - 0.2, correct, 0.4, label="correct", color="tab:blue")
        ax.bar(x + 0.2, wrong, 0.4, label="misclassified", color="tab:red")
        top = max([*correct, *wrong, 1e-3])
        for xi, r in zip(x, results.values()):
            ax.annotate(
                f"MC acc\n{np.mean(r['mc_acc']):.3f}",
                (xi, top * 1.08),
                ha="center",
                va="bottom",
                fontsize=7,
            )
        ax.set_ylim(0, top * 1.3)
        ax.set_xticks(x, list(results), rotation=15, fontsize=8)
        ax.set_ylabel("MC std of the predicted class's probability")
        ax.set_title(f"{network}: spread of the passes")
        ax.grid(alpha=0.3, axis="y")
        ax.legend(loc="center left", fontsize=8)
    ax = axes[0][-1]
    labels, values = [], []
    for network, results in parts.items():
        for config, r in results.items():
            if r.get("variance_ratio") is not None:
                labels.append(f"{network.split()[0]}: {config}")
                values.append(np.mean(r["variance_ratio"], axis=0))
    depth = max((len(v) for v in values), default=0)
    width = 0.8 / max(depth, 1)
    for k in range(depth):
        xs = [i + (k - (depth - 1) / 2) * width for i, v in enumerate(values) if k < len(v)]
        ys = [v[k] for v in values if k < len(v)]
        ax.bar(xs, ys, width, label=f"BN layer {k + 1}", color=plt.get_cmap("viridis")(k / depth))
    ax.axhline(1.0, color="k", lw=1, ls="--")
    ax.set_xticks(range(len(labels)), labels, rotation=25, ha="right", fontsize=8)
    ax.set_ylabel("ratio (median over channels)")
    ax.set_title("BN's moving variance / its input's test-time variance")
    ax.grid(alpha=0.3, axis="y")
    if depth:
        ax.legend(loc="upper left", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_model(
    model,
    to_file: str | os.PathLike = "model.png",
    show_shapes: bool = False,
    show_dtype: bool = False,
    show_layer_names: bool = True,
    rankdir: str = "TB",
    expand_nested: bool = False,
    dpi: int = 200,
    show_layer_activations: bool = False,
    show_trainable: bool = False,
    **kwargs,
):
    """Keras's ``plot_model``, drawn with matplotlib (no graphviz): one box per layer in
    graph order, levels by depth from the inputs (top to bottom, or left to right with
    ``rankdir='LR'``), arrows where a layer reads another. Writes ``to_file`` (its
    extension picks the format) and returns an IPython image in a notebook, else the
    path."""
    from .layers.core import InputLayer
    from .models import Model

    if not isinstance(model, Model):
        raise TypeError(f"plot_model: expected a dropnet model, received {type(model).__name__}")
    if kwargs:
        raise TypeError(f"plot_model: unexpected keyword argument(s) {', '.join(sorted(kwargs))}")
    if rankdir not in ("TB", "LR"):
        raise ValueError(f"plot_model(rankdir): expected 'TB' or 'LR', received {rankdir!r}")
    if not model.built:
        raise ValueError("plot_model: the model has no input shape yet (build it first)")
    del expand_nested  # nothing nests: a model's layers are all leaves
    # Layers in graph order; each one's sources and its level (longest path from an input).
    layers: list = []
    sources: dict[int, list] = {}
    level: dict[int, int] = {}
    for t in model.inputs:
        layers.append(t.layer)
        sources[id(t.layer)], level[id(t.layer)] = [], 0
    for node in model._nodes:
        layer = node.layer
        if id(layer) not in level:
            layers.append(layer)
            sources[id(layer)], level[id(layer)] = [], 0
        for t in node.inputs:
            if t.layer not in sources[id(layer)]:
                sources[id(layer)].append(t.layer)
            level[id(layer)] = max(level[id(layer)], level[id(t.layer)] + 1)
    shapes: dict[int, tuple[list, list]] = {id(x): ([], []) for x in layers}
    for node in model._nodes:
        shapes[id(node.layer)][0].extend(t.shape for t in node.inputs)
        shapes[id(node.layer)][1].extend(t.shape for t in node.outputs)
    for t in model.inputs:
        shapes[id(t.layer)][1].append(t.shape)

    def label(layer) -> str:
        kind = type(layer).__name__
        lines = [f"{layer.name} ({kind})" if show_layer_names else kind]
        act = getattr(layer, "activation", None)
        if show_layer_activations and isinstance(act, str) and not isinstance(layer, InputLayer):
            lines.append(f"activation: {act}")
        if show_dtype:
            lines.append(f"dtype: {layer.dtype}")
        if show_shapes:
            ins, outs = shapes[id(layer)]

            def text(s):
                s = list(dict.fromkeys(s)) or ["?"]
                out = [str((None, *x)) if x != "?" else "?" for x in s]
                return out[0] if len(out) == 1 else "[" + ", ".join(out) + "]"

            if not isinstance(layer, InputLayer):
                lines.append(f"input: {text(ins)}")
            lines.append(f"output: {text(outs)}")
        if show_trainable:
            lines.append(f"trainable: {layer.trainable}")
        return "\n".join(lines)

    # Positions: level along the rank direction, order within a level across it.
    rows: dict[int, list] = {}
    for layer in layers:
        rows.setdefault(level[id(layer)], []).append(layer)
    depth, breadth = len(rows), max(len(r) for r in rows.values())
    pos = {}
    for lv, members in rows.items():
        for k, layer in enumerate(members):
            across = k - (len(members) - 1) / 2
            pos[id(layer)] = (across * 3.2, -lv * 1.2) if rankdir == "TB" else (lv * 3.6, -across)
    plt = _pyplot()
    size = (
        (max(4.0, 3.3 * breadth), max(2.0, 1.25 * depth))
        if rankdir == "TB"
        else (
            max(4.0, 3.7 * depth),
            max(2.0, 1.4 * breadth),
        )
    )
    fig, ax = plt.subplots(figsize=size)
    ax.set_axis_off()
    box = {"boxstyle": "round,pad=0.4", "facecolor": "#eef3fb", "edgecolor": "#4a6fa5"}
    boxes = {}
    for layer in layers:
        x, y = pos[id(layer)]
        text = ax.text(x, y, label(layer), ha="center", va="center", fontsize=8, bbox=box)
        boxes[id(layer)] = text.get_bbox_patch()
    # Arrows from edge to edge of the boxes (their sizes are known once drawn).
    head, tail = ((0.5, 1.0), (0.5, 0.0)) if rankdir == "TB" else ((0.0, 0.5), (1.0, 0.5))
    for layer in layers:
        for src in sources[id(layer)]:
            ax.annotate(
                "",
                xy=head,
                xycoords=boxes[id(layer)],
                xytext=tail,
                textcoords=boxes[id(src)],
                arrowprops={"arrowstyle": "->", "color": "#555555", "shrinkA": 1, "shrinkB": 1},
            )
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - 1.8, max(xs) + 1.8)
    ax.set_ylim(min(ys) - 0.8, max(ys) + 0.8)
    path = os.fspath(to_file)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    try:
        from IPython import get_ipython
        from IPython.display import Image
    except ImportError:
        return path
    return Image(filename=path) if get_ipython() is not None else path
