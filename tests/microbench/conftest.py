"""Micro-benchmark fixtures: the conformance suite's (framework from $FRAMEBENCH_FRAMEWORK)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "conformance"))

from framework_fixtures import device, framework  # noqa: F401 - pytest fixtures
