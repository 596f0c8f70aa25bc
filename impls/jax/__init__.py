"""JAX with Flax NNX behind the common contract: ``nnx.Module`` models, optax SGD, grain input.

Modes: ``jit`` (one ``jax.jit``-compiled SGD step per batch, dispatched asynchronously; the default)
and ``scan`` (an epoch's full batches in one compiled ``jax.lax.scan``, the smaller last batch as one
more jitted step). Both gather each batch on the device from the device-resident data with the
harness's permutation. With ``--input native`` the batches come from a grain pipeline instead (mode
``jit`` only: a host pipeline cannot be scanned over, so ``scan`` refuses it and is recorded skipped).
``scan`` is measured, not tuned: on XLA's CPU backend LeNet's weight-gradient convolutions inside the
scan body keep a non-canonical layout (``dim_labels=f01b_i01o->01bf`` in the compiled HLO, where the
jitted step has ``b01f_01io->b01f``) and an epoch takes about 4x longer than in ``jit``; the MLP is
slightly faster in ``scan``.

XLA reads ``XLA_FLAGS`` and ``XLA_PYTHON_CLIENT_PREALLOCATE`` once, when its backend starts, so this
module does not import jax: ``JaxFramework(threads)`` sets the environment first and then imports
``impls.jax.training`` (the module with the JAX code). What was set is reported by ``settings()``.

Threads, truthfully: XLA's CPU backend has no intra-op thread-count setting that JAX exposes. Its
thread pool has one thread per CPU the process may run on, and ``OMP_NUM_THREADS`` & co. do not
apply to it. The one relevant switch is ``--xla_cpu_multi_thread_eigen=false``, which makes the
Eigen matmul/conv library calls single-threaded (set here when ``threads == 1``); XLA's own
parallel loops and concurrent thunks still use the pool. So ``settings()`` reports
``intra_op_threads`` as the pool size when ``threads`` covers every core, and "not pinnable"
otherwise, with a ``threads_note`` saying what was set.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import sys
import warnings
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar

from bench.contract import Unsupported, check_mode, check_precision, time_peak_matmul
from bench.specs import ModelSpec

if TYPE_CHECKING:
    from impls.jax.training import FlaxModel

# Read by XLA when its backend starts: allocate GPU memory on demand (default: grab 75 % of it up
# front), so peak_device_memory_bytes is what the run used and other processes can share the GPU.
FIXED_ENV = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
SINGLE_THREAD_FLAG = "--xla_cpu_multi_thread_eigen=false"
MATMUL_PRECISION = {"fp32": "highest", "tf32": "tensorfloat32"}  # jax_default_matmul_precision
GPU_PIN = "jax[cuda13]==0.10.2"  # impls/jax/requirements-gpu.txt
CUDA_PLUGINS = ("jax-cuda13-plugin", "jax-cuda12-plugin")

# A directory named here holds XLA's persistent compilation cache, so every run of a cell after the
# first loads its compiled executables instead of compiling them again (every executable is cached:
# the time and size thresholds are lowered to nothing).
COMPILE_CACHE_ENV = "FRAMEBENCH_COMPILE_CACHE"

# The environment jax was imported with by this package (None: not imported by us).
_import_env: dict[str, str] | None = None


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def set_xla_env(threads: int, importer: str = "JaxFramework") -> dict[str, str]:
    """Set what XLA reads at start-up (once per process, before jax is first imported) and return it;
    the jax row and the keras-jax row share this, so their XLA environments are the same."""
    global _import_env
    if _import_env is None:
        if "jax" in sys.modules:
            warnings.warn(
                f"jax was imported before {importer}; XLA_FLAGS/XLA_PYTHON_CLIENT_PREALLOCATE are "
                "whatever that import saw",
                RuntimeWarning,
                stacklevel=3,
            )
        else:
            os.environ.update(FIXED_ENV)
            flags = os.environ.get("XLA_FLAGS", "")
            if threads == 1 and SINGLE_THREAD_FLAG not in flags:
                os.environ["XLA_FLAGS"] = f"{flags} {SINGLE_THREAD_FLAG}".strip()
        _import_env = {var: os.environ.get(var, "") for var in ("XLA_FLAGS", *FIXED_ENV)}
    return dict(_import_env)


def _import_jax(threads: int) -> tuple[ModuleType, dict[str, str]]:
    """Set what XLA reads at start-up, then import the JAX code (once per process)."""
    env = set_xla_env(threads)
    from impls.jax import training

    return training, env


def _grain_version() -> str:
    """grain's version, or why it is absent (only the native input needs it)."""
    try:
        import grain
    except ImportError:
        return "not installed (only --input native needs it)"
    return grain.__version__


class JaxFramework:
    """JAX + Flax NNX behind the common contract."""

    NAME: ClassVar[str] = "jax"
    MODES: ClassVar[tuple[str, ...]] = ("jit", "scan")
    WHOLE_EPOCH_MODES: ClassVar[tuple[str, ...]] = ("scan",)  # one lax.scan over the epoch

    @staticmethod
    def preload(threads: int) -> list[str]:
        """What a fork server imports once for every run (bench.forkserver): XLA's environment set as
        the constructor sets it, then jax, flax and optax. No backend starts: XLA reads its flags and
        the GPU client starts in each run, at its first use of a device."""
        _import_jax(int(threads))
        return ["jax", "flax.nnx", "optax"]

    def __init__(self, threads: int) -> None:
        self.threads = int(threads)
        self._nnx, self._env = _import_jax(self.threads)
        import jax

        self._jax = jax
        jax.config.update("jax_default_matmul_precision", MATMUL_PRECISION["fp32"])  # true fp32
        self.compile_cache = _use_compile_cache(jax)

    # -- environment ----------------------------------------------------------------------------

    def versions(self) -> dict[str, str]:
        """Framework and library versions (and the CUDA plugin, when installed)."""
        import flax
        import jaxlib
        import numpy as np
        import optax

        versions = {
            "jax": self._jax.__version__,
            "jaxlib": jaxlib.__version__,
            "flax": flax.__version__,
            "optax": optax.__version__,
            "grain": _grain_version(),
            "numpy": np.__version__,
        }
        versions["cuda_plugin"] = _cuda_plugin() or "n/a"
        return versions

    def _gpus(self) -> list[Any]:
        try:
            return list(self._jax.devices("gpu"))
        except RuntimeError:  # no GPU backend (CPU-only jaxlib, or the plugin found no GPU)
            return []

    def devices(self) -> list[str]:
        """CPU always; GPU when JAX has a GPU backend with a device."""
        return ["cpu", "gpu"] if self._gpus() else ["cpu"]

    def _device(self, device: str) -> Any:
        if device == "cpu":
            return self._jax.devices("cpu")[0]
        if device != "gpu":
            raise Unsupported(f"unknown device {device!r}; choose one of: cpu, gpu")
        gpus = self._gpus()
        if gpus:
            return gpus[0]
        plugin = _cuda_plugin()
        if plugin is None:
            where = "this machine has an NVIDIA GPU" if shutil.which("nvidia-smi") else "on a GPU machine"
            raise Unsupported(
                f"jax here is a CPU-only build (jaxlib {self._jax.__version__}, no jax CUDA plugin "
                f"installed); {where}, install `{GPU_PIN}` (impls/jax/requirements-gpu.txt)"
            )
        raise Unsupported(
            f"jax {self._jax.__version__} has the CUDA plugin ({plugin}) but found no usable GPU "
            "(no NVIDIA driver, or one too old for its CUDA); check nvidia-smi"
        )

    def device_name(self, device: str) -> str:
        """GPU model name, or 'cpu'."""
        dev = self._device(device)
        return str(dev.device_kind) if device == "gpu" else "cpu"

    def settings(self, device: str, mode: str, precision: str = "fp32") -> dict[str, Any]:
        """Threading and numerics in effect (see the module docstring for threads)."""
        check_precision(precision, device)
        pool = _usable_cpus()
        flags = self._env.get("XLA_FLAGS", "")
        single = SINGLE_THREAD_FLAG in flags
        if self.threads >= pool:
            intra: int | str = pool
            note = f"XLA's CPU pool: one thread per usable CPU ({pool}); nothing set"
        else:
            intra = "not pinnable"
            note = (
                f"asked for {self.threads} of {pool} CPUs: XLA's CPU thread pool cannot be sized "
                "from JAX (intra_op_parallelism_threads is not an XLA_FLAGS flag and OMP/MKL "
                "variables do not apply); "
                + (
                    f"set {SINGLE_THREAD_FLAG} (Eigen matmul/conv single-threaded), XLA's own "
                    f"parallel loops still use the {pool}-thread pool"
                    if single
                    else f"nothing set, XLA uses its {pool}-thread pool"
                )
            )
        return {
            "intra_op_threads": intra,
            "inter_op_threads": "not pinnable",
            "threads_note": note,
            "xla_flags": flags,
            "dtype": "float32",
            "precision": precision,
            "matmul_precision": str(self._jax.config.jax_default_matmul_precision),
            "tf32": precision == "tf32",
            "mode": mode,
            "preallocate": self._env.get("XLA_PYTHON_CLIENT_PREALLOCATE", ""),
            "compile_cache": self.compile_cache,
        }

    def build(self, spec: ModelSpec, device: str, mode: str, precision: str = "fp32") -> FlaxModel:
        """Build the model on the device. ``precision`` sets jax_default_matmul_precision, which is
        process-wide: the last build decides (the runner builds one model per process)."""
        check_mode(self, mode)
        check_precision(precision, device)
        dev = self._device(device)
        self._jax.config.update("jax_default_matmul_precision", MATMUL_PRECISION[precision])
        return self._nnx.FlaxModel(spec, dev, mode)

    def peak_gflops(self, device: str) -> dict[str, Any]:
        """Time a large fp32 matrix product (best of several) on the device, at precision highest."""
        jax = self._jax
        dev = self._device(device)
        n = 8192 if device == "gpu" else 2048
        keys = jax.random.split(jax.random.key(0))
        a, b = (jax.device_put(jax.random.normal(k, (n, n), dtype="float32"), dev) for k in keys)
        matmul = jax.jit(lambda x, y: jax.numpy.matmul(x, y, precision="highest"))
        result: list[Any] = [None]

        def run() -> None:
            result[0] = matmul(a, b)

        return time_peak_matmul(
            run, lambda: jax.block_until_ready(result[0]), n, "jax.numpy.matmul (jit, precision=highest)"
        )

    def peak_device_memory_bytes(self, device: str) -> int | None:
        """Peak GPU allocation (XLA's allocator statistics), None on CPU."""
        if device != "gpu" or not self._gpus():
            return None
        stats = self._gpus()[0].memory_stats() or {}
        return int(stats["peak_bytes_in_use"]) if "peak_bytes_in_use" in stats else None


def _use_compile_cache(jax: ModuleType) -> str:
    """Turn on JAX's persistent compilation cache in ``$FRAMEBENCH_COMPILE_CACHE/jax`` when that is
    set (every executable, however quick to compile or small); say what is in effect."""
    root = os.environ.get(COMPILE_CACHE_ENV)
    if root:
        path = os.path.join(root, "jax")
        jax.config.update("jax_compilation_cache_dir", path)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
        return f"persistent compilation cache in {path} (${COMPILE_CACHE_ENV}), every executable"
    path = jax.config.jax_compilation_cache_dir
    return f"persistent compilation cache in {path} (set outside framebench)" if path else "off"


def _cuda_plugin() -> str | None:
    """The installed jax CUDA plugin distribution and version, or None."""
    for name in CUDA_PLUGINS:
        try:
            return f"{name} {importlib.metadata.version(name)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return None
