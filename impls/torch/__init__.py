"""LeNet-5 and the MLP in PyTorch: idiomatic ``nn.Module`` code in three modes.

``eager``   the textbook loop: data resident on the device, the harness's permutation uploaded once
            and sliced on the device, ``zero_grad``/forward/``cross_entropy``/``backward``/``step``;
            plain SGD (``p -= lr * g``) as one ``foreach`` update (CPU) or the ``fused`` kernel (CUDA).
``compile`` ``torch.compile`` of the whole training step (forward, loss, backward, ``optimizer.step()``)
            with the learning rate a 0-d device tensor, so a new lr never recompiles (see
            ``COMPILED_STEP`` for exactly what ends up compiled).
``graph``   the whole SGD step (forward, loss, backward, update) captured in one CUDA graph per batch
            shape (the full batch and the epoch's last, smaller one) and replayed per batch, with the
            batch gathered into the graph's static input buffers on the device (CUDA only).

Loss and predictions of every step go into preallocated device buffers and are reduced once per
epoch: no host sync inside the epoch. ``--input native`` feeds ``train_epoch`` from torchvision's
``FashionMNIST`` dataset through a ``DataLoader`` whose sampler follows the harness's order.
"""

from __future__ import annotations

import importlib.util
import shutil
import struct
import tempfile
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Sampler

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
from bench.specs import ModelSpec

# What mode "compile" compiles, as recorded in settings(). Checked by test_torch.py with
# torch._dynamo.explain: Dynamo cannot trace Tensor.backward() (graph break), so the one compiled
# function ends up as two graphs, and every kernel of the step is Inductor-generated.
COMPILED_STEP = (
    "torch.compile(dynamic=False) of the whole step function; Dynamo splits it at loss.backward() "
    "into 2 graphs: [forward + cross_entropy + argmax, whose backward AOTAutograd compiles and the "
    "autograd engine runs] and [optimizer.step(): SGD foreach, lr a 0-d device tensor]; "
    "zero_grad(set_to_none=True) runs outside; one compile per batch shape; evaluation compiled too"
)
GRAPH_WARMUP_STEPS = 3  # eager steps on a side stream before capture, as torch's CUDA-graph docs require


def lenet() -> nn.Sequential:
    """LeNet-5 as in d2l: sigmoid activations and average pooling; layers named as in the spec."""
    return nn.Sequential(
        OrderedDict(
            [
                ("conv1", nn.Conv2d(1, 6, kernel_size=5, padding=2)),
                ("sigmoid1", nn.Sigmoid()),
                ("pool1", nn.AvgPool2d(kernel_size=2, stride=2)),
                ("conv2", nn.Conv2d(6, 16, kernel_size=5)),
                ("sigmoid2", nn.Sigmoid()),
                ("pool2", nn.AvgPool2d(kernel_size=2, stride=2)),
                ("flatten", nn.Flatten()),  # C x H x W order: the canonical layout
                ("fc1", nn.Linear(16 * 5 * 5, 120)),
                ("sigmoid3", nn.Sigmoid()),
                ("fc2", nn.Linear(120, 84)),
                ("sigmoid4", nn.Sigmoid()),
                ("fc3", nn.Linear(84, 10)),
            ]
        )
    )


def mlp() -> nn.Sequential:
    """The 784-256-10 ReLU MLP."""
    return nn.Sequential(
        OrderedDict(
            [
                ("flatten", nn.Flatten()),
                ("fc1", nn.Linear(28 * 28, 256)),
                ("relu", nn.ReLU()),
                ("fc2", nn.Linear(256, 10)),
            ]
        )
    )


BUILDERS = {"lenet": lenet, "mlp": mlp}


def set_precision(precision: str) -> None:
    """fp32: TF32 off for cuBLAS and cuDNN; tf32: both on. Process-wide switches, set by ``build``
    (the runner builds one model per process, so the run's model is the one they apply to)."""
    tf32 = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32


def tf32_enabled() -> bool:
    """Whether either TF32 switch is on."""
    return bool(torch.backends.cuda.matmul.allow_tf32 or torch.backends.cudnn.allow_tf32)


def sgd_optimizer(params: Any, device: torch.device, mode: str, lr: float) -> torch.optim.SGD:
    """Plain SGD (no momentum, no weight decay: ``p -= lr * g``) in the implementation each mode uses.

    eager on CUDA: ``fused=True`` (one kernel for all parameters); otherwise ``foreach=True``
    (graph mode keeps ``foreach``, the path torch's whole-network CUDA-graph example captures).
    Both compute ``p - lr * g`` per element in float32 (CUDA may contract it into one FMA in
    either kernel); on CPU they are bit-identical (tested); on CUDA that can only be checked on a GPU.
    """
    if device.type == "cuda" and mode == "eager":
        return torch.optim.SGD(params, lr=lr, fused=True)
    return torch.optim.SGD(params, lr=lr, foreach=True)


def optimizer_description(device: str, mode: str) -> str:
    """How the update runs, for settings()."""
    if mode == "compile":
        return "torch.optim.SGD(foreach=True, lr=0-d tensor), traced and compiled by Inductor"
    if device == "gpu" and mode == "eager":
        return "torch.optim.SGD(fused=True)"
    if mode == "graph":
        return "torch.optim.SGD(foreach=True), captured in the CUDA graph with lr baked in"
    return "torch.optim.SGD(foreach=True)"


# ----------------------------------------------------------------------------------------------
# the native input path: torchvision's FashionMNIST + DataLoader in the harness's order

IDX_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def idx_bytes(array: np.ndarray) -> bytes:
    """The (uncompressed) IDX file of a uint8 array: magic 0x0000 08 <ndim>, big-endian dims, data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def fashion_mnist(source: NativeSource) -> Any:
    """torchvision's ``FashionMNIST(root, train=..., download=False, transform=ToTensor())`` over the
    harness's verified arrays.

    torchvision reads ``<root>/FashionMNIST/raw/<split>-{images-idx3,labels-idx1}-ubyte``
    (uncompressed). Those two files are written from ``source.images``/``source.labels`` (the bytes
    ``bench.data`` decompressed and verified) into a private temporary root; nothing is downloaded.
    torchvision also insists that the other split's two files exist, though it never opens them for
    this split: they are written as valid IDX files with zero examples. The dataset holds its
    tensors in memory once built, so the root is deleted right away; the result is checked to equal
    the verified arrays.
    """
    try:
        from torchvision import datasets, transforms
    except Exception as exc:  # noqa: BLE001 - ImportError, or torchvision built for another torch
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise Unsupported(
            f"the native input path needs torchvision built for torch {torch.__version__} "
            f"(impls/torch/requirements.txt pins the pair): {first}"
        ) from None

    if source.split not in IDX_NAMES:
        raise ValueError(f"unknown split {source.split!r}; expected 'train' or 'test'")
    labels = np.asarray(source.labels)
    if labels.min(initial=0) < 0 or labels.max(initial=0) > 255:
        raise ValueError("Fashion-MNIST labels must be 0-255 to be written as an IDX file")
    root = Path(tempfile.mkdtemp(prefix="framebench-torchvision-"))
    try:
        raw = root / "FashionMNIST" / "raw"
        raw.mkdir(parents=True)
        for split, (image_file, label_file) in IDX_NAMES.items():
            if split == source.split:
                images, split_labels = source.images, labels.astype(np.uint8)
            else:  # present only because torchvision checks for all four files
                images, split_labels = np.zeros((0, 28, 28), np.uint8), np.zeros((0,), np.uint8)
            (raw / image_file).write_bytes(idx_bytes(images))
            (raw / label_file).write_bytes(idx_bytes(split_labels))
        dataset = datasets.FashionMNIST(
            str(root), train=source.split == "train", download=False, transform=transforms.ToTensor()
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if not (
        np.array_equal(dataset.data.numpy(), source.images)
        and np.array_equal(dataset.targets.numpy(), labels)
    ):
        raise RuntimeError("torchvision's FashionMNIST does not hold the verified arrays it was given")
    return dataset


class OrderSampler(Sampler[int]):
    """Yields the harness's order for the coming epoch; ``set_order`` before each epoch.

    A DataLoader iterates its sampler in the main process and sends index batches to its workers,
    so persistent workers follow each new order too.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.order = np.arange(size)

    def set_order(self, order: np.ndarray) -> None:
        order = np.asarray(order, dtype=np.int64)
        if order.ndim != 1 or (len(order) and (order.min() < 0 or order.max() >= self.size)):
            raise ValueError(f"order must be 1-D indices into {self.size} examples")
        self.order = order

    def __iter__(self) -> Iterator[int]:
        return iter(self.order.tolist())

    def __len__(self) -> int:
        return len(self.order)


class NativeData:
    """A torchvision dataset and one DataLoader per batch size, all drawing from one OrderSampler."""

    def __init__(self, dataset: Any, workers: int, pin_memory: bool) -> None:
        self.dataset = dataset
        self.workers = workers
        self.pin_memory = pin_memory
        self.sampler = OrderSampler(len(dataset))
        self.loaders: dict[int, DataLoader] = {}

    def loader(self, batch_size: int) -> DataLoader:
        """The DataLoader for ``batch_size`` (built on first use; its workers persist across epochs)."""
        if batch_size not in self.loaders:
            self.loaders[batch_size] = DataLoader(
                self.dataset,
                batch_size=batch_size,
                sampler=self.sampler,
                drop_last=False,  # the last, smaller batch is trained on, as on the device path
                num_workers=self.workers,
                pin_memory=self.pin_memory,
                persistent_workers=self.workers > 0,
            )
        return self.loaders[batch_size]

    def epoch(self, order: np.ndarray, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The host batches (float32 B x 1 x 28 x 28, int64 B) of ``order`` in order."""
        self.sampler.set_order(order)
        yield from self.loader(batch_size)


# ----------------------------------------------------------------------------------------------


@dataclass
class CapturedStep:
    """One CUDA graph of the whole SGD step for one batch size, with its static tensors."""

    graph: Any  # torch.cuda.CUDAGraph
    images: torch.Tensor  # static inputs: a batch is copied/gathered into these before replay
    labels: torch.Tensor
    loss: torch.Tensor  # static outputs, overwritten by every replay
    predictions: torch.Tensor


class TorchModel:
    """A PyTorch model on one device, trained with plain SGD in one of the modes."""

    def __init__(self, spec: ModelSpec, device: torch.device, mode: str = "eager") -> None:
        self.spec = spec
        self.device = device
        self.mode = mode
        self.net = BUILDERS[spec.name]().to(device)
        # nn.Sequential(OrderedDict) names the parameters exactly as the canonical weights
        # ("conv1.weight", ...), and PyTorch's layouts (OIHW, out x in, C*H*W flatten) are canonical.
        self.params = dict(self.net.named_parameters())
        self.graphs: dict[int, CapturedStep] = {}
        self.graph_lr: float | None = None
        if mode == "compile":
            # lr as a 0-d tensor on the device: a new lr is an in-place fill, never a recompile.
            self.lr = torch.tensor(spec.lr, dtype=torch.float32, device=device)
            self.optimizer = torch.optim.SGD(self.net.parameters(), lr=self.lr, foreach=True)
            self.step = torch.compile(self._train_step, dynamic=False)
            self.forward = torch.compile(self.net, dynamic=False)
        else:
            self.optimizer = sgd_optimizer(self.net.parameters(), device, mode, spec.lr)
            self.step = self._train_step
            self.forward = self.net

    # -- weights and data

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Load canonical-layout weights (in place: captured graphs keep pointing at them)."""
        with torch.no_grad():
            for name, param in self.params.items():
                param.copy_(torch.from_numpy(np.ascontiguousarray(weights[name], dtype=np.float32)))

    def get_weights(self) -> dict[str, np.ndarray]:
        """Return the weights in the canonical layout."""
        return {k: v.detach().cpu().numpy().copy() for k, v in self.params.items()}

    def put(self, images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Copy a data set to the device once."""
        return torch.from_numpy(images).to(self.device), torch.from_numpy(labels).to(self.device)

    def native_input(self, source: NativeSource) -> NativeData:
        """torchvision's FashionMNIST over the verified arrays, read through a DataLoader with
        ``source.workers`` workers (pinned host memory when training on CUDA)."""
        return NativeData(fashion_mnist(source), source.workers, pin_memory=self.device.type == "cuda")

    def native_batches(
        self, data: NativeData, order: np.ndarray, batch_size: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The DataLoader's host batches for ``order``: the loader ``train_epoch`` consumes."""
        for images, labels in data.epoch(order, batch_size):
            yield images.numpy(), labels.numpy()

    # -- training

    def _train_step(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward, mean cross-entropy, backward, SGD update; grads must be None on entry."""
        logits = self.net(images)
        loss = F.cross_entropy(logits, labels)
        # detach and argmax before backward: they join the forward graph under torch.compile
        value, predictions = loss.detach(), logits.detach().argmax(dim=1)
        loss.backward()
        self.optimizer.step()
        return value, predictions

    def _set_lr(self, lr: float) -> None:
        if self.mode == "compile":
            self.lr.fill_(lr)
            return
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if self.mode == "graph" and self.graph_lr != lr:
            self.graphs.clear()  # the lr is baked into the captured update: capture again
            self.graph_lr = lr

    def _capture(self, size: int) -> CapturedStep:
        """Capture the whole step for batches of ``size`` (torch's "whole network capture" recipe).

        The warm-up steps train on zeros, so the weights are saved before and restored after them;
        the capture itself runs no kernel. ``zero_grad(set_to_none=True)`` before capture makes the
        graph's backward allocate the gradients from its private pool (assigned, not accumulated).
        """
        images = torch.zeros((size, 1, 28, 28), device=self.device)
        labels = torch.zeros((size,), dtype=torch.int64, device=self.device)
        saved = [p.detach().clone() for p in self.params.values()]
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(GRAPH_WARMUP_STEPS):
                self.optimizer.zero_grad(set_to_none=True)
                self._train_step(images, labels)
        torch.cuda.current_stream(self.device).wait_stream(side)
        with torch.no_grad():
            for param, value in zip(self.params.values(), saved, strict=True):
                param.copy_(value)
        graph = torch.cuda.CUDAGraph()
        self.optimizer.zero_grad(set_to_none=True)
        # Captured on the warm-up stream, whose cuBLAS/cuDNN handles and workspaces the warm-up has
        # created (what make_graphed_callables does); entering synchronises the device first, so
        # the restore above has landed.
        with torch.cuda.graph(graph, stream=side):
            loss, predictions = self._train_step(images, labels)
        return CapturedStep(graph, images, labels, loss, predictions)

    def _graph(self, size: int) -> CapturedStep:
        if size not in self.graphs:
            self.graphs[size] = self._capture(size)
        return self.graphs[size]

    def train_epoch(self, data: Any, order: np.ndarray, batch_size: int, lr: float) -> EpochStats:
        """Plain SGD over the batches ``order[i:i + batch_size]``, from ``put``'s device tensors or a
        ``NativeData`` loader; one host sync, at the end of the epoch."""
        n = len(order)
        n_batches = -(-n // batch_size)
        self._set_lr(lr)
        if self.mode == "graph":  # capture before the loop: the full batch and the last one
            for size in {batch_size, n - batch_size * (n_batches - 1)}:
                self._graph(size)
        # Per-batch loss and predictions go into preallocated device buffers (one small copy each),
        # reduced once at the end of the epoch: no host sync and little work inside the loop.
        losses = torch.empty(n_batches, device=self.device)
        predictions = torch.empty(n, dtype=torch.int64, device=self.device)
        self.net.train()
        if isinstance(data, NativeData):
            targets = torch.empty(n, dtype=torch.int64, device=self.device)
            start = 0
            for step, (images, labels) in enumerate(data.epoch(order, batch_size)):
                size = len(labels)
                if self.mode == "graph":
                    captured = self._graph(size)
                    captured.images.copy_(images, non_blocking=data.pin_memory)
                    captured.labels.copy_(labels, non_blocking=data.pin_memory)
                    loss, batch_predictions = self._replay(captured)
                    targets[start : start + size] = captured.labels
                else:
                    x = images.to(self.device, non_blocking=data.pin_memory)
                    y = labels.to(self.device, non_blocking=data.pin_memory)
                    self.optimizer.zero_grad(set_to_none=True)
                    loss, batch_predictions = self.step(x, y)
                    targets[start : start + size] = y
                losses[step] = loss
                predictions[start : start + size] = batch_predictions
                start += size
        else:
            images, labels = data
            index = torch.from_numpy(np.asarray(order, dtype=np.int64)).to(self.device)
            targets = labels[index]
            for step, start in enumerate(range(0, n, batch_size)):
                batch = index[start : start + batch_size]
                if self.mode == "graph":
                    captured = self._graph(min(batch_size, n - start))
                    torch.index_select(images, 0, batch, out=captured.images)
                    torch.index_select(labels, 0, batch, out=captured.labels)
                    loss, batch_predictions = self._replay(captured)
                else:
                    self.optimizer.zero_grad(set_to_none=True)
                    loss, batch_predictions = self.step(images[batch], labels[batch])
                losses[step] = loss
                predictions[start : start + batch_size] = batch_predictions
        sizes = torch.full((n_batches,), float(batch_size), device=self.device)
        sizes[-1] = n - batch_size * (n_batches - 1)
        loss_sum = (losses * sizes).sum().item()
        correct = (predictions == targets).sum().item()
        return EpochStats(loss=loss_sum / n, accuracy=correct / n)

    @staticmethod
    def _replay(captured: CapturedStep) -> tuple[torch.Tensor, torch.Tensor]:
        captured.graph.replay()
        return captured.loss, captured.predictions  # read (copied) before the next replay, in order

    @torch.no_grad()
    def evaluate(self, data: Any) -> EvalStats:
        """Mean loss and accuracy over ``data`` (eager network in graph mode)."""
        images, labels = data
        self.net.eval()
        loss_sum, correct = torch.zeros((), device=self.device), torch.zeros((), device=self.device)
        for start in range(0, len(labels), EVAL_BATCH):
            x, y = images[start : start + EVAL_BATCH], labels[start : start + EVAL_BATCH]
            logits = self.forward(x)
            loss_sum += F.cross_entropy(logits, y, reduction="sum")
            correct += (logits.argmax(dim=1) == y).sum()
        return EvalStats(loss=loss_sum.item() / len(labels), accuracy=correct.item() / len(labels))

    @torch.no_grad()
    def logits(self, data: Any) -> np.ndarray:
        """Logits for ``data`` as float32 numpy."""
        self.net.eval()
        images = data[0]
        chunks = [self.forward(images[i : i + EVAL_BATCH]).cpu() for i in range(0, len(images), EVAL_BATCH)]
        return torch.cat(chunks).numpy()

    def sync(self) -> None:
        """Wait for queued CUDA work; CPU ops are synchronous."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


class TorchFramework:
    """PyTorch behind the common contract."""

    NAME: ClassVar[str] = "torch"
    MODES: ClassVar[tuple[str, ...]] = ("eager", "compile", "graph")

    def __init__(self, threads: int) -> None:
        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # already set in this process (only possible when reused in tests)
            pass
        set_precision("fp32")  # declared numerics: true fp32 unless a build asks for tf32

    def versions(self) -> dict[str, str]:
        """Framework and backend versions; the GPU's identity when CUDA sees one."""
        try:
            import torchvision

            vision = torchvision.__version__
        except Exception as exc:  # noqa: BLE001 - recorded, not fatal: only the native input needs it
            vision = f"unavailable ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
        versions = {
            "torch": torch.__version__,
            "torchvision": vision,
            "cuda": str(torch.version.cuda),
            "cudnn": str(cudnn) if cudnn else "n/a",
            "numpy": np.__version__,
        }
        if torch.cuda.is_available():
            versions.update(self._gpu_properties())
        return versions

    @staticmethod
    def _gpu_properties() -> dict[str, str]:
        props = torch.cuda.get_device_properties(0)
        return {
            "gpu": props.name,
            "gpu_total_memory_bytes": str(props.total_memory),
            "gpu_compute_capability": f"{props.major}.{props.minor}",
        }

    def devices(self) -> list[str]:
        """CPU always; GPU when CUDA sees one."""
        return ["cpu", "gpu"] if torch.cuda.is_available() else ["cpu"]

    def _torch_device(self, device: str) -> torch.device:
        if device == "cpu":
            return torch.device("cpu")
        if device == "gpu":
            if not torch.cuda.is_available():
                build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
                raise Unsupported(f"no CUDA GPU visible to torch {torch.__version__} ({build})")
            return torch.device("cuda", 0)
        raise Unsupported(f"unknown device {device!r}")

    def device_name(self, device: str) -> str:
        """GPU model name, or 'cpu'."""
        dev = self._torch_device(device)
        return torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"

    def settings(self, device: str, mode: str, precision: str = "fp32") -> dict[str, Any]:
        """Threading and numerics in effect (the TF32 switches as ``build`` left them)."""
        check_mode(self, mode)
        check_precision(precision, device)
        settings = {
            "intra_op_threads": torch.get_num_threads(),
            "inter_op_threads": torch.get_num_interop_threads(),
            "dtype": "float32",
            "precision": precision,
            "tf32": tf32_enabled(),
            "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
            "tf32_cudnn": bool(torch.backends.cudnn.allow_tf32),
            "mode": mode,
            "optimizer": optimizer_description(device, mode),
            "compiled": COMPILED_STEP if mode == "compile" else "nothing",
            "cuda_graph": (
                "whole SGD step per batch shape (full and last batch), replayed per batch; evaluation eager"
                if mode == "graph"
                else "none"
            ),
            "float32_matmul_precision": torch.get_float32_matmul_precision(),
            "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        }
        if device == "gpu" and torch.cuda.is_available():
            settings.update(self._gpu_properties())
        return settings

    def build(self, spec: ModelSpec, device: str, mode: str, precision: str = "fp32") -> TorchModel:
        """Build the model on the device; ``precision`` sets the TF32 switches (see ``set_precision``)."""
        check_mode(self, mode)
        check_precision(precision, device)
        dev = self._torch_device(device)
        if mode == "graph" and dev.type != "cuda":
            raise Unsupported(
                "graph mode captures CUDA graphs and needs a CUDA GPU; run it with --devices gpu "
                "on a machine with one"
            )
        if mode == "compile" and dev.type == "cpu" and not (shutil.which("g++") or shutil.which("c++")):
            raise Unsupported("torch.compile on CPU generates C++ and needs a C++ compiler (g++) on PATH")
        if mode == "compile" and dev.type == "cuda" and importlib.util.find_spec("triton") is None:
            raise Unsupported(
                "torch.compile on CUDA generates Triton kernels and needs the triton package "
                "(a dependency of torch's CUDA wheels)"
            )
        set_precision(precision)
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)  # peak_device_memory_bytes is per run
        return TorchModel(spec, dev, mode)

    def peak_gflops(self, device: str) -> dict[str, Any]:
        """Time a large fp32 matrix product (best of several), TF32 off during the measurement."""
        dev = self._torch_device(device)
        n = 8192 if dev.type == "cuda" else 2048
        a = torch.randn(n, n, device=dev)
        b = torch.randn(n, n, device=dev)
        out = torch.empty(n, n, device=dev)

        def sync() -> None:
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)

        saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
        set_precision("fp32")
        try:
            return time_peak_matmul(lambda: torch.mm(a, b, out=out), sync, n, "torch.mm")
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved

    def peak_device_memory_bytes(self, device: str) -> int | None:
        """Peak CUDA allocation since ``build`` reset it; None on CPU."""
        if device == "gpu" and torch.cuda.is_available():
            return torch.cuda.max_memory_allocated(torch.device("cuda", 0))
        return None
