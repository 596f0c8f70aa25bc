"""LeNet-5 and the MLP in PyTorch: idiomatic ``nn.Module`` code, eager or ``torch.compile``."""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.contract import EpochStats, EvalStats, Unsupported
from bench.specs import ModelSpec

EVAL_BATCH = 1024  # evaluation batch; large enough to amortise per-batch overhead


def lenet() -> nn.Module:
    """LeNet-5 as in d2l: sigmoid activations and average pooling."""
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.Sigmoid(),
        nn.Linear(84, 10),
    )  # fmt: skip


def mlp() -> nn.Module:
    """The 784-256-10 ReLU MLP."""
    return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 256), nn.ReLU(), nn.Linear(256, 10))


BUILDERS = {"lenet": lenet, "mlp": mlp}
# canonical name -> index in the nn.Sequential; PyTorch's layouts already are the canonical ones.
LAYER_INDEX = {
    "lenet": {"conv1": 0, "conv2": 3, "fc1": 7, "fc2": 9, "fc3": 11},
    "mlp": {"fc1": 1, "fc2": 3},
}


class TorchModel:
    """A PyTorch model with data resident on its device and plain SGD."""

    def __init__(self, spec: ModelSpec, device: torch.device, mode: str) -> None:
        self.spec = spec
        self.device = device
        self.net = BUILDERS[spec.name]().to(device)
        self.optimizer = torch.optim.SGD(self.net.parameters(), lr=spec.lr)
        self.forward = torch.compile(self.net) if mode == "compile" else self.net

    def _params(self) -> dict[str, nn.Parameter]:
        params = {}
        for name, index in LAYER_INDEX[self.spec.name].items():
            layer = self.net[index]
            params[f"{name}.weight"], params[f"{name}.bias"] = layer.weight, layer.bias
        return params

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Load canonical-layout weights."""
        with torch.no_grad():
            for name, param in self._params().items():
                param.copy_(torch.from_numpy(np.ascontiguousarray(weights[name], dtype=np.float32)))

    def get_weights(self) -> dict[str, np.ndarray]:
        """Return the weights in the canonical layout."""
        return {k: v.detach().cpu().numpy().copy() for k, v in self._params().items()}

    def put(self, images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Copy a data set to the device once."""
        return torch.from_numpy(images).to(self.device), torch.from_numpy(labels).to(self.device)

    def train_epoch(self, data: Any, order: np.ndarray, batch_size: int, lr: float) -> EpochStats:
        """Plain SGD over the batches given by ``order``."""
        images, labels = data
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        index = torch.from_numpy(order).to(self.device)
        n_batches = -(-len(order) // batch_size)
        # Per-batch loss and predictions go into preallocated device buffers (one small copy each),
        # summed once at the end of the epoch: no host sync and little work inside the loop.
        losses = torch.empty(n_batches, device=self.device)
        predictions = torch.empty(len(order), dtype=torch.int64, device=self.device)
        self.net.train()
        for step, start in enumerate(range(0, len(order), batch_size)):
            batch = index[start : start + batch_size]
            x, y = images[batch], labels[batch]
            logits = self.forward(x)
            loss = F.cross_entropy(logits, y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            with torch.no_grad():
                losses[step] = loss
                predictions[start : start + batch_size] = logits.argmax(dim=1)
        sizes = torch.full((n_batches,), float(batch_size), device=self.device)
        sizes[-1] = len(order) - batch_size * (n_batches - 1)
        loss_sum = (losses * sizes).sum().item()
        correct = (predictions == labels[index]).sum().item()
        return EpochStats(loss=loss_sum / len(order), accuracy=correct / len(order))

    @torch.no_grad()
    def evaluate(self, data: Any) -> EvalStats:
        """Mean loss and accuracy over ``data``."""
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
        return self.forward(data[0]).cpu().numpy()

    def sync(self) -> None:
        """Wait for queued CUDA work; CPU ops are synchronous."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


class TorchFramework:
    """PyTorch behind the common contract."""

    NAME: ClassVar[str] = "torch"
    MODES: ClassVar[tuple[str, ...]] = ("eager", "compile")

    def __init__(self, threads: int) -> None:
        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # already set in this process (only possible when reused in tests)
            pass
        # Declared numerics: true fp32 everywhere (no TF32 on Ampere/Hopper), same as the others.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False

    def versions(self) -> dict[str, str]:
        """Framework and backend versions."""
        return {
            "torch": torch.__version__,
            "cuda": str(torch.version.cuda),
            "cudnn": str(torch.backends.cudnn.version()) if torch.cuda.is_available() else "n/a",
            "numpy": np.__version__,
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

    def settings(self, device: str, mode: str) -> dict[str, Any]:
        """Threading and numerics in effect."""
        return {
            "intra_op_threads": torch.get_num_threads(),
            "inter_op_threads": torch.get_num_interop_threads(),
            "dtype": "float32",
            "tf32": torch.backends.cuda.matmul.allow_tf32 or torch.backends.cudnn.allow_tf32,
            "mode": mode,
        }

    def build(self, spec: ModelSpec, device: str, mode: str) -> TorchModel:
        """Build the model on the device."""
        if mode not in self.MODES:
            raise Unsupported(f"torch has no mode {mode!r}; choose one of: {', '.join(self.MODES)}")
        return TorchModel(spec, self._torch_device(device), mode)

    def peak_gflops(self, device: str) -> dict[str, Any]:
        """Time a large fp32 matrix product (best of several) on the device."""
        dev = self._torch_device(device)
        n = 8192 if dev.type == "cuda" else 2048
        a = torch.randn(n, n, device=dev)
        b = torch.randn(n, n, device=dev)
        timings = []
        for _ in range(6):  # the first one warms up the BLAS and is dropped
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            start = time.perf_counter()
            (a @ b).sum().item()
            timings.append(time.perf_counter() - start)
        best = min(timings[1:])
        return {"gflops": 2 * n**3 / best / 1e9, "method": f"torch.matmul fp32 {n}x{n}, best of 5"}

    def peak_device_memory_bytes(self, device: str) -> int | None:
        """Peak CUDA allocation, None on CPU."""
        return torch.cuda.max_memory_allocated() if device == "gpu" and torch.cuda.is_available() else None
