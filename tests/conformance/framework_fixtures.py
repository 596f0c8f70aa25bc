"""Fixtures for the conformance suite: which framework to test comes from $FRAMEBENCH_FRAMEWORK."""

from __future__ import annotations

import os

import pytest

import impls
from bench.contract import Unsupported

ENV_VAR = "FRAMEBENCH_FRAMEWORK"


def framework_modes() -> tuple[str, ...]:
    """The MODES of the framework under test, read from its class (nothing is instantiated), or one
    placeholder when none is named (the ``framework`` fixture then skips every test)."""
    name = os.environ.get(ENV_VAR)
    if not name:
        return ("unset",)
    return tuple(impls.load_class(name).MODES)


def parametrize_modes(metafunc) -> None:
    """Give every test that takes a ``mode`` argument one case per mode in ``framework.MODES``,
    however many the framework declares (a ``pytest_generate_tests`` hook calls this)."""
    if "mode" in metafunc.fixturenames:
        modes = framework_modes()
        metafunc.parametrize("mode", modes, ids=[f"mode={m}" for m in modes])


@pytest.fixture(scope="session")
def framework():
    """The framework under test, built once per session with the default thread count."""
    name = os.environ.get(ENV_VAR)
    if not name:
        pytest.skip(f"set {ENV_VAR}=<name> (nox -s tests does) to run the conformance suite")
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
