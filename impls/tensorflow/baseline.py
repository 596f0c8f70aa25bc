"""The reference loops for our train step: the textbook Keras loop (``plain_epochs``: ``model.compile``
+ ``model.fit``) and a skilled TF user's own loop per mode (``skilled_epochs``, described in ``SKILLED``).

``plain_epochs`` is how a Keras user trains without thinking about speed: numpy arrays in, ``fit``
shuffles and batches them, callbacks and logging machinery included. ``impls.tensorflow`` replaces
it with a GradientTape step on device-resident data; comparing the two shows what that buys.
Keras's defaults are kept on purpose, e.g. ``jit_compile="auto"`` (no XLA on a CPU-only machine,
XLA on a GPU). Construct ``TensorflowFramework(threads)`` first so the threading is declared as in a run.

The skilled loop is the strong reference: a ``GradientTape`` step on device-resident data, written
the way an expert writes it for each mode, with nothing the harness needs and it does not.
"""

from __future__ import annotations

from collections.abc import Iterator

import keras
import numpy as np
import tensorflow as tf

from bench.loops import LoopArgs, skilled_loop, timed_epochs
from impls.tensorflow import TF_DEVICES, KerasModel


def plain_epochs(args: LoopArgs) -> Iterator[float]:
    """Train with ``model.fit``, one call per epoch, from canonical ``args.weights``; yield seconds per
    epoch.

    ``images`` is the canonical float32 N x 1 x 28 x 28, ``labels`` int64 N; both are handed to
    ``fit`` as NHWC numpy arrays, as a plain user would.
    """
    keras.utils.set_random_seed(args.seed)  # fit's shuffling
    model = KerasModel(args.spec, args.device, mode="function")  # only to build the same net and start
    model.set_weights(dict(args.weights))
    x = np.ascontiguousarray(np.transpose(args.images, (0, 2, 3, 1)), dtype=np.float32)
    y = np.asarray(args.labels, dtype=np.int64)
    net = model.net
    with tf.device(TF_DEVICES[args.device]):
        net.compile(
            optimizer=keras.optimizers.SGD(learning_rate=args.lr),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )

    def epoch(_: None) -> None:
        with tf.device(TF_DEVICES[args.device]):
            net.fit(x, y, batch_size=args.batch_size, epochs=1, shuffle=True, verbose=0)

    # fit has fetched its logs already; the sync makes sure
    return timed_epochs(
        epoch,
        sync=tf.test.experimental.sync_devices,
        trained=args.trained,
        read=lambda _: {"weights": model.get_weights()},
    )


# What the skilled loop does in each of TensorflowFramework.MODES (all run on a CPU).
SKILLED: dict[str, str] = {
    "function": (
        "a tf.function step (GradientTape, mean sparse_softmax_cross_entropy_with_logits, "
        "tf.Variable.assign_sub(lr * g)) that tf.gathers its batch from device-resident tensors by a "
        "slice of the epoch's permutation (one upload and one tf.split per epoch)"
    ),
    "xla": "the function mode's step compiled with tf.function(jit_compile=True)",
    "eager": "the function mode's step run eagerly (no tf.function)",
    "epoch-function": (
        "the function mode's step over every full batch in one tf.function (a tf.range loop over rows "
        "of the permutation reshaped to full batches x batch size), then one call for the last batch"
    ),
}


@skilled_loop("tensorflow", SKILLED)
def skilled_epochs(args: LoopArgs) -> Iterator[float]:
    """The loop a skilled TF user writes for ``mode``; yield the wall seconds of each epoch, forever.

    The step is TF's own custom-training idiom ("Basic training loops" guide): a ``GradientTape``
    around the Keras net's forward pass and ``tf.nn.sparse_softmax_cross_entropy_with_logits``
    averaged with ``tf.reduce_mean``, then plain SGD as ``assign_sub(lr * g)`` on each trainable
    variable's ``tf.Variable`` (``var.value``: one AssignSubVariableOp, as Keras's own SGD ends up
    calling; the Keras variable's ``assign_sub`` is ``assign(var - value)`` through Keras's checks,
    and made this loop slower than the harness's in a hand check on 2 cores): the arithmetic of
    ``KerasModel``'s ``keras.optimizers.SGD`` (momentum 0), with none of the optimizer's
    bookkeeping (its iteration counter, its learning-rate variable). The data is put
    on the device once as NHWC tensors; each epoch the permutation (drawn on the host from
    ``np.random.default_rng(seed)``, one per epoch, as the harness draws its order) is uploaded once
    and cut into batches by one ``tf.split``, and the step gathers its batch on the device. The
    step is ``tf.function`` in mode ``function``, ``tf.function(jit_compile=True)`` in ``xla`` (a
    new trace and compilation for the smaller last batch, once) and plain Python in ``eager``; in
    ``epoch-function`` one ``tf.function`` loops over the epoch's full batches with ``tf.range``
    and the function step takes the last one.

    What the harness's ``KerasModel.train_epoch`` does that this loop does not: it keeps the epoch's
    loss and correct count (in the compiled modes summed in device variables inside the step: a
    reduce_sum, an argmax, a compare and two ``assign_add``; in eager mode the steps' losses and
    logits are kept and summed once per epoch), passes lr as a tensor, and traces its step with
    ``reduce_retracing=True`` (one shape-generic graph for every batch size instead of one per shape).

    An unknown mode fails when called (``bench.loops.skilled_loop``).
    """
    mode, batch_size, lr, n = args.mode, args.batch_size, args.lr, args.n
    model = KerasModel(args.spec, args.device, mode=mode)  # only to build the same net with the same start
    model.set_weights(dict(args.weights))
    net = model.net
    variables = net.trainable_variables
    sizes = [min(batch_size, n - start) for start in range(0, n, batch_size)]
    with tf.device(TF_DEVICES[args.device]):
        x = tf.constant(np.ascontiguousarray(np.transpose(args.images, (0, 2, 3, 1)), dtype=np.float32))
        y = tf.constant(np.asarray(args.labels, dtype=np.int64))

    def train_step(batch: tf.Tensor) -> None:
        xb, yb = tf.gather(x, batch), tf.gather(y, batch)
        with tf.GradientTape() as tape:
            logits = net(xb, training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=yb, logits=logits))
        grads = tape.gradient(loss, variables)
        for var, grad in zip(variables, grads, strict=True):
            var.value.assign_sub(lr * grad)  # the tf.Variable under the Keras variable

    step = train_step if mode == "eager" else tf.function(train_step, jit_compile=mode == "xla")

    @tf.function
    def full_batches(rows: tf.Tensor) -> None:  # epoch-function: the loop inside one call
        for i in tf.range(tf.shape(rows)[0]):
            train_step(rows[i])

    n_full = n // batch_size if mode == "epoch-function" else 0
    rest = sizes[n_full:]
    rng = np.random.default_rng(args.seed)

    def epoch(order: np.ndarray) -> np.ndarray:
        with tf.device(TF_DEVICES[args.device]):
            index = tf.constant(order)
            if n_full:
                full_batches(tf.reshape(index[: n_full * batch_size], (n_full, batch_size)))
                index = index[n_full * batch_size :]
            for batch in tf.split(index, rest) if rest else []:
                step(batch)
        return order

    def read(order: np.ndarray) -> dict:
        return {"weights": model.get_weights(), "order": order}

    return timed_epochs(
        epoch,
        sync=tf.test.experimental.sync_devices,
        draw=lambda: rng.permutation(n),
        trained=args.trained,
        read=read,
    )
