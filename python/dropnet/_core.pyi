"""Type stub of the compiled core (dropnet._core). Arrays must be exactly float32 or
float64 and C-contiguous; nothing is converted here (the Python layer converts once)."""

from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

__version__: str

def config() -> dict[str, Any]: ...
def num_threads() -> int: ...
def set_num_threads(n: int) -> None: ...
def set_cpu_capability(level: str) -> None: ...
def gemm(
    a: npt.NDArray[np.floating],
    b: npt.NDArray[np.floating],
    c: npt.NDArray[np.floating],
    trans_a: bool = False,
    trans_b: bool = False,
    accumulate: bool = False,
    reference: bool = False,
) -> None: ...
def matmul(
    a: npt.NDArray[np.floating], b: npt.NDArray[np.floating]
) -> npt.NDArray[np.floating]: ...
def activation_forward(
    name: str, z: npt.NDArray[np.floating], alpha: float = 0.0
) -> npt.NDArray[np.floating]: ...
def activation_backward(
    name: str,
    z: npt.NDArray[np.floating],
    y: npt.NDArray[np.floating],
    dy: npt.NDArray[np.floating],
    alpha: float = 0.0,
) -> npt.NDArray[np.floating]: ...
def loss(
    name: str,
    from_logits: bool,
    head: npt.NDArray[np.floating],
    y_true: npt.NDArray[np.floating],
    sample_weight: npt.NDArray[np.floating] | None = None,
    *,
    delta: float = 1.0,
    gamma: float = 2.0,
    alpha: float = 0.25,
    apply_class_balancing: bool = False,
    label_smoothing: float = 0.0,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.floating]]: ...
def dropout_mask(
    shape: list[int], noise_shape: list[int], rate: float, seed: int, stream: int = 0, row0: int = 0
) -> npt.NDArray[np.bool_]: ...
def dropout_forward(
    x: npt.NDArray[np.floating],
    rate: float,
    seed: int,
    stream: int = 0,
    out: npt.NDArray[np.floating] | None = None,
    mask: npt.NDArray[np.uint32] | None = None,
) -> tuple[npt.NDArray[np.floating], npt.NDArray[np.uint32]]: ...
def dropout_backward(
    dy: npt.NDArray[np.floating],
    mask: npt.NDArray[np.uint32],
    rate: float,
    out: npt.NDArray[np.floating] | None = None,
) -> npt.NDArray[np.floating]: ...
def gemm_blocking(dtype: str = "float32") -> dict[str, int]: ...
def fma_peak(seconds: float = 0.2) -> float: ...
def copy(src: np.ndarray, dst: np.ndarray) -> None: ...
def philox4x32_10(counter: list[int], key: list[int]) -> tuple[int, int, int, int]: ...

# One array per model input (or per loss head), or a bare array for a single one.
Arrays: TypeAlias = np.ndarray | list[np.ndarray]

class Network:
    """The core's graph driver; dropnet.models builds the description."""

    def __init__(self, description: dict[str, Any]) -> None: ...
    # Sources: (xs, ys, sample_weight, batch_rows, shuffle, check) for arrays (ys None for
    # predict; with check, inputs of any numeric type are converted and checked per batch),
    # or an object with begin(step), pull() -> (xs, ys, w) | None, and end().
    # hooks: a callable hooks(event, phase, epoch, batch, rows, logs, seconds) -> 0|1|2 with
    # `wanted` ((phase, event) pairs) and `ticks`, or None.
    def fit(
        self,
        train: Any,
        val: Any,
        epochs: int,
        first_epoch: int,
        steps: int,
        val_steps: int,
        validate: list[bool] | None,
        stop_on_nan: bool,
        iterations: int,
        hooks: Any,
    ) -> tuple[npt.NDArray[np.float64], int, int, int, int, int, BaseException | None]: ...
    def train_on_batch(
        self,
        x: Arrays,
        y: Arrays,
        sample_weight: np.ndarray | None,
        iterations: int,
        check: bool = False,
    ) -> tuple[npt.NDArray[np.float64] | None, int]: ...
    # Outputs: a bare array for a single-output model, else one per output (None when the
    # call stopped early); then rows, the stop code, the batch reached, the error.
    def predict(
        self, data: Any, steps: int, mc_call: int, passes: int, hooks: Any
    ) -> tuple[Any, int, int, int, BaseException | None, bool]: ...
    def evaluate(
        self, data: Any, steps: int, hooks: Any
    ) -> tuple[list[float], int, int, int, BaseException | None]: ...
    @property
    def inference_rows(self) -> int: ...
    def gradients(
        self,
        x: Arrays,
        y: Arrays,
        sample_weight: np.ndarray | None,
        step: int,
        training: bool,
    ) -> tuple[float, list[np.ndarray], Any]: ...
    def set_schedule(self, schedule: dict[str, Any]) -> None: ...
    def learning_rate(self, iterations: int) -> float: ...
    @property
    def results_per_pass(self) -> int: ...
    def acquire(self, what: str) -> None: ...
    def release(self) -> None: ...

def schedule_value(schedule: dict[str, Any], step: int) -> float: ...

# The core's name tables: activations, losses, metrics, optimizers, schedules,
# constraints, ops.
names: dict[str, list[str]]
