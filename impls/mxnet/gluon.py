"""LeNet-5 and the MLP in MXNet Gluon: idiomatic ``HybridSequential`` code, hybridized or imperative.

Importing this module imports mxnet, which reads its threading environment (OMP_NUM_THREADS,
MXNET_CPU_WORKER_NTHREADS, ...) once, at import time. Import it only through
``impls.mxnet.GluonFramework``, which sets that environment first.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from typing import Any

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon, nd
from mxnet.gluon import nn

from bench.contract import EpochStats, EvalStats, Unsupported
from bench.specs import ModelSpec

EVAL_BATCH = 1024  # evaluation batch; large enough to amortise per-batch overhead


def lenet() -> nn.HybridSequential:
    """LeNet-5 as in d2l: sigmoid activations and average pooling (Dense flattens C*H*W)."""
    net = nn.HybridSequential()
    net.add(
        nn.Conv2D(channels=6, kernel_size=5, padding=2, activation="sigmoid", in_channels=1),
        nn.AvgPool2D(pool_size=2, strides=2),
        nn.Conv2D(channels=16, kernel_size=5, activation="sigmoid", in_channels=6),
        nn.AvgPool2D(pool_size=2, strides=2),
        nn.Dense(120, activation="sigmoid", in_units=16 * 5 * 5),
        nn.Dense(84, activation="sigmoid", in_units=120),
        nn.Dense(10, in_units=84),
    )
    return net


def mlp() -> nn.HybridSequential:
    """The 784-256-10 ReLU MLP (Dense flattens its N x 1 x 28 x 28 input)."""
    net = nn.HybridSequential()
    net.add(nn.Dense(256, activation="relu", in_units=28 * 28), nn.Dense(10, in_units=256))
    return net


BUILDERS = {"lenet": lenet, "mlp": mlp}
# canonical name -> index in the HybridSequential; MXNet's layouts (NCHW, OIHW, dense out x in,
# flatten C*H*W) already are the canonical ones, so weights are copied as they are.
LAYER_INDEX = {
    "lenet": {"conv1": 0, "conv2": 2, "fc1": 4, "fc2": 5, "fc3": 6},
    "mlp": {"fc1": 0, "fc2": 1},
}
# The spec's initialisers in Gluon terms (set_weights overwrites them; this only makes a freshly
# built model a sensible one). Xavier's defaults (uniform, avg, magnitude 3) are Glorot-uniform.
INITIALIZERS = {"xavier_uniform": mx.init.Xavier, "normal_0.01": lambda: mx.init.Normal(0.01)}


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
        params = {}
        for name, index in LAYER_INDEX[self.spec.name].items():
            layer = self.net[index]
            params[f"{name}.weight"], params[f"{name}.bias"] = layer.weight, layer.bias
        return params

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

    def train_epoch(self, data: Any, order: np.ndarray, batch_size: int, lr: float) -> EpochStats:
        """Plain SGD over the batches given by ``order``."""
        images, labels = data
        self.trainer.set_learning_rate(lr)
        # int32 indices: nd.take accepts them and 2**31 examples is far beyond any data set here.
        index = nd.array(order, ctx=self.ctx, dtype="int32")
        loss_sum = nd.zeros((1,), ctx=self.ctx)
        correct = nd.zeros((1,), ctx=self.ctx)
        n = len(order)
        for start in range(0, n, batch_size):
            batch = index[start : start + batch_size]
            x, y = nd.take(images, batch), nd.take(labels, batch)
            with autograd.record():
                logits = self.net(x)
                loss = self.loss(logits, y)  # per example
            loss.backward()  # d(sum of losses); trainer.step divides by the batch size -> mean loss
            self.trainer.step(batch.shape[0])
            # Accumulate on the device: no host sync inside the epoch.
            loss_sum += loss.sum()
            correct += (logits.argmax(axis=1) == y).sum()
        return EpochStats(loss=loss_sum.asscalar() / n, accuracy=correct.asscalar() / n)

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


def num_gpus() -> int:
    """GPUs visible to this mxnet build (0 on a CPU build, or when CUDA cannot be initialised)."""
    try:
        return mx.context.num_gpus()
    except Exception:  # noqa: BLE001 - a broken CUDA install means "no GPU", not a crash
        return 0


def no_gpu_reason() -> str:
    """Why there is no usable GPU, naming the fix."""
    if not mx.runtime.Features().is_enabled("CUDA"):
        return (
            f"no GPU: mxnet {mx.__version__} is a CPU build "
            "(install mxnet-cu112 with a matching CUDA, see impls/mxnet/requirements-gpu.txt)"
        )
    return f"no GPU visible to mxnet {mx.__version__} (CUDA build, but num_gpus() is 0)"


def context(device: str) -> mx.Context:
    """The mxnet context of a device kind, or Unsupported with the reason."""
    if device == "cpu":
        return mx.cpu()
    if device == "gpu":
        if num_gpus() == 0:
            raise Unsupported(no_gpu_reason())
        return mx.gpu(0)
    raise Unsupported(f"unknown device {device!r}")


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
    """Build ``spec`` on the device."""
    return GluonModel(spec, context(device), hybridize)


def peak_gflops(device: str) -> dict[str, Any]:
    """Time a large fp32 nd.dot (best of 5 after a warm-up) on the device."""
    ctx = context(device)
    n = 8192 if device == "gpu" else 2048  # big enough to reach the BLAS's plateau on each device
    a = nd.random.normal(shape=(n, n), ctx=ctx, dtype="float32")
    b = nd.random.normal(shape=(n, n), ctx=ctx, dtype="float32")
    nd.waitall()
    timings = []
    for _ in range(6):  # the first one warms up the BLAS and is dropped
        start = time.perf_counter()
        nd.dot(a, b).wait_to_read()
        timings.append(time.perf_counter() - start)
    best = min(timings[1:])
    return {"gflops": 2 * n**3 / best / 1e9, "method": f"mxnet nd.dot fp32 {n}x{n}, best of 5"}


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
