"""Subnormal floats inside the core are flushed to zero, as TensorFlow runs Keras models
(momentum drives the velocities of unused weights geometrically into the subnormal range,
where every operation is about a hundred times slower), and only inside it: the caller's
floating-point state is restored afterwards."""

import numpy as np
import pytest

import dropnet
from dropnet import _core
from dropnet.layers import Dense, Dropout, Input
from dropnet.models import Sequential

TINY = np.float32(1e-39)  # subnormal in float32


def _model():
    dropnet.set_random_seed(3)
    model = Sequential([Input((4,)), Dense(8, activation="relu"), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


@pytest.mark.parametrize("threads", [1, 2])
def test_subnormal_inputs_read_as_zero_inside_the_core(threads):
    dropnet.set_num_threads(threads)
    model = _model()
    x = np.ones((64, 4), np.float32)
    x_tiny = x.copy()
    x_tiny[:, 2] = TINY
    x_zero = x.copy()
    x_zero[:, 2] = 0.0
    np.testing.assert_array_equal(
        model.predict(x_tiny, verbose=0), model.predict(x_zero, verbose=0)
    )


def test_subnormals_read_as_zero_on_every_thread_of_a_parallel_kernel():
    """A layer wide enough that its GEMM splits across the team: the team's threads flush
    as the calling thread does (each parallel region takes the caller's mode)."""
    dropnet.set_num_threads(2)
    # A parallel kernel outside a model's call first: the team's threads exist before any
    # flushing call, in the process's default mode (threads inherit their creator's).
    a = np.ones((512, 512), np.float32)
    _core.matmul(a, a)
    dropnet.set_random_seed(3)
    model = Sequential([Input((64,)), Dense(256)])
    model.compile(optimizer="sgd", loss="mse")
    # Only the subnormal column is nonzero: read as zero, every output is the bias, 0 (and
    # a thread that did not flush would write subnormal products there).
    x_zero = np.zeros((2048, 64), np.float32)
    x_tiny = x_zero.copy()
    x_tiny[:, 5] = TINY
    assert np.all(model.predict(x_zero, verbose=0) == 0.0)
    assert np.all(model.predict(x_tiny, verbose=0) == 0.0)
    x_small = x_zero.copy()
    x_small[:, 5] = np.float32(1e-30)  # the same column, normal: it does reach the outputs
    assert np.any(model.predict(x_small, verbose=0) != 0.0)


def test_the_team_threads_stop_flushing_when_the_call_ends():
    """After a model's call on two threads, a kernel run outside any model call (which
    flushes nothing) reads subnormal inputs as they are, on every thread of the team."""
    dropnet.set_num_threads(2)
    model = Sequential([Input((64,)), Dense(256)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((2048, 64), np.float32), np.ones((2048, 256), np.float32), verbose=0)
    tiny = np.full((512, 512), TINY, np.float32)
    product = _core.matmul(tiny, np.ones((512, 512), np.float32))
    assert np.all(product > 0)  # 512 subnormal terms: a normal sum, zero if flushed


def test_the_callers_floating_point_state_is_restored():
    model = _model()
    model.fit(np.ones((32, 4), np.float32), np.ones(32, np.float32), epochs=1, verbose=0)
    model.predict(np.ones((2, 4), np.float32), verbose=0)
    # Subnormal arithmetic in the calling thread is untouched by the calls above.
    assert np.float32(TINY) * np.float32(1.0) == TINY
    assert np.float32(TINY) > 0


def test_training_with_momentum_and_dropout_is_the_same_on_any_thread_count():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 30)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    weights = []
    for threads in (1, 2):
        dropnet.set_num_threads(threads)
        dropnet.set_random_seed(5)
        model = Sequential(
            [
                Input((30,)),
                Dense(64, activation="relu"),
                Dropout(0.5),
                Dense(1, activation="sigmoid"),
            ]
        )
        model.compile(
            optimizer=dropnet.optimizers.SGD(learning_rate=0.1, momentum=0.9),
            loss="binary_crossentropy",
        )
        model.fit(x, y, batch_size=16, epochs=30, verbose=0)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)
