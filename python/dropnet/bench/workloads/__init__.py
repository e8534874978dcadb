"""The workload registry: every benchmark the harness knows, by name. To add one, write a
module with a Workload subclass (see base.py) and list an instance in REGISTRY below."""

from __future__ import annotations

from .base import Workload
from .batchnorm import BatchNormWorkload
from .circles import CirclesWorkload
from .cnn import CnnWorkload
from .dropout import DropoutWorkload
from .gemm import GemmWorkload
from .gru import GruWorkload
from .lstm import LstmWorkload
from .overhead import OverheadWorkload
from .scaling import ScalingWorkload
from .sonar import SonarWorkload
from .streaming import StreamingWorkload
from .text import TextWorkload

REGISTRY: dict[str, Workload] = {
    w.name: w
    for w in (
        CirclesWorkload(),
        SonarWorkload(),
        CnnWorkload(),
        LstmWorkload(),
        GruWorkload(),
        TextWorkload(),
        BatchNormWorkload(),
        GemmWorkload(),
        DropoutWorkload(),
        OverheadWorkload(),
        ScalingWorkload(),
        StreamingWorkload(),
    )
}


def get_workload(name: str) -> Workload:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown workload {name!r}; known: {', '.join(REGISTRY)}") from None
