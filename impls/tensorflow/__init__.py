"""LeNet-5 and the MLP in TensorFlow/Keras 3: idiomatic ``keras.Sequential`` and a custom train step.

Modes: ``function`` (the train step compiled into a graph with ``tf.function``, the default), ``xla``
(``tf.function(jit_compile=True)``), ``eager`` (no ``tf.function``) and ``epoch-function`` (the
epoch's full batches in one ``tf.function`` call, a ``tf.range`` loop over the step that AutoGraph
turns into a ``tf.while_loop``; the smaller last batch as one more call of the function step: what
Keras's ``steps_per_execution`` does, for the whole epoch). Training is not
``model.fit``: a ``GradientTape`` step is called per batch from ``train_epoch`` on device-resident
data (see ``baseline.py`` for the ``fit`` loop a plain Keras user would write), or, with
``--input native``, on the batches of a ``tf.data`` pipeline (``native_input``).

Keras works in NHWC with HWIO conv kernels and in x out dense kernels; ``set_weights``/``get_weights``
translate from/to the canonical layout (``bench.specs``), including LeNet's flatten, which is C*H*W
canonically but H*W*C in Keras.

This module sets the environment Keras and TF read at import (before importing them, and so before
any module below) and is the framework behind the contract (``TensorflowFramework``: threading, versions,
devices, settings, the TF32 switch, build, peak measurement). The rest, one job per module:

``models.py``    the ``keras.Sequential`` builders (written once in ``impls/keras_common/models.py``)
``training.py``  ``KerasModel``: the train/eval steps in each mode, the epoch loop, evaluation, sync
``native.py``    the native input: a ``tf.data`` pipeline in the harness's order
``runtime.py``   why TF sees no GPU, and what to install
"""

from __future__ import annotations

import os
import shutil
from typing import Any, ClassVar

# Before TensorFlow is imported: Keras 3 must use the TF backend, and TF's C++ INFO chatter
# (oneDNN banners etc.) is hidden unless the user asked for it.
os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

import keras
import numpy as np
import tensorflow as tf

from bench.contract import Unsupported, check_mode, check_precision, time_peak_matmul
from bench.specs import ModelSpec
from impls.tensorflow.runtime import distribution, no_gpu_reason
from impls.tensorflow.training import TF_DEVICES, KerasModel

if keras.backend.backend() != "tensorflow":  # keras was imported earlier with another backend
    raise ImportError(f"impls.tensorflow needs Keras on the TF backend, got {keras.backend.backend()!r}")

__all__ = ["TF_DEVICES", "KerasModel", "TensorflowFramework"]


class TensorflowFramework:
    """TensorFlow with Keras 3 behind the common contract."""

    NAME: ClassVar[str] = "tensorflow"
    MODES: ClassVar[tuple[str, ...]] = ("function", "xla", "eager", "epoch-function")
    WHOLE_EPOCH_MODES: ClassVar[tuple[str, ...]] = ("epoch-function",)  # one tf.function per epoch

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
            "steps_per_call": "the epoch's full batches (a tf.while_loop in one tf.function)"
            if mode == "epoch-function"
            else 1,
            "optimizer": "plain SGD: tf.Variable.assign_sub(lr * grad) per parameter (lr a tensor argument)",
            "epoch_statistics": "summed in device variables inside the step"
            if mode != "eager"
            else "the steps' losses and logits kept, summed once per epoch",
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
