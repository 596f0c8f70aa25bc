"""Keras 3 on the JAX backend, beside the native ``jax`` row (``impls.jax``, Flax NNX).

Modes:

``step`` (default) the Keras guide's custom training loop for JAX ("writing a training loop from
         scratch"): ``model.stateless_call`` + ``jax.value_and_grad`` + ``optimizer.stateless_apply``
         in one ``jax.jit`` step, its state donated, each batch gathered on the device from the
         resident data by the harness's order, loss and accuracy summed on the device; the state goes
         back into the Keras variables once per epoch, as the guide does after its loop.
``fit``  ``model.fit`` over the batches in the harness's order (``impls.keras_common.training``), with
         ``jit_compile=True`` (Keras's JAX default) and ``steps_per_execution`` =
         ``FIT_STEPS_PER_EXECUTION``: on JAX that runs that many jitted steps per call of Keras's
         train function (a Python loop, not fused into one program), so callbacks run once per group.

The same jax/jaxlib as the ``jax`` row (``requirements.txt``), and the same environment and
threading: this class is the jax row's ``JaxFramework`` with Keras in place of Flax. XLA reads
``XLA_FLAGS``/``XLA_PYTHON_CLIENT_PREALLOCATE`` when its backend starts and Keras imports jax when it
is imported, so ``__init__`` sets those first, then imports Keras with ``KERAS_BACKEND=jax`` (read
once, at Keras's first import), then ``impls.keras_jax.training`` (the JAX code).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from bench.contract import Unsupported, check_mode, check_precision
from bench.specs import ModelSpec
from impls.jax import (
    MATMUL_PRECISION,
    JaxFramework,
    _cuda_plugin,
    _use_compile_cache,
    set_xla_env,
)
from impls.keras_common import import_keras, keras_settings, keras_versions

if TYPE_CHECKING:
    from impls.keras_jax.training import JaxFitModel, JaxStepModel

FIT_STEPS_PER_EXECUTION = 32  # fit mode: jitted steps per call of Keras's train function
LOOPS = {
    "step": (
        "custom loop (Keras guide, JAX): jax.jit(model.stateless_call + jax.value_and_grad + "
        "optimizer.stateless_apply), state donated, batch gathered on the device by the harness's order"
    ),
}


class KerasJaxFramework(JaxFramework):
    """Keras 3 on JAX behind the common contract (devices, threads and peak as the jax row)."""

    NAME: ClassVar[str] = "keras-jax"
    MODES: ClassVar[tuple[str, ...]] = ("step", "fit")
    NATIVE: ClassVar[str] = "jax"  # the native framework this row is measured against
    NATIVE_MODES: ClassVar[dict[str, str]] = {"step": "jit", "fit": "jit"}  # ... and in which mode

    def __init__(self, threads: int) -> None:  # not JaxFramework's: that one imports Flax
        self.threads = int(threads)
        self._env = set_xla_env(self.threads, "KerasJaxFramework")
        self._keras = import_keras("jax")
        import jax

        from impls.keras_jax import training

        self._jax = jax
        self._training = training
        self.compile_cache = _use_compile_cache(jax)  # as the jax row: FRAMEBENCH_COMPILE_CACHE
        jax.config.update("jax_default_matmul_precision", MATMUL_PRECISION["fp32"])  # true fp32

    def _device(self, device: str) -> Any:
        """The jax row's device lookup; its fix for a missing GPU names this framework's GPU pins."""
        try:
            return super()._device(device)
        except Unsupported as exc:
            native, own = "impls/jax/requirements-gpu.txt", "impls/keras_jax/requirements-gpu.txt"
            raise Unsupported(str(exc).replace(native, own)) from None

    def versions(self) -> dict[str, str]:
        """Keras, its backend, and the jax row's libraries."""
        import jaxlib
        import numpy as np

        keras = self._keras
        return {
            "keras-jax": f"keras {keras.__version__} on jax {self._jax.__version__}",
            **keras_versions(keras),
            "jax": self._jax.__version__,
            "jaxlib": jaxlib.__version__,
            "numpy": np.__version__,
            "cuda_plugin": _cuda_plugin() or "n/a",
        }

    def settings(self, device: str, mode: str, precision: str = "fp32") -> dict[str, Any]:
        """The jax row's threading and numerics, plus Keras's backend, layout and training loop."""
        check_mode(self, mode)
        settings = super().settings(device, mode, precision)
        if mode == "fit":
            loop = self._training.fit_loop(FIT_STEPS_PER_EXECUTION)
        else:
            loop = LOOPS[mode]
        settings.update(keras_settings(self._keras, self.NATIVE, self.NATIVE_MODES[mode], loop))
        settings["default_mode"] = self.MODES[0]
        settings["jit_compile"] = True
        settings["steps_per_execution"] = FIT_STEPS_PER_EXECUTION if mode == "fit" else "n/a (custom loop)"
        return settings

    def build(
        self, spec: ModelSpec, device: str, mode: str, precision: str = "fp32"
    ) -> JaxStepModel | JaxFitModel:
        """Build the model on the device; ``precision`` sets jax_default_matmul_precision (process-wide,
        as in the jax row)."""
        check_mode(self, mode)
        check_precision(precision, device)
        dev = self._device(device)
        self._jax.config.update("jax_default_matmul_precision", MATMUL_PRECISION[precision])
        if mode == "fit":
            return self._training.JaxFitModel(spec, dev, mode, FIT_STEPS_PER_EXECUTION)
        if mode == "step":
            return self._training.JaxStepModel(spec, dev, mode)
        raise Unsupported(f"{self.NAME} has no mode {mode!r}")  # pragma: no cover - check_mode caught it
