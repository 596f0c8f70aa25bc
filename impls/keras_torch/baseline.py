"""The reference loops ``nox -s "baseline(framework='keras-torch')"`` measures our harness path against.

``plain_epochs``    the textbook Keras loop: ``model.compile`` + ``model.fit`` on numpy arrays,
                    shuffled by Keras (``impls.keras_common.baseline``).
``skilled_epochs``  the loop a skilled Keras-on-PyTorch user writes for each mode (``SKILLED``), plain
                    (no metrics), the same arithmetic as ours (the same net, the mean softmax
                    cross-entropy, ``keras.optimizers.SGD``):

    ``step``        keras.io's "writing a training loop from scratch in PyTorch" on resident tensors:
                    the epoch's ``torch.randperm`` (drawn on the device) split into its batches once,
                    ``index_select`` of each batch, ``model(x, training=True)``, the Keras loss, the
                    gradients released by ``p.grad = None`` on the list of trainable tensors (not
                    ``model.zero_grad()``'s walk over the module tree), ``loss.backward()``, and
                    ``optimizer.apply(grads, weights)`` under ``torch.no_grad()``.
    ``fit``         ``model.fit(shuffle=False)`` over the resident tensors taken in the epoch's
                    permutation, eager (``jit_compile=False``, Keras's torch default).
    ``fit-compile`` the same with ``jit_compile=True`` (``torch.compile`` of Keras's train step).

Keras is imported inside the functions: ``bench.baseline`` imports this module before
``KerasTorchFramework`` sets ``KERAS_BACKEND=torch``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from bench.loops import LoopArgs, skilled_loop, timed_epochs
from impls.keras_common import baseline as common
from impls.keras_torch import JIT_COMPILE

FIT = "model.fit(shuffle=False) over the resident tensors taken in the epoch's torch.randperm; "
SKILLED: dict[str, str] = {
    "step": (
        "Keras guide's PyTorch loop on resident tensors: the epoch's torch.randperm split once, "
        "index_select batches, model(x, training=True), keras loss, p.grad = None, loss.backward(), "
        "optimizer.apply(grads, weights) under torch.no_grad()"
    ),
    "fit": FIT + "compile(SGD, loss, no metrics): eager",
    "fit-compile": FIT + "compile(SGD, loss, no metrics, jit_compile=True): torch.compile of the train step",
}


def backend(device: str) -> common.Backend:
    """The torch side of the Keras loops: the device, ``.to(device)``, ``torch.randperm`` with a seeded
    generator on the device, ``torch.cuda.synchronize`` on a GPU (CPU ops are synchronous)."""
    import torch

    from impls.keras_torch.training import keras_device

    dev = torch.device("cuda", 0) if device == "gpu" else torch.device("cpu")

    def put(images: np.ndarray, labels: np.ndarray) -> tuple[Any, Any]:
        labels = np.asarray(labels, dtype=np.int64)
        return torch.from_numpy(images).to(dev), torch.from_numpy(labels).to(dev)

    def permutations(n: int, seed: int) -> Iterator[Any]:
        generator = torch.Generator(device=dev).manual_seed(seed)
        while True:
            yield torch.randperm(n, generator=generator, device=dev)

    def sync(net: Any = None) -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    return common.Backend(keras_device(dev), put, permutations, sync, lambda order: order.cpu().numpy())


def plain_epochs(args: LoopArgs) -> Iterator[float]:
    """Train from ``args.weights`` with the textbook ``model.fit`` loop; yield each epoch's wall
    seconds."""
    return common.plain_epochs(backend(args.device), args)


@skilled_loop("keras-torch", SKILLED)
def skilled_epochs(args: LoopArgs) -> Iterator[float]:
    """Train from ``args.weights`` with the skilled loop of ``args.mode``; yield each epoch's wall
    seconds, forever. With ``args.trained``, after each epoch (outside the clock) its ``"weights"`` are
    the canonical weights and its ``"order"`` the epoch's permutation (numpy)."""
    on = backend(args.device)
    if args.mode == "step":
        return _step_epochs(on, args)
    if JIT_COMPILE[args.mode]:
        import torch

        from impls.torch import check_compile_toolchain

        check_compile_toolchain(torch.device(on.device))  # Unsupported, naming what to install
    return common.fit_epochs(on, args, JIT_COMPILE[args.mode], 1)  # the torch trainer takes only 1


def _step_epochs(on: common.Backend, args: LoopArgs) -> Iterator[float]:
    import keras
    import torch

    holder, net, optimizer, loss_fn = common.step_start(on, args)
    variables = net.trainable_weights
    tensors = [v.value for v in variables]  # the torch Parameters backward() writes .grad into
    x, y = on.put(common.nhwc(args.images), args.labels)
    orders = on.permutations(args.n, args.seed)

    def epoch(_: None) -> Any:
        with keras.device(on.device):
            order = next(orders)
            for index in torch.split(order, args.batch_size):
                logits = net(torch.index_select(x, 0, index), training=True)
                loss = loss_fn(torch.index_select(y, 0, index), logits)
                for tensor in tensors:
                    tensor.grad = None
                loss.backward()
                with torch.no_grad():
                    optimizer.apply([tensor.grad for tensor in tensors], variables)
        return order

    return timed_epochs(
        epoch,
        sync=lambda: on.sync(net),
        trained=args.trained,
        read=common.weights_and_order(holder, on),
    )
