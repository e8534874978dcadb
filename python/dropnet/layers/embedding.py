"""Embedding: integer ids to rows of a trained table."""

from __future__ import annotations

from .. import constraints, initializers, regularizers
from .base import Layer, check_shape
from .core import positive_int


class Embedding(Layer):
    """Turns each id in ``[0, input_dim)`` into row ``id`` of ``embeddings``
    (input_dim, output_dim): inputs (batch, ...) become (batch, ..., output_dim). Ids in
    ``[-input_dim, -1]`` count from the end, as in Keras; any other id (or a value that is not
    a whole number) raises ValueError naming it. Keras 2's ``input_length=`` gives the input
    shape (Keras 3 ignores it). ``mask_zero=True`` masks the steps whose id is 0 for the
    layers after it (the recurrent layers skip them, GlobalAveragePooling1D leaves them out);
    row 0 of the table still exists."""

    def __init__(
        self,
        input_dim,
        output_dim,
        embeddings_initializer="uniform",
        embeddings_regularizer=None,
        embeddings_constraint=None,
        mask_zero=False,
        weights=None,
        input_length=None,
        **kwargs,
    ):
        if input_length is not None and "input_shape" not in kwargs:
            kwargs["input_shape"] = check_shape(
                (input_length,) if isinstance(input_length, int) else input_length,
                "Embedding(input_length)",
            )
        super().__init__(**kwargs)
        self.input_dim = positive_int(input_dim, f"Embedding(input_dim={input_dim!r})")
        self.output_dim = positive_int(output_dim, f"Embedding(output_dim={output_dim!r})")
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.mask_zero = bool(mask_zero)
        self._initial = None if weights is None else list(weights)

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            "embeddings",
            (self.input_dim, self.output_dim),
            self.embeddings_initializer,
            self.embeddings_constraint,
            self.embeddings_regularizer,
        )
        if self._initial is not None:  # Keras's weights= (pretrained vectors)
            if len(self._initial) != 1:
                raise ValueError(
                    f"{self.name}: weights= expects one array (the embeddings), received "
                    f"{len(self._initial)}"
                )
            self.embeddings.assign(self._initial[0])
            self._initial = None

    def _output_mask(self, inputs):
        return (inputs[0], 0.0) if self.mask_zero else None

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape), self.output_dim)

    def _core_op(self):
        return "embedding", {"input_dim": self.input_dim, "output_dim": self.output_dim}

    def get_config(self):
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
            "embeddings_constraint": constraints.serialize(self.embeddings_constraint),
            "mask_zero": self.mask_zero,
        }
