"""The Flax NNX nets of ``impls.jax``: LeNet-5 and the MLP in NHWC, their attributes named as the
canonical layers (``bench.specs``). Imported by ``impls.jax.training`` after XLA's environment is set."""

from __future__ import annotations

import jax
from flax import nnx


class LeNet(nnx.Module):
    """LeNet-5 as in d2l: sigmoid activations and average pooling (NHWC)."""

    def __init__(self, rngs: nnx.Rngs) -> None:
        self.conv1 = nnx.Conv(1, 6, kernel_size=(5, 5), padding=2, rngs=rngs)
        self.conv2 = nnx.Conv(6, 16, kernel_size=(5, 5), padding="VALID", rngs=rngs)
        self.fc1 = nnx.Linear(16 * 5 * 5, 120, rngs=rngs)
        self.fc2 = nnx.Linear(120, 84, rngs=rngs)
        self.fc3 = nnx.Linear(84, 10, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = nnx.avg_pool(nnx.sigmoid(self.conv1(x)), window_shape=(2, 2), strides=(2, 2))
        x = nnx.avg_pool(nnx.sigmoid(self.conv2(x)), window_shape=(2, 2), strides=(2, 2))
        x = x.reshape(x.shape[0], -1)  # NHWC flatten: H*W*C
        x = nnx.sigmoid(self.fc1(x))
        x = nnx.sigmoid(self.fc2(x))
        return self.fc3(x)


class MLP(nnx.Module):
    """The 784-256-10 ReLU MLP."""

    def __init__(self, rngs: nnx.Rngs) -> None:
        self.fc1 = nnx.Linear(28 * 28, 256, rngs=rngs)
        self.fc2 = nnx.Linear(256, 10, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = x.reshape(x.shape[0], -1)
        return self.fc2(nnx.relu(self.fc1(x)))


BUILDERS = {"lenet": LeNet, "mlp": MLP}  # attribute names are the canonical layer names
