"""LeNet-5 and the MLP in TensorFlow/Keras 3: idiomatic ``keras.Sequential`` and a custom train step.

Modes: ``function`` (the train step compiled into a graph with ``tf.function``, the default), ``xla``
(``tf.function(jit_compile=True)``) and ``eager`` (no ``tf.function``). Training is not
``model.fit``: a ``GradientTape`` step is called per batch from ``train_epoch`` on device-resident
data (see ``baseline.py`` for the ``fit`` loop a plain Keras user would write).

Keras works in NHWC with HWIO conv kernels and in x out dense kernels; ``set_weights``/``get_weights``
translate from/to the canonical layout (``bench.specs``), including LeNet's flatten, which is C*H*W
canonically but H*W*C in Keras.
"""

from __future__ import annotations

import os
import time
from typing import Any, ClassVar

# Before TensorFlow is imported: Keras 3 must use the TF backend, and TF's C++ INFO chatter
# (oneDNN banners etc.) is hidden unless the user asked for it.
os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

import keras
import numpy as np
import tensorflow as tf

from bench.contract import EpochStats, EvalStats, Unsupported
from bench.specs import Conv, Dense, ModelSpec

if keras.backend.backend() != "tensorflow":  # keras was imported earlier with another backend
    raise ImportError(f"impls.tensorflow needs Keras on the TF backend, got {keras.backend.backend()!r}")

EVAL_BATCH = 1024  # evaluation batch; large enough to amortise per-batch overhead
TF_DEVICES = {"cpu": "/CPU:0", "gpu": "/GPU:0"}


def lenet() -> keras.Sequential:
    """LeNet-5 as in d2l: sigmoid activations and average pooling (NHWC)."""
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            keras.layers.Conv2D(6, 5, padding="same", activation="sigmoid", name="conv1"),
            keras.layers.AveragePooling2D(pool_size=2, strides=2),
            keras.layers.Conv2D(16, 5, activation="sigmoid", name="conv2"),
            keras.layers.AveragePooling2D(pool_size=2, strides=2),
            keras.layers.Flatten(),
            keras.layers.Dense(120, activation="sigmoid", name="fc1"),
            keras.layers.Dense(84, activation="sigmoid", name="fc2"),
            keras.layers.Dense(10, name="fc3"),
        ],
        name="lenet",
    )


def mlp() -> keras.Sequential:
    """The 784-256-10 ReLU MLP."""
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(256, activation="relu", name="fc1"),
            keras.layers.Dense(10, name="fc2"),
        ],
        name="mlp",
    )


BUILDERS = {"lenet": lenet, "mlp": mlp}  # Keras layer names are the canonical layer names


def flatten_shapes(spec: ModelSpec) -> dict[str, tuple[int, int, int]]:
    """Return {dense layer name: (C, H, W)} for every dense layer that follows a conv layer.

    Those layers' input is a flattened feature map whose order differs between the canonical
    layout (C*H*W) and Keras's NHWC flatten (H*W*C).
    """
    shapes: dict[str, tuple[int, int, int]] = {}
    channels, height, width = 1, 28, 28
    previous: Conv | Dense | None = None
    for layer in spec.layers:
        if isinstance(layer, Conv):  # each conv is followed by 2x2 pooling, hence // 2
            height = (height + 2 * layer.padding - layer.kernel + 1) // 2
            width = (width + 2 * layer.padding - layer.kernel + 1) // 2
            channels = layer.out_channels
        elif isinstance(previous, Conv):
            assert layer.in_features == channels * height * width, (layer, channels, height, width)
            shapes[layer.name] = (channels, height, width)
        previous = layer
    return shapes


def to_keras(value: np.ndarray, chw: tuple[int, int, int] | None) -> np.ndarray:
    """Translate one canonical weight to the Keras layout."""
    if value.ndim == 4:  # conv O x I x H x W -> H x W x I x O
        return value.transpose(2, 3, 1, 0)
    if value.ndim == 2:  # dense out x in -> in x out
        if chw is not None:  # in = C*H*W -> H*W*C, Keras's flatten order of an NHWC map
            out = value.shape[0]
            value = value.reshape(out, *chw).transpose(0, 2, 3, 1).reshape(out, -1)
        return value.T
    return value


def from_keras(value: np.ndarray, chw: tuple[int, int, int] | None) -> np.ndarray:
    """Translate one Keras weight back to the canonical layout (the inverse of ``to_keras``)."""
    if value.ndim == 4:  # H x W x I x O -> O x I x H x W
        return value.transpose(3, 2, 0, 1)
    if value.ndim == 2:  # in x out -> out x in
        value = value.T
        if chw is not None:  # H*W*C -> C*H*W
            c, h, w = chw
            out = value.shape[0]
            value = value.reshape(out, h, w, c).transpose(0, 3, 1, 2).reshape(out, -1)
        return value
    return value


class KerasModel:
    """A Keras model with data resident on its device, plain SGD and a GradientTape train step."""

    def __init__(self, spec: ModelSpec, device: str, mode: str) -> None:
        self.spec = spec
        self.device = TF_DEVICES[device]
        self.mode = mode
        self.flatten = flatten_shapes(spec)
        with tf.device(self.device):
            self.net = BUILDERS[spec.name]()
            self.optimizer = keras.optimizers.SGD(learning_rate=spec.lr)  # momentum 0: plain SGD
            self.optimizer.build(self.net.trainable_variables)  # its variables now, on this device
            # Epoch accumulators live on the device: no host round trip inside the epoch.
            self.loss_sum = tf.Variable(0.0, dtype=tf.float32, trainable=False)
            self.correct = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)  # batch mean
        self.sum_loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")
        if mode == "eager":
            self._train_step, self._eval_step, self._forward = self._train, self._eval, self._logits
        else:
            # reduce_retracing: the smaller last batch gets a shape-generic trace instead of a new one
            # per size. XLA still compiles once per concrete shape (two per epoch size, then cached).
            compile_ = dict(jit_compile=mode == "xla", reduce_retracing=True)
            self._train_step = tf.function(self._train, **compile_)
            self._eval_step = tf.function(self._eval, **compile_)
            self._forward = tf.function(self._logits, **compile_)

    # -- the computations (plain Python; wrapped in tf.function unless mode is eager) ------------

    def _train(self, images: tf.Tensor, labels: tf.Tensor, batch: tf.Tensor) -> None:
        x, y = tf.gather(images, batch), tf.gather(labels, batch)
        with tf.GradientTape() as tape:
            logits = self.net(x, training=True)
            loss = self.loss_fn(y, logits)
        grads = tape.gradient(loss, self.net.trainable_variables)
        self.optimizer.apply(grads, self.net.trainable_variables)
        self.loss_sum.assign_add(loss * tf.cast(tf.shape(y)[0], tf.float32))
        self.correct.assign_add(self._num_correct(logits, y))

    def _eval(self, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        logits = self.net(x, training=False)
        return self.sum_loss_fn(y, logits), self._num_correct(logits, y)

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

    def train_epoch(self, data: Any, order: np.ndarray, batch_size: int, lr: float) -> EpochStats:
        """Plain SGD over the batches given by ``order``."""
        images, labels = data
        n = len(order)
        self.optimizer.learning_rate = lr  # assigns the optimizer's lr variable: no retracing
        with tf.device(self.device):
            self.loss_sum.assign(0.0)
            self.correct.assign(0)
            # One upload of the order and one split op give every batch's indices on the device.
            sizes = [min(batch_size, n - start) for start in range(0, n, batch_size)]
            batches = tf.split(tf.constant(np.asarray(order, dtype=np.int64)), sizes)
            for batch in batches:
                self._train_step(images, labels, batch)
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


class KerasFramework:
    """TensorFlow with Keras 3 behind the common contract."""

    NAME: ClassVar[str] = "tensorflow"
    MODES: ClassVar[tuple[str, ...]] = ("function", "xla", "eager")

    def __init__(self, threads: int) -> None:
        # Threading can only be set before the TF runtime starts (the first op). Setting the same
        # value again is allowed; a different one after start-up raises, in which case the
        # earlier setting stays in effect and settings() reports it.
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # runtime already started (only possible when reused, e.g. in tests)
            pass
        # Declared numerics: true fp32 everywhere (no TF32 on Ampere/Hopper), same as the others.
        tf.config.experimental.enable_tensor_float_32_execution(False)
        # tf.config.experimental.enable_op_determinism() is deliberately NOT enabled: the CPU kernels
        # these models use already give bit-identical repeated runs (conformance test, and checked
        # with 2 and 8 intra-op threads, all three modes), and the switch would slow GPU kernels
        # (e.g. deterministic cuDNN backward convolutions), which is not what a user runs.

    def versions(self) -> dict[str, str]:
        """Framework and backend versions."""
        build = tf.sysconfig.get_build_info()
        return {
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "numpy": np.__version__,
            "cuda": str(build.get("cuda_version", "n/a")),
            "cudnn": str(build.get("cudnn_version", "n/a")),
        }

    def devices(self) -> list[str]:
        """CPU always; GPU when TensorFlow sees one."""
        return ["cpu", "gpu"] if tf.config.list_physical_devices("GPU") else ["cpu"]

    def _check_device(self, device: str) -> str:
        if device == "gpu" and not tf.config.list_physical_devices("GPU"):
            if tf.test.is_built_with_cuda():
                build = f"CUDA {tf.sysconfig.get_build_info().get('cuda_version', '?')} build"
            else:
                build = "tensorflow-cpu build"
            raise Unsupported(f"no GPU visible to TensorFlow {tf.__version__} ({build})")
        if device not in TF_DEVICES:
            raise Unsupported(f"unknown device {device!r}; choose one of: {', '.join(TF_DEVICES)}")
        return TF_DEVICES[device]

    def device_name(self, device: str) -> str:
        """GPU model name, or 'cpu'."""
        self._check_device(device)
        if device == "gpu":
            details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
            return str(details.get("device_name", "gpu"))
        return "cpu"

    def settings(self, device: str, mode: str) -> dict[str, Any]:
        """Threading and numerics in effect."""
        intra = tf.config.threading.get_intra_op_parallelism_threads()
        return {
            "intra_op_threads": intra or os.cpu_count() or 1,  # 0 means "TF's default: all cores"
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads() or os.cpu_count() or 1,
            "dtype": "float32",
            "tf32": tf.config.experimental.tensor_float_32_execution_enabled(),
            "mode": mode,
            "xla": mode == "xla",
            # oneDNN custom ops are on by default for x86 builds; record the switch that controls them.
            "onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
        }

    def build(self, spec: ModelSpec, device: str, mode: str) -> KerasModel:
        """Build the model on the device."""
        if mode not in self.MODES:
            raise Unsupported(f"tensorflow has no mode {mode!r}; choose one of: {', '.join(self.MODES)}")
        self._check_device(device)
        return KerasModel(spec, device, mode)

    def peak_gflops(self, device: str) -> dict[str, Any]:
        """Time a large fp32 matrix product (best of several) on the device."""
        name = self._check_device(device)
        n = 8192 if device == "gpu" else 2048  # big enough to reach the BLAS's steady state
        with tf.device(name):
            a = tf.random.normal((n, n), seed=0)
            b = tf.random.normal((n, n), seed=1)
            timings = []
            for _ in range(6):  # the first one warms up the BLAS and is dropped
                tf.test.experimental.sync_devices()
                start = time.perf_counter()
                c = tf.linalg.matmul(a, b)
                tf.test.experimental.sync_devices()
                timings.append(time.perf_counter() - start)
                del c
        best = min(timings[1:])
        return {"gflops": 2 * n**3 / best / 1e9, "method": f"tf.linalg.matmul fp32 {n}x{n}, best of 5"}

    def peak_device_memory_bytes(self, device: str) -> int | None:
        """Peak GPU allocation, None on CPU."""
        if device == "gpu" and tf.config.list_physical_devices("GPU"):
            return int(tf.config.experimental.get_memory_info("GPU:0")["peak"])
        return None
