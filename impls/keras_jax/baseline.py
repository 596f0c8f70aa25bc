"""The reference loops ``nox -s "baseline(framework='keras-jax')"`` measures our harness path against.

``plain_epochs``    the textbook Keras loop: ``model.compile`` + ``model.fit`` on numpy arrays,
                    shuffled by Keras (``impls.keras_common.baseline``).
``skilled_epochs``  the loop a skilled Keras-on-JAX user writes for each mode (``SKILLED``), plain
                    (no metrics), the same arithmetic as ours (the same net, the mean softmax
                    cross-entropy, ``keras.optimizers.SGD``):

    ``step`` keras.io's "writing a training loop from scratch in JAX" done the skilled way: one
             ``jax.jit`` step of ``model.stateless_call`` + ``jax.value_and_grad`` +
             ``optimizer.stateless_apply`` over the trainable, non-trainable and optimizer variables
             as pytrees (donated, kept across epochs: the Keras variables are not touched in the
             loop), the batch gathered inside the step from the resident arrays by a slice of the
             epoch's ``jax.random.permutation``.
    ``fit``  ``model.fit(shuffle=False)`` over the resident arrays taken in the epoch's permutation,
             with the harness's fit settings (``jit_compile=True``, ``steps_per_execution`` =
             ``FIT_STEPS_PER_EXECUTION``).

jax and Keras are imported inside the functions: ``bench.baseline`` imports this module before
``KerasJaxFramework`` sets XLA's environment and ``KERAS_BACKEND=jax``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from bench.loops import LoopArgs, skilled_loop, timed_epochs
from impls.keras_common import baseline as common
from impls.keras_jax import FIT_STEPS_PER_EXECUTION

SKILLED: dict[str, str] = {
    "step": (
        "Keras guide's JAX loop: one jax.jit(model.stateless_call + jax.value_and_grad + "
        "optimizer.stateless_apply), state pytrees donated and kept across epochs, the batch gathered "
        "in the step from the resident arrays by the epoch's jax.random.permutation"
    ),
    "fit": (
        "model.fit(shuffle=False) over the resident arrays taken in the epoch's jax.random.permutation; "
        f"compile(SGD, loss, no metrics, jit_compile=True, steps_per_execution={FIT_STEPS_PER_EXECUTION})"
    ),
}


def backend(device: str) -> common.Backend:
    """The JAX side of the Keras loops: a ``jax.Device``, ``jax.device_put``, permutations from
    ``jax.random`` computed on the device, ``jax.block_until_ready`` on the model's variables."""
    import jax

    dev = jax.devices("gpu" if device == "gpu" else "cpu")[0]

    def put(images: np.ndarray, labels: np.ndarray) -> tuple[Any, Any]:
        return jax.device_put(images, dev), jax.device_put(np.asarray(labels, np.int32), dev)

    def permutations(n: int, seed: int) -> Iterator[Any]:
        key = jax.random.key(seed)
        while True:
            with jax.default_device(dev):  # left before the yield: the scope is thread-local config
                key, subkey = jax.random.split(key)
                order = jax.random.permutation(subkey, n)
            yield order

    def sync(net: Any) -> None:
        values = [v.value for v in net.variables]
        if getattr(net, "optimizer", None) is not None:
            values += [v.value for v in net.optimizer.variables]
        jax.block_until_ready(values)

    return common.Backend(dev, put, permutations, sync, lambda order: np.asarray(jax.device_get(order)))


def plain_epochs(args: LoopArgs) -> Iterator[float]:
    """Train from ``args.weights`` with the textbook ``model.fit`` loop; yield each epoch's wall
    seconds."""
    return common.plain_epochs(backend(args.device), args)


@skilled_loop("keras-jax", SKILLED)
def skilled_epochs(args: LoopArgs) -> Iterator[float]:
    """Train from ``args.weights`` with the skilled loop of ``args.mode``; yield each epoch's wall
    seconds, forever. With ``args.trained``, after each epoch (outside the clock) its ``"weights"`` are
    the canonical weights and its ``"order"`` the epoch's permutation (numpy)."""
    if args.mode == "fit":
        return common.fit_epochs(backend(args.device), args, True, FIT_STEPS_PER_EXECUTION)
    return _step_epochs(backend(args.device), args)


def _step_epochs(on: common.Backend, args: LoopArgs) -> Iterator[float]:
    import functools

    import jax
    import jax.numpy as jnp

    holder, net, optimizer, loss_fn = common.step_start(on, args)

    def loss_and_updates(trainable, non_trainable, x, y):
        logits, non_trainable = net.stateless_call(trainable, non_trainable, x, training=True)
        return loss_fn(y, logits), non_trainable

    grad_fn = jax.value_and_grad(loss_and_updates, has_aux=True)

    @functools.partial(jax.jit, static_argnames="size", donate_argnums=0)
    def step(state, images, labels, order, start, size):
        trainable, non_trainable, optimizer_variables = state
        index = jax.lax.dynamic_slice_in_dim(order, start, size)  # the batch, gathered on the device
        x, y = jnp.take(images, index, axis=0), jnp.take(labels, index, axis=0)
        (_, non_trainable), grads = grad_fn(trainable, non_trainable, x, y)
        trainable, optimizer_variables = optimizer.stateless_apply(optimizer_variables, grads, trainable)
        return trainable, non_trainable, optimizer_variables

    keras_variables = (net.trainable_variables, net.non_trainable_variables, optimizer.variables)
    state = tuple([v.value for v in variables] for variables in keras_variables)
    x, y = on.put(common.nhwc(args.images), args.labels)
    orders = on.permutations(args.n, args.seed)
    n, batch_size = args.n, args.batch_size

    def epoch(_: None) -> Any:
        nonlocal state
        order = next(orders)
        for first in range(0, n, batch_size):
            state = step(state, x, y, order, first, size=min(batch_size, n - first))
        return order

    def read(order: Any) -> dict[str, Any]:  # the guide's sync of the state into the Keras variables
        for variables, values in zip(keras_variables, state, strict=True):
            for variable, value in zip(variables, values, strict=True):
                variable.assign(value)
        return {"weights": holder.get_weights(), "order": on.to_numpy(order)}

    return timed_epochs(epoch, sync=lambda: jax.block_until_ready(state), trained=args.trained, read=read)
