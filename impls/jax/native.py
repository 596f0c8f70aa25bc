"""JAX's native input: a grain pipeline over one verified split, in the harness's order.

Its own module so that grain is imported only for ``--input native``: an environment without grain
(the lent GPU machine has none preinstalled) still runs every device-input configuration.
"""

from __future__ import annotations

from collections.abc import Iterator

import grain
import numpy as np

from bench.contract import NativeSource


class NativeInput:
    """A grain input pipeline over one verified split, in the harness's order.

    Per epoch: ``grain.MapDataset.source(order)`` (the epoch's example indices, in the harness's
    order; grain shuffles nothing) ``.batch(batch_size)`` (the last batch keeps the remainder)
    ``.map(gather, uint8 -> float32 / 255, NHWC)`` on whole index batches (one vectorised numpy
    gather per batch, not one Python call per example), then ``.to_iter_dataset(ReadOptions)``.
    ``source.workers`` is grain's ``ReadOptions.num_threads``: 0 reads in the training thread
    (grain's advice for data already in memory), N > 0 uses N reader threads with a prefetch
    buffer. grain's multi-process ``mp_prefetch`` is not used: it would pickle the 47 MB of images
    into every worker process for a numpy gather that takes microseconds.
    """

    def __init__(self, source: NativeSource) -> None:
        self.images = np.asarray(source.images, dtype=np.uint8)  # N x 28 x 28
        self.labels = np.asarray(source.labels, dtype=np.int32)  # what the model consumes
        self.workers = int(source.workers)

    def _load(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = self.images[index].astype(np.float32) / np.float32(255.0)  # exactly Dataset.as_float's
        return x.reshape(-1, 28, 28, 1), self.labels[index]

    def epoch(self, order: np.ndarray, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The epoch's batches: (float32 B x 28 x 28 x 1, int32 B), host numpy."""
        dataset = (
            grain.MapDataset.source(np.asarray(order, dtype=np.int64))
            .batch(batch_size, drop_remainder=False)
            .map(self._load)
        )
        options = grain.ReadOptions(num_threads=self.workers, prefetch_buffer_size=2 * max(self.workers, 1))
        return iter(dataset.to_iter_dataset(options))
