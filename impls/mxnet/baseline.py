"""The reference loops for ``GluonModel.train_epoch``: the textbook Gluon loop (``plain_epochs``, d2l
style) and a skilled Gluon user's own loop per mode (``skilled_epochs``, described in ``SKILLED``).

The textbook loop is what a user's script would do: a ``gluon.data.DataLoader`` over an
``ArrayDataset`` with ``shuffle=True``, the batch copied to the device, ``autograd.record``,
``loss.backward()``, ``trainer.step(batch size)``, a hybridized net; no metric syncs inside the
epoch (so the yardstick is not slowed by bookkeeping our implementation avoids). The skilled loop
keeps the data on the device and gathers each batch there. Like the package, this module imports
mxnet only when called, after the threading environment is set (see ``impls.mxnet``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from bench.loops import LoopArgs, skilled_loop, timed_epochs


def _import(args: LoopArgs) -> tuple[Any, Any]:
    """mxnet's runtime and training modules, imported with the threads ``MxnetFramework`` set (or, if
    it was never built here, the environment's), and the device's context."""
    from impls.mxnet import _import_mxnet

    runtime, _ = _import_mxnet(int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1))
    from impls.mxnet import training

    return training, runtime.context(args.device)


def plain_epochs(args: LoopArgs) -> Iterator[float]:
    """Train ``args.spec`` from ``args.weights`` the plain Gluon way; yield the wall seconds of each
    epoch, forever."""
    training, ctx = _import(args)
    import mxnet as mx
    from mxnet import autograd, gluon

    mx.random.seed(args.seed)
    np.random.seed(args.seed)  # DataLoader's RandomSampler shuffles with numpy's global generator
    model = training.GluonModel(args.spec, ctx, hybridize=False)  # the same HybridSequential definition
    model.set_weights(dict(args.weights))
    net = model.net
    net.hybridize()  # what d2l does: plain hybridize(), default options
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": args.lr})
    train_iter = gluon.data.DataLoader(
        gluon.data.ArrayDataset(args.images.astype(np.float32), args.labels.astype(np.float32)),
        batch_size=args.batch_size,
        shuffle=True,
    )

    def epoch(_: None) -> None:
        for x, y in train_iter:
            x, y = x.as_in_context(ctx), y.as_in_context(ctx)
            with autograd.record():
                batch_loss = loss(net(x), y)
            batch_loss.backward()
            trainer.step(x.shape[0])  # d2l's train_ch6 steps by the actual batch size

    # MXNet is asynchronous: the epoch's work is finished before the clock is read
    return timed_epochs(
        epoch, sync=mx.nd.waitall, trained=args.trained, read=lambda _: {"weights": model.get_weights()}
    )


# What the skilled loop does in each of MxnetFramework.MODES (both run on a CPU).
SKILLED: dict[str, str] = {
    "hybrid": (
        "a HybridSequential net and its SoftmaxCrossEntropyLoss hybridized with static_alloc, "
        "autograd.record, loss.backward(), gluon.Trainer('sgd').step(batch), batches "
        "nd.take-n on the device from resident NDArrays by a slice of the epoch's permutation"
    ),
    "imperative": "the hybrid mode's loop with neither the net nor the loss hybridized",
}
# The skilled user's hybridize options: static_alloc reuses the cached graph's buffers between calls.
# static_shape (also fix the shapes; a changed one, the smaller last batch, re-plans them twice an
# epoch) trains to the same weights but made this loop slower than the harness's on the MLP in a
# hand check on 2 cores, so the strongest reference leaves it off, as the harness does.
HYBRIDIZE = {"static_alloc": True}


@skilled_loop("mxnet", SKILLED)
def skilled_epochs(args: LoopArgs) -> Iterator[float]:
    """The loop a skilled Gluon user writes for ``mode``; yield the wall seconds of each epoch, forever.

    The data is put on the device once (images float32, labels float32 as Gluon's loss takes them);
    each epoch's permutation (drawn on the host from ``np.random.default_rng(seed)``, one per epoch,
    as the harness draws its order) is uploaded once as an int32 NDArray, and each batch is
    ``nd.take`` of a slice of it. The step is d2l's: the per-example loss under ``autograd.record``,
    ``loss.backward()`` (the gradient of the sum) and ``trainer.step(x.shape[0])``, which rescales by
    the batch's own size: the mean loss's gradient, the smaller last batch included (a constant
    ``trainer.step(batch_size)`` would under-weight that batch). This is exactly the arithmetic of
    ``GluonModel.train_epoch``.

    What the harness's ``train_epoch`` does that this loop does not: it accumulates the epoch's loss
    sum and correct count on the device (a sum, an argmax, a compare, a sum and two additions per
    step); both hybridize with ``static_alloc`` only (see ``HYBRIDIZE``).

    An unknown mode fails when called (``bench.loops.skilled_loop``).
    """
    training, ctx = _import(args)
    from mxnet import autograd, gluon, nd

    model = training.GluonModel(args.spec, ctx, hybridize=False)  # only to build the same net and start
    model.set_weights(dict(args.weights))
    net = model.net
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    if args.mode == "hybrid":
        net.hybridize(**HYBRIDIZE)
        loss_fn.hybridize(**HYBRIDIZE)
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": args.lr})
    x = nd.array(args.images, ctx=ctx, dtype="float32")
    y = nd.array(args.labels, ctx=ctx, dtype="float32")
    rng = np.random.default_rng(args.seed)

    def epoch(order: np.ndarray) -> np.ndarray:
        perm = nd.array(order, ctx=ctx, dtype="int32")
        for first in range(0, args.n, args.batch_size):
            batch = perm[first : first + args.batch_size]
            xb, yb = nd.take(x, batch), nd.take(y, batch)
            with autograd.record():
                loss = loss_fn(net(xb), yb)
            loss.backward()
            trainer.step(xb.shape[0])
        return order

    def read(order: np.ndarray) -> dict:
        return {"weights": model.get_weights(), "order": order}

    # MXNet is asynchronous: the epoch's work is finished before the clock is read
    return timed_epochs(
        epoch, sync=nd.waitall, draw=lambda: rng.permutation(args.n), trained=args.trained, read=read
    )
