"""A plain idiomatic Flax NNX training loop: what our harness path is compared against for speed.

Written the way Flax's MNIST tutorial does it, with the data already in device arrays: an
``nnx.Optimizer`` over the model's ``nnx.Param``s with ``optax.sgd``, a train step decorated with
``nnx.jit`` that takes the model and the optimizer (NNX's reference semantics: the step updates
them in place), ``nnx.value_and_grad`` of the mean softmax cross-entropy, a new permutation from
``jax.random`` each epoch and batches indexed from it. No metrics: the least work a loop can do.

jax is imported inside ``plain_epochs``, not here: ``bench.baseline`` imports this module before it
constructs ``JaxFramework``, which must set XLA's environment before jax starts.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from bench.loops import LoopArgs, skilled_loop, timed_epochs


def plain_epochs(args: LoopArgs) -> Iterator[float]:
    """Train from ``args.weights`` with a textbook loop; yield the wall seconds of each epoch, forever."""
    import jax
    import optax
    from flax import nnx

    from impls.jax.training import FlaxModel

    def loss_fn(model, x, y):
        return optax.softmax_cross_entropy_with_integer_labels(model(x), y).mean()

    @nnx.jit
    def train_step(model, optimizer, x, y):
        loss, grads = nnx.value_and_grad(loss_fn)(model, x, y)
        optimizer.update(model, grads)
        return loss

    dev = jax.devices("gpu" if args.device == "gpu" else "cpu")[0]
    holder = FlaxModel(args.spec, dev, "jit")  # only to build the same nnx.Module and load the weights
    holder.set_weights(dict(args.weights))
    model = nnx.merge(holder.graphdef, holder.params)
    optimizer = nnx.Optimizer(model, optax.sgd(args.lr), wrt=nnx.Param)
    x = jax.device_put(np.ascontiguousarray(args.images.transpose(0, 2, 3, 1)), dev)  # NHWC
    y = jax.device_put(args.labels.astype(np.int32), dev)
    key = jax.random.key(args.seed)

    def epoch(_: None) -> None:
        nonlocal key
        # jax.default_device is thread-local configuration: the scope ends with the epoch
        with jax.default_device(dev):
            key, subkey = jax.random.split(key)
            perm = jax.random.permutation(subkey, args.n)
            for i in range(0, args.n, args.batch_size):
                idx = perm[i : i + args.batch_size]
                train_step(model, optimizer, x[idx], y[idx])

    def read(_: None) -> dict:
        holder.params = nnx.state(model)  # the trained values, read through the holder's layout
        return {"weights": holder.get_weights()}

    return timed_epochs(
        epoch, sync=lambda: jax.block_until_ready(nnx.state(model)), trained=args.trained, read=read
    )


SKILLED: dict[str, str] = {
    "jit": "pure functions under jax.jit: params a plain dict pytree (lax.conv / reduce_window / dot, "
    "what flax calls), data resident, the epoch's permutation put on the device once, each donated step "
    "gathering its batch from it inside the jitted function, SGD as p - lr * g",
    "scan": "the same step in a jitted lax.scan over the epoch's full batches, plus one jitted step for "
    "the last (smaller) batch",
}


@skilled_loop("jax", SKILLED)
def skilled_epochs(args: LoopArgs) -> Iterator[float]:
    """Train from ``args.weights`` with the loop a skilled JAX user writes for ``args.mode``
    (``SKILLED``); yield the wall seconds of each epoch, forever."""
    import functools

    import jax
    import jax.numpy as jnp

    from bench.layouts import flatten_shapes, from_channels_last, to_channels_last

    spec, weights, lr, batch_size, n = args.spec, args.weights, args.lr, args.batch_size, args.n
    dev = jax.devices("gpu" if args.device == "gpu" else "cpu")[0]
    flatten = flatten_shapes(spec)
    names = [layer.name for layer in spec.layers]
    params = {
        name: {
            "kernel": np.ascontiguousarray(
                to_channels_last(np.asarray(weights[f"{name}.weight"], np.float32), flatten.get(name))
            ),
            "bias": np.asarray(weights[f"{name}.bias"], np.float32),
        }
        for name in names
    }
    params = jax.device_put(params, dev)
    apply = _lenet_apply if spec.name == "lenet" else _mlp_apply

    def loss_fn(p, x, y):  # mean softmax cross-entropy, written as optax writes it
        logits = apply(p, x)
        label_logits = jnp.take_along_axis(logits, y[:, None], axis=-1)[:, 0]
        return jnp.mean(jax.nn.logsumexp(logits, axis=-1) - label_logits)

    def sgd(p, x, y):
        grads = jax.grad(loss_fn)(p, x, y)
        return jax.tree.map(lambda w, g: w - lr * g, p, grads)

    def gathered(p, xs, ys, index):
        return sgd(p, jnp.take(xs, index, axis=0), jnp.take(ys, index, axis=0))

    @functools.partial(jax.jit, static_argnums=5, donate_argnums=0)
    def step(p, xs, ys, perm, start, size):
        return gathered(p, xs, ys, jax.lax.dynamic_slice_in_dim(perm, start, size))

    @functools.partial(jax.jit, donate_argnums=0)
    def scan_epoch(p, xs, ys, batches):
        return jax.lax.scan(lambda c, index: (gathered(c, xs, ys, index), None), p, batches)[0]

    x = jax.device_put(np.ascontiguousarray(args.images.transpose(0, 2, 3, 1)), dev)  # NHWC
    y = jax.device_put(args.labels.astype(np.int32), dev)
    n_full = n // batch_size
    rng = np.random.default_rng(args.seed)

    def epoch(_: None) -> np.ndarray:
        nonlocal params
        perm = rng.permutation(n).astype(np.int32)
        if args.mode == "scan":
            params = scan_epoch(
                params, x, y, jax.device_put(perm[: n_full * batch_size].reshape(n_full, -1), dev)
            )
            rest = range(n_full * batch_size, n, batch_size)
        else:
            rest = range(0, n, batch_size)
        on_device = jax.device_put(perm, dev)
        for i in rest:
            params = step(params, x, y, on_device, i, min(batch_size, n - i))
        return perm

    def read(perm: np.ndarray) -> dict:
        host = jax.device_get(params)
        canonical = {}
        for name in names:
            kernel = np.asarray(host[name]["kernel"])
            canonical[f"{name}.weight"] = from_channels_last(kernel, flatten.get(name))
            canonical[f"{name}.bias"] = np.asarray(host[name]["bias"])
        return {"weights": canonical, "order": perm}

    return timed_epochs(epoch, sync=lambda: jax.block_until_ready(params), trained=args.trained, read=read)


def _dense(p, x):
    return x @ p["kernel"] + p["bias"]


def _conv(p, x, padding):
    import jax

    out = jax.lax.conv_general_dilated(
        x, p["kernel"], window_strides=(1, 1), padding=padding, dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    return out + p["bias"]


def _avg_pool(x):
    import jax

    summed = jax.lax.reduce_window(x, 0.0, jax.lax.add, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
    return summed / 4.0


def _lenet_apply(p, x):
    import jax

    x = _avg_pool(jax.nn.sigmoid(_conv(p["conv1"], x, ((2, 2), (2, 2)))))
    x = _avg_pool(jax.nn.sigmoid(_conv(p["conv2"], x, "VALID")))
    x = x.reshape(x.shape[0], -1)  # NHWC flatten: H*W*C, as the flax model
    x = jax.nn.sigmoid(_dense(p["fc1"], x))
    x = jax.nn.sigmoid(_dense(p["fc2"], x))
    return _dense(p["fc3"], x)


def _mlp_apply(p, x):
    import jax

    x = x.reshape(x.shape[0], -1)
    return _dense(p["fc2"], jax.nn.relu(_dense(p["fc1"], x)))
