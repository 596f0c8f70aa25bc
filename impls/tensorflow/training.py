"""``KerasModel``: one Keras network on one device, trained with plain SGD and a ``GradientTape`` step.

Holds the step computations (wrapped in ``tf.function``, with XLA in mode ``xla``, or run eagerly),
the weight exchange in the canonical layout, the epoch loop over device-resident data or a
``NativeInput``, evaluation, logits and ``sync``. The epoch's loss and accuracy accumulate in
device variables, fetched once per epoch.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from bench.contract import EVAL_BATCH, EpochStats, EvalStats, NativeSource, Unsupported
from bench.layouts import canonical_batch, flatten_shapes
from bench.layouts import from_channels_last as from_keras
from bench.layouts import to_channels_last as to_keras
from bench.specs import ModelSpec
from impls.tensorflow.models import BUILDERS
from impls.tensorflow.native import NativeInput

TF_DEVICES = {"cpu": "/CPU:0", "gpu": "/GPU:0"}


class KerasModel:
    """A Keras model with data resident on its device, plain SGD and a GradientTape train step."""

    def __init__(self, spec: ModelSpec, device: str, mode: str) -> None:
        self.spec = spec
        self.device = TF_DEVICES[device]
        self.mode = mode
        self.flatten = flatten_shapes(spec)
        with tf.device(self.device):
            self.net = BUILDERS[spec.name]()
            # Epoch accumulators live on the device: no host round trip inside the epoch.
            self.loss_sum = tf.Variable(0.0, dtype=tf.float32, trainable=False)
            self.correct = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.variables = self.net.trainable_variables
        # Plain SGD as one AssignSubVariableOp per parameter on the tf.Variable under each Keras
        # variable: the arithmetic of keras.optimizers.SGD (momentum 0), without its per-step
        # bookkeeping (iteration counter, lr variable, Keras's assign checks), which cost the eager
        # step 21% of its speed (tf-eager notes in the README).
        self.raw_variables = [variable.value for variable in self.variables]
        if mode == "eager":
            self._train_step, self._batch_step = self._eager_train, self._eager_step
            self._eval_step, self._forward = self._eval, self._logits
        else:  # function, xla, epoch-function
            # reduce_retracing: the smaller last batch gets a shape-generic trace instead of a new one
            # per size. XLA still compiles once per concrete shape (two per epoch size, then cached).
            # lr is a tensor argument: a new value is new data, not a retrace.
            compile_ = dict(jit_compile=mode == "xla", reduce_retracing=True)
            self._train_step = tf.function(self._train, **compile_)
            self._batch_step = tf.function(self._step, **compile_)  # the native pipeline's batches
            self._eval_step = tf.function(self._eval, **compile_)
            self._forward = tf.function(self._logits, **compile_)
            # epoch-function: one call per epoch runs every full batch (traced once per epoch shape)
            self._epoch_step = tf.function(self._epoch_loop)

    # -- the computations (plain Python; wrapped in tf.function unless mode is eager) ------------

    def _update(self, x: tf.Tensor, y: tf.Tensor, lr: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """One SGD step on the mean softmax cross-entropy; returns the per-example losses and logits."""
        with tf.GradientTape() as tape:
            logits = self.net(x, training=True)
            losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
            loss = tf.reduce_mean(losses)
        grads = tape.gradient(loss, self.variables)
        for variable, grad in zip(self.raw_variables, grads, strict=True):
            variable.assign_sub(lr * grad)
        return losses, logits

    def _train(self, images: tf.Tensor, labels: tf.Tensor, batch: tf.Tensor, lr: tf.Tensor) -> None:
        self._step(tf.gather(images, batch), tf.gather(labels, batch), lr)

    def _step(self, x: tf.Tensor, y: tf.Tensor, lr: tf.Tensor) -> None:
        """The compiled step: the epoch's sums accumulate in device variables, inside the graph."""
        losses, logits = self._update(x, y, lr)
        self.loss_sum.assign_add(tf.reduce_sum(losses))
        self.correct.assign_add(self._num_correct(logits, y))

    def _epoch_loop(self, images: tf.Tensor, labels: tf.Tensor, batches: tf.Tensor, lr: tf.Tensor) -> None:
        """epoch-function mode: the step over each row of ``batches`` (full batches x batch size),
        in order; AutoGraph makes the loop a ``tf.while_loop`` whose iterations run one after the
        other (each reads the variables the previous one assigned: automatic control dependencies).
        The epoch's sums are loop variables, added to the accumulators once, after the loop."""
        loss_sum, correct = tf.zeros((), tf.float32), tf.zeros((), tf.int64)  # loop-carried sums
        for i in tf.range(tf.shape(batches)[0]):
            y = tf.gather(labels, batches[i])
            losses, logits = self._update(tf.gather(images, batches[i]), y, lr)
            loss_sum += tf.reduce_sum(losses)
            correct += self._num_correct(logits, y)
        self.loss_sum.assign_add(loss_sum)
        self.correct.assign_add(correct)

    def _eager_train(self, images: tf.Tensor, labels: tf.Tensor, batch: tf.Tensor, lr: tf.Tensor) -> Any:
        return self._eager_step(tf.gather(images, batch), tf.gather(labels, batch), lr)

    def _eager_step(self, x: tf.Tensor, y: tf.Tensor, lr: tf.Tensor) -> Any:
        """The eager step: every op is a Python dispatch, so the epoch's statistics are not summed
        here (four more ops per step); the step's losses, logits and labels are kept, and reduced
        once per epoch by ``_eager_sums`` (about 2.4 MB for an epoch of 10-class logits)."""
        losses, logits = self._update(x, y, lr)
        return losses, logits, y

    def _eager_sums(self, kept: list[Any]) -> None:
        losses, logits, labels = (tf.concat(part, axis=0) for part in zip(*kept, strict=True))
        self.loss_sum.assign(tf.reduce_sum(losses))
        self.correct.assign(self._num_correct(logits, labels))

    def _eval(self, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        logits = self.net(x, training=False)
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
        return tf.reduce_sum(losses), self._num_correct(logits, y)

    def _logits(self, x: tf.Tensor) -> tf.Tensor:
        return self.net(x, training=False)

    @staticmethod
    def _num_correct(logits: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        hits = tf.equal(tf.argmax(logits, axis=1, output_type=y.dtype), y)
        return tf.reduce_sum(tf.cast(hits, tf.int64))

    # -- the contract ---------------------------------------------------------------------------

    def _layers(self) -> dict[str, keras.layers.Layer]:
        return {layer.name: self.net.get_layer(layer.name) for layer in self.spec.layers}

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Load canonical-layout weights."""
        for name, layer in self._layers().items():
            chw = self.flatten.get(name)
            kernel = to_keras(np.asarray(weights[f"{name}.weight"], dtype=np.float32), chw)
            layer.kernel.assign(np.ascontiguousarray(kernel))
            layer.bias.assign(np.asarray(weights[f"{name}.bias"], dtype=np.float32))

    def get_weights(self) -> dict[str, np.ndarray]:
        """Return the weights in the canonical layout."""
        weights = {}
        for name, layer in self._layers().items():
            kernel = from_keras(np.asarray(layer.kernel.numpy()), self.flatten.get(name))
            weights[f"{name}.weight"] = np.ascontiguousarray(kernel, dtype=np.float32)
            weights[f"{name}.bias"] = np.array(layer.bias.numpy(), dtype=np.float32)
        return weights

    def put(self, images: np.ndarray, labels: np.ndarray) -> tuple[tf.Tensor, tf.Tensor]:
        """Copy a data set to the device once, images as NHWC."""
        nhwc = np.ascontiguousarray(np.transpose(images, (0, 2, 3, 1)), dtype=np.float32)
        with tf.device(self.device):  # an eager constant is created on the device in scope
            return tf.constant(nhwc), tf.constant(np.asarray(labels, dtype=np.int64))

    def native_input(self, source: NativeSource) -> NativeInput:
        """The ``tf.data`` pipeline over the verified arrays (see ``NativeInput``)."""
        if self.mode == "epoch-function":
            raise Unsupported(
                "epoch-function mode loops over the epoch's batches inside one tf.function, gathering "
                "them from device-resident data; a host pipeline feeds one batch per call, which is "
                "mode function (use --input device, or mode function)"
            )
        return NativeInput(source)

    def native_batches(
        self, data: NativeInput, order: np.ndarray, batch_size: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The pipeline's batches for ``order``, from the iterator ``train_epoch`` draws from, as host
        numpy in the canonical layout (NHWC translated back to N x 1 x 28 x 28)."""
        for x, y in data.epoch(order, batch_size):
            yield canonical_batch(x.numpy(), y.numpy())

    def train_epoch(self, data: Any, order: np.ndarray, batch_size: int, lr: float) -> EpochStats:
        """Plain SGD over the batches given by ``order``: from ``put``'s tensors or a ``NativeInput``."""
        n = len(order)
        with tf.device(self.device):
            lr_tensor = tf.constant(lr, dtype=tf.float32)
            self.loss_sum.assign(0.0)
            self.correct.assign(0)
            kept: list[Any] = []  # eager mode's per-step outputs (None from the compiled steps)
            if isinstance(data, NativeInput):
                for x, y in data.epoch(order, batch_size):  # host batches; TF copies them to the device
                    kept.append(self._batch_step(x, y, lr_tensor))
            else:
                images, labels = data
                # One upload of the order and one split op give every batch's indices on the device.
                index = tf.constant(np.asarray(order, dtype=np.int64))
                n_full = n // batch_size if self.mode == "epoch-function" else 0
                if n_full:  # every full batch in one call; the rest as the function step
                    full = tf.reshape(index[: n_full * batch_size], (n_full, batch_size))
                    self._epoch_step(images, labels, full, lr_tensor)
                    index = index[n_full * batch_size :]
                sizes = [min(batch_size, len(index) - start) for start in range(0, len(index), batch_size)]
                for batch in tf.split(index, sizes) if sizes else []:
                    kept.append(self._train_step(images, labels, batch, lr_tensor))
            if self.mode == "eager":
                self._eager_sums(kept)
            loss_sum, correct = self.loss_sum.numpy(), self.correct.numpy()  # the epoch's only fetch
        return EpochStats(loss=float(loss_sum) / n, accuracy=int(correct) / n)

    def evaluate(self, data: Any) -> EvalStats:
        """Mean loss and accuracy over ``data``."""
        images, labels = data
        n = int(labels.shape[0])
        with tf.device(self.device):
            loss_sum, correct = tf.zeros((), tf.float32), tf.zeros((), tf.int64)
            for start in range(0, n, EVAL_BATCH):
                batch_loss, batch_correct = self._eval_step(
                    images[start : start + EVAL_BATCH], labels[start : start + EVAL_BATCH]
                )
                loss_sum, correct = loss_sum + batch_loss, correct + batch_correct
            return EvalStats(loss=float(loss_sum.numpy()) / n, accuracy=int(correct.numpy()) / n)

    def logits(self, data: Any) -> np.ndarray:
        """Logits for ``data`` as float32 numpy."""
        images = data[0]
        with tf.device(self.device):
            chunks = [
                self._forward(images[start : start + EVAL_BATCH]).numpy()
                for start in range(0, int(images.shape[0]), EVAL_BATCH)
            ]
        return np.concatenate(chunks).astype(np.float32, copy=False)

    def sync(self) -> None:
        """Block until all queued work has finished on every device.

        ``tf.test.experimental.sync_devices`` runs a SyncDevice op on each device (waits for the
        GPU's CUDA stream, where kernels run asynchronously) and then drains TF's eager queues
        (``context.async_wait``). On CPU with the default synchronous execution it returns at once.
        """
        tf.test.experimental.sync_devices()
