"""MLX's native input: an ``mlx.data`` pipeline over one verified split, in the harness's order.

Its own module so that ``mlx.data`` is imported only for ``--input native``: an environment without
mlx-data still runs every device-input configuration (``MlxModel.native_input`` refuses it then).
"""

from __future__ import annotations

from collections.abc import Iterator

import mlx.data as dx
import numpy as np

from bench.contract import NativeSource


def _to_float(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) / np.float32(255.0)  # exactly bench.data.Dataset.as_float


class NativeInput:
    """An ``mlx.data`` pipeline over one split, in the harness's order.

    The split is one ``dx.buffer_from_vector`` of samples ``{"image": uint8 28 x 28 x 1, "label":
    int}`` (built once, off the clock). Per epoch: ``.perm(order)`` (the buffer indexed by the
    harness's order; mlx.data shuffles nothing) ``.batch(batch_size)`` (the last batch keeps the
    remainder) ``.key_transform("image", uint8 -> float32 / 255)`` on whole batches. ``source.workers``
    is ``Buffer.ordered_prefetch``'s thread count (a worker is a thread of mlx.data's C++ pool, which
    keeps the order): 0 reads each batch in the training thread when it is asked for.
    """

    def __init__(self, source: NativeSource) -> None:
        images = np.array(source.images, dtype=np.uint8).reshape(-1, 28, 28, 1)  # mlx.data wants writeable
        labels = np.asarray(source.labels, dtype=np.int32)
        self.buffer = dx.buffer_from_vector(
            [{"image": image, "label": label} for image, label in zip(images, labels, strict=True)]
        )
        self.workers = int(source.workers)

    def epoch(self, order: np.ndarray, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The epoch's batches: (float32 B x 28 x 28 x 1, int32 B), host numpy."""
        batches = (
            self.buffer.perm([int(i) for i in order]).batch(batch_size).key_transform("image", _to_float)
        )
        if self.workers > 0:
            stream = batches.ordered_prefetch(2 * self.workers, self.workers)
            for sample in stream:
                yield sample["image"], np.asarray(sample["label"], dtype=np.int32)
        else:
            for i in range(batches.size()):
                sample = batches[i]
                yield sample["image"], np.asarray(sample["label"], dtype=np.int32)
