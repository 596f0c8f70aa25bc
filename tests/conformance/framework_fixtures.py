"""Fixtures for the conformance suite: which framework to test comes from $FRAMEBENCH_FRAMEWORK."""

from __future__ import annotations

import os

import pytest

import impls
from bench.contract import Unsupported


@pytest.fixture(scope="session")
def framework():
    """The framework under test, built once per session with the default thread count."""
    name = os.environ.get("FRAMEBENCH_FRAMEWORK")
    if not name:
        pytest.skip("set FRAMEBENCH_FRAMEWORK=<name> (nox -s tests does) to run the conformance suite")
    cls = impls.load_class(name)
    return cls(threads=os.cpu_count() or 1)


@pytest.fixture(params=["cpu", "gpu"])
def device(request, framework):
    """Each device kind; one the environment lacks is skipped with the framework's own reason."""
    if request.param not in framework.devices():
        try:
            framework.device_name(request.param)
        except Unsupported as exc:
            pytest.skip(f"{framework.NAME} {request.param}: {exc}")
        pytest.skip(f"{framework.NAME} reports no {request.param} in this environment")
    return request.param


def build(framework, spec, device, mode=None):
    """Build a model or skip if the framework declares the combination unsupported."""
    try:
        return framework.build(spec, device, mode or framework.MODES[0])
    except Unsupported as exc:
        pytest.skip(str(exc))
