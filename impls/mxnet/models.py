"""LeNet-5 and the MLP in MXNet Gluon: idiomatic ``HybridSequential`` code (imports mxnet: import it
only after ``impls.mxnet.MxnetFramework`` has set the threading environment).

Layers are found by name, not by position: each layer is built with its canonical name as its Gluon
prefix (``conv1_``, ``fc1_``, ...), so its parameters are ``conv1_weight``, ``conv1_bias`` in
``net.collect_params()``.
"""

from __future__ import annotations

import mxnet as mx
from mxnet.gluon import nn


def lenet() -> nn.HybridSequential:
    """LeNet-5 as in d2l: sigmoid activations and average pooling (Dense flattens C*H*W)."""
    net = nn.HybridSequential()
    net.add(
        nn.Conv2D(channels=6, kernel_size=5, padding=2, activation="sigmoid", in_channels=1, prefix="conv1_"),
        nn.AvgPool2D(pool_size=2, strides=2, prefix="pool1_"),
        nn.Conv2D(channels=16, kernel_size=5, activation="sigmoid", in_channels=6, prefix="conv2_"),
        nn.AvgPool2D(pool_size=2, strides=2, prefix="pool2_"),
        nn.Dense(120, activation="sigmoid", in_units=16 * 5 * 5, prefix="fc1_"),
        nn.Dense(84, activation="sigmoid", in_units=120, prefix="fc2_"),
        nn.Dense(10, in_units=84, prefix="fc3_"),
    )
    return net


def mlp() -> nn.HybridSequential:
    """The 784-256-10 ReLU MLP (Dense flattens its N x 1 x 28 x 28 input)."""
    net = nn.HybridSequential()
    net.add(
        nn.Dense(256, activation="relu", in_units=28 * 28, prefix="fc1_"),
        nn.Dense(10, in_units=256, prefix="fc2_"),
    )
    return net


# The layers' Gluon prefixes are the canonical layer names, and MXNet's layouts (NCHW, OIHW, dense
# out x in, flatten C*H*W) already are the canonical ones, so weights are copied as they are.
BUILDERS = {"lenet": lenet, "mlp": mlp}
# The spec's initialisers in Gluon terms (set_weights overwrites them; this only makes a freshly
# built model a sensible one). Xavier's defaults (uniform, avg, magnitude 3) are Glorot-uniform.
INITIALIZERS = {"xavier_uniform": mx.init.Xavier, "normal_0.01": lambda: mx.init.Normal(0.01)}
