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

from collections.abc import Iterator
from typing import Any

import numpy as np

from bench.loops import LoopArgs, skilled_loop, timed_epochs

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


def plain_epochs(args: LoopArgs) -> Iterator[float]:
    """Train from ``args.weights`` with a textbook loop; yield the wall seconds of each epoch, forever."""
    import paddle
    from paddle import nn

    from impls.paddle import models

    place = _place(args.device)
    paddle.set_device(place)
    paddle.seed(args.seed)
    net = models.BUILDERS[args.spec.name]()
    models.set_weights(net, args.spec, dict(args.weights))
    optimizer = paddle.optimizer.SGD(learning_rate=args.lr, parameters=net.parameters())
    loss_fn = nn.CrossEntropyLoss()
    x, y = paddle.to_tensor(args.images, place=place), paddle.to_tensor(args.labels, place=place)

    def epoch(_: None) -> None:
        perm = paddle.randperm(args.n)
        for i in range(0, args.n, args.batch_size):
            idx = perm[i : i + args.batch_size]
            loss = loss_fn(net(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            optimizer.clear_grad()

    return timed_epochs(
        epoch,
        sync=lambda: _wait(place),
        trained=args.trained,
        read=lambda _: {"weights": models.get_weights(net, args.spec)},
    )


@skilled_loop("paddle", SKILLED)
def skilled_epochs(args: LoopArgs) -> Iterator[float]:
    """Train from ``args.weights`` with the skilled loop of ``args.mode``; yield the wall seconds of
    each epoch, forever."""
    import paddle
    import paddle.nn.functional as F

    from impls.paddle import models
    from impls.paddle.training import PaddleModel

    place = _place(args.device)
    paddle.set_device(place)
    # only to build the same nn.Sequential (under paddle.jit.to_static in to-static-net, as ours)
    holder = PaddleModel(args.spec, place, args.mode)
    holder.set_weights(dict(args.weights))
    net = holder.net
    net.train()
    optimizer = paddle.optimizer.SGD(learning_rate=args.lr, parameters=net.parameters())
    x = paddle.to_tensor(np.ascontiguousarray(args.images, dtype=np.float32), place=place)
    y = paddle.to_tensor(np.asarray(args.labels, dtype=np.int64), place=place)
    n, batch_size = args.n, args.batch_size
    sections = [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else [])
    paddle.seed(args.seed)  # the permutations' generator

    def epoch(_: None) -> Any:
        perm = paddle.randperm(n)
        for idx in paddle.split(perm, sections):
            loss = F.cross_entropy(net(paddle.gather(x, idx)), paddle.gather(y, idx))
            loss.backward()
            optimizer.step()
            optimizer.clear_grad(set_to_zero=False)
        return perm

    def read(perm: Any) -> dict:
        return {"weights": models.get_weights(net, args.spec), "order": perm.numpy()}

    return timed_epochs(epoch, sync=lambda: _wait(place), trained=args.trained, read=read)
