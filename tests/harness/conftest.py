"""Shared fixtures for the harness tests (no deep-learning framework needed)."""

from __future__ import annotations

import pytest

from bench import data


@pytest.fixture(scope="session")
def real_data_dir():
    """The directory with real Fashion-MNIST, or skip naming the fix."""
    try:
        return data.find_dir()
    except data.DataError as exc:
        pytest.skip(f"real Fashion-MNIST needed: {exc}")
