"""Keras 3 on one backend: the code ``impls.keras_jax`` and ``impls.keras_torch`` share.

Keras reads its backend once, when it is first imported (``KERAS_BACKEND`` overrides
``~/.keras/keras.json``), so each of the two frameworks calls :func:`import_keras` in its
``Framework.__init__``, after setting what its backend reads at start-up, and imports the modules
below (which import Keras) only then. Importing this package imports nothing heavy.

``models.py``   the ``keras.Sequential`` builders (also used by ``impls.tensorflow``; each Keras
               framework's own ``models.py`` names them)
``training.py`` ``KerasNet``: the network built on a device, the canonical weight exchange;
               ``FitModel``: training with ``model.fit`` and evaluation with ``model.evaluate``
``baseline.py`` the reference loops of ``nox -s baseline`` written once for every backend (the
               textbook ``model.fit`` loop, the skilled user's ``fit``); imports Keras only when run

Not a framework (no registry entry): it has the framework folder's file names where they apply and
no ``__init__`` Framework class, ``native.py`` or tests of its own (the Keras frameworks' tests cover it).
Each backend's own idiomatic custom train step (the Keras guides' "training loop from scratch") lives
in its framework's folder, since it is written in that backend's API.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType
from typing import Any

BACKEND_VAR = "KERAS_BACKEND"
FLOATX = "float32"  # declared numerics: set explicitly, whatever ~/.keras/keras.json says
IMAGE_DATA_FORMAT = "channels_last"  # Keras's default: the same model code on every backend


def import_keras(backend: str) -> ModuleType:
    """Import Keras on ``backend`` ("jax" or "torch") and fix its float type and image layout.

    Fails with one line naming the fix when Keras was already imported on another backend in this
    process (the backend cannot change after the first import).
    """
    loaded = sys.modules.get("keras")
    if loaded is None:
        os.environ[BACKEND_VAR] = backend
    import keras

    if keras.backend.backend() != backend:
        where = "was imported earlier in this process" if loaded is not None else "ignored KERAS_BACKEND"
        raise ImportError(
            f"Keras runs on {keras.backend.backend()!r} here (it {where}); the {backend} framework needs "
            f"{BACKEND_VAR}={backend} before Keras is first imported: run it in its own process"
        )
    keras.config.set_floatx(FLOATX)
    keras.config.set_image_data_format(IMAGE_DATA_FORMAT)
    return keras


def keras_versions(keras: ModuleType) -> dict[str, str]:
    """Keras's version and the backend it runs on."""
    return {"keras": keras.__version__, "keras_backend": keras.backend.backend()}


def keras_settings(keras: ModuleType, native: str, native_mode: str, loop: str) -> dict[str, Any]:
    """The Keras part of ``settings()``: backend, float type, image layout, the training loop, and the
    native framework and mode this row is measured against (the report's wrapper-cost section,
    ``bench.report.sections.wrappers``, reads ``wrapper``, ``native_framework`` and ``native_mode``)."""
    return {
        "wrapper": "Keras",
        "keras_backend": keras.backend.backend(),
        "keras_floatx": keras.config.floatx(),
        "keras_image_data_format": keras.config.image_data_format(),
        "train_loop": loop,
        "native_framework": native,
        "native_mode": native_mode,
    }
