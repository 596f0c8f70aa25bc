"""The two networks as idiomatic ``keras.Sequential`` models (NHWC, HWIO kernels), one definition for
every Keras backend: ``impls.tensorflow``, ``impls.keras_jax`` and ``impls.keras_torch`` build these.

Their weights are translated to and from the canonical layout by ``bench.layouts`` (shared with
JAX/Flax, which is channels-last too). Importing this module imports Keras: the importing package
selects the backend first (``KERAS_BACKEND``, read once, when Keras is first imported).
"""

from __future__ import annotations

import keras


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
