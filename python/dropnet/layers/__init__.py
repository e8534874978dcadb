"""Layers with Keras's names and arguments."""

from .base import Layer, Weight
from .core import Activation, Dense, Flatten, Input, InputLayer, LeakyReLU, Reshape
from .dropout import (
    AlphaDropout,
    Dropout,
    GaussianDropout,
    GaussianNoise,
    SpatialDropout1D,
    SpatialDropout2D,
    SpatialDropout3D,
)

__all__ = [
    "Activation",
    "AlphaDropout",
    "Dense",
    "Dropout",
    "Flatten",
    "GaussianDropout",
    "GaussianNoise",
    "Input",
    "InputLayer",
    "Layer",
    "LeakyReLU",
    "Reshape",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "Weight",
]

LAYER_CLASSES = {cls.__name__: cls for cls in (
    Activation, AlphaDropout, Dense, Dropout, Flatten, GaussianDropout, GaussianNoise,
    InputLayer, LeakyReLU, Reshape, SpatialDropout1D, SpatialDropout2D, SpatialDropout3D)}
