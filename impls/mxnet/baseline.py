"""The plain idiomatic Gluon training loop (d2l style), the yardstick for ``GluonModel.train_epoch``.

What a user's script would do: a ``gluon.data.DataLoader`` over an ``ArrayDataset`` with
``shuffle=True``, the batch copied to the device, ``autograd.record``, ``loss.backward()``,
``trainer.step(batch size)``, a hybridized net; no metric syncs inside the epoch (so the yardstick is
not slowed by bookkeeping our implementation avoids). Like the package, this module imports mxnet
only when called, after the threading environment is set (see ``impls.mxnet``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import numpy as np

from bench.specs import ModelSpec


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
    """Train ``spec`` from ``weights`` the plain Gluon way; yield the wall seconds of each epoch, forever."""
    from impls.mxnet import _import_mxnet

    # Threads as GluonFramework set them, or (if it was never built here) the environment's.
    code, _ = _import_mxnet(int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1))
    import mxnet as mx
    from mxnet import autograd, gluon

    mx.random.seed(seed)
    np.random.seed(seed)  # DataLoader's RandomSampler shuffles with numpy's global generator
    ctx = code.context(device)

    model = code.GluonModel(spec, ctx, hybridize=False)  # the same HybridSequential definition
    model.set_weights(weights)
    net = model.net
    net.hybridize()  # what d2l does: plain hybridize(), default options
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": lr})
    train_iter = gluon.data.DataLoader(
        gluon.data.ArrayDataset(images.astype(np.float32), labels.astype(np.float32)),
        batch_size=batch_size,
        shuffle=True,
    )

    while True:
        mx.nd.waitall()
        start = time.perf_counter()
        for x, y in train_iter:
            x, y = x.as_in_context(ctx), y.as_in_context(ctx)
            with autograd.record():
                batch_loss = loss(net(x), y)
            batch_loss.backward()
            trainer.step(x.shape[0])  # d2l's train_ch6 steps by the actual batch size
        mx.nd.waitall()  # MXNet is asynchronous: finish the epoch's work before reading the clock
        yield time.perf_counter() - start
