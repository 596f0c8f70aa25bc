"""Conformance fixtures (shared with tests/microbench): see framework_fixtures.py."""

from framework_fixtures import device, framework  # noqa: F401 - pytest fixtures
