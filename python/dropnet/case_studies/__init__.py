"""Case studies, each a module with NAME, SUMMARY, add_arguments(parser) and main(args)."""

from __future__ import annotations

import importlib

_MODULES = (
    "batchnorm",
    "circles",
    "circles_input_dropout",
    "circles_maxnorm",
    "circles_repeats",
    "circles_rate_grid",
    "cnn_digits",
    "lstm",
    "mc_dropout",
    "sonar",
    "sonar_rate_grid",
    "text",
)


# The rate grid of the tutorial's fourth extension, shared by the rate-grid studies.
DEFAULT_RATES = tuple(round(0.1 * i, 1) for i in range(10))


def check_rates(rates) -> list[float]:
    """The dropout rates of a grid, sorted; ValueError for any outside [0, 1)."""
    out = sorted(float(r) for r in rates)
    for r in out:
        if not 0.0 <= r < 1.0:
            raise ValueError(f"rates: expected values in [0, 1), received {r}")
    return out


def registry() -> dict:
    """{name: module} of every case study."""
    out = {}
    for mod_name in _MODULES:
        mod = importlib.import_module(f"{__name__}.{mod_name}")
        out[mod.NAME] = mod
    return out
