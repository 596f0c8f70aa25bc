"""Conformance fixtures (shared with tests/microbench): see framework_fixtures.py."""

from framework_fixtures import device, framework, parametrize_modes  # noqa: F401 - pytest fixtures


def pytest_generate_tests(metafunc):
    """Per-mode tests get one case per entry of the framework's MODES."""
    parametrize_modes(metafunc)
