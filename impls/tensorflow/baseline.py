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

import time
from collections.abc import Iterator

import keras
import numpy as np
import tensorflow as tf

from bench.specs import ModelSpec
from impls.tensorflow import TF_DEVICES, KerasModel


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
    """Train with ``model.fit``, one call per epoch, from canonical ``weights``; yield seconds per epoch.

    ``images`` is the canonical float32 N x 1 x 28 x 28, ``labels`` int64 N; both are handed to
    ``fit`` as NHWC numpy arrays, as a plain user would.
    """
    keras.utils.set_random_seed(seed)  # fit's shuffling
    model = KerasModel(spec, device, mode="function")  # only to build the same net with the same start
    model.set_weights(weights)
    x = np.ascontiguousarray(np.transpose(images, (0, 2, 3, 1)), dtype=np.float32)
    y = np.asarray(labels, dtype=np.int64)
    with tf.device(TF_DEVICES[device]):
        net = model.net
        net.compile(
            optimizer=keras.optimizers.SGD(learning_rate=lr),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        while True:
            start = time.perf_counter()
            net.fit(x, y, batch_size=batch_size, epochs=1, shuffle=True, verbose=0)
            tf.test.experimental.sync_devices()  # fit has fetched its logs already; this makes sure
            yield time.perf_counter() - start


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
    trained: dict[str, np.ndarray] | None = None,
) -> Iterator[float]:
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

    ``trained``, when given, receives the canonical ``weights`` and the epoch's ``order`` after each
    epoch (outside the clock),
    for tests. Raises ``ValueError`` for a mode without a skilled loop, when called.
    """
    if mode not in SKILLED:
        valid = ", ".join(SKILLED)
        raise ValueError(f"tensorflow has no skilled loop for mode {mode!r}; choose one of: {valid}")
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
    trained: dict[str, np.ndarray] | None,
) -> Iterator[float]:
    model = KerasModel(spec, device, mode=mode)  # only to build the same net with the same start
    model.set_weights(weights)
    net = model.net
    variables = net.trainable_variables
    n = len(labels)
    sizes = [min(batch_size, n - start) for start in range(0, n, batch_size)]
    with tf.device(TF_DEVICES[device]):
        x = tf.constant(np.ascontiguousarray(np.transpose(images, (0, 2, 3, 1)), dtype=np.float32))
        y = tf.constant(np.asarray(labels, dtype=np.int64))

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
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(n)
        tf.test.experimental.sync_devices()
        start = time.perf_counter()
        # The device scope is left before the yield: a scope held across it would apply to the caller.
        with tf.device(TF_DEVICES[device]):
            index = tf.constant(order)
            if n_full:
                full_batches(tf.reshape(index[: n_full * batch_size], (n_full, batch_size)))
                index = index[n_full * batch_size :]
            for batch in tf.split(index, rest) if rest else []:
                step(batch)
        tf.test.experimental.sync_devices()
        seconds = time.perf_counter() - start
        if trained is not None:
            trained.update(weights=model.get_weights(), order=order)
        yield seconds
