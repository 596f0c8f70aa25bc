"""LeNet-5 and the MLP in TensorFlow/Keras 3: idiomatic ``keras.Sequential`` and a custom train step.

Modes: ``function`` (the train step compiled into a graph with ``tf.function``, the default), ``xla``
(``tf.function(jit_compile=True)``) and ``eager`` (no ``tf.function``). Training is not
``model.fit``: a ``GradientTape`` step is called per batch from ``train_epoch`` on device-resident
data (see ``baseline.py`` for the ``fit`` loop a plain Keras user would write), or, with
``--input native``, on the batches of a ``tf.data`` pipeline (``native_input``).

Keras works in NHWC with HWIO conv kernels and in x out dense kernels; ``set_weights``/``get_weights``
translate from/to the canonical layout (``bench.specs``), including LeNet's flatten, which is C*H*W
canonically but H*W*C in Keras.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

# Before TensorFlow is imported: Keras 3 must use the TF backend, and TF's C++ INFO chatter
# (oneDNN banners etc.) is hidden unless the user asked for it.
os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

import keras
import numpy as np
import tensorflow as tf

from bench.contract import (
    EVAL_BATCH,
    EpochStats,
    EvalStats,
    NativeSource,
    Unsupported,
    check_mode,
    check_precision,
    time_peak_matmul,
)
from bench.specs import Conv, Dense, ModelSpec

if keras.backend.backend() != "tensorflow":  # keras was imported earlier with another backend
    raise ImportError(f"impls.tensorflow needs Keras on the TF backend, got {keras.backend.backend()!r}")

TF_DEVICES = {"cpu": "/CPU:0", "gpu": "/GPU:0"}
HERE = Path(__file__).resolve().parent
# The PyPI distributions that install the ``tensorflow`` package, CPU-only builds first.
TF_DISTRIBUTIONS = ("tensorflow-cpu", "tensorflow", "tensorflow-gpu", "tf-nightly-cpu", "tf-nightly")


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


class NativePipeline:
    """A ``tf.data`` input pipeline over one verified split, following the harness's order.

    Built once: the raw uint8 images and the labels are constants on the host, and the epoch's
    order lives in a host ``tf.Variable`` that the pipeline's map function reads, so a new epoch is
    one ``assign`` and a new iterator (no re-tracing, no copy of the data). Per batch size the
    dataset is ``range(n).batch(b)`` (positions in the epoch; the last batch keeps the remainder)
    ``.map(gather by order, uint8 -> float32 / 255, reshape to NHWC, num_parallel_calls)``
    ``.prefetch(AUTOTUNE)``. The map runs on whole batches, as the tf.data performance guide
    advises for cheap functions ("vectorized mapping"); nothing is shuffled by tf.data. The float
    values are exactly ``bench.data.Dataset.as_float``'s (a float32 division by 255, tested).
    ``source.workers`` 0 lets tf.data tune its parallelism (AUTOTUNE, tf.data's own thread pool:
    it has no "in the training thread" mode); > 0 fixes the map's parallelism and gives the
    pipeline a private thread pool of that size.
    """

    def __init__(self, source: NativeSource) -> None:
        self.workers = int(source.workers)
        with tf.device("/CPU:0"):  # a tf.data pipeline runs on the host
            self.images = tf.constant(np.asarray(source.images, dtype=np.uint8))  # N x 28 x 28
            self.labels = tf.constant(np.asarray(source.labels, dtype=np.int64))
            self.order = tf.Variable(
                tf.zeros([0], tf.int64), shape=tf.TensorShape([None]), trainable=False, name="order"
            )
        self._datasets: dict[tuple[int, int], tf.data.Dataset] = {}

    def _load(self, positions: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        index = tf.gather(self.order, positions)
        x = tf.cast(tf.gather(self.images, index), tf.float32) / 255.0  # exactly as_float's division
        return tf.reshape(x, [-1, 28, 28, 1]), tf.gather(self.labels, index)

    def dataset(self, n: int, batch_size: int) -> tf.data.Dataset:
        """The pipeline for epochs of ``n`` examples in batches of ``batch_size`` (built once each)."""
        key = (n, batch_size)
        if key not in self._datasets:
            parallel = self.workers or tf.data.AUTOTUNE
            dataset = (
                tf.data.Dataset.range(n)
                .batch(batch_size)
                .map(self._load, num_parallel_calls=parallel, deterministic=True)
                .prefetch(tf.data.AUTOTUNE)
            )
            if self.workers:
                options = tf.data.Options()
                options.threading.private_threadpool_size = self.workers
                dataset = dataset.with_options(options)
            self._datasets[key] = dataset
        return self._datasets[key]

    def epoch(self, order: np.ndarray, batch_size: int) -> Iterator[tuple[tf.Tensor, tf.Tensor]]:
        """Set the epoch's order, then iterate the pipeline: (float32 B x 28 x 28 x 1, int64 B) batches."""
        order = np.asarray(order, dtype=np.int64)
        # Built and started on the host even when the caller is in a GPU device scope. The scope is
        # left before the first yield: a scope held across a yield would also apply to the caller.
        with tf.device("/CPU:0"):
            dataset = self.dataset(len(order), batch_size)
            self.order.assign(order)  # before the iterator exists: its prefetching reads the new order
            iterator = iter(dataset)
        yield from iterator


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
            self._train_step, self._batch_step = self._train, self._step
            self._eval_step, self._forward = self._eval, self._logits
        else:
            # reduce_retracing: the smaller last batch gets a shape-generic trace instead of a new one
            # per size. XLA still compiles once per concrete shape (two per epoch size, then cached).
            compile_ = dict(jit_compile=mode == "xla", reduce_retracing=True)
            self._train_step = tf.function(self._train, **compile_)
            self._batch_step = tf.function(self._step, **compile_)  # the native pipeline's batches
            self._eval_step = tf.function(self._eval, **compile_)
            self._forward = tf.function(self._logits, **compile_)

    # -- the computations (plain Python; wrapped in tf.function unless mode is eager) ------------

    def _train(self, images: tf.Tensor, labels: tf.Tensor, batch: tf.Tensor) -> None:
        self._step(tf.gather(images, batch), tf.gather(labels, batch))

    def _step(self, x: tf.Tensor, y: tf.Tensor) -> None:
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

    def native_input(self, source: NativeSource) -> NativePipeline:
        """The ``tf.data`` pipeline over the verified arrays (see ``NativePipeline``)."""
        return NativePipeline(source)

    def native_batches(
        self, data: NativePipeline, order: np.ndarray, batch_size: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The pipeline's batches for ``order``, from the iterator ``train_epoch`` draws from, as host
        numpy in the canonical layout (NHWC translated back to N x 1 x 28 x 28)."""
        for x, y in data.epoch(order, batch_size):
            yield np.ascontiguousarray(np.transpose(x.numpy(), (0, 3, 1, 2))), y.numpy()

    def train_epoch(self, data: Any, order: np.ndarray, batch_size: int, lr: float) -> EpochStats:
        """Plain SGD over the batches given by ``order``: from ``put``'s tensors or a ``NativePipeline``."""
        n = len(order)
        self.optimizer.learning_rate = lr  # assigns the optimizer's lr variable: no retracing
        with tf.device(self.device):
            self.loss_sum.assign(0.0)
            self.correct.assign(0)
            if isinstance(data, NativePipeline):
                for x, y in data.epoch(order, batch_size):  # host batches; TF copies them to the device
                    self._batch_step(x, y)
            else:
                images, labels = data
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
        if device not in TF_DEVICES:
            raise Unsupported(f"unknown device {device!r}; choose one of: {', '.join(TF_DEVICES)}")
        if device == "gpu" and not tf.config.list_physical_devices("GPU"):
            build = tf.sysconfig.get_build_info()
            raise Unsupported(
                no_gpu_reason(
                    distribution(),
                    tf.__version__,
                    cuda_version=str(build.get("cuda_version", "")) if tf.test.is_built_with_cuda() else None,
                    nvidia_gpu_present=shutil.which("nvidia-smi") is not None,
                )
            )
        return TF_DEVICES[device]

    def device_name(self, device: str) -> str:
        """GPU model name, or 'cpu'."""
        self._check_device(device)
        if device == "gpu":
            details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
            return str(details.get("device_name", "gpu"))
        return "cpu"

    def settings(self, device: str, mode: str, precision: str = "fp32") -> dict[str, Any]:
        """Threading and numerics in effect (``tf32``: TF's global switch, which ``build`` sets)."""
        check_precision(precision, device)
        intra = tf.config.threading.get_intra_op_parallelism_threads()
        return {
            "intra_op_threads": intra or os.cpu_count() or 1,  # 0 means "TF's default: all cores"
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads() or os.cpu_count() or 1,
            "dtype": "float32",
            "precision": precision,
            "tf32": tf.config.experimental.tensor_float_32_execution_enabled(),
            "mode": mode,
            "xla": mode == "xla",
            # oneDNN custom ops are on by default for x86 builds; record the switch that controls them.
            "onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
        }

    def build(self, spec: ModelSpec, device: str, mode: str, precision: str = "fp32") -> KerasModel:
        """Build the model on the device; ``precision`` "tf32" turns TF's TF32 switch on (GPU only).

        The switch is process-wide: the last build decides (the runner builds one model per process).
        """
        check_mode(self, mode)
        check_precision(precision, device)
        self._check_device(device)
        tf.config.experimental.enable_tensor_float_32_execution(precision == "tf32")
        return KerasModel(spec, device, mode)

    def peak_gflops(self, device: str) -> dict[str, Any]:
        """Time a large fp32 matrix product (best of several) on the device, TF32 off meanwhile."""
        name = self._check_device(device)
        n = 8192 if device == "gpu" else 2048  # big enough to reach the BLAS's steady state
        tf32 = tf.config.experimental.tensor_float_32_execution_enabled()
        tf.config.experimental.enable_tensor_float_32_execution(False)  # a true-fp32 peak, always
        try:
            with tf.device(name):
                a = tf.random.normal((n, n), seed=0)
                b = tf.random.normal((n, n), seed=1)
                return time_peak_matmul(
                    lambda: tf.linalg.matmul(a, b), tf.test.experimental.sync_devices, n, "tf.linalg.matmul"
                )
        finally:
            tf.config.experimental.enable_tensor_float_32_execution(tf32)

    def peak_device_memory_bytes(self, device: str) -> int | None:
        """Peak GPU allocation, None on CPU."""
        if device == "gpu" and tf.config.list_physical_devices("GPU"):
            return int(tf.config.experimental.get_memory_info("GPU:0")["peak"])
        return None


def distribution() -> str:
    """The installed PyPI distribution that provides ``tensorflow`` (e.g. ``tensorflow-cpu``)."""
    for name in TF_DISTRIBUTIONS:
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        return name
    return "tensorflow"


def gpu_requirement() -> str:
    """The pinned GPU requirement from ``requirements-gpu.txt`` (its first requirement line)."""
    for line in (HERE / "requirements-gpu.txt").read_text().splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            return requirement
    raise RuntimeError("impls/tensorflow/requirements-gpu.txt names no requirement")


def no_gpu_reason(distribution: str, version: str, cuda_version: str | None, nvidia_gpu_present: bool) -> str:
    """Why TensorFlow sees no GPU, and what a user with network access installs.

    ``cuda_version`` is the CUDA version TF was built with, None for a CPU-only build;
    ``nvidia_gpu_present``: ``nvidia-smi`` exists on this machine.
    """
    short = ".".join(version.split(".")[:2])
    fix = f"`{gpu_requirement()}` (impls/tensorflow/requirements-gpu.txt)"
    if cuda_version is None:
        where = "this machine has an NVIDIA GPU" if nvidia_gpu_present else "on a CUDA machine"
        return f"no GPU visible to {distribution} {short} (a CPU-only build); {where}, install {fix}"
    if not nvidia_gpu_present:
        return (
            f"no GPU visible to {distribution} {short} (a CUDA {cuda_version} build): this machine has "
            "no NVIDIA driver (nvidia-smi not found); run on a machine with an NVIDIA GPU and driver"
        )
    return (
        f"no GPU visible to {distribution} {short} (a CUDA {cuda_version} build) although nvidia-smi "
        f"exists: TF found no usable CUDA/cuDNN libraries or the driver is too old for CUDA "
        f"{cuda_version}; install {fix}, which brings the NVIDIA CUDA/cuDNN wheels"
    )
