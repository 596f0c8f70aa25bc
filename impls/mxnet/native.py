"""The native input of ``impls.mxnet``: Gluon's own ``DataLoader`` in the harness's order
(``NativeInput``). Imports mxnet: import it only after ``impls.mxnet.MxnetFramework`` set the threads."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from mxnet import gluon, nd

from bench.contract import NativeSource


class OrderSampler(gluon.data.Sampler):
    """Yields the harness's order for the current epoch (set by ``NativeInput.epoch``); no shuffling."""

    def __init__(self) -> None:
        self.order: list[int] = []

    def __iter__(self) -> Iterator[int]:
        return iter(self.order)

    def __len__(self) -> int:
        return len(self.order)


class NativeInput:
    """Gluon's own input pipeline: ``DataLoader(ArrayDataset(...).transform_first(ToTensor()))``.

    The d2l way of loading Fashion-MNIST is ``gluon.data.vision.FashionMNIST(train=True)
    .transform_first(ToTensor())``. That dataset class downloads a fresh copy of any archive whose
    SHA-1 differs from the one it knows, and the archives installed here (Debian's, recompressed:
    same pixels, different .gz bytes) all differ, so it would try to download. It is therefore fed
    the arrays ``bench.data`` has decoded and verified,
    in the same form ``FashionMNIST`` holds them (a uint8 N x 28 x 28 x 1 NDArray, labels as a
    numpy array) — labels as float32, Gluon's convention (see ``GluonModel.put``). ``ToTensor`` turns
    each HWC uint8 image into CHW float32 / 255, exactly ``bench.data.Dataset.as_float``'s values.

    The order is the harness's: an ``OrderSampler`` set per epoch, batched by the DataLoader
    (``last_batch="keep"``: the last batch is the remainder); ``num_workers`` is
    ``source.workers`` (0 = load in the training process). One DataLoader per batch size, built on
    first use, so worker processes are started once.
    """

    def __init__(self, source: NativeSource) -> None:
        self.workers = int(source.workers)
        images = nd.array(np.asarray(source.images, dtype=np.uint8)[..., None], dtype="uint8")
        labels = np.asarray(source.labels).astype(np.float32)
        self.dataset = gluon.data.ArrayDataset(images, labels).transform_first(
            gluon.data.vision.transforms.ToTensor()
        )
        self.sampler = OrderSampler()
        self._loaders: dict[int, gluon.data.DataLoader] = {}

    def loader(self, batch_size: int) -> gluon.data.DataLoader:
        """The DataLoader for ``batch_size`` (built once)."""
        if batch_size not in self._loaders:
            self._loaders[batch_size] = gluon.data.DataLoader(
                self.dataset,
                batch_size=batch_size,
                sampler=self.sampler,
                last_batch="keep",
                num_workers=self.workers,
            )
        return self._loaders[batch_size]

    def epoch(self, order: np.ndarray, batch_size: int) -> Iterator[tuple[nd.NDArray, nd.NDArray]]:
        """Set the epoch's order, then iterate the loader: (float32 B x 1 x 28 x 28, float32 B) batches."""
        loader = self.loader(batch_size)
        self.sampler.order = np.asarray(order, dtype=np.int64).tolist()  # before the loader's iterator
        yield from loader
