"""The PyTorch adapter: threads and seed, Keras's initialisation for PyTorch's layers, and
the ordinary training loop (a ``torch.randperm`` shuffle each epoch, minibatches, zero_grad /
forward / loss / backward / step) that PyTorch leaves to its users, with the epoch clock."""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from ..timing import Fit
from . import ADAM_EPSILON, ADAM_LEARNING_RATE, FrameworkMissing

try:
    import torch
    from torch import nn
except ImportError as exc:
    raise FrameworkMissing(f"torch: {exc}") from exc

NAME = "torch"


def setup(threads: int, seed: int | None = None) -> None:
    torch.set_num_threads(threads)
    if seed is not None:
        torch.manual_seed(seed)
    (torch.zeros(1) + 1).item()  # touch the runtime outside any timed region


def info(brief: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"torch": torch.__version__}
    if not brief:
        out["num_threads"] = torch.get_num_threads()
    return out


def adam(params: Any) -> Any:
    return torch.optim.Adam(params, lr=ADAM_LEARNING_RATE, eps=ADAM_EPSILON)


def glorot(model: Any) -> Any:
    """Keras's initialisation for every nn.Linear and nn.Conv2d in `model`: Glorot-uniform
    kernels (PyTorch's fan-in and fan-out of a conv weight, in x kh x kw and out x kh x kw,
    are Keras's) and zero biases. Returns the model."""
    for layer in model.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    return model


def binary_hits(logits: Any, y: Any) -> Any:
    """Correct predictions of a batch of binary logits."""
    return ((logits > 0) == (y > 0.5)).sum()


def class_hits(logits: Any, y: Any) -> Any:
    """Correct predictions of a batch of class logits."""
    return (logits.argmax(1) == y).sum()


def train(
    model: Callable[[Any], Any],
    x: Any,
    y: Any,
    epochs: int,
    batch: int,
    optimizer: Any,
    loss_fn: Callable[[Any, Any], Any],
    *,
    hits: Callable[[Any, Any], Any] | None = None,
    after_step: Callable[[], None] | None = None,
    validate: Callable[[], None] | None = None,
    start: float | None = None,
) -> Fit:
    """`epochs` epochs over (x, y) in shuffled minibatches of `batch` (optimizer and loss
    function given), timed from `start` (now if None). `model` is an nn.Module (put in training mode every epoch) or a function
    of a batch in training mode. With `hits`, each epoch sums the loss and the correct
    predictions (``hits(output, y_batch)``) without gradients and records them; `after_step`
    runs after every optimizer step (a weight constraint), `validate` after every epoch."""
    n = x.shape[0]
    start = time.perf_counter() if start is None else start
    epoch_ends: list[float] = []
    losses: list[float] = []
    accuracy = None
    for _ in range(epochs):
        if isinstance(model, nn.Module):
            model.train()
        perm = torch.randperm(n)
        if hits is not None:
            loss_sum, correct = torch.zeros(()), torch.zeros((), dtype=torch.long)
        for i in range(0, n, batch):
            idx = perm[i : i + batch]
            xb, yb = x[idx], y[idx]
            optimizer.zero_grad()
            out = model(xb)
            loss = loss_fn(out, yb)
            loss.backward()
            optimizer.step()
            if after_step is not None:
                after_step()
            if hits is not None:
                with torch.no_grad():
                    loss_sum += loss.detach() * len(idx)
                    correct += hits(out, yb)
        if hits is not None:
            losses.append(loss_sum.item() / n)
            accuracy = correct.item() / n
        if validate is not None:
            validate()
        epoch_ends.append(time.perf_counter())
    return Fit(start, time.perf_counter(), epoch_ends, losses, accuracy)


def matmul(a: np.ndarray, b: np.ndarray) -> Callable[[], Any]:
    """A call computing a @ b with torch.mm (on tensors sharing the arrays' memory)."""
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    return lambda: torch.mm(ta, tb)
