"""The NumPy oracle: forward, softmax cross-entropy, backward and one SGD step of both models.

Computed in float64 on canonical-layout weights. Every framework implementation is tested against
this, inside its own environment (``tests/conformance``), so frameworks that cannot share a process
are still proven to compute the same function.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from bench.specs import Conv, ModelSpec

Weights = dict[str, np.ndarray]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free form of 1 / (1 + exp(-x))


def _conv_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, padding: int) -> np.ndarray:
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = sliding_window_view(xp, w.shape[2:], axis=(2, 3))  # N C Ho Wo Kh Kw
    return np.einsum("nchwij,ocij->nohw", windows, w, optimize=True) + b[None, :, None, None]


def _conv_backward(
    x: np.ndarray, w: np.ndarray, dout: np.ndarray, padding: int, need_dx: bool
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = sliding_window_view(xp, w.shape[2:], axis=(2, 3))
    dw = np.einsum("nchwij,nohw->ocij", windows, dout, optimize=True)
    db = dout.sum(axis=(0, 2, 3))
    dx = None
    if need_dx:
        k = w.shape[2]
        dpad = np.pad(dout, ((0, 0), (0, 0), (k - 1, k - 1), (k - 1, k - 1)))
        dwin = sliding_window_view(dpad, w.shape[2:], axis=(2, 3))
        dxp = np.einsum("nohwij,ocij->nchw", dwin, w[:, :, ::-1, ::-1], optimize=True)
        dx = dxp[:, :, padding : dxp.shape[2] - padding, padding : dxp.shape[3] - padding]
    return dx, dw, db


def _avgpool(x: np.ndarray) -> np.ndarray:
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))


def _avgpool_backward(dout: np.ndarray) -> np.ndarray:
    return np.repeat(np.repeat(dout, 2, axis=2), 2, axis=3) / 4.0


def _activate(spec: ModelSpec, z: np.ndarray) -> np.ndarray:
    return _sigmoid(z) if spec.activation == "sigmoid" else np.maximum(z, 0.0)


def _activate_backward(spec: ModelSpec, a: np.ndarray, z: np.ndarray, da: np.ndarray) -> np.ndarray:
    if spec.activation == "sigmoid":
        return da * a * (1.0 - a)
    return da * (z > 0)


def forward(spec: ModelSpec, weights: Weights, images: np.ndarray) -> tuple[np.ndarray, list]:
    """Return logits (float64, N x 10) and the cache needed by ``backward``."""
    w = {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}
    a = np.asarray(images, dtype=np.float64)
    cache = []
    last = len(spec.layers) - 1
    for i, layer in enumerate(spec.layers):
        x_in = a
        if isinstance(layer, Conv):
            z = _conv_forward(x_in, w[f"{layer.name}.weight"], w[f"{layer.name}.bias"], layer.padding)
            act = _activate(spec, z)
            a = _avgpool(act)
            cache.append((layer, x_in, z, act))
        else:
            x_in = x_in.reshape(x_in.shape[0], -1)  # flatten in C*H*W order
            z = x_in @ w[f"{layer.name}.weight"].T + w[f"{layer.name}.bias"]
            act = z if i == last else _activate(spec, z)
            a = act
            cache.append((layer, x_in, z, act))
    return a, cache


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Return the mean softmax cross-entropy and its gradient w.r.t. the logits."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = logits.shape[0]
    loss = -log_probs[np.arange(n), labels].mean()
    grad = np.exp(log_probs)
    grad[np.arange(n), labels] -= 1.0
    return float(loss), grad / n


def backward(spec: ModelSpec, weights: Weights, cache: list, dlogits: np.ndarray) -> Weights:
    """Return gradients of the loss w.r.t. every weight, canonical names and layout (float64)."""
    grads: Weights = {}
    da = dlogits
    last = len(spec.layers) - 1
    for i in range(last, -1, -1):
        layer, x_in, z, act = cache[i]
        w = np.asarray(weights[f"{layer.name}.weight"], dtype=np.float64)
        if isinstance(layer, Conv):
            da = da.reshape(act.shape[0], act.shape[1], act.shape[2] // 2, act.shape[3] // 2)
            dz = _activate_backward(spec, act, z, _avgpool_backward(da))
            da, grads[f"{layer.name}.weight"], grads[f"{layer.name}.bias"] = _conv_backward(
                x_in, w, dz, layer.padding, need_dx=i > 0
            )
        else:
            dz = da if i == last else _activate_backward(spec, act, z, da)
            grads[f"{layer.name}.weight"] = dz.T @ x_in
            grads[f"{layer.name}.bias"] = dz.sum(axis=0)
            da = dz @ w
    return grads


def loss_and_grads(
    spec: ModelSpec, weights: Weights, images: np.ndarray, labels: np.ndarray
) -> tuple[float, np.ndarray, Weights]:
    """Return (mean loss, logits, gradients) for one batch."""
    logits, cache = forward(spec, weights, images)
    loss, dlogits = softmax_cross_entropy(logits, labels)
    return loss, logits, backward(spec, weights, cache, dlogits)


def sgd_step(
    spec: ModelSpec, weights: Weights, images: np.ndarray, labels: np.ndarray, lr: float
) -> tuple[float, Weights]:
    """Return (loss before the step, weights after one plain SGD step), float64."""
    loss, _, grads = loss_and_grads(spec, weights, images, labels)
    updated = {k: np.asarray(v, dtype=np.float64) - lr * grads[k] for k, v in weights.items()}
    return loss, updated
