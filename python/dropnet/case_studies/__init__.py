"""Case studies, each a module with NAME, SUMMARY, add_arguments(parser) and main(args)."""

from __future__ import annotations

import importlib

_MODULES = (
    "circles",
    "circles_input_dropout",
    "circles_maxnorm",
    "circles_repeats",
    "circles_rate_grid",
    "mc_dropout",
    "sonar",
    "sonar_rate_grid",
)


def registry() -> dict:
    """{name: module} of every case study."""
    out = {}
    for mod_name in _MODULES:
        mod = importlib.import_module(f"{__name__}.{mod_name}")
        out[mod.NAME] = mod
    return out
