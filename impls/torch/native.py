"""The native input path (``--input native``): torchvision's ``FashionMNIST`` over the harness's
verified arrays, read through a ``DataLoader`` whose sampler follows the harness's order.

A worker here is a ``DataLoader`` worker process (``source.workers``; 0 loads in the training
process).
"""

from __future__ import annotations

import shutil
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from bench.contract import NativeSource, Unsupported

IDX_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def idx_bytes(array: np.ndarray) -> bytes:
    """The (uncompressed) IDX file of a uint8 array: magic 0x0000 08 <ndim>, big-endian dims, data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def fashion_mnist(source: NativeSource) -> Any:
    """torchvision's ``FashionMNIST(root, train=..., download=False, transform=ToTensor())`` over the
    harness's verified arrays.

    torchvision reads ``<root>/FashionMNIST/raw/<split>-{images-idx3,labels-idx1}-ubyte``
    (uncompressed). Those two files are written from ``source.images``/``source.labels`` (the bytes
    ``bench.data`` decompressed and verified) into a private temporary root; nothing is downloaded.
    torchvision also insists that the other split's two files exist, though it never opens them for
    this split: they are written as valid IDX files with zero examples. The dataset holds its
    tensors in memory once built, so the root is deleted right away; the result is checked to equal
    the verified arrays.
    """
    try:
        from torchvision import datasets, transforms
    except Exception as exc:  # noqa: BLE001 - ImportError, or torchvision built for another torch
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise Unsupported(
            f"the native input path needs torchvision built for torch {torch.__version__} "
            f"(impls/torch/requirements.txt pins the pair): {first}"
        ) from None

    if source.split not in IDX_NAMES:
        raise ValueError(f"unknown split {source.split!r}; expected 'train' or 'test'")
    labels = np.asarray(source.labels)
    if labels.min(initial=0) < 0 or labels.max(initial=0) > 255:
        raise ValueError("Fashion-MNIST labels must be 0-255 to be written as an IDX file")
    root = Path(tempfile.mkdtemp(prefix="framebench-torchvision-"))
    try:
        raw = root / "FashionMNIST" / "raw"
        raw.mkdir(parents=True)
        for split, (image_file, label_file) in IDX_NAMES.items():
            if split == source.split:
                images, split_labels = source.images, labels.astype(np.uint8)
            else:  # present only because torchvision checks for all four files
                images, split_labels = np.zeros((0, 28, 28), np.uint8), np.zeros((0,), np.uint8)
            (raw / image_file).write_bytes(idx_bytes(images))
            (raw / label_file).write_bytes(idx_bytes(split_labels))
        dataset = datasets.FashionMNIST(
            str(root), train=source.split == "train", download=False, transform=transforms.ToTensor()
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if not (
        np.array_equal(dataset.data.numpy(), source.images)
        and np.array_equal(dataset.targets.numpy(), labels)
    ):
        raise RuntimeError("torchvision's FashionMNIST does not hold the verified arrays it was given")
    return dataset


class OrderSampler(Sampler[int]):
    """Yields the harness's order for the coming epoch; ``set_order`` before each epoch.

    A DataLoader iterates its sampler in the main process and sends index batches to its workers,
    so persistent workers follow each new order too.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.order = np.arange(size)

    def set_order(self, order: np.ndarray) -> None:
        order = np.asarray(order, dtype=np.int64)
        if order.ndim != 1 or (len(order) and (order.min() < 0 or order.max() >= self.size)):
            raise ValueError(f"order must be 1-D indices into {self.size} examples")
        self.order = order

    def __iter__(self) -> Iterator[int]:
        return iter(self.order.tolist())

    def __len__(self) -> int:
        return len(self.order)


class NativeInput:
    """A torchvision dataset and one DataLoader per batch size, all drawing from one OrderSampler."""

    def __init__(self, dataset: Any, workers: int, pin_memory: bool) -> None:
        self.dataset = dataset
        self.workers = workers
        self.pin_memory = pin_memory
        self.sampler = OrderSampler(len(dataset))
        self.loaders: dict[int, DataLoader] = {}

    def loader(self, batch_size: int) -> DataLoader:
        """The DataLoader for ``batch_size`` (built on first use; its workers persist across epochs)."""
        if batch_size not in self.loaders:
            self.loaders[batch_size] = DataLoader(
                self.dataset,
                batch_size=batch_size,
                sampler=self.sampler,
                drop_last=False,  # the last, smaller batch is trained on, as on the device path
                num_workers=self.workers,
                pin_memory=self.pin_memory,
                persistent_workers=self.workers > 0,
            )
        return self.loaders[batch_size]

    def epoch(self, order: np.ndarray, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The host batches (float32 B x 1 x 28 x 28, int64 B) of ``order`` in order."""
        self.sampler.set_order(order)
        yield from self.loader(batch_size)
