"""The reference loops ``nox -s "baseline(framework='paddle')"`` measures our harness path against.

``plain_epochs``: the textbook loop (d2l-zh's ``train_ch6`` without its metrics). The data already
in device tensors, a new ``paddle.randperm`` each epoch, batches indexed from it, ``net(X)``,
``nn.CrossEntropyLoss()``, ``loss.backward()``, ``optimizer.step()``, ``optimizer.clear_grad()``.

``skilled_epochs``: the loop a skilled Paddle user writes for each mode (``SKILLED``), plain too (no
metrics): the same arithmetic (the same ``nn.Sequential``, mean softmax cross-entropy, plain
``paddle.optimizer.SGD``), with the epoch's permutation split into its batches by one
``paddle.split``, each batch gathered by ``paddle.gather`` from the resident tensors, and the
gradients released by ``clear_grad(set_to_zero=False)`` instead of being zero-filled.

paddle is imported inside the functions, not here: ``bench.baseline`` imports this module before it
constructs ``PaddleFramework``, which sets the environment Paddle reads at import.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from bench.specs import ModelSpec

SKILLED: dict[str, str] = {
    "dygraph": (
        "eager: paddle.randperm per epoch split into batches once (paddle.split), paddle.gather from the "
        "resident tensors, F.cross_entropy, loss.backward(), SGD step(), clear_grad(set_to_zero=False)"
    ),
    "to-static-net": (
        "the dygraph loop with the network under paddle.jit.to_static(net, full_graph=True) (forward "
        "and backward as static programs); loss, backward() call and SGD step in dygraph"
    ),
}


def _place(device: str) -> str:
    return "gpu:0" if device == "gpu" else "cpu"


def _wait(place: str) -> None:
    """Block until the device is done (Paddle's CPU kernels finish before each op returns)."""
    if place != "cpu":
        import paddle

        paddle.device.synchronize(place)


def plain_epochs(
    spec: ModelSpec,
    weights: dict[str, np.ndarray],
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    lr: float,
    seed: int,
    device: str,
) -> Iterator[float]:
    """Train from ``weights`` with a textbook loop; yield the wall seconds of each epoch, forever."""
    import paddle
    from paddle import nn

    from impls.paddle import models

    place = _place(device)
    paddle.set_device(place)
    paddle.seed(seed)
    net = models.BUILDERS[spec.name]()
    models.set_weights(net, spec, weights)
    optimizer = paddle.optimizer.SGD(learning_rate=lr, parameters=net.parameters())
    loss_fn = nn.CrossEntropyLoss()
    x, y = paddle.to_tensor(images, place=place), paddle.to_tensor(labels, place=place)
    n = len(labels)

    while True:
        _wait(place)
        start = time.perf_counter()
        perm = paddle.randperm(n)
        for i in range(0, n, batch_size):
            idx = perm[i : i + batch_size]
            loss = loss_fn(net(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            optimizer.clear_grad()
        _wait(place)
        yield time.perf_counter() - start


def skilled_epochs(
    spec: ModelSpec,
    weights: dict[str, np.ndarray],
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    lr: float,
    seed: int,
    device: str,
    mode: str,
    trained: dict[str, Any] | None = None,
) -> Iterator[float]:
    """Train from ``weights`` with the skilled loop of ``mode``; yield the wall seconds of each epoch,
    forever. With ``trained``, after each epoch (outside the clock) its ``"weights"`` are the canonical
    weights and its ``"order"`` the epoch's permutation (numpy), so a test can check the arithmetic.
    An unknown mode fails here, before anything is built."""
    if mode not in SKILLED:
        raise ValueError(f"paddle has no skilled loop for mode {mode!r}; choose one of: {', '.join(SKILLED)}")
    return _skilled(spec, weights, images, labels, batch_size, lr, seed, device, mode, trained)


def _skilled(
    spec: ModelSpec,
    weights: dict[str, np.ndarray],
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    lr: float,
    seed: int,
    device: str,
    mode: str,
    trained: dict[str, Any] | None,
) -> Iterator[float]:
    import paddle
    import paddle.nn.functional as F

    from impls.paddle import models
    from impls.paddle.training import PaddleModel

    place = _place(device)
    paddle.set_device(place)
    # only to build the same nn.Sequential (under paddle.jit.to_static in to-static-net, as ours)
    holder = PaddleModel(spec, place, mode)
    holder.set_weights(weights)
    net = holder.net
    net.train()
    optimizer = paddle.optimizer.SGD(learning_rate=lr, parameters=net.parameters())
    x = paddle.to_tensor(np.ascontiguousarray(images, dtype=np.float32), place=place)
    y = paddle.to_tensor(np.asarray(labels, dtype=np.int64), place=place)
    n = len(labels)
    sections = [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else [])
    paddle.seed(seed)  # the permutations' generator

    while True:
        _wait(place)
        start = time.perf_counter()
        perm = paddle.randperm(n)
        for idx in paddle.split(perm, sections):
            loss = F.cross_entropy(net(paddle.gather(x, idx)), paddle.gather(y, idx))
            loss.backward()
            optimizer.step()
            optimizer.clear_grad(set_to_zero=False)
        _wait(place)
        seconds = time.perf_counter() - start
        if trained is not None:
            trained["weights"] = models.get_weights(net, spec)
            trained["order"] = perm.numpy()
        yield seconds
