"""LeNet-5 and the MLP in MXNet Gluon: idiomatic ``HybridSequential`` code, hybridized or imperative.

Importing this module imports mxnet, which reads its threading environment (OMP_NUM_THREADS,
MXNET_CPU_WORKER_NTHREADS, ...) once, at import time. Import it only through
``impls.mxnet.GluonFramework``, which sets that environment first.

Layers are found by name, not by position: each layer is built with its canonical name as its Gluon
prefix (``conv1_``, ``fc1_``, ...), so its parameters are ``conv1_weight``, ``conv1_bias`` in
``net.collect_params()``.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon, nd
from mxnet.gluon import nn

from bench.contract import (
    EVAL_BATCH,
    EpochStats,
    EvalStats,
    NativeSource,
    Unsupported,
    time_peak_matmul,
)
from bench.specs import ModelSpec

HERE = Path(__file__).resolve().parent


def lenet() -> nn.HybridSequential:
    """LeNet-5 as in d2l: sigmoid activations and average pooling (Dense flattens C*H*W)."""
    net = nn.HybridSequential()
    net.add(
        nn.Conv2D(channels=6, kernel_size=5, padding=2, activation="sigmoid", in_channels=1, prefix="conv1_"),
        nn.AvgPool2D(pool_size=2, strides=2, prefix="pool1_"),
        nn.Conv2D(channels=16, kernel_size=5, activation="sigmoid", in_channels=6, prefix="conv2_"),
        nn.AvgPool2D(pool_size=2, strides=2, prefix="pool2_"),
        nn.Dense(120, activation="sigmoid", in_units=16 * 5 * 5, prefix="fc1_"),
        nn.Dense(84, activation="sigmoid", in_units=120, prefix="fc2_"),
        nn.Dense(10, in_units=84, prefix="fc3_"),
    )
    return net


def mlp() -> nn.HybridSequential:
    """The 784-256-10 ReLU MLP (Dense flattens its N x 1 x 28 x 28 input)."""
    net = nn.HybridSequential()
    net.add(
        nn.Dense(256, activation="relu", in_units=28 * 28, prefix="fc1_"),
        nn.Dense(10, in_units=256, prefix="fc2_"),
    )
    return net


# The layers' Gluon prefixes are the canonical layer names, and MXNet's layouts (NCHW, OIHW, dense
# out x in, flatten C*H*W) already are the canonical ones, so weights are copied as they are.
BUILDERS = {"lenet": lenet, "mlp": mlp}
# The spec's initialisers in Gluon terms (set_weights overwrites them; this only makes a freshly
# built model a sensible one). Xavier's defaults (uniform, avg, magnitude 3) are Glorot-uniform.
INITIALIZERS = {"xavier_uniform": mx.init.Xavier, "normal_0.01": lambda: mx.init.Normal(0.01)}


class OrderSampler(gluon.data.Sampler):
    """Yields the harness's order for the current epoch (set by ``NativeLoader.epoch``); no shuffling."""

    def __init__(self) -> None:
        self.order: list[int] = []

    def __iter__(self) -> Iterator[int]:
        return iter(self.order)

    def __len__(self) -> int:
        return len(self.order)


class NativeLoader:
    """Gluon's own input pipeline: ``DataLoader(ArrayDataset(...).transform_first(ToTensor()))``.

    The d2l way of loading Fashion-MNIST is ``gluon.data.vision.FashionMNIST(train=True)
    .transform_first(ToTensor())``. That dataset class downloads a fresh copy of any archive whose
    SHA-1 differs from the one it knows, and the archives installed here (Debian's, recompressed:
    same pixels, different .gz bytes) all differ, so it would try to download. It is therefore fed
    the arrays ``bench.data`` has decoded and verified,
    in the same form ``FashionMNIST`` holds them (a uint8 N x 28 x 28 x 1 NDArray, labels as a
    numpy array) — labels as float32, Gluon's convention (see ``GluonModel.put``). ``ToTensor`` turns
    each HWC uint8 image into CHW float32 / 255, exactly ``bench.data.Dataset.as_float``'s values.

    The order is the harness's: an ``OrderSampler`` set per epoch, batched by the DataLoader
    (``last_batch="keep"``: the last batch is the remainder); ``num_workers`` is
    ``source.workers`` (0 = load in the training process). One DataLoader per batch size, built on
    first use, so worker processes are started once.
    """

    def __init__(self, source: NativeSource) -> None:
        self.workers = int(source.workers)
        images = nd.array(np.asarray(source.images, dtype=np.uint8)[..., None], dtype="uint8")
        labels = np.asarray(source.labels).astype(np.float32)
        self.dataset = gluon.data.ArrayDataset(images, labels).transform_first(
            gluon.data.vision.transforms.ToTensor()
        )
        self.sampler = OrderSampler()
        self._loaders: dict[int, gluon.data.DataLoader] = {}

    def loader(self, batch_size: int) -> gluon.data.DataLoader:
        """The DataLoader for ``batch_size`` (built once)."""
        if batch_size not in self._loaders:
            self._loaders[batch_size] = gluon.data.DataLoader(
                self.dataset,
                batch_size=batch_size,
                sampler=self.sampler,
                last_batch="keep",
                num_workers=self.workers,
            )
        return self._loaders[batch_size]

    def epoch(self, order: np.ndarray, batch_size: int) -> Iterator[tuple[nd.NDArray, nd.NDArray]]:
        """Set the epoch's order, then iterate the loader: (float32 B x 1 x 28 x 28, float32 B) batches."""
        loader = self.loader(batch_size)
        self.sampler.order = np.asarray(order, dtype=np.int64).tolist()  # before the loader's iterator
        yield from loader


class GluonModel:
    """A Gluon model with data resident on its context and plain SGD through ``gluon.Trainer``."""

    def __init__(self, spec: ModelSpec, ctx: mx.Context, hybridize: bool) -> None:
        self.spec = spec
        self.ctx = ctx
        self.net = BUILDERS[spec.name]()
        self.net.initialize(INITIALIZERS[spec.init](), ctx=ctx)
        self.loss = gluon.loss.SoftmaxCrossEntropyLoss()
        if hybridize:
            # static_alloc reuses the cached graph's buffers between calls; shapes may still vary
            # (the last batch of an epoch is smaller).
            self.net.hybridize(static_alloc=True)
            self.loss.hybridize(static_alloc=True)
        self.trainer = gluon.Trainer(self.net.collect_params(), "sgd", {"learning_rate": spec.lr})

    def _params(self) -> dict[str, gluon.Parameter]:
        """Canonical weight name (``fc1.weight``) -> the Gluon parameter (``fc1_weight``)."""
        params = self.net.collect_params()
        return {
            f"{layer.name}.{kind}": params[f"{layer.name}_{kind}"]
            for layer in self.spec.layers
            for kind in ("weight", "bias")
        }

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Load canonical-layout weights."""
        for name, param in self._params().items():
            value = np.ascontiguousarray(weights[name], dtype=np.float32)
            if value.shape != param.shape:
                raise ValueError(f"{name}: shape {value.shape}, expected {param.shape}")
            param.set_data(nd.array(value, ctx=self.ctx, dtype="float32"))

    def get_weights(self) -> dict[str, np.ndarray]:
        """Return the weights in the canonical layout."""
        params = self._params().items()
        return {k: v.data(self.ctx).asnumpy().astype(np.float32, copy=True) for k, v in params}

    def put(self, images: np.ndarray, labels: np.ndarray) -> tuple[nd.NDArray, nd.NDArray]:
        """Copy a data set to the device once."""
        # Labels as float32, Gluon's convention: SoftmaxCrossEntropyLoss picks with them and
        # argmax returns float32; class ids 0..9 are exact in float32.
        x = nd.array(images, ctx=self.ctx, dtype="float32")
        y = nd.array(labels, ctx=self.ctx, dtype="float32")
        nd.waitall()  # the copy is not timed: finish it here, not in the first training step
        return x, y

    def native_input(self, source: NativeSource) -> NativeLoader:
        """Gluon's ``DataLoader`` over the verified arrays (see ``NativeLoader``)."""
        return NativeLoader(source)

    def native_batches(
        self, data: NativeLoader, order: np.ndarray, batch_size: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The loader's batches for ``order``, from the iterator ``train_epoch`` draws from, as host
        numpy (float32 B x 1 x 28 x 28, int64 B)."""
        for x, y in data.epoch(order, batch_size):
            yield x.asnumpy(), y.asnumpy().astype(np.int64)

    def train_epoch(self, data: Any, order: np.ndarray, batch_size: int, lr: float) -> EpochStats:
        """Plain SGD over the batches given by ``order``: from ``put``'s arrays or a ``NativeLoader``."""
        self.trainer.set_learning_rate(lr)
        loss_sum = nd.zeros((1,), ctx=self.ctx)
        correct = nd.zeros((1,), ctx=self.ctx)
        n = len(order)
        if isinstance(data, NativeLoader):
            # The loader's host batches, copied to the device as a Gluon script does (no-op on CPU).
            batches = (
                (x.as_in_context(self.ctx), y.as_in_context(self.ctx))
                for x, y in data.epoch(order, batch_size)
            )
        else:
            batches = self._device_batches(data, order, batch_size)
        for x, y in batches:
            with autograd.record():
                logits = self.net(x)
                loss = self.loss(logits, y)  # per example
            loss.backward()  # d(sum of losses); trainer.step divides by the batch size -> mean loss
            self.trainer.step(x.shape[0])
            # Accumulate on the device: no host sync inside the epoch.
            loss_sum += loss.sum()
            correct += (logits.argmax(axis=1) == y).sum()
        return EpochStats(loss=loss_sum.asscalar() / n, accuracy=correct.asscalar() / n)

    def _device_batches(
        self, data: Any, order: np.ndarray, batch_size: int
    ) -> Iterator[tuple[nd.NDArray, nd.NDArray]]:
        """Batches gathered on the device from ``put``'s arrays by the harness's order."""
        images, labels = data
        # int32 indices: nd.take accepts them and 2**31 examples is far beyond any data set here.
        index = nd.array(order, ctx=self.ctx, dtype="int32")
        for start in range(0, len(order), batch_size):
            batch = index[start : start + batch_size]
            yield nd.take(images, batch), nd.take(labels, batch)

    def evaluate(self, data: Any) -> EvalStats:
        """Mean loss and accuracy over ``data``."""
        images, labels = data
        n = labels.shape[0]
        loss_sum = nd.zeros((1,), ctx=self.ctx)
        correct = nd.zeros((1,), ctx=self.ctx)
        for start in range(0, n, EVAL_BATCH):
            x, y = images[start : start + EVAL_BATCH], labels[start : start + EVAL_BATCH]
            logits = self.net(x)
            loss_sum += self.loss(logits, y).sum()
            correct += (logits.argmax(axis=1) == y).sum()
        return EvalStats(loss=loss_sum.asscalar() / n, accuracy=correct.asscalar() / n)

    def logits(self, data: Any) -> np.ndarray:
        """Logits for ``data`` as float32 numpy."""
        images = data[0]
        parts = [self.net(images[i : i + EVAL_BATCH]) for i in range(0, images.shape[0], EVAL_BATCH)]
        return nd.concat(*parts, dim=0).asnumpy().astype(np.float32, copy=False)

    def sync(self) -> None:
        """Wait for all queued work: MXNet's engine is asynchronous on every device, CPU included."""
        nd.waitall()


def gpu_requirement() -> str:
    """The pinned GPU build from ``requirements-gpu.txt`` (its first requirement line)."""
    for line in (HERE / "requirements-gpu.txt").read_text().splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            return requirement
    raise RuntimeError("impls/mxnet/requirements-gpu.txt names no requirement")


def no_gpu_reason(version: str, cuda_build: bool, error: str | None = None) -> str:
    """Why mxnet has no usable GPU, and what a user with network access installs.

    ``cuda_build``: this mxnet was built with CUDA; ``error``: what ``num_gpus()`` raised, if it did.
    """
    fix = (
        f"`{gpu_requirement()}` (impls/mxnet/requirements-gpu.txt), which needs the CUDA 11.2 runtime "
        "libraries (libcudart, cuBLAS, cuDNN 8) on the machine and an NVIDIA driver for CUDA 11.2"
    )
    if not cuda_build:
        return f"no GPU visible to mxnet {version} (a CPU-only build); on a CUDA machine, install {fix}"
    if error:
        return f"no GPU visible to mxnet {version} (a CUDA build): CUDA failed to initialise ({error}); {fix}"
    return (
        f"no GPU visible to mxnet {version} (a CUDA build): num_gpus() is 0 — no NVIDIA GPU or driver "
        "on this machine (check nvidia-smi)"
    )


def _gpu_count() -> tuple[int, str | None]:
    """(GPUs visible, the error num_gpus() raised or None)."""
    try:
        return mx.context.num_gpus(), None
    except Exception as exc:  # noqa: BLE001 - a broken CUDA install means "no GPU", not a crash
        return 0, f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"


def num_gpus() -> int:
    """GPUs visible to this mxnet build (0 on a CPU build, or when CUDA cannot be initialised)."""
    return _gpu_count()[0]


def context(device: str) -> mx.Context:
    """The mxnet context of a device kind, or Unsupported with the reason."""
    if device == "cpu":
        return mx.cpu()
    if device == "gpu":
        count, error = _gpu_count()
        if count == 0:
            raise Unsupported(no_gpu_reason(mx.__version__, mx.runtime.Features().is_enabled("CUDA"), error))
        return mx.gpu(0)
    raise Unsupported(f"unknown device {device!r}; choose one of: cpu, gpu")


def gpu_name() -> str:
    """The GPU's model name: mxnet has no API for it, so ask nvidia-smi (or fall back to gpu(0))."""
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader", "-i", "0"],
                capture_output=True, text=True, timeout=10, check=True,
            )  # fmt: skip
            if out.stdout.strip():
                return out.stdout.strip().splitlines()[0]
        except (OSError, subprocess.SubprocessError):
            pass
    return "gpu(0)"


def build(spec: ModelSpec, device: str, hybridize: bool) -> GluonModel:
    """Build ``spec`` on the device (mode and precision are checked by ``GluonFramework.build``)."""
    return GluonModel(spec, context(device), hybridize)


def peak_gflops(device: str) -> dict[str, Any]:
    """Time a large fp32 nd.dot (best of 5 after a warm-up) on the device."""
    ctx = context(device)
    n = 8192 if device == "gpu" else 2048  # big enough to reach the BLAS's plateau on each device
    a = nd.random.normal(shape=(n, n), ctx=ctx, dtype="float32")
    b = nd.random.normal(shape=(n, n), ctx=ctx, dtype="float32")
    return time_peak_matmul(lambda: nd.dot(a, b).wait_to_read(), nd.waitall, n, "mxnet nd.dot")


def device_memory_in_use(device: str) -> int | None:
    """Device memory in use on the GPU (None on CPU).

    MXNet has no peak counter; its pooled allocator keeps what it ever allocated, so total - free
    is an upper bound of the peak (it also counts the CUDA context and any other process).
    """
    if device != "gpu" or num_gpus() == 0:
        return None
    try:
        free, total = mx.context.gpu_memory_info(0)
    except Exception:  # noqa: BLE001 - no memory info is "unknown", not a failed run
        return None
    return int(total - free)


BLAS_FEATURES = {
    "BLAS_MKL": "mkl",
    "BLAS_OPEN": "openblas",
    "BLAS_ATLAS": "atlas",
    "BLAS_APPLE": "accelerate",
}


def versions() -> dict[str, str]:
    """mxnet, its backends and numpy."""
    features = mx.runtime.Features()
    blas = [name for feature, name in BLAS_FEATURES.items() if features.is_enabled(feature)]
    return {
        "mxnet": mx.__version__,
        "cuda_build": "yes" if features.is_enabled("CUDA") else "no",
        "mkldnn": "yes" if features.is_enabled("MKLDNN") else "no",
        "blas": blas[0] if blas else "unknown",
        "numpy": np.__version__,
    }
