"""``KerasNet``: one ``keras.Sequential`` network built on a device, its weights exchanged in the
canonical layout.

Keras keeps HWIO conv kernels, in x out dense kernels and an H*W*C flatten on every backend (the
layout is Keras's, not the backend's), so ``bench.layouts`` translates for all of them, as for
``impls.tensorflow``. Imported after :func:`impls.keras_common.import_keras` chose the backend.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from bench.layouts import flatten_shapes, from_channels_last, to_channels_last
from bench.specs import ModelSpec
from impls.keras_common.models import BUILDERS


class KerasNet:
    """The network of ``spec``, its variables created on ``device`` (anything ``keras.device`` takes:
    a ``jax.Device``, or a torch device string such as ``"cpu"``/``"cuda:0"``)."""

    def __init__(self, spec: ModelSpec, device: Any, mode: str) -> None:
        self.spec = spec
        self.device = device
        self.mode = mode
        self.flatten = flatten_shapes(spec)
        with keras.device(device):
            self.net = BUILDERS[spec.name]()

    def _layers(self) -> dict[str, Any]:
        return {layer.name: self.net.get_layer(layer.name) for layer in self.spec.layers}

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Load canonical-layout weights into the Keras variables."""
        for name, layer in self._layers().items():
            canonical = np.asarray(weights[f"{name}.weight"], dtype=np.float32)
            kernel = to_channels_last(canonical, self.flatten.get(name))
            layer.kernel.assign(np.ascontiguousarray(kernel))
            layer.bias.assign(np.asarray(weights[f"{name}.bias"], dtype=np.float32))

    def get_weights(self) -> dict[str, np.ndarray]:
        """Return the Keras variables in the canonical layout."""
        weights = {}
        for name, layer in self._layers().items():
            kernel = keras.ops.convert_to_numpy(layer.kernel.value)
            kernel = from_channels_last(np.asarray(kernel), self.flatten.get(name))
            weights[f"{name}.weight"] = np.ascontiguousarray(kernel, dtype=np.float32)
            weights[f"{name}.bias"] = np.array(keras.ops.convert_to_numpy(layer.bias.value), np.float32)
        return weights
