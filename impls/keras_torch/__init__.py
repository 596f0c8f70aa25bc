"""Keras 3 on the PyTorch backend, beside the native ``torch`` row (``impls.torch``).

Modes:

``step`` (default) the Keras guide's custom training loop for PyTorch ("writing a training loop from
         scratch"): ``model(x, training=True)``, a Keras loss, ``model.zero_grad()``,
         ``loss.backward()``, then ``optimizer.apply(grads, weights)`` under ``torch.no_grad()``; each
         batch gathered on the device from the resident data by the harness's order, loss and
         accuracy summed on the device and fetched once per epoch.
``fit``  ``model.fit`` over the batches in the harness's order (``impls.keras_common.training``),
         ``jit_compile=False`` (Keras's torch default: eager). ``steps_per_execution`` stays 1: Keras's
         torch trainer refuses anything else ("must be 1 with the PyTorch backend").
``fit-compile`` the same with ``jit_compile=True``, which Keras turns into ``torch.compile`` of its
         train step (the same arithmetic, compiled by Dynamo/Inductor); measured against the torch
         row's ``compile`` mode.

The same torch as the ``torch`` row (``requirements.txt``) and the same threading, TF32 switches,
devices and peak measurement: this class is the torch row's ``TorchFramework`` with Keras in
place of ``nn.Module``. Keras reads ``KERAS_BACKEND`` once, when it is first imported, so
``__init__`` imports it (``impls.keras_common.import_keras``) and then ``impls.keras_torch.training``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from bench.contract import check_mode, check_precision
from bench.specs import ModelSpec
from impls.keras_common import import_keras, keras_settings, keras_versions
from impls.torch import TorchFramework, check_compile_toolchain, set_precision

if TYPE_CHECKING:
    from impls.keras_torch.training import TorchFitModel, TorchStepModel

JIT_COMPILE = {"fit": False, "fit-compile": True}  # the fit modes and their compile(jit_compile=...)


class KerasTorchFramework(TorchFramework):
    """Keras 3 on PyTorch behind the common contract (threads, devices and peak as the torch row)."""

    NAME: ClassVar[str] = "keras-torch"
    MODES: ClassVar[tuple[str, ...]] = ("step", "fit", "fit-compile")
    NATIVE: ClassVar[str] = "torch"  # the native framework this row is measured against
    NATIVE_MODES: ClassVar[dict[str, str]] = {"step": "eager", "fit": "eager", "fit-compile": "compile"}

    def __init__(self, threads: int) -> None:
        super().__init__(threads)  # torch's threads and true fp32, exactly as the torch row
        self._keras = import_keras("torch")
        from impls.keras_torch import training

        self._training = training

    def versions(self) -> dict[str, str]:
        """Keras, its backend, and the torch row's versions."""
        import torch

        keras = self._keras
        return {
            "keras-torch": f"keras {keras.__version__} on torch {torch.__version__}",
            **keras_versions(keras),
            **super().versions(),
        }

    def settings(self, device: str, mode: str, precision: str = "fp32") -> dict[str, Any]:
        """The torch row's threading and numerics, plus Keras's backend, layout and training loop."""
        check_mode(self, mode)
        settings = super().settings(device, mode, precision)
        loop = self._training.LOOPS[mode]
        settings.update(keras_settings(self._keras, self.NATIVE, self.NATIVE_MODES[mode], loop))
        settings.update(
            default_mode=self.MODES[0],
            optimizer="keras.optimizers.SGD (torch backend: torch._foreach_add_ of -lr * grads)",
            compiled=self._training.COMPILED if mode == "fit-compile" else "nothing",
            cuda_graph="none",
            jit_compile=JIT_COMPILE.get(mode, False),
            steps_per_execution=1 if mode in JIT_COMPILE else "n/a (custom loop)",
        )
        return settings

    def build(
        self, spec: ModelSpec, device: str, mode: str, precision: str = "fp32"
    ) -> TorchStepModel | TorchFitModel:
        """Build the model on the device; ``precision`` sets torch's TF32 switches (as the torch row)."""
        check_mode(self, mode)
        check_precision(precision, device)
        dev = self._torch_device(device)
        if mode == "fit-compile":
            check_compile_toolchain(dev)
        set_precision(precision)
        if dev.type == "cuda":
            import torch

            torch.cuda.reset_peak_memory_stats(dev)  # peak_device_memory_bytes is per run
        if mode == "step":
            return self._training.TorchStepModel(spec, dev, mode)
        return self._training.TorchFitModel(spec, dev, mode, jit_compile=JIT_COMPILE[mode])
