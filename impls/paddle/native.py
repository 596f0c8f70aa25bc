"""The native input path (``--input native``): a ``paddle.io.Dataset`` over the harness's verified
arrays, read by a ``paddle.io.DataLoader`` whose batch sampler yields the harness's order.

A worker here is a ``DataLoader`` worker process (``source.workers``; 0 loads in the training
process). Paddle's loader never shuffles here: the batches are exactly ``order[i:i + batch_size]``,
the last, smaller one kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import paddle
from paddle.io import BatchSampler, DataLoader, Dataset

from bench.contract import NativeSource

SCALE = np.float32(255.0)


class FashionMNIST(Dataset):
    """One verified split, example by example: (float32 1 x 28 x 28 = pixels / 255, int64 label)."""

    def __init__(self, source: NativeSource) -> None:
        super().__init__()
        self.images = np.asarray(source.images, dtype=np.uint8)  # N x 28 x 28
        self.labels = np.asarray(source.labels, dtype=np.int64)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.int64]:
        image = self.images[index].astype(np.float32) / SCALE  # exactly Dataset.as_float's values
        return image[None, :, :], self.labels[index]

    def __len__(self) -> int:
        return len(self.labels)


class OrderBatchSampler(BatchSampler):
    """Yields ``order[i:i + batch_size]`` for the coming epoch; ``set_order`` before each epoch.

    A ``DataLoader`` iterates its batch sampler in the main process and hands the index lists to
    its workers, so persistent workers follow each new order.
    """

    def __init__(self, size: int, batch_size: int) -> None:
        self.size = size
        self.batch_size = batch_size
        self.order = np.arange(size)

    def set_order(self, order: np.ndarray) -> None:
        order = np.asarray(order, dtype=np.int64)
        if order.ndim != 1 or (len(order) and (order.min() < 0 or order.max() >= self.size)):
            raise ValueError(f"order must be 1-D indices into {self.size} examples")
        self.order = order

    def __iter__(self) -> Iterator[list[int]]:
        for start in range(0, len(self.order), self.batch_size):
            yield self.order[start : start + self.batch_size].tolist()

    def __len__(self) -> int:
        return -(-len(self.order) // self.batch_size)


class NativeInput:
    """The dataset and one ``DataLoader`` per batch size, each with its own ``OrderBatchSampler``."""

    def __init__(self, source: NativeSource) -> None:
        self.dataset = FashionMNIST(source)
        self.workers = int(source.workers)
        self.loaders: dict[int, tuple[OrderBatchSampler, DataLoader]] = {}

    def loader(self, batch_size: int) -> tuple[OrderBatchSampler, DataLoader]:
        """The sampler and loader for ``batch_size`` (built on first use; workers persist)."""
        if batch_size not in self.loaders:
            sampler = OrderBatchSampler(len(self.dataset), batch_size)
            loader = DataLoader(
                self.dataset,
                batch_sampler=sampler,
                num_workers=self.workers,
                return_list=True,
                persistent_workers=self.workers > 0,
            )
            self.loaders[batch_size] = (sampler, loader)
        return self.loaders[batch_size]

    def epoch(self, order: np.ndarray, batch_size: int) -> Iterator[tuple[Any, Any]]:
        """The epoch's batches as CPU ``paddle.Tensor``s (float32 B x 1 x 28 x 28, int64 B)."""
        sampler, loader = self.loader(batch_size)
        sampler.set_order(order)
        for images, labels in loader:
            yield images, paddle.reshape(labels, [-1])
