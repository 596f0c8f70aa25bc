"""The native input path (``--input native``): a ``tf.data`` pipeline over the harness's verified
arrays that follows the harness's order (``NativeInput``).

A worker here is a thread of tf.data's own pool (``source.workers``; 0 lets tf.data tune it).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import tensorflow as tf

from bench.contract import NativeSource


class NativeInput:
    """A ``tf.data`` input pipeline over one verified split, following the harness's order.

    Built once: the raw uint8 images and the labels are constants on the host, and the epoch's
    order lives in a host ``tf.Variable`` that the pipeline's map function reads, so a new epoch is
    one ``assign`` and a new iterator (no re-tracing, no copy of the data). Per batch size the
    dataset is ``range(n).batch(b)`` (positions in the epoch; the last batch keeps the remainder)
    ``.map(gather by order, uint8 -> float32 / 255, reshape to NHWC, num_parallel_calls)``
    ``.prefetch(AUTOTUNE)``. The map runs on whole batches, as the tf.data performance guide
    advises for cheap functions ("vectorized mapping"); nothing is shuffled by tf.data. The float
    values are exactly ``bench.data.Dataset.as_float``'s (a float32 division by 255, tested).
    ``source.workers`` 0 lets tf.data tune its parallelism (AUTOTUNE, tf.data's own thread pool:
    it has no "in the training thread" mode); > 0 fixes the map's parallelism and gives the
    pipeline a private thread pool of that size.
    """

    def __init__(self, source: NativeSource) -> None:
        self.workers = int(source.workers)
        with tf.device("/CPU:0"):  # a tf.data pipeline runs on the host
            self.images = tf.constant(np.asarray(source.images, dtype=np.uint8))  # N x 28 x 28
            self.labels = tf.constant(np.asarray(source.labels, dtype=np.int64))
            self.order = tf.Variable(
                tf.zeros([0], tf.int64), shape=tf.TensorShape([None]), trainable=False, name="order"
            )
        self._datasets: dict[tuple[int, int], tf.data.Dataset] = {}

    def _load(self, positions: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        index = tf.gather(self.order, positions)
        x = tf.cast(tf.gather(self.images, index), tf.float32) / 255.0  # exactly as_float's division
        return tf.reshape(x, [-1, 28, 28, 1]), tf.gather(self.labels, index)

    def dataset(self, n: int, batch_size: int) -> tf.data.Dataset:
        """The pipeline for epochs of ``n`` examples in batches of ``batch_size`` (built once each)."""
        key = (n, batch_size)
        if key not in self._datasets:
            parallel = self.workers or tf.data.AUTOTUNE
            dataset = (
                tf.data.Dataset.range(n)
                .batch(batch_size)
                .map(self._load, num_parallel_calls=parallel, deterministic=True)
                .prefetch(tf.data.AUTOTUNE)
            )
            if self.workers:
                options = tf.data.Options()
                options.threading.private_threadpool_size = self.workers
                dataset = dataset.with_options(options)
            self._datasets[key] = dataset
        return self._datasets[key]

    def epoch(self, order: np.ndarray, batch_size: int) -> Iterator[tuple[tf.Tensor, tf.Tensor]]:
        """Set the epoch's order, then iterate the pipeline: (float32 B x 28 x 28 x 1, int64 B) batches."""
        order = np.asarray(order, dtype=np.int64)
        # Built and started on the host even when the caller is in a GPU device scope. The scope is
        # left before the first yield: a scope held across a yield would also apply to the caller.
        with tf.device("/CPU:0"):
            dataset = self.dataset(len(order), batch_size)
            self.order.assign(order)  # before the iterator exists: its prefetching reads the new order
            iterator = iter(dataset)
        yield from iterator
