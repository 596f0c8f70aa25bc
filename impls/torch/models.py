"""The two networks as idiomatic PyTorch ``nn.Module``s, their layers named as in ``bench.specs``.

``nn.Sequential(OrderedDict(...))`` names the parameters exactly as the canonical weights
(``conv1.weight``, ...), and PyTorch's layouts (OIHW, out x in, C*H*W flatten) are canonical, so the
weights need no translation.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn


def lenet() -> nn.Sequential:
    """LeNet-5 as in d2l: sigmoid activations and average pooling; layers named as in the spec."""
    return nn.Sequential(
        OrderedDict(
            [
                ("conv1", nn.Conv2d(1, 6, kernel_size=5, padding=2)),
                ("sigmoid1", nn.Sigmoid()),
                ("pool1", nn.AvgPool2d(kernel_size=2, stride=2)),
                ("conv2", nn.Conv2d(6, 16, kernel_size=5)),
                ("sigmoid2", nn.Sigmoid()),
                ("pool2", nn.AvgPool2d(kernel_size=2, stride=2)),
                ("flatten", nn.Flatten()),  # C x H x W order: the canonical layout
                ("fc1", nn.Linear(16 * 5 * 5, 120)),
                ("sigmoid3", nn.Sigmoid()),
                ("fc2", nn.Linear(120, 84)),
                ("sigmoid4", nn.Sigmoid()),
                ("fc3", nn.Linear(84, 10)),
            ]
        )
    )


def mlp() -> nn.Sequential:
    """The 784-256-10 ReLU MLP."""
    return nn.Sequential(
        OrderedDict(
            [
                ("flatten", nn.Flatten()),
                ("fc1", nn.Linear(28 * 28, 256)),
                ("relu", nn.ReLU()),
                ("fc2", nn.Linear(256, 10)),
            ]
        )
    )


BUILDERS = {"lenet": lenet, "mlp": mlp}
