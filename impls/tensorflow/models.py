"""The two networks as idiomatic ``keras.Sequential`` models, and their weights' translation between
the Keras layout and the canonical one (``bench.specs``).

Keras works in NHWC with HWIO conv kernels and in x out dense kernels; ``to_keras``/``from_keras``
translate one weight each way, including LeNet's flatten, which is C*H*W canonically but H*W*C in
Keras (``flatten_shapes`` says which dense layers follow a flatten). Imported through the package,
whose ``__init__`` selects Keras's TF backend before Keras is imported.
"""

from __future__ import annotations

import keras
import numpy as np

from bench.specs import Conv, Dense, ModelSpec


def lenet() -> keras.Sequential:
    """LeNet-5 as in d2l: sigmoid activations and average pooling (NHWC)."""
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            keras.layers.Conv2D(6, 5, padding="same", activation="sigmoid", name="conv1"),
            keras.layers.AveragePooling2D(pool_size=2, strides=2),
            keras.layers.Conv2D(16, 5, activation="sigmoid", name="conv2"),
            keras.layers.AveragePooling2D(pool_size=2, strides=2),
            keras.layers.Flatten(),
            keras.layers.Dense(120, activation="sigmoid", name="fc1"),
            keras.layers.Dense(84, activation="sigmoid", name="fc2"),
            keras.layers.Dense(10, name="fc3"),
        ],
        name="lenet",
    )


def mlp() -> keras.Sequential:
    """The 784-256-10 ReLU MLP."""
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(256, activation="relu", name="fc1"),
            keras.layers.Dense(10, name="fc2"),
        ],
        name="mlp",
    )


BUILDERS = {"lenet": lenet, "mlp": mlp}  # Keras layer names are the canonical layer names


def flatten_shapes(spec: ModelSpec) -> dict[str, tuple[int, int, int]]:
    """Return {dense layer name: (C, H, W)} for every dense layer that follows a conv layer.

    Those layers' input is a flattened feature map whose order differs between the canonical
    layout (C*H*W) and Keras's NHWC flatten (H*W*C).
    """
    shapes: dict[str, tuple[int, int, int]] = {}
    channels, height, width = 1, 28, 28
    previous: Conv | Dense | None = None
    for layer in spec.layers:
        if isinstance(layer, Conv):  # each conv is followed by 2x2 pooling, hence // 2
            height = (height + 2 * layer.padding - layer.kernel + 1) // 2
            width = (width + 2 * layer.padding - layer.kernel + 1) // 2
            channels = layer.out_channels
        elif isinstance(previous, Conv):
            assert layer.in_features == channels * height * width, (layer, channels, height, width)
            shapes[layer.name] = (channels, height, width)
        previous = layer
    return shapes


def to_keras(value: np.ndarray, chw: tuple[int, int, int] | None) -> np.ndarray:
    """Translate one canonical weight to the Keras layout."""
    if value.ndim == 4:  # conv O x I x H x W -> H x W x I x O
        return value.transpose(2, 3, 1, 0)
    if value.ndim == 2:  # dense out x in -> in x out
        if chw is not None:  # in = C*H*W -> H*W*C, Keras's flatten order of an NHWC map
            out = value.shape[0]
            value = value.reshape(out, *chw).transpose(0, 2, 3, 1).reshape(out, -1)
        return value.T
    return value


def from_keras(value: np.ndarray, chw: tuple[int, int, int] | None) -> np.ndarray:
    """Translate one Keras weight back to the canonical layout (the inverse of ``to_keras``)."""
    if value.ndim == 4:  # H x W x I x O -> O x I x H x W
        return value.transpose(3, 2, 0, 1)
    if value.ndim == 2:  # in x out -> out x in
        value = value.T
        if chw is not None:  # H*W*C -> C*H*W
            c, h, w = chw
            out = value.shape[0]
            value = value.reshape(out, h, w, c).transpose(0, 3, 1, 2).reshape(out, -1)
        return value
    return value
