"""LeNet-5 and the MLP as ``mlx.nn`` modules, and the canonical weight exchange.

MLX works channels-last: ``nn.Conv2d`` takes NHWC input and keeps its weight as (out, kh, kw, in)
(O x H x W x I); ``nn.Linear`` keeps its weight as out x in, like the canonical layout. The one
difference in a dense layer is LeNet's ``fc1``: its input is an NHWC map flattened in H*W*C order,
canonically C*H*W, so its columns are permuted on the way in and out (``bench.layouts`` does that
part, as for Keras and Flax).
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from bench.layouts import flatten_shapes, from_channels_last, to_channels_last
from bench.specs import ModelSpec


class LeNet(nn.Module):
    """LeNet-5 as in d2l: sigmoid activations and 2x2 average pooling, NHWC."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, kernel_size=5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def __call__(self, x: mx.array) -> mx.array:
        x = self.pool(nn.sigmoid(self.conv1(x)))
        x = self.pool(nn.sigmoid(self.conv2(x)))
        x = x.reshape(x.shape[0], -1)  # NHWC flatten: H*W*C
        x = nn.sigmoid(self.fc1(x))
        x = nn.sigmoid(self.fc2(x))
        return self.fc3(x)


class MLP(nn.Module):
    """The 784-256-10 ReLU MLP (the shape of MLX's own MNIST example, one wider hidden layer)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(28 * 28, 256)
        self.fc2 = nn.Linear(256, 10)

    def __call__(self, x: mx.array) -> mx.array:
        x = x.reshape(x.shape[0], -1)  # one channel: H*W*C is C*H*W
        return self.fc2(nn.relu(self.fc1(x)))


BUILDERS = {"lenet": LeNet, "mlp": MLP}  # attribute names are the canonical layer names


def build_module(spec: ModelSpec) -> nn.Module:
    """A fresh module for ``spec`` (its random initial values are replaced by ``load_canonical``)."""
    return BUILDERS[spec.name]()


def to_mlx(value: np.ndarray, chw: tuple[int, int, int] | None) -> np.ndarray:
    """One canonical weight in MLX's layout: conv O x I x H x W -> O x H x W x I; dense out x in
    stays, with fc1's columns reordered from C*H*W to H*W*C."""
    value = np.asarray(value, dtype=np.float32)
    if value.ndim == 4:
        return np.ascontiguousarray(value.transpose(0, 2, 3, 1))
    if value.ndim == 2:
        return np.ascontiguousarray(to_channels_last(value, chw).T)
    return value


def from_mlx(value: np.ndarray, chw: tuple[int, int, int] | None) -> np.ndarray:
    """The inverse of ``to_mlx``: MLX's layout back to the canonical one, float32."""
    value = np.asarray(value, dtype=np.float32)
    if value.ndim == 4:
        return np.ascontiguousarray(value.transpose(0, 3, 1, 2))
    if value.ndim == 2:
        return np.ascontiguousarray(from_channels_last(value.T, chw), dtype=np.float32)
    return np.array(value, dtype=np.float32)


def load_canonical(module: nn.Module, spec: ModelSpec, weights: dict[str, np.ndarray]) -> None:
    """Load canonical weights into ``module`` with ``load_weights`` (strict: every name, every shape)."""
    flatten = flatten_shapes(spec)
    pairs = []
    for name, value in weights.items():
        layer = name.partition(".")[0]
        pairs.append((name, mx.array(to_mlx(value, flatten.get(layer)))))
    module.load_weights(pairs, strict=True)
    mx.eval(module.parameters())


def canonical_weights(module: nn.Module, spec: ModelSpec) -> dict[str, np.ndarray]:
    """The module's weights in the canonical layout, as float32 numpy arrays."""
    flatten = flatten_shapes(spec)
    params = module.parameters()
    mx.eval(params)
    weights = {}
    for layer in spec.layers:
        for kind in ("weight", "bias"):
            value = np.array(params[layer.name][kind], copy=True)
            weights[f"{layer.name}.{kind}"] = from_mlx(value, flatten.get(layer.name))
    return weights
