"""Memory is bounded by the work: inference allocates only inference's buffers, convolution
scratch is one tile whatever the image size (and results are unchanged by the tiling),
Monte-Carlo prediction keeps one chunk's running sums, initializers fill weights a chunk at
a time. Peaks are measured in a fresh process (its VmHWM), against generous bounds."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import reference as ref

import dropnet
from dropnet.layers import Conv1D, Conv2D, Input
from dropnet.models import Sequential

_PROBE = """
import gc, sys
import numpy as np
import dropnet
from dropnet import layers, models

def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024

def peak():
    # VmHWM: this process's own high-water mark (ru_maxrss would carry over the peak of
    # the process this one was forked from)
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024

{setup}
base = rss()
{work}
grown = peak() - base
{after}
print(grown, result_mib, left)
"""


def _probe(setup: str, work: str, after: str = "left = 0.0") -> tuple[float, float, float]:
    """(peak MiB above the start of ``work``, the result's MiB, MiB left after ``after``)."""
    code = _PROBE.format(
        setup=textwrap.dedent(setup), work=textwrap.dedent(work), after=textwrap.dedent(after)
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    grown, result, left = (float(v) for v in out.stdout.split())
    return grown, result, left


_measurable = pytest.mark.skipif(
    not sys.platform.startswith("linux") or "asan" in os.environ.get("LD_PRELOAD", ""),
    reason="reads /proc; a sanitizer's shadow memory would swamp the figures",
)


@_measurable
def test_predict_through_a_wide_layer_allocates_no_training_buffers():
    grown, result, _ = _probe(
        "m = models.Sequential([layers.Input((8,)), layers.Dense(2**22)])\n"
        "x = np.ones((8, 8), np.float32)",
        "out = m.predict(x, verbose=0); result_mib = out.nbytes / 2**20",
    )
    # the output and one inference chunk's values (before: gradients, slots and scratch too,
    # 6x the output)
    assert grown < 2.6 * result, (grown, result)


@_measurable
def test_monte_carlo_prediction_streams_its_mean_and_spread():
    grown, result, _ = _probe(
        "m = models.Sequential([layers.Input((8,)), layers.Dropout(0.5), layers.Dense(1000)])\n"
        "x = np.ones((20000, 8), np.float32)",
        "mean, std = m.predict_mc(x, n=10); result_mib = mean.nbytes / 2**20",
    )
    assert grown < 2.6 * result, (grown, result)  # the two results; 14x before


@_measurable
def test_an_initializer_fills_a_large_kernel_in_place():
    grown, result, _ = _probe(
        "",
        "m = models.Sequential([layers.Input((8192,)), layers.Dense(8192, use_bias=False)])\n"
        "result_mib = m.weights[0].value.nbytes / 2**20",
    )
    assert grown < 1.3 * result, (grown, result)  # 3x before (a float64 draw, then a copy)


@_measurable
def test_convolution_scratch_is_one_tile_and_goes_with_the_model():
    grown, _result, left = _probe(
        "m = models.Sequential([layers.Input((256, 256, 8)), layers.Conv2D(16, 9, "
        "padding='same')])\nx = np.ones((1, 256, 256, 8), np.float32)",
        "out = m.predict(x, verbose=0); result_mib = out.nbytes / 2**20; del out",
        "del m; gc.collect()\n"
        "import ctypes; ctypes.CDLL('libc.so.6').malloc_trim(0)\n"
        "left = rss() - base",
    )
    # the patches of the whole image were 162 MiB (kept by the thread after the model went)
    assert grown < 40 and left < 20, (grown, left)


# ---------------------------------------------------------------- the tiling is exact
def _conv_reference_gradients(x, kernel, bias, strides, pad, dy):
    """y = conv(x) + b and, for the output gradient dy, (dW, db, dx), in float64."""
    _n, h, w, _c = x.shape
    kh, kw, _, _f = kernel.shape
    oh, ow = dy.shape[1:3]
    xp = np.pad(x, ((0, 0), (pad[0], pad[1]), (pad[2], pad[3]), (0, 0)))
    y = np.zeros(dy.shape) + bias
    dW, dxp = np.zeros_like(kernel), np.zeros_like(xp)
    sh, sw = strides
    for i in range(kh):
        for j in range(kw):
            xs = xp[:, i : i + sh * (oh - 1) + 1 : sh, j : j + sw * (ow - 1) + 1 : sw, :]
            y += np.einsum("nhwc,cf->nhwf", xs, kernel[i, j])
            dW[i, j] = np.einsum("nhwc,nhwf->cf", xs, dy)
            dxp[:, i : i + sh * (oh - 1) + 1 : sh, j : j + sw * (ow - 1) + 1 : sw, :] += np.einsum(
                "nhwf,cf->nhwc", dy, kernel[i, j]
            )
    dx = dxp[:, pad[0] : pad[0] + h, pad[2] : pad[2] + w, :]
    return y, dW, dy.sum(axis=(0, 1, 2)), dx


@pytest.mark.usefixtures("float64")
@pytest.mark.parametrize(
    ("size", "strides"),
    # 48x48 (stride 1) and 96x96 (stride 2) with a 5x5x16 patch: runs of one image's positions
    [(6, 1), (6, 2), (48, 1), (96, 2)],
)
def test_conv_gradients_match_the_reference_whole_or_tiled(size, strides):
    dropnet.set_random_seed(0)
    m = Sequential([Input((size, size, 16)), Conv2D(3, 5, strides=strides, padding="same")])
    m.compile("sgd", "mse")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, size, size, 16))
    kernel, bias = m.get_weights()
    bias = rng.standard_normal(bias.shape)
    m.set_weights([kernel, bias])
    out = m.predict(x, verbose=0)
    target = rng.standard_normal(out.shape)
    net = m._network(training=True)
    _loss, (gW, gb), gx = net.gradients(x, target.reshape(len(x), -1), None, 1, True)
    # mse over each sample's values, then the batch mean: dL/dy = 2 (y - t) / (n · values)
    dy = 2.0 * (out - target) / out.size
    pad_total = max((out.shape[1] - 1) * strides + 5 - size, 0)
    pad = (pad_total // 2, pad_total - pad_total // 2) * 2
    y, dW, db, dx = _conv_reference_gradients(x, kernel, bias, (strides, strides), pad, dy)
    np.testing.assert_allclose(out, y, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(gW, dW, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(gb, db, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(gx.reshape(x.shape), dx, rtol=1e-9, atol=1e-12)


def test_tiled_convolution_is_the_same_on_any_thread_count():
    # 20,000 steps of a 7x16 patch: one sample's patches (9 MB) are cut into runs
    def build():
        dropnet.set_random_seed(0)
        m = Sequential([Input((20_000, 16)), Conv1D(8, 7, padding="same", activation="relu")])
        m.compile("adam", "mse")
        return m

    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 20_000, 16)).astype(np.float32)
    y = rng.standard_normal((6, 20_000, 8)).astype(np.float32)
    runs, _ = ref.weights_per_thread_count(build, x, y, batch_size=6, epochs=2, shuffle=False)
    assert runs[0] == runs[1]
