"""The two networks as idiomatic Paddle ``nn.Sequential``s (d2l-zh's code), layers named as in
``bench.specs``, and the translation between Paddle's parameter layouts and the canonical ones.

``nn.Sequential(("conv1", nn.Conv2D(...)), ...)`` names the parameters ``conv1.weight`` and so on.
Paddle's ``Conv2D.weight`` is O x I x H x W and ``nn.Flatten`` flattens N C H W as C*H*W, both
canonical; ``Linear.weight`` is in x out, the transpose of the canonical out x in.
"""

from __future__ import annotations

import numpy as np
from paddle import nn

from bench.specs import Dense, ModelSpec


def lenet() -> nn.Sequential:
    """LeNet-5 as in d2l-zh: sigmoid activations and average pooling."""
    return nn.Sequential(
        ("conv1", nn.Conv2D(1, 6, kernel_size=5, padding=2)),
        ("sigmoid1", nn.Sigmoid()),
        ("pool1", nn.AvgPool2D(kernel_size=2, stride=2)),
        ("conv2", nn.Conv2D(6, 16, kernel_size=5)),
        ("sigmoid2", nn.Sigmoid()),
        ("pool2", nn.AvgPool2D(kernel_size=2, stride=2)),
        ("flatten", nn.Flatten()),  # N C H W -> N (C*H*W): the canonical order
        ("fc1", nn.Linear(16 * 5 * 5, 120)),
        ("sigmoid3", nn.Sigmoid()),
        ("fc2", nn.Linear(120, 84)),
        ("sigmoid4", nn.Sigmoid()),
        ("fc3", nn.Linear(84, 10)),
    )


def mlp() -> nn.Sequential:
    """The 784-256-10 ReLU MLP."""
    return nn.Sequential(
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(28 * 28, 256)),
        ("relu", nn.ReLU()),
        ("fc2", nn.Linear(256, 10)),
    )


BUILDERS = {"lenet": lenet, "mlp": mlp}


def is_dense(spec: ModelSpec, name: str) -> bool:
    """Whether the canonical weight ``name`` is a dense (``nn.Linear``) kernel, stored in x out."""
    layer = name.rpartition(".")[0]
    return name.endswith(".weight") and any(
        isinstance(item, Dense) and item.name == layer for item in spec.layers
    )


def to_paddle(spec: ModelSpec, name: str, value: np.ndarray) -> np.ndarray:
    """A canonical weight in Paddle's layout (dense kernels transposed to in x out)."""
    value = np.asarray(value, dtype=np.float32)
    return np.ascontiguousarray(value.T if is_dense(spec, name) else value)


def from_paddle(spec: ModelSpec, name: str, value: np.ndarray) -> np.ndarray:
    """A Paddle parameter in the canonical layout (dense kernels transposed to out x in)."""
    value = np.asarray(value, dtype=np.float32)
    return np.ascontiguousarray(value.T if is_dense(spec, name) else value)


def set_weights(net: nn.Layer, spec: ModelSpec, weights: dict[str, np.ndarray]) -> None:
    """Load canonical weights into ``net`` with ``Parameter.set_value`` (shapes checked by Paddle)."""
    params = dict(net.named_parameters())
    if set(params) != set(spec.weight_shapes()):
        raise RuntimeError(f"parameters {sorted(params)} are not the spec's {sorted(spec.weight_shapes())}")
    for name, param in params.items():
        param.set_value(to_paddle(spec, name, weights[name]))


def get_weights(net: nn.Layer, spec: ModelSpec) -> dict[str, np.ndarray]:
    """The parameters of ``net`` in the canonical layout, float32 numpy."""
    return {name: from_paddle(spec, name, param.numpy()) for name, param in net.named_parameters()}
