"""The JAX training code of ``impls.jax``: the Model class over the Flax NNX nets of ``models.py``, an
optax SGD step under ``jax.jit``, the grain input pipeline of ``native.py``. Imported by
``JaxFramework.__init__`` after the environment XLA reads at start-up is set.

Flax works in NHWC with HWIO conv kernels and in x out dense kernels; ``set_weights``/``get_weights``
translate from/to the canonical layout (``bench.specs``), including LeNet's flatten, which is C*H*W
canonically but H*W*C in an NHWC model (the same translation as ``impls.tensorflow``'s).

Training uses NNX's functional API: ``nnx.split`` turns the module into a static ``graphdef`` and a
``State`` pytree of its ``nnx.Param``s; a pure step function over that state (``nnx.merge`` inside it)
is compiled with ``jax.jit`` and its state arguments are donated, so XLA updates the weights in place.
This is the pattern Flax's performance guide recommends over calling ``nnx.jit`` per step (which
walks the module graph in Python on every call).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from bench.contract import EVAL_BATCH, EpochStats, EvalStats, NativeSource, Unsupported
from bench.layouts import canonical_batch, flatten_shapes
from bench.layouts import from_channels_last as from_flax
from bench.layouts import to_channels_last as to_flax
from bench.specs import ModelSpec
from impls.jax.models import BUILDERS


@dataclass(frozen=True)
class DeviceData:
    """A data set resident on the device: NHWC float32 images and int32 labels."""

    images: jax.Array
    labels: jax.Array


def _loss_and_logits(graphdef: nnx.GraphDef, params: nnx.State, x: jax.Array, y: jax.Array):
    logits = nnx.merge(graphdef, params)(x)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    return loss, logits


def _sgd_step(graphdef, tx, params, opt_state, acc, x, y):
    """One SGD step on the batch (x, y); loss sum and correct count added to ``acc`` on the device."""
    grad_fn = jax.value_and_grad(_loss_and_logits, argnums=1, has_aux=True)
    (loss, logits), grads = grad_fn(graphdef, params, x, y)
    updates, opt_state = tx.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    loss_sum, correct = acc
    hits = jnp.sum(jnp.argmax(logits, axis=-1) == y, dtype=jnp.int32)
    return params, opt_state, (loss_sum + loss * y.shape[0], correct + hits)


class FlaxModel:
    """A Flax NNX model on one device, trained by a jitted optax SGD step (``jit``) or a jitted
    ``lax.scan`` over the epoch's full batches (``scan``)."""

    def __init__(self, spec: ModelSpec, device: jax.Device, mode: str) -> None:
        self.spec = spec
        self.device = device
        self.mode = mode
        self.flatten = flatten_shapes(spec)
        with jax.default_device(device):
            module = BUILDERS[spec.name](nnx.Rngs(0))  # initial values are replaced by set_weights
            self.graphdef, params = nnx.split(module)
            # Plain SGD (no momentum); the learning rate is a hyperparameter in the optimizer state,
            # so a new lr is new data, not a recompilation.
            self.tx = optax.inject_hyperparams(optax.sgd)(learning_rate=spec.lr)
        self.params = jax.device_put(params, device)
        self.opt_state = jax.device_put(self.tx.init(self.params), device)
        self._last: Any = None  # the latest dispatched outputs (what sync waits for besides the state)
        graphdef, tx = self.graphdef, self.tx

        # (params, opt_state, acc) are donated: XLA writes the new ones into the old buffers.
        @functools.partial(jax.jit, static_argnames="batch_size", donate_argnums=(0, 1, 2))
        def step(params, opt_state, acc, images, labels, order, start, batch_size):
            index = jax.lax.dynamic_slice_in_dim(order, start, batch_size)  # the batch, on the device
            x, y = jnp.take(images, index, axis=0), jnp.take(labels, index, axis=0)
            return _sgd_step(graphdef, tx, params, opt_state, acc, x, y)

        @functools.partial(jax.jit, donate_argnums=(0, 1, 2))
        def batch_step(params, opt_state, acc, x, y):  # a batch given as arrays (the native input)
            return _sgd_step(graphdef, tx, params, opt_state, acc, x, y)

        @functools.partial(jax.jit, donate_argnums=(0, 1, 2))
        def scan_epoch(params, opt_state, acc, images, labels, batches):  # batches: n_full x B
            def body(carry, index):
                x, y = jnp.take(images, index, axis=0), jnp.take(labels, index, axis=0)
                return _sgd_step(graphdef, tx, *carry, x, y), None

            (params, opt_state, acc), _ = jax.lax.scan(body, (params, opt_state, acc), batches)
            return params, opt_state, acc

        @jax.jit
        def eval_batch(params, x, y):
            loss, logits = _loss_and_logits(graphdef, params, x, y)
            return loss * y.shape[0], jnp.sum(jnp.argmax(logits, axis=-1) == y, dtype=jnp.int32)

        @jax.jit
        def forward(params, x):
            return nnx.merge(graphdef, params)(x)

        self._step, self._batch_step, self._scan_epoch = step, batch_step, scan_epoch
        self._eval_batch, self._forward = eval_batch, forward

    # -- weights --------------------------------------------------------------------------------

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Load canonical-layout weights."""
        pure = nnx.to_pure_dict(self.params)
        for layer in self.spec.layers:
            chw = self.flatten.get(layer.name)
            kernel = to_flax(np.asarray(weights[f"{layer.name}.weight"], dtype=np.float32), chw)
            pure[layer.name]["kernel"] = np.ascontiguousarray(kernel)
            pure[layer.name]["bias"] = np.asarray(weights[f"{layer.name}.bias"], dtype=np.float32)
        params = jax.tree.map(lambda a: a, self.params)  # a fresh State to fill (the old may be donated)
        nnx.replace_by_pure_dict(params, jax.device_put(pure, self.device))
        self.params = params
        self.opt_state = jax.device_put(self.tx.init(params), self.device)

    def get_weights(self) -> dict[str, np.ndarray]:
        """Return the weights in the canonical layout."""
        pure = jax.device_get(nnx.to_pure_dict(self.params))
        weights = {}
        for layer in self.spec.layers:
            kernel = from_flax(np.asarray(pure[layer.name]["kernel"]), self.flatten.get(layer.name))
            weights[f"{layer.name}.weight"] = np.ascontiguousarray(kernel, dtype=np.float32)
            weights[f"{layer.name}.bias"] = np.array(pure[layer.name]["bias"], dtype=np.float32)
        return weights

    # -- data -----------------------------------------------------------------------------------

    def put(self, images: np.ndarray, labels: np.ndarray) -> DeviceData:
        """Copy a data set to the device once, images as NHWC."""
        nhwc = np.ascontiguousarray(np.transpose(images, (0, 2, 3, 1)), dtype=np.float32)
        return DeviceData(
            jax.device_put(nhwc, self.device), jax.device_put(np.asarray(labels, np.int32), self.device)
        )

    def native_input(self, source: NativeSource) -> Any:
        """The grain pipeline over the verified arrays (``impls.jax.native.NativeInput``); grain is
        imported here, so an environment without it still trains from device-resident data."""
        if self.mode == "scan":
            raise Unsupported(
                "scan mode compiles the epoch as a lax.scan over device-resident data; a host pipeline "
                "feeds one batch at a time, which is mode jit (use --input device, or mode jit)"
            )
        try:
            from impls.jax.native import NativeInput
        except ImportError as exc:
            raise Unsupported(
                f"the native input needs grain, which is not installed here ({exc}); "
                "pip install grain (version in impls/jax/requirements.txt) or carry its wheel"
            ) from exc
        return NativeInput(source)

    def native_batches(
        self, data: Any, order: np.ndarray, batch_size: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The pipeline's batches for ``order``, from the iterator ``train_epoch`` draws from, in the
        canonical layout (NHWC -> N x 1 x 28 x 28, labels int64)."""
        for x, y in data.epoch(order, batch_size):
            yield canonical_batch(x, y)

    # -- training -------------------------------------------------------------------------------

    def _zero_acc(self) -> tuple[jax.Array, jax.Array]:
        return jax.device_put((np.float32(0.0), np.int32(0)), self.device)

    def train_epoch(self, data: Any, order: np.ndarray, batch_size: int, lr: float) -> EpochStats:
        """Plain SGD over the batches given by ``order``: from ``put``'s arrays or the grain pipeline."""
        n = len(order)
        self.opt_state.hyperparams["learning_rate"] = jax.device_put(np.float32(lr), self.device)
        params, opt_state, acc = self.params, self.opt_state, self._zero_acc()
        if not isinstance(data, DeviceData):  # native_input's pipeline
            for x, y in data.epoch(order, batch_size):  # host batches, copied to the device
                x, y = jax.device_put((x, y), self.device)
                params, opt_state, acc = self._batch_step(params, opt_state, acc, x, y)
        else:
            order = np.asarray(order, dtype=np.int32)
            n_full = n // batch_size
            if self.mode == "scan" and n_full:
                full = order[: n_full * batch_size].reshape(n_full, batch_size)
                batches = jax.device_put(full, self.device)
                params, opt_state, acc = self._scan_epoch(
                    params, opt_state, acc, data.images, data.labels, batches
                )
                starts = [n_full * batch_size] if n % batch_size else []
            else:
                starts = list(range(0, n, batch_size))
            index = jax.device_put(order, self.device)  # one upload of the order per epoch
            for start in starts:
                size = min(batch_size, n - start)
                params, opt_state, acc = self._step(
                    params, opt_state, acc, data.images, data.labels, index, start, batch_size=size
                )
        self.params, self.opt_state, self._last = params, opt_state, acc
        loss_sum, correct = jax.device_get(acc)  # the epoch's only fetch
        return EpochStats(loss=float(loss_sum) / n, accuracy=int(correct) / n)

    def evaluate(self, data: DeviceData) -> EvalStats:
        """Mean loss and accuracy over ``data``."""
        n = int(data.labels.shape[0])
        loss_sum, correct = self._zero_acc()
        for start in range(0, n, EVAL_BATCH):
            batch_loss, batch_correct = self._eval_batch(
                self.params, data.images[start : start + EVAL_BATCH], data.labels[start : start + EVAL_BATCH]
            )
            loss_sum, correct = loss_sum + batch_loss, correct + batch_correct
        self._last = (loss_sum, correct)
        loss_sum, correct = jax.device_get((loss_sum, correct))
        return EvalStats(loss=float(loss_sum) / n, accuracy=int(correct) / n)

    def logits(self, data: DeviceData) -> np.ndarray:
        """Logits for ``data`` as float32 numpy."""
        n = int(data.images.shape[0])
        chunks = [
            self._forward(self.params, data.images[start : start + EVAL_BATCH])
            for start in range(0, n, EVAL_BATCH)
        ]
        return np.concatenate(jax.device_get(chunks)).astype(np.float32, copy=False)

    def sync(self) -> None:
        """Block until the model's state and the latest dispatched outputs are computed.

        JAX dispatches asynchronously: a jitted call returns futures at once. Every computation a
        model queues produces (a new version of) its parameters or ``_last``, so waiting for those
        arrays waits for all the work this model queued.
        """
        jax.block_until_ready((self.params, self.opt_state, self._last))
