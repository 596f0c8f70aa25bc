"""Canonical weights <-> the channels-last layouts of Keras and Flax (numpy only, no framework).

The canonical layout (``bench/specs.py``) is conv O x I x H x W, dense out x in, and the flatten before
a dense layer in C*H*W order. Keras and Flax work in NHWC with H x W x I x O conv kernels and
in x out dense kernels, and flatten a feature map in H*W*C order. Both implementations translate
through these functions, so the translation is written (and tested) once.
"""

from __future__ import annotations

import numpy as np

from bench.specs import Conv, ModelSpec


def flatten_shapes(spec: ModelSpec) -> dict[str, tuple[int, int, int]]:
    """Return {dense layer name: (C, H, W)} for every dense layer that follows a conv layer.

    Those layers' input is a flattened feature map whose order differs between the canonical
    layout (C*H*W) and a channels-last flatten (H*W*C).
    """
    shapes: dict[str, tuple[int, int, int]] = {}
    channels, height, width = 1, 28, 28
    previous = None
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


def to_channels_last(value: np.ndarray, chw: tuple[int, int, int] | None) -> np.ndarray:
    """Translate one canonical weight to the channels-last layout (``chw``: see flatten_shapes)."""
    if value.ndim == 4:  # conv O x I x H x W -> H x W x I x O
        return value.transpose(2, 3, 1, 0)
    if value.ndim == 2:  # dense out x in -> in x out
        if chw is not None:  # in = C*H*W -> H*W*C, the flatten order of an NHWC map
            out = value.shape[0]
            value = value.reshape(out, *chw).transpose(0, 2, 3, 1).reshape(out, -1)
        return value.T
    return value


def from_channels_last(value: np.ndarray, chw: tuple[int, int, int] | None) -> np.ndarray:
    """Translate one channels-last weight back to the canonical layout (the inverse of the above)."""
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


def canonical_batch(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A channels-last batch from a native input pipeline in the canonical layout: float32
    N x C x H x W (contiguous) and int64 labels (what ``Model.native_batches`` yields)."""
    return np.ascontiguousarray(np.transpose(images, (0, 3, 1, 2))), np.asarray(labels).astype(np.int64)
