"""Test-only frameworks behind the real contract, built on the NumPy oracle (no DL framework needed).

Registered for a test through $FRAMEBENCH_EXTRA_FRAMEWORKS. ``numpy`` genuinely trains (float64
oracle; fast enough for the MLP); the others inject faults: a native crash, a slow epoch (to be
killed), a Python exception, a framework with a GPU it cannot use, a hang in train_epoch, a child that
SIGSTOPs itself, and a crash that leaves a helper process holding stdout open.
"""

from __future__ import annotations

import glob
import os
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from bench import reference
from bench.contract import EpochStats, EvalStats, Unsupported, check_mode, check_precision
from bench.specs import ModelSpec


@dataclass(frozen=True)
class NativeData:
    images: np.ndarray  # uint8 N x 28 x 28
    labels: np.ndarray


class NumpyModel:
    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.weights = {k: v.astype(np.float64) for k, v in spec.initial_weights(0).items()}

    def set_weights(self, weights):
        self.weights = {k: np.asarray(v, np.float64).copy() for k, v in weights.items()}

    def get_weights(self):
        return {k: v.astype(np.float32) for k, v in self.weights.items()}

    def put(self, images, labels):
        return images, labels

    def native_input(self, source):
        """A plain-Python "loader" over the raw uint8 pixels (converted per batch, as loaders do)."""
        return NativeData(source.images, source.labels)

    def native_batches(self, data, order, batch_size):
        if isinstance(data, NativeData):
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                yield (data.images[idx].astype(np.float32) / np.float32(255.0))[:, None], data.labels[idx]
        else:
            images, labels = data
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                yield images[idx], labels[idx]

    def train_epoch(self, data, order, batch_size, lr):
        loss_sum = correct = 0.0
        for x, y in self.native_batches(data, order, batch_size):
            loss, logits, grads = reference.loss_and_grads(self.spec, self.weights, x, y)
            for k in self.weights:
                self.weights[k] -= lr * grads[k]
            loss_sum += loss * len(y)
            correct += float((logits.argmax(1) == y).sum())
        return EpochStats(loss_sum / len(order), correct / len(order))

    def evaluate(self, data):
        logits = self.logits(data)
        loss, _ = reference.softmax_cross_entropy(logits, data[1])
        return EvalStats(loss, float((logits.argmax(1) == data[1]).mean()))

    def logits(self, data):
        return reference.forward(self.spec, self.weights, data[0])[0].astype(np.float32)

    def sync(self):
        pass


class NumpyFramework:
    NAME: ClassVar[str] = "numpy"
    MODES: ClassVar[tuple[str, ...]] = ("float64",)
    model_class: ClassVar[type] = NumpyModel

    def __init__(self, threads: int) -> None:
        self.threads = threads

    @staticmethod
    def preload(threads: int) -> list[str]:
        return ["numpy"]

    def versions(self) -> dict[str, str]:
        return {"numpy": np.__version__}

    def devices(self) -> list[str]:
        return ["cpu"]

    def device_name(self, device: str) -> str:
        if device != "cpu":
            raise Unsupported(f"the numpy oracle has no {device}")
        return "cpu"

    def settings(self, device: str, mode: str, precision: str = "fp32") -> dict[str, Any]:
        return {"intra_op_threads": self.threads, "inter_op_threads": 1, "dtype": "float32", "mode": mode,
                "precision": precision}  # fmt: skip

    def build(self, spec: ModelSpec, device: str, mode: str, precision: str = "fp32"):
        check_mode(self, mode)
        self.device_name(device)
        check_precision(precision, device)
        return self.model_class(spec)

    def peak_gflops(self, device: str) -> dict[str, Any]:
        a = np.ones((512, 512), np.float32)
        best = float("inf")
        for _ in range(5):  # best of 5: one cold call underestimates the peak (a share above 100%)
            start = time.perf_counter()
            a @ a
            best = min(best, time.perf_counter() - start)
        return {"gflops": 2 * 512**3 / best / 1e9, "method": "numpy 512, best of 5"}

    def peak_device_memory_bytes(self, device: str):
        return None


class CrashModel(NumpyModel):
    def train_epoch(self, data, order, batch_size, lr):
        os.abort()  # a native crash, as a segfaulting framework would


class CrashFramework(NumpyFramework):
    NAME = "crashy"
    model_class = CrashModel


class SlowModel(NumpyModel):
    """Sleeps $FRAMEBENCH_TEST_SLEEP s per epoch ($FRAMEBENCH_TEST_SLEEP_LATER s in every run after the
    first); each run that starts training writes a marker holding its process id: ``started``,
    ``started.2``, ``started.3``... (written whole, then renamed: a marker that exists is complete)."""

    native_input = None  # this framework has no native pipeline: its native runs are skipped

    def train_epoch(self, data, order, batch_size, lr):
        marker = os.environ.get("FRAMEBENCH_TEST_MARKER")
        sleep = float(os.environ.get("FRAMEBENCH_TEST_SLEEP", "0"))
        if marker:
            earlier = len(glob.glob(glob.escape(marker) + "*"))
            name = marker if earlier == 0 else f"{marker}.{earlier + 1}"
            tmp = os.path.join(os.path.dirname(marker), f".tmp-{os.getpid()}")
            with open(tmp, "w") as handle:  # training started, in this process
                handle.write(str(os.getpid()))
            os.replace(tmp, name)
            if earlier and "FRAMEBENCH_TEST_SLEEP_LATER" in os.environ:
                sleep = float(os.environ["FRAMEBENCH_TEST_SLEEP_LATER"])
        time.sleep(sleep)
        return super().train_epoch(data, order[:2048], batch_size, lr)


class SlowFramework(NumpyFramework):
    NAME = "slow"
    model_class = SlowModel


class RaisingModel(NumpyModel):
    def train_epoch(self, data, order, batch_size, lr):
        raise RuntimeError("simulated framework error: CUDNN_STATUS_INTERNAL_ERROR")


class RaisingFramework(NumpyFramework):
    NAME = "raising"
    model_class = RaisingModel


class ThreadedFramework(NumpyFramework):
    """Its preload starts a thread: a fork server must refuse it (its runs start fresh)."""

    NAME = "threaded"

    @staticmethod
    def preload(threads: int) -> list[str]:
        import threading

        threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()
        return ["a thread"]


class PlainFramework(NumpyFramework):
    """No preload: its runs always start fresh."""

    NAME = "plain"
    preload = None


def _mark(name: str) -> None:
    """Write $FRAMEBENCH_TEST_MARKER-derived marker ``name`` holding this process's id (whole, then
    renamed: a marker that exists is complete)."""
    marker = os.environ.get("FRAMEBENCH_TEST_MARKER")
    if not marker:
        return
    path = f"{marker}.{name}" if name else marker
    tmp = os.path.join(os.path.dirname(marker), f".tmp-{name}-{os.getpid()}")
    with open(tmp, "w") as handle:
        handle.write(str(os.getpid()))
    os.replace(tmp, path)


class HangModel(NumpyModel):
    """Blocks forever in train_epoch of epoch $FRAMEBENCH_TEST_HANG_EPOCH (default 1), after writing the
    marker ``hung``; earlier epochs train 2,048 examples."""

    native_input = None
    epochs_done = 0

    def train_epoch(self, data, order, batch_size, lr):
        self.epochs_done += 1
        if self.epochs_done >= int(os.environ.get("FRAMEBENCH_TEST_HANG_EPOCH", "1")):
            _mark("hung")
            threading.Event().wait()  # a deadlock: no progress, ever
        return super().train_epoch(data, order[:2048], batch_size, lr)


class HangFramework(NumpyFramework):
    NAME = "hang"
    model_class = HangModel


class StoppedModel(NumpyModel):
    """SIGSTOPs itself in train_epoch of epoch $FRAMEBENCH_TEST_HANG_EPOCH (default 1), after writing
    the marker ``stopped``."""

    native_input = None
    epochs_done = 0

    def train_epoch(self, data, order, batch_size, lr):
        self.epochs_done += 1
        if self.epochs_done >= int(os.environ.get("FRAMEBENCH_TEST_HANG_EPOCH", "1")):
            _mark("stopped")
            os.kill(os.getpid(), signal.SIGSTOP)
        return super().train_epoch(data, order[:2048], batch_size, lr)


class StoppedFramework(NumpyFramework):
    NAME = "stopped"
    model_class = StoppedModel


class OrphanModel(NumpyModel):
    """Starts a helper process that inherits stdout and outlives everything (it sleeps an hour), writes
    the helper's pid to the marker ``helper``, then crashes natively."""

    native_input = None

    def train_epoch(self, data, order, batch_size, lr):
        import subprocess
        import sys

        helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])  # keeps stdout
        marker = os.environ.get("FRAMEBENCH_TEST_MARKER")
        if marker:
            tmp = f"{marker}.tmp-helper"
            with open(tmp, "w") as handle:
                handle.write(str(helper.pid))
            os.replace(tmp, f"{marker}.helper")
        os.abort()


class OrphanFramework(NumpyFramework):
    NAME = "orphan"
    model_class = OrphanModel
