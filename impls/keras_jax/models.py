"""The networks of Keras on JAX: the ``keras.Sequential`` builders every Keras framework
shares, written once in ``impls/keras_common/models.py`` (one definition: the Keras rows train the
same nets)."""

from impls.keras_common.models import BUILDERS

__all__ = ["BUILDERS"]
